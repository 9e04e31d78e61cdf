"""The clinic's stored settings as this process last read them, re-read when more than a second old.

Several server processes may share one database, and an admin changes the settings in one of
them. Each process keeps the row it last read with the time it read it (``time.monotonic``, so a
change of the wall clock does not matter); a reader older than :data:`SETTINGS_MAX_AGE_SECONDS`
reads the row again in a short session of its own (never the caller's session, so a caller's
transaction is neither seen nor ended). A change made in this process is remembered at once
(:meth:`SettingsCache.remember`); another process sees it at most a second later.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import date

from sqlalchemy.orm import Session, sessionmaker

from itb.adapters.db import models as m
from itb.domain.clinic_settings import TEXT_SETTINGS, ClinicSettings, weekdays_of

#: the one row of ``clinic_settings``
SETTINGS_ROW = 1
#: how old (seconds) the settings read from the database may be before they are read again
SETTINGS_MAX_AGE_SECONDS = 1.0


def settings_of(row: m.ClinicSettings | None) -> ClinicSettings:
    """The stored row as settings (no row: every startup default holds)."""
    if row is None:
        return ClinicSettings()
    return ClinicSettings(
        **{field: getattr(row, field) for field in TEXT_SETTINGS},
        clinic_days=None if row.clinic_days is None else weekdays_of(row.clinic_days.split(",")),
        closed_days=None if row.closed_days is None else _days(row.closed_days),
        refill_margin_days=row.refill_margin_days,
        stale_margin_days=row.stale_margin_days,
    )


def _days(texts: Iterable[str]) -> frozenset[date]:
    return frozenset(date.fromisoformat(t) for t in texts)


class SettingsCache:
    """The settings row, read at most once a second (``max_age_seconds``) by :meth:`current`."""

    def __init__(self, sessions: sessionmaker[Session], max_age_seconds: float = SETTINGS_MAX_AGE_SECONDS) -> None:
        self.sessions = sessions
        self.max_age_seconds = max_age_seconds
        self._seen: tuple[float, ClinicSettings] | None = None  # (monotonic time read, settings)

    def current(self, *, may_read: bool = True) -> ClinicSettings:
        """The settings, read again when older than ``max_age_seconds`` (or never read). With
        ``may_read`` False (inside a transaction) the last ones read are kept however old."""
        seen = self._seen  # one read of the attribute: another thread may replace it meanwhile
        if seen is not None and (not may_read or time.monotonic() - seen[0] < self.max_age_seconds):
            return seen[1]
        return self.read()

    def read(self) -> ClinicSettings:
        """The settings as stored now, in a session of their own; remembered."""
        with self.sessions() as s:
            settings = settings_of(s.get(m.ClinicSettings, SETTINGS_ROW))
        self.remember(settings)
        return settings

    def remember(self, settings: ClinicSettings) -> None:
        """``settings`` are the stored ones as of now (this process has just written or read them)."""
        self._seen = (time.monotonic(), settings)


__all__ = ["SETTINGS_MAX_AGE_SECONDS", "SETTINGS_ROW", "SettingsCache", "settings_of"]
