"""The clinic's settings page: its name, day and after-hours phone numbers, clinic days, margins,
and where messages go out (the SMTP server and user, the sender's address, the webhook).

Stored in the one-row ``clinic_settings`` table (a null column: the startup default holds), so
every server process on the database uses them (:class:`~itb.clinic.usecases.base.ClinicBase`'s
``config`` lays them over the startup config). Anyone signed in reads the name and numbers (the
family page shows them); the staff read every setting; only an admin changes them, based on the
version read (an older one: ``Conflict``), checked whole (``InvalidInput``: nothing is stored),
audited with the row before and after. The SMTP password and the webhook's secret are never
settings (the server's environment only), so neither the row nor its audit ever holds one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import CursorResult, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from itb.adapters.db import models as m
from itb.clinic.usecases.base import Actor, ClinicBase, Conflict, require, row_json
from itb.clinic.usecases.settings_cache import SETTINGS_ROW, settings_of
from itb.domain.clinic_settings import (
    TEXT_SETTINGS,
    ClinicContacts,
    ClinicSettings,
    checked_settings,
    weekday_names,
)

STAFF = ("admin", "clinician", "nurse")


@dataclass(frozen=True)
class SettingsView:
    """The settings in effect, what is stored, and the version to change them from."""

    stored: ClinicSettings
    clinic_days: list[str]  # in effect, mon..sun
    closed_days: list[date]  # in effect, in order
    refill_margin_days: float  # in effect
    stale_margin_days: float  # in effect
    version: int  # 0: never changed
    updated_at: datetime | None
    updated_by: str | None

    @property
    def contacts(self) -> ClinicContacts:
        return self.stored.contacts

    @property
    def defaults(self) -> tuple[str, ...]:
        """The fields whose value is the startup default (not stored)."""
        return self.stored.defaults()

    # where messages go out, as stored (None: the environment's ITB_SMTP_URL and the like hold)
    @property
    def smtp_url(self) -> str | None:
        return self.stored.smtp_url

    @property
    def smtp_user(self) -> str | None:
        return self.stored.smtp_user

    @property
    def notify_from(self) -> str | None:
        return self.stored.notify_from

    @property
    def webhook_url(self) -> str | None:
        return self.stored.webhook_url


def _columns(settings: ClinicSettings) -> dict[str, Any]:
    """The settings as the row's columns (weekdays as names, closures as ISO dates)."""
    days, closed = settings.clinic_days, settings.closed_days
    return {
        **{field: getattr(settings, field) for field in TEXT_SETTINGS},
        "clinic_days": None if days is None else ",".join(weekday_names(days)),
        "closed_days": None if closed is None else [d.isoformat() for d in sorted(closed)],
        "refill_margin_days": settings.refill_margin_days,
        "stale_margin_days": settings.stale_margin_days,
    }


class SettingsUseCases(ClinicBase):
    def clinic_contacts(self, actor: Actor) -> ClinicContacts:
        """The clinic's name and phone numbers, for anyone signed in (the family page shows them)."""
        return self.settings_cache.current().contacts

    def clinic_settings(self, actor: Actor) -> SettingsView:
        """Every setting in effect and stored, read now (staff only)."""
        require(actor, *STAFF)
        with self.sessions() as s:
            row = s.get(m.ClinicSettings, SETTINGS_ROW)
            stored = settings_of(row)
            version, at, by = (0, None, None) if row is None else (row.version, row.updated_at, row.updated_by)
        self.settings_cache.remember(stored)
        return self._view(stored, version, at, by)

    def _view(self, stored: ClinicSettings, version: int, at: datetime | None, by: str | None) -> SettingsView:
        startup = self.startup_config
        calendar, booking = stored.calendar(startup.calendar), stored.booking(startup.booking)
        return SettingsView(
            stored,
            weekday_names(calendar.weekdays),
            sorted(calendar.closures),
            booking.refill_margin_days,
            booking.stale_margin_days,
            version,
            at,
            by,
        )

    def update_clinic_settings(
        self,
        actor: Actor,
        *,
        name: str | None = None,
        day_phone: str | None = None,
        after_hours_phone: str | None = None,
        clinic_days: Sequence[str] | None = None,
        closed_days: Sequence[str] | None = None,
        refill_margin_days: int | None = None,
        stale_margin_days: int | None = None,
        smtp_url: str | None = None,
        smtp_user: str | None = None,
        notify_from: str | None = None,
        webhook_url: str | None = None,
        expected_version: int,
    ) -> SettingsView:
        """Replace every setting (an admin's): None (or a blank name, number, server or address)
        means the startup default (none, or the environment's); ``expected_version`` is the version
        read (0 when never changed)."""
        require(actor, "admin")
        settings = checked_settings(
            name=name, day_phone=day_phone, after_hours_phone=after_hours_phone, clinic_days=clinic_days,
            closed_days=closed_days, refill_margin_days=refill_margin_days, stale_margin_days=stale_margin_days,
            smtp_url=smtp_url, smtp_user=smtp_user, notify_from=notify_from, webhook_url=webhook_url,
        )  # fmt: skip
        now, version = self.clock(), expected_version + 1
        values = {**_columns(settings), "version": version, "updated_at": now, "updated_by": actor.username}
        try:
            with self.transaction() as s:
                self._store(s, actor, values, expected_version)
        except IntegrityError:  # another admin stored the first version meanwhile
            raise Conflict(self._stale(expected_version)) from None
        self.settings_cache.remember(settings)
        return self._view(settings, version, now, actor.username)

    def _store(self, s: Session, actor: Actor, values: dict[str, Any], expected_version: int) -> None:
        """Write the row if it is still at ``expected_version`` (one conditional statement), audited."""
        query = select(m.ClinicSettings).where(m.ClinicSettings.id == SETTINGS_ROW).with_for_update()
        row = s.execute(query).scalar_one_or_none()
        before = None if row is None else row_json(row)
        if (0 if row is None else row.version) != expected_version:
            raise Conflict(self._stale(expected_version))
        if row is None:
            s.execute(insert(m.ClinicSettings).values(id=SETTINGS_ROW, **values))
        else:
            where = (m.ClinicSettings.id == SETTINGS_ROW, m.ClinicSettings.version == expected_version)
            done = cast(CursorResult[Any], s.execute(update(m.ClinicSettings).where(*where).values(**values)))
            if done.rowcount != 1:  # changed between the read and this write (SQLite reads outside it)
                raise Conflict(self._stale(expected_version))
        after = {"id": SETTINGS_ROW, **values}
        self._audit(s, actor, "update_clinic_settings", "clinic_settings", SETTINGS_ROW, before=before, after=after)

    @staticmethod
    def _stale(expected_version: int) -> str:
        return f"the clinic's settings were changed by someone else since version {expected_version}: read them again"


__all__ = ["SettingsUseCases", "SettingsView"]
