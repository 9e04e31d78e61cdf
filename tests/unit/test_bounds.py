"""The bounds on every input (``itb.contracts.bounds``): each rule, its edges, and the field named."""

from __future__ import annotations

import re
from datetime import date, datetime

import pytest

from itb.contracts import bounds
from itb.domain.errors import InvalidInput, Violation
from itb.domain.program import DosingProgram, OneTimeBolus, Step

TODAY = date(2026, 11, 23)


def test_a_text_keeps_its_length_and_has_no_control_character():
    assert bounds.text_violation("name", "Ana B", max_length=200) is None
    assert bounds.text_violation("name", None, max_length=200) is None
    assert bounds.text_violation("name", "", max_length=200, required=True).rule == "is required"
    long = bounds.text_violation("name", "x" * 201, max_length=200)
    assert long.field == "name" and long.rule == "must be at most 200 characters, got 201"
    for bad in ("a\x00b", "a\x1bb", "a\x7fb", "a\x85b", "a\ud800b", "line\nbreak", "tab\there"):
        found = bounds.text_violation("name", bad, max_length=200)
        assert found is not None and "control characters" in found.rule, repr(bad)
    assert bounds.text_violation("name", 5, max_length=200).rule == "must be text"
    assert bounds.text_violation("name", "Zoë\u00a0Müller 👩‍👧", max_length=200) is None  # NBSP and a joined emoji


def test_a_note_may_have_line_breaks_and_tabs_but_never_nul():
    assert bounds.text_violation("note", "first\r\nsecond\tthird", max_length=2000, multiline=True) is None
    for bad in ("a\x00b", "a\x0bb", "a\x0cb", "a\udfffb"):
        assert bounds.text_violation("note", bad, max_length=2000, multiline=True) is not None, repr(bad)


@pytest.mark.parametrize(
    ("pattern", "multiline"), [(bounds.ONE_LINE_PATTERN, False), (bounds.MULTI_LINE_PATTERN, True)]
)
def test_the_schema_patterns_say_what_the_rules_check(pattern: str, multiline: bool):
    """Each pattern the OpenAPI document states accepts exactly the characters the rule accepts
    (every code point of the Basic Multilingual Plane but the surrogates, which JSON in UTF-8 cannot carry)."""
    compiled = re.compile(pattern)
    for code in range(0x10000):
        if 0xD800 <= code <= 0xDFFF:
            continue
        text = f"a{chr(code)}b"
        by_rule = bounds.text_violation("t", text, max_length=3, multiline=multiline) is None
        assert bool(compiled.fullmatch(text)) == by_rule, hex(code)


def test_a_required_pattern_is_what_strip_leaves_and_padding_is_what_strip_takes():
    """The "says something" patterns agree with ``str.strip`` (not ECMA's ``\\s``), code point by code point."""
    line, note = re.compile(bounds.REQUIRED_LINE_PATTERN), re.compile(bounds.REQUIRED_NOTE_PATTERN)
    grade = re.compile(bounds.padded("0"))
    for code in range(0x10000):
        if 0xD800 <= code <= 0xDFFF:
            continue
        c = chr(code)
        clean = bounds.text_violation("t", c, max_length=1) is None
        assert bool(line.fullmatch(c)) == (clean and c.strip() != ""), hex(code)
        assert bool(note.fullmatch(f"\n{c}\t")) == (clean and c.strip() != ""), hex(code)
        assert bool(grade.fullmatch(f"{c}0{c}")) == (clean and f"{c}0{c}".strip() == "0"), hex(code)


def test_a_required_note_says_something():
    compiled = re.compile(bounds.REQUIRED_NOTE_PATTERN)
    assert compiled.fullmatch("called back: fine") and compiled.fullmatch("  ok\n")
    assert not compiled.fullmatch("   ") and not compiled.fullmatch("") and not compiled.fullmatch("ok\x00")


def test_an_id_is_a_whole_number_the_columns_hold():
    assert bounds.id_violation("pump_id", 1) is None and bounds.id_violation("pump_id", 2**31 - 1) is None
    for bad in (0, -1, 2**31, 2**63, 2**64, True, 1.0, "1"):
        found = bounds.id_violation("pump_id", bad)
        assert found is not None and found.field == "pump_id", bad
    assert bounds.id_violation("since", 0, minimum=0) is None
    with pytest.raises(InvalidInput, match=r"pump_id: must be a whole number from 1 to 2147483647"):
        bounds.check_id("pump_id", 2**63)


def test_the_acknowledged_codes_are_few_and_each_a_limits_code():
    assert bounds.code_violations("acknowledged", ["bolus_dose_high", "no_positive_screening"]) == []
    many = bounds.code_violations("acknowledged", ["x"] * 200_000)
    assert [str(v) for v in many] == ["acknowledged: must have at most 64 items, got 200000"]
    odd = bounds.code_violations("acknowledged", ["ok", "Not A Code", "", "x" * 65, 7])
    assert [v.field for v in odd] == ["acknowledged[1]", "acknowledged[2]", "acknowledged[3]", "acknowledged[4]"]


