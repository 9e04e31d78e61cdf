"""Signing in and out, and the check every request makes (the API's bearer token and the pages' cookie alike).

A sign-in is refused before any password is checked when the account or the client address
has too many recent failures (:mod:`itb.clinic.login_throttle`, HTTP 429), and waits for one of
the few password verifications allowed at once (:func:`itb.clinic.users.password_matches`,
HTTP 503 when none frees in time). A token is good while its user is active and its version is
the user's (:func:`signed_in`); :func:`sign_out` ends every token of the user.
"""

from __future__ import annotations

from dataclasses import dataclass

from itb.clinic import login_throttle, users
from itb.clinic.login_throttle import TooManySignIns
from itb.clinic.services import Actor, Clinic
from itb.clinic.users import SignInBusy

__all__ = ["SignInBusy", "SignedIn", "TooManySignIns", "sign_in", "sign_out", "signed_in"]


@dataclass(frozen=True)
class SignedIn:
    """Who signed in, and the token version their token must carry."""

    actor: Actor
    token_version: int


def sign_in(clinic: Clinic, username: str, password: str, address: str) -> SignedIn | None:
    """The user these credentials name (None: wrong, unknown or inactive), from client ``address``.

    Raises :class:`TooManySignIns` (the account or the address must wait) or :class:`SignInBusy`."""
    now = clinic.clock()
    with clinic.sessions() as s:
        login_throttle.check(s, username, address, now)
        user = users.active_user(s, username)
        found = None if user is None else SignedIn(Actor(user.username, user.role, user.id), user.token_version)
        password_hash = None if user is None else user.password_hash
    matches = users.password_matches(password_hash, password)  # outside any transaction: it takes a while
    with clinic.transaction() as s:
        if matches:
            login_throttle.clear_account(s, username)
        else:
            login_throttle.record_failure(s, username, address, now)
    return found if matches else None


def signed_in(clinic: Clinic, user_id: int, token_version: int) -> Actor | None:
    """The actor a token names while it is good (None: signed out, changed or disabled since)."""
    with clinic.sessions() as s:
        user = users.signed_in_user(s, user_id, token_version)
        return None if user is None else Actor(user.username, user.role, user.id)


def sign_out(clinic: Clinic, actor: Actor) -> None:
    """End every token and page session of ``actor``'s user at once."""
    if actor.user_id is None:
        return
    with clinic.transaction() as s:
        users.end_sessions(s, actor.user_id)
