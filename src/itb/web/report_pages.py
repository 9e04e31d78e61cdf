"""A family's symptom report, reviewed from the worklist: who called back, and what was said.

The report is a worklist row (``symptom_report``) until a staff member marks it reviewed with a
note (``clinic.review_symptom_report``, audited); the note is required, so "reviewed" always
says what was done.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from itb.clinic.services import Actor, Clinic
from itb.web.page_params import PageId


def install_report_pages(
    router: APIRouter,
    clinic: Clinic,
    *,
    session: Callable[[Request], tuple[Actor, str]],
    check_csrf: Callable[[str, str], None],
) -> None:
    @router.post("/symptom-reports/{report_id}/review")
    def review_report(request: Request, report_id: PageId, csrf: str = Form(""), note: str = Form("")) -> Response:
        actor, token = session(request)
        check_csrf(token, csrf)
        clinic.review_symptom_report(actor, report_id, note)
        return RedirectResponse("/worklist", 303)


__all__ = ["install_report_pages"]
