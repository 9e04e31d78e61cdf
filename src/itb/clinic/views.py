"""The clinic's read side: what the pages and the API show, each read in one session of its own.

The user interfaces run no SQL: they ask these views, which return plain data (frozen dataclasses,
the records' columns as dicts, the domain's own values). The chart and the pump pages get the
records themselves, detached (the sessions keep what they loaded), as their templates always took
them. Visibility is the use cases' own: ``clinic.patient``, ``clinic.pump`` and
``clinic.visible_patients`` (a caregiver sees their own child only; any other is "not found").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime
from typing import Any, TypeVar

from sqlalchemy import BindParameter, Row, Select, bindparam, select

from itb.adapters.db.models import (
    Appointment,
    Assessment,
    AuditEntry,
    Patient,
    ProgramVersion,
    Pump,
    PumpChange,
    PumpEvent,
    PumpSession,
    Refill,
    ScreeningTrial,
    SymptomReport,
)
from itb.clinic.audit_check import Problem, Verification, check_entries, verify
from itb.clinic.derived import earliest_alarm_at, earliest_empty_at, estimated_reservoir_ml
from itb.clinic.services import Actor, Clinic, Forbidden, NotFound, row_json
from itb.clinic.triage_context import last_interrogation_status
from itb.clinic.worklist import worklist
from itb.clinic.worklist_first import first_items
from itb.domain.calibration import DEFAULT_FLOW, FlowEstimate, FlowSettings, drift
from itb.domain.screening import TrialResult
from itb.domain.worklist import Wanted, WorkItem

# The records the chart and the pump pages are handed (detached) are named here too, for the
# interfaces' annotations: they need not import the database adapters themselves.
__all__ = [
    "Appointment",
    "Assessment",
    "AuditPage",
    "BookedVisits",
    "Chart",
    "Patient",
    "PatientRecord",
    "PatientSummary",
    "ProgramVersion",
    "Pump",
    "PumpDetail",
    "PumpEvent",
    "Refill",
    "RefillFollowUp",
    "Report",
    "ScreeningTrial",
    "Visit",
    "appointments",
    "appointments_between",
    "assessment_history",
    "audit_page",
    "audit_verification",
    "booked_visits",
    "change_data",
    "chart",
    "health_check",
    "patient_list",
    "patient_record",
    "patient_summary",
    "pump_data",
    "pump_detail",
    "pump_log",
    "pump_record",
    "refill_follow_up",
    "screening_results",
    "summarize_patient",
    "symptom_report",
    "symptom_reports",
    "unreviewed_reports",
    "work_items",
]

OfPatient = TypeVar("OfPatient", Appointment, Assessment, ScreeningTrial)
#: the chart's pump log: the latest events shown
CHART_EVENTS = 60
OfPumps = TypeVar("OfPumps", ProgramVersion, Refill)


# ---------------------------------------------------------------------- plain data
@dataclass(frozen=True)
class PatientSummary:
    """A patient as lists show them (and the API answers, field for field)."""

    id: int
    name: str
    birth_date: date
    origin: str
    weight_kg: float | None
    gmfcs: int | None
    injury_t6_or_above: bool
    cannot_communicate: bool
    earlier_withdrawal: bool
    phase: str
    high_risk: bool


@dataclass(frozen=True)
class PatientRecord:
    """A patient with their pumps (reservoir estimated now) and appointments, as column dicts."""

    patient: PatientSummary
    pumps: list[dict]
    appointments: list[dict]


@dataclass(frozen=True)
class PumpDetail:
    """A pump (reservoir estimated now), its refills, program versions and changes still open."""

    pump: dict
    refills: list[dict]
    program_versions: list[dict]
    pending_changes: list[dict]


@dataclass(frozen=True)
class Visit:
    """An appointment as a calendar shows it."""

    id: int
    patient_id: int
    patient_name: str
    kind: str
    status: str
    at: datetime


@dataclass(frozen=True)
class BookedVisits:
    """A patient's visits still booked (their calendar feed)."""

    patient_id: int
    patient_name: str
    visits: list[Visit]


@dataclass(frozen=True)
class Report:
    """What a family reported from home, with the triage made then."""

    id: int
    patient_id: int
    at: datetime
    by: str
    symptoms: list[Any]
    note: str | None
    reviewed_by: str | None
    urgency: int | None
    triage: dict[str, Any] | None
    #: when it was reviewed (the family called back) and the reviewer's note (None: not yet)
    reviewed_at: datetime | None = None
    review_note: str | None = None


