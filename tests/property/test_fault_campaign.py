"""The fault campaign: 1,000 randomized programmer sessions over a faulty link.

After each session the pump runs the old or the new program (never a mix), no bolus was
given twice, and the programmer's record matches the pump's log (see
``itb.simulation.fault_campaign``). A thousand sessions already inject every kind of fault
hundreds of times and cut program blocks mid-transfer dozens of times (the counts are asserted);
``python benchmarks/fault_campaign.py`` runs the whole 10,000 and prints the counts.
"""

from __future__ import annotations

import random

from itb.programmer.record import Status
from itb.simulation.fault_campaign import CampaignReport, _check, run_campaign, run_session

SESSIONS = 1_000


def test_a_thousand_sessions_keep_every_invariant():
    report = run_campaign(SESSIONS, seed=20261124)
    assert report.violations == []
    assert report.sessions == SESSIONS
    # The campaign really exercised what it claims to.
    for kind in ("drop", "corrupt", "duplicate", "delay", "reorder", "cut"):
        assert report.faults[kind] > 100, kind
    assert report.transfers_cut > 20  # program blocks cut in the middle of their transfer
    assert report.uncertain_then_reconciled > 20
    assert report.outcomes["applied"] > 300
    assert report.outcomes["not_applied"] > 20
    assert report.programs_new > 100 and report.programs_old > 100


def test_the_checker_catches_a_record_that_disagrees_with_the_pump(monkeypatch):
    # The invariant checks are not vacuous: flip a recorded outcome and they object.
    import itb.simulation.fault_campaign as campaign

    def lying_check(firmware, record, log, old, new, report):
        for entry in record.entries:
            entry.status = Status.NOT_APPLIED if entry.status is Status.APPLIED else Status.APPLIED
        _check(firmware, record, log, old, new, report)

    monkeypatch.setattr(campaign, "_check", lying_check)
    report = CampaignReport()
    rng = random.Random(5)
    for _ in range(30):
        run_session(rng, report)
    assert any("recorded" in v for v in report.violations)


def test_the_checker_catches_a_mixed_program(monkeypatch):
    import itb.simulation.fault_campaign as campaign
    from itb.domain.program import DosingProgram, Step

    def mixing_check(firmware, record, log, old, new, report):
        firmware.pump.program = DosingProgram((Step(0, 123.456),))
        _check(firmware, record, log, old, new, report)

    monkeypatch.setattr(campaign, "_check", mixing_check)
    report = CampaignReport()
    run_session(random.Random(1), report)
    assert any("neither the old nor the new" in v for v in report.violations)
