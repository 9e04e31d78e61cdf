"""A vendor-programmed pump and a virtual pump through the same year give the same worklist answers.

One story (:data:`STORY`) is played twice in one clinic, on SQLite and on PostgreSQL: on a
**virtual pump** ITB talks to (implanted, refilled and reprogrammed through the clinic's own use
cases, the simulated pump running between the visits as the clinic's clock advances) and on a
**vendor-programmed pump** (brought in through the clinic import, each visit recorded as a session
with the readings the virtual pump shows at that visit: its residual as the vendor's expected
volume, its alarm date as the vendor's). At every checkpoint both pumps must give the same
worklist reasons, the same days until the alarm and until empty (to within a minute), the same
booked refill, the same learned flow and the same discrepancy flags.

The story: a spinal-origin adult on a 40 mL peristaltic pump (SynchroMed II) at 1000 mcg/mL,
400 mcg/day, then a year of refills on the booked dates: a small discrepancy (+0.4 mL, within
the 2 mL threshold), a program change reviewed as 440 mcg/day and set as a flexible 450 mcg/day
(on the vendor pump: the review is a dry-run session of the reviewed program, then the session
of the program actually set; on the virtual pump: the reviewed program is previewed and the
one actually set is sent; neither path moves the booked refill after the increase, so the alarm
comes before it on both until the nurse moves it), a withdrawal 3.4 mL short of the expected
(a flagged discrepancy, which also makes the learned flow drift), its review, an MRI with its
post-scan check, a missed refill rebooked, and further refills to the end of the year.

Where the two legitimately differ, the story avoids it, and these are not compared:

- the virtual pump simulates no flow error (``flow_error=0``): a real pump's error shows only in
  what the nurse withdraws, which the story gives both pumps alike;
- the virtual pump's battery forecast (``eri_at``): a vendor pump's record has none (the vendor
  programmer reports it); the implant is recent enough for no ERI reason to arise;
- a pump ITB implants starts "titrating" and the import knows no refill booking of its own: the
  virtual patient is set to maintenance and its first refill is booked by the rule the import
  uses (``refill_booking_date`` from the earliest plausible alarm), as a clinic taking over the
  records would;
- the MRI itself: the simulator is not put in a magnet (the story's pumps keep infusing), so the
  scan is the booked scan and its post-scan check, done by an interrogation: by ITB (virtual pump)
  or on the vendor's programmer, recorded as an ``interrogation`` session (vendor pump).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

import pytest

from itb.adapters.db import models as m
from itb.clinic.derived import earliest_alarm_at, estimated_reservoir_ml
from itb.clinic.services import Actor, Clinic, NotSent
from itb.clinic.worklist import situations, worklist
from itb.contracts.forecast import program_json
from itb.domain.program import DosingProgram, Step
from itb.domain.scheduling import refill_booking_date
from itb.domain.worklist import Reason

START = datetime(2026, 1, 5, 9, 0)  # a Monday
END = START + timedelta(days=365)
IMPLANTED = date(2024, 6, 3)
BIRTH = date(1984, 3, 14)
CAPACITY_ML = 40.0
CONC = 1000.0
FIRST_FILL_ML = 38.0
FILL_ML = 38.0
FIRST = DosingProgram.simple_continuous(400)
REVIEWED = DosingProgram.simple_continuous(440)  # what the clinician reviewed
SET = DosingProgram(steps=(Step(0, 500), Step(420, 420), Step(1320, 500)))  # what was set: 450 mcg/day
#: what the nurse withdraws at each refill, against the pump's own count (mL); refill 2 is short
#: by more than the 2 mL threshold of a 40 mL pump
WITHDRAWN_VS_EXPECTED = {1: +0.4, 2: -3.4, 3: -0.3, 4: +0.2, 5: 0.0}
MISSED_REFILL = 4  # the patient does not come to this refill; it is rebooked two clinic days later
MINUTE = 1 / 1440
assert SET.daily_dose_mcg == 450


@dataclass
class Pair:
    """The two pumps of the story, the actors, and the clinic."""

    clinic: Clinic
    clock: Any
    nurse: Actor
    clinician: Actor
    virtual: int
    vendor: int
    virtual_patient: int
    vendor_patient: int
    checkpoints: int = 0


def _when(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M")


def _fresh(clinic: Clinic, pump_id: int) -> m.Pump:
    with clinic.sessions() as s:
        pump = s.get(m.Pump, pump_id)
        assert pump is not None
        return pump


def _booked_refill(clinic: Clinic, pump_id: int) -> m.Appointment | None:
    with clinic.sessions() as s:
        rows = s.query(m.Appointment).filter_by(pump_id=pump_id, kind="refill", status="booked").all()
    return min(rows, key=lambda a: a.at, default=None)


def _start(clinic: Clinic, clock: Any, users: dict[str, Actor]) -> Pair:
    clinician, nurse = users["clinician"], users["nurse"]
    clock.set(START)
    # the virtual pump: registered and implanted by the clinic, then in maintenance, its refill booked
    patient = clinic.register_patient(nurse, name="Vera Virtual", birth_date=BIRTH, origin="spinal")
    fields: dict[str, Any] = dict(
        model="peristaltic", serial="VIRT-0001", reservoir_capacity_ml=CAPACITY_ML, catheter_length_cm=50.0,
        reservoir_ml=FIRST_FILL_ML, concentration_mcg_per_ml=CONC, program=FIRST,
        implanted_at=datetime.combine(IMPLANTED, time.min),
    )  # fmt: skip
    try:
        pump = clinic.implant_pump(clinician, patient.id, **fields)
    except NotSent as exc:
        assert not exc.assessment.refusals, exc.assessment
        codes = tuple(f.code for f in exc.assessment.confirmations)
        pump = clinic.implant_pump(clinician, patient.id, acknowledged=codes, **fields)
    clinic.set_phase(clinician, patient.id, "maintenance")
    pump = _fresh(clinic, pump.id)
    day = refill_booking_date(
        START.date(), START.date(), earliest_alarm_at(pump), clinic.config.calendar, clinic.config.booking
    )
    clinic.book(nurse, patient.id, kind="refill", at=datetime.combine(day, time(10, 0)), pump_id=pump.id)
    # the vendor pump: the clinic's import file, the same pump as it stood after the same session
    header = (
        "patient_ref,family_name,given_name,birth_date,origin,pump_model,pump_serial,reservoir_capacity_ml,"
        "implanted_on,catheter_length_cm,session_at,reservoir_ml,concentration_mcg_per_ml,program,vendor_alarm_at"
    )
    row = (
        f"MRN-EQ-1,Vendor,Vera,{BIRTH},spinal,synchromed-ii,NGP-EQ-0001,{CAPACITY_ML:g},{IMPLANTED},50,"
        f"{_when(START)},{FIRST_FILL_ML:g},{CONC:g},{FIRST.daily_dose_mcg:g},{_when(pump.low_reservoir_alarm_at)}"
    )
    report = clinic.import_clinic(clinician, f"{header}\n{row}\n")
    (imported,) = report.rows
    assert imported["status"] == "created" and imported["warnings"] == []
    return Pair(clinic, clock, nurse, clinician, pump.id, imported["pump_id"], patient.id, imported["patient_id"])


# ---------------------------------------------------------------------------------- the two ways of each visit
def _session(pair: Pair, kind: str, **fields: Any) -> Any:
    """A session of the vendor pump at the clinic's now; the outcome of ``record_session``."""
    version = _fresh(pair.clinic, pair.vendor).version
    return pair.clinic.record_session(
        pair.nurse if kind != "program" else pair.clinician, pair.vendor, kind=kind, at=pair.clock.now,
        expected_version=version, **fields,
    )  # fmt: skip


