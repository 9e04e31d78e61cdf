"""The clinician programmer's workflows, as a clinician uses them.

- **interrogate**: the pump's status, its program, and what follows from them (the
  low-reservoir alarm date, the empty date, the ERI date);
- **change the program**: propose -> review old against new with every limit judged ->
  confirm (acknowledge each soft limit) -> send as one block -> read back and verify; on an
  uncertain result, reconcile by reading the pump's log;
- **refill**: withdrawn against expected, no overfill, a bridge bolus after a concentration
  change, then the new alarm date and the recommended next refill date;
- **bolus** (single or priming) within the lockout and the daily maximum.

Every change goes through :func:`send_change`: it is recorded first, sent under one
idempotency key however many times the link makes us retry, and resolved from the pump's
answer or its log, never from a guess.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from itb.contracts.forecast import hhmm, program_json
from itb.contracts.jsonfields import parse_local_datetime
from itb.domain.calibration import DEFAULT_FLOW, FlowEstimate, FlowSettings, device_prior, plausible_forecast
from itb.domain.devices import MODELS
from itb.domain.forecast import ReservoirState, forecast_reservoir
from itb.domain.formatting import number, quantity
from itb.domain.limits import (
    DEFAULT_LIMITS,
    Assessment,
    DoseHistory,
    DrugProduct,
    LimitSettings,
    Origin,
    PatientContext,
    assess_bolus,
    assess_concentration,
    assess_entry,
    assess_high_risk,
    assess_program_change,
    assess_restart,
)
from itb.domain.program import BolusKind, DailyBolus, DosingProgram, OneTimeBolus, Step
from itb.domain.reading import PumpReading
from itb.domain.refill import (
    DEFAULT_REFILL,
    BridgeBolus,
    ConcentrationDecrease,
    RefillSettings,
    assess_level_after_refill,
    assess_priming,
    assess_refill,
    bridge_bolus,
    concentration_decrease,
    next_refill_date,
    priming_bolus,
)
from itb.domain.scheduling import DEFAULT_BOOKING, BookingSettings
from itb.domain.units import Quantity
from itb.programmer.link import ProgramBlock, PumpLink, new_key
from itb.programmer.record import Entry, ProgrammerRecord, Status
from itb.telemetry.session import LinkDown, RemoteError, UncertainOutcome

#: Rounds of send-then-reconcile before a change is left ``uncertain`` for the next session.
MAX_ROUNDS = 3


class NotAllowed(Exception):
    """A change the limits refuse, or whose soft limits were not all acknowledged."""

    def __init__(self, assessment: Assessment, acknowledged: Iterable[str] = ()) -> None:
        self.assessment = assessment
        missing = assessment.unacknowledged(acknowledged)
        parts = [f"refused: {f.message}" for f in assessment.refusals]
        parts += [f"needs confirmation ({f.code}): {f.message}" for f in missing]
        super().__init__("; ".join(parts))


def require_allowed(assessment: Assessment, acknowledged: Iterable[str]) -> tuple[str, ...]:
    """The acknowledged codes, once every limit allows the change; else NotAllowed (nothing sent)."""
    acknowledged = tuple(acknowledged)
    if not assessment.allowed(acknowledged):
        raise NotAllowed(assessment, acknowledged)
    return acknowledged


# ---------------------------------------------------------------------- interrogation
@dataclass(frozen=True, kw_only=True)
class PumpView(PumpReading):
    """A reading by telemetry: the pump's answer plus its program block as read back (CRC-checked)."""

    block: ProgramBlock


def therapy_patient(status: dict[str, Any]) -> PatientContext:
    """The patient as the pump's therapy information describes them (set at implant)."""
    therapy = status["therapy"]
    implanted = therapy.get("implanted_at")
    return PatientContext(
        origin=Origin(therapy["origin"]),
        age_years=therapy["age_years"],
        implanted_at=parse_local_datetime(implanted) if implanted else None,
    )


