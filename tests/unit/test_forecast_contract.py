"""The forecast contract (shared/spec/forecast.md) through ``itb.contracts.forecast.answer``."""

from __future__ import annotations

import copy
import io
import json
import math
import os
import random
import re
from datetime import datetime
from pathlib import Path

import orjson
import pytest

from itb.contracts.forecast import answer

EXAMPLES = Path(__file__).parents[1] / "data" / "shared-examples"  # copies of shared/spec/examples
OUTPUT_FIELDS = {"id", "daily_dose_mcg", "daily_volume_ml", "low_reservoir_alarm_at", "empty_at"}


def read_jsonl(path: Path) -> list[dict]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def wire(obj: object) -> dict:
    """The answer as it goes over the wire (datetimes as ISO text)."""
    return orjson.loads(orjson.dumps(answer(obj)))


def assert_same_answer(got: dict, expected: dict) -> None:
    assert set(got) == set(expected)
    for key, want in expected.items():
        have = got[key]
        if key.endswith("_at"):
            if want is None:
                assert have is None, key
            else:
                assert have is not None, key
                assert datetime.fromisoformat(have).replace(microsecond=0) == datetime.fromisoformat(want), key
        elif isinstance(want, float) and not isinstance(want, bool):
            assert math.isclose(have, want, rel_tol=1e-6, abs_tol=1e-12), key
        else:
            assert have == want, key


# -- worked examples ---------------------------------------------------------------------

CASES = read_jsonl(EXAMPLES / "forecast.jsonl")
EXPECTED = {e["id"]: e for e in read_jsonl(EXAMPLES / "forecast.expected.jsonl")}


def test_every_example_has_an_expected_answer():
    assert [c["id"] for c in CASES] == list(EXPECTED)


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_worked_example(case):
    assert_same_answer(wire(case), EXPECTED[case["id"]])


# -- a valid base case and helpers -------------------------------------------------------

BASE = {
    "id": "p-0042",
    "at": "2026-03-01T09:30:00",
    "reservoir_capacity_ml": 20,
    "reservoir_ml": 18.5,
    "concentration_mcg_per_ml": 500,
    "low_reservoir_alarm_ml": 2.0,
    "empty_ml": 0.0,
    "program": {
        "steps": [
            {"start": "00:00", "rate_mcg_per_day": 250},
            {"start": "07:00", "rate_mcg_per_day": 350},
        ],
        "boluses": [{"start": "12:00", "dose_mcg": 40, "duration_minutes": 30}],
        "one_time_boluses": [{"at": "2026-03-02T10:00:00", "dose_mcg": 75, "duration_minutes": 10}],
    },
}


def case(**changes) -> dict:
    c = copy.deepcopy(BASE)
    c.update(changes)
    return c


def edited(path: str, value: object = None, *, delete: bool = False) -> dict:
    """BASE with the field at dotted ``path`` (list items as ``steps.1``) set or deleted."""
    c = copy.deepcopy(BASE)
    *parents, last = path.split(".")
    node: object = c
    for p in parents:
        node = node[int(p)] if isinstance(node, list) else node[p]  # type: ignore[index]
    key = int(last) if isinstance(node, list) else last
    if delete:
        del node[key]  # type: ignore[arg-type]
    else:
        node[key] = value  # type: ignore[index]
    return c


def error_of(obj: object) -> str:
    out = answer(obj)
    assert set(out) == {"id", "error"}, out
    assert isinstance(out["error"], str)
    assert "\n" not in out["error"]
    return out["error"]


def test_base_case_is_valid():
    out = answer(BASE)
    assert set(out) == OUTPUT_FIELDS
    assert out["id"] == "p-0042"
    assert out["daily_dose_mcg"] == pytest.approx(250 * 7 / 24 + 350 * 17 / 24 + 40)


# -- bad input: each rule names the field ------------------------------------------------


@pytest.mark.parametrize(
    "field",
    ["at", "reservoir_capacity_ml", "reservoir_ml", "concentration_mcg_per_ml", "low_reservoir_alarm_ml", "program"],
)
def test_missing_top_level_field(field):
    err = error_of(edited(field, delete=True))
    assert field in err
    assert "required" in err


@pytest.mark.parametrize(
    "path, name",
    [
        ("program.steps", "program.steps"),
        ("program.steps.0.start", "program.steps[0].start"),
        ("program.steps.1.rate_mcg_per_day", "program.steps[1].rate_mcg_per_day"),
        ("program.boluses.0.start", "program.boluses[0].start"),
        ("program.boluses.0.dose_mcg", "program.boluses[0].dose_mcg"),
        ("program.boluses.0.duration_minutes", "program.boluses[0].duration_minutes"),
        ("program.one_time_boluses.0.at", "program.one_time_boluses[0].at"),
        ("program.one_time_boluses.0.dose_mcg", "program.one_time_boluses[0].dose_mcg"),
        ("program.one_time_boluses.0.duration_minutes", "program.one_time_boluses[0].duration_minutes"),
    ],
)
def test_missing_nested_field(path, name):
    err = error_of(edited(path, delete=True))
    assert name in err
    assert "required" in err


def test_null_required_top_level_field_is_missing():
    err = error_of(case(reservoir_ml=None))
    assert "reservoir_ml: is required" in err


# A JSON null counts as missing, also inside steps and boluses (regression: it used to pass
# unreported when the item had exactly the right keys, and the forecast raised TypeError).
@pytest.mark.parametrize(
    "path, name",
    [
        ("program.steps.1.rate_mcg_per_day", "program.steps[1].rate_mcg_per_day"),
        ("program.boluses.0.dose_mcg", "program.boluses[0].dose_mcg"),
        ("program.boluses.0.duration_minutes", "program.boluses[0].duration_minutes"),
        ("program.one_time_boluses.0.at", "program.one_time_boluses[0].at"),
        ("program.one_time_boluses.0.dose_mcg", "program.one_time_boluses[0].dose_mcg"),
        ("program.one_time_boluses.0.duration_minutes", "program.one_time_boluses[0].duration_minutes"),
    ],
)
def test_null_required_nested_field_is_missing(path, name):
    err = error_of(edited(path, None))
    assert f"{name}: is required" in err


@pytest.mark.parametrize(
    "field", ["reservoir_capacity_ml", "reservoir_ml", "concentration_mcg_per_ml", "low_reservoir_alarm_ml", "empty_ml"]
)
def test_negative_top_level_value(field):
    err = error_of(case(**{field: -1}))
    assert field in err


