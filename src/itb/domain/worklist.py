"""The every-morning worklist: who must be seen before their pump runs low, and why.

Built from plain inputs (one ``PumpSituation`` per implanted pump, assembled by the database
layer from the exact forecast and the appointment book, and one per patient with no implanted
pump who has an unreviewed symptom report: ``pump_id`` None, only that reason is judged). A pump
appears only when it has at least one reason; the list comes most urgent first: a family's
emergency report first, then the soonest empty reservoir. Running out of drug causes withdrawal,
which can kill (``shared/domain.md``); every number is a field of ``BookingSettings``
(``docs/parameters.md``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from itb.domain.scheduling import DEFAULT_BOOKING, BookingSettings, titration_visit_due

_DAY_SECONDS = 86400.0
_INF = float("inf")  # sorts unknown days last


#: A symptom report's urgency (itb.domain.triage.Urgency): mention at the next visit, call the
#: family today, emergency.
REPORT_NEXT_VISIT, REPORT_CALL_TODAY, REPORT_EMERGENCY = 0, 1, 2


@dataclass(frozen=True, slots=True)
class ReportedSymptoms:
    """A family's symptom report no one at the clinic has reviewed yet, in plain words."""

    report_id: int
    at: datetime
    by: str
    #: the triage's urgency then (REPORT_NEXT_VISIT, REPORT_CALL_TODAY, REPORT_EMERGENCY)
    urgency: int
    #: the triage's urgency in words ("call the clinic today")
    urgency_words: str
    #: what was reported, in words: the signs, the triage's concerns, the family's note
    words: str
    #: what the family was told to do
    instruction: str


@dataclass(frozen=True, slots=True)
class PumpSituation:
    """One implanted pump and its patient, as known today (``pump_id`` None: a patient with no
    implanted pump, listed only for their unreviewed symptom reports)."""

    patient_id: int
    patient_name: str
    pump_id: int | None
    #: from the exact forecast; None when the pump will not alarm (stopped, or no forecast)
    low_reservoir_alarm_at: datetime | None
    empty_at: datetime | None
    #: the next booked refill appointment, if any (a date before today counts as none booked)
    next_refill_booked: date | None
    #: when the elective replacement indicator is expected, and whether the pump reports it
    eri_at: datetime | None
    eri_reached: bool
    titrating: bool
    last_program_change: date | None
    next_titration_booked: date | None
    #: an MRI happened and the pump has not been interrogated since
    mri_check_pending: bool
    #: refills flagged for a discrepancy and not yet reviewed
    unreviewed_discrepancies: int
    #: (kind, date) booked in the past and not done
    overdue_appointments: tuple[tuple[str, date], ...] = ()
    missed_appointments: tuple[tuple[str, date], ...] = ()
    #: highest withdrawal risk (domain.md): injury at T6 or above, cannot communicate, earlier withdrawal
    high_risk: bool = False
    #: why the record and the pump may disagree (its state went backwards, a change whose fate is
    #: not settled yet, a change in the pump's log with no record): the forecast cannot be trusted
    record_problems: tuple[str, ...] = ()
    #: the earliest plausible alarm and empty instants from the pump's learned flow
    #: (itb.domain.calibration); None: not known, the exact forecast's own dates are used
    plausible_alarm_at: datetime | None = None
    plausible_empty_at: datetime | None = None
    #: the learned flow is beyond the clinic's drift setting: a sentence saying which way and why
    flow_drift: str | None = None
    #: warnings of recorded sessions (a vendor-programmed pump) a clinician has not reviewed
    session_warnings: tuple[str, ...] = ()
    #: a vendor-programmed pump: its last recorded session (None: a pump ITB talks to, which it reads)
    last_session_at: datetime | None = None
    #: the next booked pump replacement, if any (from today on)
    replacement_booked: date | None = None
    #: the family's symptom reports not yet reviewed (the patient's first implanted pump carries them)
    symptom_reports: tuple[ReportedSymptoms, ...] = ()

    @classmethod
    def without_pump(cls, patient_id: int, patient_name: str, **known: object) -> PumpSituation:
        """A patient with no implanted pump (on the worklist for a family report only)."""
        return cls(
            patient_id=patient_id, patient_name=patient_name, pump_id=None, low_reservoir_alarm_at=None,
            empty_at=None, next_refill_booked=None, eri_at=None, eri_reached=False, titrating=False,
            last_program_change=None, next_titration_booked=None, mri_check_pending=False,
            unreviewed_discrepancies=0, **known,  # type: ignore[arg-type]
        )  # fmt: skip

    @property
    def earliest_alarm_at(self) -> datetime | None:
        """The alarm the clinic plans from: the earliest plausible one, else the pump's own."""
        return earliest(self.low_reservoir_alarm_at, self.plausible_alarm_at)

    @property
    def earliest_empty_at(self) -> datetime | None:
        return earliest(self.empty_at, self.plausible_empty_at)


