"""Benchmark of ``itb forecast --batch`` (shared/spec/forecast.md, "Speed").

Generates N random valid cases (seeded), writes them to a temporary JSON Lines file, and prints:

1. against the I/O floor, in the same run: the floor is a plain script (this file with
   ``--floor``) that reads the same file, orjson-decodes each line, orjson-encodes an
   answer-sized object per line and writes it, split over as many processes as the command
   uses (one per CPU core); floor and ``itb forecast --batch FILE > out`` run in turn, several
   times, and the ratio command/floor of each pair is printed (median, min, max);
2. the peak memory (largest process) of the command on N cases and on 10 x N cases (the same
   file ten times), and their ratio: the batch streams, so it stays flat;
3. the pure Python API in one process: ``itb.contracts.forecast.answer_lines`` on the raw
   lines (the batch's typed path), ``answer_many`` on decoded objects,
   ``itb.domain.forecast.forecast_many`` on parsed objects (each one call per 4,096 cases or
   all of them), and ``forecast_reservoir`` called once per case: cases/s;
4. a naive minute-by-minute stepper (below) on a sample of the same cases: its time per case,
   against the exact forecast's time per case on all the cases, twice: the arithmetic alone
   (``forecast_arrays`` on the cases' arrays; the target is judged on this) and the whole
   Python API (``forecast_many``: objects in, datetimes out); and how many of the sample agree
   to within a minute.

Targets: command/floor <= 1.3; 10 x N cases in < 300 MB; naive/exact >= 1000x per case.

    python benchmarks/forecast_batch.py [--cases N] [--seed S] [--sample K] [--pairs P]
    python benchmarks/forecast_batch.py --floor FILE > out      # the floor alone
    python benchmarks/forecast_batch.py --measure OUT COMMAND... # wall s and peak MB of COMMAND > OUT
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from itertools import pairwise
from pathlib import Path

import orjson

from itb.contracts.forecast import answer_lines, answer_many, parse_case
from itb.domain.forecast import CHUNK_CASES, ReservoirState, case_arrays, forecast_many, forecast_reservoir
from itb.domain.forecast_arrays import forecast_arrays
from itb.domain.program import DosingProgram

TARGET_OVER_FLOOR = 1.3
TARGET_PEAK_MB = 300
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


# -- the I/O floor ------------------------------------------------------------------------

#: What the floor writes per line: an answer's fields, with an answer's sizes of values.
FLOOR_ANSWER = {
    "daily_dose_mcg": 336.04166666666663,
    "daily_volume_ml": 0.6720833333333333,
    "low_reservoir_alarm_at": "2026-05-25T14:03:17",
    "empty_at": "2026-06-27T02:41:05",
}


def floor(path: str, processes: int) -> None:
    """Decode every line of ``path``, encode an answer-sized object for it, write them in order:
    the file cut into ``processes`` contiguous slices, one per forked process."""
    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        cuts = [0]
        for k in range(1, processes):
            fh.seek(max(cuts[-1], size * k // processes))
            fh.readline()
            cuts.append(min(fh.tell(), size))
        cuts.append(size)
    children = []
    for start, end in pairwise(cuts[1:]):
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read_fd)
            code = 1
            try:
                with os.fdopen(write_fd, "wb") as sink:
                    sink.write(floor_slice(path, start, end))
                code = 0
            finally:
                os._exit(code)
        os.close(write_fd)
        children.append((pid, read_fd))
    out = sys.stdout.buffer
    out.write(floor_slice(path, cuts[0], cuts[1]))
    for pid, read_fd in children:
        with os.fdopen(read_fd, "rb") as pipe:
            out.write(pipe.read())
        if os.waitpid(pid, 0)[1]:
            raise SystemExit("a floor process failed")
    out.flush()


def floor_slice(path: str, start: int, end: int) -> bytes:
    with open(path, "rb") as fh:
        fh.seek(start)
        lines = fh.read(end - start).split(b"\n")
    loads, dumps = orjson.loads, orjson.dumps
    out = []
    for line in lines:
        if line:
            out.append(dumps({"id": loads(line).get("id"), **FLOOR_ANSWER}))
    out.append(b"")
    return b"\n".join(out)


# -- measuring ---------------------------------------------------------------------------


def floor_command(path: Path, processes: int) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "--floor", str(path), "--processes", str(processes)]


def run_once(command: list[str], out_path: Path) -> tuple[float, float]:
    """Wall seconds and peak memory (MB, the largest process) of ``command > out_path``.

    Started from a small helper process (this file with ``--measure``): a child forked from
    this one, which holds every generated case, would count this process's memory as its own.
    """
    helper = [sys.executable, str(Path(__file__).resolve()), "--measure", str(out_path), *command]
    wall, peak = subprocess.run(helper, capture_output=True, check=True, text=True).stdout.split()
    return float(wall), float(peak)


def measure(command: list[str], out_path: Path) -> tuple[float, float]:
    """What :func:`run_once` reports, measured here."""
    with open(out_path, "wb") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(command, stdout=out)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"{command[0]} failed with exit status {proc.returncode}")
    return wall, usage.ru_maxrss / 1024


def against_floor(command: list[str], floor_cmd: list[str], out_path: Path, pairs: int) -> dict:
    """Floor and command in turn (after one warm-up of each): walls, peaks, ratios per pair."""
    run_once(floor_cmd, out_path)
    run_once(command, out_path)
    got: dict[str, list[float]] = {"floor": [], "command": [], "ratio": [], "peak": []}
    for _ in range(pairs):
        floor_wall, _ = run_once(floor_cmd, out_path)
        wall, peak = run_once(command, out_path)
        got["floor"].append(floor_wall)
        got["command"].append(wall)
        got["ratio"].append(wall / floor_wall)
        got["peak"].append(peak)
    return got


def spread(values: list[float], fmt: str) -> str:
    return f"median {statistics.median(values):{fmt}}  (min {min(values):{fmt}}, max {max(values):{fmt}})"


def peak_of(command: list[str], out_path: Path, runs: int) -> float:
    return statistics.median(run_once(command, out_path)[1] for _ in range(runs))


def end_to_end(args: argparse.Namespace, data: bytes, n_cases: int) -> None:
    """Sections 1 and 2: the command against the floor, and its peak memory at N and 10 x N."""
    processes = len(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory(prefix="itb-bench-") as tmp:
        cases_path = Path(tmp) / "cases.jsonl"
        big_path = Path(tmp) / "cases-x10.jsonl"
        out_path = Path(tmp) / "out.jsonl"
        cases_path.write_bytes(data)
        command = [*itb_command(), "forecast", "--batch", str(cases_path)]
        got = against_floor(command, floor_command(cases_path, processes), out_path, args.pairs)
        answers = out_path.read_bytes().splitlines()
        assert len(answers) == n_cases, (len(answers), n_cases)
        errors = sum(1 for line in answers if b'"error"' in line)
        with open(big_path, "wb") as big:
            for _ in range(10):
                big.write(data)
        small_peak = statistics.median(got["peak"])
        big_peak = peak_of([*command[:-1], str(big_path)], out_path, args.memory_runs)
    ratio = statistics.median(got["ratio"])
    print(
        f"(1) `itb forecast --batch FILE > out` against the I/O floor ({processes} processes each), {args.pairs} pairs"
    )
    print(f"      floor    {spread(got['floor'], '.2f')} s")
    print(f"      command  {spread(got['command'], '.2f')} s   ({errors} error lines)")
    print(
        f"      command/floor  {spread(got['ratio'], '.2f')}   target <= {TARGET_OVER_FLOOR}   "
        f"{verdict(ratio <= TARGET_OVER_FLOOR)}"
    )
    print(f"      {n_cases / statistics.median(got['command']):,.0f} cases/s (median wall)")
    print("(2) peak memory of the command (largest process)")
    print(f"      {n_cases:>10,} cases  {small_peak:8.1f} MB")
    print(
        f"      {10 * n_cases:>10,} cases  {big_peak:8.1f} MB   target < {TARGET_PEAK_MB} MB   "
        f"{verdict(big_peak < TARGET_PEAK_MB)}"
    )
    print(f"      ratio 10 x N / N  {big_peak / small_peak:.2f}")


def python_api(args: argparse.Namespace, cases: list[dict]) -> None:
    """Sections 3 and 4: the Python API, the arithmetic, and the naive stepper."""
    objs = [orjson.loads(orjson.dumps(c)) for c in cases]
    lines = [orjson.dumps(c) for c in cases]
    lines_wall = best_of(
        args.repeat, lambda: [answer_lines(lines[i : i + CHUNK_CASES]) for i in range(0, len(lines), CHUNK_CASES)]
    )
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
    print("(3) pure Python API, one process")
    print(f"      contracts.forecast.answer_lines(raw lines)  {len(lines) / lines_wall:>12,.0f} cases/s")
    print(f"      contracts.forecast.answer_many(all cases)   {len(objs) / api_wall:>12,.0f} cases/s")
    print(f"      domain.forecast.forecast_many(all cases)    {len(parsed) / domain_wall:>12,.0f} cases/s")
    print(f"      domain.forecast.forecast_reservoir per case {len(single) / single_wall:>12,.0f} cases/s")
    print(f"(4) naive minute-by-minute stepper on {len(sample)} of the cases")
    print(f"      naive  {naive_per_case * 1e3:10.3f} ms/case")
    print(f"      exact  {arithmetic_per_case * 1e6:10.3f} us/case  arithmetic (forecast_arrays, all cases)")
    print(
        f"      ratio  {ratio:10,.0f}x   target >= {TARGET_NAIVE_OVER_EXACT:,}x   "
        f"{verdict(ratio >= TARGET_NAIVE_OVER_EXACT)}"
    )
    print(f"      exact  {api_per_case * 1e6:10.3f} us/case  whole Python API (forecast_many, all cases)")
    print(f"      ratio  {naive_per_case / api_per_case:10,.0f}x")
    print(f"      naive agrees with exact within a minute: {agree}/{len(sample)}   {verdict(agree == len(sample))}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=100_000, help="number of cases (default 100,000)")
    parser.add_argument("--seed", type=int, default=20260301)
    parser.add_argument("--sample", type=int, default=200, help="cases given to the naive stepper")
    parser.add_argument("--pairs", type=int, default=5, help="floor/command pairs timed (the median is quoted)")
    parser.add_argument("--memory-runs", type=int, default=1, help="runs on 10 x N cases for the peak memory")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each Python API timing (best is kept)")
    parser.add_argument("--single", type=int, default=2000, help="cases given to forecast_reservoir one by one")
    parser.add_argument("--skip-api", action="store_true", help="only sections 1 and 2 (the command)")
    parser.add_argument("--floor", metavar="FILE", help="run the I/O floor on FILE (to standard output) and exit")
    parser.add_argument("--processes", type=int, default=len(os.sched_getaffinity(0)), help="processes of --floor")
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--measure"]:  # --measure OUT COMMAND...: run_once's helper
        print(*measure(argv[2:], Path(argv[1])))
        return 0
    args = parser.parse_args(argv)
    if args.floor:
        floor(args.floor, args.processes)
        return 0

    rng = random.Random(args.seed)
    t = time.perf_counter()
    cases = [random_case(rng, i) for i in range(args.cases)]
    data = b"\n".join(orjson.dumps(c) for c in cases) + b"\n"
    print(
        f"generated {len(cases):,} cases ({len(data) / 1e6:.1f} MB) in {time.perf_counter() - t:.1f} s; "
        f"{len(os.sched_getaffinity(0))} CPU cores available"
    )
    print()
    end_to_end(args, data, len(cases))
    if not args.skip_api:
        python_api(args, cases)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