@pytest.mark.parametrize(
    "path, name",
    [
        ("program.steps.1.rate_mcg_per_day", "program.steps[1].rate_mcg_per_day"),
        ("program.boluses.0.dose_mcg", "program.boluses[0].dose_mcg"),
        ("program.one_time_boluses.0.dose_mcg", "program.one_time_boluses[0].dose_mcg"),
    ],
)
def test_negative_nested_value(path, name):
    assert name in error_of(edited(path, -0.5))


@pytest.mark.parametrize("value", ["20", True, [20], {"ml": 20}], ids=["str", "bool", "list", "object"])
@pytest.mark.parametrize(
    "field", ["reservoir_capacity_ml", "reservoir_ml", "concentration_mcg_per_ml", "low_reservoir_alarm_ml", "empty_ml"]
)
def test_non_numeric_top_level_value(field, value):
    err = error_of(case(**{field: value}))
    assert field in err
    assert "number" in err


@pytest.mark.parametrize("value", ["250", True, [250]], ids=["str", "bool", "list"])
@pytest.mark.parametrize(
    "path, name",
    [
        ("program.steps.0.rate_mcg_per_day", "program.steps[0].rate_mcg_per_day"),
        ("program.boluses.0.dose_mcg", "program.boluses[0].dose_mcg"),
        ("program.boluses.0.duration_minutes", "program.boluses[0].duration_minutes"),
        ("program.one_time_boluses.0.dose_mcg", "program.one_time_boluses[0].dose_mcg"),
    ],
)
def test_non_numeric_nested_value(path, name, value):
    err = error_of(edited(path, value))
    assert name in err
    assert "number" in err


@pytest.mark.parametrize("field", ["reservoir_ml", "low_reservoir_alarm_ml", "empty_ml"])
def test_volume_above_capacity(field):
    err = error_of(case(**{field: 20.5}))
    assert field in err
    assert "reservoir_capacity_ml" in err


def test_reservoir_equal_to_capacity_is_fine():
    assert "error" not in answer(case(reservoir_ml=20))


def test_concentration_zero():
    assert "concentration_mcg_per_ml" in error_of(case(concentration_mcg_per_ml=0))


def test_capacity_zero():
    assert "reservoir_capacity_ml" in error_of(case(reservoir_capacity_ml=0, reservoir_ml=0, low_reservoir_alarm_ml=0))


def test_steps_out_of_order():
    steps = [
        {"start": "00:00", "rate_mcg_per_day": 1},
        {"start": "09:00", "rate_mcg_per_day": 2},
        {"start": "08:00", "rate_mcg_per_day": 3},
    ]
    err = error_of(edited("program.steps", steps))
    assert "program.steps[2].start" in err


def test_steps_with_the_same_start():
    steps = [{"start": "00:00", "rate_mcg_per_day": 1}, {"start": "00:00", "rate_mcg_per_day": 2}]
    assert "program.steps[1].start" in error_of(edited("program.steps", steps))


def test_steps_not_starting_at_midnight():
    err = error_of(edited("program.steps.0.start", "00:30"))
    assert "program.steps[0].start" in err
    assert "00:00" in err


def test_steps_empty():
    assert "program.steps" in error_of(edited("program.steps", []))


@pytest.mark.parametrize("value", ["24:00", "7:00", "07:00:00", "noon", 420, "07:60"])
def test_step_start_not_a_time_of_day(value):
    assert "program.steps[1].start" in error_of(edited("program.steps.1.start", value))


@pytest.mark.parametrize("value", ["24:00", "12", 720])
def test_bolus_start_not_a_time_of_day(value):
    assert "program.boluses[0].start" in error_of(edited("program.boluses.0.start", value))


@pytest.mark.parametrize("value", [[], ["00:00"], {"h": 0}], ids=["empty-list", "list", "object"])
@pytest.mark.parametrize(
    "path, name",
    [("program.steps.0.start", "program.steps[0].start"), ("program.boluses.0.start", "program.boluses[0].start")],
)
def test_unhashable_start_is_refused(path, name, value):
    assert f"{name}:" in error_of(edited(path, value))


@pytest.mark.parametrize("duration", [0, 1441, 0.5])
def test_bolus_duration_out_of_range(duration):
    err = error_of(edited("program.boluses.0.duration_minutes", duration))
    assert "program.boluses[0].duration_minutes" in err


@pytest.mark.parametrize("duration", [0, 1441])
def test_one_time_bolus_duration_out_of_range(duration):
    err = error_of(edited("program.one_time_boluses.0.duration_minutes", duration))
    assert "program.one_time_boluses[0].duration_minutes" in err


def test_one_time_bolus_unknown_kind():
    err = error_of(edited("program.one_time_boluses.0.kind", "mega"))
    assert "program.one_time_boluses[0].kind" in err


@pytest.mark.parametrize("kind", ["single", "bridge", "priming"])
def test_one_time_bolus_known_kinds(kind):
    assert "error" not in answer(edited("program.one_time_boluses.0.kind", kind))


BAD_DATES = [
    "2026-W09-1T09:30:00",  # an ISO week date: datetime.fromisoformat alone reads it
    "2026-060T09:30:00",  # an ISO ordinal date
    "2026-03-01T09:30:0Z",
    "２０２６-03-01T09:30",  # digits that are not ASCII
    "2026-02-30T09:30:00",
    "2026-03-01T25:00:00",
    "2026-03-01 09:30:00",
    "01/03/2026 09:30",
    "2026-03-01",
    "2026-03-01T09:30:00.5",
    "yesterday",
    "",
    20260301,
]


@pytest.mark.parametrize("value", BAD_DATES)
def test_date_that_does_not_parse(value):
    err = error_of(case(at=value))
    assert err.startswith("at:")


@pytest.mark.parametrize("value", BAD_DATES)
def test_one_time_bolus_date_that_does_not_parse(value):
    assert "program.one_time_boluses[0].at" in error_of(edited("program.one_time_boluses.0.at", value))


OFFSETS = ["2026-03-01T09:30:00+01:00", "2026-03-01T09:30:00Z", "2026-03-01T09:30:00-05:00"]
SHORT_OFFSETS = ["2026-03-01T09:30+01", "2026-03-01T09:30-05", "2026-03-01T09+01:00"]
# 19 characters like "2026-03-01T09:30:00": datetime.fromisoformat reads these with an offset
# (regression: they were accepted, and a one-time bolus at one raised TypeError).


