"""The shared worked example ``simulate-overinfusion.json``: its key events, to the second.

A 20 mL peristaltic pump programmed at 500 mcg/day of 500 mcg/mL (1 mL/day) that really
delivers 10 % more. The pump counts only what it was told to pump.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from itb.pump.scenario_json import outcome_json, parse_scenario
from itb.pump.simulator import run

#: a copy of ``shared/spec/examples/simulate-overinfusion.json`` (tests/data/shared-examples/README.md)
EXAMPLE = Path(__file__).resolve().parents[1] / "data" / "shared-examples" / "simulate-overinfusion.json"


@pytest.fixture(scope="module")
def outcome():
    scenario = parse_scenario(json.loads(EXAMPLE.read_text()))
    result = run(scenario)
    return result, outcome_json(result)


def _only(events: list[dict], kind: str) -> dict:
    found = [e for e in events if e["type"] == kind]
    assert len(found) == 1, f"expected exactly one {kind}, got {found}"
    return found[0]


def test_refill_shows_the_pump_overestimated_the_residual(outcome):
    refill = _only(outcome[1]["events"], "refill")
    assert refill["at"] == datetime(2026, 1, 15, 8, 0, 0)
    assert refill["expected_ml"] == pytest.approx(10.0, rel=1e-6)
    assert refill["withdrawn_ml"] == pytest.approx(9.0, rel=1e-6)
    assert refill["discrepancy_ml"] == pytest.approx(-1.0, rel=1e-6)
    assert refill["added_ml"] == pytest.approx(20.0)
    assert refill["concentration_mcg_per_ml"] == 500


def test_low_reservoir_alarm_18_days_after_the_refill(outcome):
    low = _only(outcome[1]["events"], "low_reservoir_alarm")
    assert low["at"] == datetime(2026, 2, 2, 8, 0, 0)
    assert low["pump_estimated_reservoir_ml"] == pytest.approx(2.0, abs=1e-6)


def test_drug_exhausted_when_the_real_reservoir_is_empty(outcome):
    # 20 mL / 1.1 mL a day = 18.1818... days = 18 d 4 h 21 min 49.09 s after the refill.
    exhausted = _only(outcome[1]["events"], "drug_exhausted")
    assert exhausted["at"] == datetime(2026, 2, 2, 12, 21, 49)


def test_empty_reservoir_alarm_only_when_the_pump_believes_it(outcome):
    empty = _only(outcome[1]["events"], "empty_reservoir_alarm")
    assert empty["at"] == datetime(2026, 2, 4, 8, 0, 0)


def test_order_of_the_key_events(outcome):
    kinds = [e["type"] for e in outcome[1]["events"]]
    key = [k for k in kinds if k in {"refill", "low_reservoir_alarm", "drug_exhausted", "empty_reservoir_alarm"}]
    assert key == ["refill", "low_reservoir_alarm", "drug_exhausted", "empty_reservoir_alarm"]


def test_final_state_and_mass_balance(outcome):
    result, data = outcome
    final = data["final"]
    assert final["at"] == datetime(2026, 2, 15, 0, 0, 0)
    assert final["state"] == "stopped_empty"
    assert final["reservoir_ml"] == pytest.approx(0.0, abs=1e-9)
    assert final["pump_estimated_reservoir_ml"] == pytest.approx(0.0, abs=1e-9)
    # Everything that left the reservoir entered the catheter; what left the catheter was delivered.
    # 10 days at 1.1 mL/day (5500 mcg) + the whole 20 mL refill (10000 mcg); the line stays full.
    assert final["delivered_mcg"] == pytest.approx(15500.0, rel=1e-6)
    assert final["in_transit_mcg"] == pytest.approx(result.pump.setup.catheter_volume_ml * 500, rel=1e-6)
    inflow = final["initial_mcg"] + final["added_mcg"]
    outflow = final["delivered_mcg"] + final["withdrawn_mcg"] + final["reservoir_ml"] * 500 + final["in_transit_mcg"]
    assert outflow == pytest.approx(inflow, rel=1e-6)
    assert "eri_at" in final
