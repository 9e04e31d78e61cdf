"""Benchmark: one peristaltic pump's whole life through ``itb simulate``.

The scenario: a fresh 40 mL peristaltic pump, a flexible program of 13 steps a day (a step
every 110 minutes, rates between 300 and 520 mcg/day of 1000 mcg/mL: about 0.41 mL/day),
a refill every 90 days (the whole residual withdrawn, 40 mL added: never overfilled, and
about 3 mL left at each refill so it never runs dry), a yearly MRI with an interrogation two
hours after, +1.5 % flow error, for 7 years. The battery reaches ERI and end of service on
the way, as a real pump at this volume would.

(A 40 mL pump refilled every 90 days cannot sustain 1 mL/day: 90 days would need 90 mL.
About 0.4 mL/day is the most a 90-day interval allows.)

Prints:
  (a) the whole process ``itb simulate FILE --json > /dev/null``, best of 5 (target < 0.5 s);
  (b) ``run(parse_scenario(obj))`` in-process, best of 20 (target < 50 ms);
and the number of events. Run: ``python benchmarks/simulate_pump_life.py``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

from itb.pump.scenario_json import outcome_json, parse_scenario
from itb.pump.simulator import run

PROCESS_TARGET_S = 0.5
IN_PROCESS_TARGET_S = 0.050
#: A correct run takes a fraction of a second; past this the engine is stuck, not slow.
CHECK_TIMEOUT_S = 30.0
YEARS = 7
REFILL_EVERY_DAYS = 90
RATES = [300, 320, 360, 420, 480, 520, 500, 460, 420, 400, 380, 350, 320]  # 13 steps, mcg/day
CONCENTRATION = 1000.0
START = datetime(2026, 1, 5, 9, 0, 0)


def iso(when: datetime) -> str:
    return when.isoformat(timespec="seconds")


def pump_life_scenario() -> dict:
    until = START + timedelta(days=YEARS * 365.25)
    steps = [{"start": f"{110 * i // 60:02d}:{110 * i % 60:02d}", "rate_mcg_per_day": r} for i, r in enumerate(RATES)]
    actions: list[dict] = []
    day = REFILL_EVERY_DAYS
    while START + timedelta(days=day) <= until:
        when = START + timedelta(days=day, hours=1)
        actions.append({"at": iso(when), "type": "refill", "added_ml": 40.0, "concentration_mcg_per_ml": CONCENTRATION})
        day += REFILL_EVERY_DAYS
    for year in range(1, YEARS):
        scan = START + timedelta(days=365 * year + 17, hours=5)
        actions.append({"at": iso(scan), "type": "mri", "duration_minutes": 45})
        actions.append({"at": iso(scan + timedelta(hours=2)), "type": "interrogate"})
    actions.sort(key=lambda a: a["at"])
    return {
        "start": iso(START),
        "until": iso(until),
        "pump": {"model": "peristaltic", "reservoir_capacity_ml": 40, "low_reservoir_alarm_ml": 2.0},
        "reservoir_ml": 40.0,
        "concentration_mcg_per_ml": CONCENTRATION,
        "program": {"steps": steps},
        "flow_error": 0.015,
        "actions": actions,
    }


def itb_command() -> list[str]:
    exe = shutil.which("itb")
    return [exe] if exe else [sys.executable, "-c", "from itb.cli import main; main()"]


def best_of(n: int, fn) -> float:
    best = float("inf")
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def verdict(seconds: float, target: float) -> str:
    return "PASS" if seconds < target else "MISS"


def main() -> int:
    obj = pump_life_scenario()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "pump-life.json"
        path.write_text(json.dumps(obj))
        cmd = [*itb_command(), "simulate", str(path), "--json"]
        try:
            check = subprocess.run(cmd, capture_output=True, text=True, timeout=CHECK_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            print(f"itb simulate did not finish in {CHECK_TIMEOUT_S:g} s: the engine is stuck; nothing timed")
            return 1
        if check.returncode != 0:
            print(f"itb simulate failed ({check.returncode}): {check.stderr.strip()}")
            return 1

        def whole_process() -> None:
            subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True)

        process_s = best_of(5, whole_process)

    in_process_s = best_of(20, lambda: run(parse_scenario(obj)))
    outcome = run(parse_scenario(obj))
    data = outcome_json(outcome)
    kinds: dict[str, int] = {}
    for e in data["events"]:
        kinds[e["type"]] = kinds.get(e["type"], 0) + 1
    pump = outcome.pump
    daily_ml = parse_scenario(obj).program.daily_volume_ml(CONCENTRATION)

    print(
        f"scenario: {YEARS}-year peristaltic pump life, 13-step program ({daily_ml:.3f} mL/day), "
        f"{sum(a['type'] == 'refill' for a in obj['actions'])} refills every {REFILL_EVERY_DAYS} days, "
        f"{sum(a['type'] == 'mri' for a in obj['actions'])} MRIs, {len(obj['actions'])} actions"
    )
    print(f"events: {len(data['events'])}  " + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())))
    print(
        f"final state: {data['final']['state']}; eri_at {data['final']['eri_at']}; "
        f"mass balance error {pump.mass_balance_error_mcg():.3e} mcg"
    )
    print(
        f"(a) itb simulate FILE --json > /dev/null, best of 5: {process_s * 1000:8.1f} ms  "
        f"target < {PROCESS_TARGET_S * 1000:.0f} ms  {verdict(process_s, PROCESS_TARGET_S)}"
    )
    print(
        f"(b) run(parse_scenario(obj)) in-process, best of 20: {in_process_s * 1000:8.2f} ms  "
        f"target < {IN_PROCESS_TARGET_S * 1000:.0f} ms  {verdict(in_process_s, IN_PROCESS_TARGET_S)}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