@pytest.mark.parametrize("value", OFFSETS)
def test_date_with_an_offset(value):
    assert error_of(case(at=value)).startswith("at:")


@pytest.mark.parametrize("value", OFFSETS)
def test_one_time_bolus_date_with_an_offset(value):
    assert "program.one_time_boluses[0].at" in error_of(edited("program.one_time_boluses.0.at", value))


@pytest.mark.parametrize("value", SHORT_OFFSETS)
def test_date_with_a_short_offset(value):
    assert error_of(case(at=value)).startswith("at:")


@pytest.mark.parametrize("value", SHORT_OFFSETS)
def test_one_time_bolus_date_with_a_short_offset(value):
    assert "program.one_time_boluses[0].at" in error_of(edited("program.one_time_boluses.0.at", value))


@pytest.mark.parametrize(
    "path, name",
    [
        ("colour", "colour"),
        ("program.rate", "program.rate"),
        ("program.steps.0.rate", "program.steps[0].rate"),
        ("program.steps.1.note", "program.steps[1].note"),
        ("program.boluses.0.rate", "program.boluses[0].rate"),
        ("program.one_time_boluses.0.note", "program.one_time_boluses[0].note"),
    ],
)
def test_unknown_field(path, name):
    err = error_of(edited(path, 1))
    assert name in err
    assert "unknown field" in err


@pytest.mark.parametrize(
    "path, value, name",
    [
        ("program", [], "program"),
        ("program.steps", {"start": "00:00"}, "program.steps"),
        ("program.steps.0", "00:00", "program.steps[0]"),
        ("program.boluses", "none", "program.boluses"),
        ("program.boluses.0", 40, "program.boluses[0]"),
        ("program.one_time_boluses.0", [], "program.one_time_boluses[0]"),
    ],
)
def test_wrong_json_type(path, value, name):
    assert name in error_of(edited(path, value))


@pytest.mark.parametrize("obj", [[BASE], "case", 42, None])
def test_case_that_is_not_an_object(obj):
    out = answer(obj)
    assert out["id"] is None
    assert "case" in out["error"]


def test_several_violations_are_all_reported():
    bad = case(
        reservoir_ml=-1,
        concentration_mcg_per_ml=0,
        low_reservoir_alarm_ml="two",
        colour="red",
    )
    del bad["at"]
    bad["program"]["steps"][0]["start"] = "01:00"
    bad["program"]["boluses"][0]["duration_minutes"] = 0
    bad["program"]["one_time_boluses"][0]["at"] = "soon"
    err = error_of(bad)
    for name in (
        "at",
        "reservoir_ml",
        "concentration_mcg_per_ml",
        "low_reservoir_alarm_ml",
        "colour",
        "program.steps[0].start",
        "program.boluses[0].duration_minutes",
        "program.one_time_boluses[0].at",
    ):
        assert f"{name}:" in err, name
    assert len(err.split("; ")) == 8


def test_violations_inside_program_are_all_reported():
    steps = [
        {"start": "00:00", "rate_mcg_per_day": -1},
        {"start": "06:00", "rate_mcg_per_day": "x"},
        {"start": "05:00", "rate_mcg_per_day": 1, "extra": 0},
    ]
    err = error_of(edited("program.steps", steps))
    for name in (
        "program.steps[0].rate_mcg_per_day",
        "program.steps[1].rate_mcg_per_day",
        "program.steps[2].start",
        "program.steps[2].extra",
    ):
        assert name in err, name


# -- id, defaults, edge answers ----------------------------------------------------------


@pytest.mark.parametrize("value", ["p-0042", 17, 2.5, ""])
def test_id_is_echoed(value):
    assert answer(case(id=value))["id"] == value


@pytest.mark.parametrize("value", ["p-0042", 17])
def test_id_is_echoed_on_errors(value):
    assert answer(case(id=value, reservoir_ml=-1))["id"] == value


def test_id_is_optional():
    c = case()
    del c["id"]
    out = answer(c)
    assert "error" not in out
    assert out.get("id") is None


def test_empty_ml_defaults_to_zero():
    without = case()
    del without["empty_ml"]
    a, b = answer(without), answer(case(empty_ml=0))
    assert a == b
    assert a["empty_at"] is not None


def test_empty_ml_raises_the_empty_level():
    a, b = answer(case(empty_ml=0)), answer(case(empty_ml=1))
    assert b["empty_at"] < a["empty_at"]
    assert b["low_reservoir_alarm_at"] == a["low_reservoir_alarm_at"]


def test_already_at_the_alarm_returns_at():
    out = answer(case(reservoir_ml=2.0))
    assert out["low_reservoir_alarm_at"] == "2026-03-01T09:30:00"
    assert out["empty_at"] > out["low_reservoir_alarm_at"]


def test_already_below_alarm_and_empty_returns_at():
    out = answer(case(reservoir_ml=0.5, empty_ml=1.0))
    assert out["low_reservoir_alarm_at"] == "2026-03-01T09:30:00"
    assert out["empty_at"] == "2026-03-01T09:30:00"


def test_empty_reservoir_returns_at_even_when_nothing_is_delivered():
    out = answer(case(reservoir_ml=0, program={"steps": [{"start": "00:00", "rate_mcg_per_day": 0}]}))
    assert out["low_reservoir_alarm_at"] == "2026-03-01T09:30:00"
    assert out["empty_at"] == "2026-03-01T09:30:00"


def test_rate_zero_returns_null():
    out = wire(case(program={"steps": [{"start": "00:00", "rate_mcg_per_day": 0}]}))
    assert out["daily_dose_mcg"] == 0
    assert out["daily_volume_ml"] == 0
    assert out["low_reservoir_alarm_at"] is None
    assert out["empty_at"] is None


def test_rate_zero_with_a_bolus_in_the_past_returns_null():
    program = {
        "steps": [{"start": "00:00", "rate_mcg_per_day": 0}],
        "one_time_boluses": [{"at": "2026-02-01T10:00:00", "dose_mcg": 75, "duration_minutes": 10}],
    }
    out = answer(case(program=program))
    assert out["low_reservoir_alarm_at"] is None
    assert out["empty_at"] is None


