"""Appointments: booking (by staff, and the visits the service books itself), MRI with its check, status."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy.orm import Session

from itb.adapters.db import models as m
from itb.clinic.derived import estimated_reservoir_ml
from itb.clinic.usecases.base import Actor, AuditBatch, ClinicBase, Conflict, NotFound, require, row_json
from itb.contracts.bounds import NOTE_MAX, event_violation, raise_violations, text_violation, violations
from itb.domain.devices import MODELS
from itb.domain.errors import InvalidInput, Violation

APPOINTMENT_KINDS = ("screening", "titration", "refill", "mri", "mri_check", "replacement")
#: How long an MRI scan takes unless given (clinic setting, unverified). The post-scan check is due
#: at the scan's end (device manual: a pump that alarmed during the scan may resume only after it
#: is interrogated, so it is checked on completion).
MRI_SCAN_MINUTES = 60.0
#: The longest scan booked (clinic setting).
MRI_SCAN_MAX_MINUTES = 480.0
APPOINTMENT_STATUSES = ("booked", "done", "missed", "cancelled")
#: Booked appointments start at this time of day unless given.
DEFAULT_APPOINTMENT_TIME = time(10, 0)


class AppointmentUseCases(ClinicBase):
    def _add_booking(
        self, s: Session, actor: Actor, pump: m.Pump, kind: str, day: date, notes: str,
        batch: AuditBatch | None = None,
    ) -> m.Appointment:  # fmt: skip
        """A visit the service books itself (after a refill or a titration step), audited (with
        ``batch``: its entry kept there, see :meth:`ClinicBase._add_audited`)."""
        appointment = m.Appointment(
            patient_id=pump.patient_id,
            pump_id=pump.id,
            kind=kind,
            status="booked",
            at=datetime.combine(day, DEFAULT_APPOINTMENT_TIME),
            by=actor.username,
            notes=notes,
        )
        self._add_audited(s, actor, "book_appointment", "appointment", appointment, batch=batch)
        return appointment

    def book(
        self,
        actor: Actor,
        patient_id: int,
        *,
        kind: str,
        at: datetime,
        pump_id: int | None = None,
        notes: str | None = None,
    ) -> m.Appointment:
        require(actor, "admin", "clinician", "nurse")
        raise_violations(text_violation("notes", notes, max_length=NOTE_MAX, multiline=True))
        self._check_booking(kind, at)
        with self.transaction() as s:
            return self._insert_booking(s, actor, patient_id, kind, at, pump_id, notes)

    def _check_booking(self, kind: str, at: datetime, field: str = "at") -> None:
        """Refuses a booking of an unknown kind, outside the bookings' window (``itb.contracts.bounds``)
        or on a day the clinic is closed (nothing stored)."""
        errs = violations(event_violation(field, at, self.clock().date()))
        if kind not in APPOINTMENT_KINDS:
            errs.append(Violation("kind", f"must be one of {', '.join(APPOINTMENT_KINDS)}"))
        if not errs and not self.config.calendar.is_open(at.date()):
            errs.append(Violation(field, f"{at:%A %Y-%m-%d} is not a clinic day"))
        if errs:
            raise InvalidInput(errs)

    def _insert_booking(
        self, s: Session, actor: Actor, patient_id: int, kind: str, at: datetime, pump_id: int | None,
        notes: str | None,
    ) -> m.Appointment:  # fmt: skip
        self.patient(s, actor, patient_id)
        if pump_id is not None and self.pump(s, actor, pump_id).patient_id != patient_id:
            raise InvalidInput([Violation("pump_id", "is not this patient's pump")])
        appointment = m.Appointment(
            patient_id=patient_id, pump_id=pump_id, kind=kind, at=at, notes=notes, by=actor.username
        )
        self._add_audited(s, actor, "book_appointment", "appointment", appointment)
        return appointment

    def book_mri(
        self,
        actor: Actor,
        patient_id: int,
        at: datetime,
        duration_minutes: float = MRI_SCAN_MINUTES,
        field_strength_t: float | None = None,
    ) -> tuple[m.Appointment, m.Appointment, Any]:
        """An MRI for a patient with a pump: the scan with the model's checklist, and the post-scan
        check (interrogate the pump) due at the scan's end. The check is on the worklist from then
        until it is done (an interrogation after the scan does it). ``field_strength_t``: the
        scanner's field (tesla), checked against the pump's MRI conditions (None: a reminder to check).
        Bad input is refused before anything is stored."""
        from itb.domain.mri import mri_plan

        require(actor, "admin", "clinician", "nurse")
        if not 0 < duration_minutes <= MRI_SCAN_MAX_MINUTES:
            limit = f"{MRI_SCAN_MAX_MINUTES:g}"
            raise InvalidInput([Violation("duration_minutes", f"must be more than 0 and at most {limit}")])
        raise_violations(event_violation("at", at, self.clock().date()))  # before its check's time is counted
        with self.sessions() as s:
            patient = self.patient(s, actor, patient_id)
            pump = next((p for p in patient.pumps if p.status == "implanted"), None)
            if pump is None:
                raise InvalidInput([Violation("patient", "has no implanted pump: book the scan as usual")])
            now = self.clock()
            device = MODELS.get(pump.model)
            if device is None:
                raise InvalidInput(
                    [Violation("pump", f"a {pump.model} pump has no MRI checklist here: follow its own manual")]
                )
            plan = mri_plan(device, estimated_reservoir_ml(pump, now), pump.daily_dose_mcg, field_strength_t)
            pump_id = pump.id
        steps = "Before: " + " ".join(plan.before) + " After: " + " ".join(plan.after)
        if plan.warnings:
            steps += " Warnings: " + " ".join(plan.warnings)
        check_at = at + timedelta(minutes=duration_minutes)
        self._check_booking("mri", at)
        self._check_booking("mri_check", check_at, "duration_minutes")  # both or neither
        after = "Interrogate the pump after the MRI: " + " ".join(plan.after)
        with self.transaction() as s:  # the scan and its check in one transaction: both or neither
            scan = self._insert_booking(s, actor, patient_id, "mri", at, pump_id, steps)
            check = self._insert_booking(s, actor, patient_id, "mri_check", check_at, pump_id, after)
        return scan, check, plan

    def set_appointment_status(self, actor: Actor, appointment_id: int, status: str) -> m.Appointment:
        require(actor, "admin", "clinician", "nurse")
        if status not in APPOINTMENT_STATUSES[1:]:
            raise InvalidInput([Violation("status", "must be one of done, missed, cancelled")])
        with self.transaction() as s:
            appointment = s.get(m.Appointment, appointment_id)
            if appointment is None:
                raise NotFound(f"appointment {appointment_id}: not found")
            self.patient(s, actor, appointment.patient_id)
            if appointment.status != "booked":  # the request does not fit the record's state: 409
                raise Conflict(f"appointment {appointment_id} is already {appointment.status}")
            before = row_json(appointment)
            appointment.status = status
            self._audit(
                s,
                actor,
                f"appointment_{status}",
                "appointment",
                appointment.id,
                before=before,
                after=row_json(appointment),
            )
            return appointment
