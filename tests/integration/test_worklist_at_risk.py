"""The worklist the database narrows to the pumps at risk (``itb.clinic.worklist.at_risk``) is the
worklist of every implanted pump, item for item, in the same order with the same details: on the
demo clinic at dates over a year, and on demo clinics shuffled at random (flows that drift, vendor
pumps not recorded for long, record problems, scans, missed and overdue visits, unreviewed reports
and discrepancies, titrating patients, a caregiver's view), on SQLite and PostgreSQL.
"""

from __future__ import annotations

import random
import shutil
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine, delete, func, insert, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from itb.adapters.db import models as m
from itb.adapters.db.engine import make_engine
from itb.bootstrap import clinic_on
from itb.clinic.services import ClinicConfig
from itb.clinic.worklist import at_risk, worklist
from itb.domain.scheduling import DEFAULT_BOOKING
from itb.domain.worklist import Reason
from itb.simulation.demo_clinic import fill_demo_clinic

TODAY = datetime(2026, 11, 23, 9, 0)
#: from two months and a half before the clinic's day to ten months after, every 37 days and at odd hours
DATES = [TODAY + timedelta(days=37 * k, hours=(5 * k) % 11) for k in range(-2, 9)]


def both(sessions: sessionmaker[Session], now: datetime, patient_ids: set[int] | None = None) -> tuple[list, list]:
    with sessions() as s:
        narrowed = worklist(s, now, DEFAULT_BOOKING, patient_ids)
        full = worklist(s, now, DEFAULT_BOOKING, patient_ids, select_at_risk=False)
    return narrowed, full


@pytest.fixture
def demo(engine, tmp_path, migrated_sqlite):  # type: ignore[no-untyped-def]
    """The demo clinic of 30 patients. On PostgreSQL its rows are those of the same fill made on
    SQLite, copied (what is tested is the worklist's reading of them; the fill, through every use
    case, takes twice as long on PostgreSQL, and the other tests make those writes there)."""
    config = ClinicConfig(data_dir=tmp_path / "data")  # one audit key for both
    if engine.dialect.name == "sqlite":
        clinic = clinic_on(engine, config, clock=lambda: TODAY)
        fill_demo_clinic(clinic, patients=30, today=TODAY)
        return clinic
    path = tmp_path / "filled.db"
    shutil.copyfile(migrated_sqlite, path)
    filled = make_engine(f"sqlite:///{path}")
    fill_demo_clinic(clinic_on(filled, config, clock=lambda: TODAY), patients=30, today=TODAY)
    copy_rows(filled, engine)
    filled.dispose()
    return clinic_on(engine, config, clock=lambda: TODAY)


def copy_rows(source: Engine, target: Engine) -> None:
    """Every row of ``source``'s tables in place of ``target``'s (both at the newest schema), and
    each PostgreSQL sequence of ``target`` moved past the ids copied."""
    tables = m.Base.metadata.sorted_tables
    with source.connect() as read, target.begin() as write:
        for table in reversed(tables):
            write.execute(delete(table))
        for table in tables:
            rows = [dict(row) for row in read.execute(select(table)).mappings()]
            if rows:
                write.execute(insert(table), rows)
        for table in tables:
            if (key := table.autoincrement_column) is not None:
                write.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table.name}', '{key.name}'),"
                        f" coalesce(max({key.name}), 1), max({key.name}) IS NOT NULL) FROM {table.name}"
                    )
                )


def test_the_demo_clinic_over_a_year_then_shuffled(demo, sessions):  # type: ignore[no-untyped-def]
    """One fill per database (the fill is what costs): the demo clinic as filled, then shuffled."""
    the_demo_clinic_over_a_year(sessions)
    the_shuffled_clinic(sessions)


def the_demo_clinic_over_a_year(sessions: sessionmaker[Session]) -> None:
    seen: set[Reason] = set()
    for now in DATES:
        narrowed, full = both(sessions, now)
        assert narrowed == full, now
        seen.update(r for item in full for r in item.reasons)
        with sessions() as s:
            chosen, _ = at_risk(s.connection(), now, DEFAULT_BOOKING)
            implanted = s.execute(select(func.count()).where(m.Pump.status == "implanted")).scalar()
        assert {i.pump_id for i in full if i.pump_id is not None} <= chosen
        assert len(chosen) <= implanted
    # the year goes through most of the reasons (the shuffled clinics below, the rest)
    assert {Reason.NO_REFILL_BOOKED, Reason.ALARM_BEFORE_REFILL} <= seen


