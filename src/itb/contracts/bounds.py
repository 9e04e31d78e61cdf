"""The bounds on every input that may become a record, each with its reason, in one place.

The API's request models (``itb.web.api.schemas``), the pages' forms, the clinic import, the
command line and the use cases all take their limits from here, so that a value refused at one
edge is refused at every other, and the OpenAPI document states the same numbers. Each
``*_violation`` function returns the rule a value breaks (``None`` when it keeps them); each
``check_*`` raises :class:`InvalidInput` naming the field. Pure: values in, violations out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sized
from dataclasses import dataclass
from datetime import date, datetime

from itb.domain.errors import MAX_PHYSICAL, InvalidInput, Violation, bound_violation
from itb.domain.limits import DRUG_PRODUCTS
from itb.domain.program import DosingProgram

# ---------------------------------------------------------------------------------- whole numbers
#: a record's id, a record's version, a log's sequence number: the columns are INTEGER, signed 32
#: bits on PostgreSQL, which refuses a larger number outright (SQLite's reach 64 bits, Python's
#: have no end); a number outside is refused as bad input, naming it, before it reaches a query
MAX_ID = 2**31 - 1
#: the smallest id a record has (ids are counted from 1)
MIN_ID = 1

# ---------------------------------------------------------------------------------- text lengths
#: a person's name (``patients.name`` is 200 characters)
NAME_MAX = 200
#: a short code: a pump's serial, a lot, a product, a username, a limit's code (64-character columns)
CODE_MAX = 64
#: a note a person types: side effects, a review, a booking's notes, what a family sees at home
NOTE_MAX = 2000

# ---------------------------------------------------------------------------------- list sizes
#: soft-limit codes a request confirms: about 40 codes exist (``itb.domain.limits`` and the
#: refill, bolus and registration checks), and each is confirmed once
ACKNOWLEDGED_MAX = 64
#: goals of one Goal Attainment Scaling: usually 3 to 5 per person (Kiresuk and Sherman); 20 is generous
GAS_GOALS_MAX = 20
#: symptom codes of one family report: the family's form lists 29 (``itb.domain.triage``)
SYMPTOMS_MAX = 64
#: muscle groups graded in one assessment or screening (the forms list 5; a body has fewer than 64 groups)
MUSCLES_MAX = 64
#: steps of one day's program: one every 30 minutes at most (the vendors' flexible modes allow far
#: fewer; the forecast's array path is this wide, ``itb.contracts.forecast_columns.MAX_STEPS``)
PROGRAM_STEPS_MAX = 48
#: daily (periodic) boluses of one program: one an hour at most
DAILY_BOLUSES_MAX = 24
#: one-time boluses of one program (a bridge and a priming are the usual ones)
ONE_TIME_BOLUSES_MAX = 8

#: a pump's clock, in seconds from its start: a century (a battery lasts under 10 years; a larger
#: number overflows the calendar, which ends in the year 9999)
PUMP_CLOCK_MAX_S = 100 * 365.25 * 86400

# ---------------------------------------------------------------------------------- dates
#: the earliest birth date a patient may have (the latest is today)
EARLIEST_BIRTH_DATE = date(1900, 1, 1)


@dataclass(frozen=True, slots=True)
class EventWindow:
    """How far from today a clinical event (a session, a refill, an assessment, an implant, a bolus)
    or a booking may be: ``years_back`` before today to ``years_ahead`` after (clinic setting; a
    pump's life is under 10 years, a record older than 20 is a typing slip)."""

    years_back: int = 20
    years_ahead: int = 5

    def bounds(self, today: date) -> tuple[date, date]:
        """The first and the last day allowed, seen from ``today``."""
        return _years_from(today, -self.years_back), _years_from(today, self.years_ahead)


DEFAULT_WINDOW = EventWindow()
#: a device's own dates (its battery's replacement indicator comes up to about 10 years after its implant)
DEVICE_WINDOW = EventWindow(years_back=20, years_ahead=15)

# ---------------------------------------------------------------------------------- characters
#: what a one-line text may not hold: control characters (C0, DEL, C1) and lone surrogates, which
#: no database stores as text (PostgreSQL refuses NUL; UTF-8 has no surrogates)
_ONE_LINE_BAD = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
#: a note on several lines may also hold line breaks and tabs (never NUL)
_MULTI_LINE_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
#: the same rules as JSON Schema patterns (ECMA-262), for the OpenAPI document: every control
#: character; every one but tab, line feed and carriage return; the spaces ``str.strip`` takes that
#: are not control characters (ECMA's ``\s`` is not Python's: it has U+FEFF, so it is not used)
_CONTROL = r"\u0000-\u001f\u007f-\u009f"
_CONTROL_BUT_BREAKS = r"\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f"
SPACES = r" \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
ONE_LINE_PATTERN = rf"^[^{_CONTROL}]*$"
MULTI_LINE_PATTERN = rf"^[^{_CONTROL_BUT_BREAKS}]*$"
#: a line, and a note, that say something: one character at least that is not a space
REQUIRED_LINE_PATTERN = rf"^[^{_CONTROL}]*[^{SPACES}{_CONTROL}][^{_CONTROL}]*$"
REQUIRED_NOTE_PATTERN = rf"^[^{_CONTROL_BUT_BREAKS}]*[^{SPACES}{_CONTROL}][^{_CONTROL_BUT_BREAKS}]*$"


def padded(alternatives: str) -> str:
    """A pattern of ``alternatives`` with spaces around (as a value read after ``str.strip``)."""
    return rf"^[{SPACES}]*(?:{alternatives})[{SPACES}]*$"


#: violations listed from one free-form value at most (the rest would repeat them)
_SHOWN = 20
#: a day as ISO 8601 text (YYYY-MM-DD), exactly the calendar's days: the right days in each month, 29
#: February in leap years only, years 0001-9999; and a local time on it (the clinic's, with no offset:
#: the records keep local times), on the minute or the second (or its fraction)
_YEAR = r"(?:[1-9]\d{3}|0[1-9]\d{2}|00[1-9]\d|000[1-9])"
_LEAP = r"(?:\d\d(?:0[48]|[2468][048]|[13579][26])|(?:0[48]|[2468][048]|[13579][26])00)"
_DAY = (
    rf"(?:{_YEAR}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\d|30)"
    rf"|02-(?:0[1-9]|1\d|2[0-8]))|{_LEAP}-02-29)"
)
DATE_PATTERN = rf"^{_DAY}$"
LOCAL_TIME_PATTERN = rf"^{_DAY}T(?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:\.\d{{1,6}})?)?$"
#: a pump clock's time in a program (the forecast contract: whole seconds, no fraction) and a time of day
PUMP_TIME_PATTERN = rf"^{_DAY}T(?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d)?$"
HHMM_PATTERN = r"^(?:[01]\d|2[0-3]):[0-5]\d$"
#: a drug product's name as :func:`itb.domain.limits.product_named` reads it: any case, any spacing
PRODUCT_PATTERN = padded(
    "|".join(
        rf"[{SPACES}]+".join(
            "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else re.escape(c) for c in word)
            for word in p.name.split()
        )
        for p in DRUG_PRODUCTS
    )
)
#: a soft limit's code as the limits name it (snake_case)
LIMIT_CODE_PATTERN = r"^[a-z0-9_]{1,64}$"
_LIMIT_CODE = re.compile(LIMIT_CODE_PATTERN.strip("^$"))


# ---------------------------------------------------------------------------------- the rules
def text_violation(
    field: str, value: object, *, max_length: int, multiline: bool = False, required: bool = False
) -> Violation | None:
    """A text of at most ``max_length`` characters with no control character (line breaks and tabs
    only in a ``multiline`` note); ``None`` is allowed unless ``required``, and so is ""."""
    if value is None or value == "":
        return Violation(field, "is required") if required else None
    if type(value) is not str:
        return Violation(field, "must be text")
    if len(value) > max_length:
        return Violation(field, f"must be at most {max_length} characters, got {len(value)}")
    if (_MULTI_LINE_BAD if multiline else _ONE_LINE_BAD).search(value):
        allowed = "control characters (line breaks and tabs are allowed)" if multiline else "control characters"
        return Violation(field, f"must not contain {allowed}")
    return None


def id_violation(field: str, value: object, *, minimum: int = MIN_ID) -> Violation | None:
    """A whole number from ``minimum`` (a record's id: 1) to :data:`MAX_ID`."""
    if type(value) is not int or not minimum <= value <= MAX_ID:
        return Violation(field, f"must be a whole number from {minimum} to {MAX_ID}")
    return None


def count_violation(field: str, items: Sized, maximum: int) -> Violation | None:
    """A list of at most ``maximum`` items."""
    if len(items) > maximum:
        return Violation(field, f"must have at most {maximum} items, got {len(items)}")
    return None


def code_violations(field: str, codes: Iterable[object], maximum: int = ACKNOWLEDGED_MAX) -> list[Violation]:
    """Soft-limit codes confirmed: at most ``maximum``, each a snake_case code of 1-64 characters."""
    codes = list(codes)
    if len(codes) > maximum:
        return [Violation(field, f"must have at most {maximum} items, got {len(codes)}")]
    return [
        Violation(f"{field}[{i}]", "must be a limit's code: 1-64 lowercase letters, digits or _")
        for i, code in enumerate(codes)
        if type(code) is not str or not _LIMIT_CODE.fullmatch(code)
    ]


def program_size_violations(program: DosingProgram, path: str = "program") -> list[Violation]:
    """A program of at most :data:`PROGRAM_STEPS_MAX` steps, :data:`DAILY_BOLUSES_MAX` daily boluses
    and :data:`ONE_TIME_BOLUSES_MAX` one-time boluses."""
    found = (
        count_violation(f"{path}.steps", program.steps, PROGRAM_STEPS_MAX),
        count_violation(f"{path}.boluses", program.daily_boluses, DAILY_BOLUSES_MAX),
        count_violation(f"{path}.one_time_boluses", program.one_time_boluses, ONE_TIME_BOLUSES_MAX),
    )
    return [v for v in found if v]


def program_violations(program: DosingProgram, today: date, path: str = "program") -> list[Violation]:
    """:func:`program_size_violations`, and each one-time bolus within :data:`DEFAULT_WINDOW` of ``today``."""
    found = program_size_violations(program, path)
    for i, bolus in enumerate(program.one_time_boluses):
        bad = event_violation(f"{path}.one_time_boluses[{i}].at", bolus.at, today)
        found += [bad] if bad else []
    return found


def json_violations(
    field: str, value: object, *, max_items: int = MUSCLES_MAX, max_text: int = NOTE_MAX, depth: int = 4
) -> list[Violation]:
    """Free-form JSON (an assessment's data, a program as sent): at most ``max_items`` entries in any
    object or list, nested at most ``depth`` deep, every text (a key: a short code) as
    :func:`text_violation` allows it. The first few violations only: a huge value is not walked whole."""
    if isinstance(value, str):
        bad = text_violation(field, value, max_length=max_text)
        return [bad] if bad else []
    if not isinstance(value, dict | list):
        return []
    items = list(value.items()) if isinstance(value, dict) else list(enumerate(value))
    if len(items) > max_items:
        return [Violation(field, f"must have at most {max_items} entries, got {len(items)}")]
    if depth <= 0:
        return [Violation(field, "is nested too deep")]
    found: list[Violation] = []
    for key, item in items:
        where = f"{field}.{key}" if isinstance(value, dict) else f"{field}[{key}]"
        bad = text_violation(f"{where} (its name)", key, max_length=CODE_MAX) if isinstance(value, dict) else None
        found += [bad] if bad else []
        found += json_violations(where, item, max_items=max_items, max_text=max_text, depth=depth - 1)
        if len(found) >= _SHOWN:
            break
    return found


def assessment_violations(kind: str, data: object) -> list[Violation]:
    """An assessment's data within bounds (:func:`json_violations`; a GAS of at most :data:`GAS_GOALS_MAX` goals)."""
    goals = data.get("goals") if isinstance(data, dict) else None
    if kind == "gas" and isinstance(goals, list) and len(goals) > GAS_GOALS_MAX:
        return violations(count_violation("data.goals", goals, GAS_GOALS_MAX))
    return json_violations("data", data)


def number_violation(
    field: str, value: object, *, minimum: float, maximum: float = MAX_PHYSICAL, strict: bool = False
) -> Violation | None:
    """A finite number from ``minimum`` (above it when ``strict``) to ``maximum``; ``None`` is skipped."""
    return bound_violation(field, value, minimum=minimum, maximum=maximum, strict=strict)


def birth_date_violation(field: str, value: date | None, today: date) -> Violation | None:
    """A birth date from :data:`EARLIEST_BIRTH_DATE` to ``today``."""
    if value is not None and not EARLIEST_BIRTH_DATE <= value <= today:
        return Violation(field, f"must be from {EARLIEST_BIRTH_DATE.isoformat()} to today ({today.isoformat()})")
    return None


def event_violation(
    field: str, value: date | datetime | None, today: date, window: EventWindow = DEFAULT_WINDOW
) -> Violation | None:
    """A clinical event's or a booking's day within ``window`` of ``today``; ``None`` is skipped."""
    if value is None:
        return None
    first, last = window.bounds(today)
    day = value.date() if isinstance(value, datetime) else value
    if not first <= day <= last:
        return Violation(
            field,
            f"must be from {first.isoformat()} to {last.isoformat()} ({window.years_back} years back to "
            f"{window.years_ahead} ahead)",
        )
    return None


def violations(*found: Violation | Iterable[Violation] | None) -> list[Violation]:
    """The violations given, as one list (``None`` entries are rules kept)."""
    problems: list[Violation] = []
    for item in found:
        if isinstance(item, Violation):
            problems.append(item)
        elif item is not None:
            problems.extend(item)
    return problems


def raise_violations(*found: Violation | Iterable[Violation] | None) -> None:
    """Raise :class:`InvalidInput` with every violation given (``None`` entries are rules kept)."""
    problems = violations(*found)
    if problems:
        raise InvalidInput(problems)


def check_text(field: str, value: object, *, max_length: int, multiline: bool = False, required: bool = False) -> None:
    """:func:`text_violation`, raised."""
    raise_violations(text_violation(field, value, max_length=max_length, multiline=multiline, required=required))


def check_id(field: str, value: object, *, minimum: int = MIN_ID) -> None:
    """:func:`id_violation`, raised."""
    raise_violations(id_violation(field, value, minimum=minimum))


def check_birth_date(field: str, value: date | None, today: date) -> None:
    """:func:`birth_date_violation`, raised."""
    raise_violations(birth_date_violation(field, value, today))


def check_event(field: str, value: date | datetime | None, today: date, window: EventWindow = DEFAULT_WINDOW) -> None:
    """:func:`event_violation`, raised."""
    raise_violations(event_violation(field, value, today, window))


def _years_from(day: date, years: int) -> date:
    """The same day ``years`` later (earlier when negative); 29 February becomes the 28th."""
    year = min(max(day.year + years, date.min.year), date.max.year)
    try:
        return day.replace(year=year)
    except ValueError:
        return day.replace(year=year, day=28)


__all__ = [
    "ACKNOWLEDGED_MAX",
    "CODE_MAX",
    "DAILY_BOLUSES_MAX",
    "DATE_PATTERN",
    "DEFAULT_WINDOW",
    "DEVICE_WINDOW",
    "EARLIEST_BIRTH_DATE",
    "GAS_GOALS_MAX",
    "HHMM_PATTERN",
    "LIMIT_CODE_PATTERN",
    "LOCAL_TIME_PATTERN",
    "MAX_ID",
    "MIN_ID",
    "MULTI_LINE_PATTERN",
    "MUSCLES_MAX",
    "NAME_MAX",
    "NOTE_MAX",
    "ONE_LINE_PATTERN",
    "ONE_TIME_BOLUSES_MAX",
    "PRODUCT_PATTERN",
    "PROGRAM_STEPS_MAX",
    "PUMP_CLOCK_MAX_S",
    "PUMP_TIME_PATTERN",
    "REQUIRED_LINE_PATTERN",
    "REQUIRED_NOTE_PATTERN",
    "SPACES",
    "SYMPTOMS_MAX",
    "EventWindow",
    "assessment_violations",
    "birth_date_violation",
    "check_birth_date",
    "check_event",
    "check_id",
    "check_text",
    "code_violations",
    "count_violation",
    "event_violation",
    "id_violation",
    "json_violations",
    "number_violation",
    "padded",
    "program_size_violations",
    "program_violations",
    "raise_violations",
    "text_violation",
    "violations",
]
