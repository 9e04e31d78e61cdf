"""The contacts' pages and the outbox's, without a browser (both databases): a family keeps its
child's contacts from the family page, the staff keep theirs, every form error names its field
and rule and keeps what was typed, a contact changed meanwhile is not overwritten, the outbox
shows what could not be sent (and the worklist says so), an admin's dry run stores nothing."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from test_notify_api import VISIT_AT, Recorder
from test_pages_security import browser, csrf_of
from test_task_pages import post, text_of

from itb.adapters.db import models as m

RITA = {"name": "Rita B", "relation": "mother", "email": "rita@example.org", "channels": ["email"], "language": "en"}


def contacts_of(db: Any, patient_id: int | None) -> list[m.Contact]:
    where = m.Contact.patient_id.is_(None) if patient_id is None else m.Contact.patient_id == patient_id
    return db.all(m.Contact, where, m.Contact.removed_at.is_(None))


@pytest.fixture
def failed(clinic, users, child):
    """A reminder to the child's mother that could not be sent (the channel refused it)."""
    clinic.add_contact(users["nurse"], child.id, name="Rita B", email="rita@example.org")
    clinic.book(users["nurse"], child.id, kind="refill", at=VISIT_AT)
    report = clinic.notify_run(users["admin"], senders={"email": Recorder(fail="550 mailbox unavailable")})
    assert report.counts()["failed"] == 1
    return report


# ---------------------------------------------------------------------------------- a family's contacts


def test_a_caregiver_keeps_their_childs_contacts_from_the_family_page(app, passwords, child, db):
    carer = browser(app, "caregiver", passwords)
    path = f"/patients/{child.id}/contacts"
    assert f'href="{path}"' in carer.get("/family").text
    page = carer.get(path)
    assert page.status_code == 200 and "Who gets reminders" in page.text and "Nobody gets reminders yet" in page.text

    added = post(carer, path, {"action": "add", **RITA})
    assert added.status_code == 303 and added.headers["location"] == f"{path}?done=add"
    (rita,) = contacts_of(db, child.id)
    assert (rita.name, rita.relation, rita.email, rita.channels, rita.updated_by) == (
        "Rita B", "mother", "rita@example.org", ["email"], "caregiver",
    )  # fmt: skip
    assert "The contact is added." in carer.get(added.headers["location"]).text

    edit = {**RITA, "action": "save", "contact_id": rita.id, "version": rita.version, "phone": "+1 555 0100",
            "channels": ["email", "webhook"], "opted_out": "1"}  # fmt: skip
    assert post(carer, path, edit).status_code == 303
    saved = db.get(m.Contact, rita.id)
    assert (saved.phone, saved.channels, saved.opted_out, saved.version) == (
        "+1 555 0100",
        ["email", "webhook"],
        True,
        2,
    )

    removed = post(carer, path, {"action": "remove", "contact_id": rita.id, "version": 2})
    assert removed.status_code == 303 and contacts_of(db, child.id) == []
    assert db.get(m.Contact, rita.id).removed_at is not None


def test_a_caregiver_finds_no_other_childs_contacts_nor_the_staffs(
    app, clinic, users, passwords, child, other_child, db
):
    theirs = clinic.add_contact(users["nurse"], other_child.id, name="Zoe's father", email="zf@example.org")
    carer = browser(app, "caregiver", passwords)
    token = csrf_of(carer.get("/family").text)
    before = db.snapshot()
    assert carer.get(f"/patients/{other_child.id}/contacts").status_code == 404
    for path in ("/contacts", "/notifications"):
        assert carer.get(path).status_code == 404, path
    their_form = {"csrf": token, "action": "remove", "contact_id": theirs.id, "version": 1}
    assert carer.post(f"/patients/{other_child.id}/contacts", data=their_form).status_code == 404
    mine = carer.post(f"/patients/{child.id}/contacts", data=their_form)  # their contact, through my child's page
    assert mine.status_code == 409 and "no longer on this list" in text_of(mine.text)
    assert carer.post("/notifications/run", data={"csrf": token, "dry_run": "1"}).status_code == 404
    assert db.snapshot() == before and db.get(m.Contact, theirs.id).removed_at is None


