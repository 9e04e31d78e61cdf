"""The simulated clinic (``itb.simulation.clinic_years``): no pump runs dry unannounced.

Small clinics (40 patients x 2 years) over a few seeds: with every refill kept nobody runs dry;
with many missed refills some do, but every dry episode was on the worklist first; the
report's counts add up. With reminders (smaller runs): the miss probability is the assumed factor
times the base, the messages are those of the real ``plan()``, counted once per key, by rule.
``python benchmarks/clinic_years.py`` runs the full 200 x 5 years, without and with reminders.
"""

from __future__ import annotations

import dataclasses
import functools
from datetime import date, datetime, time, timedelta

import pytest

from itb.domain.reminders import DEFAULT_NOTIFY, Alert, NotifySettings, Rule, Visit
from itb.simulation import clinic_outbox, clinic_years
from itb.simulation.clinic_outbox import CAREGIVERS_PER_PATIENT, OutboxCounter, caregivers
from itb.simulation.clinic_years import run_clinic_years
from itb.simulation.clinic_years_report import ClinicYearsReport

PATIENTS, YEARS = 40, 2
SEEDS = (1, 2, 3)


@functools.cache
def _years(missed: float, seed: int) -> ClinicYearsReport:
    """The small clinic's run at this miss probability and seed, made once and read by the tests."""
    return run_clinic_years(PATIENTS, YEARS, missed_probability=missed, seed=seed)


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
    r = _years(0.0, seed)
    _check_counts(r)
    assert r.appointments_missed == 0
    assert r.dry_episodes == 0 and r.low_reservoir_alarms == 0
    assert r.refills > PATIENTS * YEARS * 2  # the clinic really worked: refills every few months at least


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("missed", [0.10, 0.50])
def test_every_dry_episode_was_on_the_worklist_first(seed, missed):
    r = _years(missed, seed)
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
    total = sum(_years(0.5, s).dry_episodes for s in SEEDS)
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


# ------------------------------------------------------------------ reminders and escalation
# Small runs (30 patients x 1 year), each made once and shared by the tests below.
R_PATIENTS, R_YEARS, R_MISSED, R_SEED = 30, 1, 0.4, 1


@functools.cache
def _run(reminders: bool | NotifySettings = False, missed: float = R_MISSED, **kw: float) -> ClinicYearsReport:
    return run_clinic_years(R_PATIENTS, R_YEARS, missed, R_SEED, reminders=reminders, **kw)


def _missed_share(r: ClinicYearsReport) -> float:
    # each refill appointment that came was kept (a refill) or missed
    return r.appointments_missed / (r.appointments_missed + r.refills)


def test_reminders_multiply_the_miss_probability_by_the_assumed_factor():
    off, on = _run(), _run(True)
    assert DEFAULT_NOTIFY.reminder_miss_factor == 0.5
    assert off.reminder_miss_factor is None and off.miss_probability_used == R_MISSED
    assert on.reminder_miss_factor == 0.5 and on.miss_probability_used == pytest.approx(R_MISSED * 0.5)
    # The draws: about 40 % and 20 % of the refill visits missed. About 330 and 260 visits, so a
    # standard deviation of about 0.027 and 0.025: the bounds are 3 of them around 40 % and 20 %
    # (0.07 around the ratio 0.5). At this seed: 0.37 and 0.17, a ratio of 0.45.
    assert 0.32 < _missed_share(off) < 0.48
    assert 0.125 < _missed_share(on) < 0.275
    assert 0.29 < _missed_share(on) / _missed_share(off) < 0.71
    # The mechanism itself: a factor of 0 keeps every visit; a factor of 1 changes nothing but the
    # message counts (counting draws nothing random), so the same seed gives the same run.
    never = _run(NotifySettings(reminder_miss_factor=0.0))
    assert never.appointments_missed == 0 and never.messages is not None
    assert never.messages.missed_refill_family == never.messages.missed_refill_staff == 0
    same = _run(NotifySettings(reminder_miss_factor=1.0))
    assert same.messages is not None and same.messages.total > 0
    assert dataclasses.replace(same, reminder_miss_factor=None, messages=None) == off
    assert same.episodes == off.episodes


def test_without_reminders_nothing_is_counted(monkeypatch):
    def no_plan(*args, **kwargs):
        raise AssertionError("plan() called without reminders")

    monkeypatch.setattr(clinic_outbox, "plan", no_plan)  # where the outbox counter calls it
    r = run_clinic_years(10, 0.5, missed_probability=0.4, seed=R_SEED)
    assert r.messages is None and r.reminder_miss_factor is None
    assert not any(line.startswith("messages") for line in r.lines())


def test_per_rule_counts_add_up_and_follow_the_visits():
    r = _run(True)
    m = r.messages
    assert m is not None
    assert m.total == (
        m.family_reminders + m.missed_refill_family + m.missed_refill_staff + m.alarm_alerts + m.eri_alerts + m.digests
    )
    assert m.other == 0  # no emergency reports nor vendor-programmed pumps are simulated
    # Every missed refill told to both caregivers and the on-call staff (urgent: never put off).
    assert r.appointments_missed > 0
    assert m.missed_refill_family == CAREGIVERS_PER_PATIENT * r.appointments_missed
    assert m.missed_refill_staff == r.appointments_missed
    assert m.digests == r.days  # one a day, weekends too
    assert m.alarm_alerts > 0  # at 20 % missed, pumps come within the margin of their alarm unbooked
    assert m.family_reminders > CAREGIVERS_PER_PATIENT * r.refills
    assert m.eri_alerts >= 0  # pumps are replaced before their ERI: rarely reached
    lines = "\n".join(r.lines())
    assert f"messages sent {m.total}" in lines and "per patient-year" in lines
    for word in ("family visit reminders", "missed-refill alerts to family", "to staff", "alarm-no-refill", "ERI",
                 "digest"):  # fmt: skip
        assert word in lines


