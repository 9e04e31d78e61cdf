"""The fastest path of ``itb forecast --batch``: lines decoded straight into typed records.

Decoding each line into dicts and lists (orjson) costs about as much as the rest of a batch.
msgspec decodes a line of the contract's shape straight into the small records below, checking
in C that every field is known, present and of its JSON type; the records' fields are then read
column-wise into numpy arrays (a few hundred lines at a time, while the records are in the CPU's
cache; times of day and dates from their texts' bytes). The basal steps, most of a line, are
left as their text by the decoder and read from the bytes of a whole chunk's steps at once
(:mod:`itb.contracts.item_text`: every byte checked, no object per step). Then
:func:`itb.contracts.forecast_columns.vouch` checks the contract's rules on all of them at once.

Like the column reader, this path only *vouches* for lines: a line that msgspec refuses (not
JSON, another shape or type, a missing or unknown field) or that breaks a rule is left to the
caller, which decodes it with orjson and answers it by the precise per-case rules (those write
the error messages). Text this path cannot be sure to read exactly as orjson does (escapes,
non-ASCII bytes) leaves the whole chunk to the caller. Unit and property tests hold the paths
to the same bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import chain
from operator import attrgetter
from typing import Literal

import msgspec
import numpy as np

from itb.contracts.forecast_columns import (
    MAX_BOLUSES,
    MAX_ONE_TIME,
    MAX_STEPS,
    Columns,
    FlatCases,
    _epoch_seconds,
    _Irregular,
    _minutes,
    vouch,
)
from itb.contracts.item_text import NUMBER, TIME, Layout, read_items


class Step(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    start: str
    rate_mcg_per_day: float


class DailyBolus(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    start: str
    dose_mcg: float
    duration_minutes: float


class OneTimeBolus(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    at: str
    dose_mcg: float
    duration_minutes: float
    kind: Literal["single", "bridge", "priming"] = "single"


class Program(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    steps: msgspec.Raw  # left as its text, read by _item_columns (a program's bulk: no object per step)
    boluses: list[DailyBolus] = []
    one_time_boluses: list[OneTimeBolus] = []


class Case(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    at: str
    reservoir_capacity_ml: float
    reservoir_ml: float
    concentration_mcg_per_ml: float
    low_reservoir_alarm_ml: float
    program: Program
    id: str | int | float | bool | None = None
    empty_ml: float = 0.0


_decode = msgspec.json.Decoder(Case).decode
_decode_lines = msgspec.json.Decoder(Case).decode_lines
_decode_steps = msgspec.json.Decoder(list[Step]).decode
#: Integers that orjson reads as such (beyond them, as floats; msgspec keeps them whole).
_INT64 = (-(1 << 63), 1 << 64)


#: Lines decoded at a time. Their records are read into columns at once and then freed, before
#: the next lines are decoded: the records are read while still in the CPU's cache, and the next
#: ones reuse their memory (decoding a whole chunk first, then reading it, takes a third longer).
DECODE_LINES = 256


def read_lines(lines: Sequence[bytes], plain: bool = False) -> tuple[list[int], Columns]:
    """The indexes of the ``lines`` this path vouches for, and their columns.

    Lines with escapes or non-ASCII bytes are left to the caller (strings the two decoders are
    not proved to read alike), as is every line of a chunk that has any. ``plain``: the caller
    has found that the lines have neither (else they are looked over here).
    """
    if not plain:
        text = b"\n".join(lines)
        if b"\\" in text or not text.isascii():
            return [], _no_columns()
    rows: list[int] = []
    parts = _Parts()
    try:
        for start in range(0, len(lines), DECODE_LINES):
            piece = lines[start : start + DECODE_LINES]
            try:
                cases = list(map(_decode, piece))
                rows.extend(range(start, start + len(piece)))
            except (msgspec.DecodeError, msgspec.ValidationError):
                found, cases = _each(piece)
                rows.extend(start + row for row in found)
            if cases:
                parts.add(cases)
            del cases
        if not rows:
            return [], _no_columns()
        ok, columns = parts.read()
    except _Irregular:  # a value the column reader does not handle (a date numpy refuses)
        return [], _no_columns()
    if ok.all():
        return rows, columns
    keep = np.flatnonzero(ok).tolist()
    return [rows[i] for i in keep], _kept(columns, keep)


def read_piece(piece: bytes) -> tuple[list[int] | None, Columns] | None:
    """:func:`read_lines` of the lines of ``piece`` (whole lines, free of escapes and non-ASCII
    bytes), decoded as one stream rather than line by line (no bytes object per line): the rows
    vouched for, None for all of them, and their columns. None when the piece cannot be read
    so (a line that is not one object of the contract's shape, a blank line, a piece not ending
    in a newline): the caller reads it line by line.

    A stream decoder reads values wherever they are; here they are held to lines. Every newline
    must stand between ``}`` and ``{``, which, outside strings (and a JSON string holds no
    newline), is only possible between two top-level values; so each line holds whole values,
    at least one, and as many values as lines means one each."""
    u = np.frombuffer(piece, dtype=np.uint8)
    ends = np.flatnonzero(u == ord("\n"))
    if not len(ends) or ends[-1] != len(u) - 1 or u[0] != ord("{"):
        return None
    if not ((u[ends - 1] == ord("}")).all() and (u[ends[:-1] + 1] == ord("{")).all()):
        return None
    try:
        cases = _decode_lines(piece)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    if len(cases) != len(ends):
        return None
    parts = _Parts()
    try:
        parts.add(cases)
        del cases
        ok, columns = parts.read()
    except _Irregular:  # a value the column reader does not handle (a date numpy refuses)
        return None
    if ok.all():
        return None, columns
    keep = np.flatnonzero(ok).tolist()
    return keep, _kept(columns, keep)


def _kept(columns: Columns, keep: list[int]) -> Columns:
    """The cases of ``columns`` at the rows ``keep`` only."""
    return Columns([columns.ids[i] for i in keep], columns.cases.take(np.asarray(keep, dtype=np.intp)))


def _each(lines: Sequence[bytes]) -> tuple[list[int], list[Case]]:
    rows, cases = [], []
    for row, line in enumerate(lines):
        try:
            cases.append(_decode(line))
        except (msgspec.DecodeError, msgspec.ValidationError):
            continue
        rows.append(row)
    return rows, cases


def _no_columns() -> Columns:
    return Columns([], _read([])[1].cases)


def _floats(items: Sequence[object], name: str) -> np.ndarray:
    return np.fromiter(map(attrgetter(name), items), dtype=np.float64, count=len(items))


def _counts(lists: Sequence[Sequence]) -> np.ndarray:
    return np.fromiter(map(len, lists), dtype=np.int64, count=len(lists))


_CASE_FLOATS = (
    "reservoir_capacity_ml",
    "concentration_mcg_per_ml",
    "reservoir_ml",
    "low_reservoir_alarm_ml",
    "empty_ml",
)
_CASE_VALUES = attrgetter(*_CASE_FLOATS)
_PROGRAM = attrgetter("program")
_STEPS, _BOLUSES, _ONE_TIME = attrgetter("steps"), attrgetter("boluses"), attrgetter("one_time_boluses")
_START, _AT, _ID = attrgetter("start"), attrgetter("at"), attrgetter("id")


class _Parts:
    """The columns of a chunk's records, read a few hundred records at a time (:meth:`add`),
    then joined and checked (:meth:`read`)."""

    def __init__(self) -> None:
        self.arrays: dict[str, list[np.ndarray]] = {}
        self.ats: list[str] = []
        self.ot_ats: list[str] = []
        self.ids: list[object] = []
        self.step_texts: list[msgspec.Raw] = []

    def _put(self, name: str, values: np.ndarray) -> None:
        self.arrays.setdefault(name, []).append(values)

    def add(self, cases: list[Case]) -> None:
        """Read ``cases``' fields (the records themselves are not kept)."""
        put = self._put
        programs = list(map(_PROGRAM, cases))
        bolus_lists = list(map(_BOLUSES, programs))
        one_time_lists = list(map(_ONE_TIME, programs))
        boluses = list(chain.from_iterable(bolus_lists))
        one_time = list(chain.from_iterable(one_time_lists))
        self.step_texts.extend(map(_STEPS, programs))
        put("bolus_count", _counts(bolus_lists))
        put("ot_count", _counts(one_time_lists))
        values = np.fromiter(chain.from_iterable(map(_CASE_VALUES, cases)), np.float64, len(cases) * len(_CASE_FLOATS))
        for name, column in zip(_CASE_FLOATS, values.reshape(-1, len(_CASE_FLOATS)).T):
            put(name, column)
        put("bolus_min", _minutes_of(boluses))
        put("bolus_dose", _floats(boluses, "dose_mcg"))
        put("bolus_duration", _floats(boluses, "duration_minutes"))
        put("ot_dose", _floats(one_time, "dose_mcg"))
        put("ot_duration", _floats(one_time, "duration_minutes"))
        self.ats.extend(map(_AT, cases))
        self.ot_ats.extend(map(_AT, one_time))
        self.ids.extend(map(_ID, cases))

    def read(self) -> tuple[np.ndarray, Columns]:
        """The columns of every record added, and which keep the contract's rules (and this
        path's limits)."""
        got = {name: np.concatenate(parts) for name, parts in self.arrays.items()}
        got["step_count"], (got["step_min"], got["step_rate"]), bad = _item_columns(
            self.step_texts, STEP_LAYOUT, _decode_steps
        )
        return _checked(got, self.ats, self.ot_ats, self.ids, bad)


def _minutes_of(items: list) -> np.ndarray:
    """The items' ``start`` ("HH:MM") as minutes after midnight (NaN: not such a text).

    The texts are joined with a separator and read as one array of bytes: when every one of
    them is five characters of the form ``DD:DD`` (so the separators are where they are put),
    each is read from its bytes; otherwise each is looked up alone."""
    n = len(items)
    text = "|".join(map(_START, items)).encode()
    if len(text) == 6 * n - 1 and n:
        # Each character's distance above the lowest it may be ("0", ":", the separator); one
        # below wraps past 255. Digits in range (hours to 29, minutes to 59), marks in place.
        above = np.frombuffer(text + b"|", dtype=np.uint8).reshape(n, 6) - _HHMM_LOW
        if (above <= _HHMM_HIGH).all():
            digits = above.astype(np.int32)
            minute = digits[:, 0] * 600 + digits[:, 1] * 60 + digits[:, 3] * 10 + digits[:, 4]
            if (minute < 1440).all():  # hours to 23
                return minute.astype(np.float64)
    return _minutes(list(map(_START, items)))


#: The list the decoder leaves as text (most of a line): how orjson writes its records. (The
#: daily boluses, one or two a case, cost less decoded: reading a list's text has a fixed price.)
STEP_LAYOUT = Layout((("start", TIME), ("rate_mcg_per_day", NUMBER)))


def _item_columns(
    texts: list[msgspec.Raw], layout: Layout, decode: Callable[[msgspec.Raw], list]
) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
    """The records of each case's list, from the lists' texts: how many each case has, each
    field of all of them (flat; times of day in minutes), and which cases' texts are not such
    a list (left to the per-case path). Read from the joined texts' bytes when every record is
    written as orjson writes it (:func:`itb.contracts.item_text.read_items`); otherwise each
    list is decoded (``decode``)."""
    found = read_items(texts, layout)
    if found is not None:
        return found[0], found[1], np.zeros(len(texts), bool)
    lists, bad = [], np.zeros(len(texts), bool)
    for row, text in enumerate(texts):
        try:
            lists.append(decode(text))
        except (msgspec.DecodeError, msgspec.ValidationError):
            lists.append([])
            bad[row] = True
    items = list(chain.from_iterable(lists))
    columns = [_minutes_of(items) if kind == TIME else _floats(items, name) for name, kind in layout.fields]
    return _counts(lists), columns, bad


_HHMM_LOW = np.frombuffer(b"00:00|", dtype=np.uint8)
_HHMM_HIGH = np.array([2, 9, 0, 5, 9, 0], dtype=np.uint8)
#: Where ``YYYY-MM-DDTHH:MM:SS`` has its digits, its separators (and after it, the joining one).
_DATE_DIGITS = np.array([0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18])
_DATE_MARKS = {4: ord("-"), 7: ord("-"), 10: ord("T"), 13: ord(":"), 16: ord(":"), 19: ord("|")}
_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])