def _outcome(result: Any) -> tuple[m.PumpSession, Any, m.Pump]:
    """(session, assessment, pump) of a recorded session (``record_session``'s outcome)."""
    return result.session, result.assessment, result.pump


def _refill(pair: Pair, n: int) -> None:
    """Refill ``n`` at the booked visit: the virtual pump is interrogated and refilled; the vendor
    session records what the nurse withdrew and added, with the virtual pump's readings."""
    clinic, nurse = pair.clinic, pair.nurse
    read = clinic.interrogate(nurse, pair.virtual)
    expected = read.reading_reservoir_ml
    withdrawn = round(expected + WITHDRAWN_VS_EXPECTED[n], 3)
    acknowledged = ("refill_discrepancy",) if abs(WITHDRAWN_VS_EXPECTED[n]) > 2 else ()
    lot = f"BAC-EQ-{n}"
    clinic.refill(
        nurse, pair.virtual, withdrawn_ml=withdrawn, added_ml=FILL_ML, concentration_mcg_per_ml=CONC,
        expected_version=read.version, lot=lot, acknowledged=acknowledged,
    )  # fmt: skip
    after = _fresh(clinic, pair.virtual)
    session, assessment, _ = _outcome(
        _session(
            pair, "refill", withdrawn_ml=withdrawn, vendor_expected_ml=expected, added_ml=FILL_ML,
            concentration_mcg_per_ml=CONC, lot=lot, vendor_alarm_at=after.low_reservoir_alarm_at,
            acknowledged=acknowledged,
        )
    )  # fmt: skip
    assert session.warnings == [], session.warnings  # the vendor's alarm agrees; a discrepancy acknowledged
    assert session.data["itb_expected_ml"] == pytest.approx(expected, abs=1e-3)
    assert ("refill_discrepancy" in {f.code for f in assessment.findings}) == bool(acknowledged)