def test_every_kept_refill_booked_ahead_gets_three_reminders_per_caregiver():
    # No refill missed, nobody titrated: every refill is booked weeks ahead at the one before it,
    # so each gets its 7-day, 2-day and morning reminder, to each caregiver; only the first
    # booking of each patient (a few days off at the start) may get fewer, and the last ones
    # (still ahead at the end) some of theirs.
    r = _run(True, missed=0.0, titrating_fraction=0.0)
    m = r.messages
    assert m is not None and r.appointments_missed == 0 and r.titration_changes == 0
    assert r.urgent_recalls == 0 and r.routine_worklist_bookings == 0  # no refill was moved
    per_visit = 3 * CAREGIVERS_PER_PATIENT
    assert per_visit * (r.refills - r.patients) <= m.family_reminders <= per_visit * r.appointments_booked
    assert m.missed_refill_family == m.missed_refill_staff == m.alarm_alerts == 0
    assert m.digests == r.days


def test_skipping_stored_reminders_changes_no_count(monkeypatch):
    # The counter leaves out of plan() the visits whose current reminder is stored: the same counts.
    fast = run_clinic_years(15, 0.5, 0.4, R_SEED, reminders=True)
    monkeypatch.setattr(OutboxCounter, "skip_stored", False)
    full = run_clinic_years(15, 0.5, 0.4, R_SEED, reminders=True)
    assert fast == full and fast.messages is not None and fast.messages.total > 0


# ------------------------------------------------------------------ the counter itself
def _counter() -> OutboxCounter:
    return OutboxCounter({7: caregivers(7, "Patient 0007")})


def _visit(at: datetime, appointment_id: int = 1, status: str = "booked") -> Visit:
    return Visit(appointment_id, 7, "Patient 0007", "refill", at, status)


MORNING = time(7, 30)
VISIT_DAY = date(2027, 3, 15)
VISIT_AT = datetime.combine(VISIT_DAY, time(9, 0))


def test_a_message_is_counted_once_per_key():
    box = _counter()
    first = datetime.combine(VISIT_DAY - timedelta(days=7), MORNING)
    sent = box.run_pass(first, [_visit(VISIT_AT)])
    assert sent == CAREGIVERS_PER_PATIENT + 1  # the 7-day reminders and the staff digest
    before = box.counts()
    # The same pass again, and a later one the same day: nothing new.
    assert box.run_pass(first, [_visit(VISIT_AT)]) == 0
    assert box.run_pass(first + timedelta(hours=3, minutes=30), [_visit(VISIT_AT)]) == 0
    assert box.counts() == before
    # Without skipping (plan() sees everything again): still nothing new.
    box.skip_stored = False
    assert box.run_pass(first, [_visit(VISIT_AT)]) == 0 and box.counts() == before


@pytest.mark.parametrize(
    ("booked_days_ahead", "reminders"),
    [(10, 3), (8, 3), (7, 3), (5, 3), (2, 2), (1, 2)],
)
def test_reminders_per_visit_by_how_far_ahead_it_was_booked(booked_days_ahead, reminders):
    # The simulation's passes: 07:30 every day, 11:00 on the booking day (booked at 09:00).
    box = _counter()
    booked = VISIT_DAY - timedelta(days=booked_days_ahead)
    box.run_pass(datetime.combine(booked, time(11, 0)), [_visit(VISIT_AT)])
    day = booked + timedelta(days=1)
    while day <= VISIT_DAY:
        box.run_pass(datetime.combine(day, MORNING), [_visit(VISIT_AT)])
        day += timedelta(days=1)
    assert box.counts().family_reminders == reminders * CAREGIVERS_PER_PATIENT


def test_a_missed_refill_goes_to_the_family_and_staff_once():
    box = _counter()
    missed = _visit(VISIT_AT, status="missed")
    box.run_pass(VISIT_AT + timedelta(hours=2), [missed])
    box.run_pass(datetime.combine(VISIT_DAY + timedelta(days=1), MORNING), [missed])
    m = box.counts()
    assert (m.missed_refill_family, m.missed_refill_staff) == (CAREGIVERS_PER_PATIENT, 1)


def test_staff_alerts_are_not_capped_and_a_waiting_one_is_suppressed_when_resolved():
    box = _counter()
    now = datetime.combine(VISIT_DAY, time(11, 0))
    alerts = [Alert(Rule.ALARM_NO_REFILL, f"pump:{i}:fill:x", 7, "Patient 0007", "no refill") for i in range(6)]
    # The digest (07:30) and 6 alerts: the staff contact is not capped, every alert goes at once.
    box.run_pass(datetime.combine(VISIT_DAY, MORNING))
    box.run_pass(now, [_visit(now - timedelta(hours=2), status="missed")], alerts)
    m = box.counts()
    assert DEFAULT_NOTIFY.daily_cap == 4
    assert (m.digests, m.alarm_alerts, m.deferred, m.missed_refill_staff) == (1, 6, 0, 1)
    # An alert waiting for quiet hours to end is suppressed once resolved (no longer planned).
    night = datetime.combine(VISIT_DAY, time(23, 0))
    late = [Alert(Rule.ALARM_NO_REFILL, "pump:9:fill:y", 9, "Patient 0009", "no refill")]
    box.run_pass(night, alerts=late)
    assert box.waiting_alert_patients() == {9}
    box.run_pass(datetime.combine(VISIT_DAY + timedelta(days=1), MORNING))
    m = box.counts()
    assert (m.alarm_alerts, m.suppressed) == (6, 1)
    assert not box.waiting
