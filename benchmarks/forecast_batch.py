"""Benchmark of ``itb forecast --batch`` (shared/spec/forecast.md, "Speed").

Generates N random valid cases (seeded), writes them to a temporary JSON Lines file, and prints:

1. the whole process ``itb forecast --batch FILE > out``, wall clock, best of 3: cases/s;
2. the pure Python API in one process: ``itb.contracts.forecast.answer_many`` on decoded
   objects, ``itb.domain.forecast.forecast_many`` on parsed objects (both one call for all the
   cases), and ``forecast_reservoir`` called once per case: cases/s;
3. a naive minute-by-minute stepper (below) on a sample of the same cases: its time per case,
   against the exact forecast's time per case on all the cases, twice: the arithmetic alone
   (``forecast_arrays`` on the cases' arrays; the target is judged on this) and the whole
   Python API (``forecast_many``: objects in, datetimes out); and how many of the sample agree
   to within a minute.

Targets: >= 100,000 cases/s end to end; naive/exact >= 1000x per case.

    python benchmarks/forecast_batch.py [--cases N] [--seed S] [--sample K]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import orjson

from itb.contracts.forecast import answer_many, parse_case
from itb.domain.forecast import CHUNK_CASES, ReservoirState, case_arrays, forecast_many, forecast_reservoir
from itb.domain.forecast_arrays import forecast_arrays
from itb.domain.program import DosingProgram

TARGET_END_TO_END_CASES_PER_S = 100_000
TARGET_NAIVE_OVER_EXACT = 1000


# -- cases -------------------------------------------------------------------------------


def hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def random_case(rng: random.Random, i: int) -> dict:
    """A realistic valid case: 1-24 steps a day, 0-2 daily boluses, sometimes a one-time bolus."""
    n_steps = rng.randint(1, 24)
    starts = [0, *sorted(rng.sample(range(1, 1440), n_steps - 1))]
    steps = [{"start": hhmm(s), "rate_mcg_per_day": round(rng.uniform(20, 1200), 1)} for s in starts]
    program: dict = {"steps": steps}
    n_boluses = rng.randint(0, 2)
    if n_boluses:
        program["boluses"] = [
            {
                "start": hhmm(rng.randrange(1440)),
                "dose_mcg": rng.randint(10, 150),
                "duration_minutes": rng.randint(1, 180),
            }
            for _ in range(n_boluses)
        ]
    at = datetime(2026, 1, 1) + timedelta(seconds=rng.randrange(365 * 86400))
    if rng.random() < 0.2:
        when = at.replace(second=0) + timedelta(minutes=rng.randint(-600, 30 * 1440))
        program["one_time_boluses"] = [
            {
                "at": when.isoformat(),
                "dose_mcg": rng.randint(20, 250),
                "duration_minutes": rng.randint(1, 60),
                "kind": rng.choice(["single", "bridge", "priming"]),
            }
        ]
    capacity = rng.choice([20, 40])
    alarm = rng.choice([2.0, 2.0, 3.0, 4.0])
    case = {
        "id": f"p-{i:07d}",
        "at": at.isoformat(),
        "reservoir_capacity_ml": capacity,
        "reservoir_ml": round(rng.uniform(alarm, capacity), 2),
        "concentration_mcg_per_ml": rng.choice([500, 1000, 2000]),
        "low_reservoir_alarm_ml": alarm,
        "program": program,
    }
    if rng.random() < 0.3:
        case["empty_ml"] = rng.choice([0.0, 0.5, 1.0])
    return case


# -- the naive stepper -------------------------------------------------------------------


def naive_forecast(state: ReservoirState, program: DosingProgram) -> tuple[datetime | None, datetime | None]:
    """Alarm and empty instants found by stepping the clock one minute at a time.

    Every rate change of these cases is on a whole minute, so each clock minute has one rate;
    the answer is the end of the minute in which the volume falls to the level (up to 60 s
    after the exact instant). Only for cases that are always delivering (every rate > 0).
    """
    conc = state.concentration_mcg_per_ml
    table = [0.0] * 1440  # mcg/day for each minute of the day
    for i, (start, rate) in enumerate(program.steps):
        end = program.steps[i + 1].start_minute if i + 1 < len(program.steps) else 1440
        for m in range(start, end):
            table[m] = rate
    for b in program.daily_boluses:
        for k in range(int(b.duration_minutes)):
            table[(b.start_minute + k) % 1440] += b.rate_mcg_per_day
    per_minute_ml = [r / 1440 / conc for r in table]
    at = state.at
    day0 = datetime(at.year, at.month, at.day)
    windows = [
        (
            int((o.at - day0).total_seconds() // 60),
            int((o.at - day0).total_seconds() // 60 + o.duration_minutes),
            o.rate_mcg_per_day / 1440 / conc,
        )
        for o in program.one_time_boluses
    ]
    volume = state.reservoir_ml
    alarm_level, empty_level = state.low_reservoir_alarm_ml, state.empty_ml
    alarm = at if volume <= alarm_level else None
    empty = at if volume <= empty_level else None
    n = at.hour * 60 + at.minute  # minutes since day0
    fraction = (60 - at.second) / 60  # the first step ends at the next whole minute
    while alarm is None or empty is None:
        step = per_minute_ml[n % 1440]
        for a, e, ml in windows:
            if a <= n < e:
                step += ml
        volume -= step * fraction
        fraction = 1.0
        n += 1
        if alarm is None and volume <= alarm_level:
            alarm = day0 + timedelta(minutes=n)
        if empty is None and volume <= empty_level:
            empty = day0 + timedelta(minutes=n)
    return alarm, empty


# -- measuring ---------------------------------------------------------------------------


def itb_command() -> list[str]:
    beside = Path(sys.executable).with_name("itb")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("itb")
    if found:
        return [found]
    return [sys.executable, "-c", "from itb.cli import main; main()"]


def best_of(repeat: int, fn) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=100_000, help="number of cases (default 100,000)")
    parser.add_argument("--seed", type=int, default=20260301)
    parser.add_argument("--sample", type=int, default=200, help="cases given to the naive stepper")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each timing (best is kept)")
    parser.add_argument("--single", type=int, default=2000, help="cases given to forecast_reservoir one by one")
    args = parser.parse_args(argv)

    rng = random.Random(args.seed)
    t = time.perf_counter()
    cases = [random_case(rng, i) for i in range(args.cases)]
    data = b"\n".join(orjson.dumps(c) for c in cases) + b"\n"
    print(
        f"generated {len(cases):,} cases ({len(data) / 1e6:.1f} MB) in {time.perf_counter() - t:.1f} s; "
        f"{len(os.sched_getaffinity(0))} CPU cores available"
    )

    with tempfile.TemporaryDirectory(prefix="itb-bench-") as tmp:
        cases_path = Path(tmp) / "cases.jsonl"
        out_path = Path(tmp) / "out.jsonl"
        cases_path.write_bytes(data)
        command = [*itb_command(), "forecast", "--batch", str(cases_path)]

        def end_to_end() -> None:
            with open(out_path, "wb") as out:
                subprocess.run(command, stdout=out, check=True)

        wall = best_of(args.repeat, end_to_end)
        answers = out_path.read_bytes().splitlines()
    errors = sum(1 for line in answers if b'"error"' in line)
    assert len(answers) == len(cases), (len(answers), len(cases))
    e2e_rate = len(cases) / wall

    objs = [orjson.loads(orjson.dumps(c)) for c in cases]
    api_wall = best_of(args.repeat, lambda: answer_many(objs))
    parsed = [parse_case(o) for o in objs]
    domain_wall = best_of(args.repeat, lambda: forecast_many(parsed))
    single = parsed[: args.single]
    single_wall = best_of(1, lambda: [forecast_reservoir(s, p) for s, p in single])

    chunks = [case_arrays(parsed[i : i + CHUNK_CASES]) for i in range(0, len(parsed), CHUNK_CASES)]
    arithmetic_wall = best_of(args.repeat, lambda: [forecast_arrays(c) for c in chunks])
    arithmetic_per_case = arithmetic_wall / len(parsed)
    api_per_case = domain_wall / len(parsed)

    sample = parsed[: args.sample]
    exact = forecast_many(sample)
    start = time.perf_counter()
    naive = [naive_forecast(s, p) for s, p in sample]
    naive_per_case = (time.perf_counter() - start) / len(sample)
    ratio = naive_per_case / arithmetic_per_case

    def close(a: datetime | None, b: datetime | None) -> bool:
        return (a is None and b is None) or (a is not None and b is not None and abs((a - b).total_seconds()) <= 60)

    agree = sum(
        1
        for f, (alarm, empty) in zip(exact, naive)
        if close(f.low_reservoir_alarm_at, alarm) and close(f.empty_at, empty)
    )

    print()
    print(f"(1) end to end  `itb forecast --batch FILE > out`, best of {args.repeat}: {wall:.2f} s")
    print(
        f"      {e2e_rate:>12,.0f} cases/s   target >= {TARGET_END_TO_END_CASES_PER_S:,}   "
        f"{verdict(e2e_rate >= TARGET_END_TO_END_CASES_PER_S)}   ({errors} error lines)"
    )
    print("(2) pure Python API, one process")
    print(f"      contracts.forecast.answer_many(all cases)   {len(objs) / api_wall:>12,.0f} cases/s")
    print(f"      domain.forecast.forecast_many(all cases)    {len(parsed) / domain_wall:>12,.0f} cases/s")
    print(f"      domain.forecast.forecast_reservoir per case {len(single) / single_wall:>12,.0f} cases/s")
    print(f"(3) naive minute-by-minute stepper on {len(sample)} of the cases")
    print(f"      naive  {naive_per_case * 1e3:10.3f} ms/case")
    print(f"      exact  {arithmetic_per_case * 1e6:10.3f} us/case  arithmetic (forecast_arrays, all cases)")
    print(
        f"      ratio  {ratio:10,.0f}x   target >= {TARGET_NAIVE_OVER_EXACT:,}x   "
        f"{verdict(ratio >= TARGET_NAIVE_OVER_EXACT)}"
    )
    print(f"      exact  {api_per_case * 1e6:10.3f} us/case  whole Python API (forecast_many, all cases)")
    print(f"      ratio  {naive_per_case / api_per_case:10,.0f}x")
    print(f"      naive agrees with exact within a minute: {agree}/{len(sample)}   {verdict(agree == len(sample))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
