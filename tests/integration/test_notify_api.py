"""Contacts and the outbox through the API (both databases): who keeps which list, the rules a
contact keeps (422 naming the field), a contact changed meanwhile (409), the outbox's list and an
admin's pass of it (a dry run stores nothing)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest
from test_clinic_api import expect, locs

from itb.adapters.db import models as m
from itb.clinic.ports import Outgoing, SendFailed

FAMILY = {"name": "Rita B", "relation": "mother", "email": "rita@example.org", "channels": ["email"], "language": "en"}
STAFF = {"name": "Ona Nurse", "email": "ona@example.org", "channels": ["email"], "on_call": True, "digest": False}
#: a refill visit two days after the clinic's Monday: its 2-day reminder is due now
VISIT_AT = datetime(2026, 11, 25, 10, 0)


@dataclass
class Recorder:
    """A channel that takes every message (``fail``: refuses every one, saying why)."""

    fail: str | None = None
    sent: list[Outgoing] = field(default_factory=list)

    def send(self, message: Outgoing) -> None:
        if self.fail:
            raise SendFailed(self.fail)
        self.sent.append(message)


def actions(db: Any) -> list[str]:
    return [e.action for e in db.audit() if e.entity == "contact"]


# ---------------------------------------------------------------------------------- who keeps which list


def test_a_caregiver_adds_edits_and_removes_their_own_childs_contacts(client, child, db):
    carer = client("caregiver")
    made = expect(carer.post(f"/api/patients/{child.id}/contacts", json=FAMILY), 201)
    assert (made["patient_id"], made["name"], made["channels"], made["version"]) == (child.id, "Rita B", ["email"], 1)
    assert made["updated_by"] == "caregiver" and made["removed_at"] is None
    assert [c["id"] for c in expect(carer.get(f"/api/patients/{child.id}/contacts"), 200)] == [made["id"]]

    edit = {**FAMILY, "phone": "+1 555 0100", "channels": ["email", "webhook"], "opted_out": True, "version": 1}
    changed = expect(carer.put(f"/api/contacts/{made['id']}", json=edit), 200)
    assert (changed["phone"], changed["channels"], changed["opted_out"]) == ("+1 555 0100", ["email", "webhook"], True)
    assert changed["version"] == 2

    removed = expect(carer.post(f"/api/contacts/{made['id']}/remove", json={"version": 2}), 200)
    assert removed["removed_at"] is not None
    assert expect(carer.get(f"/api/patients/{child.id}/contacts"), 200) == []
    assert actions(db) == ["add_contact", "update_contact", "remove_contact"]


def test_a_caregiver_gets_404_for_another_child_and_403_for_the_staff_list(
    client, clinic, users, child, other_child, db
):
    theirs = clinic.add_contact(users["nurse"], other_child.id, name="Zoe's father", email="zf@example.org")
    on_call = clinic.add_contact(users["nurse"], None, name="Dr On Call", email="oncall@example.org", on_call=True)
    carer = client("caregiver")
    before, audited = db.snapshot(), db.audit_count()
    assert carer.get(f"/api/patients/{other_child.id}/contacts").status_code == 404
    assert carer.post(f"/api/patients/{other_child.id}/contacts", json=FAMILY).status_code == 404
    assert carer.put(f"/api/contacts/{theirs.id}", json={**FAMILY, "version": 1}).status_code == 404
    assert carer.post(f"/api/contacts/{theirs.id}/remove", json={"version": 1}).status_code == 404
    assert carer.get("/api/staff-contacts").status_code == 403
    assert carer.post("/api/staff-contacts", json=STAFF).status_code == 403
    assert carer.put(f"/api/contacts/{on_call.id}", json={**STAFF, "version": 1}).status_code == 403
    assert carer.post(f"/api/contacts/{on_call.id}/remove", json={"version": 1}).status_code == 403
    assert carer.get("/api/notifications").status_code == 403
    assert carer.post("/api/notifications/run").status_code == 403
    assert db.snapshot() == before and db.audit_count() == audited


def test_a_nurse_keeps_the_staff_list(client, users, db):
    nurse = client("nurse")
    made = expect(nurse.post("/api/staff-contacts", json={**STAFF, "user_id": users["nurse"].user_id}), 201)
    assert (made["patient_id"], made["on_call"], made["digest"], made["user_id"]) == (
        None, True, False, users["nurse"].user_id,
    )  # fmt: skip
    assert [c["name"] for c in expect(nurse.get("/api/staff-contacts"), 200)] == ["Ona Nurse"]
    changed = expect(nurse.put(f"/api/contacts/{made['id']}", json={**STAFF, "digest": True, "version": 1}), 200)
    assert (changed["on_call"], changed["digest"], changed["version"]) == (True, True, 2)
    assert nurse.post("/api/staff-contacts", json={**STAFF, "user_id": 2**31 - 1}).status_code == 404
    expect(nurse.post(f"/api/contacts/{made['id']}/remove", json={"version": 2}), 200)
    assert expect(nurse.get("/api/staff-contacts"), 200) == []


# ---------------------------------------------------------------------------------- the rules


@pytest.mark.parametrize(
    ("change", "where", "rule"),
    [
        ({"email": "not-an-address"}, ["body", "email"], "must be an email address"),
        ({"email": "rita@example.org\u0000"}, ["body", "email"], "must be an email address"),
        ({"email": None}, ["email"], "is needed to send by email"),
        ({"email": None, "channels": ["webhook"]}, ["phone"], "is needed to send by text message or push"),
        ({"phone": "12"}, ["body", "phone"], "at least 3 characters"),
        ({"phone": "call me"}, ["body", "phone"], "must be a phone number"),
        ({"channels": ["sms"]}, ["body", "channels", 0], "'email' or 'webhook'"),
        ({"language": "xx"}, ["body", "language"], "must be one of en"),
        ({"name": "   "}, ["body", "name"], "not only spaces"),
        ({"on_call": True}, ["body", "on_call"], "Extra inputs are not permitted"),
    ],
)
def test_a_bad_contact_is_422_naming_the_field_and_nothing_is_stored(client, child, db, change, where, rule):
    nurse = client("nurse")
    before, audited = db.snapshot(), db.audit_count()
    answer = nurse.post(f"/api/patients/{child.id}/contacts", json={**FAMILY, **change})
    assert answer.status_code == 422, answer.text
    assert where in locs(answer)
    assert any(rule in d["msg"] for d in answer.json()["detail"]), answer.text
    assert db.snapshot() == before and db.audit_count() == audited


def test_a_familys_contact_is_never_on_call(client, child, db):
    nurse = client("nurse")
    made = expect(nurse.post(f"/api/patients/{child.id}/contacts", json=FAMILY), 201)
    answer = nurse.put(f"/api/contacts/{made['id']}", json={**FAMILY, "on_call": True, "version": 1})
    assert answer.status_code == 422 and locs(answer) == [["on_call"]]
    assert "staff contacts only" in answer.json()["detail"][0]["msg"]
    assert db.get(m.Contact, made["id"]).version == 1


def test_a_stale_version_is_409_and_nothing_changes(client, child, db):
    nurse, carer = client("nurse"), client("caregiver")
    made = expect(carer.post(f"/api/patients/{child.id}/contacts", json=FAMILY), 201)
    expect(nurse.put(f"/api/contacts/{made['id']}", json={**FAMILY, "name": "Rita Berg", "version": 1}), 200)
    audited = db.audit_count()
    stale = carer.put(f"/api/contacts/{made['id']}", json={**FAMILY, "name": "Rita B.", "version": 1})
    assert stale.status_code == 409 and "version 2, not 1" in stale.json()["detail"]
    assert carer.post(f"/api/contacts/{made['id']}/remove", json={"version": 1}).status_code == 409
    kept = db.get(m.Contact, made["id"])
    assert (kept.name, kept.version, kept.removed_at) == ("Rita Berg", 2, None)
    assert db.audit_count() == audited


# ---------------------------------------------------------------------------------- the outbox


@pytest.fixture
def due(clinic, users, child):
    """Two of the child's contacts, each with a refill reminder due now (nothing queued yet)."""
    for name, email in (("Rita B", "rita@example.org"), ("Jon B", "jon@example.org")):
        clinic.add_contact(users["nurse"], child.id, name=name, email=email)
    return clinic.book(users["nurse"], child.id, kind="refill", at=VISIT_AT)


