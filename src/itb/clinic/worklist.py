"""The every-morning worklist, read from the database in a few grouped queries.

The exact forecast is stored with each pump's state (see ``Clinic._store_view``), so the
worklist never recomputes it: one query for the implanted pumps and their patients, one per
kind of appointment or flag, then :func:`itb.domain.worklist.build_worklist` orders them.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from itb.adapters.db import models as m
from itb.domain.calibration import DEFAULT_FLOW, FlowEstimate, FlowSettings, drift
from itb.domain.scheduling import BookingSettings
from itb.domain.worklist import PumpSituation, WorkItem, build_worklist

#: Change states that put a pump's record in doubt, as the worklist says them.
RECORD_STATUSES = {
    "pending": "sent and not yet settled from the pump's log",
    "uncertain": "whose fate the pump's log has not told yet",
    "unrecorded": "in the pump's log with no record in the clinic (review them)",
}


def situations(
    session: Session,
    now: datetime,
    patient_ids: set[int] | None = None,
    missed_since: datetime | None = None,
    flow: FlowSettings = DEFAULT_FLOW,
) -> list[PumpSituation]:
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
    if patient_ids is not None:
        pumps = pumps.where(m.Patient.id.in_(patient_ids))
    db = session.connection()
    rows = db.execute(pumps).all()

    next_booked: dict[tuple[int, str], datetime] = {}
    for patient_id, kind, at in db.execute(
        select(m.Appointment.patient_id, m.Appointment.kind, func.min(m.Appointment.at))
        .where(m.Appointment.status == "booked", m.Appointment.at >= now)
        .group_by(m.Appointment.patient_id, m.Appointment.kind)
    ):
        next_booked[(patient_id, kind)] = at
    # A missed visit is followed up until a later visit of the same kind is done.
    last_done: dict[tuple[int, str], datetime] = {
        (patient_id, kind): at
        for patient_id, kind, at in db.execute(
            select(m.Appointment.patient_id, m.Appointment.kind, func.max(m.Appointment.at))
            .where(m.Appointment.status == "done", m.Appointment.at >= (missed_since or datetime.min))
            .group_by(m.Appointment.patient_id, m.Appointment.kind)
        )
    }
    overdue: dict[int, list[tuple[str, object]]] = defaultdict(list)
    missed: dict[int, list[tuple[str, object]]] = defaultdict(list)
    for patient_id, kind, at, status in db.execute(
        select(m.Appointment.patient_id, m.Appointment.kind, m.Appointment.at, m.Appointment.status).where(
            ((m.Appointment.status == "booked") & (m.Appointment.at < now))
            | ((m.Appointment.status == "missed") & (m.Appointment.at >= (missed_since or datetime.min)))
        )
    ):
        if status == "booked":
            overdue[patient_id].append((kind, at.date()))
        elif at >= last_done.get((patient_id, kind), datetime.min):
            missed[patient_id].append((kind, at.date()))
    flagged: dict[int, int] = {
        pump_id: n
        for pump_id, n in db.execute(
            select(m.Refill.pump_id, func.count())
            .where(m.Refill.flagged.is_(True), m.Refill.reviewed_by.is_(None))
            .group_by(m.Refill.pump_id)
        )
    }
    session_warnings: dict[int, list[str]] = defaultdict(list)
    for pump_id, warnings in db.execute(
        select(m.PumpSession.pump_id, m.PumpSession.warnings).where(m.PumpSession.reviewed_by.is_(None))
    ):
        session_warnings[pump_id].extend(warnings or [])
    open_changes: dict[int, list[str]] = defaultdict(list)
    for pump_id, status, n in db.execute(
        select(m.PumpChange.pump_id, m.PumpChange.status, func.count())
        .where(m.PumpChange.status.in_(RECORD_STATUSES), m.PumpChange.reviewed_by.is_(None))
        .group_by(m.PumpChange.pump_id, m.PumpChange.status)
    ):
        open_changes[pump_id].append(f"{n} change{'s' if n > 1 else ''} {RECORD_STATUSES[status]}")
    # An MRI puts its post-scan check on the worklist from the scan's end until the check is done.
    mri_checks_due = set(
        db.execute(
            select(m.Appointment.patient_id).where(
                m.Appointment.kind == "mri_check", m.Appointment.status == "booked", m.Appointment.at <= now
            )
        ).scalars()
    )
    out = []
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
    ) in rows:
        refill = next_booked.get((patient_id, "refill"))
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
            )
        )
    return out


def worklist(
    session: Session,
    now: datetime,
    settings: BookingSettings,
    patient_ids: set[int] | None = None,
    flow: FlowSettings = DEFAULT_FLOW,
) -> list[WorkItem]:
    since = now - timedelta(days=settings.missed_follow_up_days)
    return build_worklist(situations(session, now, patient_ids, since, flow), now, settings)