@dataclass(frozen=True)
class RefillFollowUp:
    """A pump after its refill, and when its next refill is booked (None: not booked)."""

    pump: Pump
    next_refill_at: datetime | None


@dataclass(frozen=True)
class Chart:
    """A patient's records, as the chart shows them (the patient and the pump detached records)."""

    patient: Patient
    pump: Pump | None  # the implanted one
    # the other records as rows of their columns (``a.at``, ``a.kind``: named as the records' own)
    appointments: Sequence[Row[Any]]  # of Appointment, in time order (as the three below)
    assessments: Sequence[Row[Any]]  # of Assessment
    screenings: Sequence[Row[Any]]  # of ScreeningTrial
    reports: list[Report]  # the latest first
    versions: Sequence[Row[Any]]  # of ProgramVersion, of all the patient's pumps
    refills: Sequence[Row[Any]]  # of Refill
    events: Sequence[Row[Any]]  # of PumpEvent: the last 60, the latest first
    last_status: dict | None  # what the pump said at its last interrogation
    #: changes not settled yet, and changes in the pump's log with no record (to review)
    record_changes: Sequence[PumpChange] = ()


@dataclass(frozen=True)
class AuditPage:
    entries: list[dict]  # the latest first
    chain_intact: bool
    #: what is wrong with the chain since its last checkpoint, or with the entries of this page
    problems: tuple[Problem, ...] = ()


def summarize_patient(p: Patient) -> PatientSummary:
    return PatientSummary(
        id=p.id,
        name=p.name,
        birth_date=p.birth_date,
        origin=p.origin,
        weight_kg=p.weight_kg,
        gmfcs=p.gmfcs,
        injury_t6_or_above=p.injury_t6_or_above,
        cannot_communicate=p.cannot_communicate,
        earlier_withdrawal=p.earlier_withdrawal,
        phase=p.phase,
        high_risk=p.high_risk,
    )


def pump_data(p: Pump, now: datetime, flow: FlowSettings = DEFAULT_FLOW) -> dict:
    """The record, with the reservoir estimated for ``now`` (to the second) from the last reading,
    and its learned flow: the earliest plausible alarm and empty instants the clinic plans from."""
    at = now.replace(microsecond=0)
    estimate = FlowEstimate(p.flow_ratio or 1.0, p.flow_ratio_sd or 0.0, p.flow_refills or 0)
    learned = {
        "ratio": p.flow_ratio,
        "sd": p.flow_ratio_sd,
        "refills": p.flow_refills or 0,
        "confidence": flow.confidence,
        "earliest_alarm_at": earliest_alarm_at(p),
        "earliest_empty_at": earliest_empty_at(p),
        "drift": None if p.flow_ratio is None else drift(estimate, flow),
    }
    return {
        **row_json(p),
        "estimated_reservoir_ml_now": estimated_reservoir_ml(p, at),
        "estimated_at": at,
        "flow": learned,
    }


def change_data(c: PumpChange) -> dict:
    return {k: v for k, v in row_json(c).items() if k != "payload"} | {"payload": c.payload}


def _report(r: SymptomReport) -> Report:
    return Report(
        r.id, r.patient_id, r.at, r.by, r.symptoms, r.note, r.reviewed_by, r.urgency, r.triage, r.reviewed_at,
        r.review_note,
    )  # fmt: skip


# ---------------------------------------------------------------------- users and the service
def health_check(clinic: Clinic) -> None:
    """Raises when the database does not answer."""
    with clinic.sessions() as s:
        s.execute(select(1))


# ---------------------------------------------------------------------- patients
def patient_list(clinic: Clinic, actor: Actor) -> list[PatientSummary]:
    """The patients the actor may see, by name."""
    with clinic.sessions() as s:
        rows = s.execute(clinic.visible_patients(s, actor).order_by(Patient.name)).scalars()
        return [summarize_patient(p) for p in rows]


def patient_summary(clinic: Clinic, actor: Actor, patient_id: int) -> PatientSummary:
    with clinic.sessions() as s:
        return summarize_patient(clinic.patient(s, actor, patient_id))


def patient_record(clinic: Clinic, actor: Actor, patient_id: int) -> PatientRecord:
    now = clinic.clock()
    with clinic.sessions() as s:
        p = clinic.patient(s, actor, patient_id)
        visits = s.execute(select(Appointment).where(Appointment.patient_id == p.id).order_by(Appointment.at))
        return PatientRecord(
            summarize_patient(p),
            [pump_data(x, now, clinic.config.flow) for x in p.pumps],
            [row_json(a) for a in visits.scalars()],
        )