def interrogate(link: PumpLink) -> PumpView:
    status = link.interrogate()
    block = link.read_program()
    log = link.read_log(0)
    now = parse_local_datetime(status["pump_time"])
    state = ReservoirState(
        at=now,  # type: ignore[arg-type]
        reservoir_capacity_ml=status["reservoir_capacity_ml"],
        reservoir_ml=status["reservoir_ml"],
        concentration_mcg_per_ml=status["concentration_mcg_per_ml"],
        low_reservoir_alarm_ml=status["low_reservoir_alarm_ml"],
        empty_ml=status["empty_ml"],
    )
    running = running_boluses(log, now)  # type: ignore[arg-type]
    program = block.program
    if running:
        program = DosingProgram(program.steps, program.daily_boluses, program.one_time_boluses + running)
    return PumpView(
        status=status,
        program=block.program,
        program_version=block.version,
        forecast=forecast_reservoir(state, program),
        history=dose_history(log),
        log=log,
        patient=therapy_patient(status),
        block=block,
    )


def running_boluses(log: list[dict], now: datetime) -> tuple[OneTimeBolus, ...]:
    """The boluses started by a programmer's command and still running at ``now``, from the pump's log.

    They are not part of the program, but the pump counts them out of the reservoir: a bridge
    bolus can run for more than a day, so the forecast must include them. A program change, a
    cancel or the end of service ends every running bolus; the program's own one-time boluses
    are logged without a key (they are in the program already).
    """
    running: list[OneTimeBolus] = []
    for event in log:
        if event["type"] in ("program_changed", "bolus_cancel", "end_of_service"):
            running.clear()
        elif event["type"] == "bolus_started" and event.get("key") is not None:
            at = parse_local_datetime(event.get("at"))
            if at is not None:
                kind = BolusKind(event.get("kind", "single"))
                running.append(OneTimeBolus(at, event["dose_mcg"], event["duration_minutes"], kind))
    return tuple(b for b in running if b.at + timedelta(minutes=b.duration_minutes) > now)


def dose_history(log: list[dict]) -> DoseHistory:
    """The last dose increase and the boluses given, read from the pump's own log.

    Each ``program_changed`` event carries the daily dose before and after. A change whose
    previous dose is not known counts as an increase (the safe side of "at most one increase
    per 24 h"). A stop is a program that delivers nothing, or the pump stopping at its empty count (until
    the refill that restarts it): its instant and the dose before it are kept for the restart rule.
    """
    last_increase = None
    dose = None
    boluses = []
    stopped: tuple[datetime | None, float | None, bool] | None = None  # (at, dose before, by running empty)
    for event in log:
        at = parse_local_datetime(event.get("at"))
        kind = event["type"]
        if kind == "program_changed":
            new, before = event.get("daily_dose_mcg"), event.get("previous_daily_dose_mcg", dose)
            if new is not None and (before is None or new > before):
                last_increase = at
            if new is not None and new <= 0 and before:
                stopped = (at, before, False)
            elif new:
                stopped = None if stopped is None or not stopped[2] else stopped
            dose = new
        elif kind == "empty_reservoir_alarm" and stopped is None:
            stopped = (at, dose, True)
        elif kind == "refill" and stopped is not None and stopped[2]:
            stopped = None  # the pump runs its program again
        elif kind == "bolus_started" and event.get("kind") == "single" and at is not None:
            boluses.append((at, event["dose_mcg"]))
    stopped_at, before_stop, _ = stopped or (None, None, False)
    return DoseHistory(
        last_increase_at=last_increase,
        boluses=tuple(boluses),
        stopped_at=stopped_at,
        dose_before_stop_mcg=before_stop,
    )


