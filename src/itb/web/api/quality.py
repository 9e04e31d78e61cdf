"""The clinic quality report (``GET /api/reports/quality``) and the patients' complications
(``GET``, ``POST /api/patients/{id}/complications``), the staff's (a caregiver: 404)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from itb.clinic.quality import quality_report, settings_of
from itb.clinic.services import row_json
from itb.contracts.bounds import DATE_PATTERN
from itb.domain.quality import COLUMNS, Figures, row
from itb.web.api.answers import READ, errors
from itb.web.api.deps import ClinicDep, CurrentUser
from itb.web.api.quality_schemas import ComplicationIn, ComplicationOut, QualityReportOut
from itb.web.api.schemas import RecordId
from itb.web.quality_pages import report_range

router = APIRouter(tags=["reports"])
Day = Annotated[str | None, Query(pattern=DATE_PATTERN, max_length=10, description="YYYY-MM-DD")]


def row_json_of(f: Figures) -> dict:
    return {**row(f), "discrepancy_causes": dict(f.discrepancy_causes)}


@router.get(
    "/api/reports/quality",
    response_model=QualityReportOut,
    response_model_by_alias=True,
    responses=errors(401, 403, 404, 422),
)
def quality(
    clinic: ClinicDep,
    me: CurrentUser,
    first: Annotated[str | None, Query(alias="from", pattern=DATE_PATTERN, max_length=10)] = None,
    last: Annotated[str | None, Query(alias="to", pattern=DATE_PATTERN, max_length=10)] = None,
    by: Annotated[str | None, Query(pattern="^(month|quarter)$", max_length=7)] = None,
) -> dict:
    """Each month's or quarter's figures from ``from`` to ``to`` (both included; default: the 12
    months to today, by month), then the whole range's (``period`` "total"): pumps in service and
    pump-years, refills (late, near misses, dry episodes), visits missed and overdue, discrepancies
    over the threshold (reviewed or not, their recorded causes), complications by kind,
    replacements, symptom reports by triage urgency. The staff's; at most ten years."""
    start, end, grouping = report_range(first, last, by, clinic.clock().date())
    rows = quality_report(clinic, me, start, end, grouping)
    s = settings_of(clinic)
    return {
        "from": start.isoformat(),
        "to": end.isoformat(),
        "by": grouping.value,
        "settings": {
            "dry_slack_ml": s.dry_slack_ml,
            "replacement_gap_days": s.replacement_gap_days,
            "eri_replacement_days": s.eri_replacement_days,
            "discrepancy_ml": s.refill.discrepancy_ml,
            "small_pump_discrepancy_ml": s.refill.small_pump_discrepancy_ml,
            "use_small_pump_threshold": s.refill.use_small_pump_threshold,
        },
        "columns": list(COLUMNS),
        "periods": [row_json_of(f) for f in rows],
    }


@router.get(
    "/api/patients/{patient_id}/complications",
    response_model=list[ComplicationOut],  # type: ignore[valid-type]
    responses=errors(*READ),
)
def complications(patient_id: RecordId, clinic: ClinicDep, me: CurrentUser) -> list[dict]:
    """The patient's complications, the latest first (the staff's; a caregiver: 404)."""
    return [row_json(c) for c in clinic.patient_complications(me, patient_id)]


@router.post(
    "/api/patients/{patient_id}/complications",
    status_code=201,
    response_model=ComplicationOut,
    responses=errors(401, 403, 404, 422),
)
def add_complication(patient_id: RecordId, body: ComplicationIn, clinic: ClinicDep, me: CurrentUser) -> dict:
    """Record a complication of the patient (the staff; a caregiver: 404). ``pump_id`` and
    ``refill_id`` must be the patient's (422 naming them); ``at`` not in the future. Audited."""
    made = clinic.record_complication(
        me, patient_id, kind=body.kind, at=body.at, pump_id=body.pump_id, refill_id=body.refill_id,
        notes=body.notes or None,
    )  # fmt: skip
    return row_json(made)


__all__ = ["router"]
