"""Failed sign-ins, counted per account and per client address over a sliding window.

Kept in the database (``login_attempts``), so the limits hold across every server process and a
restart. Only failures are stored; a success clears the account's. An attempt refused by the
limit is not stored, so the wait ends when the window has passed the failures that caused it.
Source: OWASP Authentication Cheat Sheet, "Protect Against Automated Attacks" (account lockout
with a lockout period and an observation window, and throttling per source address). The
counts allow a person who mistypes a few times; a guesser gets 5 tries per account per
15 minutes (about 480 a day), and one address at most 20 tries over all accounts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, delete, select
from sqlalchemy.orm import Session

from itb.adapters.db.models import LoginAttempt

#: the stored name and address are cut to the columns' size
NAME_CHARS = 64


@dataclass(frozen=True)
class ThrottleSettings:
    #: the sliding window failures are counted over (OWASP: an observation window, e.g. 15 minutes)
    window: timedelta = timedelta(minutes=15)
    #: failures of one account in the window before it waits (OWASP's example: 5 or so)
    per_account: int = 5
    #: failures from one client address in the window, over every account it tries (password spraying)
    per_address: int = 20


DEFAULT_THROTTLE = ThrottleSettings()


class TooManySignIns(Exception):
    """Too many failed sign-ins for the account or from the address: wait ``retry_after_s`` seconds (HTTP 429)."""

    def __init__(self, retry_after_s: int) -> None:
        self.retry_after_s = retry_after_s
        minutes = max(1, math.ceil(retry_after_s / 60))
        super().__init__(f"too many failed sign-ins; try again in {minutes} minute{'s' if minutes != 1 else ''}")


def check(
    session: Session, username: str, address: str, now: datetime, settings: ThrottleSettings = DEFAULT_THROTTLE
) -> None:
    """Raise :class:`TooManySignIns` when the account or the address has used up its failures."""
    waits = [
        _wait(session, LoginAttempt.username == username[:NAME_CHARS], settings.per_account, now, settings),
        _wait(session, LoginAttempt.address == address[:NAME_CHARS], settings.per_address, now, settings),
    ]
    longest = max((w for w in waits if w is not None), default=None)
    if longest is not None:
        raise TooManySignIns(max(1, math.ceil(longest.total_seconds())))


def _wait(
    session: Session, who: ColumnElement[bool], limit: int, now: datetime, settings: ThrottleSettings
) -> timedelta | None:
    """How long until fewer than ``limit`` of ``who``'s failures lie in the window (None: not now)."""
    latest = session.execute(
        select(LoginAttempt.at)
        .where(who, LoginAttempt.at > now - settings.window)
        .order_by(LoginAttempt.at.desc())
        .limit(limit)
    ).scalars()
    times = list(latest)
    if len(times) < limit:
        return None
    return times[-1] + settings.window - now  # the oldest of the last ``limit`` leaves the window then


def record_failure(
    session: Session, username: str, address: str, now: datetime, settings: ThrottleSettings = DEFAULT_THROTTLE
) -> None:
    """Store a failed sign-in, and forget the failures the window has passed."""
    session.execute(delete(LoginAttempt).where(LoginAttempt.at <= now - settings.window))
    session.add(LoginAttempt(username=username[:NAME_CHARS], address=address[:NAME_CHARS], at=now))


def clear_account(session: Session, username: str) -> None:
    """A successful sign-in: the account's failures are forgotten (the address's stay)."""
    session.execute(delete(LoginAttempt).where(LoginAttempt.username == username[:NAME_CHARS]))
