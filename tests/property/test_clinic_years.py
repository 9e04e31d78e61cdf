"""The simulated clinic (``itb.simulation.clinic_years``): no pump runs dry unannounced.

Small clinics (40 patients x 2 years) over a few seeds: with every refill kept nobody runs dry;
with many missed refills some do, but every dry episode was on the worklist first; the
report's counts add up. ``python benchmarks/clinic_years.py`` runs the full 200 x 5 years.
"""

from __future__ import annotations

import pytest

from itb.simulation import clinic_years
from itb.simulation.clinic_years import ClinicYearsReport, run_clinic_years

PATIENTS, YEARS = 40, 2
SEEDS = (1, 2, 3)


def _check_counts(r: ClinicYearsReport) -> None:
    assert r.patients == PATIENTS and r.days == round(YEARS * 365.25)
    assert r.pump_years == pytest.approx(PATIENTS * YEARS, rel=1e-3)
    # Every refill appointment was kept, missed, or is still ahead.
    assert r.appointments_booked == r.refills + r.appointments_missed + r.appointments_pending
    assert 0 <= r.appointments_pending <= r.patients
    assert r.pump_replacements <= r.refills
    assert 0 < r.clinic_days < r.days
    assert r.max_worklist_length <= min(r.patients, r.worklist_listings)
    # The episode list and its counts agree.
    assert r.dry_episodes == len(r.episodes) == r.dry_drug_exhausted + r.dry_stopped_empty
    assert r.patients_with_dry_episode == len({e.patient_id for e in r.episodes}) <= r.dry_episodes
    assert r.dry_not_listed == sum(not e.listed_before for e in r.episodes)
    assert 0 <= r.dry_not_listed <= r.dry_not_listed_for_reservoir <= r.dry_episodes
    assert r.alarms_not_listed <= r.low_reservoir_alarms
    for e in r.episodes:
        assert e.kind in ("drug_exhausted", "stopped_empty")
        assert e.ended_at is None or e.ended_at > e.started_at
        if e.listed_before:
            assert e.lead_days > 0
    assert r.end_of_service_stops == 0  # pumps are replaced before their battery ends


@pytest.mark.parametrize("seed", SEEDS)
def test_every_refill_kept_means_nobody_runs_dry(seed):
    r = run_clinic_years(PATIENTS, YEARS, missed_probability=0.0, seed=seed)
    _check_counts(r)
    assert r.appointments_missed == 0
    assert r.dry_episodes == 0 and r.low_reservoir_alarms == 0
    assert r.refills > PATIENTS * YEARS * 2  # the clinic really worked: refills every few months at least


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("missed", [0.10, 0.50])
def test_every_dry_episode_was_on_the_worklist_first(seed, missed):
    r = run_clinic_years(PATIENTS, YEARS, missed_probability=missed, seed=seed)
    _check_counts(r)
    assert r.appointments_missed > 0
    assert r.dry_not_listed == 0
    assert r.dry_not_listed_for_reservoir == 0
    assert r.alarms_not_listed == 0
    assert all(e.reservoir_lead_days > 0 and e.missed_in_cycle > 0 for e in r.episodes)
    if missed >= 0.5:
        assert r.urgent_recalls > 0 and r.low_reservoir_alarms > 0


def test_many_missed_refills_do_cause_dry_episodes():
    # The property above is not vacuous: at 50 % missed, patients do run dry (after a warning).
    total = sum(run_clinic_years(PATIENTS, YEARS, missed_probability=0.5, seed=s).dry_episodes for s in SEEDS)
    assert total > 0


def test_without_the_worklist_dry_episodes_go_unannounced(monkeypatch):
    # The check is not vacuous either: a clinic with no worklist never calls back, and its
    # patients run dry with no listing before.
    monkeypatch.setattr(clinic_years, "build_worklist", lambda situations, now, settings: [])
    r = run_clinic_years(PATIENTS, YEARS, missed_probability=0.5, seed=SEEDS[0])
    assert r.dry_episodes > 0
    assert r.dry_not_listed == r.dry_episodes
    assert r.urgent_recalls == 0


def test_deterministic_by_seed():
    a = run_clinic_years(20, 1, missed_probability=0.3, seed=7)
    b = run_clinic_years(20, 1, missed_probability=0.3, seed=7)
    c = run_clinic_years(20, 1, missed_probability=0.3, seed=8)
    assert a == b and a.episodes == b.episodes
    assert a != c
