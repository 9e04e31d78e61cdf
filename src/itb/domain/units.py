"""Quantities entered with their units, so that mg and mcg are never confused.

A field accepts a JSON number (read in the field's canonical unit: mcg, mcg/day, mcg/mL, mL or
minutes) or text with a unit, e.g. ``"0.3 mg/day"``, ``"12.5 mcg/h"``, ``"2 mg/mL"``,
``"1500 µL"``, ``"2 h"``. Text is read exactly (as a decimal), with a decimal point only: a
comma is refused rather than guessed (``"1,500"`` may mean 1.5 or 1500).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum

from itb.domain.errors import MAX_PHYSICAL, InvalidInput, Violation


class Dimension(StrEnum):
    DOSE = "dose"  # canonical unit mcg
    RATE = "rate"  # canonical mcg/day
    CONCENTRATION = "concentration"  # canonical mcg/mL
    VOLUME = "volume"  # canonical mL
    DURATION = "duration"  # canonical minutes


#: The unit a bare number is read in, per dimension.
CANONICAL_UNIT: dict[Dimension, str] = {
    Dimension.DOSE: "mcg",
    Dimension.RATE: "mcg/day",
    Dimension.CONCENTRATION: "mcg/mL",
    Dimension.VOLUME: "mL",
    Dimension.DURATION: "min",
}

_NOUN: dict[Dimension, str] = {
    Dimension.DOSE: "a dose",
    Dimension.RATE: "a rate",
    Dimension.CONCENTRATION: "a concentration",
    Dimension.VOLUME: "a volume",
    Dimension.DURATION: "a duration",
}

_NEEDS: dict[Dimension, str] = {
    Dimension.DOSE: "a dose needs a unit of mass, e.g. mcg or mg",
    Dimension.RATE: "a rate needs a unit per day or per hour, e.g. mcg/day",
    Dimension.CONCENTRATION: "a concentration needs a unit per mL, e.g. mcg/mL or mg/mL",
    Dimension.VOLUME: "a volume needs a unit of volume, e.g. mL or µL",
    Dimension.DURATION: "a duration needs a unit of time, e.g. min or h",
}

_EXAMPLE: dict[Dimension, str] = {
    Dimension.DOSE: "50 mcg",
    Dimension.RATE: "300 mcg/day",
    Dimension.CONCENTRATION: "2000 mcg/mL",
    Dimension.VOLUME: "1.5 mL",
    Dimension.DURATION: "30 min",
}


def _unit_table() -> dict[str, tuple[Dimension, Decimal, str]]:
    """Spelling (case-folded, no spaces, micro as 'u') -> (dimension, factor to canonical, display)."""
    mass = {
        "mcg": (Decimal(1), "mcg"),
        "ug": (Decimal(1), "mcg"),
        "microgram": (Decimal(1), "mcg"),
        "micrograms": (Decimal(1), "mcg"),
        "mg": (Decimal(1000), "mg"),
        "milligram": (Decimal(1000), "mg"),
        "milligrams": (Decimal(1000), "mg"),
    }
    per_time = {  # factor to "per day"
        "day": (Decimal(1), "day"),
        "d": (Decimal(1), "day"),
        "24h": (Decimal(1), "day"),
        "24hr": (Decimal(1), "day"),
        "h": (Decimal(24), "h"),
        "hr": (Decimal(24), "h"),
        "hour": (Decimal(24), "h"),
    }
    table: dict[str, tuple[Dimension, Decimal, str]] = {}
    for m, (mf, mname) in mass.items():
        table[m] = (Dimension.DOSE, mf, mname)
        table[f"{m}/ml"] = (Dimension.CONCENTRATION, mf, f"{mname}/mL")
        for t, (tf, tname) in per_time.items():
            table[f"{m}/{t}"] = (Dimension.RATE, mf * tf, f"{mname}/{tname}")
    for spelling in ("ml", "milliliter", "milliliters", "millilitre", "millilitres"):
        table[spelling] = (Dimension.VOLUME, Decimal(1), "mL")
    for spelling in ("ul", "mcl", "microliter", "microliters", "microlitre", "microlitres"):
        table[spelling] = (Dimension.VOLUME, Decimal("0.001"), "µL")
    for spelling in ("min", "mins", "minute", "minutes"):
        table[spelling] = (Dimension.DURATION, Decimal(1), "min")
    for spelling in ("h", "hr", "hrs", "hour", "hours"):
        table[spelling] = (Dimension.DURATION, Decimal(60), "h")
    return table


_UNITS = _unit_table()

#: Spellings shown when a unit is not recognised.
_ACCEPTED: dict[Dimension, str] = {
    Dimension.DOSE: "mcg, µg, ug, mg",
    Dimension.RATE: "mcg/day, mcg/d, mcg/24h, mcg/h, mg/day, mg/h",
    Dimension.CONCENTRATION: "mcg/mL, mg/mL",
    Dimension.VOLUME: "mL, µL, uL",
    Dimension.DURATION: "min, h",
}

_TEXT = re.compile(r"(?P<sign>[+-]?)\s*(?P<num>[0-9][0-9.,]*|[.,][0-9][0-9.,]*)?\s*(?P<unit>.*)", re.DOTALL)
_DECIMAL = re.compile(r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+")
_NON_FINITE = {"inf", "infinity", "nan"}


@dataclass(frozen=True, slots=True)
class Quantity:
    """A value in its dimension's canonical unit, with what the user typed (for messages)."""

    value: float  # in the dimension's canonical unit
    dimension: Dimension
    given: str  # the text (or number) as the user typed it, for messages
    unit: str | None  # the unit as written (normalised, e.g. "mg/day"), None for a bare number

    @property
    def bare(self) -> bool:
        """True when no unit was written: the number was read in the canonical unit."""
        return self.unit is None


