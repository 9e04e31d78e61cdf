"""The pump use cases on fakes of their ports (no telemetry, no virtual pump): fast, and a proof
that the record-send-settle order holds for any pump behind the gateway.

The record is an in-memory SQLite database made from the models; the pumps and the locks are
``tests/fakes.py``.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.pool import StaticPool

from fakes import FakeLocks, FakePumps
from itb.adapters.db import models as m
from itb.adapters.db.engine import session_factory
from itb.clinic.services import SYSTEM, Actor, Clinic, ClinicConfig, Conflict, PumpChangeFailed
from itb.domain.program import DosingProgram

NOW = datetime(2026, 11, 23, 9, 0)  # a Monday
NURSE = Actor("nurse", "nurse")
DOCTOR = Actor("doctor", "clinician")
REFILL = {"withdrawn_ml": 19.6, "added_ml": 20.0, "concentration_mcg_per_ml": 500.0}


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def world(tmp_path: Path):  # type: ignore[no-untyped-def]
    engine = create_engine("sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False})
    m.Base.metadata.create_all(engine)
    clock = Clock()
    pumps, locks = FakePumps(clock), FakeLocks()
    clinic = Clinic(
        session_factory(engine, b"unit-test-audit-key-" * 2), ClinicConfig(tmp_path), clock, gateway=pumps, locks=locks
    )
    patient = clinic.register_patient(SYSTEM, name="Ana", birth_date=date(1990, 1, 1), origin="spinal")
    pump = clinic.implant_pump(
        SYSTEM,
        patient.id,
        model="peristaltic",
        serial="SN-1",
        reservoir_capacity_ml=20.0,
        catheter_length_cm=50.0,
        reservoir_ml=20.0,
        concentration_mcg_per_ml=500.0,
        program=DosingProgram.simple_continuous(400),
        acknowledged=("no_positive_screening",),
    )
    clock.now += timedelta(days=2)
    yield clinic, pumps, locks, clock, pump.id
    engine.dispose()


def rows(clinic: Clinic, model: type) -> list:
    with clinic.sessions() as s:
        return list(s.execute(select(model)).scalars())


def version(clinic: Clinic, pump_id: int) -> int:
    with clinic.sessions() as s:
        return s.get(m.Pump, pump_id).version  # type: ignore[union-attr]


def test_a_lost_answer_is_settled_from_the_pump_log_and_recorded_once(world) -> None:  # type: ignore[no-untyped-def]
    clinic, pumps, _, _, pump_id = world
    pumps.lose_answers = True
    refill = clinic.refill(NURSE, pump_id, expected_version=version(clinic, pump_id), **REFILL)
    assert [e["type"] for e in pumps.pumps[pump_id].log] == ["refill"]  # applied once
    (change,) = rows(clinic, m.PumpChange)
    assert (change.status, refill.change_key) == ("applied", change.key)
    assert len(rows(clinic, m.Refill)) == 1


def test_a_refusal_records_nothing_but_the_refusal(world) -> None:  # type: ignore[no-untyped-def]
    clinic, pumps, _, _, pump_id = world
    pumps.refuse = {"refill"}
    with pytest.raises(PumpChangeFailed, match="refused"):
        clinic.refill(NURSE, pump_id, expected_version=version(clinic, pump_id), **REFILL)
    assert rows(clinic, m.Refill) == [] and rows(clinic, m.PumpChange)[0].status == "refused"
    with clinic.sessions() as s:
        actions = list(s.execute(select(m.AuditEntry.action)).scalars())
    assert actions.count("change_not_applied") == 1 and "refill" not in actions


def test_a_bridge_bolus_is_never_sent_after_a_refill_that_did_not_apply(world) -> None:  # type: ignore[no-untyped-def]
    clinic, pumps, _, _, pump_id = world
    pumps.refuse = {"refill"}
    with pytest.raises(PumpChangeFailed):
        clinic.refill(
            NURSE,
            pump_id,
            expected_version=version(clinic, pump_id),
            withdrawn_ml=19.6,
            added_ml=20.0,
            concentration_mcg_per_ml=1000.0,  # a new concentration: a bridge bolus follows the refill
            acknowledged=("concentration_change",),
        )
    statuses = {c.command: c.status for c in rows(clinic, m.PumpChange)}
    assert statuses == {"refill": "refused", "bolus": "not_applied"}
    assert pumps.pumps[pump_id].log == []


def test_a_pump_out_of_reach_after_the_send_leaves_the_change_pending_until_it_is_read(world) -> None:  # type: ignore[no-untyped-def]
    clinic, pumps, _, clock, pump_id = world
    pumps.out_of_reach_after_send = True
    with pytest.raises(PumpChangeFailed, match="stays pending"):
        clinic.refill(NURSE, pump_id, expected_version=version(clinic, pump_id), **REFILL)
    assert rows(clinic, m.PumpChange)[0].status == "pending" and rows(clinic, m.Refill) == []
    pumps.out_of_reach_after_send = pumps.unreachable = False
    clock.now += timedelta(hours=1)
    clinic.interrogate(NURSE, pump_id)
    assert rows(clinic, m.PumpChange)[0].status == "applied" and len(rows(clinic, m.Refill)) == 1


def test_a_busy_pump_is_a_conflict_and_nothing_is_recorded(world) -> None:  # type: ignore[no-untyped-def]
    clinic, pumps, locks, _, pump_id = world
    locks.held.add(pump_id)  # another process holds it
    with pytest.raises(Conflict, match="busy"):
        clinic.refill(NURSE, pump_id, expected_version=version(clinic, pump_id), **REFILL)
    assert rows(clinic, m.PumpChange) == [] and pumps.pumps[pump_id].log == []


def test_a_pump_that_forgot_its_changes_is_flagged_not_adopted(world) -> None:  # type: ignore[no-untyped-def]
    clinic, pumps, _, clock, pump_id = world
    clinic.change_program(
        DOCTOR, pump_id, DosingProgram.simple_continuous(440), expected_version=version(clinic, pump_id)
    )
    pumps.roll_back(pump_id, 1)
    pumps.pumps[pump_id].version = 1
    clock.now += timedelta(hours=3)
    pump = clinic.interrogate(NURSE, pump_id)
    assert pump.regressed_at is not None and pump.program_version == 2  # the record keeps what it saw
    with clinic.sessions() as s:
        assert s.execute(select(func.count()).select_from(m.ProgramVersion)).scalar_one() == 2
