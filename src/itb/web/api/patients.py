"""Patients: registration and edits, the phase of care, screening trials and assessments, and the
plans the chart makes from them (the titration proposal, the pump-size advice)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter

from itb.clinic import views
from itb.clinic.services import Actor, Clinic, row_json
from itb.web.api.answers import (
    READ,
    AssessmentOut,
    PatientOut,
    PatientRecordOut,
    PumpSizeOut,
    ScreeningEntryOut,
    ScreeningOut,
    TitrationOut,
    errors,
)
from itb.web.api.deps import ClinicDep, CurrentUser
from itb.web.api.schemas import AssessmentIn, PatientIn, PatientPatch, PhaseIn, RecordId, ScreeningIn
from itb.web.chart import therapy_plans

router = APIRouter(tags=["patients"])


def patient_json(p: views.PatientSummary) -> dict:
    return asdict(p)


@router.get("/api/patients", response_model=list[PatientOut], responses=errors(401))  # type: ignore[valid-type]
def patients(clinic: ClinicDep, me: CurrentUser) -> list[dict]:
    """The patients the user may see, by name (a caregiver: their own children)."""
    return [patient_json(p) for p in views.patient_list(clinic, me)]


@router.post("/api/patients", status_code=201, response_model=PatientOut, responses=errors(401, 403, 422))
def register(body: PatientIn, clinic: ClinicDep, me: CurrentUser) -> dict:
    return patient_json(views.summarize_patient(clinic.register_patient(me, **body.model_dump())))


@router.get("/api/patients/{patient_id}", response_model=PatientRecordOut, responses=errors(*READ))
def patient(patient_id: RecordId, clinic: ClinicDep, me: CurrentUser) -> dict:
    record = views.patient_record(clinic, me, patient_id)
    return {**patient_json(record.patient), "pumps": record.pumps, "appointments": record.appointments}


@router.patch("/api/patients/{patient_id}", response_model=PatientOut, responses=errors(401, 403, 404, 422))
def edit(patient_id: RecordId, body: PatientPatch, clinic: ClinicDep, me: CurrentUser) -> dict:
    """Correct the name, weight, GMFCS level or risk flags (only the fields given, with the
    registration's rules; ``weight_kg`` or ``gmfcs`` null clears it). Audited."""
    return patient_json(views.summarize_patient(clinic.edit_patient(me, patient_id, **body.changes())))


@router.post("/api/patients/{patient_id}/phase", response_model=PatientOut, responses=errors(401, 403, 404, 422))
def set_phase(patient_id: RecordId, body: PhaseIn, clinic: ClinicDep, me: CurrentUser) -> dict:
    return patient_json(views.summarize_patient(clinic.set_phase(me, patient_id, body.phase)))


@router.post(
    "/api/patients/{patient_id}/screenings",
    status_code=201,
    response_model=ScreeningOut,
    responses=errors(401, 403, 404, 422),
)
def screening(patient_id: RecordId, body: ScreeningIn, clinic: ClinicDep, me: CurrentUser) -> dict:
    return row_json(clinic.record_screening(me, patient_id, **body.model_dump()))


@router.get(
    "/api/patients/{patient_id}/assessments",
    response_model=list[AssessmentOut | ScreeningEntryOut],  # type: ignore[valid-type]
    responses=errors(*READ),
)
def assessments(patient_id: RecordId, clinic: ClinicDep, me: CurrentUser) -> list[dict]:
    """The assessments in time order, then the screening trials (kind ``screening``)."""
    return views.assessment_history(clinic, me, patient_id)


@router.post(
    "/api/patients/{patient_id}/assessments",
    status_code=201,
    response_model=AssessmentOut,
    responses=errors(401, 403, 404, 422),
)
def assess(patient_id: RecordId, body: AssessmentIn, clinic: ClinicDep, me: CurrentUser) -> dict:
    return row_json(clinic.record_assessment(me, patient_id, body.kind, body.data, body.at))


# -- the plans the chart makes ------------------------------------------------------------
def therapy_plans_of(clinic: Clinic, me: Actor, patient_id: int) -> tuple[views.Chart, dict[str, Any]]:
    """The patient's records and the plans the chart makes from them (``itb.web.chart.therapy_plans``)."""
    records = views.chart(clinic, me, patient_id)
    plans = therapy_plans(
        clinic,
        records.patient,
        records.pump,
        records.versions,
        records.assessments,
        records.screenings,
        records.reports,
        clinic.clock(),
    )
    return records, plans


@router.get("/api/patients/{patient_id}/titration", response_model=TitrationOut, responses=errors(*READ))
def titration(patient_id: RecordId, clinic: ClinicDep, me: CurrentUser) -> dict:
    """The titration planner's proposal for the next daily dose and its reasons, as the chart
    shows it: only while the patient is titrating with a pump implanted (else ``proposal`` null
    and ``note`` says why). The clinician accepts or changes it; nothing is programmed here."""
    records, plans = therapy_plans_of(clinic, me, patient_id)
    patient, pump, proposal = records.patient, records.pump, plans["proposal"]
    note = None
    if pump is None:
        note = "no pump is implanted"
    elif proposal is None:
        note = f"the patient is not titrating (phase: {patient.phase})"
    return {
        "patient_id": patient.id,
        "phase": patient.phase,
        "pump_id": None if pump is None else pump.id,
        "current_dose_mcg_per_day": None if pump is None else pump.daily_dose_mcg,
        "proposal": None if proposal is None else asdict(proposal),
        "note": note,
    }


@router.get("/api/patients/{patient_id}/pump-size", response_model=PumpSizeOut, responses=errors(*READ))
def pump_size(patient_id: RecordId, clinic: ClinicDep, me: CurrentUser) -> dict:
    """The pump-size advice the chart gives before the implant, once a screening trial responded:
    the capacity and concentration, and the refill interval they give (``advice`` null before a
    positive screening or once a pump is implanted; ``note`` says why)."""
    records, plans = therapy_plans_of(clinic, me, patient_id)
    size = plans["size"]
    note = None
    if records.pump is not None:
        note = "a pump is implanted"
    elif size is None:
        note = "no screening trial has responded yet"
    return {
        "patient_id": records.patient.id,
        "expected_daily_dose_mcg": None if size is None else size[0],
        "advice": None if size is None else asdict(size[1]),
        "note": note,
    }