@pytest.mark.parametrize(
    ("typed", "shown"),
    [
        ({"email": "rita(at)example.org"}, "Email address: must be an email address"),
        ({"email": "rita@example.org\u0000"}, "Email address: must not contain control characters"),
        ({"email": ""}, "Email address: is needed to send by email"),
        ({"email": "", "channels": ["webhook"]}, "Phone: is needed to send by text message or push"),
        ({"phone": "call me"}, "Phone: may hold only digits, spaces and + - ( ) . ,"),
        ({"channels": ["pigeon"]}, "Send by: must be among email, webhook, got pigeon"),
        ({"language": "tlh"}, "Language: must be one of en"),
        ({"name": " "}, "Name: is required"),
    ],
)
def test_a_form_error_names_the_field_and_the_rule_and_keeps_what_was_typed(app, passwords, child, db, typed, shown):
    nurse = browser(app, "nurse", passwords)
    path = f"/patients/{child.id}/contacts"
    answer = post(nurse, path, {"action": "add", **RITA, "relation": "grand-mother", **typed})
    assert answer.status_code == 422, answer.text
    page = text_of(answer.text)
    assert "Not saved: please check" in page and shown in page
    assert 'value="grand-mother"' in answer.text  # what was typed is kept
    assert 'aria-invalid="true"' in answer.text
    assert contacts_of(db, child.id) == []


def test_a_contact_changed_meanwhile_is_not_overwritten(app, clinic, users, passwords, child, db):
    rita = clinic.add_contact(users["caregiver"], child.id, name="Rita B", email="rita@example.org")
    nurse = browser(app, "nurse", passwords)
    path = f"/patients/{child.id}/contacts"
    form = nurse.get(path).text
    clinic.update_contact(users["caregiver"], rita.id, expected_version=1, name="Rita Berg", email="rita@example.org")
    stale = post(nurse, path, {**RITA, "action": "save", "contact_id": rita.id, "version": 1, "name": "Rita B."}, form)
    assert stale.status_code == 409
    page = text_of(stale.text)
    assert "changed by someone else meanwhile" in page and "Reload the page" in page
    assert 'value="Rita B."' in stale.text  # the change typed, to make again after a reload
    assert 'name="version" value="1"' in stale.text  # on the version it was typed on: never saved over the other
    assert (
        post(nurse, path, {**RITA, "action": "save", "contact_id": rita.id, "version": 1}, stale.text).status_code
        == 409
    )
    assert db.get(m.Contact, rita.id).name == "Rita Berg"
    gone = post(nurse, path, {"action": "remove", "contact_id": rita.id, "version": 1}, form)
    assert gone.status_code == 409 and db.get(m.Contact, rita.id).removed_at is None


# ---------------------------------------------------------------------------------- the staff's list


def test_a_nurse_keeps_the_staff_on_call_list(app, passwords, child, db):
    nurse = browser(app, "nurse", passwords)
    page = nurse.get("/contacts").text
    assert 'name="on_call"' in page and 'name="digest"' in page
    added = post(nurse, "/contacts", {"action": "add", "name": "Ona Nurse", "email": "ona@example.org",
                                      "channels": ["email"], "language": "en", "on_call": "1"})  # fmt: skip
    assert added.status_code == 303 and added.headers["location"] == "/contacts?done=add"
    (ona,) = contacts_of(db, None)
    assert (ona.on_call, ona.digest, ona.patient_id) == (True, False, None)
    saved = post(nurse, "/contacts", {"action": "save", "contact_id": ona.id, "version": 1, "name": "Ona Nurse",
                                      "email": "ona@example.org", "channels": ["email"], "language": "en",
                                      "digest": "1"})  # fmt: skip
    assert saved.status_code == 303
    assert (db.get(m.Contact, ona.id).on_call, db.get(m.Contact, ona.id).digest) == (False, True)
    assert 'name="on_call"' not in nurse.get(f"/patients/{child.id}/contacts").text  # a family's: never on call
    assert post(nurse, "/contacts", {"action": "remove", "contact_id": ona.id, "version": 2}).status_code == 303
    assert contacts_of(db, None) == []


# ---------------------------------------------------------------------------------- the outbox