def _normalise_unit(text: str) -> str:
    return re.sub(r"\s+", "", text.casefold()).replace("μ", "u")  # casefold turns µ (U+00B5) into μ


def parse_quantity(value: object, dimension: Dimension, field: str) -> Quantity:
    """Read a number or a text with its unit into the canonical unit of ``dimension``.

    Raises ``InvalidInput`` naming ``field`` with every rule the entry breaks.
    """
    if type(value) is int or type(value) is float:
        return _parse_number(value, dimension, field)
    if isinstance(value, str):
        return _parse_text(value, dimension, field)
    if value is None:
        raise InvalidInput([Violation(field, f"is required, e.g. {_EXAMPLE[dimension]}")])
    got = "true/false" if isinstance(value, bool) else type(value).__name__
    rule = f"must be a number or a text with its unit, e.g. '{_EXAMPLE[dimension]}', got {got}"
    raise InvalidInput([Violation(field, rule)])


def _parse_number(value: float, dimension: Dimension, field: str) -> Quantity:
    given = str(value)
    if not math.isfinite(value):
        raise InvalidInput([Violation(field, f"'{given}' is not a finite number")])
    if value < 0:
        raise InvalidInput([Violation(field, f"'{given}' is negative; {_NOUN[dimension]} cannot be less than 0")])
    if value > MAX_PHYSICAL:
        raise InvalidInput([Violation(field, _too_large(given, dimension))])
    return Quantity(float(value), dimension, given, None)


def _too_large(given: str, dimension: Dimension) -> str:
    return f"'{given}' is too large to be real (more than {MAX_PHYSICAL:g} {CANONICAL_UNIT[dimension]})"


def _parse_text(text: str, dimension: Dimension, field: str) -> Quantity:
    given = text.strip()
    if not given:
        raise InvalidInput([Violation(field, f"is empty; enter a number with its unit, e.g. {_EXAMPLE[dimension]}")])
    match = _TEXT.fullmatch(given)
    assert match is not None  # every part of the pattern is optional
    sign, num, unit_text = match["sign"], match["num"], match["unit"]
    rules: list[str] = []
    number: Decimal | None = None

    if num is None:
        if _normalise_unit(given).lstrip("+-") in _NON_FINITE:
            raise InvalidInput([Violation(field, f"'{given}' is not a finite number")])
        rules.append(f"'{given}' does not start with a number; write e.g. {_EXAMPLE[dimension]}")
    elif "," in num:
        rules.append(
            f"'{given}' has a comma; write decimals with a point (e.g. 0.3) and no thousands separator (e.g. 1500)"
        )
    elif not _DECIMAL.fullmatch(num):
        rules.append(f"'{given}' is not a number; write e.g. {_EXAMPLE[dimension]}")
    else:
        try:
            number = Decimal(num)
        except InvalidOperation:  # pragma: no cover - the pattern only lets decimals through
            rules.append(f"'{given}' is not a number; write e.g. {_EXAMPLE[dimension]}")
    if sign == "-":
        rules.append(f"'{given}' is negative; {_NOUN[dimension]} cannot be less than 0")

    unit_key = _normalise_unit(unit_text)
    factor = Decimal(1)
    display: str | None = None
    if unit_key and num is not None:
        known = _UNITS.get(unit_key)
        if known is None:
            rules.append(
                f"'{given}' has an unknown unit '{unit_text.strip()}'; {_NEEDS[dimension]}"
                f" (accepted: {_ACCEPTED[dimension]})"
            )
        elif known[0] is not dimension:
            rules.append(f"'{given}' is {_NOUN[known[0]]}; {_NEEDS[dimension]}")
        else:
            _, factor, display = known

    if rules:
        raise InvalidInput(Violation(field, rule) for rule in rules)
    assert number is not None
    canonical = number * factor
    if canonical > MAX_PHYSICAL:
        raise InvalidInput([Violation(field, _too_large(given, dimension))])
    return Quantity(float(canonical), dimension, given, display)


def format_quantity(value: float, dimension: Dimension) -> str:
    """The value with its canonical unit, e.g. ``"300 mcg/day"``, ``"2000 mcg/mL"``, ``"1.5 mL"``."""
    return f"{value:g} {CANONICAL_UNIT[dimension]}"


def parse_quantities(fields: dict[str, tuple[object, Dimension]]) -> dict[str, float]:
    """Several entries at once, in their canonical units; one InvalidInput listing every problem."""
    values: dict[str, float] = {}
    errs: list[Violation] = []
    for name, (given, dimension) in fields.items():
        try:
            values[name] = parse_quantity(given, dimension, name).value
        except InvalidInput as exc:
            errs.extend(exc.violations)
    if errs:
        raise InvalidInput(errs)
    return values
