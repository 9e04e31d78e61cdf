"""One refill, and one recorded session of a vendor's programmer, read by their own id: what the
printed summary and the API show of each. The patient, the pump, the drug and its lot, the
volumes, the program the pump ran after it, the alarm date that followed, the next visit booked,
and who did it, as plain data (times are the clinic's local times, volumes mL, doses mcg).

Visibility is the use cases' own (``clinic.pump``): a caregiver reads their own child's records
only; another child's is "not found", as an id that does not exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from itb.adapters.db.models import Appointment, ProgramVersion, Pump, PumpSession, Refill
from itb.clinic.derived import is_constant_flow
from itb.clinic.services import Actor, Clinic, NotFound
from itb.clinic.views import PatientSummary, summarize_patient

Of = TypeVar("Of", Refill, PumpSession)


@dataclass(frozen=True)
class PumpBrief:
    """The pump a record is of, as its header names it (its concentration and status as now)."""

    id: int
    patient_id: int
    model: str
    serial: str
    reservoir_capacity_ml: float
    connection: str
    status: str
    concentration_mcg_per_ml: float
    constant_flow: bool


@dataclass(frozen=True)
class NextVisit:
    """The patient's next visit booked from now on."""

    at: datetime
    kind: str


@dataclass(frozen=True)
class RefillRecord:
    """A refill as recorded. ``program``: the one the pump ran after it. ``latest``: no later refill
    followed, so the pump's alarm date (as last read) is this refill's (else ``None``)."""

    id: int
    at: datetime
    by: str
    patient: PatientSummary
    pump: PumpBrief
    product: str | None
    concentration_mcg_per_ml: float
    lot: str | None
    expected_ml: float
    withdrawn_ml: float
    discrepancy_ml: float
    added_ml: float
    bridge_bolus_mcg: float | None
    flagged: bool
    reviewed_by: str | None
    program: dict[str, Any] | None
    latest: bool
    low_reservoir_alarm_at: datetime | None
    next_visit: NextVisit | None


@dataclass(frozen=True)
class SessionRecord:
    """A session of the vendor's programmer as recorded (``kind``: refill, program, interrogation,
    bolus, mri_check, import, registration), each entry as given (``None``: not given). ``latest``:
    no later session followed, so the pump's concentration and ITB's alarm date are this session's."""

    id: int
    at: datetime
    by: str
    kind: str
    patient: PatientSummary
    pump: PumpBrief
    product: str | None
    concentration_mcg_per_ml: float | None
    lot: str | None
    itb_expected_ml: float | None
    vendor_expected_ml: float | None
    withdrawn_ml: float | None
    added_ml: float | None
    reservoir_ml: float | None
    low_reservoir_alarm_ml: float | None
    dose_mcg: float | None
    program: dict[str, Any] | None
    latest: bool
    low_reservoir_alarm_at: datetime | None
    vendor_alarm_at: datetime | None
    warnings: list[str]
    reviewed_by: str | None
    next_visit: NextVisit | None


def refill_record(clinic: Clinic, actor: Actor, refill_id: int) -> RefillRecord:
    """One refill, if its pump is one the actor may see (else NotFound)."""
    now = clinic.clock()
    with clinic.sessions() as s:
        r, pump = _with_pump(clinic, s, actor, Refill, refill_id, "refill")
        latest = pump.last_refill_at is None or pump.last_refill_at <= r.at
        return RefillRecord(
            id=r.id, at=r.at, by=r.by, patient=summarize_patient(pump.patient), pump=_brief(pump),
            product=r.product, concentration_mcg_per_ml=r.concentration_mcg_per_ml, lot=r.lot,
            expected_ml=r.expected_ml, withdrawn_ml=r.withdrawn_ml, discrepancy_ml=r.discrepancy_ml,
            added_ml=r.added_ml, bridge_bolus_mcg=r.bridge_bolus_mcg, flagged=r.flagged, reviewed_by=r.reviewed_by,
            program=_program_at(s, pump, r.at), latest=latest,
            low_reservoir_alarm_at=pump.low_reservoir_alarm_at if latest else None,
            next_visit=_next_visit(s, pump.patient_id, now),
        )  # fmt: skip


