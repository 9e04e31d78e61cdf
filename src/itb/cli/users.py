"""``itb users``: create a clinic user, set a password or a role, disable or enable an account.

A new password, a new role and disabling each end every session and token of the user at once
(the token version, :mod:`itb.clinic.users`). Passwords follow :mod:`itb.clinic.password_policy`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import typer

from itb.cli.common import DbOption, fail

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

users_app = typer.Typer(help="Clinic users.", no_args_is_help=True)


def _password(given: str | None) -> str:
    """The password given, else asked for twice (or one line of stdin without a terminal)."""
    if given is not None:
        return given
    if sys.stdin.isatty():
        return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))
    return sys.stdin.readline().rstrip("\n")


def _change(db: str | None, change: Callable[[Session, Any, Any], object]) -> None:
    """Run ``change(session, by, at)`` in one transaction, as the system; a refusal is one line and exit 2."""
    from datetime import datetime

    from itb.clinic.services import SYSTEM
    from itb.domain.errors import InvalidInput
    from itb.shell.clinic_setup import open_clinic

    clinic, _engine = open_clinic(db)
    try:
        with clinic.transaction() as s:
            change(s, SYSTEM, datetime.now())
    except InvalidInput as exc:
        fail(exc.one_line())


@users_app.command("create")
def users_create(
    username: Annotated[str, typer.Argument()],
    role: Annotated[str, typer.Option("--role", help="admin, clinician, nurse or caregiver")],
    db: DbOption = None,
    password: Annotated[
        str | None, typer.Option("--password", help="Default: asked for (or read from stdin without a terminal).")
    ] = None,
    patient: Annotated[int | None, typer.Option("--patient", help="For a caregiver: their child's patient id.")] = None,
) -> None:
    """Create a user (at least 12 characters, hard to guess, not the username; stored as an argon2 hash)."""
    from datetime import datetime

    from itb.clinic.services import SYSTEM, NotFound
    from itb.clinic.users import create_user
    from itb.domain.errors import InvalidInput
    from itb.shell.clinic_setup import open_clinic

    if patient is not None and role != "caregiver":
        fail("--patient: only a caregiver is linked to a patient")
    password = _password(password)
    clinic, _engine = open_clinic(db)
    try:
        with clinic.transaction() as s:  # the user and its link to the child: both or neither
            user = create_user(s, username, password, role, by=SYSTEM, at=datetime.now())
            if patient is not None:
                clinic.link_caregiver_in(s, SYSTEM, patient, user.id)
    except InvalidInput as exc:
        fail(exc.one_line())
    except NotFound as exc:
        fail(f"--patient: {exc}")
    print(f"user {username} ({role}) created")


@users_app.command("password")
def users_password(
    username: Annotated[str, typer.Argument()],
    db: DbOption = None,
    password: Annotated[
        str | None, typer.Option("--password", help="Default: asked for (or read from stdin without a terminal).")
    ] = None,
) -> None:
    """Set a new password; every session and token of the user ends at once."""
    from itb.clinic.users import set_password

    new = _password(password)
    _change(db, lambda s, by, at: set_password(s, username, new, by=by, at=at))
    print(f"user {username}: new password set; their sessions and tokens have ended")


@users_app.command("role")
def users_role(
    username: Annotated[str, typer.Argument()],
    role: Annotated[str, typer.Argument(help="admin, clinician, nurse or caregiver")],
    db: DbOption = None,
) -> None:
    """Give the user another role; every session and token of theirs ends (they sign in again)."""
    from itb.clinic.users import set_role

    _change(db, lambda s, by, at: set_role(s, username, role, by=by, at=at))
    print(f"user {username}: role {role}; their sessions and tokens have ended")


@users_app.command("disable")
def users_disable(username: Annotated[str, typer.Argument()], db: DbOption = None) -> None:
    """Disable the account: it cannot sign in, and every session and token of it ends at once."""
    from itb.clinic.users import set_active

    _change(db, lambda s, by, at: set_active(s, username, False, by=by, at=at))
    print(f"user {username} disabled; their sessions and tokens have ended")


@users_app.command("enable")
def users_enable(username: Annotated[str, typer.Argument()], db: DbOption = None) -> None:
    """Enable a disabled account again (it signs in with its password as before)."""
    from itb.clinic.users import set_active

    _change(db, lambda s, by, at: set_active(s, username, True, by=by, at=at))
    print(f"user {username} enabled")


__all__ = ["users_app"]
