"""A simulated clinic over years, without and with reminders: dry episodes, missed refills, messages.

    python benchmarks/clinic_years.py [--patients N] [--years Y] [--missed P] [--seed S] [--serial]

N patients with one event-driven pump each, run day by day (09:00) with weekday clinic days:
refills booked from the exact forecast, each missed with probability P, the morning worklist
calling back patients at risk (see ``itb.simulation.clinic_years``). The same seed runs twice:
without reminders, and with reminders and escalation, where each booked refill is missed with
probability P x ``NotifySettings.reminder_miss_factor`` (0.5: an assumption, with its source in
``itb.domain.reminders``) and the messages the outbox would send are counted by the real
``plan()``. Prints both reports, the messages per patient-year, the dry episodes and missed
visits of each run and their ratio (with / without), and the run times (the two runs go in two
processes at once unless ``--serial``). The ratio of missed visits is near the factor, not equal to
it: a missed refill is rebooked, and that visit can be missed too. Dry episodes are rare; the
ratio's exact interval (the two counts taken as Poisson over the same pump-years) says how little
a handful of episodes tells. Exit 1 when a dry episode in either run was not preceded by a
worklist listing (the goal is zero).
"""

from __future__ import annotations

import argparse
import math
import os
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor

from itb.simulation.clinic_years import run_clinic_years
from itb.simulation.clinic_years_report import ClinicYearsReport


def _timed(
    patients: int, years: float, missed: float, seed: int, reminders: bool
) -> tuple[ClinicYearsReport, float, float]:
    """The report, its wall time and its CPU time (the process's: what a busy machine slows less)."""
    start, cpu = time.perf_counter(), time.process_time()
    report = run_clinic_years(patients, years, missed, seed, reminders=reminders)
    return report, time.perf_counter() - start, time.process_time() - cpu


def _binomial_cdf(k: int, n: int, p: float) -> float:
    return sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k + 1))


def _solve(f: Callable[[float], float], target: float) -> float:
    """The p in [0, 1] where the decreasing function ``f`` equals ``target`` (bisection)."""
    lo, hi = 0.0, 1.0
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if f(mid) > target else (lo, mid)
    return (lo + hi) / 2


def rate_ratio_interval(a: int, b: int, level: float = 0.95) -> tuple[float, float]:
    """An exact interval for the ratio of two Poisson rates over the same exposure, from counts
    ``a`` and ``b``: given ``a + b``, ``a`` is binomial with ``p = ratio / (1 + ratio)``
    (Clopper-Pearson for ``p``)."""
    n, tail = a + b, (1 - level) / 2
    if n == 0:
        return 0.0, math.inf
    p_low = 0.0 if a == 0 else _solve(lambda p: _binomial_cdf(a - 1, n, p), 1 - tail)
    p_high = 1.0 if a == n else _solve(lambda p: _binomial_cdf(a, n, p), tail)
    return p_low / (1 - p_low), (math.inf if p_high >= 1 else p_high / (1 - p_high))


def _ratio(a: float, b: float) -> str:
    return "-" if b == 0 else f"{a / b:.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=200)
    parser.add_argument("--years", type=float, default=5.0)
    parser.add_argument("--missed", type=float, default=0.10, help="probability a booked refill is missed")
    parser.add_argument("--seed", type=int, default=20270104)
    parser.add_argument("--serial", action="store_true", help="run the two simulations one after the other")
    args = parser.parse_args(argv)
    runs = [(args.patients, args.years, args.missed, args.seed, reminders) for reminders in (False, True)]
    start = time.perf_counter()
    if args.serial or (os.cpu_count() or 1) < 2:
        results = [_timed(*run) for run in runs]
    else:
        with ProcessPoolExecutor(max_workers=2) as pool:
            results = list(pool.map(_timed, *zip(*runs)))
    wall = time.perf_counter() - start
    (off, off_s, off_cpu), (on, on_s, on_cpu) = results
    for title, report, seconds, cpu in (
        ("without reminders", off, off_s, off_cpu),
        ("with reminders and escalation", on, on_s, on_cpu),
    ):
        print(f"== {title}")
        for line in report.lines():
            print(line)
        print(f"run time {seconds:.2f} s ({seconds / report.pump_years * 1e3:.2f} ms per pump-year), CPU {cpu:.2f} s")
    low, high = rate_ratio_interval(on.dry_episodes, off.dry_episodes)
    print("== reminders: with / without (the same seed and patients)")
    print(
        f"dry episodes: without {off.dry_episodes}, with {on.dry_episodes}, ratio "
        f"{_ratio(on.dry_episodes, off.dry_episodes)} (exact 95 % interval {low:.2f} to {high:.2f}); "
        f"days dry {off.days_dry_total:.1f} and {on.days_dry_total:.1f}"
    )
    print(
        f"missed visits: without {off.appointments_missed}, with {on.appointments_missed}, ratio "
        f"{_ratio(on.appointments_missed, off.appointments_missed)} (assumed factor {on.reminder_miss_factor:g}); "
        f"urgent recalls {off.urgent_recalls} and {on.urgent_recalls}, "
        f"low-reservoir alarms {off.low_reservoir_alarms} and {on.low_reservoir_alarms}"
    )
    mode = "one after the other" if args.serial or (os.cpu_count() or 1) < 2 else "in two processes at once"
    print(f"total run time {wall:.2f} s (the two runs {mode})")
    return 1 if off.dry_not_listed or on.dry_not_listed else 0


if __name__ == "__main__":
    raise SystemExit(main())