# ---------------------------------------------------------------------- sending a change
def send_change(
    link: PumpLink,
    record: ProgrammerRecord,
    entry: Entry,
    send: Callable[[], dict],
    proof: str,
    log_since: int,
) -> dict | None:
    """Send one recorded change until its fate is known; the pump's answer, or None.

    ``proof`` is the log event type that shows the change applied (logged under the key).
    On an uncertain result the log is read from ``log_since``: the event with our key means
    applied; its absence (in a log we could read) means not applied, and it is sent again
    under the same key, so it can never apply twice.
    """
    for _ in range(MAX_ROUNDS):
        entry.attempts += 1
        try:
            answer = send()
        except RemoteError as exc:
            entry.status, entry.detail = Status.REFUSED, str(exc)
            return None
        except (UncertainOutcome, LinkDown) as exc:
            entry.status, entry.detail = Status.UNCERTAIN, str(exc)
            if not reconcile(link, entry, proof, log_since):
                return None  # the log cannot be read now: left uncertain for the next session
            if entry.status is Status.APPLIED:
                return None
            continue
        entry.status = Status.APPLIED
        entry.detail = (
            "already applied (answered from the pump's memory of this key)" if answer.get("already_applied") else ""
        )
        return answer
    return None


def reconcile(link: PumpLink, entry: Entry, proof: str, log_since: int = 0) -> bool:
    """Settle ``entry`` from the pump's log; False if the log could not be read."""
    try:
        events = link.read_log(log_since)
    except (UncertainOutcome, LinkDown, RemoteError):
        link.drop()
        return False
    for event in events:
        if event.get("key") == entry.key and event["type"] == proof:
            entry.status, entry.pump_seq = Status.APPLIED, event["seq"]
            entry.detail = "found in the pump's log after an uncertain send"
            return True
    entry.status = Status.NOT_APPLIED
    entry.detail = "not in the pump's log after an uncertain send"
    return True


PROOF = {
    "program": "program_changed",
    "refill": "refill",
    "bolus_start": "bolus_started",
    "bolus_cancel": "bolus_cancel",
    "alarms_silence": "alarms_cleared",
}


def reconcile_record(link: PumpLink, record: ProgrammerRecord) -> None:
    """At the start of a session: settle every change left pending or uncertain."""
    for entry in record.unresolved():
        reconcile(link, entry, PROOF[entry.command])


# ---------------------------------------------------------------------- program change
@dataclass(frozen=True)
class ProgramReview:
    """Old against new, side by side, with every limit judged (nothing sent yet)."""

    view: PumpReading
    old: DosingProgram
    new: DosingProgram
    assessment: Assessment

    def rows(self) -> list[tuple[str, str, str]]:
        conc = self.view.status["concentration_mcg_per_ml"]

        def steps(p: DosingProgram) -> str:
            return ", ".join(f"{hhmm(s.start_minute)} {number(s.rate_mcg_per_day, 'mcg/day')}" for s in p.steps)

        def boluses(p: DosingProgram) -> str:
            text = (
                f"{hhmm(b.start_minute)} {quantity(b.dose_mcg, 'mcg')}/{quantity(b.duration_minutes, 'min')}"
                for b in p.daily_boluses
            )
            return ", ".join(text) or "none"

        return [
            ("steps (start mcg/day)", steps(self.old), steps(self.new)),
            ("daily boluses", boluses(self.old), boluses(self.new)),
            ("daily dose", f"{self.old.daily_dose_mcg:.4g} mcg", f"{self.new.daily_dose_mcg:.4g} mcg"),
            (
                "daily volume",
                f"{self.old.daily_volume_ml(conc):.4g} mL",
                f"{self.new.daily_volume_ml(conc):.4g} mL",
            ),
        ]