def test_one_time_bolus_running_at_at_delivers_only_its_remainder():
    # 1440 mcg over 1440 min (1 mcg/min) from 2026-03-01T00:00; at 09:30 there is 870 mcg left of it.
    program = {
        "steps": [{"start": "00:00", "rate_mcg_per_day": 0}],
        "one_time_boluses": [{"at": "2026-03-01T00:00:00", "dose_mcg": 1440, "duration_minutes": 1440}],
    }
    # 1000 mcg/mL: 0.5 mL above the alarm is 500 mcg, delivered by 09:30 + 500 min = 17:50.
    out = answer(case(program=program, concentration_mcg_per_ml=1000, reservoir_ml=2.5))
    assert out["low_reservoir_alarm_at"] == "2026-03-01T17:50:00"
    assert out["empty_at"] is None  # 2.5 mL is 2500 mcg, more than the 870 mcg left


def test_at_without_seconds_is_the_minute():
    assert answer(case(at="2026-03-01T09:30")) == answer(case(at="2026-03-01T09:30:00"))


def test_seconds_of_at_are_kept_and_results_truncated_to_the_second():
    # 1440 mcg/day at 1440 mcg/mL: 1 mL a day; 0.5 mL above the alarm takes 12 h exactly.
    c = case(
        at="2026-03-01T09:30:17",
        concentration_mcg_per_ml=1440,
        reservoir_ml=2.5,
        program={"steps": [{"start": "00:00", "rate_mcg_per_day": 1440}]},
    )
    out = answer(c)
    assert out["low_reservoir_alarm_at"] == "2026-03-01T21:30:17"
    assert out["empty_at"] == "2026-03-03T21:30:17"
    # 1/3 mL more takes 8 h: 1/3 mcg of 1440 mcg/mL is not a whole second; truncated.
    out = answer(
        case(
            at="2026-03-01T00:00:00",
            concentration_mcg_per_ml=1440,
            reservoir_ml=2.0 + 1 / 7,
            program={"steps": [{"start": "00:00", "rate_mcg_per_day": 1440}]},
        )
    )
    assert out["low_reservoir_alarm_at"] == "2026-03-01T03:25:42"  # 86400/7 = 12342.857 s


def test_integer_and_float_values_give_the_same_answer():
    a = answer(case(reservoir_capacity_ml=20, reservoir_ml=18, concentration_mcg_per_ml=500))
    b = answer(case(reservoir_capacity_ml=20.0, reservoir_ml=18.0, concentration_mcg_per_ml=500.0))
    assert a == b


def test_ten_year_horizon():
    # 1 mcg/day at 1000 mcg/mL: 3.652 mL above the alarm is 3652 days.
    c = case(
        at="2026-01-01T00:00:00",
        concentration_mcg_per_ml=1000,
        reservoir_ml=5.652,
        program={"steps": [{"start": "00:00", "rate_mcg_per_day": 1}]},
    )
    out = answer(c)
    assert abs((datetime.fromisoformat(out["low_reservoir_alarm_at"]) - datetime(2036, 1, 1)).total_seconds()) <= 1


# Regression: these used to raise OverflowError / ValueError (a traceback in the command).


def test_crossing_after_year_9999_is_null():
    # 0.001 mcg/day: 18.5 mL at 500 mcg/mL lasts 9.25 million days.
    out = answer(case(program={"steps": [{"start": "00:00", "rate_mcg_per_day": 0.001}]}))
    assert set(out) == OUTPUT_FIELDS
    assert out["low_reservoir_alarm_at"] is None
    assert out["empty_at"] is None


def test_at_on_the_last_day_of_the_calendar():
    out = answer(case(at="9999-12-31T23:59:00"))
    assert set(out) == OUTPUT_FIELDS
    assert out["empty_at"] is None
    out = answer(case(at="9999-12-31T23:59:00", reservoir_ml=2.0))
    assert out["low_reservoir_alarm_at"] == "9999-12-31T23:59:00"


@pytest.mark.parametrize(
    "changes, name",
    [
        ({"reservoir_capacity_ml": 1e308, "reservoir_ml": 1e308}, "reservoir_capacity_ml"),
        ({"concentration_mcg_per_ml": 1e308}, "concentration_mcg_per_ml"),
        ({"program": {"steps": [{"start": "00:00", "rate_mcg_per_day": 1e308}]}}, "program.steps[0].rate_mcg_per_day"),
        (
            {
                "program": {
                    "steps": [{"start": "00:00", "rate_mcg_per_day": 1}],
                    "boluses": [{"start": "00:00", "dose_mcg": 1e300, "duration_minutes": 1}],
                }
            },
            "program.boluses[0].dose_mcg",
        ),
    ],
    ids=["huge-volume", "huge-concentration", "huge-rate", "huge-dose"],
)
def test_numbers_too_large_to_be_physical_are_refused(changes, name):
    assert name in error_of(case(**changes))


def test_crossing_just_before_a_pause_is_not_reported_after_it():
    # Regression: in floats (18.3 - 2.2) * 500 = 8050.000000000001, not 8050 = 161 boluses of 50 mcg;
    # the crossing at the end of the 161st bolus was reported at the start of the next, 23 h late.
    c = case(
        at="2026-03-01T08:00:00",
        reservoir_ml=18.3,
        low_reservoir_alarm_ml=2.2,
        program={
            "steps": [{"start": "00:00", "rate_mcg_per_day": 0}],
            "boluses": [{"start": "12:00", "dose_mcg": 50, "duration_minutes": 60}],
        },
    )
    out = answer(c)
    alarm = datetime.fromisoformat(out["low_reservoir_alarm_at"])
    assert abs((alarm - datetime(2026, 8, 8, 13, 0)).total_seconds()) <= 1


def test_crossing_just_before_a_pause_with_exact_floats():
    # Same program, an amount that floats hold exactly (18.5 - 2.5 = 16 mL = 8000 mcg = 160 boluses).
    c = case(
        at="2026-03-01T08:00:00",
        reservoir_ml=18.5,
        low_reservoir_alarm_ml=2.5,
        program={
            "steps": [{"start": "00:00", "rate_mcg_per_day": 0}],
            "boluses": [{"start": "12:00", "dose_mcg": 50, "duration_minutes": 60}],
        },
    )
    assert answer(c)["low_reservoir_alarm_at"] == "2026-08-07T13:00:00"


# -- the batch path: many cases in one call ----------------------------------------------


