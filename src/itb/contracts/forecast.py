"""The ``itb forecast`` contract (``shared/spec/forecast.md``): case in, answer out."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from itb.contracts.forecast_fields import (
    BOLUS_FIELDS,
    BOLUS_KINDS,
    BOLUS_REQUIRED,
    CASE_FIELDS,
    CASE_REQUIRED,
    ONE_TIME_FIELDS,
    ONE_TIME_REQUIRED,
    PROGRAM_FIELDS,
    STEP_FIELDS,
    STEP_REQUIRED,
)
from itb.contracts.jsonfields import check_keys, drop_reported, join, local_datetime, parse_hhmm
from itb.domain.errors import InvalidInput, Violation
from itb.domain.program import BolusKind, DailyBolus, DosingProgram, OneTimeBolus, Step, check_program

if TYPE_CHECKING:  # the forecast arithmetic (numpy) is imported where it runs: parsing a program does not need it
    from itb.contracts.forecast_columns import Columns
    from itb.domain.forecast import Forecast, ReservoirState


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


def parse_program(obj: object, path: str, errs: list[Violation]) -> DosingProgram:
    """A program in the contract's form; its violations are appended to ``errs``.

    Values are carried as given so that :func:`check_program` judges them in one place.
    """
    if type(obj) is not dict:
        errs.append(Violation(path, "must be an object"))
        return DosingProgram(steps=())
    if "steps" not in obj or not PROGRAM_FIELDS.issuperset(obj):
        check_keys(obj, path, PROGRAM_FIELDS, ("steps",), errs)
    steps = tuple(
        Step(parse_hhmm(item.get("start")), item.get("rate_mcg_per_day"))  # type: ignore[arg-type]
        for item in (
            _object(raw, path, "steps", i, STEP_FIELDS, STEP_REQUIRED, errs)
            for i, raw in enumerate(_items(obj, "steps", path, errs, required=True))
        )
    )
    boluses = tuple(
        DailyBolus(parse_hhmm(item.get("start")), item.get("dose_mcg"), item.get("duration_minutes"))  # type: ignore[arg-type]
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


def program_json(program: DosingProgram) -> dict:
    """A program in the contract's form (what :func:`parse_program` reads back)."""
    out: dict[str, Any] = {
        "steps": [{"start": hhmm(s.start_minute), "rate_mcg_per_day": s.rate_mcg_per_day} for s in program.steps]
    }
    if program.daily_boluses:
        out["boluses"] = [
            {"start": hhmm(b.start_minute), "dose_mcg": b.dose_mcg, "duration_minutes": b.duration_minutes}
            for b in program.daily_boluses
        ]
    if program.one_time_boluses:
        out["one_time_boluses"] = [
            {
                "at": o.at.isoformat(timespec="seconds"),
                "dose_mcg": o.dose_mcg,
                "duration_minutes": o.duration_minutes,
                "kind": str(o.kind),
            }
            for o in program.one_time_boluses
        ]
    return out


def hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def parse_case(obj: object) -> tuple[ReservoirState, DosingProgram]:
    """A forecast case; raises :class:`InvalidInput` with every violation found."""
    from itb.domain.forecast import ReservoirState, check_reservoir

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
    """The contract's output object, instants as ``YYYY-MM-DDTHH:MM:SS`` text."""
    return {
        "id": case_id_value,
        "daily_dose_mcg": result.daily_dose_mcg,
        "daily_volume_ml": result.daily_volume_ml,
        "low_reservoir_alarm_at": _iso(result.low_reservoir_alarm_at),
        "empty_at": _iso(result.empty_at),
    }


def _iso(instant: datetime | None) -> str | None:
    return None if instant is None else instant.isoformat(timespec="seconds")


def answer(obj: object) -> dict:
    """One case answered: the result, or ``{"id": ..., "error": ...}`` naming every violation."""
    return answer_many([obj])[0]


def answer_many(objs: Sequence[object]) -> list[dict]:
    """Every case answered, in order, as :func:`answer` would, but as one array computation.

    Well-formed cases are read column-wise straight from the decoded JSON (the fast path, see
    :mod:`itb.contracts.forecast_columns`); any case it does not vouch for is parsed one by one
    with the precise rules, which name every violation. Both feed the same arithmetic.
    """
    from itb.contracts.forecast_columns import read_columns
    from itb.domain.forecast import forecast_many

    out: list[dict | None] = [None] * len(objs)
    slow: list[int] = []
    for rows, columns in read_columns(objs, slow):
        _answer_columns(rows, columns, out)
    valid: list[tuple[int, ReservoirState, DosingProgram]] = []
    for row in slow:
        obj = objs[row]
        try:
            valid.append((row, *parse_case(obj)))
        except InvalidInput as exc:
            out[row] = {"id": case_id(obj), "error": exc.one_line()}
    forecasts = forecast_many([(state, program) for _, state, program in valid])
    for (row, _, _), forecast in zip(valid, forecasts):
        out[row] = result_json(case_id(objs[row]), forecast)
    return out  # type: ignore[return-value]