def test_a_program_has_at_most_48_steps_and_its_boluses_are_in_the_window():
    day = DosingProgram(tuple(Step(minute, 100.0) for minute in range(0, 1440, 30)))
    assert len(day.steps) == 48 and bounds.program_violations(day, TODAY) == []
    every_minute = DosingProgram(tuple(Step(minute, 100.0) for minute in range(1440)))
    assert [str(v) for v in bounds.program_violations(every_minute, TODAY)] == [
        "program.steps: must have at most 48 items, got 1440"
    ]
    old = OneTimeBolus(datetime(1900, 1, 1, 8, 0), 20.0, 30.0)
    found = bounds.program_violations(DosingProgram((Step(0, 100.0),), one_time_boluses=(old,)), TODAY)
    assert [v.field for v in found] == ["program.one_time_boluses[0].at"]
    assert "2006-11-23 to 2031-11-23" in found[0].rule


def test_a_birth_date_is_from_1900_to_today():
    assert bounds.birth_date_violation("birth_date", date(1900, 1, 1), TODAY) is None
    assert bounds.birth_date_violation("birth_date", TODAY, TODAY) is None
    for bad in (date(1, 1, 1), date(1899, 12, 31), date(2026, 11, 24), date(9999, 12, 31)):
        found = bounds.birth_date_violation("birth_date", bad, TODAY)
        assert found is not None and found.rule == "must be from 1900-01-01 to today (2026-11-23)", bad


def test_an_event_is_within_20_years_back_and_5_ahead():
    window = bounds.DEFAULT_WINDOW
    assert window.bounds(TODAY) == (date(2006, 11, 23), date(2031, 11, 23))
    assert bounds.EventWindow().bounds(date(2028, 2, 29)) == (date(2008, 2, 29), date(2033, 2, 28))
    for ok in (datetime(2006, 11, 23, 0, 0), datetime(2031, 11, 23, 23, 59), date(2026, 1, 1), None):
        assert bounds.event_violation("at", ok, TODAY) is None, ok
    for bad in (datetime(1900, 1, 1), datetime(9999, 12, 31, 23, 59), date(2006, 11, 22), date(2031, 11, 24)):
        assert bounds.event_violation("at", bad, TODAY) is not None, bad
    assert bounds.event_violation("eri_at", datetime(2040, 1, 1), TODAY, bounds.DEVICE_WINDOW) is None
    with pytest.raises(InvalidInput, match=r"^week: must be from 2006-11-23 to 2031-11-23"):
        bounds.check_event("week", date(9999, 12, 27), TODAY)
    assert bounds.EventWindow(years_back=20, years_ahead=5).bounds(date(9998, 6, 1))[1] == date(9999, 6, 1)


def test_free_form_json_is_small_and_its_texts_clean():
    assert bounds.json_violations("data", {"hamstrings": {"quality": 2, "r1_deg": -10, "r2_deg": 30}}) == []
    wide = bounds.json_violations("data", {f"m{i}": "1" for i in range(65)})
    assert [str(v) for v in wide] == ["data: must have at most 64 entries, got 65"]
    deep: object = "x"
    for _ in range(6):
        deep = [deep]
    assert [v.rule for v in bounds.json_violations("data", deep)] == ["is nested too deep"]
    texts = bounds.json_violations("data", {"a\x00": "ok", "b": "x" * 2001, "c": ["fine", "bad\x00"]})
    assert [v.field for v in texts] == ["data.a\x00 (its name)", "data.b", "data.c[1]"]


def test_a_gas_has_at_most_20_goals():
    goal = {"description": "walks to school", "weight": 1, "score": 0}
    assert bounds.assessment_violations("gas", {"goals": [goal] * 20}) == []
    assert [str(v) for v in bounds.assessment_violations("gas", {"goals": [goal] * 21})] == [
        "data.goals: must have at most 20 items, got 21"
    ]
    assert [str(v) for v in bounds.assessment_violations("gas", {"goals": [goal] * 100_000})] == [
        "data.goals: must have at most 20 items, got 100000"
    ]


def test_violations_are_raised_together_and_none_is_a_rule_kept():
    assert bounds.violations(None, []) == []
    bounds.raise_violations(None, [])
    with pytest.raises(InvalidInput) as caught:
        bounds.raise_violations(
            bounds.text_violation("name", "", max_length=5, required=True),
            None,
            [Violation("at", "must be later")],
            bounds.number_violation("weight_kg", float("nan"), minimum=0),
        )
    assert [v.field for v in caught.value.violations] == ["name", "at", "weight_kg"]