def _program_change(pair: Pair) -> None:
    """Reviewed as 440 mcg/day; the vendor programmer was set to the flexible 450 mcg/day."""
    clinic, clinician = pair.clinic, pair.clinician
    virtual_review = clinic.preview_program(clinician, pair.virtual, REVIEWED)
    before = _fresh(clinic, pair.vendor)
    sessions_before = _count_sessions(clinic, pair.vendor)
    dry = _session(pair, "program", program=REVIEWED, dry_run=True)
    _, vendor_review, _ = _outcome(dry)
    assert dry.dry_run is True and dry.booked is None
    # the review stores nothing: the record is as before
    assert _count_sessions(clinic, pair.vendor) == sessions_before
    unchanged = _fresh(clinic, pair.vendor)
    assert (unchanged.version, unchanged.program_version, unchanged.program) == (
        before.version,
        before.program_version,
        before.program,
    )
    assert {f.code for f in vendor_review.findings} == {f.code for f in virtual_review.assessment.findings}
    # what was actually set
    clinic.change_program(clinician, pair.virtual, SET, expected_version=_fresh(clinic, pair.virtual).version)
    session, _, pump = _outcome(_session(pair, "program", program=SET))
    assert session.warnings == [] and pump.program == program_json(SET)


def _count_sessions(clinic: Clinic, pump_id: int) -> int:
    with clinic.sessions() as s:
        return s.query(m.PumpSession).filter_by(pump_id=pump_id).count()


def _review_discrepancies(pair: Pair) -> None:
    with pair.clinic.sessions() as s:
        flagged = [
            r.id
            for r in s.query(m.Refill).filter(m.Refill.flagged.is_(True), m.Refill.reviewed_by.is_(None))
            if r.pump_id in (pair.virtual, pair.vendor)
        ]
    assert len(flagged) == 2
    for refill_id in flagged:
        pair.clinic.review_discrepancy(pair.clinician, refill_id)


def _mri(pair: Pair, scan: datetime, minutes: float) -> list[int]:
    """The scan and its post-scan check booked for both patients; the scans' appointment ids."""
    scans, plans = [], []
    for patient_id in (pair.virtual_patient, pair.vendor_patient):
        booked, _check, plan = pair.clinic.book_mri(
            pair.clinician, patient_id, scan, duration_minutes=minutes, field_strength_t=1.5
        )
        scans.append(booked.id)
        plans.append(plan)
    assert plans[0] == plans[1]  # the same pump model, reservoir and dose: the same checklist
    return scans


def _post_scan_check(pair: Pair) -> None:
    read = pair.clinic.interrogate(pair.nurse, pair.virtual)
    session, _, _ = _outcome(_session(pair, "interrogation", reservoir_ml=read.reading_reservoir_ml))
    assert session.warnings == []


def _miss(pair: Pair) -> datetime:
    """The patient does not come: both visits marked missed, rebooked two clinic days later."""
    calendar = pair.clinic.config.calendar
    day = calendar.on_or_after(pair.clock.now.date() + timedelta(days=1))
    day = calendar.on_or_after(day + timedelta(days=1))
    again = datetime.combine(day, time(10, 0))
    for pump_id in (pair.virtual, pair.vendor):
        booked = _booked_refill(pair.clinic, pump_id)
        assert booked is not None
        pair.clinic.set_appointment_status(pair.nurse, booked.id, "missed")
    return again


def _rebook(pair: Pair, again: datetime) -> None:
    for pump_id, patient_id in ((pair.virtual, pair.virtual_patient), (pair.vendor, pair.vendor_patient)):
        pair.clinic.book(pair.nurse, patient_id, kind="refill", at=again, pump_id=pump_id, notes="rebooked")


def _rebook_by_rule(pair: Pair) -> None:
    """The nurse moves each pump's refill to the clinic's rule from its earliest plausible alarm."""
    clinic = pair.clinic
    for pump_id, patient_id in ((pair.virtual, pair.virtual_patient), (pair.vendor, pair.vendor_patient)):
        pump = _fresh(clinic, pump_id)
        booked = _booked_refill(clinic, pump_id)
        assert booked is not None and pump.last_refill_at is not None
        day = refill_booking_date(
            pair.clock.now.date(), pump.last_refill_at.date(), earliest_alarm_at(pump), clinic.config.calendar,
            clinic.config.booking,
        )  # fmt: skip
        clinic.set_appointment_status(pair.nurse, booked.id, "cancelled")
        clinic.book(pair.nurse, patient_id, kind="refill", at=datetime.combine(day, time(10, 0)), pump_id=pump_id)


