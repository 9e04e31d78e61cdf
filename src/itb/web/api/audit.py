"""The audit log (admin only): chained under the audit key, the latest first; its verification."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Query

from itb.clinic import views
from itb.web.api.answers import AuditPageOut, AuditVerificationOut, errors
from itb.web.api.deps import ClinicDep, CurrentUser
from itb.web.api.schemas import MAX_ID

router = APIRouter(tags=["audit"])


@router.get("/api/audit", response_model=AuditPageOut, responses=errors(401, 403, 422))
def get_audit(
    clinic: ClinicDep,
    me: CurrentUser,
    limit: int = 100,
    before_id: Annotated[int | None, Query(ge=0, le=MAX_ID, description="entries before this one")] = None,
) -> dict:
    """Up to ``limit`` (1-1000) entries before ``before_id``, the latest first, and whether the chain
    holds (verified since its last checkpoint, and the page's entries checked)."""
    page = views.audit_page(clinic, me, limit, before_id)
    return {"entries": page.entries, "chain_intact": page.chain_intact, "problems": [asdict(p) for p in page.problems]}


@router.get("/api/audit/verify", response_model=AuditVerificationOut, responses=errors(401, 403, 422))
def verify_audit(
    clinic: ClinicDep,
    me: CurrentUser,
    full: Annotated[bool, Query(description="every entry and checkpoint, not only what is new")] = False,
) -> dict:
    """The chain verified from its last signed checkpoint, each finding with its entry or checkpoint."""
    result = views.audit_verification(clinic, me, full)
    return {**asdict(result), "intact": result.intact}
