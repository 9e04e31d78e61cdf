"""Flow calibration campaign: do pumps that run fast or slow within their label run dry
before the refill booked for them?

Each simulated pump (:class:`~itb.pump.engine.ImplantedPump`) gets a true flow error drawn
uniformly within its model's *labelled* tolerance (a peristaltic pump up to ±14.5 %), a
realistic program, a 20 or 40 mL reservoir and a concentration that lasts at least 30 days.
It is refilled to capacity on the day booked for it, for years, never missing a visit, under
three booking rules run on the same pumps:

- **today's rule**: the pump's own low-reservoir alarm date minus ``FIXED_MARGIN_DAYS`` (4);
- **the new margin alone**: the pump's own alarm date minus the clinic's margin (7 days);
- **the learned rule**: the earliest plausible alarm from the pump's learned flow
  (:mod:`itb.domain.calibration`) minus the clinic's margin (``BookingSettings``, 7 days).

Both book on an open clinic day (Monday to Friday) and never beyond drug stability (180 days).
At each refill the residual is withdrawn and measured with a Gaussian error of
``FlowSettings.withdrawal_sd_ml``; that measurement, not the truth, is what the clinic learns
from. Recorded: refills, refill cycles in which the real reservoir ran dry (or the pump stopped
at its empty count) before the booked refill, cycles in which the low-reservoir alarm sounded
before it, and how many days earlier the learned rule books than today's rule would have on
the same state. Deterministic by seed.
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta

from itb.domain.calibration import (
    DEFAULT_FLOW,
    FlowObservation,
    FlowSettings,
    device_prior,
    learn_flow,
    plausible_forecast,
)
from itb.domain.calibration import observation as flow_observation
from itb.domain.devices import DAYS_PER_YEAR, PERISTALTIC, VALVE_GATED, DeviceModel
from itb.domain.forecast import Forecast, ReservoirState, forecast_reservoir
from itb.domain.program import SECONDS_PER_DAY, DosingProgram
from itb.domain.scheduling import DEFAULT_BOOKING, DEFAULT_CALENDAR, BookingSettings, refill_booking_date
from itb.pump.engine import ImplantedPump, PumpSetup
from itb.simulation.clinic_years import CONCENTRATIONS, DOSE_RANGE_MCG, MIN_DAYS_PER_FILL, realistic_program

START = date(2027, 1, 4)
CLINIC_HOUR = time(9, 0)
#: the booking margin before this calibration: 4 days before the pump's own alarm date
FIXED_MARGIN_DAYS = 4.0
DRY_EVENTS = ("drug_exhausted", "empty_reservoir_alarm")


@dataclass(frozen=True, slots=True)
class RuleResult:
    """What happened to every pump under one booking rule."""

    rule: str
    refills: int
    #: refill cycles in which the pump ran dry (or stopped empty) before its booked refill
    dry_before_booked: int
    pumps_dry: int
    #: refill cycles in which the low-reservoir alarm sounded before the booked refill
    alarm_before_booked: int
    mean_interval_days: float


@dataclass(frozen=True, slots=True)
class CampaignReport:
    pumps: int
    years: float
    seed: int
    pump_years: float
    today: RuleResult
    #: today's rule with the new margin alone (7 days before the pump's own date): is the margin enough?
    margin_only: RuleResult
    learned: RuleResult
    #: days the learned rule booked earlier than today's rule on the same state, per refill
    median_days_earlier: float
    p90_days_earlier: float
    #: pumps whose learned ratio ended beyond the drift flag (of those drawn beyond it)
    flagged_drift: int
    drawn_beyond_drift: int

    def lines(self) -> list[str]:
        out = [
            f"pumps {self.pumps}, {self.years:g} years, {self.pump_years:.0f} pump-years, seed {self.seed}; "
            "true flow errors uniform within each model's labelled tolerance"
        ]
        for r in (self.today, self.margin_only, self.learned):
            out.append(
                f"{r.rule:>22}: refills {r.refills}, dry before the booked refill {r.dry_before_booked} "
                f"(in {r.pumps_dry} pumps), low-reservoir alarm before it {r.alarm_before_booked}, "
                f"mean interval {r.mean_interval_days:.1f} days"
            )
        out.append(
            f"learned rule books a median {self.median_days_earlier:.1f} days earlier than today's rule "
            f"(90th percentile {self.p90_days_earlier:.1f}); refills "
            f"{self.learned.refills / max(self.today.refills, 1):.3f}x today's"
        )
        out.append(f"drift flag: {self.flagged_drift} pumps flagged of {self.drawn_beyond_drift} drawn beyond it")
        return out


@dataclass(slots=True)
class _Pump:
    model: DeviceModel
    capacity: float
    conc: float
    program: DosingProgram
    flow_error: float
    seed: int


def _draw(rng: random.Random, seed: int) -> _Pump:
    model = PERISTALTIC if rng.random() < 0.7 else VALVE_GATED
    capacity = rng.choice(model.reservoir_sizes_ml)
    dose = rng.uniform(*DOSE_RANGE_MCG)
    lasting = [c for c in CONCENTRATIONS if capacity * c / dose >= MIN_DAYS_PER_FILL]
    conc = rng.choice(lasting) if lasting else CONCENTRATIONS[-1]
    tol = model.labelled_flow_tolerance
    return _Pump(model, capacity, conc, realistic_program(rng, dose), rng.uniform(-tol, tol), seed)


#: (state after the refill, its program, the pump's own forecast, its flow history) -> the alarm to book from
AlarmRule = Callable[[ReservoirState, DosingProgram, Forecast, list[FlowObservation]], datetime | None]


@dataclass(slots=True)
class _Run:
    refills: int = 0
    dry: int = 0
    alarm: int = 0
    intervals: list[float] = field(default_factory=list)
    #: (state after each refill, the pump's forecast, the flow history then, the day booked)
    booked: list[tuple[ReservoirState, Forecast, list[FlowObservation], date]] = field(default_factory=list)


def _run(p: _Pump, days: int, rule: AlarmRule, booking: BookingSettings, withdrawal_sd_ml: float) -> _Run:
    setup = PumpSetup(
        model=p.model,
        reservoir_capacity_ml=p.capacity,
        low_reservoir_alarm_ml=p.model.default_low_reservoir_alarm_ml,
        empty_ml=0.0,
        catheter_volume_ml=p.model.typical_catheter_volume_ml,
        flow_error=p.flow_error,
    )
    day0 = datetime.combine(START, time())
    t0 = CLINIC_HOUR.hour * 3600.0

    def new_pump(t: float) -> ImplantedPump:
        return ImplantedPump(
            setup, t=t, implanted_t=t, reservoir_ml=p.capacity, concentration_mcg_per_ml=p.conc,
            program=p.program, day0=day0,
        )  # fmt: skip

    noise = random.Random(p.seed)
    pump = new_pump(t0)
    end = day0 + timedelta(days=days)
    history: list[FlowObservation] = []
    out = _Run()
    now = day0 + timedelta(seconds=t0)
    while True:
        state = ReservoirState(now, p.capacity, pump.est_ml, p.conc, setup.low_reservoir_alarm_ml, setup.empty_ml)
        nominal = forecast_reservoir(state, p.program)
        alarm = rule(state, p.program, nominal, history)
        day = refill_booking_date(now.date() + timedelta(days=1), now.date(), alarm, DEFAULT_CALENDAR, booking)
        out.booked.append((state, nominal, history[:], day))
        visit = datetime.combine(day, CLINIC_HOUR)
        if visit > end:
            break
        seen = len(pump.events)
        pump.advance_to(pump.t_of(visit))
        cycle = {e.type for e in pump.events[seen:]}
        out.dry += not cycle.isdisjoint(DRY_EVENTS)
        out.alarm += "low_reservoir_alarm" in cycle
        measured = max(pump.real_ml + noise.gauss(0.0, withdrawal_sd_ml), 0.0)
        history.append(flow_observation(visit, p.capacity, pump.est_ml, measured))
        if pump.eri_t is not None:  # replaced at this visit: a new pump, the same catheter and flow
            pump = new_pump(pump.t)
        else:
            pump.refill(p.capacity, p.conc)
        out.refills += 1
        out.intervals.append((visit - now).total_seconds() / SECONDS_PER_DAY)
        now = visit
    return out


def run_flow_campaign(
    pumps: int = 400,
    years: float = 4.0,
    seed: int = 20270104,
    *,
    booking: BookingSettings = DEFAULT_BOOKING,
    flow: FlowSettings = DEFAULT_FLOW,
) -> CampaignReport:
    """Run both rules on the same ``pumps`` for ``years`` (see the module docstring)."""
    rng = random.Random(seed)
    drawn = [_draw(rng, seed * 1_000_003 + i) for i in range(pumps)]
    days = round(years * DAYS_PER_YEAR)
    fixed = replace(booking, refill_margin_days=FIXED_MARGIN_DAYS)

    def today_rule(
        state: ReservoirState, program: DosingProgram, nominal: Forecast, history: list[FlowObservation]
    ) -> datetime | None:
        return nominal.low_reservoir_alarm_at

    def learned_rule_for(model: DeviceModel) -> AlarmRule:
        prior = device_prior(model, flow)

        def rule(
            state: ReservoirState, program: DosingProgram, nominal: Forecast, history: list[FlowObservation]
        ) -> datetime | None:
            estimate = learn_flow(prior, history, flow)
            ratio = estimate.upper(flow, _days(state.at, nominal.low_reservoir_alarm_at))
            return plausible_forecast(state, program, state.reservoir_capacity_ml, ratio).low_reservoir_alarm_at

        return rule

    results: dict[str, list[_Run]] = {"today": [], "margin": [], "learned": []}
    earlier: list[float] = []
    flagged = beyond = 0
    for p in drawn:
        results["today"].append(_run(p, days, today_rule, fixed, flow.withdrawal_sd_ml))
        results["margin"].append(_run(p, days, today_rule, booking, flow.withdrawal_sd_ml))
        learned = _run(p, days, learned_rule_for(p.model), booking, flow.withdrawal_sd_ml)
        results["learned"].append(learned)
        for state, nominal, _, day in learned.booked:
            old = refill_booking_date(
                state.at.date() + timedelta(days=1), state.at.date(), nominal.low_reservoir_alarm_at,
                DEFAULT_CALENDAR, fixed,
            )  # fmt: skip
            earlier.append((old - day).days)
        final = learn_flow(device_prior(p.model, flow), learned.booked[-1][2], flow)
        beyond += abs(p.flow_error) > flow.drift_flag_fraction
        flagged += abs(p.flow_error) > flow.drift_flag_fraction and abs(final.ratio - 1) > flow.drift_flag_fraction
    earlier.sort()
    return CampaignReport(
        pumps=pumps,
        years=years,
        seed=seed,
        pump_years=pumps * days / DAYS_PER_YEAR,
        today=_summary("today's rule", results["today"]),
        margin_only=_summary(f"{booking.refill_margin_days:g}-day margin, own date", results["margin"]),
        learned=_summary("learned rule", results["learned"]),
        median_days_earlier=statistics.median(earlier),
        p90_days_earlier=earlier[int(0.9 * (len(earlier) - 1))],
        flagged_drift=flagged,
        drawn_beyond_drift=beyond,
    )


def _days(a: datetime, b: datetime | None) -> float:
    return 0.0 if b is None else max((b - a).total_seconds() / SECONDS_PER_DAY, 0.0)


def _summary(name: str, runs: list[_Run]) -> RuleResult:
    intervals = [x for r in runs for x in r.intervals]
    return RuleResult(
        rule=name,
        refills=sum(r.refills for r in runs),
        dry_before_booked=sum(r.dry for r in runs),
        pumps_dry=sum(r.dry > 0 for r in runs),
        alarm_before_booked=sum(r.alarm for r in runs),
        mean_interval_days=statistics.fmean(intervals) if intervals else 0.0,
    )
