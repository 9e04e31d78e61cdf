"""The telemetry fault campaign, with its counts: what was faulted and what became of each change.

    python benchmarks/fault_campaign.py [--sessions N] [--seed S]

Each session: a fresh pump, a link with random faults (drop, corrupt, duplicate, delay,
reorder, cut, sometimes scripted to cut mid-transfer), one workflow (program change, bolus,
refill with a bridge bolus), then a clean visit that reconciles the record with the pump's
log and checks: old or new program never a mix; no bolus twice; record == pump log.
"""

from __future__ import annotations

import argparse
import time

from itb.simulation.fault_campaign import run_campaign


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=20261124)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    r = run_campaign(args.sessions, args.seed)
    wall = time.perf_counter() - start
    print(f"{r.sessions:,} sessions in {wall:.1f} s ({wall / r.sessions * 1e3:.2f} ms each)")
    print("workflows:        " + ", ".join(f"{k} {v:,}" for k, v in sorted(r.workflows.items())))
    print("faults injected:  " + ", ".join(f"{k} {v:,}" for k, v in sorted(r.faults.items())))
    print("changes recorded: " + ", ".join(f"{k} {v:,}" for k, v in sorted(r.outcomes.items())))
    print(f"uncertain after the faulty visit, settled from the pump's log: {r.uncertain_then_reconciled:,}")
    print(f"program blocks cut mid-transfer (never applied): {r.transfers_cut:,}")
    print(f"visits stopped by the link before a change was sent: {r.visits_aborted:,}")
    print(f"pumps on the new program {r.programs_new:,}, on the old {r.programs_old:,} (else: a violation)")
    print(f"invariant violations: {len(r.violations)}")
    for v in r.violations[:10]:
        print("  ", v)
    return 1 if r.violations else 0


if __name__ == "__main__":
    raise SystemExit(main())