# ---------------------------------------------------------------------------------- what is compared
@dataclass(frozen=True)
class Answers:
    """What the worklist and the record say about one pump at one instant."""

    reasons: tuple[Reason, ...]
    days_until_alarm: float | None
    days_until_empty: float | None
    next_refill: date | None
    flow: tuple[float | None, float | None, int | None]
    drift: str | None
    discrepancies: tuple[tuple[bool, bool, float], ...]  # (flagged, reviewed, withdrawn - expected)
    reservoir_now_ml: float
    daily_dose_mcg: float


def _answers(clinic: Clinic, pump_id: int, now: datetime) -> Answers:
    with clinic.sessions() as s:
        items = {i.pump_id: i for i in worklist(s, now, clinic.config.booking, flow=clinic.config.flow)}
        situation = next(x for x in situations(s, now, flow=clinic.config.flow) if x.pump_id == pump_id)
        pump = s.get(m.Pump, pump_id)
        assert pump is not None
        refills = s.query(m.Refill).filter_by(pump_id=pump_id).order_by(m.Refill.at).all()
        discrepancies = tuple((r.flagged, r.reviewed_by is not None, round(r.discrepancy_ml, 3)) for r in refills)
        reservoir = estimated_reservoir_ml(pump, now)
        flow = (pump.flow_ratio, pump.flow_ratio_sd, pump.flow_refills)
    item = items.get(pump_id)

    def days(at: datetime | None) -> float | None:
        return None if at is None else (at - now).total_seconds() / 86400

    alarm, empty = days(situation.earliest_alarm_at), days(situation.earliest_empty_at)
    if item is not None:  # the item's days are the situation's
        assert item.days_until_alarm == pytest.approx(alarm) and item.days_until_empty == pytest.approx(empty)
    return Answers(
        reasons=() if item is None else item.reasons,
        days_until_alarm=alarm,
        days_until_empty=empty,
        next_refill=situation.next_refill_booked,
        flow=flow,
        drift=situation.flow_drift,
        discrepancies=discrepancies,
        reservoir_now_ml=reservoir,
        daily_dose_mcg=pump.daily_dose_mcg,
    )


def _close(a: float | None, b: float | None, tolerance: float) -> bool:
    return (a is None and b is None) or (a is not None and b is not None and abs(a - b) <= tolerance)


def check(pair: Pair, label: str, *expected: Reason) -> Answers:
    """The checkpoint: both pumps give the same answers (and the story's expected reasons)."""
    pair.checkpoints += 1
    now = pair.clock.now
    virtual = _answers(pair.clinic, pair.virtual, now)
    vendor = _answers(pair.clinic, pair.vendor, now)
    where = f"{label} at {now:%Y-%m-%d %H:%M}: virtual {virtual} / vendor {vendor}"
    assert vendor.reasons == virtual.reasons, where
    assert set(virtual.reasons) == set(expected), where
    assert _close(vendor.days_until_alarm, virtual.days_until_alarm, MINUTE), where
    assert _close(vendor.days_until_empty, virtual.days_until_empty, MINUTE), where
    assert vendor.next_refill == virtual.next_refill, where
    assert vendor.flow[2] == virtual.flow[2], where
    assert _close(vendor.flow[0], virtual.flow[0], 1e-4) and _close(vendor.flow[1], virtual.flow[1], 1e-4), where
    assert vendor.drift == virtual.drift, where
    assert len(vendor.discrepancies) == len(virtual.discrepancies), where
    for (f1, r1, d1), (f2, r2, d2) in zip(vendor.discrepancies, virtual.discrepancies):
        assert (f1, r1) == (f2, r2) and abs(d1 - d2) <= 1e-3, where
    assert vendor.reservoir_now_ml == pytest.approx(virtual.reservoir_now_ml, abs=1e-3), where
    assert vendor.daily_dose_mcg == pytest.approx(virtual.daily_dose_mcg), where
    return virtual


# ---------------------------------------------------------------------------------- the year
def _to_booked_refill(pair: Pair) -> datetime:
    """The clock to both pumps' booked refill (the same visit on both)."""
    virtual = _booked_refill(pair.clinic, pair.virtual)
    vendor = _booked_refill(pair.clinic, pair.vendor)
    assert virtual is not None and vendor is not None
    assert virtual.at == vendor.at
    return pair.clock.set(virtual.at)