def earliest(*instants: datetime | None) -> datetime | None:
    """The earliest of the known instants (None when none is known)."""
    return min((t for t in instants if t is not None), default=None)


class Reason(StrEnum):
    """Why a pump is on the worklist, in the order reasons are listed on an item."""

    SYMPTOM_REPORT = "symptom_report"  # a family's symptom report not yet reviewed (called back)
    RECORD_CHECK = "record_check"  # the record and the pump may disagree: check the pump now
    ALARM_BEFORE_REFILL = "alarm_before_refill"  # alarm (or empty) before the booked refill, or already passed
    NO_REFILL_BOOKED = "no_refill_booked"  # no refill booked from today on
    OVERDUE = "overdue"  # an appointment in the past, not done
    MISSED = "missed"  # an appointment the patient missed
    TITRATION_DUE = "titration_due"  # titrating, and no visit booked in the 2-3 week window
    ERI_SOON = "eri_soon"  # the elective replacement indicator is expected within eri_warning_days
    ERI_REACHED = "eri_reached"  # the pump reports ERI: it stops about 90 days later
    MRI_CHECK = "mri_check"  # an MRI, and no interrogation since
    DISCREPANCY = "discrepancy"  # refill discrepancies not yet reviewed
    FLOW_DRIFT = "flow_drift"  # the pump's learned flow is beyond the drift setting
    SESSION_CHECK = "session_check"  # a recorded session's warning (e.g. the vendor's alarm date) to review
    STALE = "stale"  # a vendor pump's last session is older than its refill interval plus a margin


@dataclass(frozen=True, slots=True)
class WorkItem:
    """One pump on the worklist."""

    patient_id: int
    patient_name: str
    #: None: a patient with no implanted pump (on the list for a symptom report)
    pump_id: int | None
    reasons: tuple[Reason, ...]
    #: one plain sentence per reason, in the same order, with the dates
    details: tuple[str, ...]
    #: to the earliest plausible empty reservoir and low-reservoir alarm (the learned flow's upper
    #: bound, or the pump's own dates when that is not known)
    days_until_empty: float | None
    days_until_alarm: float | None
    #: 0 = empty within urgent_empty_days, the alarm already passed, a record to check, or a
    #: family's emergency report; 1 = empty within soon_empty_days, or a report asking for a call
    #: today; 2 = other
    urgency: int
    high_risk: bool = False
    #: the unreviewed symptom reports on this item (their ids, the most urgent first), and the
    #: highest of their urgencies (None: no report)
    symptom_report_ids: tuple[int, ...] = ()
    report_urgency: int | None = None


def _when(at: datetime) -> str:
    """'2026-03-02 14:05' (any time zone offset is left off)."""
    return at.isoformat(" ", "minutes")[:16]


