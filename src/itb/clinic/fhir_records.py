"""The records one patient's FHIR resources are made from, read in a few grouped queries.

The read side of :mod:`itb.interop.fhir`: what the record holds, as it holds it, behind the same
roles as the rest of the clinic (a caregiver reads only their own child; the audit log is the
admin's). Nothing here is a copy: the reservoir and forecast "now" are computed by the mapping
from the pump's last reading when the resources are made.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from itb.adapters.db import models as m
from itb.clinic.services import Actor, Clinic

#: who may read the audit log (``GET /api/audit``'s rule): only they get AuditEvent resources
AUDIT_READERS = ("admin",)


@dataclass(frozen=True)
class PatientRecords:
    """Everything of one patient the FHIR mapping reads (each list in the order it happened)."""

    patient: m.Patient
    pumps: list[m.Pump]
    versions: list[m.ProgramVersion]
    refills: list[m.Refill]
    boluses: list[m.PumpEvent]
    sessions: list[m.PumpSession]
    appointments: list[m.Appointment]
    assessments: list[m.Assessment]
    screenings: list[m.ScreeningTrial]
    reports: list[m.SymptomReport]
    audit: list[m.AuditEntry]
    now: datetime
    #: the clinic's time zone: the record's times are its local times
    time_zone: str


def _patient_ids(clinic: Clinic, s: Session, actor: Actor) -> list[int]:
    query = clinic.visible_patients(s, actor).with_only_columns(m.Patient.id).order_by(m.Patient.id)
    return list(s.execute(query).scalars())


def visible_patient_ids(clinic: Clinic, actor: Actor) -> list[int]:
    """The patients the actor may read, by id (a caregiver: their children)."""
    with clinic.sessions() as s:
        return _patient_ids(clinic, s, actor)


def patient_records(clinic: Clinic, actor: Actor, patient_id: int) -> PatientRecords:
    """One patient's records (``NotFound`` for a patient the actor may not read)."""
    with clinic.sessions() as s:
        return _records(clinic, s, actor, clinic.patient(s, actor, patient_id))


def _records(clinic: Clinic, s: Session, actor: Actor, patient: m.Patient) -> PatientRecords:
    pumps = list(patient.pumps)
    pump_ids = [p.id for p in pumps]

    def of_pumps(kind: Any, *extra: Any) -> list:
        if not pump_ids:
            return []
        query = select(kind).where(kind.pump_id.in_(pump_ids), *extra).order_by(kind.at, kind.id)
        return list(s.execute(query).scalars())

    def of_patient(kind: Any) -> list:
        query = select(kind).where(kind.patient_id == patient.id).order_by(kind.at, kind.id)
        return list(s.execute(query).scalars())

    appointments = of_patient(m.Appointment)
    audit: list[m.AuditEntry] = []
    if actor.role in AUDIT_READERS:
        about = [(m.AuditEntry.entity == "patient") & (m.AuditEntry.entity_id == patient.id)]
        if pump_ids:
            about.append((m.AuditEntry.entity == "pump") & m.AuditEntry.entity_id.in_(pump_ids))
        if appointments:
            ids = [a.id for a in appointments]
            about.append((m.AuditEntry.entity == "appointment") & m.AuditEntry.entity_id.in_(ids))
        audit = list(s.execute(select(m.AuditEntry).where(or_(*about)).order_by(m.AuditEntry.id)).scalars())
    return PatientRecords(
        patient=patient,
        pumps=pumps,
        versions=of_pumps(m.ProgramVersion),
        refills=of_pumps(m.Refill),
        boluses=[e for e in of_pumps(m.PumpEvent, m.PumpEvent.type == "bolus_started") if e.at is not None],
        sessions=of_pumps(m.PumpSession),
        appointments=appointments,
        assessments=of_patient(m.Assessment),
        screenings=of_patient(m.ScreeningTrial),
        reports=of_patient(m.SymptomReport),
        audit=audit,
        now=clinic.clock(),
        time_zone=clinic.config.time_zone,
    )


def all_patient_records(clinic: Clinic, actor: Actor) -> Iterator[PatientRecords]:
    """Every patient the actor may read, with their records, by id: one patient at a time (the
    clinic's export writes each before the next is read)."""
    with clinic.sessions() as s:
        for pid in _patient_ids(clinic, s, actor):
            yield _records(clinic, s, actor, clinic.patient(s, actor, pid))
            s.expunge_all()


def patients_alone(clinic: Clinic, actor: Actor, ids: list[int] | None = None) -> list[PatientRecords]:
    """The patients of ``ids`` (None: all) the actor may read, each without their other records (a
    Patient search answers only Patient resources: one query, however large the clinic)."""
    with clinic.sessions() as s:
        query = clinic.visible_patients(s, actor).order_by(m.Patient.id)
        if ids is not None:
            query = query.where(m.Patient.id.in_(ids))
        now, zone = clinic.clock(), clinic.config.time_zone
        return [
            PatientRecords(p, [], [], [], [], [], [], [], [], [], [], now, zone) for p in s.execute(query).scalars()
        ]


def patient_refs(clinic: Clinic, actor: Actor) -> dict[str, int]:
    """The clinic's identifiers (``patient_ref``) of the patients the actor may read, to their ids."""
    with clinic.sessions() as s:
        query = clinic.visible_patients(s, actor).with_only_columns(m.Patient.patient_ref, m.Patient.id)
        return {ref: pid for ref, pid in s.execute(query) if ref is not None}


__all__ = [
    "AUDIT_READERS",
    "PatientRecords",
    "all_patient_records",
    "patient_records",
    "patient_refs",
    "patients_alone",
    "visible_patient_ids",
]