def assessment_history(clinic: Clinic, actor: Actor, patient_id: int) -> list[dict]:
    """The patient's assessments in time order, then their screening trials (kind "screening")."""
    with clinic.sessions() as s:
        p = clinic.patient(s, actor, patient_id)
        rows = s.execute(select(Assessment).where(Assessment.patient_id == p.id).order_by(Assessment.at))
        trials = s.execute(select(ScreeningTrial).where(ScreeningTrial.patient_id == p.id))
        return [row_json(a) for a in rows.scalars()] + [{**row_json(t), "kind": "screening"} for t in trials.scalars()]


def screening_results(clinic: Clinic, actor: Actor, patient_id: int) -> list[TrialResult]:
    """The screening trials recorded so far, as the label's protocol reads them."""
    with clinic.sessions() as s:
        p = clinic.patient(s, actor, patient_id)
        trials = s.execute(select(ScreeningTrial).where(ScreeningTrial.patient_id == p.id)).scalars()
        return [
            TrialResult(
                t.dose_mcg,
                t.at,
                {0.0: t.mas_before, float(t.assessed_after_hours or 4.0): t.mas_after},
                t.caregiver_feedback or "",
                t.side_effects or "",
            )
            for t in trials
        ]


def chart(clinic: Clinic, actor: Actor, patient_id: int) -> Chart:
    """Everything the patient's chart is drawn from: the patient and the implanted pump as records,
    the rest as rows of their columns (one select each, prepared once: ``_CHART_...`` below)."""
    with clinic.sessions() as s:
        patient = clinic.patient(s, actor, patient_id)
        pump = next((p for p in patient.pumps if p.status == "implanted"), None)
        pump_ids = [p.id for p in patient.pumps]
        c = s.connection()
        of_patient = {"patient_id": patient.id}
        of_pumps = {"pump_ids": pump_ids}
        return Chart(
            patient=patient,
            pump=pump,
            appointments=c.execute(_CHART_APPOINTMENTS, of_patient).all(),
            assessments=c.execute(_CHART_ASSESSMENTS, of_patient).all(),
            screenings=c.execute(_CHART_SCREENINGS, of_patient).all(),
            reports=[Report(*r) for r in c.execute(_CHART_REPORTS, of_patient)],
            versions=c.execute(_CHART_VERSIONS, of_pumps).all() if pump_ids else [],
            refills=c.execute(_CHART_REFILLS, of_pumps).all() if pump_ids else [],
            events=c.execute(_CHART_EVENTS, of_pumps).all() if pump_ids else [],
            last_status=last_interrogation_status(s, pump.id) if pump is not None else None,
            record_changes=clinic.pending_changes(s, pump.id) if pump is not None else (),
        )


#: the patient's pumps, bound by each of the chart's reads of them
_PUMP_IDS: BindParameter[list[int]] = bindparam("pump_ids", expanding=True)


def _columns(kind: type[Any]) -> Select[Any]:
    return select(*kind.__table__.columns)


def _of_patient_rows(kind: type[OfPatient]) -> Select[Any]:
    return _columns(kind).where(kind.patient_id == bindparam("patient_id")).order_by(kind.at, kind.id)


def _of_pumps_rows(kind: type[OfPumps]) -> Select[Any]:
    return _columns(kind).where(kind.pump_id.in_(_PUMP_IDS)).order_by(kind.at, kind.id)


# The chart's reads, built once (a request only binds its ids). Each row has the columns of its
# record by name (``a.at``, ``a.kind``), which is all the chart and its plans read of them.
_CHART_APPOINTMENTS = _of_patient_rows(Appointment)
_CHART_ASSESSMENTS = _of_patient_rows(Assessment)
_CHART_SCREENINGS = _of_patient_rows(ScreeningTrial)
_CHART_VERSIONS = _of_pumps_rows(ProgramVersion)
_CHART_REFILLS = _of_pumps_rows(Refill)
_CHART_EVENTS = (
    _columns(PumpEvent)
    .where(PumpEvent.pump_id.in_(_PUMP_IDS))
    .order_by(PumpEvent.at.desc(), PumpEvent.seq.desc())
    .limit(CHART_EVENTS)
)
_CHART_REPORTS = (
    select(*(getattr(SymptomReport, f.name) for f in fields(Report)))  # a ``Report``'s fields, in its order
    .where(SymptomReport.patient_id == bindparam("patient_id"))
    .order_by(SymptomReport.at.desc(), SymptomReport.id.desc())
)


