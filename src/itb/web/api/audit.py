"""The audit log (admin only): hash-chained, the latest first."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from itb.clinic import views
from itb.web.api.deps import ClinicDep, CurrentUser
from itb.web.api.schemas import MAX_ID, AuditPageOut, errors

router = APIRouter(tags=["audit"])


@router.get("/api/audit", response_model=AuditPageOut, responses=errors(401, 403, 422))
def get_audit(
    clinic: ClinicDep,
    me: CurrentUser,
    limit: int = 100,
    before_id: Annotated[int | None, Query(ge=0, le=MAX_ID, description="entries before this one")] = None,
) -> dict:
    """Up to ``limit`` (1-1000) entries before ``before_id``, the latest first, and whether the chain holds."""
    page = views.audit_page(clinic, me, limit, before_id)
    return {"entries": page.entries, "chain_intact": page.chain_intact}
