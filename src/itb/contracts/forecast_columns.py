"""The fast path of ``itb forecast --batch``: decoded cases read column-wise into arrays.

A registry's nightly batch is hundreds of thousands of well-formed cases. Reading them one by
one into objects costs more than the forecast itself, so this module reads each field of a
whole chunk at once (C-level ``map`` over the decoded JSON) and checks every rule of the
contract on the columns with numpy.

It only *vouches* for cases: a case it is not sure of (any broken rule, any unusual shape or
type, a program too long for the padded arrays) is handed back to the caller, which parses it
with the precise per-case rules of :mod:`itb.contracts.forecast`; those name every violation,
or answer the case if it turns out valid after all. So this path never needs to build an error
message, and never accepts a case the precise rules would refuse (a property test holds the two
paths to the same answers). The rules themselves (:func:`vouch`, on :class:`FlatCases`) also
serve the typed path of :mod:`itb.contracts.forecast_typed`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import chain
from operator import itemgetter
from typing import Any

import numpy as np

from itb.contracts.forecast_fields import (
    BOLUS_KINDS,
    BOLUS_REQUIRED,
    CASE_FIELDS,
    ONE_TIME_FIELDS,
    ONE_TIME_REQUIRED,
    PROGRAM_FIELDS,
    STEP_REQUIRED,
)
from itb.contracts.jsonfields import MINUTES_OF_DAY, parse_local_datetime
from itb.domain.errors import MAX_PHYSICAL
from itb.domain.forecast_arrays import CaseArrays, padded_rows
from itb.domain.program import MAX_BOLUS_DURATION_MINUTES, MIN_BOLUS_DURATION_MINUTES

#: Cases per array computation (bounds memory; each chunk is independent).
CHUNK_CASES = 4096
#: Longer programs than these are answered by the per-case path (same arithmetic), so that one
#: odd case cannot make a whole chunk's padded arrays wide.
MAX_STEPS = 48
MAX_BOLUSES = 8
MAX_ONE_TIME = 4

_EMPTY: tuple = ()
_NUMBER = {int, float}
_LIST_OR_NULL = {list, type(None)}
_CASE_NUMBERS = ("at", "reservoir_capacity_ml", "concentration_mcg_per_ml", "reservoir_ml", "low_reservoir_alarm_ml")
_SCALAR_ID = (str, int, float, bool)


@dataclass(frozen=True)
class Columns:
    """A chunk of vouched-for cases: their ids (echoed back) and their arrays."""

    ids: list[Any]
    cases: CaseArrays


class _Irregular(Exception):
    """Something in a chunk has a shape the column reader does not handle; use the per-case path."""


def read_columns(objs: Sequence[object], slow: list[int]) -> Iterator[tuple[list[int], Columns]]:
    """``(rows, columns)`` for the cases of ``objs`` this path vouches for, chunk by chunk.

    The index of every other case is appended to ``slow``.
    """
    if _all_well_shaped(objs):
        candidates = list(range(len(objs)))
    else:
        candidates = [row for row, obj in enumerate(objs) if _well_shaped(obj)]
        chosen = set(candidates)
        slow.extend(row for row in range(len(objs)) if row not in chosen)
    for start in range(0, len(candidates), CHUNK_CASES):
        rows = candidates[start : start + CHUNK_CASES]
        try:
            ok, columns = _read_chunk([objs[row] for row in rows])  # type: ignore[misc]
        except _Irregular:
            slow.extend(rows)
            continue
        if ok.all():
            yield rows, columns
            continue
        slow.extend(row for row, good in zip(rows, ok.tolist()) if not good)
        keep = np.flatnonzero(ok)
        if len(keep):
            yield [rows[i] for i in keep.tolist()], _take(columns, keep)


def _all_well_shaped(objs: Sequence[object]) -> bool:
    """:func:`_well_shaped` for every case, checked a column at a time (the common case)."""
    if set(map(type, objs)) != {dict} or not all(map(CASE_FIELDS.issuperset, objs)):  # type: ignore[arg-type]
        return False
    programs = [obj.get("program") for obj in objs]  # type: ignore[attr-defined]
    if set(map(type, programs)) != {dict} or not all(map(PROGRAM_FIELDS.issuperset, programs)):  # type: ignore[arg-type]
        return False
    steps = [p.get("steps") for p in programs]  # type: ignore[union-attr]
    if set(map(type, steps)) != {list} or not 0 < min(map(len, steps)) <= max(map(len, steps)) <= MAX_STEPS:
        return False
    for key, limit in (("boluses", MAX_BOLUSES), ("one_time_boluses", MAX_ONE_TIME)):
        lists = [p.get(key) for p in programs]  # type: ignore[union-attr]
        if not set(map(type, lists)) <= _LIST_OR_NULL or max(map(len, filter(None, lists)), default=0) > limit:
            return False
    return True


def _well_shaped(obj: object) -> bool:
    """The case-level shape the column reader expects (cheap; values are checked later)."""
    if type(obj) is not dict or not obj.keys() <= CASE_FIELDS:
        return False
    program = obj.get("program")
    if type(program) is not dict or not program.keys() <= PROGRAM_FIELDS:
        return False
    steps = program.get("steps")
    boluses = program.get("boluses")
    one_time = program.get("one_time_boluses")
    return (
        type(steps) is list
        and 0 < len(steps) <= MAX_STEPS
        and (boluses is None or (type(boluses) is list and len(boluses) <= MAX_BOLUSES))
        and (one_time is None or (type(one_time) is list and len(one_time) <= MAX_ONE_TIME))
    )


def _take(columns: Columns, keep: np.ndarray) -> Columns:
    cases = columns.cases
    return Columns(
        [columns.ids[i] for i in keep.tolist()],
        cases.take(keep),
    )


# -- reading a chunk -----------------------------------------------------------------------


def _items(lists: Sequence[Sequence]) -> tuple[list[dict], np.ndarray, np.ndarray]:
    """The items of every case's list, flat; their count per case; the case of each item."""
    items = list(chain.from_iterable(lists))
    counts = np.fromiter(map(len, lists), dtype=np.int64, count=len(lists))
    return items, counts, np.repeat(np.arange(len(lists)), counts)


