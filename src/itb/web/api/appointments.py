"""Appointments: the calendar, bookings (an MRI with its pump plan), and their outcome."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Literal

from fastapi import APIRouter

from itb.clinic import views
from itb.clinic.services import row_json
from itb.web.api.answers import WRITE, AppointmentOut, MriBookingOut, errors
from itb.web.api.deps import ClinicDep, CurrentUser
from itb.web.api.schemas import AppointmentIn, AppointmentStatusIn, IsoDate, MriIn, RecordId

router = APIRouter(tags=["appointments"])


@router.get(
    "/api/appointments",
    response_model=list[AppointmentOut],  # type: ignore[valid-type]
    responses=errors(401, 422),
)
def appointments(
    clinic: ClinicDep,
    me: CurrentUser,
    status: Literal["booked", "done", "missed", "cancelled"] | None = None,
    start: IsoDate | None = None,
    end: IsoDate | None = None,
) -> list:
    """The visible patients' appointments in time order, of one ``status``, from ``start`` to ``end`` (days)."""
    since = datetime.combine(start, datetime.min.time()) if start else None
    before = datetime.combine(end, datetime.min.time()) + timedelta(days=1) if end and end < date.max else None
    return views.appointments(clinic, me, status, since, before)


@router.post("/api/appointments", status_code=201, response_model=AppointmentOut, responses=errors(*WRITE))
def book(body: AppointmentIn, clinic: ClinicDep, me: CurrentUser) -> dict:
    a = clinic.book(me, body.patient_id, kind=body.kind, at=body.at, pump_id=body.pump_id, notes=body.notes)
    return row_json(a)


@router.post("/api/appointments/{appointment_id}/status", response_model=AppointmentOut, responses=errors(*WRITE))
def set_status(appointment_id: RecordId, body: AppointmentStatusIn, clinic: ClinicDep, me: CurrentUser) -> dict:
    return row_json(clinic.set_appointment_status(me, appointment_id, body.status))


@router.post("/api/patients/{patient_id}/mri", status_code=201, response_model=MriBookingOut, responses=errors(*WRITE))
def book_mri(patient_id: RecordId, body: MriIn, clinic: ClinicDep, me: CurrentUser) -> dict:
    """Book a scan and the pump check after it, with the pump's MRI plan (its field-strength check)."""
    scan, check, plan = clinic.book_mri(me, patient_id, body.at, body.duration_minutes, body.field_strength_t)
    return {
        "scan": row_json(scan),
        "check": row_json(check),
        "before": list(plan.before),
        "after": list(plan.after),
        "warnings": list(plan.warnings),
        "field_strength_t": plan.field_strength_t,
        "field_check": plan.field_check,
        "field_condition": plan.field_condition,
    }