def review_program(
    view: PumpReading,
    new: DosingProgram,
    settings: LimitSettings = DEFAULT_LIMITS,
    entered_rate: Quantity | None = None,
) -> ProgramReview:
    """Every limit on the change; ``entered_rate`` (as typed) is also checked for a mg/mcg slip."""
    assessment = assess_program_change(
        view.program,
        new,
        view.status["concentration_mcg_per_ml"],
        view.patient,
        view.history,
        view.now,
        settings,
    )
    if entered_rate is not None:
        assessment = assessment.merged(assess_entry(entered_rate, view.program.daily_dose_mcg, settings))
    return ProgramReview(view, view.program, new, assessment)


@dataclass
class ProgramOutcome:
    entry: Entry
    version: int | None = None
    verified: bool = False


def send_program(
    link: PumpLink, review: ProgramReview, record: ProgrammerRecord, acknowledged: Iterable[str] = ()
) -> ProgramOutcome:
    """Confirm -> send -> read back and verify. Raises NotAllowed before anything is sent."""
    acknowledged = require_allowed(review.assessment, acknowledged)
    key = new_key()
    entry = record.add(
        key,
        "program",
        base_version=review.view.program_version,
        daily_dose_mcg=review.new.daily_dose_mcg,
        acknowledged=list(acknowledged),
    )
    answer = send_change(
        link,
        record,
        entry,
        lambda: link.send_program(review.new, review.view.program_version, key),
        "program_changed",
        review.view.status["log_size"],
    )
    outcome = ProgramOutcome(entry, version=answer.get("version") if answer else None)
    if entry.status is Status.APPLIED:
        try:
            block = link.read_program()
            outcome.version = block.version
            outcome.verified = program_json(block.program) == program_json(review.new)
        except (UncertainOutcome, LinkDown):
            link.drop()
    return outcome


# ---------------------------------------------------------------------- refill
@dataclass
class RefillPlan:
    view: PumpReading
    withdrawn_ml: float
    added_ml: float
    concentration_mcg_per_ml: float
    assessment: Assessment
    bridge: BridgeBolus | None
    low_reservoir_alarm_at: datetime | None
    next_refill_at: datetime
    #: the earliest plausible low-reservoir alarm (the pump's flow at its upper bound), which the
    #: next refill is booked from
    earliest_alarm_at: datetime | None = None
    #: a weaker drug: the overshoot if nothing is done, and the temporary program or aspiration
    decrease: ConcentrationDecrease | None = None
    #: the temporary program that keeps the dose right while the stronger drug clears
    temporary_program: DosingProgram | None = None


