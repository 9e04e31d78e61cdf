"""Properties of the pump simulation over random scenarios (``shared/spec/simulate.md``).

(a) mass balance: drug at start + drug added = delivered + withdrawn + left + in transit;
(b) with no flow error, no MRI and no actions, the simulated alarms fall on the exact second
    that ``forecast_reservoir`` gives for the same start state and program;
(c) the order of alarms and the uniqueness of once-only events.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from itb.domain.forecast import ReservoirState, forecast_reservoir
from itb.domain.program import DosingProgram
from itb.pump.scenario_json import parse_scenario
from simulation_runner import simulate

#: the examples per property are the profile's (conftest.py)
SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])

BASE_START = datetime(2026, 1, 1)


def iso(when: datetime) -> str:
    return when.isoformat(timespec="seconds")


def hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


# ------------------------------------------------------------------ strategies
# Any rate the contract allows, tiny ones included (a subnormal rate once crashed the engine:
# test_subnormal_rate_does_not_crash_the_simulation).
rates = st.one_of(st.just(0.0), st.integers(1, 1500).map(float), st.floats(0.01, 1500.0), st.floats(0.0, 1e-3))
doses = st.one_of(st.just(0.0), st.floats(0.001, 500.0), st.floats(0.0, 1e-3))


def volumes(lo: float, hi: float):
    """Volumes in mL on a 1e-6 mL grid, ends included. The engine counts a volume within 1e-9 mL
    of a level as at it (see test_simulation_and_forecast_agree_a_hair_above_a_level)."""
    return st.integers(round(lo * 1e6), round(hi * 1e6)).map(lambda n: n / 1e6)


concentrations = st.one_of(st.sampled_from([50.0, 500.0, 1000.0, 2000.0]), st.floats(10.0, 3000.0))


@st.composite
def programs(draw, start: datetime, until: datetime, *, max_steps: int = 24) -> dict[str, Any]:
    minutes = draw(st.lists(st.integers(1, 1439), max_size=max_steps - 1, unique=True))
    starts = [0, *sorted(minutes)]
    steps = [{"start": hhmm(m), "rate_mcg_per_day": draw(rates)} for m in starts]
    program: dict[str, Any] = {"steps": steps}
    daily = draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "start": st.integers(0, 1439).map(hhmm),
                    "dose_mcg": doses,
                    "duration_minutes": st.integers(1, 1440),
                }
            ),
            max_size=3,
        )
    )
    if daily:
        program["boluses"] = daily
    span = int((until - start).total_seconds())
    one_time = draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    # may begin before the start: only its remainder is delivered
                    "at": st.integers(-3 * 3600, span).map(lambda s: iso(start + timedelta(seconds=s))),
                    "dose_mcg": doses,
                    "duration_minutes": st.integers(1, 1440),
                    "kind": st.sampled_from(["single", "bridge", "priming"]),
                }
            ),
            max_size=2,
        )
    )
    if one_time:
        program["one_time_boluses"] = one_time
    return program


@st.composite
def pumps(draw, model: str | None = None) -> dict[str, Any]:
    model = model or draw(st.sampled_from(["peristaltic", "valve-gated"]))
    cap = draw(st.sampled_from([20, 40]))
    low = draw(st.one_of(st.just(2.0), volumes(0.0, 5.0)))
    empty = draw(st.one_of(st.just(0.0), volumes(0.0, low)))
    pump: dict[str, Any] = {"model": model, "reservoir_capacity_ml": cap, "low_reservoir_alarm_ml": low}
    if empty:
        pump["empty_ml"] = empty
    if draw(st.booleans()):
        pump["catheter_volume_ml"] = draw(volumes(0.0, 1.5))
    if draw(st.booleans()):
        pump["implanted_at"] = "2024-06-01T12:00:00"
    if model == "peristaltic" and draw(st.booleans()):
        pump["mri_recovery_delay_minutes"] = draw(st.floats(0.0, 600.0))
    return pump


@st.composite
def actions(draw, model: str, cap: float, start: datetime, until: datetime, *, mri: bool = True) -> list[dict]:
    span = int((until - start).total_seconds())
    kinds = ["refill", "program", "bolus", "bolus_cancel", "interrogate", "clear_alarms"]
    if mri:
        kinds.append("mri")
        if model == "valve-gated":
            kinds.append("valve_reset")
    out = []
    for _ in range(draw(st.integers(0, 12))):
        kind = draw(st.sampled_from(kinds))
        when = start + timedelta(seconds=draw(st.integers(0, span)))
        item: dict[str, Any] = {"at": iso(when), "type": kind}
        if kind == "refill":
            item["added_ml"] = draw(volumes(0.001, float(cap)))
            item["concentration_mcg_per_ml"] = draw(concentrations)
        elif kind == "program":
            item["program"] = draw(programs(when, until, max_steps=6))
        elif kind == "bolus":
            item["dose_mcg"] = draw(st.floats(0.01, 500.0))
            item["duration_minutes"] = draw(st.integers(1, 1440))
        elif kind == "mri":
            item["duration_minutes"] = draw(st.floats(1.0, 240.0))
            if model == "peristaltic" and draw(st.booleans()):
                item["recovery_delay_minutes"] = draw(st.floats(0.0, 24 * 60))
        out.append(item)
    return out


@st.composite
def scenarios(draw, *, flow_error=None, mri: bool = True) -> dict[str, Any]:
    start = BASE_START + timedelta(seconds=draw(st.integers(0, 365 * 86400)))
    # mostly months; some runs long enough for the battery's ERI and end of service
    span = st.one_of(st.integers(3600, 400 * 86400), st.integers(400 * 86400, 8 * 366 * 86400))
    until = start + timedelta(seconds=draw(span))
    pump = draw(pumps())
    cap = float(pump["reservoir_capacity_ml"])
    if flow_error is None:
        flow_error = st.one_of(st.just(0.0), st.floats(-0.5, 0.5), st.sampled_from([0.015, -0.03, 0.1, -0.1]))
    return {
        "start": iso(start),
        "until": iso(until),
        "pump": pump,
        "reservoir_ml": draw(volumes(0.0, cap)),
        "concentration_mcg_per_ml": draw(concentrations),
        "program": draw(programs(start, until)),
        "flow_error": draw(flow_error),
        "actions": draw(actions(pump["model"], cap, start, until, mri=mri)),
    }


# ------------------------------------------------------------------ (a) mass balance
TRACE_LEFT = {  # regression: a reservoir within rounding of empty was zeroed and its trace lost
    "start": "2026-01-01T00:00:47",
    "until": "2026-01-01T01:00:47",
    "pump": {
        "model": "valve-gated",
        "reservoir_capacity_ml": 20,
        "low_reservoir_alarm_ml": 2.0,
        "catheter_volume_ml": 0.0,
    },
    "reservoir_ml": 1e-06,
    "concentration_mcg_per_ml": 10.0,
    "program": {"steps": [{"start": "00:00", "rate_mcg_per_day": 0.0}]},
    "flow_error": 0.0,
    "actions": [{"at": "2026-01-01T00:00:47", "type": "bolus", "dose_mcg": 13.0, "duration_minutes": 1}],
}


@SETTINGS
@given(scenarios())
@example(TRACE_LEFT)
def test_mass_balance_holds_for_random_scenarios(obj):
    pump, data = simulate(obj)
    inflow = pump.initial_mcg + pump.added_mcg
    outflow = pump.delivered_mcg + pump.withdrawn_mcg + pump.real_ml * pump.conc + pump.catheter.content_mcg
    scale = max(inflow, 1e-9)
    assert abs(inflow - outflow) <= 1e-6 * scale
    assert abs(pump.mass_balance_error_mcg()) <= 1e-6 * scale
    # the same from the contract's JSON (rounded to 1e-6 mcg and 1e-9 mL)
    final = data["final"]
    json_out = (
        final["delivered_mcg"]
        + final["withdrawn_mcg"]
        + final["reservoir_ml"] * final["concentration_mcg_per_ml"]
        + final["in_transit_mcg"]
    )
    assert abs(final["initial_mcg"] + final["added_mcg"] - json_out) <= 1e-6 * scale + 1e-5
    # nothing negative, nothing above the reservoir
    assert final["delivered_mcg"] >= 0
    assert -1e-9 <= pump.real_ml <= pump.setup.reservoir_capacity_ml + 1e-9


# ------------------------------------------------------------------ (b) forecast agreement
@st.composite
def forecast_cases(draw) -> dict[str, Any]:
    start = BASE_START + timedelta(seconds=draw(st.integers(0, 365 * 86400)))
    horizon = start + timedelta(days=400)
    pump = draw(pumps())
    pump.pop("implanted_at", None)  # a fresh battery: no end of service in the way
    cap = float(pump["reservoir_capacity_ml"])
    return {
        "start": iso(start),
        "until": iso(horizon),  # replaced once the forecast is known
        "pump": pump,
        "reservoir_ml": draw(st.one_of(volumes(0.0, cap), st.just(pump["low_reservoir_alarm_ml"]))),
        "concentration_mcg_per_ml": draw(concentrations),
        "program": draw(programs(start, horizon)),
        "flow_error": 0.0,
        "actions": [],
    }


@SETTINGS
@given(forecast_cases())
def test_simulated_alarms_fall_on_the_forecast_second(obj):
    scenario = parse_scenario(obj)
    setup = scenario.setup
    state = ReservoirState(
        at=scenario.start,
        reservoir_capacity_ml=setup.reservoir_capacity_ml,
        reservoir_ml=scenario.reservoir_ml,
        concentration_mcg_per_ml=scenario.concentration_mcg_per_ml,
        low_reservoir_alarm_ml=setup.low_reservoir_alarm_ml,
        empty_ml=setup.empty_ml,
    )
    forecast = forecast_reservoir(state, scenario.program)
    known = [t for t in (forecast.low_reservoir_alarm_at, forecast.empty_at) if t is not None]
    # Run a day past the last forecast instant, at most 6 years (the battery outlives that).
    until = min(max(known, default=scenario.start) + timedelta(days=1), scenario.start + timedelta(days=6 * 365))
    assume(until > scenario.start)
    obj = {**obj, "until": iso(until)}
    _pump, data = simulate(obj)
    eos = [e["at"] for e in data["events"] if e["type"] == "end_of_service"]
    stop = min([until, *eos])

    for kind, expected in (
        ("low_reservoir_alarm", forecast.low_reservoir_alarm_at),
        ("empty_reservoir_alarm", forecast.empty_at),
    ):
        got = [e["at"] for e in data["events"] if e["type"] == kind]
        if expected is None or expected > stop:
            assert got == [], (kind, expected, got)
        else:
            assert got == [expected], (kind, expected, got)


# ------------------------------------------------------------------ (c) order invariants
def _cycles(events: list[dict]) -> list[list[dict]]:
    """The events split at each refill (a refill clears the reservoir alarms)."""
    out: list[list[dict]] = [[]]
    for e in events:
        if e["type"] == "refill":
            out.append([])
        out[-1].append(e)
    return out


def _index(cycle: list[dict], kind: str) -> int | None:
    return next((i for i, e in enumerate(cycle) if e["type"] == kind), None)


@SETTINGS
@given(scenarios(flow_error=st.one_of(st.just(0.0), st.floats(0.0, 0.5))))
def test_alarm_order_invariants(obj):
    pump, data = simulate(obj)
    events = data["events"]

    # events in time order, on the clock and in the JSON
    assert [e.t for e in pump.events] == sorted(e.t for e in pump.events)
    assert [e["at"] for e in events] == sorted(e["at"] for e in events)

    # once-only events
    for kind in ("elective_replacement_indicator", "end_of_service"):
        assert sum(e["type"] == kind for e in events) <= 1, kind
    eri = _index(events, "elective_replacement_indicator")
    eos = _index(events, "end_of_service")
    if eos is not None:
        assert eri is not None and eri < eos
        after = events[eos]["at"] - events[eri]["at"]
        assert abs(after - timedelta(days=90)) <= timedelta(seconds=1)  # both models: 90 days

    # a stall is recovered before another one starts
    stalled = False
    for e in events:
        if e["type"] == "motor_stall":
            assert not stalled
            stalled = True
        elif e["type"] == "motor_stall_recovered":
            assert stalled
            stalled = False

    fe = obj["flow_error"]
    for cycle in _cycles(events):
        for kind in ("low_reservoir_alarm", "empty_reservoir_alarm", "drug_exhausted"):
            assert sum(e["type"] == kind for e in cycle) <= 1, kind
        low = _index(cycle, "low_reservoir_alarm")
        empty = _index(cycle, "empty_reservoir_alarm")
        exhausted = _index(cycle, "drug_exhausted")
        # the pump's count reaches its low level no later than its empty level
        if empty is not None:
            assert low is not None and low < empty
        # with a perfect pump, the real reservoir cannot empty before the low alarm, unless an
        # MRI let drug escape the valve-gated pump behind its count
        if fe == 0 and exhausted is not None and _index(cycle, "safety_valve_closed") is None:
            assert low is not None and low < exhausted


# ------------------------------------------------------------------ bugs found by these properties
TINY = {
    "start": "2026-01-01T00:00:00",
    "until": "2026-02-01T00:00:00",
    "pump": {"model": "peristaltic", "reservoir_capacity_ml": 20, "low_reservoir_alarm_ml": 2.0},
    "reservoir_ml": 20.0,
    "concentration_mcg_per_ml": 50,
    "program": {"steps": [{"start": "00:00", "rate_mcg_per_day": 0.0}]},
}


def test_subnormal_rate_does_not_crash_the_simulation():
    obj = {**TINY, "program": {"steps": [{"start": "00:00", "rate_mcg_per_day": 1e-310}]}}
    _, data = simulate(obj)
    assert data["final"]["reservoir_ml"] == pytest.approx(20.0)


def test_forecast_of_a_crossing_after_year_9999_is_null_not_a_crash():
    state = ReservoirState(
        at=datetime(2026, 1, 1),
        reservoir_capacity_ml=20,
        reservoir_ml=20,
        concentration_mcg_per_ml=2000,
        low_reservoir_alarm_ml=2,
    )
    forecast = forecast_reservoir(state, DosingProgram.simple_continuous(0.01))
    assert forecast.low_reservoir_alarm_at is None


@pytest.mark.parametrize("level", ["empty", "low"])
@pytest.mark.parametrize("above_ml", [0.0, 1e-10, 5e-10])
def test_simulation_and_forecast_agree_a_hair_above_a_level(level, above_ml):
    # Volumes within 1e-9 mL of a level count as at it, in the engine and in the forecast alike.
    low = 2.0
    reservoir = (0.0 if level == "empty" else low) + above_ml
    obj = {
        **TINY,
        "reservoir_ml": reservoir,
        "program": {
            "steps": [{"start": "00:00", "rate_mcg_per_day": 0.0}, {"start": "00:01", "rate_mcg_per_day": 1.0}]
        },
    }
    scenario = parse_scenario(obj)
    state = ReservoirState(
        at=scenario.start,
        reservoir_capacity_ml=20,
        reservoir_ml=reservoir,
        concentration_mcg_per_ml=50,
        low_reservoir_alarm_ml=low,
    )
    forecast = forecast_reservoir(state, scenario.program)
    _, data = simulate(obj)
    for kind, expected in (
        ("low_reservoir_alarm", forecast.low_reservoir_alarm_at),
        ("empty_reservoir_alarm", forecast.empty_at),
    ):
        got = [e["at"] for e in data["events"] if e["type"] == kind]
        assert got == ([] if expected is None or expected > scenario.until else [expected]), kind