def _answer_columns(rows: Sequence[int], columns: Columns, out: list[dict | None]) -> None:
    """``out[row]``: the answer to each case of ``columns``."""
    from itb.domain.forecast_arrays import forecast_arrays

    result = forecast_arrays(columns.cases)
    alarm = result.iso(columns.cases, "low_reservoir_alarm")
    empty = result.iso(columns.cases, "empty")
    for row, case_id_value, dose, volume, a, e in zip(
        rows, columns.ids, result.daily_dose_mcg.tolist(), result.daily_volume_ml.tolist(), alarm, empty
    ):
        out[row] = {
            "id": case_id_value,
            "daily_dose_mcg": dose,
            "daily_volume_ml": volume,
            "low_reservoir_alarm_at": a,
            "empty_at": e,
        }


def answer_lines(lines: Sequence[bytes]) -> list[dict | None]:
    """The answer to each of ``lines`` (JSON Lines) that the typed path
    (:mod:`itb.contracts.forecast_typed`) vouches for, None for every other line: those are to
    be decoded and answered by :func:`answer_many`, which names their violations.

    Without msgspec (a dependency of the project) every line is left to :func:`answer_many`."""
    out: list[dict | None] = [None] * len(lines)
    try:
        from itb.contracts.forecast_typed import read_lines
    except ImportError:
        return out
    rows, columns = read_lines(lines)
    if rows:
        _answer_columns(rows, columns, out)
    return out


def answer_lines_json(lines: Sequence[bytes], plain: bool = False) -> tuple[list[int], bytes]:
    """The rows of ``lines`` that the typed path vouches for (as :func:`answer_lines`), and
    their answers as JSON Lines: each line what ``orjson.dumps`` writes of the answer's object
    (as :func:`answer_lines` gives it), then a newline; the other lines are left to
    :func:`answer_many`, as there. ``plain``: the caller has found that the lines hold only
    ASCII and no backslash (else they are looked over here).

    The text is written from the answers' columns, with no object per answer."""
    try:
        from itb.contracts.forecast_typed import read_lines
    except ImportError:
        return [], b""
    rows, columns = read_lines(lines, plain)
    if not rows:
        return [], b""
    return rows, _answer_text(columns)


def answer_piece_json(piece: bytes) -> tuple[list[int] | None, bytes] | None:
    """:func:`answer_lines_json` of the lines of ``piece`` (whole lines of the input, free of
    escapes and non-ASCII bytes), read as one stream (:func:`itb.contracts.forecast_typed.read_piece`):
    the rows answered (None: every line) and their answers; None when the piece is to be read
    line by line."""
    try:
        from itb.contracts.forecast_typed import read_piece
    except ImportError:
        return None
    found = read_piece(piece)
    if found is None:
        return None
    rows, columns = found
    return rows, _answer_text(columns) if columns.ids else b""


#: An answer's line, its values left out (filled a column at a time by :func:`_answer_text`).
_LINE = [b'{"id":', b"", b',"daily_dose_mcg":', b"", b',"daily_volume_ml":', b"", b',"low_reservoir_alarm_at":']
_LINE += [b"", b',"empty_at":', b"", b"}\n"]


def _answer_text(columns: Columns) -> bytes:
    import orjson

    from itb.domain.forecast_arrays import forecast_arrays

    result = forecast_arrays(columns.cases)
    width = len(_LINE)
    pieces = _LINE * len(columns.ids)
    pieces[1::width] = _each_json(columns.ids)
    for at, values in ((3, result.daily_dose_mcg), (5, result.daily_volume_ml)):
        # A number's text (or null) holds no comma: each value's text, as orjson writes it.
        pieces[at::width] = orjson.dumps(values.tolist())[1:-1].split(b",")
    both = result.iso_json(columns.cases, "low_reservoir_alarm", "empty")
    pieces[7::width] = both[: len(columns.ids)]
    pieces[9::width] = both[len(columns.ids) :]
    return b"".join(pieces)


def _each_json(values: list) -> list[bytes]:
    """Each of ``values`` as ``orjson.dumps`` writes it alone: one call for the whole list, cut
    at its commas, when no value's text holds a comma (only a string's can); else one call each."""
    import orjson

    texts = orjson.dumps(values)[1:-1].split(b",") if values else []
    return texts if len(texts) == len(values) else list(map(orjson.dumps, values))


answer_many.answer_lines = answer_lines  # type: ignore[attr-defined]  # the batch's fast path (itb.shell.batch_lines)
answer_many.answer_lines_json = answer_lines_json  # type: ignore[attr-defined]  # the same, as JSON text
answer_many.answer_piece_json = answer_piece_json  # type: ignore[attr-defined]  # the same, for a whole piece
