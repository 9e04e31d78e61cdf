"""Clinic users: passwords hashed with argon2, one role each."""

from __future__ import annotations

from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from itb.adapters.db.models import User
from itb.clinic import audit
from itb.clinic.services import ROLES, Actor
from itb.domain.errors import InvalidInput, Violation

_hasher = PasswordHasher()
MIN_PASSWORD_LENGTH = 8


def create_user(session: Session, username: str, password: str, role: str, *, by: Actor, at: datetime) -> User:
    errs = []
    if not username or len(username) > 64 or not username.replace("-", "").replace("_", "").replace(".", "").isalnum():
        errs.append(Violation("username", "must be 1-64 letters, digits, '.', '-' or '_'"))
    if role not in ROLES:
        errs.append(Violation("role", f"must be one of {', '.join(ROLES)}"))
    if len(password) < MIN_PASSWORD_LENGTH:
        errs.append(Violation("password", f"must be at least {MIN_PASSWORD_LENGTH} characters"))
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


def authenticate(session: Session, username: str, password: str) -> User | None:
    user = session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    if user is None or not user.active:
        _hasher.hash(password)  # the same work whether or not the user exists
        return None
    try:
        _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return None
    return user