def session_record(clinic: Clinic, actor: Actor, session_id: int) -> SessionRecord:
    """One recorded session, if its pump is one the actor may see (else NotFound)."""
    now = clinic.clock()
    with clinic.sessions() as s:
        r, pump = _with_pump(clinic, s, actor, PumpSession, session_id, "pump session")
        data = r.data or {}
        latest = pump.reading_at is None or pump.reading_at <= r.at
        conc = _number(data, "concentration_mcg_per_ml")  # as given, else the pump's (if it is still this)
        if conc is None and latest:
            conc = pump.concentration_mcg_per_ml
        vendor_alarm = data.get("vendor_alarm_at")
        return SessionRecord(
            id=r.id, at=r.at, by=r.by, kind=r.kind, patient=summarize_patient(pump.patient), pump=_brief(pump),
            product=data.get("product"), lot=data.get("lot"),
            concentration_mcg_per_ml=conc,
            itb_expected_ml=_number(data, "itb_expected_ml"), vendor_expected_ml=_number(data, "vendor_expected_ml"),
            withdrawn_ml=_number(data, "withdrawn_ml"), added_ml=_number(data, "added_ml"),
            reservoir_ml=_number(data, "reservoir_ml"), low_reservoir_alarm_ml=_number(data, "low_reservoir_alarm_ml"),
            dose_mcg=_number(data, "dose_mcg"), program=data.get("program") or _program_at(s, pump, r.at),
            latest=latest, low_reservoir_alarm_at=pump.low_reservoir_alarm_at if latest else None,
            vendor_alarm_at=datetime.fromisoformat(vendor_alarm) if isinstance(vendor_alarm, str) else None,
            warnings=[str(w) for w in r.warnings or ()], reviewed_by=r.reviewed_by,
            next_visit=_next_visit(s, pump.patient_id, now),
        )  # fmt: skip


def _with_pump(clinic: Clinic, s: Session, actor: Actor, kind: type[Of], record_id: int, label: str) -> tuple[Of, Pump]:
    """A record of one pump by its id, and its pump, if the actor may see that pump (else NotFound)."""
    record = s.get(kind, record_id)
    if record is None:
        raise NotFound(f"{label} {record_id}: not found")
    return record, clinic.pump(s, actor, record.pump_id)


def _brief(p: Pump) -> PumpBrief:
    return PumpBrief(
        p.id, p.patient_id, p.model, p.serial, p.reservoir_capacity_ml, p.connection, p.status,
        p.concentration_mcg_per_ml, is_constant_flow(p),
    )  # fmt: skip


def _program_at(s: Session, pump: Pump, at: datetime) -> dict[str, Any] | None:
    """The program the pump ran from ``at`` on (its latest version from then or before)."""
    version = s.execute(
        select(ProgramVersion.program)
        .where(ProgramVersion.pump_id == pump.id, ProgramVersion.at <= at)
        .order_by(ProgramVersion.version.desc())
        .limit(1)
    ).scalar_one_or_none()
    return version if version is not None else pump.program


def _next_visit(s: Session, patient_id: int, now: datetime) -> NextVisit | None:
    row = s.execute(
        select(Appointment.at, Appointment.kind)
        .where(Appointment.patient_id == patient_id, Appointment.status == "booked", Appointment.at >= now)
        .order_by(Appointment.at)
        .limit(1)
    ).first()
    return None if row is None else NextVisit(row.at, row.kind)


def _number(data: dict[str, Any], key: str) -> float | None:
    value = data.get(key)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


__all__ = ["NextVisit", "PumpBrief", "RefillRecord", "SessionRecord", "refill_record", "session_record"]