def test_a_dry_run_stores_nothing_and_a_pass_records_what_became_of_each(client, clinic, child, due, db, monkeypatch):
    admin = client("admin")
    before = db.count(m.OutboxMessage)
    dry = expect(admin.post("/api/notifications/run", params={"dry_run": "true"}), 200)
    assert dry["dry_run"] is True and dry["counts"]["queued"] == 2 and dry["counts"]["sent"] == 2  # would be sent
    assert {q["address"] for q in dry["queued"]} == {"rita@example.org", "jon@example.org"}
    assert db.count(m.OutboxMessage) == before == 0

    channel = Recorder(fail="550 mailbox unavailable")
    monkeypatch.setattr(clinic, "senders", lambda: {"email": channel})
    ran = expect(admin.post("/api/notifications/run"), 200)
    assert ran["dry_run"] is False and ran["counts"]["queued"] == 2 and ran["counts"]["failed"] == 2
    assert {f["error"] for f in ran["failed"]} == {"550 mailbox unavailable"}
    assert db.count(m.OutboxMessage) == 2
    assert client("nurse").post("/api/notifications/run").status_code == 403
    assert db.count(m.OutboxMessage) == 2

    monkeypatch.setattr(clinic, "senders", lambda: {"email": Recorder()})  # the channel repaired
    assert expect(admin.post("/api/notifications/run"), 200)["counts"]["sent"] == 0  # each waits for its retry
    again = expect(admin.post("/api/notifications/run", params={"retry_now": "true"}), 200)
    assert again["counts"]["sent"] == 2 and db.count(m.OutboxMessage, m.OutboxMessage.status == "sent") == 2


