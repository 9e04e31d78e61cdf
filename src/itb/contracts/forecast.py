"""The ``itb forecast`` contract (``shared/spec/forecast.md``): case in, answer out."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from itb.contracts.jsonfields import MINUTES_OF_DAY, check_keys, drop_reported, join, local_datetime, parse_hhmm
from itb.domain.errors import InvalidInput, Violation
from itb.domain.forecast import Forecast, ReservoirState, check_reservoir, forecast_reservoir
from itb.domain.program import BolusKind, DailyBolus, DosingProgram, OneTimeBolus, Step, check_program

CASE_FIELDS = frozenset(
    {
        "id",
        "at",
        "reservoir_capacity_ml",
        "reservoir_ml",
        "concentration_mcg_per_ml",
        "low_reservoir_alarm_ml",
        "empty_ml",
        "program",
    }
)
CASE_REQUIRED = (
    "at",
    "reservoir_capacity_ml",
    "reservoir_ml",
    "concentration_mcg_per_ml",
    "low_reservoir_alarm_ml",
    "program",
)
PROGRAM_FIELDS = frozenset({"steps", "boluses", "one_time_boluses"})
STEP_FIELDS = frozenset({"start", "rate_mcg_per_day"})
STEP_REQUIRED = ("start", "rate_mcg_per_day")
BOLUS_FIELDS = frozenset({"start", "dose_mcg", "duration_minutes"})
BOLUS_REQUIRED = ("start", "dose_mcg", "duration_minutes")
ONE_TIME_FIELDS = frozenset({"at", "dose_mcg", "duration_minutes", "kind"})
ONE_TIME_REQUIRED = ("at", "dose_mcg", "duration_minutes")
BOLUS_KINDS = frozenset(k.value for k in BolusKind)


def _items(obj: dict, key: str, path: str, errs: list[Violation], *, required: bool) -> list:
    value = obj.get(key)
    if value is None:
        return []  # a missing required list is reported by check_keys
    if type(value) is not list:
        errs.append(Violation(join(path, key), "must be a list"))
        return []
    if required and not value:
        errs.append(Violation(join(path, key), "must have at least one item"))
    return value


def _object(
    item: object, path: str, name: str, i: int, fields: frozenset, required: tuple, errs: list[Violation]
) -> dict:
    """``item`` if it is an object (its unknown and missing keys reported), else ``{}``."""
    if type(item) is not dict:
        errs.append(Violation(f"{path}.{name}[{i}]", "must be an object"))
        return {}
    if len(item) != len(required) or not fields.issuperset(item) or None in item.values():
        check_keys(item, f"{path}.{name}[{i}]", fields, required, errs)
    return item


def _step_from(item: dict) -> Step:
    return Step(MINUTES_OF_DAY[item["start"]], item["rate_mcg_per_day"])


def _bolus_from(item: dict) -> DailyBolus:
    return DailyBolus(MINUTES_OF_DAY[item["start"]], item["dose_mcg"], item["duration_minutes"])


def _fast_items(obj: dict, key: str, make: Callable[[dict], Any], width: int) -> tuple | None:
    """The items when every one is a well-formed object (the common case), else None.

    Anything unusual (a missing or unknown key, a malformed time) returns None and the caller
    takes the slow path that names each problem. Values are still judged by check_program.
    """
    raw = obj.get(key, ())
    try:
        if type(raw) is not list or (key == "steps" and not raw):
            return None
        items = tuple(map(make, raw))
    except (KeyError, TypeError):
        return None
    return items if all(type(r) is dict and len(r) == width for r in raw) else None


def parse_program(obj: object, path: str, errs: list[Violation]) -> DosingProgram:
    """A program in the contract's form; its violations are appended to ``errs``.

    Values are carried as given so that :func:`check_program` judges them in one place.
    """
    if type(obj) is not dict:
        errs.append(Violation(path, "must be an object"))
        return DosingProgram(steps=())
    if "steps" not in obj or not PROGRAM_FIELDS.issuperset(obj):
        check_keys(obj, path, PROGRAM_FIELDS, ("steps",), errs)
    steps = _fast_items(obj, "steps", _step_from, 2)
    if steps is None:
        steps = tuple(
            Step(parse_hhmm(item.get("start")), item.get("rate_mcg_per_day"))  # type: ignore[arg-type]
            for item in (
                _object(raw, path, "steps", i, STEP_FIELDS, STEP_REQUIRED, errs)
                for i, raw in enumerate(_items(obj, "steps", path, errs, required=True))
            )
        )
    boluses = _fast_items(obj, "boluses", _bolus_from, 3)
    if boluses is None:
        boluses = tuple(
            DailyBolus(parse_hhmm(item.get("start")), item.get("dose_mcg"), item.get("duration_minutes"))
            for item in (
                _object(raw, path, "boluses", i, BOLUS_FIELDS, BOLUS_REQUIRED, errs)
                for i, raw in enumerate(_items(obj, "boluses", path, errs, required=False))
            )
        )
    one_time = []
    for i, raw in enumerate(_items(obj, "one_time_boluses", path, errs, required=False)):
        item = _object(raw, path, "one_time_boluses", i, ONE_TIME_FIELDS, ONE_TIME_REQUIRED, errs)
        where = f"{path}.one_time_boluses[{i}]"
        kind = item.get("kind", "single")
        if type(kind) is not str or kind not in BOLUS_KINDS:
            errs.append(Violation(f"{where}.kind", f"must be one of {', '.join(sorted(BOLUS_KINDS))}"))
            kind = "single"
        at = local_datetime(item, "at", where, errs)
        one_time.append(OneTimeBolus(at, item.get("dose_mcg"), item.get("duration_minutes"), BolusKind(kind)))  # type: ignore[arg-type]
    program = DosingProgram(steps, boluses, tuple(one_time))
    found = check_program(program, path)
    if found:
        errs[:] = drop_reported(errs, found)
    return program


def parse_case(obj: object) -> tuple[ReservoirState, DosingProgram]:
    """A forecast case; raises :class:`InvalidInput` with every violation found."""
    if type(obj) is not dict:
        raise InvalidInput([Violation("case", "must be a JSON object")])
    errs: list[Violation] = []
    if not CASE_FIELDS.issuperset(obj) or not all(obj.get(k) is not None for k in CASE_REQUIRED):
        check_keys(obj, "", CASE_FIELDS, CASE_REQUIRED, errs)
    at = local_datetime(obj, "at", "", errs)
    empty = obj.get("empty_ml")
    state = ReservoirState(
        at=at,  # type: ignore[arg-type]
        reservoir_capacity_ml=obj.get("reservoir_capacity_ml"),  # type: ignore[arg-type]
        reservoir_ml=obj.get("reservoir_ml"),  # type: ignore[arg-type]
        concentration_mcg_per_ml=obj.get("concentration_mcg_per_ml"),  # type: ignore[arg-type]
        low_reservoir_alarm_ml=obj.get("low_reservoir_alarm_ml"),  # type: ignore[arg-type]
        empty_ml=0.0 if empty is None else empty,
    )
    errs[:] = drop_reported(errs, check_reservoir(state))
    raw_program = obj.get("program")
    program = parse_program(raw_program, "program", errs) if raw_program is not None else None
    if errs:
        raise InvalidInput(errs)
    return state, program  # type: ignore[return-value]


def case_id(obj: object) -> Any:
    """The case's ``id`` to echo back (None when absent or not a scalar)."""
    if type(obj) is dict:
        value = obj.get("id")
        if value is None or type(value) in (str, int, float, bool):
            return value
    return None


def result_json(case_id_value: Any, result: Forecast) -> dict:
    """The contract's output object (datetimes left for the encoder to write as ISO text)."""
    return {
        "id": case_id_value,
        "daily_dose_mcg": result.daily_dose_mcg,
        "daily_volume_ml": result.daily_volume_ml,
        "low_reservoir_alarm_at": result.low_reservoir_alarm_at,
        "empty_at": result.empty_at,
    }


def answer(obj: object) -> dict:
    """One case answered: the result, or ``{"id": ..., "error": ...}`` naming every violation."""
    try:
        state, program = parse_case(obj)
    except InvalidInput as exc:
        return {"id": case_id(obj), "error": exc.one_line()}
    return result_json(case_id(obj), forecast_reservoir(state, program))