def _fields(items: list[dict], keys: tuple[str, ...], allowed: frozenset[str] | None = None) -> list[list]:
    """Each of ``keys`` for every item. Each item must be an object with those keys and no
    other (or none outside ``allowed``, when given)."""
    try:
        values = [list(map(itemgetter(key), items)) for key in keys]
    except (KeyError, TypeError):  # a missing key, or an item that is not an object
        raise _Irregular from None
    if allowed is not None:
        if not all(item.keys() <= allowed for item in items):
            raise _Irregular
    elif sum(map(len, items)) != len(keys) * len(items):  # an unknown key
        raise _Irregular
    return values


def _numbers(values: list) -> tuple[np.ndarray, np.ndarray]:
    """Values as floats, and which are not finite numbers (null, text, booleans, overflow)."""
    if set(map(type, values)) <= _NUMBER:
        try:
            arr = np.array(values, dtype=np.float64)
        except OverflowError:
            raise _Irregular from None
        return arr, ~np.isfinite(arr)
    bad = np.array([type(v) not in _NUMBER for v in values], dtype=bool)
    try:
        arr = np.array([v if type(v) in _NUMBER else np.nan for v in values], dtype=np.float64)
    except OverflowError:
        raise _Irregular from None
    return arr, bad | ~np.isfinite(arr)


def _minutes(values: list) -> np.ndarray:
    """ "HH:MM" texts as minutes after midnight (NaN: not such a text)."""
    try:
        found = list(map(MINUTES_OF_DAY.get, values))
    except TypeError:  # an unhashable value (a list or an object)
        raise _Irregular from None
    if None in found:
        return np.array([np.nan if m is None else m for m in found], dtype=np.float64)
    return np.array(found, dtype=np.float64)


#: Where the contract's date-time text has a digit (``YYYY-MM-DDTHH:MM:SS``), and its separators.
_DIGITS = np.array([0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15])
_SEPARATORS = ((4, "-"), (7, "-"), (10, "T"), (13, ":"))


def _epoch_seconds(values: list) -> tuple[np.ndarray, np.ndarray]:
    """Local date-times (the contract's form) as seconds since 1970, and which do not parse."""
    bad = _not_in_form(values) if set(map(type, values)) == {str} else None
    if bad is None:
        bad = np.array([parse_local_datetime(v) is None for v in values], dtype=bool)
    if bad.any():
        values = [v if not b else "1970-01-01T00:00" for v, b in zip(values, bad.tolist())]
    try:  # text the contract accepts names the same instant for numpy as for datetime
        return np.array(values, dtype="datetime64[s]").astype(np.int64), bad
    except ValueError:
        raise _Irregular from None


