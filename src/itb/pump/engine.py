"""The implanted pump on an event-driven virtual clock.

Time ``t`` is in seconds from midnight of the pump's reference day ("day 0"). Between two
events the programmed dose is the program's periodic profile plus the constant rate of any
one-time bolus, so everything the pump and the body do is piecewise linear in it:

- the pump's **estimated** reservoir drops by what it was told to pump (it has no sensor);
- the **real** reservoir drops by that times ``1 + flow_error``, while there is drug and the
  way out is open;
- the battery drains by an idle rate plus a cost per mL pumped.

So :meth:`ImplantedPump.advance_to` never ticks a clock: it solves, by arithmetic on the
profile, the next instant at which something happens (an alarm level, an empty reservoir,
ERI, the end of a bolus or of a stall) and jumps there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from itb.domain import alarms as A
from itb.domain.devices import DAYS_PER_YEAR, DeviceModel, MriBehaviour
from itb.domain.numerics import VOLUME_SLACK_ML
from itb.domain.profile import DailyProfile
from itb.domain.program import SECONDS_PER_DAY, DosingProgram, Step
from itb.pump.catheter import Catheter


@dataclass(slots=True)
class Event:
    t: float
    type: str
    fields: dict[str, Any] = field(default_factory=dict)
    #: whether the pump's own event log holds it (False: what only the body or clinic sees)
    pump_log: bool = True


@dataclass(slots=True)
class _Bolus:
    start_t: float
    end_t: float
    rate_mcg_per_day: float
    dose_mcg: float
    kind: str
    counted_mcg: float = 0.0
    announced: bool = False
    #: the programmer's idempotency key of the command that started it (None in scenarios)
    key: str | None = None


@dataclass(frozen=True, slots=True)
class PumpSetup:
    """What is fixed when the pump is implanted (or when a simulation starts)."""

    model: DeviceModel
    reservoir_capacity_ml: float
    low_reservoir_alarm_ml: float
    empty_ml: float
    catheter_volume_ml: float
    flow_error: float = 0.0
    mri_recovery_delay_minutes: float = 0.0


class ImplantedPump:
    """One pump and the body around it. Public methods are the things that can happen to it."""

    def __init__(
        self,
        setup: PumpSetup,
        *,
        t: float,
        implanted_t: float,
        reservoir_ml: float,
        concentration_mcg_per_ml: float,
        program: DosingProgram,
        day0: datetime,
    ) -> None:
        self.setup = setup
        self.day0 = day0
        self.t = t
        self.conc = concentration_mcg_per_ml
        self.real_ml = reservoir_ml
        self.est_ml = reservoir_ml
        self.catheter = Catheter(setup.catheter_volume_ml, concentration_mcg_per_ml)
        self.delivered_mcg = 0.0
        self.added_mcg = 0.0
        self.withdrawn_mcg = 0.0
        self.initial_mcg = reservoir_ml * concentration_mcg_per_ml + self.catheter.content_mcg
        self.events: list[Event] = []
        self.alarms: dict[str, bool] = {}  # active alarm -> still sounding
        self.stall_until: float | None = None
        self.valve_closed = False
        #: a critical memory error stopped the pump (for good: only a new pump pumps again)
        self.memory_error = False
        #: a low battery reset put the pump on its minimum rate (until a clinician programs it again)
        self.battery_reset = False
        self.stopped_empty = False
        self.out_of_service = False
        self.exhausted = False
        self.boluses: list[_Bolus] = []
        self._profiles: dict[float, DailyProfile] = {}
        self.program = program
        self.profile = DailyProfile.from_program(program)
        battery = setup.model.battery
        self.energy_budget = battery.eri_budget_units
        # The battery ran since implant; assume the starting program ran all that time.
        days_before = max(0.0, (t - implanted_t) / SECONDS_PER_DAY)
        self.energy_used = days_before * (
            battery.idle_units_per_day + battery.pumping_units_per_ml * program.daily_volume_ml(self.conc)
        )
        self.hard_eri_t: float | None = None
        if battery.hard_life_years is not None:
            self.hard_eri_t = (
                implanted_t
                + (battery.hard_life_years * DAYS_PER_YEAR - battery.end_of_service_after_eri_days) * SECONDS_PER_DAY
            )
        self.eri_t: float | None = None
        self.eos_t: float | None = None
        self._schedule_one_time(program)
        self._check_levels()

    # ---------------------------------------------------------------- state in words
    @property
    def pumping(self) -> bool:
        """Whether the pump is running its program (it may still be pumping nothing)."""
        return not (self.out_of_service or self.memory_error or self.stopped_empty or self.stall_until is not None)

    @property
    def flowing(self) -> bool:
        """Whether drug really leaves the reservoir when the pump pumps."""
        return not (self.valve_closed or self.exhausted)

    @property
    def state(self) -> str:
        if self.out_of_service:
            return "end_of_service"
        if self.memory_error:
            return "critical_memory_error"
        if self.stall_until is not None:
            return "motor_stall"
        if self.valve_closed:
            return "safety_valve_closed"
        if self.stopped_empty:
            return "stopped_empty"
        if self.battery_reset:
            return "low_battery_reset"
        return "running"

    def active_alarms(self) -> list[str]:
        return sorted(self.alarms)

    def sounding_alarms(self) -> list[str]:
        return sorted(name for name, sounding in self.alarms.items() if sounding)

    # ---------------------------------------------------------------- the clock
    def advance_to(self, t_target: float) -> None:
        """Let time pass until ``t_target``, recording every event on the way."""
        while self.t < t_target:
            boundary = min(t_target, self._next_boundary())
            t_next = min(boundary, self._next_crossing(boundary))
            self._move(t_next)
            self._on_boundaries()
            self._check_levels()

    def _extra_rate(self) -> float:
        t = self.t
        return sum(b.rate_mcg_per_day for b in self.boluses if b.start_t <= t < b.end_t)

    def _current_profile(self) -> DailyProfile:
        extra = self._extra_rate()
        if not extra:
            return self.profile
        prof = self._profiles.get(extra)
        if prof is None:
            prof = self._profiles[extra] = self.profile.with_extra_rate(extra)
        return prof

    def _next_boundary(self) -> float:
        t = self.t
        times = [x for b in self.boluses for x in (b.start_t, b.end_t) if x > t]
        if self.stall_until is not None:
            times.append(self.stall_until)
        if self.eos_t is not None and not self.out_of_service:
            times.append(self.eos_t)
        if self.eri_t is None and self.hard_eri_t is not None:
            times.append(max(self.hard_eri_t, t))
        return min(times, default=float("inf"))

    def _next_crossing(self, horizon: float) -> float:
        """The first instant before ``horizon`` at which a level is reached (else ``horizon``)."""
        battery = self.setup.model.battery
        idle_per_s = battery.idle_units_per_day / SECONDS_PER_DAY
        remaining_units = self.energy_budget - self.energy_used
        if not self.pumping:
            if self.eri_t is None and idle_per_s > 0:
                return min(horizon, self.t + max(0.0, remaining_units) / idle_per_s)
            return horizon
        prof = self._current_profile()
        conc = self.conc
        s = self.setup
        # (programmed mcg until the level, what to set when the clock cannot move before it)
        needs: list[tuple[float, str]] = []
        if s.low_reservoir_alarm_ml < self.est_ml and A.LOW_RESERVOIR.name not in self.alarms:
            needs.append(((self.est_ml - s.low_reservoir_alarm_ml) * conc, "low"))
        if self.est_ml > s.empty_ml:
            needs.append(((self.est_ml - s.empty_ml) * conc, "empty"))
        if self.flowing and self.real_ml > 0:
            needs.append((self.real_ml * conc / (1 + s.flow_error), "real"))
        best = horizon
        for need, what in needs:
            t = prof.time_to_deliver(self.t, need)
            if t is not None and t <= self.t:
                self._snap(what)  # less than rounding away: the level is reached now
                return self.t
            if t is not None:
                best = min(best, t)
        if self.eri_t is None:
            # Energy = idle drain + cost per mL: the same profile scaled to battery units.
            energy = prof.scaled(battery.pumping_units_per_ml / conc, battery.idle_units_per_day)
            t = energy.time_to_deliver(self.t, max(0.0, remaining_units))
            if t is not None and t <= self.t:
                self.energy_used = self.energy_budget
                return self.t
            if t is not None:
                best = min(best, t)
        return best

    def _snap(self, what: str) -> None:
        s = self.setup
        if what == "low":
            self.est_ml = min(self.est_ml, s.low_reservoir_alarm_ml)
        elif what == "empty":
            self.est_ml = min(self.est_ml, s.empty_ml)
        else:
            self._drain_rest()

    def _drain_rest(self) -> None:
        """A real reservoir within rounding of empty is empty: what is left flows out (mass balance)."""
        if self.real_ml > 0 and self.flowing:
            self.delivered_mcg += self.catheter.push(self.real_ml, self.conc)
        elif self.real_ml > 0:
            return
        self.real_ml = 0.0

    def _move(self, t_next: float) -> None:
        dt = t_next - self.t
        if dt <= 0:
            return
        battery = self.setup.model.battery
        self.energy_used += battery.idle_units_per_day * dt / SECONDS_PER_DAY
        if self.pumping:
            prof = self._current_profile()
            dose = prof.delivered_by(t_next) - prof.delivered_by(self.t)
            volume = dose / self.conc
            self.est_ml -= volume
            self.energy_used += battery.pumping_units_per_ml * volume
            for b in self.boluses:
                if b.start_t <= self.t < b.end_t:
                    b.counted_mcg += b.rate_mcg_per_day * dt / SECONDS_PER_DAY
            if self.flowing:
                real = min(self.real_ml, volume * (1 + self.setup.flow_error))
                self.real_ml -= real
                self.delivered_mcg += self.catheter.push(real, self.conc)
        self.t = t_next

    def _on_boundaries(self) -> None:
        t = self.t
        for b in self.boluses:
            if not b.announced and b.start_t <= t:
                b.announced = True
                keyed = {"key": b.key} if b.key is not None else {}
                self._log("bolus_started", dose_mcg=_r(b.dose_mcg), duration_minutes=_minutes(b), kind=b.kind, **keyed)
        for b in [b for b in self.boluses if b.end_t <= t]:
            self.boluses.remove(b)
            self._log("bolus_completed", dose_mcg=_r(b.counted_mcg), kind=b.kind, cut_short=False)
        if self.stall_until is not None and self.stall_until <= t:
            self.stall_until = None
            self.alarms.pop(A.MOTOR_STALL.name, None)
            self._log("motor_stall_recovered")
        if self.eri_t is None and self.hard_eri_t is not None and self.hard_eri_t <= t:
            self.energy_used = max(self.energy_used, self.energy_budget)
        if self.eos_t is not None and self.eos_t <= t and not self.out_of_service:
            self.out_of_service = True
            self._cut_boluses()
            self._alarm(A.END_OF_SERVICE, "end_of_service")

    def _check_levels(self) -> None:
        """Raise whatever the state now calls for (each at most once per condition)."""
        s = self.setup
        if self.est_ml <= s.low_reservoir_alarm_ml + VOLUME_SLACK_ML and A.LOW_RESERVOIR.name not in self.alarms:
            self._alarm(A.LOW_RESERVOIR, "low_reservoir_alarm", pump_estimated_reservoir_ml=_r(self.est_ml))
        if self.real_ml <= VOLUME_SLACK_ML and not self.exhausted:
            self._drain_rest()  # (behind a shut valve, a trace stays in the reservoir)
            self.exhausted = True
            self.events.append(Event(self.t, "drug_exhausted", {}, pump_log=False))
        if self.est_ml <= s.empty_ml + VOLUME_SLACK_ML and not self.stopped_empty:
            self.est_ml = min(self.est_ml, s.empty_ml) if self.est_ml > s.empty_ml - VOLUME_SLACK_ML else self.est_ml
            self.stopped_empty = True
            self._alarm(A.EMPTY_RESERVOIR, "empty_reservoir_alarm")
        if self.eri_t is None and self.energy_used >= self.energy_budget * (1 - 1e-12):
            self.eri_t = self.t
            self.eos_t = self.t + self.setup.model.battery.end_of_service_after_eri_days * SECONDS_PER_DAY
            self._alarm(A.ERI, "elective_replacement_indicator", end_of_service_at_t=self.eos_t)

    # ---------------------------------------------------------------- things that happen
    def refill(self, added_ml: float, concentration_mcg_per_ml: float) -> Event:
        """Withdraw the whole residual, then add ``added_ml`` at the given concentration."""
        if not 0 < added_ml <= self.setup.reservoir_capacity_ml:
            raise ValueError(f"added_ml must be > 0 and <= {self.setup.reservoir_capacity_ml:g} mL")
        expected, withdrawn = self.est_ml, self.real_ml
        self.withdrawn_mcg += withdrawn * self.conc
        self.conc = concentration_mcg_per_ml
        self.real_ml = self.est_ml = added_ml
        self.added_mcg += added_ml * concentration_mcg_per_ml
        self.exhausted = False
        self.stopped_empty = False
        self._profiles.clear()
        for alarm in (A.LOW_RESERVOIR, A.EMPTY_RESERVOIR):
            self.alarms.pop(alarm.name, None)
        event = self._log(
            "refill",
            expected_ml=_r(expected),
            withdrawn_ml=_r(withdrawn),
            discrepancy_ml=_r(withdrawn - expected),
            added_ml=_r(added_ml),
            concentration_mcg_per_ml=concentration_mcg_per_ml,
        )
        self._check_levels()
        return event

    def set_program(self, program: DosingProgram) -> Event:
        """Replace the program as one block; running and pending one-time boluses end.

        After a low battery reset this is the clinician's new program: the pump leaves its minimum
        rate, but the alarm stays active (the pump still needs replacing). A pump stopped by a
        critical memory error stores the program and still pumps nothing.
        """
        self._cut_boluses()
        self.battery_reset = False
        previous = self.program.daily_dose_mcg
        self.program = program
        self.profile = DailyProfile.from_program(program)
        self._profiles.clear()
        event = self._log(
            "program_changed",
            daily_dose_mcg=_r(program.daily_dose_mcg),
            previous_daily_dose_mcg=_r(previous),
            daily_volume_ml=_r(program.daily_volume_ml(self.conc)),
            steps=len(program.steps),
        )
        self._schedule_one_time(program)
        self._on_boundaries()
        return event

    def start_bolus(
        self, dose_mcg: float, duration_minutes: float, kind: str = "single", key: str | None = None
    ) -> None:
        rate = dose_mcg * 1440 / duration_minutes
        self.boluses.append(_Bolus(self.t, self.t + duration_minutes * 60, rate, dose_mcg, kind, key=key))
        self._on_boundaries()

    def cancel_boluses(self) -> Event:
        cut = self._cut_boluses()
        return self._log("bolus_cancel", cut_short=cut)

    def mri(self, duration_minutes: float, recovery_delay_minutes: float | None = None) -> None:
        model = self.setup.model
        self.events.append(Event(self.t, "mri_scan", {"duration_minutes": duration_minutes}, pump_log=False))
        if self.out_of_service:
            return
        if model.mri is MriBehaviour.MOTOR_STALL:
            delay = self.setup.mri_recovery_delay_minutes if recovery_delay_minutes is None else recovery_delay_minutes
            until = self.t + (duration_minutes + delay) * 60
            if self.stall_until is None:
                self._alarm(A.MOTOR_STALL, "motor_stall", expected_recovery_at_t=until)
            self.stall_until = max(until, self.stall_until or until)
        elif self.real_ml > 0 and not self.valve_closed:
            # The magnet opens the valves; the flow-activated safety valve shuts after ~10 uL.
            volume = min(self.real_ml, model.safety_valve_closure_ml)
            self.real_ml -= volume
            self.delivered_mcg += self.catheter.push(volume, self.conc)
            self.valve_closed = True
            self._alarm(
                A.SAFETY_VALVE_CLOSED,
                "safety_valve_closed",
                unexpected_flow_ml=_r(volume),
                message="MRI with drug in the reservoir: the safety valve is shut and no drug flows "
                "until a clinician resets it (empty the reservoir and program zero before a scan)",
            )
            self._check_levels()

    def critical_memory_error(self) -> None:
        """The pump's memory fails: a critical (two-tone) alarm, and the pump stops for good.

        domain.md, "The pump (device facts)", critical alarm: "critical memory error — drug is no
        longer flowing". Running and pending boluses end; no refill, program or alarm silencing makes
        it pump again (the alarm's meaning: replace the pump). Nothing happens to a pump already out
        of service, or already failed.
        """
        if self.out_of_service or self.memory_error:
            return
        self.memory_error = True
        self._cut_boluses()
        self._alarm(
            A.CRITICAL_MEMORY_ERROR,
            "critical_memory_error",
            message="critical memory error: the pump has stopped and the drug is no longer flowing; "
            "withdrawal risk: treat at once and replace the pump",
        )

    def low_battery_reset(self) -> None:
        """The battery fails under load and the pump resets: a critical (two-tone) alarm, and the program
        is replaced by the model's minimum rate (``DeviceModel.low_battery_reset_rate_ml_per_day``).

        Medtronic's notices on SynchroMed II reduced battery performance (July 2011 product advisory,
        "What is Happening": "the drug flow rate may be reset to a very low level", "the pump will
        need to be replaced"; HSA Singapore, 25 May 2017: "Low Battery Reset (critical alarm)").
        Running and pending boluses end. The pump keeps counting what it pumps. The alarm stays
        active until the pump is replaced. A new program (:meth:`set_program`) ends the minimum rate:
        whether the real pump accepts one after a reset is not in these sources (unverified).
        Raises ``ValueError`` for a model no source describes a reset for (the valve-gated pump).
        """
        rate_ml = self.setup.model.low_battery_reset_rate_ml_per_day
        if rate_ml is None:
            raise ValueError(f"no low battery reset is documented for the {self.setup.model.name} pump")
        if self.out_of_service or self.memory_error:
            return
        self._cut_boluses()
        previous = self.program.daily_dose_mcg
        self.program = DosingProgram((Step(0, rate_ml * self.conc),))
        self.profile = DailyProfile.from_program(self.program)
        self._profiles.clear()
        self.battery_reset = True
        self._alarm(
            A.LOW_BATTERY_RESET,
            "low_battery_reset",
            previous_daily_dose_mcg=_r(previous),
            daily_dose_mcg=_r(self.program.daily_dose_mcg),
            daily_volume_ml=_r(rate_ml),
            message="low battery reset: the pump now gives only its minimum rate, far below the therapy; "
            "withdrawal risk: treat at once and replace the pump",
        )

    def reset_valve(self) -> Event:
        was_closed = self.valve_closed
        self.valve_closed = False
        self.alarms.pop(A.SAFETY_VALVE_CLOSED.name, None)
        return self._log("valve_reset", was_closed=was_closed)

    def clear_alarms(self) -> Event:
        """Silence the tones; the conditions stay active until what caused them is fixed."""
        silenced = self.sounding_alarms()
        for name in self.alarms:
            self.alarms[name] = False
        return self._log("alarms_cleared", silenced=silenced, still_active=self.active_alarms())

    def interrogate(self) -> Event:
        return self._log("interrogation", **self.status())

    def status(self) -> dict[str, Any]:
        """What an interrogation reads (``reservoir_ml`` is the body's truth, not the pump's)."""
        return {
            "pump_estimated_reservoir_ml": _r(self.est_ml),
            "reservoir_ml": _r(self.real_ml),
            "active_alarms": self.active_alarms(),
            "sounding_alarms": self.sounding_alarms(),
            "state": self.state,
            "concentration_mcg_per_ml": self.conc,
            "daily_dose_mcg": _r(self.program.daily_dose_mcg),
            "eri_at_t": self.eri_forecast_t(),
        }

    @property
    def log(self) -> list[Event]:
        """The pump's own event log (what the programmer can read), oldest first."""
        return [e for e in self.events if e.pump_log]

    # ---------------------------------------------------------------- forecasts and totals
    def eri_forecast_t(self) -> float:
        """When ERI is (or was) reached, under the current program from now on."""
        if self.eri_t is not None:
            return self.eri_t
        battery = self.setup.model.battery
        per_day = battery.idle_units_per_day + battery.pumping_units_per_ml * self.program.daily_volume_ml(self.conc)
        t = self.t + (self.energy_budget - self.energy_used) / per_day * SECONDS_PER_DAY
        return min(t, self.hard_eri_t) if self.hard_eri_t is not None else t

    def mass_balance_error_mcg(self) -> float:
        """Drug in + added - (delivered + withdrawn + left in reservoir + in transit): zero."""
        return (self.initial_mcg + self.added_mcg) - (
            self.delivered_mcg + self.withdrawn_mcg + self.real_ml * self.conc + self.catheter.content_mcg
        )

    # ---------------------------------------------------------------- helpers
    def t_of(self, when: datetime) -> float:
        """Seconds from the pump's day 0 to ``when``."""
        return (when - self.day0).total_seconds()

    def _schedule_one_time(self, program: DosingProgram) -> None:
        """The program's one-time boluses; the part of one that began before now is dropped."""
        for o in program.one_time_boluses:
            start_t = self.t_of(o.at)
            end_t = start_t + o.duration_minutes * 60
            if end_t > self.t:
                self.boluses.append(
                    _Bolus(start_t, end_t, o.rate_mcg_per_day, o.dose_mcg, str(o.kind), announced=start_t < self.t)
                )

    def _cut_boluses(self) -> int:
        cut = 0
        for b in self.boluses:
            if b.announced:
                cut += 1
                self._log("bolus_completed", dose_mcg=_r(b.counted_mcg), kind=b.kind, cut_short=True)
        self.boluses.clear()
        return cut

    def _alarm(self, kind: A.AlarmKind, event_type: str, **fields: Any) -> None:
        self.alarms[kind.name] = True
        model = self.setup.model
        repeat = (
            model.critical_alarm_repeat_minutes
            if kind.priority is A.Priority.CRITICAL
            else model.non_critical_alarm_repeat_minutes
        )
        self._log(event_type, priority=str(kind.priority), tone=kind.tone, repeat_minutes=repeat, **fields)

    def note(self, event_type: str, **fields: Any) -> Event:
        """Record something in the pump's own log (e.g. its clock was set)."""
        return self._log(event_type, **fields)

    def _log(self, event_type: str, **fields: Any) -> Event:
        event = Event(self.t, event_type, fields)
        self.events.append(event)
        return event


def _r(x: float) -> float:
    return round(x, 9)


def _minutes(b: _Bolus) -> float:
    return round((b.end_t - b.start_t) / 60, 6)
