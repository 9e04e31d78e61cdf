"""A fault campaign: many programmer visits over a faulty radio link, each checked afterwards.

Each session takes a fresh pump, opens an in-memory link with random faults (drop, corrupt,
duplicate, delay, reorder, and a cut of the link, sometimes in the middle of a program
transfer), and runs one workflow: a program change, a single bolus, or a refill with a
concentration change (and so a bridge bolus). Then, as at the next visit, a clean link
reconciles the programmer's record with the pump's log, and three invariants are checked:

1. the pump runs either the old program or the new one, byte for byte, never a mix;
2. no bolus was delivered twice (one ``bolus_started`` per key at most);
3. the programmer's record matches the pump's log: a change is recorded ``applied`` exactly
   when the pump logged it under its key.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field

from itb.contracts.forecast import program_json
from itb.domain.program import DosingProgram, Step
from itb.programmer import workflows as W
from itb.programmer.link import PumpLink
from itb.programmer.record import ProgrammerRecord, Status
from itb.pump.firmware import PumpFirmware
from itb.simulation.pumps import implanted_pump
from itb.telemetry.faults import FaultInjector, FaultSpec
from itb.telemetry.session import LinkDown, RemoteError, ServerEndpoint, UncertainOutcome
from itb.telemetry.transport import LoopbackLink

WORKFLOWS = ("program", "program", "program", "bolus", "refill")


@dataclass
class CampaignReport:
    sessions: int = 0
    workflows: Counter = field(default_factory=Counter)
    outcomes: Counter = field(default_factory=Counter)  # final status of each recorded change
    faults: Counter = field(default_factory=Counter)
    uncertain_then_reconciled: int = 0
    visits_aborted: int = 0  # the link failed before anything was sent
    transfers_cut: int = 0  # program blocks begun and never committed (the link failed mid-way)
    programs_new: int = 0
    programs_old: int = 0
    violations: list[str] = field(default_factory=list)


def _program(rng: random.Random, daily_target: float) -> DosingProgram:
    """A flexible program of 6-24 steps averaging ``daily_target`` mcg/day (a multi-chunk block)."""
    n = rng.randint(6, 24)
    starts = [0, *sorted(rng.sample(range(1, 1440), n - 1))]
    weights = [rng.uniform(0.8, 1.2) for _ in starts]
    ends = [*starts[1:], 1440]
    mean = sum(w * (e - s) for w, s, e in zip(weights, starts, ends)) / 1440
    return DosingProgram(tuple(Step(s, round(daily_target * w / mean, 3)) for s, w in zip(starts, weights)))


def _faults(rng: random.Random) -> FaultSpec:
    rates = {k: rng.choice([0.0, 0.0, 0.05, 0.15, 0.3]) for k in ("drop", "corrupt", "duplicate", "delay", "reorder")}
    cut = rng.choice([0.0, 0.0, 0.01, 0.04])
    script = ((rng.randint(3, 30), "cut"),) if rng.random() < 0.25 else ()
    return FaultSpec(**rates, cut=cut, seed=rng.randrange(2**31), script=script)


def _new_pump(rng: random.Random) -> PumpFirmware:
    return implanted_pump(_program(rng, 400), reservoir_ml=rng.uniform(4, 18))


def run_session(rng: random.Random, report: CampaignReport) -> None:
    firmware = _new_pump(rng)
    endpoint = ServerEndpoint(firmware.handle, on_session_end=firmware.end_session)
    injector = FaultInjector(_faults(rng))
    faulty = LoopbackLink(endpoint.on_frame, injector)
    link = PumpLink(lambda: faulty.client, timeout_s=0.25, max_attempts=rng.choice([2, 3, 4, 6]))
    record = ProgrammerRecord()
    old_text = program_json(firmware.pump.program)
    new_program: DosingProgram | None = None
    workflow = rng.choice(WORKFLOWS)
    report.workflows[workflow] += 1
    try:
        view = W.interrogate(link)
        if workflow == "program":
            new_program = _program(rng, view.block.program.daily_dose_mcg * rng.choice([0.9, 1.15, 1.25]))
            review = W.review_program(view, new_program)
            W.send_program(link, review, record, [f.code for f in review.assessment.confirmations])
        elif workflow == "bolus":
            review_b = W.review_bolus(view, rng.choice([10, 25, 40]), rng.choice([10, 30, 60]))
            W.send_bolus(link, review_b, record, [f.code for f in review_b.assessment.confirmations])
        else:
            plan = W.plan_refill(
                view, withdrawn_ml=view.status["reservoir_ml"], added_ml=20, concentration_mcg_per_ml=1000
            )
            W.send_refill(link, plan, record, [f.code for f in plan.assessment.confirmations])
    except (LinkDown, UncertainOutcome, RemoteError):
        report.visits_aborted += 1  # a read failed: the workflow stopped where it was
    link.drop()
    report.faults.update(injector.counts)
    uncertain_before = {e.key for e in record.entries if e.status in (Status.UNCERTAIN, Status.PENDING)}

    # The next visit: a clean link settles the record from the pump's log.
    clean = LoopbackLink(endpoint.on_frame)
    next_visit = PumpLink(lambda: clean.client)
    W.reconcile_record(next_visit, record)
    log = next_visit.read_log(0)
    next_visit.drop()
    report.uncertain_then_reconciled += sum(1 for e in record.entries if e.key in uncertain_before)
    report.transfers_cut += firmware.discarded_transfers + len(firmware._transfers)
    _check(firmware, record, log, old_text, new_program, report)
    report.sessions += 1


def _check(
    firmware: PumpFirmware,
    record: ProgrammerRecord,
    log: list[dict],
    old_text: dict,
    new_program: DosingProgram | None,
    report: CampaignReport,
) -> None:
    def violation(text: str) -> None:
        report.violations.append(f"session {report.sessions}: {text}")

    running = program_json(firmware.pump.program)
    if running == old_text:
        report.programs_old += 1
    elif new_program is not None and running == program_json(new_program):
        report.programs_new += 1
    else:
        violation(f"the pump runs a program that is neither the old nor the new one: {running}")
    started = Counter(e["key"] for e in log if e["type"] == "bolus_started" and "key" in e)
    for key, n in started.items():
        if n > 1:
            violation(f"bolus {key} delivered {n} times")
    logged = {(e.get("key"), e["type"]) for e in log}
    for entry in record.entries:
        report.outcomes[str(entry.status)] += 1
        in_log = (entry.key, W.PROOF[entry.command]) in logged
        if entry.status is Status.APPLIED and not in_log:
            violation(f"{entry.command} {entry.key} recorded applied, not in the pump's log")
        elif entry.status is not Status.APPLIED and in_log:
            violation(f"{entry.command} {entry.key} recorded {entry.status}, but the pump logged it")
        if entry.status in (Status.PENDING, Status.UNCERTAIN):
            violation(f"{entry.command} {entry.key} still {entry.status} after a clean visit")


def run_campaign(sessions: int, seed: int = 1) -> CampaignReport:
    rng = random.Random(seed)
    report = CampaignReport()
    for _ in range(sessions):
        run_session(rng, report)
    return report
