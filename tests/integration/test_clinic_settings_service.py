"""The clinic's settings (issue 13): stored in the database, audited, used by every process, on
SQLite and PostgreSQL; through the use case, the API, the ``/settings`` page, the CLI, and the
family page's numbers wherever it says to call the clinic."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from test_pages_security import browser, csrf_of
from test_task_pages import text_of
from typer.testing import CliRunner

from itb.adapters.db import models as m
from itb.bootstrap import clinic_on
from itb.clinic.services import SYSTEM, ClinicConfig, Conflict, Forbidden
from itb.clinic.usecases import settings_cache
from itb.domain.errors import InvalidInput
from itb.domain.scheduling import ClinicCalendar
from itb.web.family import FAQ

NUMBERS = {"name": "Demo Pump Clinic", "day_phone": "+1 555 0100", "after_hours_phone": "+1 555 0199"}
EVERY_DEFAULT = {
    "name": None, "day_phone": None, "after_hours_phone": None, "clinic_days": None, "closed_days": None,
    "refill_margin_days": None, "stale_margin_days": None,
    "smtp_url": None, "smtp_user": None, "notify_from": None, "webhook_url": None,
}  # fmt: skip


def settings_body(version: int, **fields: Any) -> dict[str, Any]:
    return {**EVERY_DEFAULT, **fields, "version": version}


# ---------------------------------------------------------------------------------- the use case


def test_an_admin_changes_the_settings_audited_with_before_and_after(clinic, users, db, clock):
    assert clinic.clinic_settings(users["admin"]).version == 0
    first = clinic.update_clinic_settings(users["admin"], **NUMBERS, clinic_days=["mon", "wed"], expected_version=0)
    assert (first.version, first.clinic_days, first.updated_by) == (1, ["mon", "wed"], "admin")
    second = clinic.update_clinic_settings(
        users["admin"], **NUMBERS, closed_days=["2026-12-24"], refill_margin_days=10, expected_version=1
    )
    assert second.version == 2 and second.defaults == ("clinic_days", "stale_margin_days")
    (row,) = db.all(m.ClinicSettings)
    assert (row.day_phone, row.clinic_days, row.closed_days, row.refill_margin_days) == (
        "+1 555 0100", None, ["2026-12-24"], 10
    )  # fmt: skip
    created, changed = [e for e in db.audit() if e.entity == "clinic_settings"]
    assert (created.action, created.actor, created.before) == ("update_clinic_settings", "admin", None)
    assert created.after["clinic_days"] == "mon,wed" and created.after["version"] == 1
    assert changed.before["clinic_days"] == "mon,wed" and changed.after["clinic_days"] is None
    assert changed.after["refill_margin_days"] == 10


def test_a_stale_version_is_a_conflict_and_nothing_is_stored(clinic, users, db):
    clinic.update_clinic_settings(users["admin"], **NUMBERS, expected_version=0)
    before, audited = db.snapshot(), db.audit_count()
    for stale in (0, 2):
        with pytest.raises(Conflict, match="read them again"):
            clinic.update_clinic_settings(users["admin"], name="Other", expected_version=stale)
    assert db.snapshot() == before and db.audit_count() == audited
    assert db.get(m.ClinicSettings, 1).name == "Demo Pump Clinic"


def test_an_invalid_setting_stores_nothing_and_names_each_field(clinic, users, db):
    before, audited = db.snapshot(), db.audit_count()
    with pytest.raises(InvalidInput) as refused:
        clinic.update_clinic_settings(
            users["admin"], day_phone="call us", clinic_days=[], refill_margin_days=45, expected_version=0
        )
    assert {v.field for v in refused.value.violations} == {"day_phone", "clinic_days", "refill_margin_days"}
    assert db.snapshot() == before and db.audit_count() == audited


def test_only_an_admin_changes_the_settings(clinic, users, db):
    for role in ("clinician", "nurse", "caregiver"):
        with pytest.raises(Forbidden):
            clinic.update_clinic_settings(users[role], **NUMBERS, expected_version=0)
    assert db.count(m.ClinicSettings) == 0


def test_a_caregiver_reads_the_clinic_s_numbers_but_not_its_settings(clinic, users):
    clinic.update_clinic_settings(users["admin"], **NUMBERS, expected_version=0)
    assert clinic.clinic_contacts(users["caregiver"]).day_phone == "+1 555 0100"
    with pytest.raises(Forbidden):
        clinic.clinic_settings(users["caregiver"])
    assert clinic.clinic_settings(users["nurse"]).contacts.after_hours_phone == "+1 555 0199"


def test_the_startup_calendar_holds_until_a_setting_replaces_it(engine, clock, tmp_path, users):
    startup = ClinicCalendar(weekdays={0, 1, 2, 3}, closures={date(2026, 12, 25)})
    clinic = clinic_on(engine, clinic_config(tmp_path, startup), clock=clock)
    view = clinic.clinic_settings(users["admin"])
    assert (view.clinic_days, view.closed_days) == (["mon", "tue", "wed", "thu"], [date(2026, 12, 25)])
    clinic.update_clinic_settings(users["admin"], clinic_days=["fri"], expected_version=0)
    assert clinic.config.calendar == ClinicCalendar(weekdays={4}, closures={date(2026, 12, 25)})
    clinic.update_clinic_settings(users["admin"], expected_version=1)  # every setting back to the startup's
    assert clinic.config.calendar == startup


def clinic_config(tmp_path: Path, calendar: ClinicCalendar) -> ClinicConfig:
    return ClinicConfig(data_dir=tmp_path / "data", calendar=calendar)


# ---------------------------------------------------------------------------------- every process uses them


def test_a_booking_after_changing_the_clinic_days_uses_the_new_days(clinic, users, child, clock):
    nurse, monday = users["nurse"], clock()
    clinic.book(nurse, child.id, kind="titration", at=monday + timedelta(days=7))  # a Monday: open by default
    clinic.update_clinic_settings(users["admin"], clinic_days=["tue", "thu"], expected_version=0)
    with pytest.raises(InvalidInput, match="is not a clinic day"):
        clinic.book(nurse, child.id, kind="titration", at=monday + timedelta(days=14))
    booked = clinic.book(nurse, child.id, kind="titration", at=monday + timedelta(days=15))
    assert booked.at.weekday() == 1


def test_the_refill_booked_after_a_refill_uses_the_new_days_and_margin(clinic, users, pump, clock, db):
    clinic.update_clinic_settings(users["admin"], clinic_days=["wed"], refill_margin_days=10, expected_version=0)
    clock.advance(days=10, hours=1)
    expected = 20 - 0.2 * (10 + 1 / 24)
    clinic.refill(
        users["nurse"], pump.id, withdrawn_ml=round(expected, 3), added_ml=20, concentration_mcg_per_ml=500,
        expected_version=db.get(m.Pump, pump.id).version,
    )  # fmt: skip
    booked = [a for a in db.all(m.Appointment) if a.kind == "refill" and a.status == "booked"]
    assert [a.at.weekday() for a in booked] == [2]
    assert booked[0].notes.startswith("booked 10 days before the earliest plausible low-reservoir alarm")


def test_a_second_clinic_on_the_same_database_sees_the_change(clinic, users, engine, clock, tmp_path, monkeypatch):
    """Another server process: its own Clinic on the same database reads the row again once its
    copy is more than a second old (``time.monotonic``)."""
    other = clinic_on(engine, clinic_config(tmp_path, ClinicCalendar()), clock=clock)
    assert other.config.calendar.weekdays == frozenset({0, 1, 2, 3, 4})
    assert other.clinic_contacts(users["caregiver"]).day_phone is None
    clinic.update_clinic_settings(users["admin"], **NUMBERS, clinic_days=["sat"], expected_version=0)
    assert clinic.config.calendar.weekdays == frozenset({5})  # this process: at once
    assert other.config.calendar.weekdays == frozenset({0, 1, 2, 3, 4})  # the other's copy is not a second old
    later = settings_cache.time.monotonic() + settings_cache.SETTINGS_MAX_AGE_SECONDS + 0.01
    monkeypatch.setattr(settings_cache.time, "monotonic", lambda: later)
    assert other.config.calendar.weekdays == frozenset({5})
    assert other.clinic_contacts(users["caregiver"]).day_phone == "+1 555 0100"
    with pytest.raises(Conflict):  # the other process's admin read version 0 too
        other.update_clinic_settings(users["admin"], name="Lost update", expected_version=0)


def test_a_use_case_sees_one_set_of_settings_throughout_its_transaction(clinic, users, monkeypatch):
    clinic.update_clinic_settings(users["admin"], clinic_days=["mon"], expected_version=0)
    reads = []
    real_read = clinic.settings_cache.read
    monkeypatch.setattr(clinic.settings_cache, "max_age_seconds", 0.0)
    monkeypatch.setattr(clinic.settings_cache, "read", lambda: reads.append(1) or real_read())
    with clinic.transaction():
        assert clinic.config.calendar.weekdays == frozenset({0})
        assert clinic.config.calendar.weekdays == frozenset({0})
    assert reads == [1]  # read once, before the transaction's session; never inside it


# ---------------------------------------------------------------------------------- the API


def test_the_api_reads_and_changes_the_settings(client, db):
    admin = client("admin")
    answer = admin.get("/api/clinic/settings")
    assert answer.status_code == 200
    assert answer.json()["version"] == 0 and answer.json()["clinic_days"] == ["mon", "tue", "wed", "thu", "fri"]
    put = admin.put(
        "/api/clinic/settings",
        json=settings_body(0, **NUMBERS, clinic_days=["mon", "thu"], closed_days=["2026-12-24"], stale_margin_days=21),
    )
    assert put.status_code == 200, put.text
    body = put.json()
    assert (body["version"], body["clinic_days"], body["closed_days"]) == (1, ["mon", "thu"], ["2026-12-24"])
    assert (body["refill_margin_days"], body["stale_margin_days"], body["defaults"]) == (7, 21, ["refill_margin_days"])
    assert client("nurse").get("/api/clinic/settings").json()["day_phone"] == "+1 555 0100"
    assert client("caregiver").get("/api/clinic/contacts").json() == NUMBERS
    assert db.get(m.ClinicSettings, 1).updated_by == "admin"


def test_the_api_answers_409_for_a_stale_version(client, db):
    admin = client("admin")
    assert admin.put("/api/clinic/settings", json=settings_body(0, **NUMBERS)).status_code == 200
    audited = db.audit_count()
    stale = admin.put("/api/clinic/settings", json=settings_body(0, name="Other"))
    assert stale.status_code == 409 and "read them again" in stale.json()["detail"]
    assert db.audit_count() == audited


def test_the_api_answers_422_naming_each_field(client, db):
    answer = client("admin").put(
        "/api/clinic/settings",
        json=settings_body(0, after_hours_phone="1-2", closed_days=["24/12/2026"], refill_margin_days=0),
    )
    assert answer.status_code == 422
    assert sorted(d["loc"] for d in answer.json()["detail"]) == [
        ["after_hours_phone"], ["closed_days"], ["refill_margin_days"]
    ]  # fmt: skip
    missing = client("admin").put("/api/clinic/settings", json={"version": 0})  # every field, null for the default
    assert missing.status_code == 422
    assert db.count(m.ClinicSettings) == 0


def test_the_api_refuses_a_nurse_or_a_caregiver_403(client, db):
    for role in ("clinician", "nurse", "caregiver"):
        assert client(role).put("/api/clinic/settings", json=settings_body(0, **NUMBERS)).status_code == 403, role
    assert client("caregiver").get("/api/clinic/settings").status_code == 403
    assert db.count(m.ClinicSettings) == 0


def test_the_api_documents_the_error_statuses(anonymous):
    spec = anonymous.get("/openapi.json").json()
    assert set(spec["paths"]["/api/clinic/settings"]["put"]["responses"]) >= {"200", "401", "403", "409", "422"}
    assert set(spec["paths"]["/api/clinic/settings"]["get"]["responses"]) >= {"200", "401", "403"}


# ---------------------------------------------------------------------------------- the page


def test_the_settings_page_saves_the_settings_with_csrf(app, users, passwords, db):
    admin = browser(app, "admin", passwords)
    assert 'href="/settings"' in admin.get("/worklist").text
    page = admin.get("/settings")
    assert page.status_code == 200
    assert 'pattern="\\d{4}-\\d{2}-\\d{2}" placeholder="YYYY-MM-DD"' in page.text and 'type="date"' not in page.text
    form = {
        "csrf": csrf_of(page.text), "version": "0", **NUMBERS, "clinic_days": ["mon", "wed"],
        "closed_days": ["2026-12-24", "", "2026-12-31"], "refill_margin_days": "9", "stale_margin_days": "",
    }  # fmt: skip
    saved = admin.post("/settings", data=form, follow_redirects=False)
    assert saved.status_code == 303 and saved.headers["location"] == "/settings?saved=1"
    row = db.get(m.ClinicSettings, 1)
    assert (row.clinic_days, row.closed_days, row.refill_margin_days, row.stale_margin_days) == (
        "mon,wed", ["2026-12-24", "2026-12-31"], 9, None
    )  # fmt: skip
    again = admin.get("/settings?saved=1").text
    assert "Saved." in again and 'value="+1 555 0100"' in again and 'value="2026-12-31"' in again


def test_the_settings_page_shows_each_error_under_its_field(app, users, passwords, db):
    admin = browser(app, "admin", passwords)
    page = admin.get("/settings").text
    form = {
        "csrf": csrf_of(page), "version": "0", "name": "Clinic", "day_phone": "phone", "after_hours_phone": "",
        "closed_days": ["2026-13-01"], "refill_margin_days": "ten", "stale_margin_days": "120",
    }  # fmt: skip
    answer = admin.post("/settings", data=form)
    assert answer.status_code == 422
    for field in ("day_phone", "clinic_days", "closed_days", "refill_margin_days", "stale_margin_days"):
        assert f'id="{field}-error"' in answer.text, field
    said = text_of(answer.text)
    assert "must be a whole number of days, got 'ten'" in said and "must have at least one weekday" in said
    assert 'value="Clinic"' in answer.text  # what was typed stays in the form
    assert db.count(m.ClinicSettings) == 0


def test_the_settings_page_shows_the_settings_as_they_are_after_a_conflict(app, clinic, users, passwords, db):
    admin = browser(app, "admin", passwords)
    page = admin.get("/settings").text
    clinic.update_clinic_settings(users["admin"], name="Changed meanwhile", expected_version=0)
    form = {"csrf": csrf_of(page), "version": "0", "name": "Mine", "clinic_days": ["mon"]}
    answer = admin.post("/settings", data=form)
    assert answer.status_code == 409 and "make your change again" in answer.text
    assert 'value="Changed meanwhile"' in answer.text and 'name="version" value="1"' in answer.text
    assert db.get(m.ClinicSettings, 1).name == "Changed meanwhile"


def test_the_settings_page_refuses_other_staff_and_caregivers(app, users, passwords, db):
    for role in ("clinician", "nurse"):
        other = browser(app, role, passwords)
        assert 'href="/settings"' not in other.get("/worklist").text
        assert other.get("/settings").status_code == 403, role
        token = csrf_of(other.get("/worklist").text)
        assert other.post("/settings", data={"csrf": token, "version": "0", "name": "x"}).status_code == 403
    assert browser(app, "caregiver", passwords).get("/settings").status_code == 404
    admin = browser(app, "admin", passwords)
    forged = admin.post("/settings", data={"csrf": "0" * 32, "version": "0", "name": "x", "clinic_days": ["mon"]})
    assert forged.status_code == 403
    assert db.count(m.ClinicSettings) == 0


# ---------------------------------------------------------------------------------- the family page


def test_the_family_page_shows_the_numbers_where_it_says_call_the_clinic(app, clinic, users, passwords, child):
    family = browser(app, "caregiver", passwords)
    before = family.get("/family").text
    assert "tel:" not in before and "call the clinic" in before.lower()
    clinic.update_clinic_settings(users["admin"], **NUMBERS, expected_version=0)
    page = family.get("/family").text
    box = page[: page.index("<h1>")]
    assert "Demo Pump Clinic" in box and 'href="tel:+15550100"' in box and 'href="tel:+15550199"' in box
    said = text_of(page)  # a link's tags are spaces here
    for question in FAQ:  # "When should I call the clinic, ...?" asks, it does not tell to call
        said = said.replace(question.question, "")
    calls = re.findall(r"[Cc]all the clinic(?!['\w])", said)
    with_numbers = re.findall(r"[Cc]all the clinic \(day: \+1 555 0100 ; after hours: \+1 555 0199 \)", said)
    assert len(calls) >= 10 and len(with_numbers) == len(calls)


def test_the_clinic_s_name_is_escaped_on_the_family_page(app, clinic, users, passwords, child):
    clinic.update_clinic_settings(users["admin"], name="<script>alert(1)</script>", expected_version=0)
    page = browser(app, "caregiver", passwords).get("/family").text
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


# ---------------------------------------------------------------------------------- the CLI


@pytest.fixture
def itb(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """``itb ARGS`` in this process, on the test's database (``$ITB_DATABASE_URL``)."""
    from itb.cli import app

    monkeypatch.setenv("ITB_DATABASE_URL", db_url)
    monkeypatch.setenv("ITB_HOME", str(tmp_path / "home"))
    runner = CliRunner()
    return lambda *args: runner.invoke(app, list(args))


