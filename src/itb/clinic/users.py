"""Clinic users: passwords hashed with argon2, one role each, and a token version.

Every change that must end a user's sessions (a sign-out, a new password, a new role,
deactivation) adds one to ``token_version``; a token carries the version it was made under, and
:func:`signed_in_user` refuses any other. Passwords follow :mod:`itb.clinic.password_policy`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from itb.adapters.db.models import User
from itb.clinic import audit
from itb.clinic.password_policy import password_violations
from itb.clinic.services import ROLES, Actor
from itb.domain.errors import InvalidInput, Violation

_hasher = PasswordHasher()
#: At most this many argon2 verifications run at once in one server process: each holds 64 MiB
#: (argon2-cffi's default memory cost, RFC 9106's second profile) and a core for ~50 ms, so a
#: flood of sign-ins cannot exhaust the server's memory or starve the clinic's own requests.
MAX_CONCURRENT_VERIFICATIONS = 4
#: A sign-in waits this long for a free verification, then is told to try again (HTTP 503).
VERIFICATION_WAIT_S = 2.0
#: The ``Retry-After`` (seconds) given with that 503.
BUSY_RETRY_AFTER_S = 2
_verifications = threading.BoundedSemaphore(MAX_CONCURRENT_VERIFICATIONS)


class SignInBusy(Exception):
    """Every password verification slot stayed taken: try again in ``retry_after_s`` seconds (HTTP 503)."""

    def __init__(self, retry_after_s: int = BUSY_RETRY_AFTER_S) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(f"the server is busy checking other sign-ins; try again in {retry_after_s} seconds")


def create_user(session: Session, username: str, password: str, role: str, *, by: Actor, at: datetime) -> User:
    errs = []
    if not username or len(username) > 64 or not username.replace("-", "").replace("_", "").replace(".", "").isalnum():
        errs.append(Violation("username", "must be 1-64 letters, digits, '.', '-' or '_'"))
    if role not in ROLES:
        errs.append(Violation("role", f"must be one of {', '.join(ROLES)}"))
    errs += password_violations(password, username)
    if not errs and session.execute(select(User.id).where(User.username == username)).first():
        errs.append(Violation("username", f"{username!r} already exists"))
    if errs:
        raise InvalidInput(errs)
    user = User(username=username, password_hash=_hasher.hash(password), role=role, active=True, created_at=at)
    session.add(user)
    session.flush()
    audit.record(
        session,
        at=at,
        actor=by.username,
        action="create_user",
        entity="user",
        entity_id=user.id,
        after={"username": username, "role": role},
    )
    return user


def set_password(session: Session, username: str, password: str, *, by: Actor, at: datetime) -> User:
    """A new password for ``username``; every session and token of theirs ends."""
    user = user_named(session, username)
    errs = password_violations(password, username)
    if errs:
        raise InvalidInput(errs)
    user.password_hash = _hasher.hash(password)
    _changed(session, user, "set_password", {}, {}, by=by, at=at)  # the audit never holds a hash
    return user


def set_role(session: Session, username: str, role: str, *, by: Actor, at: datetime) -> User:
    """A new role for ``username``; every session and token of theirs ends (they sign in again)."""
    user = user_named(session, username)
    if role not in ROLES:
        raise InvalidInput([Violation("role", f"must be one of {', '.join(ROLES)}")])
    before = user.role
    user.role = role
    _changed(session, user, "set_role", {"role": before}, {"role": role}, by=by, at=at)
    return user


def set_active(session: Session, username: str, active: bool, *, by: Actor, at: datetime) -> User:
    """Enable or disable ``username``; disabling ends every session and token of theirs at once."""
    user = user_named(session, username)
    before = user.active
    user.active = active
    _changed(session, user, "enable_user" if active else "disable_user", {"active": before}, {"active": active},
             by=by, at=at)  # fmt: skip
    return user


def end_sessions(session: Session, user_id: int) -> None:
    """Every token and page session of the user stops working (a sign-out)."""
    user = session.get(User, user_id)
    if user is not None:
        user.token_version += 1


def user_named(session: Session, username: str) -> User:
    user = session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    if user is None:
        raise InvalidInput([Violation("username", f"there is no user {username!r}")])
    return user


def _changed(session: Session, user: User, action: str, before: dict, after: dict, *, by: Actor, at: datetime) -> None:
    user.token_version += 1
    session.flush()
    audit.record(
        session, at=at, actor=by.username, action=action, entity="user", entity_id=user.id,
        before={"username": user.username, **before}, after={"username": user.username, **after},
    )  # fmt: skip


def signed_in_user(session: Session, user_id: int, token_version: int) -> User | None:
    """The user a token names, if it is still good: active, and made under their current version.

    One primary-key select: this runs on every request."""
    user = session.get(User, user_id)
    if user is None or not user.active or user.token_version != token_version:
        return None
    return user


def active_user(session: Session, username: str) -> User | None:
    user = session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    return user if user is not None and user.active else None


@contextmanager
def _verification_slot() -> Iterator[None]:
    if not _verifications.acquire(timeout=VERIFICATION_WAIT_S):
        raise SignInBusy()
    try:
        yield
    finally:
        _verifications.release()


def password_matches(password_hash: str | None, password: str) -> bool:
    """Whether ``password`` is the one ``password_hash`` was made of (None: no such user, the same work).

    At most :data:`MAX_CONCURRENT_VERIFICATIONS` run at once; :class:`SignInBusy` when none is free in time."""
    with _verification_slot():
        if password_hash is None:
            _hasher.hash(password)  # the same work whether or not the user exists
            return False
        try:
            return _hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False


def authenticate(session: Session, username: str, password: str) -> User | None:
    """The active user these credentials name (None: wrong, unknown or inactive)."""
    user = active_user(session, username)
    return user if password_matches(user.password_hash if user else None, password) else None