def test_the_outbox_lists_the_messages_newest_first_with_their_errors(client, clinic, users, child, due):
    clinic.notify_run(users["admin"], senders={"email": Recorder(fail="connection refused")})
    nurse = client("nurse")
    page = expect(nurse.get("/api/notifications"), 200)
    ids = [r["id"] for r in page["rows"]]
    assert ids == sorted(ids, reverse=True) and len(ids) == 2
    first = page["rows"][0]
    assert (first["patient_name"], first["contact_name"], first["rule"], first["channel"]) == (
        child.name, "Jon B", "visit_reminder", "email",
    )  # fmt: skip
    assert (first["status"], first["attempts"], first["last_error"]) == ("pending", 1, "connection refused")
    assert first["subject"].startswith("Reminder:") and first["sent_at"] is None
    assert page["counts"] == {"pending": 2, "sending": 0, "sent": 0, "failed": 0, "suppressed": 0}
    assert page["next_before_id"] is None

    one = expect(nurse.get("/api/notifications", params={"limit": 1}), 200)
    assert [r["id"] for r in one["rows"]] == ids[:1] and one["next_before_id"] == ids[0]
    older = expect(nurse.get("/api/notifications", params={"limit": 1, "before_id": ids[0]}), 200)
    assert [r["id"] for r in older["rows"]] == ids[1:] and older["next_before_id"] is None
    assert len(expect(nurse.get("/api/notifications", params={"status": "problems"}), 200)["rows"]) == 2
    assert expect(nurse.get("/api/notifications", params={"status": "sent"}), 200)["rows"] == []

    clinic.notify_run(users["admin"], senders={"email": Recorder()})  # not yet: each waits for its retry
    assert expect(nurse.get("/api/notifications", params={"status": "sent"}), 200)["rows"] == []
    bad = nurse.get("/api/notifications", params={"status": "lost"})
    assert bad.status_code == 422 and ["query", "status"] in locs(bad)
    assert nurse.get("/api/notifications", params={"limit": 0}).status_code == 422


def test_a_message_that_goes_is_listed_sent(client, clinic, users, child, due, db):
    channel = Recorder()
    clinic.notify_run(users["admin"], senders={"email": channel})
    assert sorted(o.address for o in channel.sent) == ["jon@example.org", "rita@example.org"]
    page = expect(client("clinician").get("/api/notifications", params={"status": "sent"}), 200)
    assert {r["status"] for r in page["rows"]} == {"sent"} and all(r["sent_at"] for r in page["rows"])
    assert page["counts"]["sent"] == 2
