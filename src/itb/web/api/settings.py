"""The clinic's settings: its name and phone numbers (anyone signed in), every setting (the staff),
and an admin's change of them, from the version read (409 when someone changed them meanwhile)."""

from __future__ import annotations

from datetime import date, datetime

from fastapi import APIRouter
from pydantic import Field

from itb.clinic.services import SettingsView
from itb.domain.clinic_settings import WEEKDAY_NAMES, ClinicContacts
from itb.web.api.deps import ClinicDep, CurrentUser
from itb.web.api.schemas import Answer, Strict, errors

router = APIRouter(tags=["clinic"])


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
    defaults: list[str]
    version: int
    updated_at: datetime | None
    updated_by: str | None


class ClinicSettingsIn(Strict):
    """Every setting (null: the startup default; a blank name or number: none) and the ``version``
    read. Phone numbers as people write them (digits, spaces, + - ( ) . ,; 3-30 characters, at
    least 3 digits); closed days as YYYY-MM-DD; the margins in whole days."""

    name: str | None = Field(..., max_length=1000)
    day_phone: str | None = Field(..., max_length=1000)
    after_hours_phone: str | None = Field(..., max_length=1000)
    clinic_days: list[str] | None = Field(..., max_length=7, examples=[["mon", "tue", "thu"]])
    closed_days: list[str] | None = Field(..., max_length=1000, examples=[["2026-12-24", "2026-12-25"]])
    refill_margin_days: int | None = Field(..., examples=[7])
    stale_margin_days: int | None = Field(..., examples=[14])
    version: int = Field(ge=0, le=2**31 - 1)


def contacts_json(contacts: ClinicContacts) -> dict:
    return {"name": contacts.name, "day_phone": contacts.day_phone, "after_hours_phone": contacts.after_hours_phone}


def settings_json(view: SettingsView) -> dict:
    return {
        **contacts_json(view.contacts),
        "clinic_days": view.clinic_days,
        "closed_days": view.closed_days,
        "refill_margin_days": view.refill_margin_days,
        "stale_margin_days": view.stale_margin_days,
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


__all__ = ["ClinicSettingsIn", "ClinicSettingsOut", "router"]
