"""What a family's emergency letter and wallet card say: the child, the pump, the drug and its
concentration, the daily dose of the program the pump runs now, the low-reservoir alarm the clinic
plans from, the next visit booked, and the clinic's numbers.

Read from the record on every request, never stored: after a program change, a refill or a new
pump, the next letter says so. Visibility is the use cases' own (``clinic.patient``): a caregiver
reads their own child's only; another child's is "not found", as an id that does not exist. A
patient with no implanted pump gets a record without one (``pump`` is None), not an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from itb.adapters.db.models import Pump
from itb.clinic.derived import earliest_alarm_at
from itb.clinic.record_views import NextVisit, PumpBrief, _brief, _next_visit
from itb.clinic.services import Actor, Clinic
from itb.clinic.views import PatientSummary, summarize_patient
from itb.domain.clinic_settings import ClinicContacts


@dataclass(frozen=True)
class EmergencyPump:
    """The implanted pump as the letter names it. ``daily_dose_mcg`` and ``program``: the program it
    runs now (as last read); ``low_reservoir_alarm_at``: the earliest plausible alarm (the pump's
    own date or the one its learned flow gives, whichever is earlier), None when not known."""

    brief: PumpBrief
    implanted_at: datetime
    daily_dose_mcg: float
    program: dict[str, Any] | None
    low_reservoir_alarm_at: datetime | None
    low_reservoir_alarm_ml: float

    @property
    def has_alarm(self) -> bool:
        """A programmable pump beeps; a constant-flow one (no electronics) cannot."""
        return not self.brief.constant_flow


@dataclass(frozen=True)
class EmergencyRecord:
    """Everything the emergency letter and the wallet card say, as of ``at``."""

    patient: PatientSummary
    pump: EmergencyPump | None
    next_visit: NextVisit | None
    contacts: ClinicContacts
    at: datetime

    @property
    def withdrawal_risks(self) -> list[str]:
        """What puts this child at the highest risk of severe withdrawal (``domain.md``)."""
        p = self.patient
        flags = [
            (p.injury_t6_or_above, "spinal cord injury at T6 or above"),
            (p.cannot_communicate, "cannot tell you how they feel"),
            (p.earlier_withdrawal, "has had withdrawal before"),
        ]
        return [words for flag, words in flags if flag]


def _emergency_pump(pump: Pump) -> EmergencyPump:
    return EmergencyPump(
        brief=_brief(pump),
        implanted_at=pump.implanted_at,
        daily_dose_mcg=pump.daily_dose_mcg,
        program=pump.program,
        low_reservoir_alarm_at=earliest_alarm_at(pump),
        low_reservoir_alarm_ml=pump.low_reservoir_alarm_ml,
    )


def emergency_record(clinic: Clinic, actor: Actor, patient_id: int) -> EmergencyRecord:
    """The patient's emergency letter, read now, if the actor may see the patient (else NotFound)."""
    now = clinic.clock()
    contacts = clinic.clinic_contacts(actor)
    with clinic.sessions() as s:
        patient = clinic.patient(s, actor, patient_id)
        implanted = next((p for p in patient.pumps if p.status == "implanted"), None)
        return EmergencyRecord(
            patient=summarize_patient(patient),
            pump=None if implanted is None else _emergency_pump(implanted),
            next_visit=_next_visit(s, patient.id, now),
            contacts=contacts,
            at=now,
        )


__all__ = ["EmergencyPump", "EmergencyRecord", "emergency_record"]
