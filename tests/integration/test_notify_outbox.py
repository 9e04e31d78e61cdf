"""The outbox pass (itb.clinic.usecases.notify) on SQLite and PostgreSQL, with recording channels."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

from itb.adapters.db import models as m
from itb.bootstrap import clinic_on
from itb.clinic.ports import Outgoing, SendFailed
from itb.clinic.services import Actor, Clinic, ClinicConfig, Forbidden

MONDAY_10 = datetime(2026, 11, 30, 10, 0)  # a week after the clinic's clock (2026-11-23 09:00)


class Recorder:
    """A channel that keeps what it was given (or fails while ``failing``)."""

    def __init__(self) -> None:
        self.sent: list[Outgoing] = []
        self.failing = False
        self._lock = threading.Lock()

    def send(self, message: Outgoing) -> None:
        if self.failing:
            raise SendFailed("SMTP server 127.0.0.1:2525 answered 451: try again later")
        with self._lock:
            self.sent.append(message)


@pytest.fixture
def channel() -> Recorder:
    return Recorder()


@pytest.fixture
def family(clinic: Clinic, users: dict[str, Actor], child: m.Patient) -> dict[str, Any]:
    """The caregiver's child with two contacts, one on-call nurse, one digest reader, a refill booked."""
    admin = users["admin"]
    mum = clinic.add_contact(users["caregiver"], child.id, name="Ana", email="ana@example.org")
    dad = clinic.add_contact(admin, child.id, name="Ben", phone="+1 555 0101", channels=["webhook"])
    nurse = clinic.add_contact(admin, None, name="On call", email="oncall@example.org", on_call=True)
    lead = clinic.add_contact(admin, None, name="Lead", email="lead@example.org", digest=True)
    visit = clinic.book(users["nurse"], child.id, kind="refill", at=MONDAY_10)
    return {"mum": mum, "dad": dad, "nurse": nurse, "lead": lead, "visit": visit, "child": child}


def run(clinic: Clinic, channel: Recorder, **options: Any) -> Any:
    return clinic.notify_run(Actor("system", "admin"), senders={"email": channel, "webhook": channel}, **options)


def test_one_pass_sends_each_reminder_once_and_a_second_sends_nothing(
    clinic: Clinic, family: dict[str, Any], channel: Recorder, db: Any
) -> None:
    first = run(clinic, channel)
    reminders = [o for o in channel.sent if o.rule == "visit_reminder"]
    assert {(o.address, o.channel) for o in reminders} == {("ana@example.org", "email"), ("+1 555 0101", "webhook")}
    assert all(o.event.endswith(":7d") and o.ics and b"BEGIN:VEVENT" in o.ics for o in reminders)
    assert {o.rule for o in channel.sent} == {"visit_reminder", "staff_digest"}
    assert first.counts()["sent"] == len(channel.sent) == 3
    again = run(clinic, channel)
    assert again.counts() == {"queued": 0, "sent": 0, "failed": 0, "deferred": 0, "suppressed": 0}
    assert len(channel.sent) == 3 and db.count(m.OutboxMessage) == 3
    assert {o.message_id for o in channel.sent} == {f"<itb-outbox-{r.id}@itb>" for r in db.all(m.OutboxMessage)}


def test_each_later_reminder_comes_in_its_own_window(
    clinic: Clinic, family: dict[str, Any], channel: Recorder, clock: Any
) -> None:
    for at in (datetime(2026, 11, 23, 9), datetime(2026, 11, 28, 8), datetime(2026, 11, 30, 7, 45)):
        clock.set(at)
        run(clinic, channel)
    mum = sorted(o.event.rsplit(":", 1)[1] for o in channel.sent if o.address == "ana@example.org")
    assert mum == ["2d", "7d", "day"]
    assert "is today" in next(o.body for o in channel.sent if o.event.endswith(":day"))


