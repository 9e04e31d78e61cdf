"""Vendor-programmed pumps: the sessions of the vendor's programmer, and the clinic's import and export."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Request, Response

from itb.clinic import record_views, views
from itb.clinic.services import row_json
from itb.domain.errors import InvalidInput, Violation
from itb.web.api.answers import (
    READ,
    WRITE,
    ImportRefusedOut,
    ImportReportOut,
    PumpSessionOut,
    PumpSessionRecordOut,
    SessionOutcomeOut,
    errors,
    findings_json,
)
from itb.web.api.deps import ClinicDep, CurrentUser
from itb.web.api.schemas import RecordId, SessionIn, program_from

router = APIRouter()


@router.post(
    "/api/import",
    tags=["import"],
    response_model=ImportReportOut,
    responses=errors(401, 403, 422, s422=ImportRefusedOut),
    openapi_extra={
        "requestBody": {
            "description": "the import's CSV (shared/spec/clinic-import.md): the body, or the multipart field file",
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                "multipart/form-data": {
                    "schema": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}}}
                },
            },
        }
    },
)
async def import_clinic(request: Request, clinic: ClinicDep, me: CurrentUser, dry_run: bool = False) -> dict:
    """Import an existing clinic (``shared/spec/clinic-import.md``): a CSV as the body
    (``text/csv``) or as the multipart field ``file``. All rows or none: 422 with every error."""
    kind = request.headers.get("content-type", "")
    if kind.startswith("multipart/form-data"):
        form = await request.form()
        upload = form.get("file")
        raw = None if upload is None or isinstance(upload, str) else await upload.read()
    else:
        raw = await request.body()
    try:
        text = (raw or b"").decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput([Violation("file", "must be UTF-8 text")]) from None
    return clinic.import_clinic(me, text, dry_run=dry_run).json()


@router.get(
    "/api/export",
    tags=["import"],
    response_class=Response,
    responses={
        200: {
            "content": {"text/csv": {"schema": {"type": "string"}}},
            "description": "the import's columns, one row per pump",
        },
        **errors(401, 403),
    },
)
def export_clinic(clinic: ClinicDep, me: CurrentUser) -> Response:
    """Every implanted pump's current state in the import's columns (``shared/spec/clinic-import.md``),
    importable again. What a row cannot carry (a program's boluses) is named in ``X-ITB-Export-Warnings``."""
    report = clinic.export_clinic(me)
    headers = {"Content-Disposition": 'attachment; filename="itb-clinic-export.csv"'}
    if report.warnings:
        headers["X-ITB-Export-Warnings"] = " | ".join(report.warnings)
    return Response(report.text, media_type="text/csv; charset=utf-8", headers=headers)


@router.post(
    "/api/pumps/{pump_id}/sessions",
    status_code=201,
    tags=["pumps"],
    response_model=SessionOutcomeOut,
    responses={
        200: {"model": SessionOutcomeOut, "description": "dry_run=true: reviewed, nothing stored"},
        **errors(*WRITE),
    },
)
def record_session(
    pump_id: RecordId, body: SessionIn, clinic: ClinicDep, me: CurrentUser, response: Response, dry_run: bool = False
) -> dict:
    """Record what the vendor's programmer did to a vendor-programmed pump. Never refused for
    a limit: what the device was given is recorded, each limit it breaks (unless acknowledged)
    a warning on the session and the worklist until a clinician reviews it.

    ``dry_run=true`` is the review before the device is programmed: the same answer (200),
    nothing stored. Then program the device and send the same body ("programmed as
    reviewed"), or the values actually set."""
    fields = body.model_dump(exclude={"at", "kind", "version"})
    if body.program is not None:
        fields["program"] = program_from(body.program)
    outcome = clinic.record_session(
        me, pump_id, kind=body.kind, at=body.at, expected_version=body.version, dry_run=dry_run, **fields
    )
    if dry_run:
        response.status_code = 200
    booked = outcome.booked
    return {
        "dry_run": dry_run,
        "session": {**row_json(outcome.session), **({"id": None} if dry_run else {})},
        "findings": findings_json(outcome.assessment.findings),
        "pump": views.pump_data(outcome.pump, clinic.clock(), clinic.config.flow),
        "booked_refill": None if booked is None else {"on": booked.at.date().isoformat(), "notes": booked.notes},
    }


@router.get(
    "/api/pumps/{pump_id}/sessions",
    tags=["pumps"],
    response_model=list[PumpSessionOut],  # type: ignore[valid-type]
    responses=errors(*READ),
)
def pump_sessions(pump_id: RecordId, clinic: ClinicDep, me: CurrentUser) -> list[dict]:
    """What the vendor's programmer did to a vendor-programmed pump, as recorded, oldest first."""
    return views.pump_sessions(clinic, me, pump_id)


@router.get(
    "/api/pump-sessions/{session_id}",
    tags=["pumps"],
    response_model=PumpSessionRecordOut,
    responses=errors(*READ),
)
def session_record(session_id: RecordId, clinic: ClinicDep, me: CurrentUser) -> dict:
    """One recorded session as its printed report says it: the patient and pump, the drug and lot,
    each entry, the program the pump ran after it, the alarm dates, its warnings, the next visit, who."""
    return asdict(record_views.session_record(clinic, me, session_id))


@router.post(
    "/api/pump-sessions/{session_id}/review",
    tags=["pumps"],
    response_model=PumpSessionOut,
    responses=errors(*WRITE),
)
def review_session(session_id: RecordId, clinic: ClinicDep, me: CurrentUser) -> dict:
    """A clinician has reviewed a recorded session's warnings: they leave the worklist."""
    return row_json(clinic.review_session(me, session_id))