@dataclass(frozen=True, slots=True)
class _Rules:
    """The settings of one build, turned into what each pump is compared with."""

    now: datetime
    today: date
    settings: BookingSettings
    margin: timedelta
    eri_warning: timedelta
    eri_to_stop: timedelta

    @classmethod
    def of(cls, now: datetime, settings: BookingSettings) -> _Rules:
        return cls(
            now=now,
            today=now.date(),
            settings=settings,
            margin=timedelta(days=settings.refill_margin_days),
            eri_warning=timedelta(days=settings.eri_warning_days),
            eri_to_stop=timedelta(days=settings.eri_to_stop_days),
        )


def _days(at: datetime | None, now: datetime) -> float | None:
    return None if at is None else (at - now).total_seconds() / _DAY_SECONDS


def _appointments(items: tuple[tuple[str, date], ...]) -> str:
    return ", ".join(f"{kind} on {day.isoformat()}" for kind, day in sorted(items, key=lambda kd: (kd[1], kd[0])))


def _book_by(alarm: datetime, rules: _Rules) -> str:
    return (alarm - rules.margin).date().isoformat()


def _earliest_words(own: datetime | None, earliest: datetime | None) -> str:
    """'2027-01-02 10:00', or with the pump's own date when the learned flow makes it earlier."""
    if earliest is None:
        return ""
    if own is None or earliest >= own:
        return _when(earliest)
    return f"{_when(earliest)} at the earliest (the pump's learned flow; its own date is {_when(own)})"


def _refill_reasons(s: PumpSituation, rules: _Rules, reasons: list[Reason], details: list[str]) -> None:
    now, today = rules.now, rules.today
    alarm, empty = s.earliest_alarm_at, s.earliest_empty_at
    booked = s.next_refill_booked
    passed = ""
    if booked is not None and booked < today:
        passed = f" from today on (the one booked for {booked.isoformat()} has passed)"
        booked = None
    booking = f"the refill booked for {booked.isoformat()}" if booked is not None else "no refill booked"

    alarm_when, empty_when = _earliest_words(s.low_reservoir_alarm_at, alarm), _earliest_words(s.empty_at, empty)
    detail = None
    if empty is not None and empty <= now:
        detail = (
            f"The reservoir was forecast to be empty at {empty_when} ({booking}): refill now, watch for withdrawal."
        )
    elif alarm is not None and alarm <= now:
        detail = f"The low-reservoir alarm was due at {alarm_when} ({booking}): refill now."
    elif booked is not None and empty is not None and empty.date() <= booked:
        detail = f"The reservoir is forecast to be empty at {empty_when}, before {booking}: book an earlier refill."
    elif booked is not None and alarm is not None and alarm.date() <= booked:
        detail = (
            f"The low-reservoir alarm is due at {alarm_when}, before {booking}: "
            f"book the refill by {_book_by(alarm, rules)}."
        )
    if detail is not None:
        reasons.append(Reason.ALARM_BEFORE_REFILL)
        details.append(detail)

    if booked is None:
        if alarm is not None and alarm > now:
            need = f"the low-reservoir alarm is due at {alarm_when}: book it by {_book_by(alarm, rules)}"
        elif alarm is not None:
            need = "the low-reservoir alarm has passed"
        else:
            need = f"refill at least every {rules.settings.max_refill_interval_days:g} days (drug stability)"
        reasons.append(Reason.NO_REFILL_BOOKED)
        details.append(f"No refill is booked{passed}; {need}.")


def _titration_reason(s: PumpSituation, today: date, settings: BookingSettings) -> str | None:
    if not s.titrating or s.last_program_change is None:
        return None
    earliest, latest = titration_visit_due(s.last_program_change, settings)
    if today < earliest:
        return None
    booked = s.next_titration_booked
    if booked is not None and max(earliest, today) <= booked <= latest:
        return None
    changed = f"last program change on {s.last_program_change.isoformat()}"
    if today > latest:
        return f"Titration visit overdue: its window ended on {latest.isoformat()} ({changed})."
    if booked is not None and booked >= today:
        extra = f"the visit booked for {booked.isoformat()} is outside it"
    else:
        extra = "no visit is booked in it"
    return f"Titration visit due between {earliest.isoformat()} and {latest.isoformat()} ({changed}); {extra}."


