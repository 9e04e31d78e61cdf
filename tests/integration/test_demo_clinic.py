"""The demo clinic (``itb demo``): ~40 synthetic patients in every phase, made through the real use cases.

One fill on SQLite in a temporary folder (with a fixed "today") is shared by the tests: it must
succeed, hold every phase and the special cases the worklist must show (an overdue
refill, an unreviewed discrepancy, a pump near its ERI, a vendor-programmed pump's session to
check), hold the vendor-programmed pumps brought in through the import with their recorded
sessions, give working logins, keep the audit chain intact, leave every stored forecast current,
and refuse to fill a second time.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from itb.adapters.db import models as m
from itb.clinic.audit import verify_chain
from itb.clinic.derived import last_reading_state, program_of
from itb.clinic.services import SYSTEM, Actor
from itb.clinic.users import authenticate
from itb.clinic.worklist import worklist
from itb.domain.forecast import forecast_reservoir
from itb.domain.worklist import Reason
from itb.shell.clinic_setup import open_clinic
from itb.simulation.demo_clinic import DemoNotEmpty, fill_demo_clinic

TODAY = datetime(2026, 3, 2, 8, 0)  # a Monday morning


@pytest.fixture(scope="module")
def demo(tmp_path_factory):  # type: ignore[no-untyped-def]
    clinic, engine = open_clinic(str(tmp_path_factory.mktemp("demo") / "c.db"))
    clock = clinic.clock
    logins = fill_demo_clinic(clinic, today=TODAY)
    assert clinic.clock is clock  # the clinic's own clock is given back
    yield clinic, logins
    engine.dispose()


def items_by_pump(clinic):  # type: ignore[no-untyped-def]
    with clinic.sessions() as s:
        return {item.pump_id: item for item in worklist(s, TODAY, clinic.config.booking)}


def test_the_fill_has_every_phase(demo) -> None:  # type: ignore[no-untyped-def]
    clinic, _logins = demo
    with clinic.sessions() as s:
        patients = s.scalars(select(m.Patient)).all()
        pumps = s.scalars(select(m.Pump)).all()
    assert len(patients) == 43  # 40, and 3 with vendor-programmed pumps
    assert Counter(p.phase for p in patients) == {"screening": 4, "titrating": 6, "maintenance": 33}
    assert len(pumps) == 39 and all(p.status == "implanted" for p in pumps)
    assert Counter(p.connection for p in pumps)["vendor"] == 3
    assert len({p.name for p in patients}) == 43
    ages = [(TODAY.date() - p.birth_date).days / 365.25 for p in patients]
    assert min(ages) < 12 < max(ages)  # children and adults
    assert all(p.gmfcs is not None for p, age in zip(patients, ages) if age < 12)
    assert {p.origin for p in patients} == {"spinal", "cerebral"}
    assert any(p.high_risk for p in patients)
    assert {p.model for p in pumps} == {"peristaltic", "valve-gated", "constant-flow"}


def test_histories_come_from_the_use_cases(demo) -> None:  # type: ignore[no-untyped-def]
    clinic, _logins = demo
    with clinic.sessions() as s:
        phase = {p.id: p.phase for p in s.scalars(select(m.Patient))}
        trials = s.scalars(select(m.ScreeningTrial)).all()
        refills = s.scalars(select(m.Refill)).all()
        versions = s.scalars(select(m.ProgramVersion)).all()
        appointments = s.scalars(select(m.Appointment)).all()
        pumps = {p.id: p for p in s.scalars(select(m.Pump))}
    # screening: every screening and titrating patient has a trial; one did not respond to 50 mcg
    assert {t.patient_id for t in trials} == {pid for pid, ph in phase.items() if ph in ("screening", "titrating")}
    assert any(not t.responded and t.dose_mcg == 50 for t in trials)
    assert any("1+" in t.mas_before.values() or "1+" in t.mas_after.values() for t in trials)
    # titration: doses raised through change_program, the next visit booked in the future
    for pump in pumps.values():
        if phase[pump.patient_id] != "titrating":
            continue
        doses = [v.daily_dose_mcg for v in sorted(versions, key=lambda v: v.version) if v.pump_id == pump.id]
        assert len(doses) >= 2 and doses == sorted(doses)
        assert any(
            a.patient_id == pump.patient_id and a.kind == "titration" and a.status == "booked" and a.at > TODAY
            for a in appointments
        )
    # maintenance: several refills each, sold concentrations, bridge boluses after a concentration change
    per_pump = Counter(r.pump_id for r in refills)
    assert all(per_pump[p.id] >= 2 for p in pumps.values() if phase[p.patient_id] == "maintenance")
    assert {r.concentration_mcg_per_ml for r in refills} <= {500, 1000, 2000}
    assert any(r.bridge_bolus_mcg for r in refills)
    assert all(r.at < TODAY for r in refills)
    kinds = Counter((a.kind, a.status) for a in appointments)
    assert kinds[("refill", "missed")] >= 3
    assert kinds[("mri_check", "booked")] == 1
    assert kinds[("screening", "done")] >= 4


def test_logins_work(demo) -> None:  # type: ignore[no-untyped-def]
    clinic, logins = demo
    assert {role for _, _, role in logins} == {"admin", "clinician", "nurse", "caregiver"}
    with clinic.sessions() as s:
        for username, password, role in logins:
            user = authenticate(s, username, password)
            assert user is not None and user.role == role
            assert authenticate(s, username, password + "x") is None
            if role == "caregiver":  # each parent sees their own child only
                me = Actor(username, role, user.id)
                (child,) = s.scalars(clinic.visible_patients(s, me)).all()
                assert (TODAY.date() - child.birth_date).days / 365.25 < 18


def test_the_worklist_shows_the_special_cases(demo) -> None:  # type: ignore[no-untyped-def]
    clinic, _logins = demo
    with clinic.sessions() as s:
        overdue = s.scalars(
            select(m.Appointment).where(m.Appointment.status == "booked", m.Appointment.at < TODAY)
        ).all()
        flagged = s.scalars(select(m.Refill).where(m.Refill.flagged.is_(True), m.Refill.reviewed_by.is_(None))).all()
        reviewed = s.scalars(select(m.Refill).where(m.Refill.reviewed_by.is_not(None))).all()
        near_eri = s.scalars(select(m.Pump).where(m.Pump.eri_at <= TODAY + timedelta(days=183))).all()
        pump_of = {p.patient_id: p.id for p in s.scalars(select(m.Pump))}
    items = items_by_pump(clinic)

    (late,) = overdue
    assert late.kind == "refill"
    item = items[pump_of[late.patient_id]]
    assert Reason.OVERDUE in item.reasons and Reason.NO_REFILL_BOOKED in item.reasons

    (discrepancy,) = flagged
    assert discrepancy.discrepancy_ml == pytest.approx(3, abs=0.5)
    assert "refill_discrepancy" in discrepancy.acknowledged
    assert Reason.DISCREPANCY in items[discrepancy.pump_id].reasons
    assert reviewed and all(r.flagged for r in reviewed)

    (eri,) = near_eri
    assert eri.model == "peristaltic" and eri.eri_at > TODAY and not eri.eri_reached
    assert 4.5 <= (TODAY - eri.implanted_at).days / 365.25 <= 5.5
    assert Reason.ERI_SOON in items[eri.id].reasons

    # every other pump has its refill booked before its alarm, and no titration visit is forgotten
    for item in items.values():
        if item.pump_id != pump_of[late.patient_id]:
            assert Reason.ALARM_BEFORE_REFILL not in item.reasons, item.details
            assert Reason.NO_REFILL_BOOKED not in item.reasons, item.details
        assert Reason.TITRATION_DUE not in item.reasons, item.details
    # every missed refill was rebooked and done since: followed up, so no longer on the list
    assert sum(Reason.MISSED in item.reasons for item in items.values()) == 0


def test_vendor_programmed_pumps_come_in_through_the_import_with_their_sessions(demo) -> None:  # type: ignore[no-untyped-def]
    """A SynchroMed II, a Prometra II and a constant-flow pump, imported from the CSV the demo
    writes; then each visit on the vendor's programmer recorded as a session: refills (one with a
    small discrepancy, under the threshold), a program change, the constant-flow pump's refill with
    a weaker drug (its dose halves: its flow is fixed), and an interrogation whose vendor alarm date
    disagrees with ITB's forecast, on the worklist as a session to check, and only that."""
    clinic, _logins = demo
    with clinic.sessions() as s:
        pumps = {p.model: p for p in s.scalars(select(m.Pump).where(m.Pump.connection == "vendor"))}
        sessions = {
            model: s.scalars(
                select(m.PumpSession).where(m.PumpSession.pump_id == p.id).order_by(m.PumpSession.at)
            ).all()
            for model, p in pumps.items()
        }
        refills = {
            model: s.scalars(select(m.Refill).where(m.Refill.pump_id == p.id).order_by(m.Refill.at)).all()
            for model, p in pumps.items()
        }
        versions = {
            model: s.scalars(
                select(m.ProgramVersion).where(m.ProgramVersion.pump_id == p.id).order_by(m.ProgramVersion.version)
            ).all()
            for model, p in pumps.items()
        }
        booked = {
            model: s.scalars(
                select(m.Appointment).where(
                    m.Appointment.pump_id == p.id, m.Appointment.kind == "refill", m.Appointment.status == "booked"
                )
            ).all()
            for model, p in pumps.items()
        }
        patients = {model: s.get(m.Patient, p.patient_id) for model, p in pumps.items()}
    assert set(pumps) == {"peristaltic", "valve-gated", "constant-flow"}  # synchromed-ii, prometra-ii, constant-flow
    assert all(p.patient_ref and p.phase == "maintenance" for p in patients.values())
    for model, history in sessions.items():
        assert history[0].kind == "import" and history[0].data["pump_serial"] == pumps[model].serial
        assert history[0].at < TODAY - timedelta(days=200) and all(x.at < TODAY for x in history)
        assert Counter(x.kind for x in history)["refill"] == len(refills[model]) >= 3
        assert all(r.by in ("nurse", "clinician") and r.expected_ml > 0 for r in refills[model])
        # the next refill is booked, after today and before the earliest plausible alarm
        (next_refill,) = booked[model]
        alarm = min(t for t in (pumps[model].low_reservoir_alarm_at, pumps[model].plausible_alarm_at) if t)
        assert TODAY < next_refill.at < alarm
    # the SynchroMed II: a small discrepancy (under the 2 mL threshold, not flagged) and a program change
    small = [r for r in refills["peristaltic"] if abs(r.discrepancy_ml) >= 0.5]
    assert len(small) == 1 and 0.5 <= small[0].discrepancy_ml < 2 and not small[0].flagged
    assert not any(r.flagged for rs in refills.values() for r in rs)
    (change,) = [x for x in sessions["peristaltic"] if x.kind == "program"]
    assert change.warnings == []
    assert [v.daily_dose_mcg for v in versions["peristaltic"]] == [
        pytest.approx(503.75),
        pytest.approx(pumps["peristaltic"].daily_dose_mcg),
    ]
    assert pumps["peristaltic"].daily_dose_mcg > 503.75 * 1.1
    # the constant-flow pump: 0.6 mL a day whatever the drug; the refill with 500 mcg/mL halved the dose
    flow = pumps["constant-flow"]
    assert sessions["constant-flow"][0].data["flow_ml_per_day"] == 0.6
    assert [r.concentration_mcg_per_ml for r in refills["constant-flow"]][:2] == [1000, 500]
    assert flow.concentration_mcg_per_ml == 500 and flow.daily_dose_mcg == pytest.approx(0.6 * 500)
    assert [v.daily_dose_mcg for v in versions["constant-flow"]] == [pytest.approx(600), pytest.approx(300)]
    weaker = next(
        x for x in sessions["constant-flow"] if x.kind == "refill" and x.data["concentration_mcg_per_ml"] == 500
    )
    assert weaker.warnings == [] and "reduction_step_max" in weaker.data["acknowledged"]  # reviewed, acknowledged
    # the Prometra II: its last session, an interrogation, copied a vendor alarm date 6 days off ITB's
    last = sessions["valve-gated"][-1]
    assert last.kind == "interrogation" and len(last.warnings) == 1 and last.warnings[0].startswith("vendor_alarm:")
    assert all(x.warnings == [] for model in sessions for x in sessions[model] if x is not last)

    items = items_by_pump(clinic)
    item = items[pumps["valve-gated"].id]
    assert item.reasons == (Reason.SESSION_CHECK,)
    assert "check the program and the volume entered" in item.details[0]
    assert pumps["peristaltic"].id not in items and pumps["constant-flow"].id not in items


