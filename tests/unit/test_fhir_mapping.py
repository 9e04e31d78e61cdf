"""The FHIR mapping on records made in memory: a flexible program as dosage instructions, a
replacement, the clinic's time zone, ids, and every resource valid."""

from __future__ import annotations

from datetime import date, datetime

from itb.adapters.db import models as m
from itb.clinic.fhir_records import PatientRecords
from itb.contracts.forecast import program_json
from itb.domain.program import DailyBolus, DosingProgram, Step
from itb.interop.fhir_bundle import validated
from itb.interop.fhir_resources import dosage, patient_resources

FLEXIBLE = DosingProgram(
    steps=(Step(0, 300.0), Step(420, 450.0), Step(1200, 350.0)), daily_boluses=(DailyBolus(480, 50.0, 30.0),)
)


def pump(pid: int, implanted: datetime, explanted: datetime | None = None) -> m.Pump:
    return m.Pump(
        id=pid, patient_id=1, model="peristaltic", serial=f"SN{pid}", reservoir_capacity_ml=20.0,
        low_reservoir_alarm_ml=2.0, empty_ml=0.0, implanted_at=implanted, catheter_length_cm=50.0,
        catheter_volume_ml=0.2, status="explanted" if explanted else "implanted", explanted_at=explanted,
        reading_at=implanted, reading_reservoir_ml=18.0, concentration_mcg_per_ml=500.0,
        program=program_json(FLEXIBLE), daily_dose_mcg=FLEXIBLE.daily_dose_mcg,
    )  # fmt: skip


def records(time_zone: str = "Europe/Berlin") -> PatientRecords:
    patient = m.Patient(
        id=1, name="Ana Berg", patient_ref="H-1", birth_date=date(2015, 2, 3), origin="cerebral",
        injury_t6_or_above=False, cannot_communicate=True, earlier_withdrawal=False, phase="maintenance",
    )  # fmt: skip
    old, new = (
        pump(1, datetime(2019, 6, 1, 9, 0), explanted=datetime(2026, 7, 1, 10, 0)),
        pump(2, datetime(2026, 7, 1, 11, 0)),
    )
    version = m.ProgramVersion(
        id=5, pump_id=2, version=1, program=program_json(FLEXIBLE), daily_dose_mcg=FLEXIBLE.daily_dose_mcg,
        at=datetime(2026, 7, 1, 11, 0), by="dr-a",
    )  # fmt: skip
    return PatientRecords(
        patient=patient, pumps=[old, new], versions=[version], refills=[], boluses=[], sessions=[],
        appointments=[], assessments=[], screenings=[], reports=[], audit=[], now=datetime(2026, 12, 1, 9, 0),
        time_zone=time_zone,
    )  # fmt: skip


def test_a_flexible_program_is_one_dosage_per_step_and_bolus() -> None:
    steps = dosage(FLEXIBLE)
    rates = [d for d in steps if "rateQuantity" in d["doseAndRate"][0]]
    assert [d["timing"]["repeat"]["timeOfDay"] for d in rates] == [["00:00:00"], ["07:00:00"], ["20:00:00"]]
    assert sum(d["timing"]["repeat"]["duration"] for d in rates) == 1440  # the steps cover the day once
    assert [d["doseAndRate"][0]["rateQuantity"]["code"] for d in rates] == ["ug/d"] * 3
    (bolus,) = [d for d in steps if "doseQuantity" in d["doseAndRate"][0]]
    assert bolus["doseAndRate"][0]["doseQuantity"]["value"] == 50.0 and bolus["timing"]["repeat"]["duration"] == 30.0
    assert [d["sequence"] for d in steps] == [1, 2, 3, 4]


def test_a_replacement_names_both_pumps() -> None:
    made = patient_resources(records())
    (replacement,) = [r for r in made if r["resourceType"] == "Procedure" and r["id"] == "1-replacement-1"]
    devices = [d["manipulated"]["reference"] for d in replacement["focalDevice"]]
    assert devices == ["Device/1-pump-1", "Device/1-pump-2"]
    uses = {r["id"]: r["status"] for r in made if r["resourceType"] == "DeviceUseStatement"}
    assert uses == {"1-use-1": "completed", "1-use-2": "active"}


def test_times_carry_the_clinics_offset() -> None:
    made = {r["id"]: r for r in patient_resources(records("Europe/Berlin"))}
    assert made["1-program-5"]["authoredOn"] == "2026-07-01T11:00:00+02:00"  # summer time
    assert made["1-use-1"]["timingPeriod"]["start"] == "2019-06-01T09:00:00+02:00"
    utc = {r["id"]: r for r in patient_resources(records("UTC"))}
    assert utc["1-program-5"]["authoredOn"] == "2026-07-01T11:00:00Z"


def test_every_resource_is_valid_and_names_its_patient() -> None:
    made = patient_resources(records())
    assert made[0]["resourceType"] == "Patient" and made[0]["identifier"][0]["value"] == "H-1"
    for resource in made:
        assert validated(resource) == resource
        assert resource["resourceType"] == "Patient" or resource["id"].startswith("1-")
    (flag,) = [r for r in made if r["resourceType"] == "Flag"]
    assert "never stop abruptly" in flag["code"]["text"] and "cannot tell" in flag["code"]["text"]
