"""Signing in (OAuth2 password flow) and the service's health."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.security import OAuth2PasswordRequestForm

from itb.clinic import views
from itb.web.api.deps import ClinicDep, make_token
from itb.web.api.schemas import HealthOut, TokenOut, errors

DISCLAIMER = "For education, planning and research. Not a certified medical device."

router = APIRouter()


@router.post("/api/auth/token", tags=["auth"], response_model=TokenOut, responses=errors(401, 422))
def token(request: Request, clinic: ClinicDep, form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> dict:
    """A bearer token (8 hours) for a username and password."""
    user = views.sign_in(clinic, form.username, form.password)
    if user is None:
        raise HTTPException(401, "wrong username or password", headers={"WWW-Authenticate": "Bearer"})
    return {"access_token": make_token(user, request.app.state.secret), "token_type": "bearer", "role": user.role}


@router.get("/api/health", tags=["meta"], response_model=HealthOut)
def health(clinic: ClinicDep) -> dict:
    views.health_check(clinic)
    return {"status": "ok", "disclaimer": DISCLAIMER}