def _not_in_form(texts: list[str]) -> np.ndarray | None:
    """Which texts are not ``YYYY-MM-DDTHH:MM[:SS]`` (ASCII digits, year from 1), checked on
    their characters as a numpy array; None if the texts are too odd for that (then each is
    checked alone). Ranges (month 13, February 30, hour 24) are left to the date parser."""
    if not texts:
        return np.zeros(0, dtype=bool)
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    chars = np.array(texts)
    if chars.dtype.itemsize > 19 * 4:
        return None
    codes = np.zeros((len(texts), 19), dtype=np.uint32)
    codes[:, : chars.dtype.itemsize // 4] = chars.view(np.uint32).reshape(len(texts), -1)
    seconds = lengths == 19
    digits = (codes >= ord("0")) & (codes <= ord("9"))
    good = digits[:, _DIGITS].all(axis=1) & (seconds | (lengths == 16))
    good &= ~seconds | (digits[:, 17] & digits[:, 18] & (codes[:, 16] == ord(":")))
    for at, mark in _SEPARATORS:
        good &= codes[:, at] == ord(mark)
    good &= (codes[:, :4] != ord("0")).any(axis=1)  # year 0000 is no date
    return ~good


def _per_case(bad_items: np.ndarray, case_of_item: np.ndarray, n: int) -> np.ndarray:
    return np.bincount(case_of_item[bad_items], minlength=n) > 0


def _read_chunk(objs: list[dict]) -> tuple[np.ndarray, Columns]:
    """The chunk's arrays, and which cases are valid (invalid rows hold harmless values)."""
    ids = [obj.get("id") for obj in objs]
    if not set(map(type, ids)) <= {*_SCALAR_ID, type(None)}:
        ids = [i if type(i) in _SCALAR_ID else None for i in ids]
    try:
        ats, capacities, concentrations, reservoirs, alarms = (
            list(map(itemgetter(key), objs)) for key in _CASE_NUMBERS
        )
    except KeyError:  # a required field is missing: answered by the per-case path
        raise _Irregular from None
    at_s, bad = _epoch_seconds(ats)
    empties = [obj.get("empty_ml") for obj in objs]
    if None in empties:
        empties = [0.0 if v is None else v for v in empties]
    numbers = [_numbers(values)[0] for values in (capacities, concentrations, reservoirs, alarms, empties)]

    programs = [obj["program"] for obj in objs]
    steps, step_count, _ = _items([p["steps"] for p in programs])
    starts, rates = _fields(steps, STEP_REQUIRED)
    step_min = _minutes(starts)

    boluses, bolus_count, _ = _items([p.get("boluses") or _EMPTY for p in programs])
    starts, doses, durations = _fields(boluses, BOLUS_REQUIRED)
    bolus = (_minutes(starts), _numbers(doses)[0], _numbers(durations)[0])

    one_time, ot_count, ot_case = _items([p.get("one_time_boluses") or _EMPTY for p in programs])
    ats, doses, durations = _fields(one_time, ONE_TIME_REQUIRED, ONE_TIME_FIELDS)
    kinds = [item.get("kind", "single") for item in one_time]
    ot_at, bad_ot = _epoch_seconds(ats)
    bad_ot |= np.array([type(k) is not str or k not in BOLUS_KINDS for k in kinds], dtype=bool)
    flat = FlatCases(
        bad=bad | _per_case(bad_ot, ot_case, len(objs)),
        at_s=at_s,
        capacity=numbers[0],
        concentration=numbers[1],
        reservoir=numbers[2],
        alarm=numbers[3],
        empty=numbers[4],
        step_min=step_min,
        step_rate=_numbers(rates)[0],
        step_count=step_count,
        bolus_min=bolus[0],
        bolus_dose=bolus[1],
        bolus_duration=bolus[2],
        bolus_count=bolus_count,
        ot_at_s=ot_at,
        ot_dose=_numbers(doses)[0],
        ot_duration=_numbers(durations)[0],
        ot_count=ot_count,
    )
    return vouch(flat), Columns(ids, flat.arrays())


# -- the contract's rules, on flat columns --------------------------------------------------


@dataclass(frozen=True)
class FlatCases:
    """A chunk's cases as flat columns, before the contract's rules are applied (:func:`vouch`).

    ``bad`` marks cases already known not to be read right (a date that does not parse, an
    unknown kind); any other value that could not be read is NaN. Items (steps, boluses,
    one-time boluses) are flat, case after case, ``*_count`` of them per case. Times of day are
    minutes; dates are seconds since 1970.
    """

    bad: np.ndarray
    at_s: np.ndarray
    capacity: np.ndarray
    concentration: np.ndarray
    reservoir: np.ndarray
    alarm: np.ndarray
    empty: np.ndarray
    step_min: np.ndarray
    step_rate: np.ndarray
    step_count: np.ndarray
    bolus_min: np.ndarray
    bolus_dose: np.ndarray
    bolus_duration: np.ndarray
    bolus_count: np.ndarray
    ot_at_s: np.ndarray
    ot_dose: np.ndarray
    ot_duration: np.ndarray
    ot_count: np.ndarray

    def arrays(self) -> CaseArrays:
        """The cases as the forecast's padded arrays (rows of bad cases hold harmless values)."""
        day0 = self.at_s - self.at_s % 86400
        ot_case = np.repeat(np.arange(len(self.at_s)), self.ot_count)
        step_start, step_rate = padded_rows([(self.step_min, 0.0), (self.step_rate, 0.0)], self.step_count)
        bolus_start, bolus_dose, bolus_duration = padded_rows(
            [(self.bolus_min, 0.0), (self.bolus_dose, 0.0), (self.bolus_duration, 1.0)], self.bolus_count
        )
        ot_start = (self.ot_at_s - day0[ot_case]).astype(np.float64)
        ot_start, ot_dose, ot_duration = padded_rows(
            [(ot_start, 0.0), (self.ot_dose, 0.0), (self.ot_duration, 1.0)], self.ot_count
        )
        return CaseArrays(
            day0_epoch_s=day0,
            t0_s=(self.at_s - day0).astype(np.float64),
            reservoir_ml=self.reservoir,
            concentration_mcg_per_ml=self.concentration,
            low_reservoir_alarm_ml=self.alarm,
            empty_ml=self.empty,
            step_start_min=step_start,
            step_rate_mcg_per_day=step_rate,
            step_count=self.step_count,
            bolus_start_min=bolus_start,
            bolus_dose_mcg=bolus_dose,
            bolus_duration_min=bolus_duration,
            bolus_count=self.bolus_count,
            one_time_start_s=ot_start,
            one_time_dose_mcg=ot_dose,
            one_time_duration_min=ot_duration,
            one_time_count=self.ot_count,
        )


def _outside(arr: np.ndarray, low: float, *, strict: bool = False, high: float = MAX_PHYSICAL) -> np.ndarray:
    """Which values break ``low <= v <= high`` (``low < v`` when strict); NaN breaks it."""
    with np.errstate(invalid="ignore"):
        return ~((arr > low) if strict else (arr >= low)) | ~(arr <= high)


def vouch(flat: FlatCases) -> np.ndarray:
    """Which cases keep every rule of the contract (the others go to the per-case path)."""
    n = len(flat.at_s)
    bad = flat.bad | _outside(flat.capacity, 0, strict=True) | _outside(flat.concentration, 0, strict=True)
    for volume in (flat.reservoir, flat.alarm, flat.empty):
        with np.errstate(invalid="ignore"):
            bad |= _outside(volume, 0) | (volume > flat.capacity)

    # The basal steps: the first at 00:00, starts strictly increasing.
    step_min, count = flat.step_min, flat.step_count
    bad |= count == 0
    first = np.zeros(len(step_min), dtype=bool)
    first[(np.cumsum(count) - count)[count > 0]] = True
    previous = np.empty_like(step_min)
    previous[1:] = step_min[:-1]
    with np.errstate(invalid="ignore"):
        bad_step = np.where(first, ~(step_min == 0), ~(step_min > previous)) | _outside(flat.step_rate, 0)
    bad |= _per_case(bad_step, np.repeat(np.arange(n), count), n)

    low, high = MIN_BOLUS_DURATION_MINUTES, MAX_BOLUS_DURATION_MINUTES
    bad_bolus = _outside(flat.bolus_min, 0) | _outside(flat.bolus_dose, 0)
    bad_bolus |= _outside(flat.bolus_duration, low, high=high)
    bad |= _per_case(bad_bolus, np.repeat(np.arange(n), flat.bolus_count), n)
    bad_ot = _outside(flat.ot_dose, 0) | _outside(flat.ot_duration, low, high=high)
    bad |= _per_case(bad_ot, np.repeat(np.arange(n), flat.ot_count), n)
    return ~bad
