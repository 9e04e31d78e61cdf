"""The worklist: what needs doing, most urgent first."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from itb.clinic import views
from itb.web.api.deps import ClinicDep, CurrentUser
from itb.web.api.schemas import WorkItemOut, errors

router = APIRouter(tags=["worklist"])


@router.get("/api/worklist", response_model=list[WorkItemOut], responses=errors(401, 422))
def get_worklist(
    clinic: ClinicDep,
    me: CurrentUser,
    limit: Annotated[int | None, Query(ge=1, le=100_000, description="the first N items only")] = None,
    max_urgency: Annotated[int | None, Query(ge=0, le=2, description="0: urgent only; 1: and soon")] = None,
) -> list[dict]:
    items = views.work_items(clinic, me)
    if max_urgency is not None:
        items = [i for i in items if i.urgency <= max_urgency]
    items = items[:limit] if limit else items
    return [work_item_json(i) for i in items]


def work_item_json(i: Any) -> dict:
    """One worklist item as ``GET /api/worklist`` answers it (a ``WorkItemOut``)."""
    return {
        "patient_id": i.patient_id,
        "patient_name": i.patient_name,
        "pump_id": i.pump_id,
        "reasons": [str(r) for r in i.reasons],
        "details": list(i.details),
        "days_until_empty": i.days_until_empty,
        "days_until_alarm": i.days_until_alarm,
        "urgency": i.urgency,
        "high_risk": i.high_risk,
        "symptom_report_ids": list(i.symptom_report_ids),
        "report_urgency": i.report_urgency,
    }
