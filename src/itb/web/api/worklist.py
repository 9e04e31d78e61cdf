"""The worklist: what needs doing, most urgent first."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from itb.clinic import views
from itb.domain.worklist import Wanted
from itb.web.api.answers import WorkItemOut, errors
from itb.web.api.deps import ClinicDep, CurrentUser

router = APIRouter(tags=["worklist"])


@router.get("/api/worklist", response_model=list[WorkItemOut], responses=errors(401, 422))
def get_worklist(
    clinic: ClinicDep,
    me: CurrentUser,
    limit: Annotated[int | None, Query(ge=1, le=100_000, description="the first N items only")] = None,
    max_urgency: Annotated[int | None, Query(ge=0, le=2, description="0: urgent only; 1: and soon")] = None,
) -> list[dict]:
    """The whole worklist; with ``limit`` or ``max_urgency``, only those items are built (the same
    items as the whole list's first ones of that urgency)."""
    wanted = None if limit is None and max_urgency is None else Wanted(limit=limit, max_urgency=max_urgency)
    return [work_item_json(i) for i in views.work_items(clinic, me, wanted=wanted)]


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