def _stale_reason(s: PumpSituation, rules: _Rules) -> str | None:
    """A vendor pump not recorded for longer than its refill interval plus the margin."""
    if s.last_session_at is None:
        return None
    longest = timedelta(days=rules.settings.max_refill_interval_days)
    alarm = s.earliest_alarm_at
    interval = longest if alarm is None else min(max(alarm - s.last_session_at, timedelta(0)), longest)
    margin = timedelta(days=rules.settings.stale_margin_days)
    if rules.now - s.last_session_at <= interval + margin:
        return None
    days = (rules.now - s.last_session_at).total_seconds() / _DAY_SECONDS
    return (
        f"No session recorded since {_when(s.last_session_at)} ({days:.0f} days): longer than its refill interval "
        f"({interval.total_seconds() / _DAY_SECONDS:.0f} days) plus {rules.settings.stale_margin_days:g} days. "
        "A refill or change on the vendor's programmer may be missing from the record: record its sessions."
    )


def _by_urgency(reports: tuple[ReportedSymptoms, ...]) -> list[ReportedSymptoms]:
    """The most urgent first, then the one waiting longest."""
    return sorted(reports, key=lambda r: (-r.urgency, r.at, r.report_id))


def _report_detail(reports: list[ReportedSymptoms]) -> str:
    """One sentence per report (the most urgent first), then what the clinic does about them."""
    said = []
    for r in reports:
        what = f": {r.words}" if r.words else ""
        told = f" The family was told: {r.instruction.strip()}" if r.instruction.strip() else ""
        if told and told[-1] not in ".!?":
            told += "."
        said.append(f"Family report of {_when(r.at)} by {r.by} ({r.urgency_words}){what}.{told}")
    top = reports[0].urgency
    if top >= REPORT_EMERGENCY:
        act = "Emergency: call the family now and make sure the child is being seen"
    elif top >= REPORT_CALL_TODAY:
        act = "Call the family back today"
    else:
        act = "Review it (talk it over at the next visit, or call if in doubt)"
    return " ".join(said) + f" {act}; then mark the report reviewed with a note."


def _eri_reasons(s: PumpSituation, rules: _Rules, reasons: list[Reason], details: list[str]) -> None:
    """ERI reached or soon; a booked replacement says so (calmly, unless it is after the expected stop)."""
    now, settings = rules.now, rules.settings
    stop = None if s.eri_at is None else (s.eri_at + rules.eri_to_stop).date()
    booked = ""
    if s.replacement_booked is not None:
        booked = f"Replacement booked for {s.replacement_booked.isoformat()}"
        if stop is not None and s.replacement_booked > stop:
            booked += f": after the pump is expected to stop (around {stop.isoformat()}), book it earlier"
    if s.eri_reached:
        reasons.append(Reason.ERI_REACHED)
        if s.eri_at is not None and stop is not None:
            said = (
                f"The elective replacement indicator was reached ({_when(s.eri_at)}): the pump stops about "
                f"{settings.eri_to_stop_days} days later (around {stop.isoformat()})"
            )
        else:
            said = (
                f"The elective replacement indicator is reached: the pump stops about {settings.eri_to_stop_days} "
                "days later"
            )
        details.append(f"{said}. {booked}." if booked else f"{said}; replace it before then.")
    elif s.eri_at is not None and s.eri_at - now <= rules.eri_warning:
        reasons.append(Reason.ERI_SOON)
        days_to_eri = (s.eri_at - now).total_seconds() / _DAY_SECONDS
        if booked:
            details.append(f"{booked} (the elective replacement indicator is expected at {_when(s.eri_at)}).")
        elif days_to_eri < 0:
            details.append(
                f"The elective replacement indicator was expected at {_when(s.eri_at)} and the pump does not "
                "report it yet: interrogate the pump and plan its replacement."
            )
        else:
            details.append(
                f"The elective replacement indicator is expected at {_when(s.eri_at)}, in {int(days_to_eri)} "
                f"days: plan the pump replacement (it stops about {settings.eri_to_stop_days} days after)."
            )


