"""End to end: the demo clinic, the real ``itb notify run`` (a subprocess), a real SMTP server and a
webhook gateway on loopback. Every message due is received exactly once (a visit's with its
``.ics``); a second run sends nothing; a failing SMTP server leaves the email pending and a
later run sends it."""

from __future__ import annotations

import json
import os
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from test_forecast_cli import itb_command

import smtp_server
from itb.adapters.notify import verify_signature
from itb.shell.clinic_setup import open_clinic
from itb.simulation.demo_clinic import fill_demo_clinic
from smtp_server import Gateway, SmtpCatcher

smtp_catcher = smtp_server.smtp_catcher  # the fixtures, used by name
gateway = smtp_server.gateway
SECRET = "gateway-secret-for-the-test"


@pytest.fixture
def demo_db(tmp_path: Path) -> Path:
    """A small demo clinic as of now (the command's own clock is the real one)."""
    path = tmp_path / "clinic.db"
    clinic, engine = open_clinic(str(path))
    fill_demo_clinic(clinic, patients=12)
    engine.dispose()
    return path


def notify(db: Path, smtp: SmtpCatcher, gateway: Gateway, *options: str) -> tuple[int, dict[str, Any]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ITB_SMTP", "ITB_NOTIFY"))}
    env.update({
        "ITB_HOME": str(db.parent), "ITB_SMTP_URL": smtp.url, "ITB_NOTIFY_WEBHOOK_URL": gateway.url,
        "ITB_NOTIFY_WEBHOOK_SECRET": SECRET, "ITB_NOTIFY_QUIET_HOURS": "none", "ITB_NOTIFY_DAILY_CAP": "50",
        "ITB_NOTIFY_MORNING": "00:00",  # the digest is due whatever the hour the test runs at
    })  # fmt: skip
    done = subprocess.run(
        [*itb_command(), "notify", "run", "--db", str(db), "--json", *options],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, orjson.loads(done.stdout)


def by_address(rows: list[dict[str, Any]], channel: str) -> Counter[tuple[str, str]]:
    return Counter((r["address"], r["subject"]) for r in rows if r["channel"] == channel)


def test_every_message_due_is_received_once_and_a_failed_one_is_sent_later(
    demo_db: Path, smtp_catcher: SmtpCatcher, gateway: Gateway
) -> None:
    _, dry = notify(demo_db, smtp_catcher, gateway, "--dry-run")
    due_email, due_webhook = by_address(dry["queued"], "email"), by_address(dry["queued"], "webhook")
    assert {r["rule"] for r in dry["queued"]} >= {"visit_reminder", "staff_digest"}
    assert due_webhook and smtp_catcher.attempts == 0 and gateway.requests == []

    smtp_catcher.fail_all()
    status, failing = notify(demo_db, smtp_catcher, gateway)
    assert status == 1 and by_address(failing["failed"], "email") == due_email
    assert all("451" in r["error"] and r["retry_at"] for r in failing["failed"])
    assert smtp_catcher.messages == []

    smtp_catcher.recover()
    status, later = notify(demo_db, smtp_catcher, gateway, "--retry")
    assert status == 0 and later["failed"] == []
    received = Counter((str(mail["To"].addresses[0].addr_spec), str(mail["Subject"])) for mail in smtp_catcher.messages)
    assert received == due_email  # each once
    for mail in smtp_catcher.messages:
        attachments = [p for p in mail.iter_attachments() if p.get_content_type() == "text/calendar"]
        assert (mail["X-ITB-Rule"] == "visit_reminder") == bool(attachments)
        assert all(b"BEGIN:VEVENT" in a.get_payload(decode=True) for a in attachments)
    posted = [json.loads(body) for _, _, body in gateway.requests]
    assert Counter((p["to"]["address"], p["subject"]) for p in posted) == due_webhook
    for _, headers, body in gateway.requests:
        assert verify_signature(SECRET, headers["X-ITB-Timestamp"], body, headers["X-ITB-Signature"])

    status, again = notify(demo_db, smtp_catcher, gateway)
    assert status == 0 and again["counts"]["sent"] == 0 and again["counts"]["queued"] == 0
    assert len(smtp_catcher.messages) == sum(due_email.values()) and len(gateway.requests) == sum(due_webhook.values())