def test_batch_answers_each_case_as_alone():
    from itb.contracts.forecast import answer_many

    odd_step = case()
    odd_step["program"]["steps"][0]["colour"] = "red"  # an unknown key inside an item
    long_program = case(
        program={
            "steps": [{"start": f"{h:02d}:{m:02d}", "rate_mcg_per_day": 100 + h} for h in range(24) for m in (0, 30)]
        }
    )
    null_kind = edited("program.one_time_boluses.0.kind", None)
    batch = [case(id=1), odd_step, long_program, null_kind, case(id=5, empty_ml=None), "not an object"]
    got = answer_many(batch)
    assert got == [answer(obj) for obj in batch]
    assert "error" not in got[0] and "error" not in got[2] and "error" not in got[4]
    assert got[1]["error"].startswith("program.steps[0].colour: unknown field")
    assert "program.one_time_boluses[0].kind: must be one of" in got[3]["error"]
    assert got[5] == {"id": None, "error": "case: must be a JSON object"}


# -- the streamed batch: byte for byte what answering each case alone gives ---------------


def generated_case(rng: random.Random, i: int) -> dict:
    """A random valid case: 1-30 steps, 0-3 daily boluses, sometimes one-time boluses."""
    starts = [0, *sorted(rng.sample(range(1, 1440), rng.randint(0, 29)))]
    program: dict = {
        "steps": [
            {"start": f"{s // 60:02d}:{s % 60:02d}", "rate_mcg_per_day": rng.choice([0, 35, 412.5])} for s in starts
        ]
    }
    if rng.random() < 0.6:
        program["boluses"] = [
            {
                "start": f"{rng.randrange(24):02d}:{rng.randrange(60):02d}",
                "dose_mcg": rng.randint(0, 90),
                "duration_minutes": rng.randint(1, 1440),
            }
            for _ in range(rng.randint(0, 3))
        ]
    if rng.random() < 0.3:
        program["one_time_boluses"] = [
            {
                "at": f"2026-03-{rng.randint(1, 28):02d}T{rng.randrange(24):02d}:15:00",
                "dose_mcg": rng.randint(1, 200),
                "duration_minutes": rng.randint(1, 60),
                **({"kind": "bridge"} if rng.random() < 0.5 else {}),
            }
        ]
    obj = {
        "id": rng.choice([f"p-{i}", i, None, 1.5, True]),
        "at": f"2026-03-{rng.randint(1, 28):02d}T{rng.randrange(24):02d}:{rng.randrange(60):02d}"
        + rng.choice(["", f":{rng.randrange(60):02d}"]),
        "reservoir_capacity_ml": rng.choice([20, 40]),
        "reservoir_ml": rng.choice([0, 1.5, 2.0, 11.25, 20]),
        "concentration_mcg_per_ml": rng.choice([500, 2000]),
        "low_reservoir_alarm_ml": rng.choice([2.0, 3]),
        "program": program,
    }
    if rng.random() < 0.3:
        obj["empty_ml"] = rng.choice([0, 0.5, None])
    return obj


BREAKS = [
    ("reservoir_ml", -1),
    ("reservoir_ml", 99),
    ("concentration_mcg_per_ml", 0),
    ("at", "2026-02-30T00:00:00"),
    ("at", "2026-03-01T09:30:00+01:00"),
    ("low_reservoir_alarm_ml", "2"),
    ("colour", "red"),
    ("id", [1]),
    ("program", []),
    ("empty_ml", True),
    ("reservoir_capacity_ml", None),
]


def generated_line(rng: random.Random, i: int) -> bytes:
    """A line of a mixed batch: mostly valid cases, some broken in one of many ways."""
    roll = rng.random()
    if roll < 0.02:
        return rng.choice([b"", b"   ", b"{not json", b"[1, 2]", b"null", b'"text"'])
    obj = generated_case(rng, i)
    if roll < 0.15:
        key, value = rng.choice(BREAKS)
        obj[key] = value
    elif roll < 0.2:
        steps = obj["program"]["steps"]
        rng.choice([lambda: steps.reverse(), lambda: steps[0].update(start="00:01"), lambda: steps.append({})])()
    return orjson.dumps(obj)


def per_case_output(lines: list[bytes]) -> bytes:
    """What the contract asks for, line by line: each case answered alone, blank lines skipped."""
    out = []
    for number, line in enumerate(lines, 1):
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            if line.strip():
                out.append(orjson.dumps({"id": None, "error": f"line {number}: not valid JSON ({exc})"}) + b"\n")
            continue
        out.append(orjson.dumps(answer(obj)) + b"\n")
    return b"".join(out)


def test_streamed_batch_is_byte_identical_to_answering_each_case_alone(tmp_path, monkeypatch):
    import itb.shell.batch as batch
    import itb.shell.batch_lines as batch_lines
    from itb.contracts.forecast import answer_many

    rng = random.Random(16)
    lines = [generated_line(rng, i) for i in range(3_000)]
    data = b"\n".join(lines)  # no newline after the last line
    want = per_case_output(lines)
    assert 150 < want.count(b'"error"') < 750  # a real mix of valid and invalid lines
    path = tmp_path / "cases.jsonl"
    path.write_bytes(data)
    with open(path, "rb") as source:  # the command's path: a file streamed to a sink
        sink = io.BytesIO()
        batch.answer_stream(source, sink, answer_many, workers=2)
    assert sink.getvalue() == want
    assert batch.answer_batch(data, answer_many, workers=1) == want
    monkeypatch.setattr(batch, "CHUNK_BYTES", 50_000)  # many chunks, a few hundred lines each
    monkeypatch.setattr(batch_lines, "CHUNK_LINES", 97)
    for workers in (1, 3):
        assert batch.answer_batch(data, answer_many, workers=workers) == want
        with open(path, "rb") as source:  # the workers read their pieces of the file themselves
            sink = io.BytesIO()
            batch.answer_stream(source, sink, answer_many, workers=workers)
        assert sink.getvalue() == want


def test_file_pieces_end_at_line_ends_and_cover_the_file_once(tmp_path):
    from itb.shell.batch import file_pieces

    rng = random.Random(7)
    data = b"".join(b"x" * rng.choice([0, 3, 40, 250]) + b"\n" for _ in range(400)) + b"tail without a line end"
    path = tmp_path / "lines.jsonl"
    path.write_bytes(data)
    with open(path, "rb") as source:
        pieces = list(file_pieces(source.fileno(), 100))  # some lines longer than a piece
    texts = [data[offset : offset + length] for offset, length, _ in pieces]
    assert b"".join(texts) == data  # one after another, the whole file once
    assert [offset for offset, _, _ in pieces] == [sum(map(len, texts[:k])) for k in range(len(texts))]
    assert all(text.endswith(b"\n") for text in texts[:-1]) and texts[-1] == b"tail without a line end"
    assert all(len(text) <= 2 * 100 or text.find(b"\n") >= 100 for text in texts)  # longer: a long line
    assert [lines for _, _, lines in pieces] == [text.count(b"\n") for text in texts]


