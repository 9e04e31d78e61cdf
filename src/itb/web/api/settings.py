"""The clinic's settings: its name and phone numbers (anyone signed in), every setting (the staff),
and an admin's change of them, from the version read (409 when someone changed them meanwhile).

Where messages go out is among them; the SMTP password and the webhook's secret are not (the
server's environment only): the answer says whether each is set there, never its value."""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import date, datetime
from typing import Literal

from fastapi import APIRouter
from pydantic import Field

from itb.clinic.services import SettingsView
from itb.domain.clinic_settings import (
    MESSAGE_SETTINGS,
    SMTP_PASSWORD_VARIABLE,
    WEBHOOK_SECRET_VARIABLE,
    WEEKDAY_NAMES,
    ClinicContacts,
)
from itb.web.api.answers import Answer, errors
from itb.web.api.deps import ClinicDep, CurrentUser
from itb.web.api.schemas import Strict

router = APIRouter(tags=["clinic"])

#: the secrets the server's environment holds, by the name the answer gives them
SECRETS = {"smtp_password": SMTP_PASSWORD_VARIABLE, "webhook_secret": WEBHOOK_SECRET_VARIABLE}
Shown = Literal["set", "not set"]


class ClinicContactsOut(Answer):
    """How families reach the clinic (null: not set)."""

    name: str | None
    day_phone: str | None
    after_hours_phone: str | None


class ClinicSettingsOut(ClinicContactsOut):
    """The settings in effect; ``defaults`` names those that are the startup default (the
    environment's), not stored. ``version`` 0: never changed."""

    clinic_days: list[str] = Field(description=f"open weekdays, of {', '.join(WEEKDAY_NAMES)}")
    closed_days: list[date]
    refill_margin_days: float = Field(description="days before the earliest plausible low-reservoir alarm")
    stale_margin_days: float = Field(description="days past its refill interval a vendor pump's record is stale")
    smtp_url: str | None = Field(description="the SMTP server as stored (null: the server's ITB_SMTP_URL)")
    smtp_user: str | None = Field(description="the SMTP login as stored (null: the server's ITB_SMTP_USER)")
    notify_from: str | None = Field(description="the sender's address as stored (null: the server's ITB_NOTIFY_FROM)")
    webhook_url: str | None = Field(description="the webhook as stored (null: the server's ITB_NOTIFY_WEBHOOK_URL)")
    smtp_password: Shown = Field(description=f"whether {SMTP_PASSWORD_VARIABLE} is set on the server, not its value")
    webhook_secret: Shown = Field(description=f"whether {WEBHOOK_SECRET_VARIABLE} is set on the server, not its value")
    defaults: list[str]
    version: int
    updated_at: datetime | None
    updated_by: str | None


class ClinicSettingsIn(Strict):
    """Every setting (null: the startup default; a blank name or number: none) and the ``version``
    read. Phone numbers as people write them (digits, spaces, + - ( ) . ,; 3-30 characters, at
    least 3 digits); closed days as YYYY-MM-DD; the margins in whole days. Where messages go out
    (null or blank: the server's environment): the SMTP server as smtp://, smtp+starttls:// or
    smtps:// host[:port], a user but never a password in it (that is ITB_SMTP_PASSWORD, on the
    server); the sender as "Name <a@b.org>" or "a@b.org"; the webhook as an http or https URL
    without credentials (its secret is ITB_NOTIFY_WEBHOOK_SECRET, on the server)."""

    name: str | None = Field(..., max_length=1000)
    day_phone: str | None = Field(..., max_length=1000)
    after_hours_phone: str | None = Field(..., max_length=1000)
    clinic_days: list[str] | None = Field(..., max_length=7, examples=[["mon", "tue", "thu"]])
    closed_days: list[str] | None = Field(..., max_length=1000, examples=[["2026-12-24", "2026-12-25"]])
    refill_margin_days: int | None = Field(..., examples=[7])
    stale_margin_days: int | None = Field(..., examples=[14])
    smtp_url: str | None = Field(..., max_length=1000, examples=["smtp+starttls://mail.example.org:587"])
    smtp_user: str | None = Field(..., max_length=1000, examples=["itb@example.org"])
    notify_from: str | None = Field(..., max_length=1000, examples=["Pump clinic <itb@example.org>"])
    webhook_url: str | None = Field(..., max_length=1000, examples=["https://gateway.example.org/itb"])
    version: int = Field(ge=0, le=2**31 - 1)


def contacts_json(contacts: ClinicContacts) -> dict:
    return {"name": contacts.name, "day_phone": contacts.day_phone, "after_hours_phone": contacts.after_hours_phone}


def secrets_shown(env: Mapping[str, str] = os.environ) -> dict[str, Shown]:
    """Whether each secret is set in the server's environment (``set`` / ``not set``), never its value."""
    return {name: "set" if env.get(variable, "").strip() else "not set" for name, variable in SECRETS.items()}


def settings_json(view: SettingsView) -> dict:
    return {
        **contacts_json(view.contacts),
        "clinic_days": view.clinic_days,
        "closed_days": view.closed_days,
        "refill_margin_days": view.refill_margin_days,
        "stale_margin_days": view.stale_margin_days,
        **{field: getattr(view, field) for field in MESSAGE_SETTINGS},
        **secrets_shown(),
        "defaults": list(view.defaults),
        "version": view.version,
        "updated_at": view.updated_at,
        "updated_by": view.updated_by,
    }


@router.get("/api/clinic/contacts", response_model=ClinicContactsOut, responses=errors(401))
def clinic_contacts(clinic: ClinicDep, me: CurrentUser) -> dict:
    """The clinic's name and phone numbers (anyone signed in, a caregiver too)."""
    return contacts_json(clinic.clinic_contacts(me))


@router.get("/api/clinic/settings", response_model=ClinicSettingsOut, responses=errors(401, 403))
def clinic_settings(clinic: ClinicDep, me: CurrentUser) -> dict:
    """Every setting in effect (the staff)."""
    return settings_json(clinic.clinic_settings(me))


@router.put("/api/clinic/settings", response_model=ClinicSettingsOut, responses=errors(401, 403, 409, 422))
def update_clinic_settings(body: ClinicSettingsIn, clinic: ClinicDep, me: CurrentUser) -> dict:
    """Replace every setting (an admin): 409 when they changed since ``version``, 422 naming each
    field and rule (nothing stored). Audited."""
    fields = body.model_dump(exclude={"version"})
    return settings_json(clinic.update_clinic_settings(me, **fields, expected_version=body.version))


__all__ = ["SECRETS", "ClinicSettingsIn", "ClinicSettingsOut", "router", "secrets_shown", "settings_json"]