def test_a_year_of_sessions_gives_the_worklist_answers_of_the_same_year_on_a_virtual_pump(clinic, users, clock):
    pair = _start(clinic, clock, users)
    start = check(pair, "the start")
    # the pump's own alarm is 90 days away (36 mL at 0.4 mL/day); the earliest plausible one earlier
    assert start.next_refill is not None and start.days_until_alarm is not None and start.days_until_alarm < 90

    # refill 1: a small discrepancy, not flagged
    clock.set(datetime.combine(start.next_refill, time(8, 0)))
    check(pair, "the morning of refill 1")
    _to_booked_refill(pair)
    _refill(pair, 1)
    clock.advance(hours=20)
    after_first = check(pair, "the day after refill 1")
    assert after_first.discrepancies == ((False, False, 0.4),) and after_first.flow[2] == 1

    # two weeks later: a program change, reviewed as one program and set as another
    clock.advance(days=13, hours=2)
    _program_change(pair)
    clock.advance(days=1)
    # neither path moves the booked refill after a dose increase: the worklist says so, alike
    changed = check(pair, "the day after the program change", Reason.ALARM_BEFORE_REFILL)
    assert changed.daily_dose_mcg == 450
    _rebook_by_rule(pair)
    moved = check(pair, "the refill moved earlier")
    assert moved.next_refill is not None and changed.next_refill is not None
    assert moved.next_refill < changed.next_refill

    # refill 2: 3.4 mL less withdrawn than the pump counts (flagged; the flow is learned from it)
    _to_booked_refill(pair)
    _refill(pair, 2)
    clock.advance(hours=20)
    flagged = check(pair, "the day after refill 2", Reason.DISCREPANCY, Reason.FLOW_DRIFT)
    assert flagged.discrepancies[-1][:2] == (True, False) and flagged.flow[0] is not None and flagged.flow[0] > 1.05
    clock.advance(days=3)
    _review_discrepancies(pair)
    check(pair, "the discrepancy reviewed", Reason.FLOW_DRIFT)

    # an MRI: the post-scan check is on the worklist from the scan's end until it is done
    calendar = clinic.config.calendar
    scan_day = calendar.on_or_after(clock.now.date() + timedelta(days=20))
    scan = datetime.combine(scan_day, time(13, 0))
    scans = _mri(pair, scan, 45)
    clock.set(scan + timedelta(minutes=50))
    for scan_id in scans:  # the scan happened
        clinic.set_appointment_status(pair.nurse, scan_id, "done")
    # the check is due at the scan's end: booked in the past and not done, so also overdue
    check(pair, "after the scan", Reason.FLOW_DRIFT, Reason.MRI_CHECK, Reason.OVERDUE)
    _post_scan_check(pair)
    clock.advance(minutes=30)
    check(pair, "after the post-scan check", Reason.FLOW_DRIFT)

    # refills 3 to 5 on the booked dates, one of them missed and rebooked
    n = 3
    while n in WITHDRAWN_VS_EXPECTED:
        booked = _booked_refill(clinic, pair.virtual)
        assert booked is not None
        if booked.at > END:
            break
        clock.set(booked.at - timedelta(days=2))
        check(pair, f"two days before refill {n}", *_drift_if_any(pair))
        _to_booked_refill(pair)
        if n == MISSED_REFILL:
            clock.advance(hours=7)
            again = _miss(pair)
            missed = check(pair, f"refill {n} missed", *_drift_if_any(pair), Reason.MISSED, Reason.NO_REFILL_BOOKED)
            assert missed.next_refill is None
            _rebook(pair, again)
            clock.set(again)
        _refill(pair, n)
        clock.advance(hours=20)
        check(pair, f"the day after refill {n}", *_drift_if_any(pair))
        n += 1
    assert n == max(WITHDRAWN_VS_EXPECTED) + 1, "the story's year ended before its last refill"

    clock.set(END)
    end = check(pair, "a year after the start", *_drift_if_any(pair))
    assert end.flow[2] == n - 1 and len(end.discrepancies) == n - 1
    assert pair.checkpoints >= 12


def _drift_if_any(pair: Pair) -> tuple[Reason, ...]:
    """After the later refills the learned flow may come back within the drift setting: whatever
    the virtual pump's record says, the vendor pump must say the same (checked by ``check``)."""
    pump = _fresh(pair.clinic, pair.virtual)
    off = None if pump.flow_ratio is None else abs(pump.flow_ratio - 1)
    return (Reason.FLOW_DRIFT,) if off is not None and off > pair.clinic.config.flow.drift_flag_fraction else ()