def _situation_item(s: PumpSituation, rules: _Rules) -> WorkItem | None:
    if s.pump_id is None:
        return _patient_item(s)
    now, settings = rules.now, rules.settings
    reasons: list[Reason] = []
    details: list[str] = []
    reports = _by_urgency(s.symptom_reports)
    if reports:
        reasons.append(Reason.SYMPTOM_REPORT)
        details.append(_report_detail(reports))
    if s.record_problems:
        reasons.append(Reason.RECORD_CHECK)
        details.append(
            "The record and the pump may disagree: " + "; ".join(s.record_problems) + ". Interrogate the pump now."
        )
    _refill_reasons(s, rules, reasons, details)
    if s.overdue_appointments:
        reasons.append(Reason.OVERDUE)
        details.append(f"Booked and not done: {_appointments(s.overdue_appointments)}.")
    if s.missed_appointments:
        reasons.append(Reason.MISSED)
        details.append(f"Missed: {_appointments(s.missed_appointments)}.")
    titration = _titration_reason(s, rules.today, settings)
    if titration is not None:
        reasons.append(Reason.TITRATION_DUE)
        details.append(titration)
    _eri_reasons(s, rules, reasons, details)
    if s.mri_check_pending:
        reasons.append(Reason.MRI_CHECK)
        details.append("An MRI was done and the pump has not been interrogated since: check that infusion resumed.")
    if s.unreviewed_discrepancies > 0:
        n = s.unreviewed_discrepancies
        reasons.append(Reason.DISCREPANCY)
        details.append(f"{n} refill discrepanc{'y' if n == 1 else 'ies'} not yet reviewed.")
    if s.flow_drift:
        reasons.append(Reason.FLOW_DRIFT)
        details.append(s.flow_drift[0].upper() + s.flow_drift[1:] + ".")
    if s.session_warnings:
        reasons.append(Reason.SESSION_CHECK)
        details.append("A recorded session needs a clinician's review: " + "; ".join(s.session_warnings) + ".")
    stale = _stale_reason(s, rules)
    if stale is not None:
        reasons.append(Reason.STALE)
        details.append(stale)
    if not reasons:
        return None

    until_empty = _days(s.earliest_empty_at, now)
    until_alarm = _days(s.earliest_alarm_at, now)
    if (
        s.record_problems
        or (until_empty is not None and until_empty <= settings.urgent_empty_days)
        or (until_alarm is not None and until_alarm <= 0)
    ):
        urgency = 0
    elif until_empty is not None and until_empty <= settings.soon_empty_days:
        urgency = 1
    else:
        urgency = 2
    return WorkItem(
        patient_id=s.patient_id,
        patient_name=s.patient_name,
        pump_id=s.pump_id,
        reasons=tuple(reasons),
        details=tuple(details),
        days_until_empty=until_empty,
        days_until_alarm=until_alarm,
        urgency=_with_reports(urgency, reports),
        high_risk=s.high_risk,
        symptom_report_ids=tuple(r.report_id for r in reports),
        report_urgency=reports[0].urgency if reports else None,
    )


def _with_reports(urgency: int, reports: list[ReportedSymptoms]) -> int:
    """An emergency report makes the item urgent (0); a call-today report at least "soon" (1)."""
    if not reports:
        return urgency
    top = reports[0].urgency
    if top >= REPORT_EMERGENCY:
        return 0
    if top >= REPORT_CALL_TODAY:
        return min(urgency, 1)
    return urgency


