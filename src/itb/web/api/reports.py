"""Families' symptom reports: made by a caregiver for their own child (or by staff), triaged on
arrival, listed on the chart, reviewed by the clinic."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter

from itb.clinic import views
from itb.clinic.services import Actor, NotFound
from itb.domain.management import management_json
from itb.web.api.answers import READ, SymptomReportCreatedOut, SymptomReportOut, errors
from itb.web.api.deps import ClinicDep, CurrentUser
from itb.web.api.schemas import RecordId, ReviewIn, SymptomReportIn

router = APIRouter(tags=["patients"])


def report_json(report: views.Report, me: Actor) -> dict:
    """A report as the API answers it; staff also get the labels' ``management`` (a family never does)."""
    if me.role == "caregiver":
        return asdict(report)
    return {**asdict(report), "management": management_json((report.triage or {}).get("concerns", ()))}


@router.get(
    "/api/patients/{patient_id}/symptom-reports",
    response_model=list[SymptomReportOut],  # type: ignore[valid-type]
    response_model_exclude_unset=True,  # a caregiver's answer has no "management" at all
    responses=errors(*READ),
)
def symptom_reports(patient_id: RecordId, clinic: ClinicDep, me: CurrentUser) -> list[dict]:
    """The family's symptom reports with the triage made then, the latest first. For the clinic's staff
    each also has ``management``: the drug labels' steps, with citations, when the triage points at an
    overdose or a withdrawal (empty otherwise). A caregiver never gets it."""
    return [report_json(r, me) for r in views.symptom_reports(clinic, me, patient_id)]


@router.post(
    "/api/patients/{patient_id}/symptom-reports",
    status_code=201,
    response_model=SymptomReportCreatedOut,
    responses=errors(*READ),
)
def report_symptoms(patient_id: RecordId, body: SymptomReportIn, clinic: ClinicDep, me: CurrentUser) -> dict:
    """A caregiver reports what they see at home about their own child (staff may report for a
    family): symptom codes and/or a note, whose own words count as the signs they name. Answered
    with the triage: ``urgency`` (0 next visit, 1 call the clinic today, 2 emergency), its
    reasons, and the instruction to follow now."""
    report = clinic.report_symptoms(me, patient_id, body.symptoms, body.note)
    stored = views.symptom_report(clinic, me, report.id)
    if stored is None:  # not possible: it was just made for a patient the user sees
        raise NotFound(f"symptom report {report.id}: not found")
    triage = stored.triage or {}
    return {
        **asdict(stored),
        "urgency": stored.urgency,
        "urgency_label": triage.get("urgency", ""),
        "concerns": list(triage.get("concerns", [])),
        "reasons": list(triage.get("reasons", [])),
        "instruction": triage.get("instruction", ""),
    }


@router.post(
    "/api/symptom-reports/{report_id}/review",
    response_model=SymptomReportOut,
    responses=errors(401, 403, 404, 409, 422),
)
def review_symptom_report(report_id: RecordId, body: ReviewIn, clinic: ClinicDep, me: CurrentUser) -> dict:
    """Staff (admin, clinician, nurse) have reviewed a family's report, most often by calling the
    family back; the note says what was done. The report leaves the worklist. A report is reviewed
    once: again is 409 (the first review stands)."""
    report = clinic.review_symptom_report(me, report_id, body.note)
    stored = views.symptom_report(clinic, me, report.id)
    if stored is None:  # not possible: the review found it for this user
        raise NotFound(f"symptom report {report_id}: not found")
    return report_json(stored, me)