def test_the_worklist_says_when_messages_could_not_be_sent(app, clinic, users, passwords, child):
    nurse = browser(app, "nurse", passwords)
    assert "could not be sent" not in nurse.get("/worklist").text
    clinic.add_contact(users["nurse"], child.id, name="Rita B", email="rita@example.org")
    clinic.book(users["nurse"], child.id, kind="refill", at=VISIT_AT)
    clinic.notify_run(users["admin"], senders={"email": Recorder(fail="550 mailbox unavailable")})
    page = nurse.get("/worklist").text
    assert "1 message could not be sent" in text_of(page) and 'href="/notifications"' in page


def test_the_outbox_shows_the_failures_first_with_their_error(app, passwords, child, failed):
    nurse = browser(app, "nurse", passwords)
    answer = nurse.get("/notifications")
    assert answer.status_code == 200
    page = text_of(answer.text)
    assert "1 message could not be sent" in page and "550 mailbox unavailable" in page
    assert answer.text.index('id="problems-title"') < answer.text.index('aria-label="Messages"'), "failures first"
    assert "waiting to be sent (1)" in page and "sent (0)" in page
    assert "Send due messages now" not in page  # an admin's
    assert "550 mailbox unavailable" in text_of(nurse.get("/notifications?status=problems").text)
    assert "No message sent." in text_of(nurse.get("/notifications?status=sent").text)
    assert nurse.get("/notifications?status=lost").status_code == 422
    token = csrf_of(answer.text)
    assert nurse.post("/notifications/run", data={"csrf": token, "dry_run": "1"}).status_code == 403


def test_an_admins_dry_run_stores_nothing_and_a_pass_sends(app, clinic, users, passwords, child, db, monkeypatch):
    clinic.add_contact(users["nurse"], child.id, name="Rita B", email="rita@example.org")
    clinic.book(users["nurse"], child.id, kind="refill", at=VISIT_AT)
    admin = browser(app, "admin", passwords)
    page = admin.get("/notifications").text
    assert "Send due messages now" in page and "Dry run" in page
    before = db.count(m.OutboxMessage)
    dry = post(admin, "/notifications/run", {"dry_run": "1"}, page)
    assert dry.status_code == 200
    assert "what a pass would do now" in text_of(dry.text) and "rita@example.org" in dry.text
    assert db.count(m.OutboxMessage) == before == 0
    channel = Recorder()
    monkeypatch.setattr(clinic, "senders", lambda: {"email": channel})
    sent = post(admin, "/notifications/run", {"dry_run": "0"}, page)
    assert sent.status_code == 200 and "Pass at" in text_of(sent.text)
    assert [o.address for o in channel.sent] == ["rita@example.org"]
    assert db.count(m.OutboxMessage, m.OutboxMessage.status == "sent") == 1
    assert admin.post("/notifications/run", data={"csrf": "forged", "dry_run": "0"}).status_code == 403


def test_the_patients_page_lists_the_messages_about_them(app, clinic, users, passwords, child, clock):
    clinic.add_contact(users["nurse"], child.id, name="Rita B", email="rita@example.org")
    clinic.add_contact(users["nurse"], None, name="Dr On Call", email="oncall@example.org", on_call=True)
    clinic.book(users["nurse"], child.id, kind="refill", at=VISIT_AT)
    clinic.notify_run(users["admin"], senders={"email": Recorder()})  # the reminder two days before
    clock.set(datetime(2026, 11, 25, 12, 30))  # the refill missed: the family and the staff on call are told
    clinic.notify_run(users["admin"], senders={"email": Recorder(fail="421 try later")})
    path = f"/patients/{child.id}/contacts"
    staff = text_of(browser(app, "nurse", passwords).get(path).text)
    assert "oncall@example.org" in staff and "421 try later" in staff
    assert staff.index("missed refill") < staff.index("visit reminder"), "the newest first"
    carer = text_of(browser(app, "caregiver", passwords).get(path).text)
    assert "rita@example.org" in carer and "visit reminder" in carer and "missed refill" in carer
    assert "oncall@example.org" not in carer and "421 try later" not in carer  # the staff's, and the channel's


def test_the_chart_links_to_who_gets_reminders(app, passwords, child):
    page = browser(app, "clinician", passwords).get(f"/patients/{child.id}").text
    assert f'href="/patients/{child.id}/contacts"' in page
