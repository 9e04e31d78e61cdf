"""Per-pump flow calibration (``itb.domain.calibration``): each rule, named after its setting.

Sources: ``shared/domain.md``, "The pump" (peristaltic pump labelled ±14.5 %, measured +1 % to
+2.5 % per refill; valve-gated about 97 %, required 85-115 %) and "Refills" (the pump only
counts; a fixed margin does not cover a pump that runs fast within its tolerance).
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import pytest

from itb.domain.calibration import (
    DEFAULT_FLOW,
    FlowEstimate,
    FlowSettings,
    device_prior,
    drift,
    learn_flow,
    observation,
    plausible_forecast,
    pump_prior,
    refill_history,
    usable,
)
from itb.domain.devices import PERISTALTIC, VALVE_GATED
from itb.domain.errors import InvalidInput
from itb.domain.forecast import ReservoirState, forecast_reservoir
from itb.domain.program import DosingProgram
from itb.pump.engine import ImplantedPump, PumpSetup

START = datetime(2027, 1, 4, 9, 0)


def intervals(ratio: float, n: int, counted_ml: float = 18.0, every_days: int = 90) -> list:
    return [
        observation(START + timedelta(days=every_days * (i + 1)), 20.0, 20.0 - counted_ml, 20.0 - counted_ml * ratio)
        for i in range(n)
    ]


def test_device_prior_is_the_edge_of_the_label_at_the_confidence() -> None:
    """A pump with no refills yet is planned as if it ran at the edge of its labelled tolerance
    (upper bound = 1 + 14.5 % for the peristaltic pump, 1 + 15 % for the valve-gated one),
    centred on the accuracy measured in patients."""
    for device in (PERISTALTIC, VALVE_GATED):
        prior = device_prior(device)
        assert prior.ratio == pytest.approx(1 + device.typical_flow_error)
        assert prior.upper(DEFAULT_FLOW) == pytest.approx(1 + device.labelled_flow_tolerance)
        assert prior.observations == 0


def test_learn_flow_converges_on_the_pumps_true_ratio() -> None:
    """Each refill interval narrows the estimate towards the ratio the pump really has."""
    prior = device_prior(PERISTALTIC)
    one = learn_flow(prior, intervals(1.08, 1))
    five = learn_flow(prior, intervals(1.08, 5))
    assert one.observations == 1 and five.observations == 5
    assert abs(five.ratio - 1.08) < abs(one.ratio - 1.08) < abs(prior.ratio - 1.08)
    assert five.sd < one.sd < prior.sd
    assert five.upper(DEFAULT_FLOW) < prior.upper(DEFAULT_FLOW)


def test_withdrawal_sd_ml_weighs_each_interval_by_the_volume_counted() -> None:
    """A withdrawal is measured to about 0.2 mL: an interval with more counted tells more."""
    prior = device_prior(PERISTALTIC)
    small = learn_flow(prior, intervals(1.08, 1, counted_ml=2.0))
    large = learn_flow(prior, intervals(1.08, 1, counted_ml=30.0))
    assert abs(large.ratio - 1.08) < abs(small.ratio - 1.08)
    assert large.sd < small.sd


def test_min_counted_ml_skips_an_interval_too_short_to_measure() -> None:
    assert learn_flow(device_prior(PERISTALTIC), intervals(1.08, 3, counted_ml=0.5)).observations == 0


def test_outlier_fraction_keeps_a_pocket_fill_out_of_the_flow() -> None:
    """An interval the pump cannot have given (2x what it counted) is a pocket fill, a leak or a
    slip; its refill is flagged for review, it is not learned from."""
    obs = observation(START, 20.0, 17.8, 15.3)  # 2.2 mL counted, 4.7 mL gone
    assert obs.ratio == pytest.approx(4.7 / 2.2) and not usable(obs)
    prior = device_prior(PERISTALTIC)
    assert learn_flow(prior, [obs]) == prior


def test_drift_sd_per_year_lets_old_refills_weigh_less() -> None:
    """The ratio may drift: after a long gap the newest interval moves the estimate further."""
    prior = device_prior(PERISTALTIC)
    history = [*intervals(1.00, 4, every_days=60), observation(START + timedelta(days=300), 20.0, 2.0, 0.2)]
    gap = [*intervals(1.00, 4, every_days=60), observation(START + timedelta(days=240 + 3 * 365), 20.0, 2.0, 0.2)]
    assert learn_flow(prior, gap).ratio > learn_flow(prior, history).ratio > 1.0


def test_interval_sd_and_days_ahead_widen_the_upper_bound() -> None:
    estimate = FlowEstimate(1.02, 0.005, 4)
    assert estimate.upper(DEFAULT_FLOW, 180) > estimate.upper(DEFAULT_FLOW, 0) > 1.02 + 1.96 * 0.01


def test_plausible_forecast_is_when_a_fast_pump_really_runs_dry() -> None:
    """The earliest plausible empty instant at the pump's true ratio is when the simulated pump's
    real reservoir runs dry (to the second), days before the pump's own count says."""
    setup = PumpSetup(PERISTALTIC, 20.0, 2.0, 0.0, PERISTALTIC.typical_catheter_volume_ml, flow_error=0.12)
    program = DosingProgram.simple_continuous(300)
    pump = ImplantedPump(
        setup, t=0.0, implanted_t=0.0, reservoir_ml=20.0, concentration_mcg_per_ml=500, program=program, day0=START
    )
    pump.advance_to(10 * 86400)  # ten days on, the pump counts 20 - 6 mL
    state = ReservoirState(START + timedelta(days=10), 20.0, pump.est_ml, 500.0, 2.0, 0.0)
    plausible = plausible_forecast(state, program, 20.0, 1.12)
    pump.advance_to(80 * 86400)
    (dry,) = [e for e in pump.events if e.type == "drug_exhausted"]
    assert plausible.empty_at is not None
    assert abs(plausible.empty_at - (START + timedelta(seconds=dry.t))) <= timedelta(seconds=1)
    assert plausible.empty_at < forecast_reservoir(state, program).empty_at  # type: ignore[operator]