def plan_refill(
    view: PumpReading,
    *,
    withdrawn_ml: float,
    added_ml: float,
    concentration_mcg_per_ml: float,
    settings: RefillSettings = DEFAULT_REFILL,
    limits: LimitSettings = DEFAULT_LIMITS,
    booking: BookingSettings = DEFAULT_BOOKING,
    flow: FlowEstimate | None = None,
    flow_settings: FlowSettings = DEFAULT_FLOW,
    product: DrugProduct | None = None,
) -> RefillPlan:
    """Judge a refill and plan the next one. ``flow`` is the pump's learned flow (the clinic's,
    with this refill's interval); without it the device's prior (the edge of its label)."""
    status = view.status
    model = MODELS[status["model"]]
    pumped = pumped_since_last_refill(view)
    assessment = assess_refill(
        expected_ml=status["reservoir_ml"],
        withdrawn_ml=withdrawn_ml,
        added_ml=added_ml,
        capacity_ml=status["reservoir_capacity_ml"],
        pumped_since_refill_ml=pumped,
        flow_tolerance=model.labelled_flow_tolerance,
        settings=settings,
    ).merged(assess_concentration(concentration_mcg_per_ml, limits, product))
    dead_volume = model.internal_tubing_ml + status["therapy"]["catheter_length_cm"] * model.catheter_ml_per_cm
    program = view.program
    bridge = bridge_bolus(
        dead_volume_ml=dead_volume,
        old_concentration_mcg_per_ml=status["concentration_mcg_per_ml"],
        new_concentration_mcg_per_ml=concentration_mcg_per_ml,
        daily_dose_mcg=program.daily_dose_mcg,
    )
    decrease = temporary = None
    if bridge is not None and not isinstance(bridge, BridgeBolus):
        assessment = assessment.merged(Assessment((bridge,)))
        bridge = None
        if 0 < concentration_mcg_per_ml < status["concentration_mcg_per_ml"] and program.daily_dose_mcg > 0:
            decrease = concentration_decrease(
                dead_volume, status["concentration_mcg_per_ml"], concentration_mcg_per_ml, program.daily_dose_mcg
            )
            temporary = _scaled(program, 1 / decrease.factor)
    if view.history.stopped_at is not None and view.history.dose_before_stop_mcg is None:
        # it ran empty with the program it still has: the refill restarts that program
        history = replace(view.history, dose_before_stop_mcg=program.daily_dose_mcg)
    else:
        history = view.history
    restart = assess_restart(program.daily_dose_mcg, history, view.now, limits)
    boxed = assess_high_risk(view.patient, "a refill")
    if restart or boxed:
        assessment = assessment.merged(Assessment((*restart, *boxed)))
    alarm_at = earliest_at = None
    if added_ml > 0 and concentration_mcg_per_ml > 0 and added_ml <= status["reservoir_capacity_ml"]:
        extra = (
            DosingProgram(program.steps, program.daily_boluses, ())
            if bridge is None
            else _with_bolus(program, view.now, bridge)
        )
        after = ReservoirState(
            at=view.now,
            reservoir_capacity_ml=status["reservoir_capacity_ml"],
            reservoir_ml=added_ml,
            concentration_mcg_per_ml=concentration_mcg_per_ml,
            low_reservoir_alarm_ml=status["low_reservoir_alarm_ml"],
            empty_ml=status["empty_ml"],
        )
        forecast = forecast_reservoir(after, extra)
        alarm_at = forecast.low_reservoir_alarm_at
        days_to_alarm = 0.0 if alarm_at is None else max((alarm_at - view.now) / timedelta(days=1), 0.0)
        ratio = (flow or device_prior(model, flow_settings)).upper(flow_settings, days_to_alarm)
        earliest_at = plausible_forecast(after, extra, added_ml, ratio).low_reservoir_alarm_at
        level = assess_level_after_refill(added_ml, status["low_reservoir_alarm_ml"], forecast.empty_at)
        assessment = assessment.merged(level)
    return RefillPlan(
        view,
        withdrawn_ml,
        added_ml,
        concentration_mcg_per_ml,
        assessment,
        bridge,
        alarm_at,
        next_refill_date(view.now, earliest_at, booking),
        earliest_at,
        decrease,
        temporary,
    )


def _scaled(program: DosingProgram, factor: float) -> DosingProgram:
    """Every step and daily bolus times ``factor`` (a temporary program keeps the program's shape)."""
    return DosingProgram(
        tuple(Step(s.start_minute, s.rate_mcg_per_day * factor) for s in program.steps),
        tuple(DailyBolus(b.start_minute, b.dose_mcg * factor, b.duration_minutes) for b in program.daily_boluses),
    )


def _with_bolus(program: DosingProgram, at: datetime, bridge: BridgeBolus) -> DosingProgram:
    one = OneTimeBolus(at, bridge.dose_mcg, bridge.duration_minutes, BolusKind.BRIDGE)
    return DosingProgram(program.steps, program.daily_boluses, (one,))


def pumped_since_last_refill(view: PumpReading) -> float | None:
    """Volume the pump counted since its last refill (from the log and its estimate)."""
    for event in reversed(view.log):
        if event["type"] == "refill":
            return max(0.0, event["added_ml"] - view.status["reservoir_ml"])
    return None


@dataclass
class RefillOutcome:
    plan: RefillPlan
    refill: Entry
    bridge: Entry | None = None