def test_a_failing_channel_leaves_messages_pending_and_a_later_pass_sends_them(
    clinic: Clinic, family: dict[str, Any], channel: Recorder, db: Any, clock: Any
) -> None:
    channel.failing = True
    report = run(clinic, channel)
    assert report.counts()["failed"] == 3 and channel.sent == []
    rows = db.all(m.OutboxMessage)
    assert {r.status for r in rows} == {"pending"} and all("451" in r.last_error and r.attempts == 1 for r in rows)
    assert run(clinic, channel).counts()["sent"] == 0  # not before its next attempt
    channel.failing = False
    clock.advance(minutes=3)
    assert run(clinic, channel).counts()["sent"] == 3
    assert {r.status for r in db.all(m.OutboxMessage)} == {"sent"}
    assert all(r.last_error is None and r.attempts == 2 for r in db.all(m.OutboxMessage))


def test_a_message_failing_every_attempt_is_failed_for_staff_to_see(
    clinic: Clinic, family: dict[str, Any], channel: Recorder, db: Any, clock: Any
) -> None:
    channel.failing = True
    for _ in range(clinic.config.notify.max_attempts):
        run(clinic, channel)
        clock.advance(hours=1, minutes=1)
    assert {r.status for r in db.all(m.OutboxMessage)} == {"failed"}


def test_a_dry_run_stores_and_sends_nothing(clinic: Clinic, family: dict[str, Any], channel: Recorder, db: Any) -> None:
    before = db.snapshot()
    report = run(clinic, channel, dry_run=True)
    assert report.dry_run and len(report.queued) == 3 and channel.sent == []
    assert db.snapshot() == before


def test_a_moved_visit_suppresses_what_was_waiting_and_is_reminded_at_its_new_time(
    clinic: Clinic, users: dict[str, Actor], family: dict[str, Any], channel: Recorder, db: Any, clock: Any
) -> None:
    clock.set(datetime(2026, 11, 28, 22, 0))  # in quiet hours: the 2-day reminders (and the digest) wait
    assert run(clinic, channel).counts()["deferred"] == 3
    clinic.set_appointment_status(users["nurse"], family["visit"].id, "cancelled")
    clinic.book(users["nurse"], family["child"].id, kind="refill", at=datetime(2026, 12, 1, 10, 0))
    clock.set(datetime(2026, 11, 29, 8, 0))
    report = run(clinic, channel)
    old = f"appointment:{family['visit'].id}:2026-11-30T10:00:2d"
    assert sorted(s["event"] for s in report.suppressed) == [old, old, "digest:2026-11-28"]  # old news
    assert {o.event.rsplit(":", 1)[1] for o in channel.sent if o.rule == "visit_reminder"} == {"2d"}
    assert all("2026-12-01" in o.subject for o in channel.sent if o.rule == "visit_reminder")


def test_an_opted_out_contact_gets_nothing_more(
    clinic: Clinic, users: dict[str, Actor], family: dict[str, Any], channel: Recorder
) -> None:
    mum = family["mum"]
    clinic.update_contact(users["caregiver"], mum.id, expected_version=mum.version, name="Ana",
                          email="ana@example.org", opted_out=True)  # fmt: skip
    run(clinic, channel)
    assert "ana@example.org" not in {o.address for o in channel.sent}


def test_an_emergency_report_reaches_the_on_call_list_at_once_even_at_night(
    clinic: Clinic, users: dict[str, Actor], family: dict[str, Any], channel: Recorder, clock: Any
) -> None:
    clock.set(datetime(2026, 11, 24, 2, 30))
    report = clinic.report_symptoms(users["caregiver"], family["child"].id, ["breathing_slow"])
    assert report.urgency == 2
    run(clinic, channel)
    alerts = [o for o in channel.sent if o.rule == "emergency_report"]
    assert [(o.address, o.event) for o in alerts] == [("oncall@example.org", f"symptom_report:{report.id}")]
    assert "breathing_slow" in alerts[0].body
    assert not [o for o in channel.sent if o.rule == "visit_reminder"]  # quiet hours hold the rest


def test_a_missed_refill_tells_the_family_and_on_call_the_same_day(
    clinic: Clinic, family: dict[str, Any], channel: Recorder, clock: Any
) -> None:
    clock.set(MONDAY_10 + timedelta(hours=2, minutes=5))
    run(clinic, channel)
    told = {o.address for o in channel.sent if o.rule == "missed_refill"}
    assert told == {"ana@example.org", "+1 555 0101", "oncall@example.org"}