def test_plausible_forecast_is_never_later_than_the_pumps_own() -> None:
    """A slow pump still alarms and stops on its own count."""
    state = ReservoirState(START, 20.0, 14.0, 500.0, 2.0, 0.0)
    program = DosingProgram.simple_continuous(300)
    assert plausible_forecast(state, program, 20.0, 0.9) == forecast_reservoir(state, program)


def test_refill_history_pairs_each_withdrawal_with_the_fill_before_it() -> None:
    refills = [(START + timedelta(days=90), 3.0, 2.5, 18.0), (START + timedelta(days=180), 2.0, 1.5, 20.0)]
    history, fill = refill_history(20.0, refills)
    assert [(o.counted_ml, o.delivered_ml) for o in history] == [(17.0, 17.5), (16.0, 16.5)]
    assert fill == 20.0
    unknown, fill = refill_history(None, refills)
    assert len(unknown) == 1 and fill == 20.0  # the implant fill is not known: its interval is not used


@pytest.mark.parametrize(
    ("ratio", "words"),
    [(1.06, "about 6% more than it counts"), (0.93, "about 7% less than it counts")],
)
def test_drift_flag_fraction_names_the_way_the_pump_drifts(ratio: float, words: str) -> None:
    """Beyond 5 % (twice the measured +1 % to +2.5 %): over-delivery points at the pump or a
    pocket fill, under-delivery at the catheter or the rotor."""
    sentence = drift(FlowEstimate(ratio, 0.01, 3))
    assert sentence is not None and words in sentence
    assert ("pocket fill" in sentence) == (ratio > 1) and ("catheter" in sentence) == (ratio < 1)


def test_drift_flag_needs_a_learned_ratio_beyond_the_setting() -> None:
    assert drift(FlowEstimate(1.04, 0.01, 3)) is None
    assert drift(FlowEstimate(1.20, 0.01, 0)) is None  # a prior is not a measurement
    assert drift(FlowEstimate(1.04, 0.01, 3), FlowSettings(drift_flag_fraction=0.03)) is not None


def test_bad_flow_settings_name_the_field() -> None:
    with pytest.raises(InvalidInput) as e:
        FlowSettings(confidence=1.0, withdrawal_sd_ml=-1)
    assert [v.field for v in e.value.violations] == ["flow.confidence", "flow.withdrawal_sd_ml"]


def test_learning_from_noisy_refills_stays_on_the_safe_side() -> None:
    """Over many simulated pumps within the label, the upper bound covers the true ratio of the
    coming interval at about the stated confidence (97.5 %), never much less."""
    rng = random.Random(7)
    covered = trials = 0
    for _ in range(400):
        true = rng.uniform(1 - PERISTALTIC.labelled_flow_tolerance, 1 + PERISTALTIC.labelled_flow_tolerance)
        history = []
        for i in range(6):
            counted = rng.uniform(5, 30)
            measured = 20 - counted * true + rng.gauss(0, DEFAULT_FLOW.withdrawal_sd_ml)
            history.append(observation(START + timedelta(days=90 * (i + 1)), 20.0, 20.0 - counted, measured))
            estimate = learn_flow(device_prior(PERISTALTIC), history)
            trials += 1
            covered += estimate.upper(DEFAULT_FLOW, 90) >= true
    assert covered / trials >= 0.95


def test_constant_flow_tolerance() -> None:
    """A constant-flow pump (no generic model) starts centred on its nominal flow and is planned at
    the edge of ``constant_flow_tolerance``; the generic models keep their own priors."""
    for code in ("constant-flow", "codman-3000"):
        prior = pump_prior(code)
        assert prior.ratio == 1.0
        assert prior.upper(DEFAULT_FLOW) == pytest.approx(1 + DEFAULT_FLOW.constant_flow_tolerance, abs=1e-9)
    wider = FlowSettings(constant_flow_tolerance=0.25)
    assert pump_prior("constant-flow", wider).upper(wider) == pytest.approx(1.25, abs=1e-9)
    assert pump_prior("peristaltic") == device_prior(PERISTALTIC)
    assert pump_prior("valve-gated") == device_prior(VALVE_GATED)
