"""Numbers and dates for people (itb.domain.formatting): units, sensible decimals, never an exponent."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from itb.domain.formatting import day, instant, number, percent, percent_change, quantity


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    [
        # the cases
        (1_000_000, "mcg/mL", "1000000 mcg/mL"),
        (203_200, "mcg", "203200 mcg"),
        (3.660051, "mL", "3.66 mL"),
        # mL: 2 decimals, trailing zeros dropped, small volumes keep 2 significant digits
        (20, "mL", "20 mL"),
        (19.7917, "mL", "19.79 mL"),
        (0.5, "mL", "0.5 mL"),
        (0.032, "mL", "0.032 mL"),
        (-0.148025, "mL", "-0.15 mL"),
        (0.421667, "mL/day", "0.422 mL/day"),
        (1.5, "mL/day", "1.5 mL/day"),
        # doses: whole stays whole, a computed step keeps its hundredths, never rounded onto a limit
        (300, "mcg/day", "300 mcg/day"),
        (210.833333, "mcg/day", "210.83 mcg/day"),
        (2000.01, "mcg/day", "2000.01 mcg/day"),
        (0.3, "mcg/day", "0.3 mcg/day"),
        (0.0042, "mcg", "0.0042 mcg"),
        (78373.193229, "mcg", "78373 mcg"),
        (160.0, "mcg", "160 mcg"),
        # concentrations
        (500, "mcg/mL", "500 mcg/mL"),
        (499.99, "mcg/mL", "499.99 mcg/mL"),
        (1e15, "mcg/mL", "1000000000000000 mcg/mL"),
        # percent and others
        (12.5, "%", "12.5 %"),
        (33.3333, "%", "33.3 %"),
        (1093.0, "min", "1093 min"),
        (1.5, "T", "1.5 T"),
        (0, "mL", "0 mL"),
        (-0.0, "mL", "0 mL"),
        (-0.001, "mL", "-0.001 mL"),
    ],
)
def test_quantity(value, unit, text):
    assert quantity(value, unit) == text


@pytest.mark.parametrize("value", [1e-7, 1e-310, 1e6, 1e20, 2.032e5, 123456789.123, -5e-5])
@pytest.mark.parametrize("unit", ["mL", "mL/day", "mcg", "mcg/day", "mcg/mL", "%", "h"])
def test_never_an_exponent(value, unit):
    text = quantity(value, unit)
    assert "e" not in text.removesuffix(unit).lower(), text
    assert float(text.removesuffix(f" {unit}")) == pytest.approx(value, rel=0.01, abs=1e-6)


def test_thousands_separators_only_when_asked():
    assert quantity(1_000_000, "mcg/mL") == "1000000 mcg/mL"
    assert quantity(1_000_000, "mcg/mL", grouping=True) == "1,000,000 mcg/mL"
    assert quantity(2000, "mcg/day", grouping=True) == "2,000 mcg/day"
    assert quantity(1502.857, "mcg/mL", grouping=True) == "1,502.86 mcg/mL"
    assert number(1234.5, "mcg/day") == "1234.5"


def test_percent_change_is_signed():
    assert percent_change(13.0) == "+1300 %"
    assert percent_change(13.0, grouping=True) == "+1,300 %"
    assert percent_change(0.2) == "+20 %"
    assert percent_change(-0.2) == "-20 %"
    assert percent_change(0.0019) == "+0.19 %"
    assert percent_change(0.0) == "0 %"
    assert percent_change(-0.00001) == "-0.001 %"
    assert percent(0.125) == "12.5 %"
    assert percent(0.2) == "20 %"


def test_not_finite_is_written_as_python_does():
    assert quantity(float("inf"), "mL") == "inf mL"
    assert quantity(float("nan"), "mL") == "nan mL"


def test_dates_are_iso_ordered():
    assert day(date(2026, 3, 4)) == "2026-03-04"
    assert day(datetime(2026, 3, 4, 17, 5)) == "2026-03-04"
    assert instant(datetime(2026, 3, 4, 7, 5, 59)) == "2026-03-04 07:05"