@pytest.mark.parametrize("workers", [1, 2, 3, 4])
def test_a_file_comes_in_whole_rounds_of_pieces_for_the_workers(tmp_path, monkeypatch, workers):
    from itb.shell import batch

    monkeypatch.setattr(batch, "CHUNK_BYTES", 1000)
    rng = random.Random(workers)
    data = b"".join(b"x" * rng.randint(20, 60) + b"\n" for _ in range(rng.randint(300, 700)))
    path = tmp_path / "lines.jsonl"
    path.write_bytes(data)
    with open(path, "rb") as source:
        size = batch.even_pieces(source.fileno(), workers)
        pieces = list(batch.file_pieces(source.fileno(), size))
    lengths = [length for _, length, _ in pieces]
    assert sum(lengths) == len(data) and abs(size - 1000) < 1000 / 2
    assert len(pieces) % workers == 0  # each worker as many pieces as the others
    assert max(lengths) - min(lengths) <= 2 * 61  # as even as whole lines let them be (two at most)


def test_a_piece_beyond_the_end_of_a_shrunk_file_fails_the_batch(tmp_path):
    from itb.shell import batch

    path = tmp_path / "lines.jsonl"
    path.write_bytes(b"{}\n" * 10)
    with open(path, "rb") as source:
        pieces = list(batch.file_pieces(source.fileno(), 12))
        os.truncate(path, 15)  # the file shrinks after its pieces were found
        with pytest.raises(batch.BatchFailed, match="changed while it was being read"):
            for offset, length, _ in pieces:
                batch._read_at(source.fileno(), offset, length)


def test_a_batch_that_fails_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys):
    from itb.cli import forecast_run
    from itb.shell import batch

    def dies(*args, **kwargs):
        raise batch.BatchFailed("a worker process failed")

    monkeypatch.setattr(batch, "answer_stream", dies)
    path = tmp_path / "cases.jsonl"
    path.write_bytes(b"{}\n")
    with pytest.raises(SystemExit) as exit_:
        forecast_run.main_forecast(None, str(path), False)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "a worker process failed" in err and "not the whole batch" in err


# -- the typed path on raw lines: the same bytes as decoding each line and answering it ------


def typed_output(lines: list[bytes]) -> list[bytes | None]:
    """Each line's answer as the batch writes it when the typed path vouches for the line."""
    from itb.contracts.forecast import answer_lines

    return [None if got is None else orjson.dumps(got) for got in answer_lines(lines)]


def alone(line: bytes) -> bytes:
    return orjson.dumps(answer(orjson.loads(line)))


def test_typed_path_answers_the_worked_examples_as_alone():
    lines = (EXAMPLES / "forecast.jsonl").read_bytes().splitlines()
    lines = [line for line in lines if line.strip()]
    got = typed_output(lines)
    assert sum(g is not None for g in got) >= len(lines) // 2  # the path really answers most of them
    for line, have in zip(lines, got):
        if have is not None:
            assert have == alone(line)


def test_typed_path_answers_random_lines_as_alone_and_leaves_the_others():
    rng = random.Random(1616)
    lines = [generated_line(rng, i) for i in range(3_000)]
    lines = [line for line in lines if line.strip()]
    got = typed_output(lines)
    answered = [(line, have) for line, have in zip(lines, got) if have is not None]
    assert len(answered) > len(lines) // 4  # string ids, valid: a good share of the mix
    assert all(have == alone(line) for line, have in answered)
    assert all(b'"error"' not in have for _, have in answered)  # errors are the precise path's


@pytest.mark.parametrize(
    "text",
    [
        '{"id":"a\\u00e9","at":"2026-03-01T09:30:00"}',  # an escape: the whole chunk is left
        '{"id":"\u00e9t\u00e9","at":"2026-03-01T09:30:00"}',  # non-ASCII: likewise
        '{"id":12345678901234567890123,"at":"2026-03-01T09:30:00"}',  # an integer orjson reads as a float
        '{"id":"x","at":"2026-02-30T00:00:00"}',  # a date in form that does not exist
        '{"id":"x","at":"2026-03-01T09:30:00","reservoir_ml":-0}',
        '{"id":"x","at":"2026-03-01T09:30:00","reservoir_ml":1e400}',
        '{"id":"x","at":"2026-03-01T09:30:00","reservoir_ml":18.5,"reservoir_ml":19}',  # the last one counts
        '{"id":"x","at":"2026-03-01T09:30:00","program":{"steps":[]}}',
    ],
)
def test_typed_path_on_odd_text_answers_as_alone_or_leaves_the_line(text):
    good = orjson.loads(orjson.dumps(case(id="good")))
    raw = text.encode()
    # The odd fields spliced into a full valid case, keeping the odd text byte for byte.
    body = orjson.dumps({k: v for k, v in good.items() if k not in json.loads(raw)})
    line = raw[:-1] + b"," + body[1:]
    lines = [orjson.dumps(good), line, orjson.dumps(good)]
    for one, have in zip(lines, typed_output(lines)):
        try:
            want = alone(one)
        except orjson.JSONDecodeError:  # the batch answers "not valid JSON": the typed path must leave it
            assert have is None
            continue
        assert have is None or have == want


@pytest.mark.parametrize(
    "id_text",
    ['"a\\u00e9"', '"\u00e9t\u00e9"', '"a,b"', '"\\",\\""', "7"],  # an escape, non-ASCII, commas, a number
)
def test_a_piece_of_the_input_is_answered_line_by_line_as_alone(id_text):
    from itb.contracts.forecast import answer_many
    from itb.shell.batch_lines import answer_piece

    good = orjson.dumps(case(id="good"))
    odd = orjson.dumps(case(id="x")).replace(b'"x"', id_text.encode())
    lines = [good, odd, good]
    piece = b"\n".join(lines) + b"\n"
    assert answer_piece(piece, answer_many, 1) == b"".join(alone(line) + b"\n" for line in lines)


GOOD_LINE = orjson.dumps(case(id="good"))


