"""What every route depends on: the clinic, the signed-in user, the idempotency key (FastAPI ``Depends``).

``create_app`` keeps the clinic and the token secret on ``app.state``; a route takes them as
``clinic: ClinicDep`` and ``me: CurrentUser``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

import jwt
from fastapi import Depends, Header, HTTPException, Request
from fastapi.security import OAuth2PasswordBearer
from pydantic import WithJsonSchema

from itb.clinic import signin
from itb.clinic.services import Actor, Clinic

TOKEN_HOURS = 8

oauth2 = OAuth2PasswordBearer(tokenUrl="/api/auth/token")


def make_token(user: Actor, secret: str, token_version: int) -> str:
    """A bearer token (JWT, HS256) for ``user``, valid for ``TOKEN_HOURS`` or until their token
    version changes (a sign-out, a new password or role, deactivation)."""
    claims = {
        "sub": user.username,
        "role": user.role,
        "uid": user.user_id,
        "ver": token_version,
        "exp": datetime.now(UTC) + timedelta(hours=TOKEN_HOURS),
    }
    return jwt.encode(claims, secret, algorithm="HS256")


def token_actor(clinic: Clinic, secret: str, token: str) -> Actor | None:
    """The user a token names while it is good: signed, not expired, and its version the user's
    (one primary-key select). The API's bearer token and the pages' cookie are both checked here."""
    try:
        claims = jwt.decode(token, secret, algorithms=["HS256"])
        user_id, version = int(claims["uid"]), int(claims["ver"])
    except (jwt.PyJWTError, KeyError, TypeError, ValueError):
        return None
    return signin.signed_in(clinic, user_id, version)


def get_clinic(request: Request) -> Clinic:
    clinic: Clinic = request.app.state.clinic
    return clinic


def current_actor(request: Request, token: Annotated[str, Depends(oauth2)]) -> Actor:
    actor = token_actor(request.app.state.clinic, request.app.state.secret, token)
    if actor is None:
        raise HTTPException(
            401, "invalid, expired or signed-out token: sign in again", headers={"WWW-Authenticate": "Bearer"}
        )
    return actor


ClinicDep = Annotated[Clinic, Depends(get_clinic)]
CurrentUser = Annotated[Actor, Depends(current_actor)]
#: A change sent again under the same key (its answer was lost) is answered, never made twice.
IdempotencyKey = Annotated[
    str | None,
    WithJsonSchema({"type": "string", "pattern": r"^[A-Za-z0-9._:-]{8,60}$"}),  # a header is never null: left out
    Header(
        alias="Idempotency-Key",
        pattern=r"^[A-Za-z0-9._:-]{8,60}$",  # the schema states the rule (itb.clinic.usecases.pumps.REQUEST_KEY)
        description="8-60 letters, digits or ._:- ; the same key answers the same change",
    ),
]