# ---------------------------------------------------------------------- pumps
def pump_record(clinic: Clinic, actor: Actor, pump_id: int) -> Pump:
    """The pump's record (detached), as the refill and program pages show it."""
    with clinic.sessions() as s:
        return clinic.pump(s, actor, pump_id)


def pump_detail(clinic: Clinic, actor: Actor, pump_id: int) -> PumpDetail:
    now = clinic.clock()
    with clinic.sessions() as s:
        p = clinic.pump(s, actor, pump_id)
        refills = s.execute(select(Refill).where(Refill.pump_id == p.id).order_by(Refill.at)).scalars()
        versions = s.execute(
            select(ProgramVersion).where(ProgramVersion.pump_id == p.id).order_by(ProgramVersion.version)
        ).scalars()
        return PumpDetail(
            pump_data(p, now, clinic.config.flow),
            [row_json(r) for r in refills],
            [row_json(v) for v in versions],
            [change_data(c) for c in clinic.pending_changes(s, p.id)],
        )


def pump_log(clinic: Clinic, actor: Actor, pump_id: int, since: int = 0) -> list[dict]:
    """The pump's log as the clinic has stored it (from its interrogations), after event ``since``."""
    with clinic.sessions() as s:
        p = clinic.pump(s, actor, pump_id)
        rows = s.execute(
            select(PumpEvent).where(PumpEvent.pump_id == p.id, PumpEvent.seq > since).order_by(PumpEvent.seq)
        ).scalars()
        return [{"seq": e.seq, "at": e.at, "type": e.type, "fields": e.fields} for e in rows]


def refill_follow_up(clinic: Clinic, actor: Actor, pump_id: int) -> RefillFollowUp:
    """The pump as its refill left it, and the latest refill visit booked for it."""
    with clinic.sessions() as s:
        pump = clinic.pump(s, actor, pump_id)
        booked = s.execute(
            select(Appointment.at)
            .where(Appointment.pump_id == pump.id, Appointment.kind == "refill", Appointment.status == "booked")
            .order_by(Appointment.at.desc())
        ).first()
        return RefillFollowUp(pump, None if booked is None else booked.at)


# ---------------------------------------------------------------------- appointments
def appointments(
    clinic: Clinic,
    actor: Actor,
    status: str | None = None,
    since: datetime | None = None,
    before: datetime | None = None,
) -> list[dict]:
    """The visible patients' appointments in time order, of one ``status``, from ``since``, before ``before``."""
    with clinic.sessions() as s:
        visible = clinic.visible_patients(s, actor).with_only_columns(Patient.id)
        q = select(Appointment).where(Appointment.patient_id.in_(visible)).order_by(Appointment.at)
        if status:
            q = q.where(Appointment.status == status)
        if since:
            q = q.where(Appointment.at >= since)
        if before:
            q = q.where(Appointment.at < before)
        return [row_json(a) for a in s.execute(q).scalars()]


def appointments_between(clinic: Clinic, actor: Actor, start: datetime, end: datetime) -> list[Visit]:
    """The visible patients' appointments from ``start`` until before ``end``, in time order."""
    with clinic.sessions() as s:
        visible = clinic.visible_patients(s, actor).with_only_columns(Patient.id)
        rows = s.execute(
            select(Appointment, Patient.name)
            .join(Patient, Patient.id == Appointment.patient_id)
            .where(Appointment.patient_id.in_(visible), Appointment.at >= start, Appointment.at < end)
            .order_by(Appointment.at)
        ).all()
        return [Visit(a.id, a.patient_id, name, a.kind, a.status, a.at) for a, name in rows]


def booked_visits(clinic: Clinic, actor: Actor, patient_id: int) -> BookedVisits:
    with clinic.sessions() as s:
        patient = clinic.patient(s, actor, patient_id)
        rows = s.execute(
            select(Appointment).where(Appointment.patient_id == patient.id, Appointment.status == "booked")
        ).scalars()
        visits = [Visit(a.id, a.patient_id, patient.name, a.kind, a.status, a.at) for a in rows]
        return BookedVisits(patient.id, patient.name, visits)


