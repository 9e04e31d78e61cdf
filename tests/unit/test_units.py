"""Quantities entered with their units: every accepted spelling, every refusal."""

from __future__ import annotations

import pytest

from itb.domain.errors import InvalidInput
from itb.domain.units import Dimension, Quantity, format_quantity, parse_quantity

D = Dimension

ACCEPTED = [
    # (entered, dimension, canonical value, normalised unit)
    ("0.3 mg/day", D.RATE, 300.0, "mg/day"),
    ("300mcg/day", D.RATE, 300.0, "mcg/day"),
    ("300 µg/day", D.RATE, 300.0, "mcg/day"),  # U+00B5 micro sign
    ("300 μg/day", D.RATE, 300.0, "mcg/day"),  # U+03BC Greek mu
    ("300 ug/d", D.RATE, 300.0, "mcg/day"),
    ("300 mcg/24h", D.RATE, 300.0, "mcg/day"),
    ("12.5 mcg/h", D.RATE, 300.0, "mcg/h"),
    ("0.0125 mg/h", D.RATE, 300.0, "mg/h"),
    ("300 MCG/DAY", D.RATE, 300.0, "mcg/day"),
    ("  300 mcg / day  ", D.RATE, 300.0, "mcg/day"),
    ("0.05 mg", D.DOSE, 50.0, "mg"),
    ("50 mcg", D.DOSE, 50.0, "mcg"),
    ("50 µg", D.DOSE, 50.0, "mcg"),
    ("2 mg/mL", D.CONCENTRATION, 2000.0, "mg/mL"),
    ("500 mcg/ml", D.CONCENTRATION, 500.0, "mcg/mL"),
    ("0.5 MG/ML", D.CONCENTRATION, 500.0, "mg/mL"),
    ("1.5 mL", D.VOLUME, 1.5, "mL"),
    ("1500 µL", D.VOLUME, 1.5, "µL"),
    ("1500 uL", D.VOLUME, 1.5, "µL"),
    ("1500 μl", D.VOLUME, 1.5, "µL"),
    ("30 min", D.DURATION, 30.0, "min"),
    ("2 h", D.DURATION, 120.0, "h"),
    ("1.5h", D.DURATION, 90.0, "h"),
    ("0 mcg/day", D.RATE, 0.0, "mcg/day"),
    (".5 mL", D.VOLUME, 0.5, "mL"),
    ("+2 mL", D.VOLUME, 2.0, "mL"),
]


@pytest.mark.parametrize(("entered", "dimension", "value", "unit"), ACCEPTED)
def test_accepted_spellings(entered: str, dimension: Dimension, value: float, unit: str) -> None:
    q = parse_quantity(entered, dimension, "f")
    assert q == Quantity(value, dimension, entered.strip(), unit)
    assert not q.bare


def test_mg_to_mcg_conversions_are_exact() -> None:
    assert parse_quantity("0.3 mg/day", D.RATE, "f").value == 300.0
    assert parse_quantity("0.05 mg", D.DOSE, "f").value == 50.0
    assert parse_quantity("0.7 mg/day", D.RATE, "f").value == 700.0  # 0.7 * 1000 in floats is 699.999...
    assert parse_quantity("0.1 mg", D.DOSE, "f").value == 100.0
    assert parse_quantity("1.1 mg/mL", D.CONCENTRATION, "f").value == 1100.0
    assert parse_quantity("2300 µL", D.VOLUME, "f").value == 2.3


@pytest.mark.parametrize(("entered", "value"), [(300, 300.0), (0.3, 0.3), (0, 0.0), ("300", 300.0), ("12.5", 12.5)])
def test_bare_numbers_are_read_in_the_canonical_unit(entered: object, value: float) -> None:
    q = parse_quantity(entered, D.RATE, "f")
    assert q.value == value
    assert q.bare
    assert q.unit is None
    assert q.given == str(entered)


def refusal(value: object, dimension: Dimension, field: str = "program.rate") -> str:
    with pytest.raises(InvalidInput) as caught:
        parse_quantity(value, dimension, field)
    assert all(v.field == field for v in caught.value.violations)
    return caught.value.one_line()


