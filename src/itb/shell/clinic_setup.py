"""Opening the clinic: the database (migrated to the newest schema), its data directory, the service."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from datetime import date, time
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Engine

from itb.adapters.audit_key import AuditKeyError
from itb.adapters.db.engine import data_dir, database_url, make_engine, migrate
from itb.bootstrap import clinic_on
from itb.clinic.services import Clinic, ClinicConfig
from itb.domain.reminders import DEFAULT_NOTIFY, NotifySettings
from itb.domain.scheduling import ClinicCalendar
from itb.shell.clinic_server import SetupError as SetupError  # defined where serving needs it light
from itb.shell.clinic_server import https_from_env as https_from_env

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def time_zone_from_env(env: dict[str, str] | None = None) -> str:
    """``ITB_TIME_ZONE`` (an IANA name such as ``Europe/Paris``; default UTC): the clinic's local time."""
    env = dict(os.environ) if env is None else env
    name = env.get("ITB_TIME_ZONE", "UTC").strip() or "UTC"
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise SetupError(f"ITB_TIME_ZONE: {name!r} is not a time zone (e.g. Europe/Paris)") from None
    return name


def calendar_from_env(env: dict[str, str] | None = None) -> ClinicCalendar:
    """``ITB_CLINIC_DAYS`` (e.g. ``mon,tue,thu``; default Monday-Friday) and ``ITB_CLOSED_DAYS``
    (e.g. ``2026-12-24,2026-12-25``): the days refills and visits may be booked."""
    env = dict(os.environ) if env is None else env
    days_text = env.get("ITB_CLINIC_DAYS", "mon,tue,wed,thu,fri")
    weekdays = set()
    for given in filter(None, (d.strip() for d in days_text.split(","))):
        name = given.lower()[:3]
        if name not in WEEKDAYS or given.lower() not in (name, DAY_NAMES[WEEKDAYS.index(name)]):
            raise SetupError(f"ITB_CLINIC_DAYS: {given!r} is not a weekday (mon..sun)")
        weekdays.add(WEEKDAYS.index(name))
    if not weekdays:
        raise SetupError("ITB_CLINIC_DAYS: at least one clinic day is required")
    closures = set()
    for text in filter(None, (d.strip() for d in env.get("ITB_CLOSED_DAYS", "").split(","))):
        try:
            closures.add(date.fromisoformat(text))
        except ValueError:
            raise SetupError(f"ITB_CLOSED_DAYS: {text!r} is not a date YYYY-MM-DD") from None
    return ClinicCalendar(weekdays=frozenset(weekdays), closures=frozenset(closures))


def _clock_time(name: str, text: str) -> time:
    try:
        hours, minutes = (int(part) for part in text.strip().split(":"))
        return time(hours, minutes)
    except ValueError:
        raise SetupError(f"{name}: {text.strip()!r} is not a time of day HH:MM") from None


def notify_from_env(env: Mapping[str, str] = os.environ) -> NotifySettings:
    """``ITB_NOTIFY_QUIET_HOURS`` (``21:00-07:00``, default; ``none``: no quiet hours),
    ``ITB_NOTIFY_DAILY_CAP`` (messages a contact gets a day, emergencies apart; default 4) and
    ``ITB_NOTIFY_MORNING`` (the morning reminder's and the staff digest's time; default 07:30)."""
    settings = DEFAULT_NOTIFY
    quiet = env.get("ITB_NOTIFY_QUIET_HOURS", "").strip().lower()
    if quiet == "none":
        settings = replace(settings, quiet_hours=(time(0, 0), time(0, 0)))
    elif quiet:
        start, sep, end = quiet.partition("-")
        if not sep:
            raise SetupError(f"ITB_NOTIFY_QUIET_HOURS: {quiet!r} is not HH:MM-HH:MM (or none)")
        hours = (_clock_time("ITB_NOTIFY_QUIET_HOURS", start), _clock_time("ITB_NOTIFY_QUIET_HOURS", end))
        settings = replace(settings, quiet_hours=hours)
    cap = env.get("ITB_NOTIFY_DAILY_CAP", "").strip()
    if cap:
        if not cap.isdigit() or not 1 <= int(cap) <= 50:
            raise SetupError(f"ITB_NOTIFY_DAILY_CAP: must be a whole number 1 to 50, got {cap!r}")
        settings = replace(settings, daily_cap=int(cap))
    morning = env.get("ITB_NOTIFY_MORNING", "").strip()
    if morning:
        settings = replace(settings, morning_at=_clock_time("ITB_NOTIFY_MORNING", morning))
    return settings


def open_clinic(db_path: str | None = None) -> tuple[Clinic, Engine]:
    """The clinic on ``--db PATH`` (SQLite), ``$ITB_DATABASE_URL``, or the default SQLite file.

    Virtual pumps live in the database; the per-pump lock files of a SQLite clinic beside it.
    """
    url = database_url(db_path)
    engine = make_engine(url)
    migrate(engine)
    where = Path(url.removeprefix("sqlite:///")).parent if url.startswith("sqlite:///") else data_dir()
    config = ClinicConfig(
        data_dir=where, calendar=calendar_from_env(), time_zone=time_zone_from_env(), notify=notify_from_env()
    )
    try:
        return clinic_on(engine, config), engine
    except AuditKeyError as exc:  # $ITB_AUDIT_KEY too short, or the key file damaged
        raise SetupError(str(exc)) from None
