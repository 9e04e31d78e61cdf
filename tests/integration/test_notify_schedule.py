"""The pass on a schedule inside ``itb serve`` and the notify settings of the environment."""

from __future__ import annotations

from datetime import time
from typing import Any

import pytest

from itb.adapters.db import models as m
from itb.clinic.services import Actor, Clinic
from itb.shell.clinic_setup import SetupError, notify_from_env
from itb.shell.notify_schedule import DEFAULT_INTERVAL_S, NotifySchedule, interval_from_env


def test_interval_default_off_and_bounds() -> None:
    assert interval_from_env({}) == DEFAULT_INTERVAL_S
    assert interval_from_env({"ITB_NOTIFY_INTERVAL": "0"}) == 0
    assert interval_from_env({"ITB_NOTIFY_INTERVAL": "60"}) == 60
    for bad in ("soon", "5", "-1", "100000"):
        with pytest.raises(SetupError, match="ITB_NOTIFY_INTERVAL"):
            interval_from_env({"ITB_NOTIFY_INTERVAL": bad})


def test_quiet_hours_daily_cap_and_morning_from_the_environment() -> None:
    settings = notify_from_env({"ITB_NOTIFY_QUIET_HOURS": "22:30-06:15", "ITB_NOTIFY_DAILY_CAP": "2",
                                "ITB_NOTIFY_MORNING": "08:00"})  # fmt: skip
    assert settings.quiet_hours == (time(22, 30), time(6, 15)) and settings.daily_cap == 2
    assert settings.morning_at == time(8, 0)
    assert notify_from_env({"ITB_NOTIFY_QUIET_HOURS": "none"}).quiet_hours == (time(0), time(0))
    for name, bad in (("ITB_NOTIFY_QUIET_HOURS", "late"), ("ITB_NOTIFY_DAILY_CAP", "0"), ("ITB_NOTIFY_MORNING", "8h")):
        with pytest.raises(SetupError, match=name):
            notify_from_env({name: bad})


class Buggy:
    def send(self, message: Any) -> None:
        raise RuntimeError("not a SendFailed: a bug in a channel")


def broken_configuration() -> dict:
    raise RuntimeError("the channels could not be made")


def test_a_scheduled_pass_that_fails_is_logged_and_the_schedule_goes_on(
    clinic: Clinic, users: dict[str, Actor], child: m.Patient, capsys: pytest.CaptureFixture[str]
) -> None:
    clinic.add_contact(users["admin"], None, name="Lead", email="lead@example.org", digest=True)
    clinic.senders = broken_configuration
    schedule = NotifySchedule(clinic, 0)
    schedule.run_once()
    assert "the pass failed: RuntimeError: the channels could not be made" in capsys.readouterr().err
    clinic.senders = lambda: {"email": Buggy()}
    schedule.run_once()
    assert schedule.passes == 1
    assert "1 message(s) could not be sent" in capsys.readouterr().err


def test_a_channel_s_bug_keeps_the_message_pending_with_its_words(
    clinic: Clinic, users: dict[str, Actor], db: Any
) -> None:
    clinic.add_contact(users["admin"], None, name="Lead", email="lead@example.org", digest=True)
    report = clinic.notify_run(users["admin"], senders={"email": Buggy()})
    assert report.failed[0]["error"] == "the email channel failed: RuntimeError: not a SendFailed: a bug in a channel"
    [row] = db.all(m.OutboxMessage)
    assert row.status == "pending" and row.claimed_until is None and row.attempts == 1


def test_the_schedule_thread_runs_passes_until_stopped(clinic: Clinic) -> None:
    schedule = NotifySchedule(clinic, 0.05).start()
    try:
        for _ in range(200):
            if schedule.passes >= 2:
                break
            import time as clock

            clock.sleep(0.02)
    finally:
        schedule.stop()
    assert schedule.passes >= 2