# ---------------------------------------------------------------------- the worklist, reports, the audit log
def work_items(
    clinic: Clinic, actor: Actor, now: datetime | None = None, wanted: Wanted | None = None
) -> list[WorkItem]:
    """The worklist at ``now`` (default: the clinic's clock), most urgent first (a caregiver's: their
    child's); ``wanted``: only those items (the first N, an urgency, a reason, a name), of which only
    the pumps that can be among them are built."""
    with clinic.sessions() as s:
        ids = None
        if actor.role == "caregiver":
            ids = set(s.execute(clinic.visible_patients(s, actor).with_only_columns(Patient.id)).scalars())
        at, config = clinic.clock() if now is None else now, clinic.config
        if wanted is None:
            return worklist(s, at, config.booking, ids, config.flow)
        return first_items(s, at, config.booking, wanted, ids, config.flow)


def unreviewed_reports(clinic: Clinic, actor: Actor) -> list[Report]:
    """The families' reports no one has reviewed yet, the most urgent and the latest first."""
    with clinic.sessions() as s:
        q = (
            select(SymptomReport)
            .where(SymptomReport.reviewed_by.is_(None))
            .order_by(SymptomReport.urgency.desc(), SymptomReport.at.desc())
        )
        if actor.role == "caregiver":
            visible = clinic.visible_patients(s, actor).with_only_columns(Patient.id)
            q = q.where(SymptomReport.patient_id.in_(visible))
        return [_report(r) for r in s.execute(q).scalars()]


def symptom_reports(clinic: Clinic, actor: Actor, patient_id: int) -> list[Report]:
    """A patient's symptom reports with the triage made then, the latest first (not found: another's child)."""
    with clinic.sessions() as s:
        patient = clinic.patient(s, actor, patient_id)
        q = select(SymptomReport).where(SymptomReport.patient_id == patient.id)
        return [_report(r) for r in s.execute(q.order_by(SymptomReport.at.desc(), SymptomReport.id.desc())).scalars()]


def symptom_report(clinic: Clinic, actor: Actor, report_id: int) -> Report | None:
    """One report, if it is about a patient the actor may see."""
    with clinic.sessions() as s:
        report = s.get(SymptomReport, report_id)
        if report is None:
            return None
        try:
            clinic.patient(s, actor, report.patient_id)
        except NotFound:
            return None
        return _report(report)


#: the audit page signs a checkpoint once its verification has read this many entries since the
#: last one: most pages then write nothing, and each re-reads fewer than this besides the new ones
AUDIT_PAGE_SIGNS_AFTER = 100


def audit_page(clinic: Clinic, actor: Actor, limit: int = 100, before_id: int | None = None) -> AuditPage:
    """Up to ``limit`` (1-1000) entries before ``before_id``, the latest first, and whether the chain
    holds: verified since its last checkpoint (only the new entries are read), and the page's own
    entries checked (their values, their links to each other)."""
    if actor.role != "admin":
        raise Forbidden("only an admin may read the audit log")
    with clinic.transaction() as s:  # the verification may sign a checkpoint
        q = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(max(1, min(limit, 1000)))
        if before_id:
            q = q.where(AuditEntry.id < before_id)
        try:
            shown = list(s.execute(q).scalars())
        except (ValueError, TypeError):  # a stored value its column cannot read: verify() names where
            shown = []
        found = verify(s, at=clinic.clock(), sign_after=AUDIT_PAGE_SIGNS_AFTER).problems
        found += tuple(p for p in check_entries(s, shown) if p not in found)
        return AuditPage([row_json(e) for e in shown], chain_intact=not found, problems=found)


def audit_verification(clinic: Clinic, actor: Actor, full: bool = False) -> Verification:
    """The audit chain verified from its last signed checkpoint (``full``: every entry and
    checkpoint); intact, a new checkpoint is signed where it ended. Admin only."""
    if actor.role != "admin":
        raise Forbidden("only an admin may verify the audit log")
    with clinic.transaction() as s:
        return verify(s, full=full, at=clinic.clock())


def pump_sessions(clinic: Clinic, actor: Actor, pump_id: int) -> list[dict]:
    """A vendor-programmed pump's recorded sessions, oldest first."""
    with clinic.sessions() as s:
        p = clinic.pump(s, actor, pump_id)
        rows = s.execute(select(PumpSession).where(PumpSession.pump_id == p.id).order_by(PumpSession.at)).scalars()
        return [row_json(r) for r in rows]
