"""Reading the task forms' entries: each helper adds a :class:`Violation` naming its field and
rule to ``errs`` (a form's every problem is answered at once), and returns the value or ``None``.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from itb.contracts.bounds import EARLIEST_BIRTH_DATE
from itb.domain.errors import InvalidInput, Violation
from itb.domain.units import Dimension, parse_quantity

BIRTH_MIN = EARLIEST_BIRTH_DATE  # itb.contracts.bounds
#: the clinic's date format, as the forms ask for it (a browser's own date field shows its locale's)
DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def field_errors(exc: InvalidInput) -> dict[str, str]:
    """Each form field's problems, for the message under it (``data.hamstrings.r1_deg`` → ``hamstrings.r1_deg``)."""
    out: dict[str, list[str]] = {}
    for v in exc.violations:
        out.setdefault(v.field.removeprefix("data."), []).append(v.rule)
    return {k: "; ".join(rules) for k, rules in out.items()}


def text_field(errs: list[Violation], field: str, value: str, maximum: int, required: bool = True) -> str:
    value = value.strip()
    if not value:
        if required:
            errs.append(Violation(field, "is required"))
    elif len(value) > maximum or not value.isprintable():
        errs.append(Violation(field, f"must be 1-{maximum} printable characters"))
    return value


def day_field(
    errs: list[Violation], field: str, label: str, text: str, today: date, required: bool = True
) -> date | None:
    """A past day typed as YYYY-MM-DD (``label``: the field in words, for the rule)."""
    text = text.strip()
    if not text:
        if required:
            errs.append(Violation(field, f"is required: the {label} as YYYY-MM-DD"))
        return None
    try:
        if not DAY.fullmatch(text):
            raise ValueError(text)
        day = date.fromisoformat(text)
    except ValueError:
        errs.append(Violation(field, f"{text!r} is not a date: write the {label} as YYYY-MM-DD, e.g. 2018-05-02"))
        return None
    if day > today:
        errs.append(Violation(field, "must not be in the future"))
    elif day < BIRTH_MIN:
        errs.append(Violation(field, "must not be before 1900-01-01"))
    return day


def number_field(
    errs: list[Violation], field: str, text: str, unit: str, maximum: float, required: bool
) -> float | None:
    """A plain measure (kg, cm) typed with or without its unit: above 0, at most ``maximum``."""
    text = text.strip()
    if not text:
        if required:
            errs.append(Violation(field, f"is required, in {unit}"))
        return None
    bare = re.sub(rf"\s*{unit}$", "", text, flags=re.I)
    if "," in bare:
        errs.append(Violation(field, f"{text!r} has a comma: write decimals with a point (e.g. 12.5)"))
        return None
    try:
        value = float(bare)
    except ValueError:
        errs.append(Violation(field, f"{text!r} is not a number of {unit}"))
        return None
    if not 0 < value <= maximum:  # also NaN
        errs.append(Violation(field, f"must be above 0 and at most {maximum:g} {unit}"))
        return None
    return value


def quantity_field(errs: list[Violation], field: str, text: str, dimension: Dimension, required: bool = True) -> Any:
    """A quantity with its unit (``parse_quantity``: a bare number is read in the canonical unit)."""
    if not text.strip():
        if required:
            errs.append(Violation(field, "is required, with its unit"))
        return None
    try:
        return parse_quantity(text, dimension, field).value
    except InvalidInput as exc:
        errs.extend(exc.violations)
        return None


__all__ = ["BIRTH_MIN", "DAY", "day_field", "field_errors", "number_field", "quantity_field", "text_field"]