def shuffle(sessions: sessionmaker[Session], rng: random.Random) -> None:
    """Random changes to a filled clinic, each the cause of one reason or next to its edge."""
    with sessions.begin() as s:
        pumps = list(s.execute(select(m.Pump.id, m.Pump.patient_id, m.Pump.reading_at)).all())
        for k, (pump_id, _patient, reading_at) in enumerate(rng.sample(pumps, k=len(pumps) // 2)):
            change: dict = {}
            roll = (k % 10) / 10 + 0.05  # every kind of change, on a random pump
            if roll < 0.2:
                change.update(
                    flow_ratio=rng.choice([0.7, 0.85, 0.9, 1.0, 1.1, 1.15, 1.3]), flow_refills=rng.randint(0, 4)
                )
                change.update(flow_ratio_sd=rng.uniform(0, 0.1))
            elif roll < 0.35:
                change.update(connection="vendor", reading_at=reading_at - timedelta(days=rng.randint(0, 200)))
            elif roll < 0.45:
                change.update(regression_detail="reservoir 12.0 -> 14.5 ml")
            elif roll < 0.55:
                scan = TODAY - timedelta(days=rng.randint(0, 90))
                change.update(last_mri_at=scan, last_interrogation_at=scan + timedelta(days=rng.choice([-3, 0, 3])))
            elif roll < 0.65:
                change.update(eri_at=TODAY + timedelta(days=rng.randint(-30, 400)), eri_reached=rng.random() < 0.3)
            elif roll < 0.8:
                shift = timedelta(days=rng.uniform(-40, 300))
                change.update(low_reservoir_alarm_at=TODAY + shift, empty_at=TODAY + shift + timedelta(days=9))
                if rng.random() < 0.5:
                    change.update(plausible_alarm_at=TODAY + shift - timedelta(days=rng.uniform(0, 20)))
            else:
                change.update(low_reservoir_alarm_at=None, empty_at=None, plausible_alarm_at=None)
            s.execute(update(m.Pump).where(m.Pump.id == pump_id).values(**change))
        patients = list(s.execute(select(m.Patient.id)).scalars())
        for patient_id in rng.sample(patients, k=len(patients) // 5):
            s.execute(update(m.Patient).where(m.Patient.id == patient_id).values(phase="titrating"))
        statuses = ["booked", "booked", "done", "missed", "cancelled"]
        for appointment_id in rng.sample(list(s.execute(select(m.Appointment.id)).scalars()), k=40):
            s.execute(
                update(m.Appointment).where(m.Appointment.id == appointment_id).values(status=rng.choice(statuses))
            )
        for patient_id in rng.sample(patients, k=6):
            s.add(
                m.SymptomReport(
                    patient_id=patient_id,
                    at=TODAY - timedelta(days=rng.randint(0, 20)),
                    by="mum",
                    symptoms=["fever"],
                    note=None,
                    urgency=rng.choice([None, 0, 1, 2]),
                    triage=None,
                )
            )
        for report_id in list(s.execute(select(m.SymptomReport.id)).scalars()):
            reviewed = rng.choice([None, "dr-test"])
            s.execute(update(m.SymptomReport).where(m.SymptomReport.id == report_id).values(reviewed_by=reviewed))
        for refill_id in rng.sample(list(s.execute(select(m.Refill.id)).scalars()), k=10):
            s.execute(update(m.Refill).where(m.Refill.id == refill_id).values(flagged=True, reviewed_by=None))


def the_shuffled_clinic(sessions: sessionmaker[Session]) -> None:
    rng = random.Random(1)
    shuffle(sessions, rng)
    seen: set[Reason] = set()
    for now in DATES[::2]:
        narrowed, full = both(sessions, now)
        assert narrowed == full, now
        seen.update(r for item in full for r in item.reasons)
    patients = set(rng.sample(range(1, 31), k=8))
    narrowed, full = both(sessions, TODAY, patients)  # a caregiver's children only
    assert narrowed == full
    assert {i.patient_id for i in full} <= patients
    expected = {Reason.FLOW_DRIFT, Reason.STALE, Reason.RECORD_CHECK, Reason.MRI_CHECK, Reason.ERI_SOON}
    assert (
        expected | {Reason.TITRATION_DUE, Reason.DISCREPANCY, Reason.MISSED, Reason.OVERDUE, Reason.SYMPTOM_REPORT}
        <= seen
    )
