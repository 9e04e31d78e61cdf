"""Properties of the forecast: exactness against an independent Fraction reference,
monotonicity in the reservoir volume, and the parallel batch path equal to the serial one."""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction

import orjson
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import itb.shell.batch as batch
import itb.shell.batch_lines as answering
from itb.contracts.forecast import answer as contract_answer
from itb.contracts.forecast import answer_many, case_id, parse_case, result_json
from itb.domain.errors import InvalidInput
from itb.domain.forecast import forecast_many

DAY_S = 86_400
MAX_HORIZON_DAYS = 5 * 366

# -- generated cases ---------------------------------------------------------------------


def answer(obj: object) -> dict:
    """The contract's answer with its instants read back as datetimes, for comparing."""
    out = contract_answer(obj)
    return {k: datetime.fromisoformat(v) if k.endswith("_at") and isinstance(v, str) else v for k, v in out.items()}


@dataclass(frozen=True)
class Case:
    """A valid forecast case in integer terms (for the reference) and as contract JSON."""

    at: datetime
    steps: tuple[tuple[int, int], ...]  # (start minute, rate mcg/day)
    boluses: tuple[tuple[int, int, int], ...]  # (start minute, dose mcg, duration minutes)
    one_time: tuple[tuple[int, int, int], ...]  # (minutes from midnight of at's day, dose, duration)
    capacity: int
    reservoir: float
    concentration: int
    alarm: float
    empty: float | None

    @property
    def day0(self) -> datetime:
        return datetime(self.at.year, self.at.month, self.at.day)

    def json(self, **changes: object) -> dict:
        program: dict = {
            "steps": [{"start": hhmm(m), "rate_mcg_per_day": r} for m, r in self.steps],
        }
        if self.boluses:
            program["boluses"] = [{"start": hhmm(m), "dose_mcg": d, "duration_minutes": n} for m, d, n in self.boluses]
        if self.one_time:
            program["one_time_boluses"] = [
                {"at": (self.day0 + timedelta(minutes=m)).isoformat(), "dose_mcg": d, "duration_minutes": n}
                for m, d, n in self.one_time
            ]
        obj = {
            "id": "gen",
            "at": self.at.isoformat(),
            "reservoir_capacity_ml": self.capacity,
            "reservoir_ml": self.reservoir,
            "concentration_mcg_per_ml": self.concentration,
            "low_reservoir_alarm_ml": self.alarm,
            "program": program,
        }
        if self.empty is not None:
            obj["empty_ml"] = self.empty
        obj.update(changes)
        return obj


def hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


rates = st.one_of(st.just(0), st.integers(1, 1200), st.integers(1, 20))


