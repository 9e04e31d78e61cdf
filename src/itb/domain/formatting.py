"""Numbers and dates for people: one place that decides how a quantity is written (pure, no I/O).

Every quantity is written in fixed-point notation with its unit, never with an exponent
(``1e+06 mcg/mL`` is ``1000000 mcg/mL``), rounded to what the unit is read to, trailing zeros
dropped (``20 mL``, not ``20.00 mL``):

==========  ===========================================================================
unit        decimals
==========  ===========================================================================
mL          2 (a syringe's and the pump's count are read to 0.01 mL): ``3.66 mL``
mL/day      2; below 1 mL/day 3 significant digits: ``0.422 mL/day``
mcg/day     2: whole doses stay whole (``300 mcg/day``), a computed step keeps its
            hundredths (``210.83 mcg/day``), so a limit message never rounds a dose onto
            its limit (``2000.01 mcg/day`` is above ``2000 mcg/day``)
mcg         2; from 10000 mcg whole (a total: ``203200 mcg``)
mcg/mL      2 (a strength is whole, a dilution may not be: ``499.99 mcg/mL``)
%           1: ``12.5 %``; a change is signed (:func:`percent_change`: ``+1300 %``)
other       2 (h, min, days, T, kg, years ...)
==========  ===========================================================================

A value below 1 that would round to too few digits keeps 2 significant digits (``0.032 mL``,
``0.0042 mcg``), to at most 6 decimals. Not finite: ``inf`` / ``nan`` as Python writes them.

**No thousands separator by default** (a setting-free choice): the project's quantity parser
refuses a comma (``1,500`` may mean 1.5 or 1500), so a number written here can be typed or
pasted back into any field and be read exactly; and no reader in a decimal-comma locale can
take ``2,000`` for 2. ``grouping=True`` writes ``1,000,000`` for display-only places that want it
(the web pages' dose filter, which always did).

Dates: :func:`day` ``YYYY-MM-DD``; :func:`instant` ``YYYY-MM-DD HH:MM`` (ISO 8601 order, whatever
the reader's locale: never ``mm/dd/yyyy``).
"""

from __future__ import annotations

import math
from datetime import date, datetime

#: Decimals each unit is written to (see the module's table); other units: :data:`DEFAULT_DECIMALS`.
DECIMALS: dict[str, int] = {
    "mL": 2,
    "µL": 0,
    "uL": 0,
    "mL/day": 2,
    "mcg/day": 2,
    "mcg": 2,
    "mg": 3,
    "mg/day": 3,
    "mcg/mL": 2,
    "%": 1,
}
DEFAULT_DECIMALS = 2
#: From this size a total amount of drug is written whole.
WHOLE_FROM: dict[str, float] = {"mcg": 10_000}
#: Small values keep this many significant digits (when their unit's decimals would show fewer).
MIN_SIGNIFICANT = 2
MAX_DECIMALS = 6
#: Below 1 mL/day, a daily volume is written to 3 significant digits.
_SIGNIFICANT_BELOW_ONE = {"mL/day": 3}

DAY_FORMAT = "%Y-%m-%d"
INSTANT_FORMAT = "%Y-%m-%d %H:%M"


def _decimals(value: float, unit: str) -> int:
    size = abs(value)
    if size >= WHOLE_FROM.get(unit, math.inf):
        return 0
    decimals = DECIMALS.get(unit, DEFAULT_DECIMALS)
    if 0 < size < 1:
        significant = _SIGNIFICANT_BELOW_ONE.get(unit, MIN_SIGNIFICANT)
        leading_zeros = -math.floor(math.log10(size)) - 1  # 0.032 -> 1
        decimals = max(decimals, min(MAX_DECIMALS, leading_zeros + significant))
    return decimals


def number(value: float, unit: str = "", *, grouping: bool = False, signed: bool = False) -> str:
    """``value`` as its ``unit`` is written (see the module's table), without the unit."""
    value = float(value)
    if not math.isfinite(value):
        return f"{value:+}" if signed and value > 0 else str(value)
    decimals = _decimals(value, unit)
    text = f"{value:{'+' if signed else ''}{',' if grouping else ''}.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    if text.lstrip("+-") == "0":  # no "-0" nor "+0"
        text = "0"
    return text


def quantity(value: float, unit: str, *, grouping: bool = False) -> str:
    """``"3.66 mL"``, ``"1000000 mcg/mL"``, ``"210.83 mcg/day"``, ``"203200 mcg"``: never an exponent."""
    return f"{number(value, unit, grouping=grouping)} {unit}"


def percent(fraction: float, *, grouping: bool = False) -> str:
    """A fraction as a percentage, at most 1 decimal: ``0.125`` -> ``"12.5 %"``."""
    return quantity(fraction * 100, "%", grouping=grouping)


def percent_change(fraction: float, *, grouping: bool = False) -> str:
    """A relative change, signed: ``13.0`` -> ``"+1300 %"``, ``-0.2`` -> ``"-20 %"``, ``0`` -> ``"0 %"``."""
    return f"{number(fraction * 100, '%', grouping=grouping, signed=True)} %"


def day(value: date) -> str:
    """``YYYY-MM-DD`` (a datetime's date)."""
    return value.strftime(DAY_FORMAT)


def instant(value: datetime) -> str:
    """``YYYY-MM-DD HH:MM``."""
    return value.strftime(INSTANT_FORMAT)


__all__ = ["day", "instant", "number", "percent", "percent_change", "quantity"]