def test_no_refill_booked_before_the_alarm_tells_on_call_staff(
    clinic: Clinic, users: dict[str, Actor], family: dict[str, Any], make_pump: Callable[..., m.Pump],
    channel: Recorder, clock: Any,
) -> None:  # fmt: skip
    pump = make_pump(family["child"].id)  # alarm in about 90 days
    for a in _booked(clinic, family["child"].id):
        clinic.set_appointment_status(users["nurse"], a, "cancelled")
    clock.set(pump.low_reservoir_alarm_at - timedelta(days=3))
    run(clinic, channel)
    alerts = [o for o in channel.sent if o.rule == "alarm_no_refill"]
    assert [o.address for o in alerts] == ["oncall@example.org"]
    assert alerts[0].event.startswith(f"pump:{pump.id}:fill:")


def _booked(clinic: Clinic, patient_id: int) -> list[int]:
    with clinic.sessions() as s:
        return [a.id for a in s.query(m.Appointment).filter_by(patient_id=patient_id, status="booked")]


def test_the_daily_cap_holds_a_family_s_messages_past_it_until_tomorrow_not_staff_s(
    clinic: Clinic, family: dict[str, Any], channel: Recorder, db: Any
) -> None:
    from dataclasses import replace

    clinic.config = replace(clinic.startup_config, notify=replace(clinic.config.notify, daily_cap=0))
    report = run(clinic, channel)
    assert [(d["address"], d["reason"]) for d in report.deferred] == [
        ("ana@example.org", "daily cap of 0 messages reached"), ("+1 555 0101", "daily cap of 0 messages reached")
    ]  # fmt: skip
    assert [o.address for o in channel.sent] == ["lead@example.org"]  # the digest: staff are not capped


def test_only_an_admin_runs_a_pass(clinic: Clinic, users: dict[str, Actor], channel: Recorder) -> None:
    for role in ("clinician", "nurse", "caregiver"):
        with pytest.raises(Forbidden):
            clinic.notify_run(users[role], senders={"email": channel})


def test_two_server_processes_never_send_a_message_twice(
    engine: Any, family: dict[str, Any], channel: Recorder, clock: Any, tmp_path: Any, db: Any
) -> None:
    clinics = [clinic_on(engine, ClinicConfig(data_dir=tmp_path / "data"), clock=clock) for _ in range(2)]
    barrier = threading.Barrier(4)

    def passes(c: Clinic) -> None:
        barrier.wait()
        for _ in range(3):
            run(c, channel)

    threads = [threading.Thread(target=passes, args=(c,)) for c in clinics * 2]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(channel.sent) == 3 == db.count(m.OutboxMessage)
    assert len({o.message_id for o in channel.sent}) == 3


def test_eri_reached_and_a_stale_vendor_pump_tell_on_call_staff_once(
    clinic: Clinic, family: dict[str, Any], make_pump: Callable[..., m.Pump], channel: Recorder, db: Any,
    clock: Any,
) -> None:  # fmt: skip
    pump = make_pump(family["child"].id)
    with db.sessions.begin() as s:
        p = s.get(m.Pump, pump.id)
        p.eri_at, p.eri_reached = clock.now, True
        # recorded from the vendor's programmer, last session long ago (the worklist's "stale")
        p.connection, p.reading_at = "vendor", clock.now - timedelta(days=400)
    run(clinic, channel)
    staff = {o.rule: o for o in channel.sent if o.address == "oncall@example.org"}
    assert staff["eri_reached"].event == f"pump:{pump.id}:eri" and "90 days" in staff["eri_reached"].body
    assert staff["vendor_stale"].event.startswith(f"pump:{pump.id}:stale:")
    count = len(channel.sent)
    clock.advance(days=1)
    run(clinic, channel)
    assert [o.rule for o in channel.sent[count:] if o.rule in ("eri_reached", "vendor_stale")] == []