def test_empty_text_is_refused() -> None:
    assert "is empty" in refusal("", D.RATE)
    assert "is empty" in refusal("   ", D.RATE)


def test_comma_is_refused_not_guessed() -> None:
    message = refusal("0,3 mg/day", D.RATE)
    assert "'0,3 mg/day' has a comma" in message
    assert "decimals with a point" in message
    assert "comma" in refusal("1,500 µL", D.VOLUME)


@pytest.mark.parametrize("value", ["-5 mcg/day", "-300", -300, -0.5])
def test_negative_is_refused(value: object) -> None:
    assert "is negative; a rate cannot be less than 0" in refusal(value, D.RATE)


@pytest.mark.parametrize("value", ["inf", "-inf", "NaN", "Infinity", float("inf"), float("nan")])
def test_non_finite_is_refused(value: object) -> None:
    assert "is not a finite number" in refusal(value, D.RATE)


def test_too_large_is_refused() -> None:
    assert "too large to be real" in refusal("2000000 mg", D.DOSE)
    assert "too large to be real" in refusal(1e12, D.DOSE)


@pytest.mark.parametrize("value", ["abc", "mg", "1.2.3 mg", "1e3 mcg"])
def test_not_a_number_is_refused(value: str) -> None:
    message = refusal(value, D.DOSE)
    assert f"'{value}'" in message
    assert "number" in message or "unknown unit" in message


def test_unknown_unit_is_refused_with_the_accepted_units() -> None:
    message = refusal("300 mcgs/day", D.RATE)
    assert "'300 mcgs/day' has an unknown unit 'mcgs/day'" in message
    assert "a rate needs a unit per day or per hour, e.g. mcg/day" in message
    assert "accepted: mcg/day" in message


@pytest.mark.parametrize(
    ("value", "dimension", "expected"),
    [
        ("300 mcg", D.RATE, "'300 mcg' is a dose; a rate needs a unit per day or per hour, e.g. mcg/day"),
        ("300 mcg/day", D.DOSE, "'300 mcg/day' is a rate; a dose needs a unit of mass"),
        ("2 mg", D.CONCENTRATION, "'2 mg' is a dose; a concentration needs a unit per mL"),
        ("2 mg/mL", D.VOLUME, "'2 mg/mL' is a concentration; a volume needs a unit of volume"),
        ("2 h", D.RATE, "'2 h' is a duration; a rate needs"),
        ("2 mL", D.DURATION, "'2 mL' is a volume; a duration needs a unit of time"),
    ],
)
def test_wrong_dimension_is_refused(value: str, dimension: Dimension, expected: str) -> None:
    assert expected in refusal(value, dimension)


@pytest.mark.parametrize("value", [None, True, False, [300], {"value": 300}])
def test_wrong_type_is_refused(value: object) -> None:
    message = refusal(value, D.RATE)
    assert "required" in message or "must be a number or a text with its unit" in message


def test_every_problem_is_collected_into_one_error() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_quantity("-0,3 mg/dya", D.RATE, "program.rate")
    rules = [v.rule for v in caught.value.violations]
    assert len(rules) == 3
    assert any("comma" in r for r in rules)
    assert any("negative" in r for r in rules)
    assert any("unknown unit 'mg/dya'" in r for r in rules)


def test_format_quantity() -> None:
    assert format_quantity(300, D.RATE) == "300 mcg/day"
    assert format_quantity(2000.0, D.CONCENTRATION) == "2000 mcg/mL"
    assert format_quantity(1.5, D.VOLUME) == "1.5 mL"
    assert format_quantity(50, D.DOSE) == "50 mcg"
    assert format_quantity(120, D.DURATION) == "120 min"


def test_parse_quantities_reads_several_and_lists_every_problem():
    from itb.domain.units import parse_quantities

    assert parse_quantities({"a": ("2 mL", Dimension.VOLUME), "b": ("1 mg/mL", Dimension.CONCENTRATION)}) == {
        "a": 2.0,
        "b": 1000.0,
    }
    with pytest.raises(InvalidInput) as caught:
        parse_quantities({"a": ("2 L", Dimension.VOLUME), "b": ("x", Dimension.CONCENTRATION)})
    assert [v.field for v in caught.value.violations] == ["a", "b"]