def test_the_audit_chain_verifies(demo) -> None:  # type: ignore[no-untyped-def]
    clinic, _logins = demo
    with clinic.sessions() as s:
        assert verify_chain(s) == []
        times = s.scalars(select(m.AuditEntry.at).order_by(m.AuditEntry.id)).all()
    assert times == sorted(times) and times[-1] < TODAY  # written in the order things happened


def test_stored_forecasts_are_current(demo) -> None:  # type: ignore[no-untyped-def]
    clinic, _logins = demo
    with clinic.sessions() as s:
        stored = {p.id: (p.low_reservoir_alarm_at, p.empty_at, p.eri_at) for p in s.scalars(select(m.Pump))}
        vendor = {p.id: p for p in s.scalars(select(m.Pump).where(m.Pump.connection == "vendor"))}
    for pump in vendor.values():  # ITB cannot read them: the forecast is the exact one of the last session
        forecast = forecast_reservoir(last_reading_state(pump), program_of(pump))
        assert (pump.low_reservoir_alarm_at, pump.empty_at) == (forecast.low_reservoir_alarm_at, forecast.empty_at)
        assert pump.low_reservoir_alarm_at is not None and pump.low_reservoir_alarm_at > TODAY
    clock = clinic.clock
    clinic.clock = lambda: TODAY
    try:
        for pump_id, (alarm, empty, eri) in stored.items():
            if pump_id in vendor:
                continue
            fresh = clinic.interrogate(SYSTEM, pump_id)
            assert abs(fresh.low_reservoir_alarm_at - alarm) <= timedelta(minutes=1)
            assert abs(fresh.empty_at - empty) <= timedelta(minutes=1)
            assert abs(fresh.eri_at - eri) <= timedelta(days=1)
    finally:
        clinic.clock = clock


def test_a_second_fill_is_refused(demo) -> None:  # type: ignore[no-untyped-def]
    clinic, _logins = demo
    with pytest.raises(DemoNotEmpty, match="already has patients"):
        fill_demo_clinic(clinic, today=TODAY)
