"""Complications: the clinic records what went wrong (an infection, a CSF leak, a catheter problem,
a pump pocket problem, withdrawal, overdose, other), of a patient and optionally a pump and the
refill whose volume discrepancy it explains. Audited as every record; the staff's (a caregiver
finds no such record: "not found", as for the staff's pages). The quality report counts them.

``Clinic.record_complication(actor, patient_id, ...)``, ``patient_complications``, ``complication_choices``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from itb.adapters.db import models as m
from itb.clinic.usecases.base import Actor, ClinicBase, NotFound
from itb.contracts.bounds import (
    DEFAULT_WINDOW,
    MAX_ID,
    MIN_ID,
    NOTE_MAX,
    event_violation,
    raise_violations,
    text_violation,
)
from itb.domain.errors import InvalidInput, Violation
from itb.domain.quality import COMPLICATION_KINDS

#: the record, named here for the interfaces' schemas (they do not import the database adapters)
Complication = m.Complication
#: who records and reads complications (a caregiver gets "not found")
STAFF = ("admin", "clinician", "nurse")


def _staff_only(actor: Actor, patient_id: int) -> None:
    if actor.role not in STAFF:
        raise NotFound(f"patient {patient_id}: not found")


def _links(s: Session, patient_id: int, pump_id: int | None, refill_id: int | None) -> int | None:
    """The pump and the refill named: one that does not exist is not found (404); another patient's
    is refused naming the field (422). With a refill and no pump, the refill's pump is the pump."""
    if pump_id is not None:
        pump = s.get(m.Pump, pump_id)
        if pump is None:
            raise NotFound(f"pump {pump_id}: not found")
        if pump.patient_id != patient_id:
            raise InvalidInput([Violation("pump_id", "is not this patient's pump")])
    if refill_id is not None:
        refill = s.get(m.Refill, refill_id)
        if refill is None:
            raise NotFound(f"refill {refill_id}: not found")
        of = s.get(m.Pump, refill.pump_id)
        if of is None or of.patient_id != patient_id:
            raise InvalidInput([Violation("refill_id", "is not a refill of this patient's pumps")])
        pump_id = refill.pump_id if pump_id is None else pump_id
    return pump_id


def complication_errors(kind: str, at: datetime, now: datetime, notes: str | None) -> list[Violation]:
    """A known kind, a time within the record's window and not in the future, a note of the bounds."""
    errs = []
    if kind not in COMPLICATION_KINDS:
        errs.append(Violation("kind", f"must be one of {', '.join(COMPLICATION_KINDS)}"))
    window = event_violation("at", at, now.date())
    if window is not None:
        errs.append(window)
    elif at > now:
        first, _ = DEFAULT_WINDOW.bounds(now.date())
        when = f"{now:%Y-%m-%d %H:%M}"
        errs.append(
            Violation(
                "at",
                f"must be from {first.isoformat()} to today, not after now ({when}): record it once it happened",
            )
        )
    bad = text_violation("notes", notes, max_length=NOTE_MAX, multiline=True)
    return errs + ([bad] if bad else [])


def id_errors(**ids: int | None) -> list[Violation]:
    """Each id named, within the columns' range (``itb.contracts.bounds``)."""
    return [
        Violation(k, f"must be from {MIN_ID} to {MAX_ID}")
        for k, v in ids.items()
        if v is not None and not MIN_ID <= v <= MAX_ID
    ]


class ComplicationUseCases(ClinicBase):
    """Record and read complications (the staff's)."""

    def record_complication(
        self,
        actor: Actor,
        patient_id: int,
        *,
        kind: str,
        at: datetime,
        pump_id: int | None = None,
        refill_id: int | None = None,
        notes: str | None = None,
    ) -> m.Complication:
        """Record a complication of a patient the staff sees; audited (``record_complication``)."""
        _staff_only(actor, patient_id)
        now = self.clock()
        raise_violations(complication_errors(kind, at, now, notes), id_errors(pump_id=pump_id, refill_id=refill_id))
        with self.transaction() as s:
            patient = self.patient(s, actor, patient_id)
            pump_id = _links(s, patient.id, pump_id, refill_id)
            record = m.Complication(
                patient_id=patient.id, pump_id=pump_id, refill_id=refill_id, kind=kind, at=at,
                notes=notes or None, by=actor.username, recorded_at=now,
            )  # fmt: skip
            self._add_audited(s, actor, "record_complication", "complication", record)
            return record

    def patient_complications(self, actor: Actor, patient_id: int) -> list[m.Complication]:
        """The patient's complications, the latest first."""
        _staff_only(actor, patient_id)
        with self.sessions() as s:
            self.patient(s, actor, patient_id)
            query = (
                select(m.Complication)
                .where(m.Complication.patient_id == patient_id)
                .order_by(m.Complication.at.desc(), m.Complication.id.desc())
            )
            return list(s.execute(query).scalars())

    def complication_choices(self, actor: Actor, patient_id: int) -> tuple[list[dict], list[dict]]:
        """What a complication may name: the patient's pumps, and their refills the latest first
        (``id``, ``pump_id``, ``at``, ``discrepancy_ml``, ``flagged``)."""
        _staff_only(actor, patient_id)
        with self.sessions() as s:
            patient = self.patient(s, actor, patient_id)
            pumps = [
                {"id": p.id, "model": p.model, "serial": p.serial, "status": p.status, "implanted_at": p.implanted_at}
                for p in patient.pumps
            ]
            r = m.Refill
            query = (
                select(r.id, r.pump_id, r.at, r.discrepancy_ml, r.flagged)
                .join(m.Pump, m.Pump.id == r.pump_id)
                .where(m.Pump.patient_id == patient.id)
                .order_by(r.at.desc(), r.id.desc())
            )
            refills = [row._asdict() for row in s.execute(query).all()]
        return pumps, refills


__all__ = ["STAFF", "Complication", "ComplicationUseCases", "complication_errors"]