def _instants(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """:func:`~itb.contracts.forecast_columns._epoch_seconds` (seconds since 1970, and which
    texts are not dates of the contract's form), read from the texts' bytes when every one is
    ``YYYY-MM-DDTHH:MM:SS``: the calendar's rules are checked here (a date that does not exist is
    marked, for the per-case path to name), the day counted from the civil date (proleptic
    Gregorian, as numpy and ``datetime`` count). Other texts go to ``_epoch_seconds``."""
    n = len(texts)
    text = "|".join(texts).encode()
    if not n or len(text) != 20 * n - 1:
        return _epoch_seconds(texts)
    chars = np.frombuffer(text + b"|", dtype=np.uint8).reshape(n, 20)
    digits = chars[:, _DATE_DIGITS].astype(np.int64) - 48
    good = ((digits >= 0) & (digits <= 9)).all(axis=1)
    for at, mark in _DATE_MARKS.items():
        good &= chars[:, at] == mark
    if not good.all():
        return _epoch_seconds(texts)
    year = digits[:, 0] * 1000 + digits[:, 1] * 100 + digits[:, 2] * 10 + digits[:, 3]
    month = digits[:, 4] * 10 + digits[:, 5]
    day = digits[:, 6] * 10 + digits[:, 7]
    hour = digits[:, 8] * 10 + digits[:, 9]
    minute = digits[:, 10] * 10 + digits[:, 11]
    second = digits[:, 12] * 10 + digits[:, 13]
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    month_ok = (month >= 1) & (month <= 12)
    last_day = _DAYS_IN_MONTH[np.where(month_ok, month, 0)] + (leap & (month == 2))
    good = (year >= 1) & month_ok & (day >= 1) & (day <= last_day) & (hour < 24) & (minute < 60) & (second < 60)
    # Days from 1970-01-01 to the civil date (H. Hinnant's days_from_civil), years from 1 on.
    y = year - (month <= 2)
    era = y // 400
    yoe = y - era * 400
    doy = (153 * np.where(month > 2, month - 3, month + 9) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    days = era * 146097 + doe - 719468
    seconds = days * 86400 + hour * 3600 + minute * 60 + second
    return np.where(good, seconds, 0), ~good


def _read(cases: list[Case]) -> tuple[np.ndarray, Columns]:
    """The cases' columns, and which keep the contract's rules (and this path's limits)."""
    parts = _Parts()
    parts.add(cases)
    return parts.read()


def _checked(
    got: dict[str, np.ndarray], ats: list[str], ot_ats: list[str], ids: list, bad_items: np.ndarray
) -> tuple[np.ndarray, Columns]:
    step_count, bolus_count, ot_count = got["step_count"], got["bolus_count"], got["ot_count"]
    n = len(ids)
    at_s, bad = _instants(ats)
    ot_at, bad_ot = _instants(ot_ats)
    bad |= bad_items | (step_count > MAX_STEPS) | (bolus_count > MAX_BOLUSES) | (ot_count > MAX_ONE_TIME)
    if bad_ot.any():
        bad |= np.bincount(np.repeat(np.arange(n), ot_count)[bad_ot], minlength=n) > 0
    flat = FlatCases(
        bad=bad,
        at_s=at_s,
        capacity=got["reservoir_capacity_ml"],
        concentration=got["concentration_mcg_per_ml"],
        reservoir=got["reservoir_ml"],
        alarm=got["low_reservoir_alarm_ml"],
        empty=got["empty_ml"],
        step_min=got["step_min"],
        step_rate=got["step_rate"],
        step_count=step_count,
        bolus_min=got["bolus_min"],
        bolus_dose=got["bolus_dose"],
        bolus_duration=got["bolus_duration"],
        bolus_count=bolus_count,
        ot_at_s=ot_at,
        ot_dose=got["ot_dose"],
        ot_duration=got["ot_duration"],
        ot_count=ot_count,
    )
    if int in set(map(type, ids)):
        low, high = _INT64
        flat.bad[[type(i) is int and not low <= i < high for i in ids]] = True  # type: ignore[operator]
    return vouch(flat), Columns(ids, flat.arrays())