@pytest.mark.parametrize(
    "odd",
    [
        GOOD_LINE + b" " + GOOD_LINE,  # two objects on one line: not valid JSON, as a line
        GOOD_LINE + GOOD_LINE,
        GOOD_LINE[:40] + b"\n" + GOOD_LINE[40:],  # one object over two lines: two bad lines
        b"",  # a blank line
        b"   ",
        orjson.dumps(case(id="neg", reservoir_ml=-1)),  # a broken rule: its error among answers
        b"{not json",
        b"[1, 2]",
        GOOD_LINE + b"\r",
    ],
)
@pytest.mark.parametrize("last_newline", [True, False])
def test_a_piece_read_as_one_stream_is_answered_as_line_by_line(odd, last_newline):
    from itb.contracts.forecast import answer_many
    from itb.shell.batch_lines import answer_lines, answer_piece

    piece = b"\n".join([GOOD_LINE, odd, GOOD_LINE, GOOD_LINE]) + (b"\n" if last_newline else b"")
    by_line = answer_lines(piece.split(b"\n"), answer_many, 1)
    assert answer_piece(piece, answer_many, 1) == by_line
    assert by_line.count(b"\n") == by_line.count(b'{"id":')  # one answer a line, none lost


def test_a_plain_piece_is_read_as_one_stream():
    from itb.contracts.forecast_typed import read_piece

    piece = b"\n".join([GOOD_LINE, orjson.dumps(case(id="neg", reservoir_ml=-1)), GOOD_LINE]) + b"\n"
    rows, columns = read_piece(piece)  # type: ignore[misc]
    assert rows == [0, 2] and columns.ids == ["good", "good"]
    assert read_piece(GOOD_LINE + b"\n" + GOOD_LINE + b"\n") is not None
    assert read_piece(GOOD_LINE + b"\n")[0] is None  # type: ignore[index]  # every line vouched for


def test_json_lines_writes_each_answer_as_alone():
    from itb.shell.batch_lines import _json_lines

    answers = [
        {"id": "p-1", "daily_dose_mcg": 336.0, "daily_volume_ml": 0.672, "low_reservoir_alarm_at": None},
        {"id": '},{"id":', "error": 'reservoir_ml: "},{"id": x'},  # the cut's text inside strings
        {"id": None, "error": "line 3: not valid JSON"},
        {"id": 1.5, "daily_dose_mcg": 1e16},
    ]
    want = b"".join(orjson.dumps(a) + b"\n" for a in answers)
    assert _json_lines(answers) == want
    assert _json_lines([{"x": [{"id": 1}, {"id": 2}]}, {"id": 3}]) == b'{"x":[{"id":1},{"id":2}]}\n{"id":3}\n'
    assert _json_lines([]) == b""


# -- the typed path's readers and writers: the same values as the per-value rules ------------


@pytest.mark.parametrize(
    "starts",
    [
        ["00:00", "07:30", "23:59"],
        ["00:00", "24:00", "12:60", "1a:00", "7:00", "00:00 ", ""],
        ["12:3", "456:78"],  # joined, five characters each way: the lengths must still be checked
        ["00|00", "12:00"],
        [],
    ],
)
def test_step_starts_read_from_bytes_as_looked_up(starts):
    import numpy as np

    from itb.contracts.forecast_typed import Step, _minutes_of
    from itb.contracts.jsonfields import parse_hhmm

    got = _minutes_of([Step(start, 1.0) for start in starts])
    want = [parse_hhmm(s) for s in starts]
    assert [None if np.isnan(g) else int(g) for g in got] == [None if w < 0 else w for w in want]


def decoded_steps(texts: list[bytes]) -> list[list[tuple[float, float]] | None]:
    """Each text's steps as msgspec decodes them, the start as the per-value rule reads it
    (NaN: not a time of day); None where the text is not a list of steps."""
    import msgspec

    from itb.contracts.forecast_typed import Step
    from itb.contracts.jsonfields import parse_hhmm

    out: list[list[tuple[float, float]] | None] = []
    for text in texts:
        try:
            steps = msgspec.json.decode(text, type=list[Step])
        except (msgspec.DecodeError, msgspec.ValidationError):
            out.append(None)
            continue
        minutes = [parse_hhmm(step.start) for step in steps]
        out.append([(float(m) if m >= 0 else math.nan, step.rate_mcg_per_day) for m, step in zip(minutes, steps)])
    return out


def step_columns_as_lists(texts: list[bytes]) -> list[list[tuple[float, float]] | None]:
    from itb.contracts.forecast_typed import STEP_LAYOUT, _decode_steps, _item_columns

    count, (minutes, rates), bad = _item_columns(texts, STEP_LAYOUT, _decode_steps)
    out: list[list[tuple[float, float]] | None] = []
    first = 0
    for n, refused in zip(count.tolist(), bad.tolist()):
        pairs = list(zip(minutes[first : first + n].tolist(), rates[first : first + n].tolist()))
        out.append(None if refused else pairs)
        first += n
    return out


def same_steps(a: list, b: list) -> bool:
    """Equal, NaN equal to NaN, each rate to the bit (0.1 + 0.2 is not 0.3)."""
    return orjson.dumps(a) == orjson.dumps(b)


def random_rate_text(rng: random.Random) -> str:
    whole = rng.choice([0, 1, 7, 10, 99, 604, 1200, 99999, 123456789012345, 10**15 - 1])
    form = rng.randrange(4)
    if form == 0:
        return str(whole)
    if form == 1:
        return repr(round(rng.uniform(0, 2000), rng.randint(1, 6)))
    if form == 2:
        return f"{rng.randint(0, 9999)}.{rng.randint(0, 10 ** rng.randint(1, 10)):0{rng.randint(1, 10)}d}"
    return repr(rng.random() * 10 ** rng.randint(-3, 5))  # up to 17 digits, exponents too


def plain_rate(text: bytes) -> bool:
    """A rate the texts' own reader takes: up to 15 digits, a point at most, no exponent."""
    return bool(re.fullmatch(rb"\d+(\.\d+)?", text)) and len(text.replace(b".", b"")) <= 15


def test_step_texts_read_from_bytes_as_decoded():
    from itb.contracts.forecast_typed import STEP_LAYOUT
    from itb.contracts.item_text import read_items

    rng = random.Random(2024)
    read_from_text = 0
    for _ in range(60):
        texts = []
        for _ in range(rng.randint(1, 40)):
            starts = sorted(rng.sample(range(1440), rng.randint(1, 24)))
            steps = ",".join(
                f'{{"start":"{m // 60:02d}:{m % 60:02d}","rate_mcg_per_day":{random_rate_text(rng)}}}' for m in starts
            )
            texts.append(f"[{steps}]".encode())
        want = decoded_steps(texts)
        assert same_steps(step_columns_as_lists(texts), want)
        # The texts' own reader answers the plain ones (not only the decoder behind it).
        plain = [t for t in texts if all(plain_rate(r) for r in re.findall(rb'_per_day":([^}]*)}', t))]
        if plain:
            assert read_items(plain, STEP_LAYOUT) is not None
            read_from_text += 1
    assert read_from_text > 10


