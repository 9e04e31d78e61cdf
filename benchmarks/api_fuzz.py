"""The whole Schemathesis campaign against the API, with its counts.

    python benchmarks/api_fuzz.py [--examples N] [--seed S]

The test suite's run (``tests/integration/test_api_fuzz.py``) is trimmed to what proves that the
API answers as documented: every operation on both databases, the fuzzing phase on SQLite with
two generated cases per operation, the coverage phase's boundary cases on PostgreSQL. This runs
the same tests whole (``ITB_FUZZ_FULL=1``): every phase on SQLite and on PostgreSQL
(``$ITB_TEST_POSTGRES_URL``, default the local trust-auth ``test`` database), eight generated
cases per operation, and prints each run's cases, operations, seconds, failures and refusals,
then the total. Exit 1 when a run failed.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests" / "integration" / "test_api_fuzz.py"
SHOWN = re.compile(r"^schemathesis (\S+): (\d+) cases, (\d+) operations, ([\d.]+) s, (\d+) failures.*$", re.M)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=8, help="generated cases per operation and phase")
    parser.add_argument("--seed", type=int, default=14)
    args = parser.parse_args(argv)
    env = {
        **os.environ,
        "ITB_FUZZ_FULL": "1",
        "ITB_FUZZ_EXAMPLES": str(args.examples),
        "ITB_FUZZ_SEED": str(args.seed),
        "ITB_TEST_POSTGRES_URL": os.environ.get(
            "ITB_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        ),
        "CI": "1",  # PostgreSQL unreachable is a failure, not a skip
    }
    command = [sys.executable, "-m", "pytest", str(TESTS), "-q", "-s", "-p", "no:cacheprovider", "-o", "addopts="]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    runs = SHOWN.findall(done.stdout)
    for who, cases, operations, seconds, failures in runs:
        print(
            f"{who:42} {int(cases):6,} cases {int(operations):3} operations {float(seconds):7.1f} s {failures} failures"
        )
    total = sum(int(cases) for _who, cases, *_rest in runs)
    print(f"{len(runs)} runs, {total:,} cases in {wall:.1f} s (seed {args.seed}, {args.examples} cases per operation)")
    if done.returncode != 0:
        print(done.stdout[-4000:], done.stderr[-2000:], sep="\n")
    return 0 if done.returncode == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
