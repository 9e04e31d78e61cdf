"""A simulated clinic over years: dry episodes, missed refills and the worklist's warnings.

    python benchmarks/clinic_years.py [--patients N] [--years Y] [--missed P] [--seed S]

N patients with one event-driven pump each, run day by day (09:00) with weekday clinic days:
refills booked from the exact forecast, each missed with probability P, the morning worklist
calling back patients at risk (see ``itb.simulation.clinic_years``). Prints the report and the
run time; the goal is zero dry episodes not preceded by a worklist listing.
"""

from __future__ import annotations

import argparse
import time

from itb.simulation.clinic_years import run_clinic_years


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=200)
    parser.add_argument("--years", type=float, default=5.0)
    parser.add_argument("--missed", type=float, default=0.10, help="probability a booked refill is missed")
    parser.add_argument("--seed", type=int, default=20270104)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    report = run_clinic_years(args.patients, args.years, args.missed, args.seed)
    wall = time.perf_counter() - start
    for line in report.lines():
        print(line)
    print(f"run time {wall:.2f} s ({wall / report.pump_years * 1e3:.2f} ms per pump-year)")
    return 1 if report.dry_not_listed else 0


if __name__ == "__main__":
    raise SystemExit(main())
