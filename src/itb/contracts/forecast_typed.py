"""The fastest path of ``itb forecast --batch``: lines decoded straight into typed records.

Decoding each line into dicts and lists (orjson) costs about as much as the rest of a batch.
msgspec decodes a line of the contract's shape straight into the small records below, checking
in C that every field is known, present and of its JSON type; the records' fields are then read
column-wise into numpy arrays, where :func:`itb.contracts.forecast_columns.vouch` checks the
contract's rules on all of them at once.

Like the column reader, this path only *vouches* for lines: a line that msgspec refuses (not
JSON, another shape or type, a missing or unknown field) or that breaks a rule is left to the
caller, which decodes it with orjson and answers it by the precise per-case rules (those write
the error messages). Text this path cannot be sure to read exactly as orjson does (escapes,
non-ASCII bytes) leaves the whole chunk to the caller. Unit and property tests hold the paths
to the same bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
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
    steps: list[Step]
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
#: Integers that orjson reads as such (beyond them, as floats; msgspec keeps them whole).
_INT64 = (-(1 << 63), 1 << 64)


def read_lines(lines: Sequence[bytes]) -> tuple[list[int], Columns]:
    """The indexes of the ``lines`` this path vouches for, and their columns.

    Lines with escapes or non-ASCII bytes are left to the caller (strings the two decoders are
    not proved to read alike), as is every line of a chunk that has any.
    """
    text = b"\n".join(lines)
    if b"\\" in text or not text.isascii():
        return [], _no_columns()
    try:
        cases = list(map(_decode, lines))
        rows = list(range(len(lines)))
    except (msgspec.DecodeError, msgspec.ValidationError):
        rows, cases = _each(lines)
    if not cases:
        return [], _no_columns()
    try:
        ok, columns = _read(cases)
    except _Irregular:  # a value the column reader does not handle (a date numpy refuses)
        return [], _no_columns()
    if ok.all():
        return rows, columns
    keep = np.flatnonzero(ok)
    return [rows[i] for i in keep.tolist()], Columns([columns.ids[i] for i in keep.tolist()], columns.cases.take(keep))


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


def _read(cases: list[Case]) -> tuple[np.ndarray, Columns]:
    """The cases' columns, and which keep the contract's rules (and this path's limits)."""
    programs = list(map(attrgetter("program"), cases))
    step_lists = list(map(attrgetter("steps"), programs))
    bolus_lists = list(map(attrgetter("boluses"), programs))
    one_time_lists = list(map(attrgetter("one_time_boluses"), programs))
    steps = list(chain.from_iterable(step_lists))
    boluses = list(chain.from_iterable(bolus_lists))
    one_time = list(chain.from_iterable(one_time_lists))
    step_count, bolus_count, ot_count = _counts(step_lists), _counts(bolus_lists), _counts(one_time_lists)
    at_s, bad = _epoch_seconds(list(map(attrgetter("at"), cases)))
    ot_at, bad_ot = _epoch_seconds(list(map(attrgetter("at"), one_time)))
    bad |= (step_count > MAX_STEPS) | (bolus_count > MAX_BOLUSES) | (ot_count > MAX_ONE_TIME)
    if bad_ot.any():
        bad |= np.bincount(np.repeat(np.arange(len(cases)), ot_count)[bad_ot], minlength=len(cases)) > 0
    flat = FlatCases(
        bad=bad,
        at_s=at_s,
        capacity=_floats(cases, "reservoir_capacity_ml"),
        concentration=_floats(cases, "concentration_mcg_per_ml"),
        reservoir=_floats(cases, "reservoir_ml"),
        alarm=_floats(cases, "low_reservoir_alarm_ml"),
        empty=_floats(cases, "empty_ml"),
        step_min=_minutes(list(map(attrgetter("start"), steps))),
        step_rate=_floats(steps, "rate_mcg_per_day"),
        step_count=step_count,
        bolus_min=_minutes(list(map(attrgetter("start"), boluses))),
        bolus_dose=_floats(boluses, "dose_mcg"),
        bolus_duration=_floats(boluses, "duration_minutes"),
        bolus_count=bolus_count,
        ot_at_s=ot_at,
        ot_dose=_floats(one_time, "dose_mcg"),
        ot_duration=_floats(one_time, "duration_minutes"),
        ot_count=ot_count,
    )
    ids = list(map(attrgetter("id"), cases))
    if int in set(map(type, ids)):
        low, high = _INT64
        flat.bad[[type(i) is int and not low <= i < high for i in ids]] = True  # type: ignore[operator]
    return vouch(flat), Columns(ids, flat.arrays())
