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

from itb.clinic.services import Actor, Clinic

TOKEN_HOURS = 8

oauth2 = OAuth2PasswordBearer(tokenUrl="/api/auth/token")


def make_token(user: Actor, secret: str) -> str:
    """A bearer token (JWT, HS256) for ``user``, valid for ``TOKEN_HOURS``."""
    claims = {
        "sub": user.username,
        "role": user.role,
        "uid": user.user_id,
        "exp": datetime.now(UTC) + timedelta(hours=TOKEN_HOURS),
    }
    return jwt.encode(claims, secret, algorithm="HS256")


def get_clinic(request: Request) -> Clinic:
    clinic: Clinic = request.app.state.clinic
    return clinic


def current_actor(request: Request, token: Annotated[str, Depends(oauth2)]) -> Actor:
    try:
        claims = jwt.decode(token, request.app.state.secret, algorithms=["HS256"])
    except jwt.PyJWTError:
        raise HTTPException(401, "invalid or expired token", headers={"WWW-Authenticate": "Bearer"}) from None
    return Actor(claims["sub"], claims["role"], claims["uid"])


ClinicDep = Annotated[Clinic, Depends(get_clinic)]
CurrentUser = Annotated[Actor, Depends(current_actor)]
#: A change sent again under the same key (its answer was lost) is answered, never made twice.
IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", description="8-60 letters, digits or ._:- ; the same key answers the same change"),
]
