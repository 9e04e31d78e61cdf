"""Fakes of the clinic's ports: pumps that live in a dict, locks that live in a set.

A :class:`FakePumps` pump keeps a reservoir, a program and a log of keyed events, and runs its
program forward exactly between readings. Switches plant the faults a real link has: an answer
lost after the pump applied the change (``lose_answers``), a pump that cannot be read
(``unreachable``, ``out_of_reach_after_send``), a refusal (``refuse``), a state that goes backwards (``roll_back``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from itb.clinic.ports import Busy, ChangeResult, ChangeStatus, PumpChange, PumpUnreachable, VirtualPumpSetup
from itb.domain.forecast import ReservoirState, forecast_reservoir
from itb.domain.limits import DoseHistory, Origin, PatientContext
from itb.domain.program import DosingProgram
from itb.domain.reading import PumpReading, estimate_reservoir_ml


@dataclass
class FakePump:
    setup: VirtualPumpSetup
    at: datetime
    reservoir_ml: float
    concentration_mcg_per_ml: float
    program: DosingProgram
    version: int = 1
    log: list[dict] = field(default_factory=list)

    def run_to(self, now: datetime) -> None:
        if now > self.at:
            self.reservoir_ml = estimate_reservoir_ml(self.state(), self.program, now)
            self.at = now

    def state(self) -> ReservoirState:
        return ReservoirState(
            self.at, self.setup.capacity_ml, self.reservoir_ml, self.concentration_mcg_per_ml, 2.0, 0.0
        )

    def note(self, event_type: str, **fields: object) -> dict:
        event = {"seq": len(self.log) + 1, "at": self.at.isoformat(timespec="seconds"), "type": event_type, **fields}
        self.log.append(event)
        return event


class FakeConnection:
    def __init__(self, pumps: FakePumps, pump: FakePump) -> None:
        self.pumps, self.pump = pumps, pump

    def read(self) -> PumpReading:
        if self.pumps.unreachable:
            raise PumpUnreachable("the fake pump is out of reach")
        p = self.pump
        status = {
            "pump_time": p.at.isoformat(timespec="seconds"),
            "model": p.setup.model,
            "reservoir_ml": p.reservoir_ml,
            "reservoir_capacity_ml": p.setup.capacity_ml,
            "concentration_mcg_per_ml": p.concentration_mcg_per_ml,
            "low_reservoir_alarm_ml": 2.0,
            "empty_ml": 0.0,
            "log_size": len(p.log),
            "eri_at": None,
            "eri_reached": False,
            "active_alarms": [],
            "state": "running",
            "therapy": {"catheter_length_cm": p.setup.catheter_length_cm},
        }
        patient = PatientContext(Origin(p.setup.origin), p.setup.age_years, p.setup.implanted_at)
        forecast = forecast_reservoir(p.state(), p.program)
        return PumpReading(status, p.program, p.version, forecast, DoseHistory(), list(p.log), patient)

    def send(self, change: PumpChange) -> ChangeResult:
        p = self.pump
        if change.command in self.pumps.refuse:
            return ChangeResult(ChangeStatus.REFUSED, f"the pump refuses {change.command}")
        if not any(e.get("key") == change.key for e in p.log):  # a key applies once
            if change.command == "refill":
                p.reservoir_ml = change.fields["added_ml"]
                p.concentration_mcg_per_ml = change.fields["concentration_mcg_per_ml"]
                p.note("refill", key=change.key, **change.fields)
            elif change.command == "program":
                assert change.program is not None
                p.program, p.version = change.program, p.version + 1
                p.note("program_changed", key=change.key, version=p.version, daily_dose_mcg=p.program.daily_dose_mcg)
            else:
                p.note("bolus_started", key=change.key, **change.fields)
        if self.pumps.out_of_reach_after_send:
            self.pumps.unreachable = True
        if self.pumps.lose_answers:
            return ChangeResult(ChangeStatus.UNCERTAIN, "no answer (the fake lost it)")
        return ChangeResult(ChangeStatus.APPLIED)


@dataclass
class FakePumps:
    """The PumpGateway port over pumps in a dict."""

    clock: Callable[[], datetime]
    pumps: dict[int, FakePump] = field(default_factory=dict)
    reachable: bool = True
    lose_answers: bool = False
    unreachable: bool = False
    out_of_reach_after_send: bool = False
    refuse: set[str] = field(default_factory=set)

    def check(self, setup: VirtualPumpSetup) -> None:
        return None

    def create(self, pump_id: int, setup: VirtualPumpSetup) -> None:
        self.pumps[pump_id] = FakePump(
            setup, setup.start, setup.reservoir_ml, setup.concentration_mcg_per_ml, setup.program
        )

    def exists(self, pump_id: int) -> bool:
        return pump_id in self.pumps

    @contextmanager
    def connect(self, pump_id: int) -> Iterator[FakeConnection]:
        pump = self.pumps[pump_id]
        pump.run_to(self.clock())
        yield FakeConnection(self, pump)

    def roll_back(self, pump_id: int, events: int) -> None:
        """The pump forgets its last ``events`` log entries (restored from an older copy)."""
        del self.pumps[pump_id].log[-events:]


@dataclass
class FakeLocks:
    """The PumpLocks port in one process; a held pump is Busy at once."""

    held: set[int] = field(default_factory=set)

    def hold(self, pump_id: int, wait_s: float | None = None) -> AbstractContextManager[None]:
        @contextmanager
        def held() -> Iterator[None]:
            if pump_id in self.held:
                raise Busy(f"pump {pump_id} is busy")
            self.held.add(pump_id)
            try:
                yield
            finally:
                self.held.discard(pump_id)

        return held()
