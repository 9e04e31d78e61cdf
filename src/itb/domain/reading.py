"""What a pump said when it was last read, and what follows from it *now*.

A :class:`PumpReading` is a pump's own answer at one instant (its clock, reservoir estimate,
program and version, alarms, log): whether it came by telemetry or was typed from a vendor
programmer's screen is the gateway's business. Everything "now" is derived from the last
reading when it is asked for, never copied: :func:`estimate_reservoir_ml` runs the program
forward from the reading to an instant, :func:`age_years_on` takes the age from the birth date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from itb.domain.forecast import Forecast, ReservoirState
from itb.domain.limits import DoseHistory, PatientContext
from itb.domain.profile import DailyProfile
from itb.domain.program import DosingProgram

#: Days in a year for ages (the mean Gregorian year, so leap days do not make a child older).
DAYS_PER_YEAR = 365.25


@dataclass(frozen=True)
class PumpReading:
    """One interrogation of a pump: its answer as it gave it, typed.

    ``status`` is the answer's raw fields (kept in the clinic's record as read); ``log`` holds
    the pump's events from sequence number ``log_since`` on; ``forecast`` is the exact forecast
    from this reading (running boluses included); ``patient`` is what the pump holds about the
    patient (its therapy information), which the clinic replaces with what it knows today.
    """

    status: dict[str, Any]
    program: DosingProgram
    program_version: int
    forecast: Forecast
    history: DoseHistory
    log: list[dict[str, Any]]
    patient: PatientContext
    log_since: int = 0

    @property
    def now(self) -> datetime:
        """The pump's clock when it was read."""
        at = self.status["pump_time"]
        return at if isinstance(at, datetime) else datetime.fromisoformat(at)

    @property
    def reservoir_ml(self) -> float:
        return float(self.status["reservoir_ml"])

    @property
    def concentration_mcg_per_ml(self) -> float:
        return float(self.status["concentration_mcg_per_ml"])

    @property
    def log_size(self) -> int:
        """Events in the pump's log (the next event's sequence number is this plus one)."""
        return int(self.status["log_size"])

    @property
    def model(self) -> str:
        return str(self.status["model"])

    @property
    def state(self) -> str:
        """``running``, ``stopped``, ``end_of_service``, … as the pump reports it."""
        return str(self.status.get("state", "running"))

    @property
    def active_alarms(self) -> tuple[str, ...]:
        return tuple(self.status.get("active_alarms", ()))

    @property
    def eri_at(self) -> datetime | None:
        """When the pump expects (or reached) its elective replacement indicator."""
        at = self.status.get("eri_at")
        return datetime.fromisoformat(at) if isinstance(at, str) else at

    @property
    def eri_reached(self) -> bool:
        return bool(self.status.get("eri_reached", False))

    @property
    def reservoir_state(self) -> ReservoirState:
        s = self.status
        return ReservoirState(
            at=self.now,
            reservoir_capacity_ml=s["reservoir_capacity_ml"],
            reservoir_ml=s["reservoir_ml"],
            concentration_mcg_per_ml=s["concentration_mcg_per_ml"],
            low_reservoir_alarm_ml=s["low_reservoir_alarm_ml"],
            empty_ml=s["empty_ml"],
        )

    def keyed_event(self, key: str, event_type: str) -> dict[str, Any] | None:
        """The log event of ``event_type`` logged under idempotency ``key``, if the log holds it."""
        return next((e for e in self.log if e.get("key") == key and e.get("type") == event_type), None)


def estimate_reservoir_ml(state: ReservoirState, program: DosingProgram, at: datetime) -> float:
    """The volume the pump counts at ``at``, running ``program`` forward from ``state`` exactly.

    The steps and daily boluses as a periodic profile, each one-time bolus at its constant rate
    over its own interval; the volume never goes below the empty level (the pump stops there).
    Before ``state.at`` the state itself is the answer (nothing is run backwards).
    """
    if at <= state.at:
        return state.reservoir_ml
    midnight = datetime.combine(state.at.date(), datetime.min.time())
    t0 = (state.at - midnight).total_seconds()
    t1 = (at - midnight).total_seconds()
    profile = DailyProfile.from_program(program)
    mcg = profile.delivered_by(t1) - profile.delivered_by(t0)
    for bolus in program.one_time_boluses:
        start = (bolus.at - midnight).total_seconds()
        end = start + bolus.duration_minutes * 60
        overlap = min(end, t1) - max(start, t0)
        if overlap > 0:
            mcg += bolus.dose_mcg * overlap / (end - start)
    floor = min(state.empty_ml, state.reservoir_ml)
    return max(floor, state.reservoir_ml - mcg / state.concentration_mcg_per_ml)


def age_years_on(birth_date: date, day: date) -> float:
    """The age in years on ``day`` (the limits judge a patient by the age today, not at implant)."""
    return max(0.0, (day - birth_date).days / DAYS_PER_YEAR)
