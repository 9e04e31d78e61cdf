"""Exact reservoir forecast: when does the reservoir reach the low-reservoir alarm, and empty?

The contract is ``shared/spec/forecast.md``. This module holds the reservoir state, its rules,
and the Python API (:func:`forecast_reservoir` for one case, :func:`forecast_many` for a
worklist); the arithmetic itself is :mod:`itb.domain.forecast_arrays`, one implementation for
one case or a million. Results are truncated to the second.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import chain
from operator import attrgetter
from typing import NamedTuple

import numpy as np

from itb.domain.errors import Violation, bound_violation
from itb.domain.forecast_arrays import CaseArrays, forecast_arrays, padded
from itb.domain.program import SECONDS_PER_DAY, DosingProgram

EPOCH = datetime(1970, 1, 1)
#: Cases per array computation in :func:`forecast_many`.
CHUNK_CASES = 4096
ONE_SECOND = timedelta(seconds=1)


@dataclass(frozen=True, slots=True)
class ReservoirState:
    """What is known of a reservoir at an instant (pump clock, local time)."""

    at: datetime
    reservoir_capacity_ml: float
    reservoir_ml: float
    concentration_mcg_per_ml: float
    low_reservoir_alarm_ml: float
    empty_ml: float = 0.0


class Forecast(NamedTuple):
    daily_dose_mcg: float
    daily_volume_ml: float
    low_reservoir_alarm_at: datetime | None
    empty_at: datetime | None


def check_reservoir(state: ReservoirState) -> list[Violation]:
    """Every rule the reservoir state breaks (the program is checked by ``check_program``).

    Fields that are ``None`` are reported as required.
    """
    cap = state.reservoir_capacity_ml
    found = [
        bound_violation("reservoir_capacity_ml", cap, minimum=0, strict=True, required=True),
        bound_violation(
            "concentration_mcg_per_ml", state.concentration_mcg_per_ml, minimum=0, strict=True, required=True
        ),
    ]
    cap_ok = found[0] is None
    for name in ("reservoir_ml", "low_reservoir_alarm_ml", "empty_ml"):
        value = getattr(state, name)
        bad = bound_violation(name, value, minimum=0, required=True)
        if bad is None and cap_ok and value is not None and value > cap:
            bad = Violation(name, f"must not exceed reservoir_capacity_ml ({cap:g} mL), got {value:g}")
        found.append(bad)
    return [v for v in found if v]


def case_arrays(cases: Sequence[tuple[ReservoirState, DosingProgram]]) -> CaseArrays:
    """Valid (state, program) pairs as the columns the array forecast works on."""
    states, programs = zip(*cases)
    n = len(states)
    at_s = np.floor(np.fromiter(((_naive(s.at) - EPOCH).total_seconds() for s in states), np.float64, n))
    at_s = at_s.astype(np.int64)  # the pump clock counts whole seconds: a finer instant is cut
    day0 = at_s - at_s % SECONDS_PER_DAY

    def items(lists: list[tuple], width: int) -> tuple[np.ndarray, list[int]]:
        counts = list(map(len, lists))
        values = chain.from_iterable(chain.from_iterable(lists))  # (NamedTuples are slow for np.array)
        return np.fromiter(values, dtype=np.float64, count=sum(counts) * width).reshape(-1, width), counts

    steps, step_counts = items(list(map(attrgetter("steps"), programs)), 2)
    boluses, bolus_counts = items(list(map(attrgetter("daily_boluses"), programs)), 3)
    one_time = list(map(attrgetter("one_time_boluses"), programs))
    ot_counts = list(map(len, one_time))
    ot_rows = [
        ((o.at - EPOCH) // ONE_SECOND - d, o.dose_mcg, o.duration_minutes)
        for bolus_list, d in zip(one_time, day0.tolist())
        for o in bolus_list
    ]
    ot = np.array(ot_rows, dtype=np.float64).reshape(len(ot_rows), 3)
    volumes = np.array(list(map(_VOLUMES, states)), dtype=np.float64).reshape(n, 4)
    return CaseArrays(
        day0_epoch_s=day0,
        t0_s=(at_s - day0).astype(np.float64),
        reservoir_ml=volumes[:, 0],
        concentration_mcg_per_ml=volumes[:, 1],
        low_reservoir_alarm_ml=volumes[:, 2],
        empty_ml=volumes[:, 3],
        step_start_min=padded(steps[:, 0], step_counts, 0.0),
        step_rate_mcg_per_day=padded(steps[:, 1], step_counts, 0.0),
        step_count=np.array(step_counts, dtype=np.int64),
        bolus_start_min=padded(boluses[:, 0], bolus_counts, 0.0),
        bolus_dose_mcg=padded(boluses[:, 1], bolus_counts, 0.0),
        bolus_duration_min=padded(boluses[:, 2], bolus_counts, 1.0),
        bolus_count=np.array(bolus_counts, dtype=np.int64),
        one_time_start_s=padded(ot[:, 0], ot_counts, 0.0),
        one_time_dose_mcg=padded(ot[:, 1], ot_counts, 0.0),
        one_time_duration_min=padded(ot[:, 2], ot_counts, 1.0),
        one_time_count=np.array(ot_counts, dtype=np.int64),
    )


_VOLUMES = attrgetter("reservoir_ml", "concentration_mcg_per_ml", "low_reservoir_alarm_ml", "empty_ml")


def _naive(at: datetime) -> datetime:
    """The pump clock's reading: local time, without an offset."""
    return at if at.tzinfo is None else at.replace(tzinfo=None)


def forecast_many(cases: Sequence[tuple[ReservoirState, DosingProgram]]) -> list[Forecast]:
    """The forecast of ``shared/spec/forecast.md`` for many valid (state, program) pairs.

    One array computation for all of them: use this, not a loop over
    :func:`forecast_reservoir`, for a worklist or a registry.
    """
    if len(cases) > CHUNK_CASES:  # chunks keep the arrays in the CPU's cache
        return [f for i in range(0, len(cases), CHUNK_CASES) for f in forecast_many(cases[i : i + CHUNK_CASES])]
    if not cases:
        return []
    arrays = case_arrays(cases)
    result = forecast_arrays(arrays)

    def instants(which: str) -> list[datetime | None]:
        seconds = result.epoch_seconds(arrays, which)
        known = np.isfinite(seconds)
        as_datetimes = np.where(known, seconds, 0).astype(np.int64).astype("datetime64[s]").astype(object).tolist()
        already = getattr(result, f"{which}_already").tolist()
        return [
            state.at if now else instant if ok else None
            for (state, _), now, ok, instant in zip(cases, already, known.tolist(), as_datetimes)
        ]

    return [
        Forecast(dose, volume, alarm, empty)
        for dose, volume, alarm, empty in zip(
            result.daily_dose_mcg.tolist(),
            result.daily_volume_ml.tolist(),
            instants("low_reservoir_alarm"),
            instants("empty"),
        )
    ]


def forecast_reservoir(state: ReservoirState, program: DosingProgram) -> Forecast:
    """The forecast of ``shared/spec/forecast.md`` for one valid state and program."""
    return forecast_many([(state, program)])[0]


__all__ = [
    "Forecast",
    "ReservoirState",
    "case_arrays",
    "check_reservoir",
    "forecast_many",
    "forecast_reservoir",
]
