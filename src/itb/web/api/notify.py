"""Who the clinic's messages reach, and the outbox.

- A child's contacts (``/api/patients/{id}/contacts``): the staff and the child's own caregiver
  keep them (another child: 404). The staff's list (``/api/staff-contacts``: on call, the morning
  digest) is the staff's (a caregiver: 403). A contact is changed from the ``version`` read (409
  when someone changed it meanwhile) and removed the same way; every change is audited.
- The outbox (``/api/notifications``, the staff's): the messages the newest first, and an admin's
  pass of it now (``/api/notifications/run``; ``dry_run``: what it would do, nothing stored).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Query

from itb.clinic import outbox_views
from itb.clinic.services import row_json
from itb.contracts.bounds import MAX_ID, MIN_ID
from itb.web.api.answers import READ, WRITE, errors
from itb.web.api.deps import ClinicDep, CurrentUser
from itb.web.api.notify_schemas import (
    ContactIn,
    ContactOut,
    ContactUpdate,
    NotifyReportOut,
    OutboxPageOut,
    OutboxStatus,
    StaffContactIn,
    VersionIn,
)
from itb.web.api.schemas import RecordId

router = APIRouter(tags=["notifications"])
_CONTACTS = list[ContactOut]  # type: ignore[valid-type]


@router.get("/api/patients/{patient_id}/contacts", response_model=_CONTACTS, responses=errors(*READ))
def patient_contacts(patient_id: RecordId, clinic: ClinicDep, me: CurrentUser) -> list[dict]:
    """The child's contacts, oldest first (a caregiver: their own child's)."""
    return [row_json(c) for c in clinic.contacts(me, patient_id)]


@router.post(
    "/api/patients/{patient_id}/contacts",
    status_code=201,
    response_model=ContactOut,
    responses=errors(401, 403, 404, 422),
)
def add_patient_contact(patient_id: RecordId, body: ContactIn, clinic: ClinicDep, me: CurrentUser) -> dict:
    """A new contact of the child (the staff, or the child's caregiver). Audited."""
    return row_json(clinic.add_contact(me, patient_id, **body.fields()))


@router.get("/api/staff-contacts", response_model=_CONTACTS, responses=errors(401, 403))
def staff_contacts(clinic: ClinicDep, me: CurrentUser) -> list[dict]:
    """The staff's list (on call, the morning digest), oldest first."""
    return [row_json(c) for c in clinic.contacts(me, None)]


@router.post("/api/staff-contacts", status_code=201, response_model=ContactOut, responses=errors(401, 403, 404, 422))
def add_staff_contact(body: StaffContactIn, clinic: ClinicDep, me: CurrentUser) -> dict:
    """A new member of the staff's list (404: no login ``user_id``). Audited."""
    return row_json(clinic.add_contact(me, None, **body.fields()))


@router.put("/api/contacts/{contact_id}", response_model=ContactOut, responses=errors(*WRITE))
def update_contact(contact_id: RecordId, body: ContactUpdate, clinic: ClinicDep, me: CurrentUser) -> dict:
    """Replace every field of a contact, from the ``version`` read (409 when it changed since). Audited."""
    return row_json(clinic.update_contact(me, contact_id, **body.fields()))


@router.post("/api/contacts/{contact_id}/remove", response_model=ContactOut, responses=errors(*WRITE))
def remove_contact(contact_id: RecordId, body: VersionIn, clinic: ClinicDep, me: CurrentUser) -> dict:
    """Take a contact off its list, from the ``version`` read: it gets nothing more (kept, since the
    outbox names it). Audited."""
    return row_json(clinic.remove_contact(me, contact_id, expected_version=body.version))


@router.get("/api/notifications", response_model=OutboxPageOut, responses=errors(401, 403, 422))
def notifications(
    clinic: ClinicDep,
    me: CurrentUser,
    status: OutboxStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=outbox_views.PAGE_MAX)] = outbox_views.PAGE_DEFAULT,
    before_id: Annotated[int | None, Query(ge=MIN_ID, le=MAX_ID)] = None,
) -> dict:
    """The outbox, the newest first (the staff): ``status`` one of the outbox's, or ``problems``
    (the messages that could not be sent: failed, or pending after a failed attempt)."""
    return asdict(outbox_views.outbox_page(clinic, me, status=status, limit=limit, before_id=before_id))


@router.post("/api/notifications/run", response_model=NotifyReportOut, responses=errors(401, 403, 422))
def run_notifications(clinic: ClinicDep, me: CurrentUser, dry_run: bool = False, retry_now: bool = False) -> dict:
    """One pass of the outbox now (an admin): queue what is due, send what may go, record what became
    of each. ``dry_run``: what it would queue and send, nothing stored nor sent. ``retry_now``: the
    messages that could not be sent are tried now, not at their next attempt (a channel was repaired)."""
    report = clinic.notify_run(me, dry_run=dry_run, retry_now=retry_now)
    return {**asdict(report), "counts": report.counts()}


__all__ = ["router"]