@st.composite
def cases(draw) -> Case:
    n = draw(st.integers(1, 24))
    starts = [0, *sorted(draw(st.sets(st.integers(1, 1439), min_size=n - 1, max_size=n - 1)))]
    steps = tuple((s, draw(rates)) for s in starts)
    boluses = tuple(
        draw(st.tuples(st.integers(0, 1439), st.integers(0, 500), st.integers(1, 1440)))
        for _ in range(draw(st.integers(0, 3)))
    )
    if boluses and draw(st.booleans()):  # make runs across midnight common
        start = draw(st.integers(1, 1439))
        boluses = ((start, boluses[0][1], draw(st.integers(1441 - start, 1440))), *boluses[1:])
    one_time = tuple(
        draw(st.tuples(st.integers(-2 * 1440, 20 * 1440), st.integers(0, 5000), st.integers(1, 1440)))
        for _ in range(draw(st.integers(0, 2)))
    )
    at = draw(st.datetimes(datetime(2020, 1, 1), datetime(2030, 12, 31))).replace(microsecond=0)
    capacity = draw(st.sampled_from([20, 40]))
    cap_c = capacity * 100
    reservoir = draw(st.one_of(st.integers(0, cap_c), st.integers(cap_c // 4, cap_c))) / 100  # mostly above
    alarm = draw(st.integers(0, min(cap_c, 500))) / 100
    empty = draw(st.one_of(st.none(), st.integers(0, min(cap_c, 200)).map(lambda c: c / 100)))
    concentration = draw(st.one_of(st.sampled_from([500, 1000, 2000]), st.integers(1, 3000)))
    return Case(at, steps, boluses, one_time, capacity, reservoir, concentration, alarm, empty)


# -- the reference: exact arithmetic, segment by segment ---------------------------------


class Reference:
    """The dose rate of a case walked segment by segment with Fractions (mcg, seconds)."""

    def __init__(self, case: Case) -> None:
        self.case = case
        cuts = {0}
        cuts.update(m * 60 for m, _ in case.steps)
        for m, _, n in case.boluses:
            cuts.add(m * 60)
            cuts.add((m + n) * 60 % DAY_S)
        self.cuts = sorted(cuts)  # boundaries within one day
        at_s = (case.at - case.day0).total_seconds()
        self.t0 = int(at_s)
        self.windows = [(m * 60, (m + n) * 60, Fraction(d * 1440, n)) for m, d, n in case.one_time]
        self.daily = sum(self.daily_rate(c) * (e - c) for c, e in zip(self.cuts, [*self.cuts[1:], DAY_S]))
        self.daily /= DAY_S

    def daily_rate(self, x: int) -> Fraction:
        """mcg/day at second ``x`` of a day (a cut point or anything up to the next cut)."""
        rate = Fraction(0)
        for m, r in self.case.steps:
            if m * 60 <= x:
                rate = Fraction(r)
        for m, d, n in self.case.boluses:
            if (x - m * 60) % DAY_S < n * 60:
                rate += Fraction(d * 1440, n)
        return rate

    def next_cut(self, t: Fraction) -> Fraction:
        day, x = divmod(t, DAY_S)
        for c in self.cuts:
            if c > x:
                return day * DAY_S + c
        return (day + 1) * DAY_S

    def time_to_deliver(self, amount: Fraction) -> Fraction | None:
        """Seconds from day0 when ``amount`` mcg more than at ``t0`` has been delivered."""
        t = Fraction(self.t0)
        if amount <= 0:
            return t
        while True:
            later = [x for a, e, _ in self.windows for x in (a, e) if x > t]
            if not later and self.daily == 0:
                return None
            active = [r for a, e, r in self.windows if a <= t < e]
            if t % DAY_S == 0 and self.daily > 0 and not active:  # skip whole days holding no window
                days = math.ceil(amount / self.daily) - 1
                if later:
                    days = min(days, (min(later) - t) // DAY_S)
                if days > 0:
                    t += days * DAY_S
                    amount -= days * self.daily
            end = min([self.next_cut(t), *later])
            rate = self.daily_rate(int(t % DAY_S)) + sum(active)
            got = rate * (end - t) / DAY_S
            if rate > 0 and got >= amount:
                return t + amount * DAY_S / rate
            amount -= got
            t = end

    def crossing(
        self, level_ml: float, reservoir_ml: float | None = None, nudge: Fraction = Fraction(0)
    ) -> datetime | None:
        """When the volume reaches ``level_ml``, the volumes read as the decimals they were written as.

        ``nudge`` makes the amount to deliver that much larger (relative), see ``agrees``.
        """
        reservoir = Fraction(str(self.case.reservoir if reservoir_ml is None else reservoir_ml))
        level = Fraction(str(level_ml))
        if reservoir <= level:
            return self.case.at
        t = self.time_to_deliver((reservoir - level) * self.case.concentration * (1 + nudge))
        return None if t is None else self.case.day0 + timedelta(seconds=math.floor(t))

    def horizon_days(self) -> Fraction:
        return (Fraction(self.case.reservoir) * self.case.concentration) / self.daily if self.daily else Fraction(0)


def within_a_second(got: datetime | None, want: datetime | None) -> bool:
    if got is None or want is None:
        return got is None and want is None
    return abs((got - want).total_seconds()) <= 1


#: Relative change of the amount to deliver that floating point may make (inputs like 18.3 - 2.2).
FLOAT_NUDGE = Fraction(1, 10**9)


def agrees(got: datetime | None, ref: Reference, level_ml: float) -> bool:
    """``got`` is within a second of the exact crossing (volumes read as the decimals written)."""
    return within_a_second(got, ref.crossing(level_ml))


def test_reference_on_a_hand_example():
    # 1440 mcg/day (1 mcg/min) + a daily 60 mcg bolus over 60 min from 23:30 (+1 mcg/min).
    case = Case(datetime(2026, 1, 1, 23, 0), ((0, 1440),), ((23 * 60 + 30, 60, 60),), (), 20, 1.0, 100, 0.0, None)
    ref = Reference(case)
    assert ref.daily == 1500
    # 100 mcg from 23:00: 30 at 1/min to 23:30, then 2/min: 70 more takes 35 min -> 00:05.
    assert ref.crossing(0.0) == datetime(2026, 1, 2, 0, 5)


def test_reference_does_not_skip_a_day_that_holds_a_one_time_bolus():
    # 1 mcg/day from 00:22 (0.98472 mcg a day) + a one-time 1 mcg over the whole first day; 5 mcg to go:
    # 1.98472 the first day, 2.95417 in the next three, the last 0.06111 mcg take 88 min from 00:22.
    steps = ((0, 0), (22, 1))
    case = Case(datetime(2020, 1, 1), steps, (), ((0, 1, 1440),), 20, 0.01, 500, 0.0, None)
    ref = Reference(case)
    assert ref.crossing(0.0) == datetime(2020, 1, 5, 1, 50)
    assert answer(case.json())["empty_at"] == datetime(2020, 1, 5, 1, 50)


def test_reference_sees_the_float_knife_edge_before_a_pause():
    # The case of test_crossing_just_before_a_pause_is_not_reported_after_it: the exact answer is the end
    # of a bolus followed by a pause; an amount larger by a rounding error is only met the next day.
    case = Case(datetime(2026, 3, 1, 8), ((0, 0),), ((720, 50, 60),), (), 20, 18.3, 500, 2.2, None)
    ref = Reference(case)
    assert ref.crossing(2.2) == datetime(2026, 8, 8, 13, 0)
    assert ref.crossing(2.2, nudge=FLOAT_NUDGE) == datetime(2026, 8, 9, 12, 0)
    assert agrees(answer(case.json())["low_reservoir_alarm_at"], ref, 2.2)


# -- (a) exact -----------------------------------------------------------------------------


@given(cases())
def test_forecast_agrees_with_the_exact_reference(case: Case):
    ref = Reference(case)
    assume(ref.horizon_days() <= MAX_HORIZON_DAYS)
    out = answer(case.json())
    assert "error" not in out, out
    assert out["id"] == "gen"
    assert out["daily_dose_mcg"] == pytest.approx(float(ref.daily), rel=1e-9, abs=1e-9)
    assert out["daily_volume_ml"] == pytest.approx(float(ref.daily / case.concentration), rel=1e-9, abs=1e-12)
    assert agrees(out["low_reservoir_alarm_at"], ref, case.alarm), (out, ref.crossing(case.alarm))
    assert agrees(out["empty_at"], ref, case.empty or 0.0), (out, ref.crossing(case.empty or 0.0))


@st.composite
def knife_edge_cases(draw) -> Case:
    """Zero basal and daily boluses, the volume to deliver a whole number of boluses: the exact
    crossing is the end of a bolus, followed by a pause, where float rounding errs by a day."""
    concentration = draw(st.sampled_from([500, 1000, 2000]))
    centi_ml = draw(st.integers(1, 1800))
    amount = centi_ml * concentration // 100
    n = draw(st.sampled_from([k for k in range(1, 400) if amount % k == 0]))
    n_boluses = draw(st.integers(1, 2))
    dose = amount // n
    boluses = tuple(
        (draw(st.integers(0, 1439)), dose if i == 0 else 0, draw(st.integers(1, 1440))) for i in range(n_boluses)
    )
    alarm_centi = draw(st.integers(0, 200))
    at = draw(st.datetimes(datetime(2024, 1, 1), datetime(2028, 12, 31))).replace(microsecond=0)
    reservoir = (alarm_centi + centi_ml) / 100
    return Case(at, ((0, 0),), boluses, (), 20, reservoir, concentration, alarm_centi / 100, None)


@given(knife_edge_cases())
def test_forecast_is_exact_at_the_end_of_a_bolus_before_a_pause(case: Case):
    ref = Reference(case)
    out = answer(case.json())
    assert agrees(out["low_reservoir_alarm_at"], ref, case.alarm), (out, ref.crossing(case.alarm))
    assert agrees(out["empty_at"], ref, 0.0), (out, ref.crossing(0.0))


# -- (b) monotonic -------------------------------------------------------------------------


def later_or_equal(a: datetime | None, b: datetime | None) -> bool:
    """``a >= b`` where None means never (after everything)."""
    if a is None:
        return True
    return b is not None and a >= b


@given(cases(), st.integers(0, 4000), st.integers(0, 4000))
def test_more_reservoir_never_gives_an_earlier_alarm(case: Case, x: int, y: int):
    small, large = sorted((min(x, case.capacity * 100) / 100, min(y, case.capacity * 100) / 100))
    assume(Reference(case).horizon_days() <= MAX_HORIZON_DAYS)
    a = answer(case.json(reservoir_ml=small))
    b = answer(case.json(reservoir_ml=large))
    assert later_or_equal(b["low_reservoir_alarm_at"], a["low_reservoir_alarm_at"])
    assert later_or_equal(b["empty_at"], a["empty_at"])
    # And the alarm never comes after empty when the alarm level is the higher one.
    if case.alarm >= (case.empty or 0.0):
        assert later_or_equal(a["empty_at"], a["low_reservoir_alarm_at"])


# -- never an exception -------------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from(["", "00:00", "23:59", "24:00", "2026-03-01T09:30:00", "2026-03-01T09:30+01", "single"])
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=6,
)


def field_paths(obj: object, prefix: tuple = ()) -> list[tuple]:
    """Every path into a decoded JSON value (dict keys and list indexes)."""
    out = [prefix] if prefix else []
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.extend(field_paths(v, (*prefix, k)))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out.extend(field_paths(v, (*prefix, i)))
    return out


@st.composite
def mutated_cases(draw) -> dict:
    """A valid case with 1-3 fields set to any JSON value, deleted, or added."""
    obj = draw(cases()).json()
    for _ in range(draw(st.integers(1, 3))):
        paths = field_paths(obj)
        path = draw(st.sampled_from(paths))
        parent: object = obj
        for key in path[:-1]:
            parent = parent[key]  # type: ignore[index]
        action = draw(st.sampled_from(["set", "set", "delete", "add"]))
        if action == "delete":
            del parent[path[-1]]  # type: ignore[attr-defined]
            continue
        key = draw(st.text(max_size=8)) if action == "add" and isinstance(parent, dict) else path[-1]
        parent[key] = draw(json_values)  # type: ignore[index]
    return obj


@given(mutated_cases())
def test_answer_never_raises_on_mutated_cases(obj: dict):
    out = answer(obj)
    line = orjson.dumps(out)  # what the batch writes
    assert b"\n" not in line
    assert set(out) in (
        {"id", "error"},
        {"id", "daily_dose_mcg", "daily_volume_ml", "low_reservoir_alarm_at", "empty_at"},
    )
    if "error" in out:
        assert out["error"]


# -- the batch's column-wise fast path equals the precise per-case path ---------------------


def precise_answer(obj: object) -> dict:
    """A case answered alone by the per-case rules (the path that writes the error messages)."""
    try:
        state, program = parse_case(obj)
    except InvalidInput as exc:
        return {"id": case_id(obj), "error": exc.one_line()}
    return result_json(case_id(obj), forecast_many([(state, program)])[0])


@st.composite
def unusual_valid_cases(draw) -> dict:
    """Valid cases in forms the fast path must treat exactly as the precise one does."""
    case = draw(cases())
    obj = case.json()
    form = draw(st.sampled_from(["null empty", "minutes only", "kinds", "long program", "floats", "no id"]))
    if form == "null empty":
        obj["empty_ml"] = None
    elif form == "minutes only":
        obj["at"] = obj["at"][:16]
    elif form == "kinds":
        for bolus in obj["program"].get("one_time_boluses", []):
            bolus["kind"] = draw(st.sampled_from(["single", "bridge", "priming"]))
    elif form == "long program":  # more steps than the fast path's padded arrays take
        obj["program"]["steps"] = [{"start": hhmm(m), "rate_mcg_per_day": 100 + m % 7} for m in range(0, 1440, 10)]
    elif form == "floats":
        obj["reservoir_capacity_ml"] = float(obj["reservoir_capacity_ml"])
        for step in obj["program"]["steps"]:
            step["rate_mcg_per_day"] = float(step["rate_mcg_per_day"]) + 0.25
    else:
        obj.pop("id")
    return obj


@given(st.lists(cases().map(Case.json) | mutated_cases() | unusual_valid_cases(), min_size=1, max_size=12))
def test_batch_fast_path_agrees_with_the_precise_path(objs: list):
    # Same answers, same errors, whatever else is in the batch (padding never leaks between cases).
    assert answer_many(objs) == [precise_answer(obj) for obj in objs]


@st.composite
def case_lines(draw) -> bytes:
    """A case (valid, mutated or unusual) as a line of JSON, written by orjson or by the
    standard library (spaces, ASCII escapes), its keys sometimes reversed."""
    obj = draw(cases().map(Case.json) | mutated_cases() | unusual_valid_cases())
    if draw(st.booleans()) and isinstance(obj, dict):
        obj = dict(reversed(obj.items()))
    writer = draw(st.sampled_from(["orjson", "orjson", "json"]))
    return orjson.dumps(obj) if writer == "orjson" else json.dumps(obj).encode()


@given(st.lists(case_lines(), min_size=1, max_size=12))
def test_typed_path_agrees_with_the_precise_path(lines: list[bytes]):
    # Whatever the typed path answers is byte for byte the precise answer to the decoded line.
    from itb.contracts.forecast import answer_lines

    for line, got in zip(lines, answer_lines(lines)):
        if got is not None:
            assert orjson.dumps(got) == orjson.dumps(precise_answer(orjson.loads(line)))


# -- (c) batch: parallel equals serial ---------------------------------------------------

NOT_JSON = [b"{not json", b"[1, 2", b"\xff\xfe", b'{"id": "x",}', b"nan"]
BLANK = [b"", b"   ", b"\t"]


@st.composite
def batch_lines(draw) -> list[bytes]:
    out = []
    for _ in range(draw(st.integers(0, 40))):
        kind = draw(st.sampled_from(["good", "good", "good", "bad", "not-json", "blank", "other-json"]))
        if kind == "good":
            case = draw(cases())
            out.append(orjson.dumps(case.json(id=len(out))))
        elif kind == "bad":
            case = draw(cases())
            change = draw(
                st.sampled_from(
                    [
                        {"reservoir_ml": -1},
                        {"at": "2026-13-01T00:00:00"},
                        {"colour": 1},
                        {"concentration_mcg_per_ml": 0},
                        {"program": {"steps": []}},
                    ]
                )
            )
            out.append(orjson.dumps(case.json(id=len(out), **change)))
        elif kind == "not-json":
            out.append(draw(st.sampled_from(NOT_JSON)))
        elif kind == "blank":
            out.append(draw(st.sampled_from(BLANK)))
        else:
            out.append(draw(st.sampled_from([b"[]", b"null", b"42", b'"case"'])))
    return out


@given(batch_lines(), st.sampled_from([2, 3]), st.booleans())
def test_parallel_batch_equals_serial(lines: list[bytes], workers: int, trailing_newline: bool):
    data = b"\n".join(lines) + (b"\n" if trailing_newline else b"")
    serial = answering.answer_lines(data.split(b"\n"), answer_many)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(batch, "PARALLEL_MIN_LINES", 2)
        parallel = batch.answer_batch(data, answer_many, workers=workers)
    assert parallel == serial
    answered = [line for line in lines if line.strip()]
    assert len(parallel.splitlines()) == len(answered)


def test_batch_answers_in_order_with_global_line_numbers(monkeypatch):
    good = orjson.dumps(Case(datetime(2026, 1, 1), ((0, 400),), (), (), 20, 20.0, 2000, 2.0, None).json())
    lines = []
    for i in range(1, 61):
        if i % 7 == 0:
            lines.append(b"{oops")
        elif i % 11 == 0:
            lines.append(b"")
        elif i % 5 == 0:
            lines.append(orjson.dumps({"id": i, "reservoir_ml": 1}))
        else:
            lines.append(good.replace(b'"gen"', str(i).encode()))
    data = b"\n".join(lines) + b"\n"
    monkeypatch.setattr(batch, "PARALLEL_MIN_LINES", 10)
    out = [orjson.loads(x) for x in batch.answer_batch(data, answer_many, workers=2).splitlines()]
    numbers = [i for i in range(1, 61) if i % 11 != 0]
    assert len(out) == len(numbers)
    for number, got in zip(numbers, out):
        if number % 7 == 0:
            assert got["id"] is None
            assert re.match(rf"line {number}: not valid JSON", got["error"]), got
        elif number % 5 == 0:
            assert got["id"] == number
            assert "at: is required" in got["error"]
        else:
            assert got["id"] == number
            assert got["low_reservoir_alarm_at"] == "2026-04-01T00:00:00"
    assert batch.answer_batch(data, answer_many, workers=2) == answering.answer_lines(data.split(b"\n"), answer_many)


def test_batch_really_uses_several_processes(monkeypatch):
    monkeypatch.setattr(batch, "PARALLEL_MIN_LINES", 4)
    monkeypatch.setattr(batch, "CHUNK_BYTES", 12)  # 4 lines of b"{}\n" per chunk
    data = b"\n".join(b"{}" for _ in range(16)) + b"\n"
    out = batch.answer_batch(data, lambda objs: [{"pid": os.getpid()} for _ in objs], workers=3)
    pids = [orjson.loads(line)["pid"] for line in out.splitlines()]
    assert len(pids) == 16
    assert len(set(pids)) == 3
    assert os.getpid() not in pids  # answered by the worker processes
    first, second, third = pids[0], pids[4], pids[8]
    assert pids == [first] * 4 + [second] * 4 + [third] * 4 + [first] * 4  # chunks dealt in turn, in order


def test_small_batch_stays_in_one_process():
    out = batch.answer_batch(b"{}\n{}\n", lambda objs: [{"pid": os.getpid()} for _ in objs], workers=4)
    assert {orjson.loads(line)["pid"] for line in out.splitlines()} == {os.getpid()}


def test_empty_batch_gives_empty_output(monkeypatch):
    monkeypatch.setattr(batch, "PARALLEL_MIN_LINES", 1)
    assert batch.answer_batch(b"", answer_many, workers=2) == b""
    assert batch.answer_batch(b"\n\n\n", answer_many, workers=2) == b""


def test_failing_worker_does_not_silently_drop_lines(monkeypatch):
    # Regression: a worker whose answer raised left through `finally: os._exit(0)` and its lines vanished.
    def flaky(objs):
        if {"boom": True} in objs:
            raise OverflowError("date value out of range")
        return [{"ok": True} for _ in objs]

    lines = [b"{}"] * 6 + [b'{"boom": true}'] + [b"{}"] * 5
    monkeypatch.setattr(batch, "PARALLEL_MIN_LINES", 2)
    for workers in (1, 2):
        out = [orjson.loads(x) for x in batch.answer_batch(b"\n".join(lines), flaky, workers=workers).splitlines()]
        assert len(out) == len(lines)
        assert out[6]["id"] is None
        assert out[6]["error"].startswith("line 7:")
        assert all(o == {"ok": True} for i, o in enumerate(out) if i != 6)