def send_refill(
    link: PumpLink, plan: RefillPlan, record: ProgrammerRecord, acknowledged: Iterable[str] = ()
) -> RefillOutcome:
    acknowledged = require_allowed(plan.assessment, acknowledged)
    since = plan.view.status["log_size"]
    key = new_key()
    fields = {
        "added_ml": plan.added_ml,
        "concentration_mcg_per_ml": plan.concentration_mcg_per_ml,
        "withdrawn_ml": plan.withdrawn_ml,
    }
    entry = record.add(key, "refill", acknowledged=list(acknowledged), **fields)
    send_change(link, record, entry, lambda: link.change("refill", key, **fields), "refill", since)
    outcome = RefillOutcome(plan, entry)
    if entry.status is Status.APPLIED and plan.bridge is not None:
        outcome.bridge = give_bolus(link, record, plan.bridge.dose_mcg, plan.bridge.duration_minutes, "bridge", since)
    return outcome


# ---------------------------------------------------------------------- boluses
@dataclass(frozen=True)
class BolusReview:
    view: PumpReading
    dose_mcg: float
    duration_minutes: float
    kind: str
    assessment: Assessment = field(default_factory=Assessment)


def review_bolus(
    view: PumpReading,
    dose_mcg: float,
    duration_minutes: float,
    kind: str = "single",
    settings: LimitSettings = DEFAULT_LIMITS,
) -> BolusReview:
    """A single bolus is judged by every bolus limit; bridge and priming boluses by volume."""
    assessment = (
        assess_bolus(dose_mcg, view.patient, view.history, view.now, settings) if kind == "single" else Assessment()
    )
    return BolusReview(view, dose_mcg, duration_minutes, kind, assessment)


def review_priming(
    view: PumpReading,
    catheter_length_cm: float,
    duration_minutes: float = 30.0,
    *,
    primed: bool = True,
    settings: LimitSettings = DEFAULT_LIMITS,
) -> BolusReview:
    """A priming bolus for ``catheter_length_cm``, judged against the catheter the pump records
    (its therapy information) and, when the catheter is already ``primed`` (the safe default:
    say otherwise only for a new or revised catheter), by every bolus limit."""
    model = MODELS[view.status["model"]]
    priming = priming_bolus(
        catheter_length_cm=catheter_length_cm,
        catheter_ml_per_cm=model.catheter_ml_per_cm,
        pump_tubing_ml=model.internal_tubing_ml,
        concentration_mcg_per_ml=view.status["concentration_mcg_per_ml"],
        duration_minutes=duration_minutes,
    )
    recorded_cm = view.status["therapy"]["catheter_length_cm"]
    dead_volume = model.internal_tubing_ml + recorded_cm * model.catheter_ml_per_cm
    assessment = assess_priming(priming, dead_volume, primed, view.patient, view.history, view.now, settings)
    return BolusReview(view, priming.dose_mcg, priming.duration_minutes, "priming", assessment)


def send_bolus(
    link: PumpLink, review: BolusReview, record: ProgrammerRecord, acknowledged: Iterable[str] = ()
) -> Entry:
    acknowledged = require_allowed(review.assessment, acknowledged)
    return give_bolus(
        link,
        record,
        review.dose_mcg,
        review.duration_minutes,
        review.kind,
        review.view.status["log_size"],
        acknowledged,
    )


def give_bolus(
    link: PumpLink,
    record: ProgrammerRecord,
    dose_mcg: float,
    duration_minutes: float,
    kind: str,
    log_since: int,
    acknowledged: Iterable[str] = (),
) -> Entry:
    key = new_key()
    fields = {"dose_mcg": dose_mcg, "duration_minutes": duration_minutes, "kind": kind}
    entry = record.add(key, "bolus_start", acknowledged=list(acknowledged), **fields)
    send_change(link, record, entry, lambda: link.change("bolus_start", key, **fields), "bolus_started", log_since)
    return entry