ODD_STEPS = [
    b"[]",
    b"null",
    b'[{"rate_mcg_per_day":1,"start":"00:00"}]',  # another order
    b'[{"start":"00:00", "rate_mcg_per_day":1}]',  # a space
    b'[{"start":"00:00","rate_mcg_per_day":1,"x":2}]',  # an unknown field
    b'[{"start":"00:00","rate_mcg_per_day":"1"}]',
    b'[{"start":"00:00","rate_mcg_per_day":-1}]',
    b'[{"start":"00:00","rate_mcg_per_day":-0.0}]',
    b'[{"start":"00:00","rate_mcg_per_day":1e3}]',
    b'[{"start":"00:00","rate_mcg_per_day":1E-3}]',
    b'[{"start":"00:00","rate_mcg_per_day":0.1000000000000001}]',  # 16 digits
    b'[{"start":"00:00","rate_mcg_per_day":1234567890123456}]',
    b'[{"start":"00:00","rate_mcg_per_day":123456789012345}]',  # 15 digits: read from the text
    b'[{"start":"00:00","rate_mcg_per_day":0.5},{"start":"24:00","rate_mcg_per_day":1}]',
    b'[{"start":"00:00","rate_mcg_per_day":0},{"start":"12:60","rate_mcg_per_day":1}]',
    b'[{"start":"0:00","rate_mcg_per_day":1}]',
    b'[{"start":"00:00","rate_mcg_per_day":1}][{"start":"00:00","rate_mcg_per_day":1}]',  # two in one
    b'[{"start":"00:00","rate_mcg_per_day":1},]',
    b'[{"start":"00:00","rate_mcg_per_day":1}',
]


@pytest.mark.parametrize("odd", ODD_STEPS)
def test_odd_step_texts_are_read_as_decoded(odd):
    good = b'[{"start":"00:00","rate_mcg_per_day":604.6},{"start":"07:30","rate_mcg_per_day":0}]'
    texts = [good, odd, good]
    assert same_steps(step_columns_as_lists(texts), decoded_steps(texts))


@pytest.mark.parametrize("rate", [b"05", b"5.", b".5", b"0.", b"00", b"1.2.3", b"1..2"])
def test_rates_that_are_not_json_numbers_are_left_to_the_decoder(rate):
    from itb.contracts.forecast_typed import STEP_LAYOUT
    from itb.contracts.item_text import read_items

    text = b'[{"start":"00:00","rate_mcg_per_day":' + rate + b"}]"
    assert read_items([text], STEP_LAYOUT) is None


def test_instants_read_from_bytes_as_the_date_parser_reads_them():
    from itb.contracts.forecast_typed import _instants
    from itb.contracts.jsonfields import parse_local_datetime

    rng = random.Random(7)
    texts = ["0001-01-01T00:00:00", "9999-12-31T23:59:59", "2024-02-29T12:00:00", "1969-12-31T23:59:59"]
    for _ in range(5000):
        y = rng.choice([rng.randint(1, 9999), 0, 1900, 2000, 2100, 2024])
        m, d = rng.choice([rng.randint(1, 12), 0, 2, 13]), rng.choice([rng.randint(1, 28), 29, 30, 31, 0, 32])
        h, mi, s = rng.choice([rng.randint(0, 23), 24]), rng.choice([0, 59, 60]), rng.choice([0, 59, 60])
        texts.append(f"{y:04d}-{m:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}")
    valid = [text for text in texts if parse_local_datetime(text) is not None]
    # Texts of other lengths or forms: read by the column reader's own parser (as before).
    for batch in (texts, [*valid, "2026-01-01T00:00"], ["2026-01-01 00:00:00", *valid[:3]]):
        seconds, bad = _instants(batch)
        for text, got, refused in zip(batch, seconds.tolist(), bad.tolist()):
            parsed = parse_local_datetime(text)
            assert refused == (parsed is None), text
            if parsed is not None:
                assert got == (parsed - datetime(1970, 1, 1)).total_seconds(), text


def test_instants_as_json_are_what_orjson_writes_of_their_text():
    import numpy as np

    from itb.domain.forecast_arrays import CaseArrays, ForecastArrays

    rng = np.random.default_rng(9)
    first, last = -62135596800, 253402300799  # 0001-01-01T00:00:00 and 9999-12-31T23:59:59
    day0 = rng.integers(first // 86400, last // 86400, 5000) * 86400
    day0[:2] = first, last - last % 86400
    offset = rng.integers(0, 86400, 5000).astype(np.float64)
    offset[1] = 86399
    offset[rng.random(5000) < 0.05] = np.nan
    cases = CaseArrays(day0, *([None] * 16))  # type: ignore[arg-type]
    result = ForecastArrays(None, None, offset, offset, None, None)  # type: ignore[arg-type]
    assert result.iso_json(cases, "empty") == [orjson.dumps(v) for v in result.iso(cases, "empty")]


def test_answers_as_json_lines_are_the_answers_dumped():
    from itb.contracts.forecast import answer_lines, answer_lines_json

    rng = random.Random(1717)
    lines = [generated_line(rng, i) for i in range(2_000)]
    lines = [line for line in lines if line.strip()]
    rows, text = answer_lines_json(lines)
    objects = answer_lines(lines)
    assert rows == [row for row, got in enumerate(objects) if got is not None]
    assert text == b"".join(orjson.dumps(objects[row]) + b"\n" for row in rows)
    assert answer_lines_json([]) == ([], b"")


def test_padded_rows_are_each_column_padded_alone():
    import numpy as np

    from itb.domain.forecast_arrays import padded, padded_rows

    rng = np.random.default_rng(5)
    for n in (0, 1, 7, 300):
        for counts in (rng.integers(0, 6, n), np.zeros(n, dtype=np.int64)):
            first, second = rng.random(int(counts.sum())), rng.random(int(counts.sum()))
            got = padded_rows([(first, 0.0), (second, 1.0)], counts)
            want = [padded(first, counts, 0.0), padded(second, counts, 1.0)]
            assert [(g.shape, g.tobytes()) for g in got] == [(w.shape, w.tobytes()) for w in want]
