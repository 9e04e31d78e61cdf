"""Reading fields of decoded JSON objects, recording each violation with its path."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from itb.domain.errors import Violation

DATETIME_RULE = "must be a local date-time YYYY-MM-DDTHH:MM:SS (pump clock, no offset, whole seconds)"


def join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def check_keys(obj: dict, path: str, allowed: Iterable[str], required: Iterable[str], errs: list[Violation]) -> None:
    """Unknown fields and missing (or null) required fields."""
    for key in obj:
        if key not in allowed:
            errs.append(Violation(join(path, str(key)), "unknown field"))
    for key in required:
        if obj.get(key) is None:
            errs.append(Violation(join(path, key), "is required"))


def parse_local_datetime(value: object) -> datetime | None:
    """``YYYY-MM-DDTHH:MM[:SS]`` without offset or fraction, else None.

    Only that form: ``datetime.fromisoformat`` alone would also take week dates
    (``2026-W09-1``) and other ISO spellings the contract does not allow.
    """
    if (
        type(value) is not str
        or len(value) not in (16, 19)
        or value[4] != "-"
        or value[7] != "-"
        or value[10] != "T"
        or value[13] != ":"
        or (len(value) == 19 and value[16] != ":")
        or not value.isascii()
    ):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is None else None


def local_datetime(obj: dict, key: str, path: str, errs: list[Violation]) -> datetime | None:
    value = obj.get(key)
    if value is None:
        return None  # reported by check_keys when required
    parsed = parse_local_datetime(value)
    if parsed is None:
        errs.append(Violation(join(path, key), DATETIME_RULE))
    return parsed


#: "HH:MM" -> minutes after midnight, for every valid time of day: parsing is one lookup.
MINUTES_OF_DAY: dict[str, int] = {f"{m // 60:02d}:{m % 60:02d}": m for m in range(24 * 60)}


def parse_hhmm(value: object) -> int:
    """Minutes after midnight for ``HH:MM`` (00:00-23:59), else -1 (judged by check_program)."""
    return MINUTES_OF_DAY.get(value, -1) if type(value) is str else -1  # type: ignore[arg-type]


def drop_reported(errs: list[Violation], more: Iterable[Violation]) -> list[Violation]:
    """``errs`` plus those of ``more`` whose field (or a parent of it) is not already reported."""
    seen = {v.field for v in errs}
    out = list(errs)
    for v in more:
        f = v.field
        if f in seen or any(f.startswith(s + ".") or f.startswith(s + "[") for s in seen):
            continue
        out.append(v)
    return out