def _patient_item(s: PumpSituation) -> WorkItem | None:
    """A patient with no implanted pump: only their unreviewed symptom reports are judged (the
    refill, ERI, MRI and record rules are a pump's)."""
    reports = _by_urgency(s.symptom_reports)
    if not reports:
        return None
    return WorkItem(
        patient_id=s.patient_id,
        patient_name=s.patient_name,
        pump_id=None,
        reasons=(Reason.SYMPTOM_REPORT,),
        details=(_report_detail(reports) + " (No implanted pump is recorded for this patient.)",),
        days_until_empty=None,
        days_until_alarm=None,
        urgency=_with_reports(2, reports),
        high_risk=s.high_risk,
        symptom_report_ids=tuple(r.report_id for r in reports),
        report_urgency=reports[0].urgency,
    )


def _order(item: WorkItem) -> tuple[object, ...]:
    empty, alarm = item.days_until_empty, item.days_until_alarm
    return (
        item.report_urgency != REPORT_EMERGENCY,
        _INF if empty is None else empty,
        not item.high_risk,
        _INF if alarm is None else alarm,
        item.patient_name.casefold(),
        item.patient_name,
        item.patient_id,
        -1 if item.pump_id is None else item.pump_id,
    )


@dataclass(frozen=True, slots=True)
class Wanted:
    """What of the worklist is asked for: the first ``limit`` items (None: all) of those with an
    urgency of ``max_urgency`` or less, listed for ``reason`` (a ``Reason`` value), of a patient whose
    name contains ``name`` (any case)."""

    limit: int | None = None
    max_urgency: int | None = None
    reason: str | None = None
    name: str | None = None

    def keeps(self, item: WorkItem) -> bool:
        return (
            (self.max_urgency is None or item.urgency <= self.max_urgency)
            and (not self.reason or self.reason in {str(r) for r in item.reasons})
            and (not self.name or self.name.lower() in item.patient_name.lower())
        )

    def of(self, items: Iterable[WorkItem]) -> list[WorkItem]:
        """These items of a whole worklist (in its order)."""
        kept = [i for i in items if self.keeps(i)]
        return kept if self.limit is None else kept[: self.limit]


def worklist_order(item: WorkItem) -> tuple[object, ...]:
    """The key the worklist is sorted by (see :func:`build_worklist`): total, so the order is one."""
    return _order(item)


def settled(items: Iterable[WorkItem], now: datetime, unbuilt_from: datetime | None) -> list[WorkItem]:
    """The first items of the worklist that are certain, most urgent first, when the pumps not built
    yet have no family report and are all empty at ``unbuilt_from`` or later (None: every pump is
    built, all items are certain). An unbuilt pump can only come after an item whose days until empty
    are fewer than its own; an item at the same days could tie with one and is not certain yet."""
    ordered = sorted(items, key=_order)
    if unbuilt_from is None:
        return ordered
    bound = (unbuilt_from - now).total_seconds() / _DAY_SECONDS
    out = []
    for item in ordered:
        empty = item.days_until_empty
        if item.report_urgency != REPORT_EMERGENCY and (empty is None or empty >= bound):
            break
        out.append(item)
    return out


def empty_within(max_urgency: int, settings: BookingSettings) -> float | None:
    """An item with no family report has an urgency of ``max_urgency`` or less only if its record
    needs checking, its alarm has passed, or its reservoir is empty within these many days (None:
    every item has)."""
    if max_urgency >= 2:
        return None
    return settings.urgent_empty_days if max_urgency <= 0 else max(settings.urgent_empty_days, settings.soon_empty_days)


def build_worklist(
    situations: Iterable[PumpSituation], now: datetime, settings: BookingSettings = DEFAULT_BOOKING
) -> list[WorkItem]:
    """Every pump with at least one reason to act, most urgent first.

    Order: a family's emergency symptom report first (``Reason.SYMPTOM_REPORT`` of urgency
    ``REPORT_EMERGENCY``), then days until the reservoir is empty (soonest first, unknown last), then high-risk
    patients first, then days until the low-reservoir alarm (unknown last), then patient name
    (then ids, so the order is total). Linear in the number of pumps, plus the sort.
    """
    rules = _Rules.of(now, settings)
    items = [item for s in situations if (item := _situation_item(s, rules)) is not None]
    items.sort(key=_order)
    return items