def test_the_cli_shows_and_sets_the_settings(itb, engine, db):
    shown = itb("clinic", "settings")
    assert shown.exit_code == 0, shown.output
    assert "clinic days: mon,tue,wed,thu,fri (startup default)" in shown.output
    done = itb(
        "clinic", "settings", "set", "--day-phone", "+1 555 0100", "--after-hours-phone", "+1 555 0199",
        "--name", "Demo Pump Clinic", "--clinic-days", "mon,tue", "--closed-days", "2026-12-24,2026-12-25",
        "--refill-margin-days", "8",
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    assert "clinic days: mon,tue\n" in done.output and "refill margin: 8 days\n" in done.output
    partial = itb("clinic", "settings", "set", "--refill-margin-days", "default", "--json")
    answer = orjson.loads(partial.stdout)
    assert (answer["version"], answer["refill_margin_days"], answer["day_phone"]) == (2, 7, "+1 555 0100")
    assert answer["closed_days"] == ["2026-12-24", "2026-12-25"] and answer["updated_by"] == "system"
    assert orjson.loads(itb("clinic", "settings", "--json").stdout) == answer
    assert db.get(m.ClinicSettings, 1).refill_margin_days is None


def test_the_cli_refuses_a_bad_setting_naming_it_exit_2(itb, engine, db):
    bad = itb("clinic", "settings", "set", "--day-phone", "x", "--stale-margin-days", "soon")
    assert bad.exit_code == 2
    assert "stale_margin_days: must be a whole number of days or 'default', got 'soon'" in bad.output
    worse = itb("clinic", "settings", "set", "--clinic-days", "mon,funday")
    assert worse.exit_code == 2 and "clinic_days: 'funday' is not a weekday" in worse.output
    assert db.count(m.ClinicSettings) == 0


def test_the_demo_clinic_has_fictional_numbers(engine, clock, tmp_path):
    from itb.simulation.demo_clinic import DEMO_CONTACTS, fill_demo_clinic

    clinic = clinic_on(engine, clinic_config(tmp_path, ClinicCalendar()), clock=clock)
    fill_demo_clinic(clinic, patients=5, today=datetime(2026, 11, 23, 9, 0))
    contacts = clinic.clinic_contacts(SYSTEM)
    assert contacts == DEMO_CONTACTS
    assert "555 01" in contacts.day_phone and "fictional" in contacts.name


# ---------------------------------------------------------------------------------- where messages go out

OUTBOUND = {
    "smtp_url": "smtp+starttls://itb@mail.example.org:587",
    "smtp_user": "itb@example.org",
    "notify_from": "Demo Pump Clinic <itb@example.org>",
    "webhook_url": "https://gateway.example.org/itb?clinic=demo",
}
PASSWORD_IN_URL = "smtp://itb:hunter2@mail.example.org:587"
PASSWORD_RULE = "keep the password in ITB_SMTP_PASSWORD, not in the stored settings"


def test_an_admin_sets_where_messages_go_out_stored_audited_and_read_by_every_process(
    clinic, users, db, engine, clock, tmp_path
):
    view = clinic.update_clinic_settings(users["admin"], **NUMBERS, **OUTBOUND, expected_version=0)
    assert {field: getattr(view, field) for field in OUTBOUND} == OUTBOUND
    row = db.get(m.ClinicSettings, 1)
    assert {field: getattr(row, field) for field in OUTBOUND} == OUTBOUND
    (audited,) = [e for e in db.audit() if e.entity == "clinic_settings"]
    assert {field: audited.after[field] for field in OUTBOUND} == OUTBOUND
    other = clinic_on(engine, clinic_config(tmp_path, ClinicCalendar()), clock=clock)  # another server process
    stored = other.clinic_settings(users["nurse"]).stored
    assert (stored.smtp_url, stored.smtp_user, stored.notify_from, stored.webhook_url) == tuple(OUTBOUND.values())
    assert other.settings_cache.read() == stored and stored.contacts.day_phone == "+1 555 0100"


def test_where_messages_go_out_left_blank_gives_it_back_to_the_environment(clinic, users, db):
    clinic.update_clinic_settings(users["admin"], **OUTBOUND, expected_version=0)
    blank = dict.fromkeys(OUTBOUND, " ")
    view = clinic.update_clinic_settings(users["admin"], **blank, refill_margin_days=9, expected_version=1)
    assert (view.smtp_url, view.smtp_user, view.notify_from, view.webhook_url) == (None, None, None, None)
    row = db.get(m.ClinicSettings, 1)
    assert (row.smtp_url, row.smtp_user, row.notify_from, row.webhook_url, row.refill_margin_days) == (
        None, None, None, None, 9
    )  # fmt: skip
    assert view.defaults == ("clinic_days", "closed_days", "stale_margin_days")


def test_a_password_in_the_smtp_url_is_refused_naming_smtp_url_and_nothing_is_stored(clinic, users, db):
    before, audited = db.snapshot(), db.audit_count()
    with pytest.raises(InvalidInput) as refused:
        clinic.update_clinic_settings(
            users["admin"], smtp_url=PASSWORD_IN_URL, notify_from="itb at example", smtp_user="a\x00b",
            webhook_url="https://itb:s3cret@gateway.example.org/itb", expected_version=0,
        )  # fmt: skip
    found = {v.field: v.rule for v in refused.value.violations}
    assert set(found) == {"smtp_url", "smtp_user", "notify_from", "webhook_url"}
    assert found["smtp_url"] == PASSWORD_RULE
    assert "hunter2" not in str(refused.value) and "s3cret" not in str(refused.value)
    assert db.snapshot() == before and db.audit_count() == audited and db.count(m.ClinicSettings) == 0


def test_the_api_reads_and_changes_where_messages_go_out(client, db, monkeypatch):
    monkeypatch.setenv("ITB_SMTP_PASSWORD", "hunter2")
    monkeypatch.delenv("ITB_NOTIFY_WEBHOOK_SECRET", raising=False)
    admin = client("admin")
    first = admin.get("/api/clinic/settings").json()
    assert {field: first[field] for field in OUTBOUND} == dict.fromkeys(OUTBOUND)
    assert (first["smtp_password"], first["webhook_secret"]) == ("set", "not set")
    put = admin.put("/api/clinic/settings", json=settings_body(0, **OUTBOUND))
    assert put.status_code == 200, put.text
    assert {field: put.json()[field] for field in OUTBOUND} == OUTBOUND
    monkeypatch.setenv("ITB_NOTIFY_WEBHOOK_SECRET", "s3cret")
    read = client("nurse").get("/api/clinic/settings")
    assert read.json()["webhook_secret"] == "set" and read.json()["smtp_url"] == OUTBOUND["smtp_url"]
    assert "hunter2" not in read.text and "s3cret" not in read.text
    assert db.get(m.ClinicSettings, 1).notify_from == OUTBOUND["notify_from"]


def test_the_api_refuses_a_password_in_the_smtp_url_naming_smtp_url(client, db):
    answer = client("admin").put(
        "/api/clinic/settings", json=settings_body(0, smtp_url=PASSWORD_IN_URL, webhook_url="ftp://gateway")
    )
    assert answer.status_code == 422
    found = {tuple(d["loc"]): d["msg"] for d in answer.json()["detail"]}
    assert set(found) == {("smtp_url",), ("webhook_url",)} and PASSWORD_RULE in found[("smtp_url",)]
    assert "hunter2" not in answer.text
    assert db.count(m.ClinicSettings) == 0


def test_the_api_documents_where_messages_go_out_and_the_secrets_states(anonymous):
    schemas = anonymous.get("/openapi.json").json()["components"]["schemas"]
    body, answer = schemas["ClinicSettingsIn"], schemas["ClinicSettingsOut"]
    assert set(OUTBOUND) <= set(body["required"]) and "smtp_password" not in body["properties"]
    assert all(body["properties"][field]["anyOf"][0]["maxLength"] == 1000 for field in OUTBOUND)
    assert answer["properties"]["smtp_password"]["enum"] == ["set", "not set"]
    assert answer["properties"]["webhook_secret"]["enum"] == ["set", "not set"]


def test_the_settings_page_sets_where_messages_go_out(app, users, passwords, db, monkeypatch):
    monkeypatch.delenv("ITB_SMTP_PASSWORD", raising=False)
    monkeypatch.setenv("ITB_NOTIFY_WEBHOOK_SECRET", "s3cret")
    admin = browser(app, "admin", passwords)
    page = admin.get("/settings")
    said = text_of(page.text)
    assert "Messages (email, text/push webhook)" in said and "set on the server as ITB_SMTP_PASSWORD" in said
    assert "Email password: not set" in said and "Webhook secret: set" in said and "s3cret" not in page.text
    form = {"csrf": csrf_of(page.text), "version": "0", "clinic_days": ["mon"], **OUTBOUND}
    saved = admin.post("/settings", data=form, follow_redirects=False)
    assert saved.status_code == 303, saved.text
    row = db.get(m.ClinicSettings, 1)
    assert {field: getattr(row, field) for field in OUTBOUND} == OUTBOUND
    again = admin.get("/settings?saved=1").text
    assert 'value="smtp+starttls://itb@mail.example.org:587"' in again
    assert 'value="Demo Pump Clinic &lt;itb@example.org&gt;"' in again


def test_the_settings_page_refuses_a_password_in_the_smtp_url_under_its_field(app, users, passwords, db):
    admin = browser(app, "admin", passwords)
    page = admin.get("/settings").text
    form = {
        "csrf": csrf_of(page), "version": "0", "clinic_days": ["mon"], "smtp_url": PASSWORD_IN_URL,
        "smtp_user": "", "notify_from": "not an address", "webhook_url": "https://gateway.example.org/itb",
    }  # fmt: skip
    answer = admin.post("/settings", data=form)
    assert answer.status_code == 422
    assert 'id="smtp_url-error"' in answer.text and 'id="notify_from-error"' in answer.text
    assert 'id="webhook_url-error"' not in answer.text
    assert PASSWORD_RULE in text_of(answer.text)
    assert "hunter2" not in answer.text and 'value="smtp://itb@mail.example.org:587"' in answer.text
    assert 'value="https://gateway.example.org/itb"' in answer.text  # what was typed stays in the form
    assert db.count(m.ClinicSettings) == 0


def test_the_cli_sets_and_shows_where_messages_go_out(itb, engine, db, monkeypatch):
    monkeypatch.setenv("ITB_SMTP_PASSWORD", "hunter2")
    shown = itb("clinic", "settings")
    assert "smtp url: - (the environment's ITB_SMTP_URL)" in shown.output
    assert "smtp password: set (ITB_SMTP_PASSWORD here)" in shown.output and "hunter2" not in shown.output
    done = itb(
        "clinic", "settings", "set", "--smtp-url", OUTBOUND["smtp_url"], "--smtp-user", OUTBOUND["smtp_user"],
        "--notify-from", OUTBOUND["notify_from"], "--webhook-url", OUTBOUND["webhook_url"],
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    assert f"smtp url: {OUTBOUND['smtp_url']}\n" in done.output
    assert f"notify from: {OUTBOUND['notify_from']}\n" in done.output
    cleared = orjson.loads(itb("clinic", "settings", "set", "--webhook-url", "", "--json").stdout)
    assert (cleared["webhook_url"], cleared["smtp_user"], cleared["smtp_password"]) == (None, "itb@example.org", "set")
    assert db.get(m.ClinicSettings, 1).smtp_url == OUTBOUND["smtp_url"]


def test_the_cli_refuses_a_password_in_the_smtp_url_naming_smtp_url_exit_2(itb, engine, db):
    bad = itb("clinic", "settings", "set", "--smtp-url", PASSWORD_IN_URL)
    assert bad.exit_code == 2 and f"smtp_url: {PASSWORD_RULE}" in bad.output
    assert "hunter2" not in bad.output and db.count(m.ClinicSettings) == 0
