"""Signing in (OAuth2 password flow) and out, and the service's health."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.security import OAuth2PasswordRequestForm

from itb.clinic import signin, views
from itb.web.api.answers import ErrorOut, HealthOut, SignedOutOut, TokenOut, errors
from itb.web.api.deps import ClinicDep, CurrentUser, make_token

DISCLAIMER = "For education, planning and research. Not a certified medical device."

router = APIRouter()

SIGN_IN_REFUSED: dict[int | str, dict[str, Any]] = {
    429: {"model": ErrorOut, "description": "too many failed sign-ins for the account or from the address: "
          "wait the Retry-After seconds"},
    503: {"model": ErrorOut, "description": "the server is busy checking other sign-ins: retry after Retry-After"},
}  # fmt: skip


def client_address(request: Request) -> str:
    """The address a request came from, as the throttle counts it (the proxy's, behind a proxy)."""
    return request.client.host if request.client else "unknown"


@router.post(
    "/api/auth/token", tags=["auth"], response_model=TokenOut, responses={**errors(401, 422), **SIGN_IN_REFUSED}
)
def token(request: Request, clinic: ClinicDep, form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> dict:
    """A bearer token (8 hours, or until the user signs out) for a username and password."""
    try:
        signed = signin.sign_in(clinic, form.username, form.password, client_address(request))
    except (signin.TooManySignIns, signin.SignInBusy) as exc:
        status = 429 if isinstance(exc, signin.TooManySignIns) else 503
        raise HTTPException(status, str(exc), headers={"Retry-After": str(exc.retry_after_s)}) from None
    if signed is None:
        raise HTTPException(401, "wrong username or password", headers={"WWW-Authenticate": "Bearer"})
    user = signed.actor
    access = make_token(user, request.app.state.secret, signed.token_version)
    return {"access_token": access, "token_type": "bearer", "role": user.role}


@router.post("/api/auth/logout", tags=["auth"], response_model=SignedOutOut, responses=errors(401))
def logout(clinic: ClinicDep, me: CurrentUser) -> dict:
    """Sign out: this token, and every other token and page session of the user, stops working at once."""
    signin.sign_out(clinic, me)
    return {"status": "signed out", "username": me.username}


@router.get("/api/health", tags=["meta"], response_model=HealthOut)
def health(clinic: ClinicDep) -> dict:
    views.health_check(clinic)
    return {"status": "ok", "disclaimer": DISCLAIMER}
