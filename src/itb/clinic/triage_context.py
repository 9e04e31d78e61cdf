"""What the clinic's records say about a patient's pump now, as symptom triage needs it."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from itb.adapters.db import models as m
from itb.clinic.derived import earliest_alarm_at, earliest_empty_at
from itb.domain.alarms import ALARMS, Priority
from itb.domain.triage import PumpContext

CRITICAL_ALARMS = frozenset(name for name, kind in ALARMS.items() if kind.priority is Priority.CRITICAL)


def pump_context(s: Session, patient: m.Patient, now: datetime) -> PumpContext:
    """What the records say about the patient's pump now, for triage."""
    pump = next((p for p in patient.pumps if p.status == "implanted"), None)
    if pump is None:
        return PumpContext(high_risk=patient.high_risk)
    last = last_interrogation_status(s, pump.id) or {}
    alarms = tuple(last.get("active_alarms", ()))
    refills = (
        s.execute(select(m.Refill).where(m.Refill.pump_id == pump.id).order_by(m.Refill.at.desc()).limit(2))
        .scalars()
        .all()
    )
    versions = (
        s.execute(
            select(m.ProgramVersion)
            .where(m.ProgramVersion.pump_id == pump.id)
            .order_by(m.ProgramVersion.version.desc())
            .limit(2)
        )
        .scalars()
        .all()
    )

    last_bolus = s.execute(
        select(m.PumpEvent.at)
        .where(m.PumpEvent.pump_id == pump.id, m.PumpEvent.type == "bolus_started", m.PumpEvent.at.is_not(None))
        .order_by(m.PumpEvent.at.desc())
        .limit(1)
    ).scalar()

    def days(at: datetime | None) -> float | None:
        return None if at is None else max(0.0, (now - at) / timedelta(days=1))

    raised = len(versions) == 2 and versions[0].daily_dose_mcg > versions[1].daily_dose_mcg
    increase_at = versions[0].at if raised else None
    # The earliest plausible dates (the pump's learned flow) when known: a fast pump empties first.
    alarm_at, empty_at = earliest_alarm_at(pump), earliest_empty_at(pump)
    return PumpContext(
        reservoir_near_empty=alarm_at is not None and alarm_at <= now + timedelta(days=7),
        reservoir_empty=empty_at is not None and empty_at <= now,
        active_alarms=alarms,
        critical_alarm=bool(set(alarms) & CRITICAL_ALARMS),
        days_since_refill=days(pump.last_refill_at),
        days_since_dose_increase=days(increase_at),
        days_since_bolus=days(last_bolus),
        concentration_changed_recently=len(refills) == 2
        and refills[0].concentration_mcg_per_ml != refills[1].concentration_mcg_per_ml
        and (days(refills[0].at) or 0) <= 7,
        eri_reached=pump.eri_reached,
        end_of_service=last.get("state") == "end_of_service",
        unreviewed_discrepancy=any(r.flagged and not r.reviewed_by for r in refills),
        days_since_surgery=days(pump.implanted_at),
        high_risk=patient.high_risk,
    )


def last_interrogation_status(s: Session, pump_id: int) -> dict | None:
    """What the pump said at its last interrogation (state, alarms, ...), None if never read."""
    return s.execute(
        select(m.Interrogation.status)
        .where(m.Interrogation.pump_id == pump_id)
        .order_by(m.Interrogation.id.desc())
        .limit(1)
    ).scalar()
