"""Violations of input rules, collected rather than raised one at a time."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken rule: the field's path in the user's terms, and the rule it broke."""

    field: str
    rule: str

    def __str__(self) -> str:
        return f"{self.field}: {self.rule}"


class InvalidInput(ValueError):
    """Raised with every violation found, so the user can fix them all at once."""

    def __init__(self, violations: Iterable[Violation]) -> None:
        self.violations: tuple[Violation, ...] = tuple(violations)
        if not self.violations:
            raise ValueError("InvalidInput needs at least one violation")
        super().__init__(self.one_line())

    def one_line(self) -> str:
        """All violations on one line, separated by '; '."""
        return "; ".join(str(v) for v in self.violations)


def is_number(value: object) -> bool:
    """A finite number as decoded from JSON (a boolean is not a number)."""
    t = type(value)
    return t is int or (t is float and math.isfinite(value))  # type: ignore[arg-type]


#: No dose, rate, volume or concentration in this field comes near this; larger numbers are
#: refused as not physical (and would overflow the arithmetic).
MAX_PHYSICAL = 1e9


def bound_violation(
    field: str,
    value: object,
    *,
    minimum: float,
    strict: bool = False,
    maximum: float | None = MAX_PHYSICAL,
    required: bool = False,
) -> Violation | None:
    """The violation of ``minimum <= value <= maximum`` (``>`` when strict), if any.

    ``None`` (JSON null or absent) is a violation when ``required``, else skipped.
    """
    if value is None:
        return Violation(field, "is required") if required else None
    t = type(value)
    if (
        (t is int or t is float)
        and (value > minimum if strict else value >= minimum)  # type: ignore[operator]
        and (value <= maximum if maximum is not None else value < _INF)  # type: ignore[operator]
    ):
        return None
    rule = f"> {minimum:g}" if strict else f">= {minimum:g}"
    if maximum is not None:
        rule += f" and <= {maximum:g}"
    if not is_number(value):
        return Violation(field, f"must be a number {rule}")
    return Violation(field, f"must be {rule}, got {value:g}")


_INF = float("inf")
