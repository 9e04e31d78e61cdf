"""The every-morning worklist, read from the database in a few grouped queries.

The exact forecast is stored with each pump's state (see ``Clinic._store_view``), so the
worklist never recomputes it: one query for the implanted pumps and their patients, one per
kind of appointment or flag, then :func:`itb.domain.worklist.build_worklist` orders them.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from itb.adapters.db import models as m
from itb.domain.scheduling import BookingSettings
from itb.domain.worklist import PumpSituation, WorkItem, build_worklist


def situations(session: Session, now: datetime, patient_ids: set[int] | None = None) -> list[PumpSituation]:
    pumps = (
        select(m.Pump, m.Patient).join(m.Patient, m.Patient.id == m.Pump.patient_id).where(m.Pump.status == "implanted")
    )
    if patient_ids is not None:
        pumps = pumps.where(m.Patient.id.in_(patient_ids))
    rows = session.execute(pumps).all()

    next_booked: dict[tuple[int, str], datetime] = {}
    for patient_id, kind, at in session.execute(
        select(m.Appointment.patient_id, m.Appointment.kind, func.min(m.Appointment.at))
        .where(m.Appointment.status == "booked", m.Appointment.at >= now)
        .group_by(m.Appointment.patient_id, m.Appointment.kind)
    ):
        next_booked[(patient_id, kind)] = at
    overdue: dict[int, list[tuple[str, object]]] = defaultdict(list)
    missed: dict[int, list[tuple[str, object]]] = defaultdict(list)
    for patient_id, kind, at, status in session.execute(
        select(m.Appointment.patient_id, m.Appointment.kind, m.Appointment.at, m.Appointment.status).where(
            ((m.Appointment.status == "booked") & (m.Appointment.at < now)) | (m.Appointment.status == "missed")
        )
    ):
        (overdue if status == "booked" else missed)[patient_id].append((kind, at.date()))
    flagged: dict[int, int] = dict(
        session.execute(
            select(m.Refill.pump_id, func.count())
            .where(m.Refill.flagged.is_(True), m.Refill.reviewed_by.is_(None))
            .group_by(m.Refill.pump_id)
        ).all()
    )
    out = []
    for pump, patient in rows:
        refill = next_booked.get((patient.id, "refill"))
        titration = next_booked.get((patient.id, "titration"))
        mri_pending = pump.last_mri_at is not None and (
            pump.last_interrogation_at is None or pump.last_interrogation_at <= pump.last_mri_at
        )
        out.append(
            PumpSituation(
                patient_id=patient.id,
                patient_name=patient.name,
                pump_id=pump.id,
                low_reservoir_alarm_at=pump.low_reservoir_alarm_at,
                empty_at=pump.empty_at,
                next_refill_booked=refill.date() if refill else None,
                eri_at=pump.eri_at,
                eri_reached=pump.eri_reached,
                titrating=patient.phase == "titrating",
                last_program_change=(pump.last_program_change_at or pump.implanted_at).date(),
                next_titration_booked=titration.date() if titration else None,
                mri_check_pending=mri_pending,
                unreviewed_discrepancies=flagged.get(pump.id, 0),
                overdue_appointments=tuple(overdue.get(patient.id, ())),  # type: ignore[arg-type]
                missed_appointments=tuple(missed.get(patient.id, ())),  # type: ignore[arg-type]
                high_risk=patient.high_risk,
            )
        )
    return out


def worklist(
    session: Session, now: datetime, settings: BookingSettings, patient_ids: set[int] | None = None
) -> list[WorkItem]:
    return build_worklist(situations(session, now, patient_ids), now, settings)
