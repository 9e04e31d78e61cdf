"""The clinic quality report: per month or quarter, what the record says of the care given.

Pure: plain records of a date range in (a dataclass per kind of record), the figures of each
period out. Every rule is named here with its source (``shared/domain.md``, the refill rules of
:mod:`itb.domain.refill`), and every threshold is a :class:`QualitySettings` field.

The rules, as read from what a refill record holds (the pump counts what it pumped and subtracts
it from the volume of the last fill, so ``expected_ml`` is what the pump believed was left, and
the nurse withdraws and measures what really was, ``withdrawn_ml``; domain.md, "The pump"):

- **pump-years** (``pump_years``): the exact time each pump was implanted within the period
  (from ``implanted_at`` to ``explanted_at`` or the period's end), in days / 365.25.
- **dry episode** (``dry_episode``): a refill at which the reservoir had run empty: the volume
  withdrawn, or the pump's own count, at or below the pump's empty volume plus
  ``dry_slack_ml``. A pump that counts itself empty stops with the critical alarm ("drug is no
  longer flowing"); one that pumped faster than it counted emptied before its alarm (domain.md).
  An episode is counted at the refill that ends it.
- **near miss** (``near_miss``): not dry, but the reservoir had reached the low-reservoir alarm
  volume before the visit: the withdrawn volume or the pump's count at or below
  ``low_reservoir_alarm_ml``. The pump's count at the refill is exactly the forecast made at the
  preceding refill run to that instant, so "the pump's count at or below its alarm volume" is
  "the refill came after the alarm date forecast at the preceding refill" (with every program
  change since taken into the count).
- **late refill** (``late_refill``): a refill after its alarm (a near miss or a dry episode), or
  on a later day than the earliest refill booking of its pump (a booking naming no pump counts
  for each of the patient's pumps) made for a day after the pump's previous refill (or implant)
  and not cancelled: the visit it was booked as came later than booked. A refill on its booked
  day, at any hour, is on time.
- **missed visit** (``missed_visit``): an appointment of any kind marked missed, in the period
  of its booked time; **overdue visit** (``overdue_visit``): one still "booked" whose time has
  passed by the report's instant (neither done, missed nor cancelled in the record).
- **discrepancy over the threshold** (``discrepancy_over_threshold``): a refill whose withdrawn
  volume differs from the expected by more than the clinic's refill threshold
  (:func:`itb.domain.refill.discrepancy_threshold_ml`: 2 mL, or 1 mL for small pumps when the
  clinic chose it; domain.md, "Refills"). Counted as reviewed or not (``reviewed_by``), by its
  direction (more than expected: the pump under-infused or the catheter is blocked; less: the
  pump over-infused or a pocket fill, domain.md), and by the recorded cause: the kind of a
  complication recorded against that refill, else "not recorded".
- **replacement** (``replacement``): a pump implanted for a patient whose earlier pump was
  explanted at most ``replacement_gap_days`` before; an **ERI replacement** when that earlier
  pump had reported its elective replacement indicator or was explanted at most
  ``eri_replacement_days`` before its expected ERI (domain.md: clinics plan the replacement about
  6 months before the stop).
- **complications** by kind (:data:`COMPLICATION_KINDS`), **triage calls** (the families'
  symptom reports) by the urgency their triage gave (0 next visit, 1 call today, 2 emergency;
  none: stored without one).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum

from itb.domain.refill import DEFAULT_REFILL, RefillSettings, discrepancy_threshold_ml

#: the complications a clinic records (domain.md, "Complications", and the drug label's overdose
#: and withdrawal), each with its words
COMPLICATION_KINDS: dict[str, str] = {
    "infection": "infection",
    "csf_leak": "CSF leak or seroma",
    "catheter_kink": "catheter kink",
    "catheter_disconnection": "catheter disconnection",
    "catheter_migration": "catheter migration",
    "catheter_occlusion": "catheter occlusion",
    "pocket": "pump pocket problem",
    "withdrawal": "withdrawal",
    "overdose": "overdose",
    "other": "other",
}
#: a discrepancy with no complication recorded against its refill
NOT_RECORDED = "not recorded"
DAYS_PER_YEAR = 365.25


@dataclass(frozen=True, slots=True)
class QualitySettings:
    """Every threshold of the report, with its source (``docs/parameters.md``, "The clinic quality report")."""

    #: a reservoir at or below the pump's empty volume plus this was empty: the nurse cannot withdraw
    #: the last drops, and a measurement is read to about 0.1-0.5 mL *(unverified)*
    dry_slack_ml: float = 0.5
    #: a new pump at most this long after the patient's earlier one was explanted replaces it (a pump
    #: removed for an infection is often re-implanted weeks later) *(unverified)*
    replacement_gap_days: float = 90.0
    #: an explant at most this long before the expected ERI is an ERI replacement: domain.md, plan the
    #: replacement about 6 months before the stop (``BookingSettings.eri_warning_days``, 183 days)
    eri_replacement_days: float = 183.0
    #: the discrepancy threshold is the clinic's refill rule (domain.md: "more than about 2 mL")
    refill: RefillSettings = DEFAULT_REFILL


DEFAULT_QUALITY = QualitySettings()


class Grouping(StrEnum):
    MONTH = "month"
    QUARTER = "quarter"


# ---------------------------------------------------------------------------------- the records


@dataclass(frozen=True, slots=True)
class PumpFacts:
    id: int
    patient_id: int
    implanted_at: datetime
    explanted_at: datetime | None
    reservoir_capacity_ml: float
    low_reservoir_alarm_ml: float
    empty_ml: float
    eri_at: datetime | None = None
    eri_reached: bool = False


@dataclass(frozen=True, slots=True)
class RefillFacts:
    id: int
    pump_id: int
    at: datetime
    expected_ml: float
    withdrawn_ml: float
    reviewed: bool = False


@dataclass(frozen=True, slots=True)
class VisitFacts:
    id: int
    patient_id: int
    pump_id: int | None
    kind: str
    status: str  # booked, done, missed, cancelled
    at: datetime


@dataclass(frozen=True, slots=True)
class ComplicationFacts:
    id: int
    patient_id: int
    kind: str
    at: datetime
    refill_id: int | None = None


@dataclass(frozen=True, slots=True)
class TriageFacts:
    at: datetime
    urgency: int | None


@dataclass(frozen=True, slots=True)
class Records:
    """What the report reads: every pump (all of a patient's, for replacements), the refills from
    before the range (each refill's previous one is needed), and the rest within the range."""

    pumps: Sequence[PumpFacts] = ()
    refills: Sequence[RefillFacts] = ()
    visits: Sequence[VisitFacts] = ()
    complications: Sequence[ComplicationFacts] = ()
    triage: Sequence[TriageFacts] = ()


# ---------------------------------------------------------------------------------- the periods


@dataclass(frozen=True, slots=True)
class Period:
    label: str
    start: date  # first day
    end: date  # last day (inclusive)
    #: the period's first instant, and the instant after its last day
    start_at: datetime = field(init=False, compare=False)
    end_at: datetime = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "start_at", datetime.combine(self.start, time.min))
        object.__setattr__(self, "end_at", datetime.combine(self.end + timedelta(days=1), time.min))

    def holds(self, at: datetime) -> bool:
        return self.start_at <= at < self.end_at


def _next_start(day: date, grouping: Grouping) -> date:
    months = 1 if grouping is Grouping.MONTH else 3
    first_month = day.month if grouping is Grouping.MONTH else 3 * ((day.month - 1) // 3) + 1
    index = day.year * 12 + first_month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _label(day: date, grouping: Grouping) -> str:
    if grouping is Grouping.MONTH:
        return f"{day.year}-{day.month:02d}"
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


def periods(first: date, last: date, grouping: Grouping) -> list[Period]:
    """The calendar months or quarters from ``first`` to ``last`` (inclusive), the first and last cut
    to the range; none when ``last`` is before ``first``."""
    out = []
    day = first
    while day <= last:
        following = _next_start(day, grouping)
        out.append(Period(_label(day, grouping), day, min(last, following - timedelta(days=1))))
        day = following
    return out


# ---------------------------------------------------------------------------------- the rules


def pump_years(pump: PumpFacts, period: Period) -> float:
    """The time ``pump`` was implanted within ``period``, in years of 365.25 days."""
    start = max(pump.implanted_at, period.start_at)
    end = min(pump.explanted_at or period.end_at, period.end_at)
    return max((end - start).total_seconds(), 0.0) / 86400 / DAYS_PER_YEAR


def in_service(pump: PumpFacts, period: Period) -> bool:
    return pump_years(pump, period) > 0


def _at_or_below(volume_ml: float, bound_ml: float) -> bool:
    return volume_ml <= bound_ml or math.isclose(volume_ml, bound_ml, rel_tol=1e-9, abs_tol=1e-9)


def dry_episode(refill: RefillFacts, pump: PumpFacts, settings: QualitySettings = DEFAULT_QUALITY) -> bool:
    """The reservoir had run empty: the withdrawn volume or the pump's count at or below empty + slack."""
    return _at_or_below(min(refill.withdrawn_ml, refill.expected_ml), pump.empty_ml + settings.dry_slack_ml)


def near_miss(refill: RefillFacts, pump: PumpFacts, settings: QualitySettings = DEFAULT_QUALITY) -> bool:
    """Not dry, but the low-reservoir alarm volume was reached before the visit (measured or counted)."""
    low = min(refill.withdrawn_ml, refill.expected_ml)
    return _at_or_below(low, pump.low_reservoir_alarm_ml) and not dry_episode(refill, pump, settings)


def booked_day(
    refill: RefillFacts, previous_at: datetime, visits: Iterable[VisitFacts], pump: PumpFacts
) -> date | None:
    """The day of the earliest refill booking this refill kept: of its pump (or of the patient with
    no pump named), not cancelled, for a day after the previous refill's and not after this one's."""
    days = [
        v.at.date()
        for v in visits
        if v.kind == "refill"
        and v.status != "cancelled"
        and (v.pump_id == pump.id or (v.pump_id is None and v.patient_id == pump.patient_id))
        and previous_at.date() < v.at.date() <= refill.at.date()
    ]
    return min(days, default=None)


def late_refill(
    refill: RefillFacts, booked: date | None, pump: PumpFacts, settings: QualitySettings = DEFAULT_QUALITY
) -> bool:
    """After its alarm (a near miss or a dry episode), or on a later day than ``booked`` (:func:`booked_day`)."""
    if dry_episode(refill, pump, settings) or near_miss(refill, pump, settings):
        return True
    return booked is not None and refill.at.date() > booked


def discrepancy_over_threshold(
    refill: RefillFacts, pump: PumpFacts, settings: QualitySettings = DEFAULT_QUALITY
) -> bool:
    """``|withdrawn - expected|`` beyond the clinic's refill threshold (float noise not counted)."""
    threshold = discrepancy_threshold_ml(pump.reservoir_capacity_ml, settings.refill)
    size = abs(refill.withdrawn_ml - refill.expected_ml)
    return size > threshold and not math.isclose(size, threshold, rel_tol=1e-9, abs_tol=1e-9)


def missed_visit(visit: VisitFacts) -> bool:
    return visit.status == "missed"


def overdue_visit(visit: VisitFacts, as_of: datetime) -> bool:
    return visit.status == "booked" and visit.at < as_of


def replaced_pump(
    pump: PumpFacts, pumps: Iterable[PumpFacts], settings: QualitySettings = DEFAULT_QUALITY
) -> PumpFacts | None:
    """The patient's earlier pump ``pump`` replaces: explanted at most ``replacement_gap_days``
    before it was implanted, or up to a day after (the same operation, recorded in either order);
    the latest such, None for a first pump."""
    gap = timedelta(days=settings.replacement_gap_days)
    earlier = [
        p
        for p in pumps
        if p.patient_id == pump.patient_id
        and p.id != pump.id
        and p.explanted_at is not None
        and pump.implanted_at - gap <= p.explanted_at <= pump.implanted_at + timedelta(days=1)
    ]
    return max(earlier, key=lambda p: p.explanted_at or p.implanted_at, default=None)


def eri_replacement(old: PumpFacts, settings: QualitySettings = DEFAULT_QUALITY) -> bool:
    """The pump was replaced for its battery: it had reported its ERI, or was explanted at most
    ``eri_replacement_days`` before its expected ERI."""
    if old.eri_reached:
        return True
    if old.eri_at is None or old.explanted_at is None:
        return False
    return old.explanted_at >= old.eri_at - timedelta(days=settings.eri_replacement_days)


# ---------------------------------------------------------------------------------- the figures


@dataclass(frozen=True, slots=True)
class Figures:
    """One period's figures (the CSV's columns, in order: :data:`COLUMNS`)."""

    period: Period
    pumps_in_service: int = 0
    pump_years: float = 0.0
    implants: int = 0
    refills: int = 0
    refills_late: int = 0
    refills_after_booked_day: int = 0
    near_misses: int = 0
    dry_episodes: int = 0
    visits_missed: int = 0
    visits_overdue: int = 0
    discrepancies: int = 0
    discrepancies_reviewed: int = 0
    discrepancies_more_than_expected: int = 0
    discrepancy_causes: dict[str, int] = field(default_factory=dict)
    complications: dict[str, int] = field(default_factory=dict)
    replacements: int = 0
    eri_replacements: int = 0
    explants: int = 0
    triage: dict[str, int] = field(default_factory=dict)

    @property
    def discrepancies_not_reviewed(self) -> int:
        return self.discrepancies - self.discrepancies_reviewed

    @property
    def complications_total(self) -> int:
        return sum(self.complications.values())

    @property
    def dry_per_100_pump_years(self) -> float | None:
        """Dry episodes per 100 pump-years (domain.md: severe withdrawal about 1 per 20 pump-years, 5 per 100)."""
        return None if self.pump_years <= 0 else 100 * self.dry_episodes / self.pump_years


#: triage urgencies as the report names them (``itb.domain.triage``: 0, 1, 2; none: stored without one)
TRIAGE_NAMES: dict[int | None, str] = {0: "next_visit", 1: "call_today", 2: "emergency", None: "untriaged"}


def _previous_refill_at(refills: Sequence[RefillFacts], pumps: dict[int, PumpFacts]) -> dict[int, datetime]:
    """Each refill's previous refill of its pump (or the pump's implant), by refill id."""
    last: dict[int, datetime] = {}
    out: dict[int, datetime] = {}
    for r in sorted(refills, key=lambda r: (r.at, r.id)):
        if r.pump_id in pumps:
            out[r.id] = last.get(r.pump_id, pumps[r.pump_id].implanted_at)
            last[r.pump_id] = r.at
    return out


Counts = tuple[str, ...]
"""What one record counts for: the names of the figures it adds one to."""


def _count(**flags: bool) -> Counts:
    return tuple(name for name, flag in flags.items() if flag)


class _Bookings:
    """The refill bookings (not cancelled) of each pump, and those naming no pump by patient, in
    day order: each refill looks only at those after its pump's previous refill (by bisection)."""

    def __init__(self, visits: Iterable[VisitFacts]) -> None:
        self.by_pump: dict[int, list[VisitFacts]] = defaultdict(list)
        self.by_patient: dict[int, list[VisitFacts]] = defaultdict(list)
        for v in sorted(visits, key=lambda v: v.at):
            if v.kind == "refill" and v.status != "cancelled":
                (self.by_pump[v.pump_id] if v.pump_id is not None else self.by_patient[v.patient_id]).append(v)
        self.days = {key: [v.at.date() for v in vs] for key, vs in self.by_pump.items()}
        self.patient_days = {key: [v.at.date() for v in vs] for key, vs in self.by_patient.items()}

    def between(self, pump: PumpFacts, after: date, until: date) -> list[VisitFacts]:
        found = []
        for visits, days in (
            (self.by_pump.get(pump.id, []), self.days.get(pump.id, [])),
            (self.by_patient.get(pump.patient_id, []), self.patient_days.get(pump.patient_id, [])),
        ):
            found += visits[bisect_right(days, after) : bisect_right(days, until)]
        return found


def _refill_counts(records: Records, settings: QualitySettings) -> list[tuple[datetime, Counts]]:
    """Each refill's instant and what it counts for (every rule judged once per refill)."""
    pumps = {p.id: p for p in records.pumps}
    previous = _previous_refill_at(records.refills, pumps)
    bookings = _Bookings(records.visits)
    causes = {c.refill_id: c.kind for c in records.complications if c.refill_id is not None}
    out = []
    for r in records.refills:
        pump = pumps.get(r.pump_id)
        if pump is None:
            continue
        kept = bookings.between(pump, previous[r.id].date(), r.at.date())
        booked = booked_day(r, previous[r.id], kept, pump)
        counts = _count(
            refills=True,
            dry_episodes=dry_episode(r, pump, settings),
            near_misses=near_miss(r, pump, settings),
            refills_after_booked_day=booked is not None and r.at.date() > booked,
            refills_late=late_refill(r, booked, pump, settings),
        )
        if discrepancy_over_threshold(r, pump, settings):
            more = r.withdrawn_ml > r.expected_ml
            counts += _count(
                discrepancies=True, discrepancies_reviewed=r.reviewed, discrepancies_more_than_expected=more
            )
            counts += ("cause:" + causes.get(r.id, NOT_RECORDED),)
        out.append((r.at, counts))
    return out


def _event_counts(records: Records, as_of: datetime, settings: QualitySettings) -> list[tuple[datetime, Counts]]:
    """Every other dated event and what it counts for: implants (and the replacements among them),
    explants, visits missed or overdue, complications by kind, symptom reports by urgency."""
    of_patient: dict[int, list[PumpFacts]] = defaultdict(list)
    for p in records.pumps:
        of_patient[p.patient_id].append(p)
    out: list[tuple[datetime, Counts]] = []
    for p in records.pumps:
        old = replaced_pump(p, of_patient[p.patient_id], settings)
        eri = old is not None and eri_replacement(old, settings)
        out.append((p.implanted_at, _count(implants=True, replacements=old is not None, eri_replacements=eri)))
        if p.explanted_at is not None:
            out.append((p.explanted_at, ("explants",)))
    for v in records.visits:
        out.append((v.at, _count(visits_missed=missed_visit(v), visits_overdue=overdue_visit(v, as_of))))
    out += [(c.at, ("complication:" + c.kind,)) for c in records.complications]
    out += [(r.at, ("triage:" + TRIAGE_NAMES.get(r.urgency, "untriaged"),)) for r in records.triage]
    return out


def _service(chosen: Sequence[Period], pumps: Sequence[PumpFacts]) -> list[tuple[int, float]]:
    """Each period's pumps in service and pump-years; each pump looks only at the periods it overlaps."""
    starts = [p.start_at for p in chosen]
    count, years = [0] * len(chosen), [0.0] * len(chosen)
    for pump in pumps:
        first = max(bisect_right(starts, pump.implanted_at) - 1, 0)
        last = len(chosen) if pump.explanted_at is None else bisect_right(starts, pump.explanted_at)
        for i in range(first, last):
            if (y := pump_years(pump, chosen[i])) > 0:
                count[i] += 1
                years[i] += y
    return list(zip(count, years))


def _figures(period: Period, counts: Counter[str], service: tuple[int, float]) -> Figures:
    plain = {name: counts[name] for name in _PLAIN}
    return Figures(
        period,
        pumps_in_service=service[0],
        pump_years=service[1],
        **plain,
        discrepancy_causes={k[6:]: n for k, n in sorted(counts.items()) if k.startswith("cause:") and n},
        complications={k: counts["complication:" + k] for k in COMPLICATION_KINDS},
        triage={name: counts["triage:" + name] for name in TRIAGE_NAMES.values()},
    )


_PLAIN = (
    "implants", "refills", "refills_late", "refills_after_booked_day", "near_misses", "dry_episodes",
    "visits_missed", "visits_overdue", "discrepancies", "discrepancies_reviewed",
    "discrepancies_more_than_expected", "replacements", "eri_replacements", "explants",
)  # fmt: skip


def report(
    first: date, last: date, grouping: Grouping, records: Records, as_of: datetime,
    settings: QualitySettings = DEFAULT_QUALITY,
) -> list[Figures]:  # fmt: skip
    """Every period's figures from ``first`` to ``last``, then the whole range's (labelled "total").

    Each rule is judged once per record, and each record counted in the period holding its instant
    (found by bisection among the periods' starts)."""
    chosen = periods(first, last, grouping)
    if not chosen:
        return []
    whole = Period("total", first, last)
    starts = [p.start_at for p in chosen]
    tallies: list[Counter[str]] = [Counter() for _ in chosen]
    total: Counter[str] = Counter()
    for at, counts in _refill_counts(records, settings) + _event_counts(records, as_of, settings):
        if whole.holds(at):
            tally = tallies[bisect_right(starts, at) - 1]
            for name in counts:
                tally[name] += 1
                total[name] += 1
    service = _service(chosen, records.pumps)
    rows = [_figures(p, c, s) for p, c, s in zip(chosen, tallies, service)]
    return [*rows, _figures(whole, total, _service([whole], records.pumps)[0])]


# ---------------------------------------------------------------------------------- the table

#: the CSV's columns, one per figure, in order (documented in ``docs/parameters.md``)
COLUMNS: tuple[str, ...] = (
    "period", "start", "end", "pumps_in_service", "pump_years", "implants", "refills", "refills_late",
    "refills_after_booked_day", "near_misses", "dry_episodes", "dry_per_100_pump_years", "visits_missed",
    "visits_overdue", "discrepancies", "discrepancies_reviewed", "discrepancies_not_reviewed",
    "discrepancies_more_than_expected", "discrepancy_causes", "complications",
    *(f"complications_{k}" for k in COMPLICATION_KINDS),
    "replacements", "eri_replacements", "explants",
    *(f"triage_{name}" for name in TRIAGE_NAMES.values()),
)  # fmt: skip


def row(f: Figures) -> dict[str, str | int | float | None]:
    """A period's figures by column (:data:`COLUMNS`); pump-years to 3 decimals, the causes as
    ``kind:count`` joined by ``; ``."""
    rate = f.dry_per_100_pump_years
    out: dict[str, str | int | float | None] = {
        "period": f.period.label, "start": f.period.start.isoformat(), "end": f.period.end.isoformat(),
        "pumps_in_service": f.pumps_in_service, "pump_years": round(f.pump_years, 3), "implants": f.implants,
        "refills": f.refills, "refills_late": f.refills_late, "refills_after_booked_day": f.refills_after_booked_day,
        "near_misses": f.near_misses, "dry_episodes": f.dry_episodes,
        "dry_per_100_pump_years": None if rate is None else round(rate, 2),
        "visits_missed": f.visits_missed, "visits_overdue": f.visits_overdue, "discrepancies": f.discrepancies,
        "discrepancies_reviewed": f.discrepancies_reviewed, "discrepancies_not_reviewed": f.discrepancies_not_reviewed,
        "discrepancies_more_than_expected": f.discrepancies_more_than_expected,
        "discrepancy_causes": "; ".join(f"{k}:{n}" for k, n in f.discrepancy_causes.items()),
        "complications": f.complications_total,
    }  # fmt: skip
    out |= {f"complications_{k}": f.complications.get(k, 0) for k in COMPLICATION_KINDS}
    out |= {"replacements": f.replacements, "eri_replacements": f.eri_replacements, "explants": f.explants}
    out |= {f"triage_{name}": f.triage.get(name, 0) for name in TRIAGE_NAMES.values()}
    return out


__all__ = [
    "COLUMNS",
    "COMPLICATION_KINDS",
    "DEFAULT_QUALITY",
    "NOT_RECORDED",
    "TRIAGE_NAMES",
    "ComplicationFacts",
    "Figures",
    "Grouping",
    "Period",
    "PumpFacts",
    "QualitySettings",
    "Records",
    "RefillFacts",
    "TriageFacts",
    "VisitFacts",
    "booked_day",
    "discrepancy_over_threshold",
    "dry_episode",
    "eri_replacement",
    "in_service",
    "late_refill",
    "missed_visit",
    "near_miss",
    "overdue_visit",
    "periods",
    "pump_years",
    "replaced_pump",
    "report",
    "row",
]
