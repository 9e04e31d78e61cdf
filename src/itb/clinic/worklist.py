"""The every-morning worklist, read from the database in a few grouped queries.

The exact forecast is stored with each pump's state (see ``Clinic._store_view``), so the
worklist never recomputes it: one query for the implanted pumps and their patients, one per
kind of appointment or flag, then :func:`itb.domain.worklist.build_worklist` orders them.

A family's unreviewed symptom report rides on its patient's first implanted pump (the lowest id,
so a patient with two pumps is not listed twice for it); a patient with no implanted pump who
reported is listed on their own (``pump_id`` None), with that reason only: the pump rules need a
pump, and a family's call must not be lost because the record has no pump (screening, explanted).

The page and ``GET /api/worklist?limit=N`` ask for the first items only
(:func:`itb.clinic.worklist_first.first_items`), built from these same reads.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Integer, bindparam, func, or_, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement, Select

from itb.adapters.db import models as m
from itb.domain.calibration import DEFAULT_FLOW, FlowEstimate, FlowSettings, drift
from itb.domain.scheduling import BookingSettings
from itb.domain.triage import Urgency
from itb.domain.worklist import (
    PumpSituation,
    ReportedSymptoms,
    WorkItem,
    build_worklist,
)

#: Change states that put a pump's record in doubt, as the worklist says them.
RECORD_STATUSES = {
    "pending": "sent and not yet settled from the pump's log",
    "uncertain": "whose fate the pump's log has not told yet",
    "unrecorded": "in the pump's log with no record in the clinic (review them)",
}

#: The family form's signs as the staff read them (itb.domain.triage's codes; an unknown code is
#: said with its underscores as spaces).
SYMPTOM_WORDS = {
    "itching": "itching",
    "stiffness_returning": "stiffness or spasms coming back",
    "feeling_faint": "feeling faint or blood pressure low or changing",
    "tingling": "tingling",
    "fever": "fever",
    "heavy_sweating": "heavy sweating",
    "high_fever": "high fever",
    "rigidity": "rigid muscles",
    "confusion": "confused, not acting like themselves",
    "breathing_slow": "slow breathing",
    "breathing_shallow": "shallow breathing",
    "respiratory_depression": "breathing depressed",
    "seizure": "seizure",
    "hard_to_wake": "hard to wake",
    "unresponsive": "unresponsive",
    "coma": "coma",
    "very_sleepy": "very sleepy, hard to wake",
    "dizzy": "dizzy",
    "floppy_muscles": "floppy muscles",
    "sleepy": "sleepy",
    "nausea_vomiting": "nausea or vomiting",
    "constipation": "constipation",
    "headache": "headache",
    "headache_sitting_up": "headache worse sitting up",
    "wound_problem": "wound or skin over the pump red, swollen or leaking",
    "pump_beeping": "the pump is beeping",
    "pump_beeping_two_tones": "the pump is beeping two tones",
    "pump_beeping_single_tone": "the pump is beeping a single tone",
    "other": "something else",
}
#: The longest part of a family's note the worklist quotes (the chart shows all of it).
NOTE_QUOTED = 200


def symptom_words(codes: list[str] | tuple[str, ...]) -> str:
    """'stiffness or spasms coming back, fever' (the form's codes, in the order given)."""
    return ", ".join(SYMPTOM_WORDS.get(str(c), str(c).replace("_", " ")) for c in codes)


def reported_symptoms(
    report_id: int,
    at: datetime,
    by: str,
    symptoms: list[str] | None,
    note: str | None,
    urgency: int | None,
    triage: dict | None,
) -> ReportedSymptoms:
    """A stored report in the worklist's words. A report stored without a triage (before it was
    stored with each report) counts as "call today": it was never judged."""
    triage = triage or {}
    level = Urgency.CALL_TODAY if urgency is None else Urgency(max(0, min(int(urgency), 2)))
    parts = []
    if symptoms:
        parts.append(symptom_words(symptoms))
    from_note = triage.get("from_note") or []
    if from_note:
        parts.append(f"the note names {symptom_words(from_note)}")
    concerns = triage.get("concerns") or []
    if concerns:
        parts.append("; ".join(str(c) for c in concerns))
    if note:
        quoted = note if len(note) <= NOTE_QUOTED else note[: NOTE_QUOTED - 1].rstrip() + "…"
        parts.append(f"“{quoted}”")
    return ReportedSymptoms(
        report_id=report_id,
        at=at,
        by=by,
        urgency=int(level),
        urgency_words=str(triage.get("urgency") or level.label) + ("" if triage else ", not triaged"),
        words="; ".join(parts),
        instruction=str(triage.get("instruction") or ""),
    )


#: A learned flow ratio this close to the drift setting is selected (the rule decides): floats.
_DRIFT_SLACK = 1e-9


def _among(column: Any, ids: set[int], db: Connection, name: str = "") -> ColumnElement[bool]:
    """``column IN ids``: on PostgreSQL one array parameter (no limit on how many ids, one short
    statement); ``name``: the parameter's, when another column of the same name is in the statement."""
    if db.dialect.name == "postgresql":
        return column == func.any(bindparam(name or "ids_" + column.key, sorted(ids), type_=ARRAY(Integer)))
    return column.in_(ids)


def only_ids(query: Select, column: Any, ids: set[int] | None, db: Connection) -> Select:
    """``query`` of only the rows whose ``column`` is among ``ids`` (None: every row)."""
    return query if ids is None else query.where(_among(column, ids, db))


def _next_refill(now: datetime) -> Any:
    """Each patient's next booked refill from now on (a subquery: ``patient_id``, ``at``)."""
    return (
        select(m.Appointment.patient_id, func.min(m.Appointment.at).label("at"))
        .where(m.Appointment.kind == "refill", m.Appointment.status == "booked", m.Appointment.at >= now)
        .group_by(m.Appointment.patient_id)
        .subquery("next_refill")
    )


def _refill_at_risk(booked_at: Any) -> ColumnElement[bool]:
    """``alarm_before_refill`` / ``no_refill_booked`` may apply: no refill booked from now on, or one of
    the four forecast dates falls on or before the day of the next booked one (exactly the rule's test)."""
    dates = (m.Pump.low_reservoir_alarm_at, m.Pump.plausible_alarm_at, m.Pump.empty_at, m.Pump.plausible_empty_at)
    return or_(booked_at.is_(None), *(func.date(d) <= func.date(booked_at) for d in dates))


def _pump_at_risk(
    now: datetime, since: datetime, settings: BookingSettings, flow: FlowSettings, booked_at: Any
) -> ColumnElement[bool]:
    """A pump that may be listed for a reason of its own columns or of its patient's bookings."""
    appointments = select(m.Appointment.patient_id)
    changes = select(m.PumpChange.pump_id).where(
        m.PumpChange.status.in_(RECORD_STATUSES), m.PumpChange.reviewed_by.is_(None)
    )
    flagged = select(m.Refill.pump_id).where(m.Refill.flagged.is_(True), m.Refill.reviewed_by.is_(None))
    high, low = 1.0 + flow.drift_flag_fraction - _DRIFT_SLACK, 1.0 - flow.drift_flag_fraction + _DRIFT_SLACK
    return or_(
        m.Pump.regression_detail.is_not(None),  # record_check
        m.Pump.id.in_(changes),
        _refill_at_risk(booked_at),  # alarm_before_refill, no_refill_booked
        m.Pump.patient_id.in_(  # overdue, missed (the rule drops a missed visit done since), mri_check
            appointments.where(
                ((m.Appointment.status == "booked") & (m.Appointment.at <= now))
                | ((m.Appointment.status == "missed") & (m.Appointment.at >= since))
            )
        ),
        m.Patient.phase == "titrating",  # titration_due
        m.Pump.eri_reached.is_(True),  # eri_reached, eri_soon
        m.Pump.eri_at <= now + timedelta(days=settings.eri_warning_days),
        m.Pump.last_mri_at.is_not(None),  # mri_check (a scan, the interrogation since is the rule's)
        m.Pump.id.in_(flagged),  # discrepancy
        (m.Pump.flow_refills > 0) & ((m.Pump.flow_ratio > high) | (m.Pump.flow_ratio < low)),  # flow_drift
        (m.Pump.connection == "vendor")  # stale: older than its interval (>= 0) plus the margin
        & (m.Pump.reading_at < now - timedelta(days=settings.stale_margin_days)),
    )


def at_risk(
    db: Connection,
    now: datetime,
    settings: BookingSettings,
    patient_ids: set[int] | None = None,
    flow: FlowSettings = DEFAULT_FLOW,
) -> tuple[set[int], set[int]]:
    """The implanted pumps that may be on the worklist at ``now`` and their patients, chosen by the
    database: for each ``Reason`` a condition that holds whenever the rule can list the pump (the
    rules of :mod:`itb.domain.worklist` then decide). A patient with an unreviewed symptom report
    has all their pumps chosen (the report rides on the first); session warnings are read here
    (JSON lists, a few rows: the reviewed sessions are left out)."""
    since = now - timedelta(days=settings.missed_follow_up_days)
    reported = select(m.SymptomReport.patient_id).where(m.SymptomReport.reviewed_by.is_(None))
    warned = {
        pump_id
        for pump_id, warnings in db.execute(
            select(m.PumpSession.pump_id, m.PumpSession.warnings).where(m.PumpSession.reviewed_by.is_(None))
        )
        if warnings
    }
    next_refill = _next_refill(now)
    chosen = or_(_pump_at_risk(now, since, settings, flow, next_refill.c.at), m.Pump.patient_id.in_(reported))
    if warned:
        chosen = or_(chosen, _among(m.Pump.id, warned, db))
    query = (
        select(m.Pump.id, m.Pump.patient_id)
        .join(m.Patient, m.Patient.id == m.Pump.patient_id)
        .outerjoin(next_refill, next_refill.c.patient_id == m.Pump.patient_id)
        .where(m.Pump.status == "implanted", chosen)
    )
    rows = db.execute(only_ids(query, m.Pump.patient_id, patient_ids, db)).all()
    return {pump for pump, _ in rows}, {patient for _, patient in rows}


def _last_refills(since: datetime, patients: set[int] | None, db: Connection) -> Select:
    """Each patient's (of ``patients``) last refill since ``since`` (rows: patient, instant or None).
    Of given patients, per pump by its refills' index: a join would read every refill."""
    if patients is None:
        return (
            select(m.Pump.patient_id, func.max(m.Refill.at))
            .select_from(m.Refill)
            .join(m.Pump, m.Pump.id == m.Refill.pump_id)
            .where(m.Refill.at >= since)
            .group_by(m.Pump.patient_id)
        )
    last = select(func.max(m.Refill.at)).where(m.Refill.pump_id == m.Pump.id, m.Refill.at >= since)
    return select(m.Pump.patient_id, last.scalar_subquery()).where(_among(m.Pump.patient_id, patients, db))


def situations(
    session: Session,
    now: datetime,
    patient_ids: set[int] | None = None,
    missed_since: datetime | None = None,
    flow: FlowSettings = DEFAULT_FLOW,
    chosen: tuple[set[int], set[int]] | None = None,
) -> list[PumpSituation]:
    """One situation per implanted pump (``chosen``: only these pumps, of these patients, as
    :func:`at_risk` gives them), and one per patient with no implanted pump who reported."""
    # Plain columns on the session's connection, not ORM objects: building 2 x 10,000 objects and
    # decoding every program's JSON took 0.6 of the 0.7 s a 10,000-pump worklist cost
    # (benchmarks/clinic_worklist.py); only columns are read, so the ORM layer adds nothing.
    pumps = (
        select(
            m.Patient.id,
            m.Patient.name,
            m.Patient.phase,
            m.Patient.injury_t6_or_above,
            m.Patient.cannot_communicate,
            m.Patient.earlier_withdrawal,
            m.Pump.id,
            m.Pump.low_reservoir_alarm_at,
            m.Pump.empty_at,
            m.Pump.eri_at,
            m.Pump.eri_reached,
            m.Pump.last_program_change_at,
            m.Pump.implanted_at,
            m.Pump.last_mri_at,
            m.Pump.last_interrogation_at,
            m.Pump.regression_detail,
            m.Pump.plausible_alarm_at,
            m.Pump.plausible_empty_at,
            m.Pump.flow_ratio,
            m.Pump.flow_ratio_sd,
            m.Pump.flow_refills,
            m.Pump.connection,
            m.Pump.reading_at,
        )
        .join(m.Patient, m.Patient.id == m.Pump.patient_id)
        .where(m.Pump.status == "implanted")
    )
    db = session.connection()
    if patient_ids is not None:
        pumps = pumps.where(_among(m.Patient.id, patient_ids, db, "patient_ids"))
    pump_set, patients = chosen if chosen is not None else (None, None)
    pumps = only_ids(pumps, m.Pump.id, pump_set, db)
    rows = db.execute(pumps).all()

    next_booked: dict[tuple[int, str], datetime] = {}
    for patient_id, kind, at in db.execute(
        only_ids(
            select(m.Appointment.patient_id, m.Appointment.kind, func.min(m.Appointment.at))
            .where(m.Appointment.status == "booked", m.Appointment.at >= now)
            .group_by(m.Appointment.patient_id, m.Appointment.kind),
            m.Appointment.patient_id,
            patients,
            db,
        )
    ):
        next_booked[(patient_id, kind)] = at
    # A missed visit is followed up until a later visit of the same kind is done; for a refill, any
    # later refill of one of the patient's pumps (a walk-in, a vendor refill session) is one.
    since = missed_since or datetime.min
    last_done: dict[tuple[int, str], datetime] = {
        (patient_id, kind): at
        for patient_id, kind, at in db.execute(
            only_ids(
                select(m.Appointment.patient_id, m.Appointment.kind, func.max(m.Appointment.at))
                .where(m.Appointment.status == "done", m.Appointment.at >= since)
                .group_by(m.Appointment.patient_id, m.Appointment.kind),
                m.Appointment.patient_id,
                patients,
                db,
            )
        )
    }
    for patient_id, at in db.execute(_last_refills(since, patients, db)):
        key = (patient_id, "refill")
        if at is not None:
            last_done[key] = max(at, last_done.get(key, at))
    overdue: dict[int, list[tuple[str, object]]] = defaultdict(list)
    missed: dict[int, list[tuple[str, object]]] = defaultdict(list)
    for patient_id, kind, at, status in db.execute(
        only_ids(
            select(m.Appointment.patient_id, m.Appointment.kind, m.Appointment.at, m.Appointment.status).where(
                ((m.Appointment.status == "booked") & (m.Appointment.at < now))
                | ((m.Appointment.status == "missed") & (m.Appointment.at >= since))
            ),
            m.Appointment.patient_id,
            patients,
            db,
        )
    ):
        if status == "booked":
            overdue[patient_id].append((kind, at.date()))
        elif at >= last_done.get((patient_id, kind), datetime.min):
            missed[patient_id].append((kind, at.date()))
    flagged: dict[int, int] = {
        pump_id: n
        for pump_id, n in db.execute(
            only_ids(
                select(m.Refill.pump_id, func.count())
                .where(m.Refill.flagged.is_(True), m.Refill.reviewed_by.is_(None))
                .group_by(m.Refill.pump_id),
                m.Refill.pump_id,
                pump_set,
                db,
            )
        )
    }
    session_warnings: dict[int, list[str]] = defaultdict(list)
    for pump_id, warnings in db.execute(
        only_ids(
            select(m.PumpSession.pump_id, m.PumpSession.warnings).where(m.PumpSession.reviewed_by.is_(None)),
            m.PumpSession.pump_id,
            pump_set,
            db,
        )
    ):
        session_warnings[pump_id].extend(warnings or [])
    open_changes: dict[int, list[str]] = defaultdict(list)
    for pump_id, status, n in db.execute(
        only_ids(
            select(m.PumpChange.pump_id, m.PumpChange.status, func.count())
            .where(m.PumpChange.status.in_(RECORD_STATUSES), m.PumpChange.reviewed_by.is_(None))
            .group_by(m.PumpChange.pump_id, m.PumpChange.status),
            m.PumpChange.pump_id,
            pump_set,
            db,
        )
    ):
        open_changes[pump_id].append(f"{n} change{'s' if n > 1 else ''} {RECORD_STATUSES[status]}")
    # An MRI puts its post-scan check on the worklist from the scan's end until the check is done.
    mri_checks_due = set(
        db.execute(
            only_ids(
                select(m.Appointment.patient_id).where(
                    m.Appointment.kind == "mri_check", m.Appointment.status == "booked", m.Appointment.at <= now
                ),
                m.Appointment.patient_id,
                patients,
                db,
            )
        ).scalars()
    )
    reports: dict[int, list[ReportedSymptoms]] = defaultdict(list)
    unreviewed = select(
        m.SymptomReport.patient_id,
        m.SymptomReport.id,
        m.SymptomReport.at,
        m.SymptomReport.by,
        m.SymptomReport.symptoms,
        m.SymptomReport.note,
        m.SymptomReport.urgency,
        m.SymptomReport.triage,
    ).where(m.SymptomReport.reviewed_by.is_(None))
    if patient_ids is not None:
        unreviewed = unreviewed.where(_among(m.SymptomReport.patient_id, patient_ids, db))
    for patient_id, *report in db.execute(unreviewed):
        reports[patient_id].append(reported_symptoms(*report))
    out = []
    reported_on: set[int] = set()  # patients whose reports are on one of their pumps already
    for (
        patient_id,
        name,
        phase,
        injury_t6_or_above,
        cannot_communicate,
        earlier_withdrawal,
        pump_id,
        alarm_at,
        empty_at,
        eri_at,
        eri_reached,
        last_program_change_at,
        implanted_at,
        last_mri_at,
        last_interrogation_at,
        regression_detail,
        plausible_alarm_at,
        plausible_empty_at,
        flow_ratio,
        flow_ratio_sd,
        flow_refills,
        connection,
        reading_at,
    ) in sorted(rows, key=lambda row: row[6]):  # by pump id: a patient's reports ride on the first
        refill = next_booked.get((patient_id, "refill"))
        replacement = next_booked.get((patient_id, "replacement"))
        own_reports = () if patient_id in reported_on else tuple(reports.get(patient_id, ()))
        reported_on.add(patient_id)
        titration = next_booked.get((patient_id, "titration"))
        mri_pending = (
            last_mri_at is not None and (last_interrogation_at is None or last_interrogation_at <= last_mri_at)
        ) or patient_id in mri_checks_due
        out.append(
            PumpSituation(
                patient_id=patient_id,
                patient_name=name,
                pump_id=pump_id,
                low_reservoir_alarm_at=alarm_at,
                empty_at=empty_at,
                next_refill_booked=refill.date() if refill else None,
                eri_at=eri_at,
                eri_reached=eri_reached,
                titrating=phase == "titrating",
                last_program_change=(last_program_change_at or implanted_at).date(),
                next_titration_booked=titration.date() if titration else None,
                mri_check_pending=mri_pending,
                unreviewed_discrepancies=flagged.get(pump_id, 0),
                overdue_appointments=tuple(overdue.get(patient_id, ())),  # type: ignore[arg-type]
                missed_appointments=tuple(missed.get(patient_id, ())),  # type: ignore[arg-type]
                high_risk=bool(injury_t6_or_above or cannot_communicate or earlier_withdrawal),
                record_problems=tuple(
                    ([f"the pump's state went backwards ({regression_detail})"] if regression_detail else [])
                    + open_changes.get(pump_id, [])
                ),
                plausible_alarm_at=plausible_alarm_at,
                plausible_empty_at=plausible_empty_at,
                flow_drift=None
                if flow_ratio is None
                else drift(FlowEstimate(flow_ratio, flow_ratio_sd or 0.0, flow_refills or 0), flow),
                session_warnings=tuple(session_warnings.get(pump_id, ())),
                last_session_at=reading_at if connection == "vendor" else None,
                replacement_booked=replacement.date() if replacement else None,
                symptom_reports=own_reports,
            )
        )
    # Patients with no implanted pump who reported: on the list for their reports alone.
    without_pump = set(reports) - reported_on
    if without_pump:
        for (
            patient_id,
            name,
            injury_t6_or_above,
            cannot_communicate,
            earlier_withdrawal,
        ) in db.execute(
            select(
                m.Patient.id,
                m.Patient.name,
                m.Patient.injury_t6_or_above,
                m.Patient.cannot_communicate,
                m.Patient.earlier_withdrawal,
            ).where(m.Patient.id.in_(without_pump))
        ):
            out.append(
                PumpSituation.without_pump(
                    patient_id,
                    name,
                    high_risk=bool(injury_t6_or_above or cannot_communicate or earlier_withdrawal),
                    symptom_reports=tuple(reports[patient_id]),
                )
            )
    return out


def worklist(
    session: Session,
    now: datetime,
    settings: BookingSettings,
    patient_ids: set[int] | None = None,
    flow: FlowSettings = DEFAULT_FLOW,
    select_at_risk: bool = True,
) -> list[WorkItem]:
    """Every item of the worklist at ``now``, most urgent first. The database chooses the pumps that
    may be listed (:func:`at_risk`) and only theirs are built; ``select_at_risk=False`` builds every
    implanted pump's situation (the same list, slower: what the tests compare with)."""
    since = now - timedelta(days=settings.missed_follow_up_days)
    chosen = at_risk(session.connection(), now, settings, patient_ids, flow) if select_at_risk else None
    return build_worklist(situations(session, now, patient_ids, since, flow, chosen), now, settings)
