"""The phase of care, the scores, and a refill discrepancy's review, as pages.

- ``POST /patients/{id}/phase``: screening, titrating, maintenance (or ended).
- ``/patients/{id}/assessments?kind=mas|tardieu|pain|gas``: one assessment; the chart's titration
  proposal reads the MAS and GAS scores.
- ``POST /refills/{id}/review``: a clinician has reviewed a refill's volume discrepancy.

A caregiver reaches none of them ("not found"), a nurse is "not allowed"; every error names its
field and rule (what the scale itself rules is the domain's), and every POST carries CSRF.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from itb.clinic import views
from itb.clinic.services import PHASES, Actor
from itb.domain.errors import InvalidInput, Violation
from itb.domain.scales import TARDIEU_QUALITY, Goal
from itb.web.form_fields import field_errors, number_field
from itb.web.page_context import CLINICIANS, PageContext
from itb.web.page_params import PageId

#: The muscle groups the score forms offer (the screening form's, and the calf's two for Tardieu).
MAS_MUSCLES = ("hip adductors", "hamstrings", "knee extensors", "ankle plantar flexors", "elbow flexors")
TARDIEU_MUSCLES = ("hip adductors", "hamstrings", "gastrocnemius", "soleus", "elbow flexors")
MAS_GRADES = ("0", "1", "1+", "2", "3", "4")
#: How many goals the GAS form offers.
GAS_GOALS = 4
ASSESSMENT_LABELS = {
    "mas": "Modified Ashworth",
    "tardieu": "Tardieu",
    "pain": "Pain",
    "gas": "Goal attainment (GAS)",
}


def _tardieu(form: Mapping[str, str], errs: list[Violation]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for mu in TARDIEU_MUSCLES:
        given = {k: form.get(f"{mu}.{k}", "").strip() for k in ("quality", "r1_deg", "r2_deg")}
        if not any(given.values()):
            continue
        entry: dict[str, Any] = {}
        for key, text in given.items():
            if not text:
                errs.append(Violation(f"{mu}.{key}", "is required when the muscle group is measured"))
                continue
            try:
                entry[key] = int(text) if key == "quality" else float(text.removesuffix("°").strip())
            except ValueError:
                rule = "must be a whole number 0-5" if key == "quality" else "must be an angle in degrees, e.g. -10"
                errs.append(Violation(f"{mu}.{key}", f"{text!r}: {rule}"))
        if len(entry) == 3:
            data[mu] = entry
    if not data and not errs:
        errs.append(Violation("tardieu", "measure at least one muscle group"))
    return data


def _gas(form: Mapping[str, str], errs: list[Violation]) -> dict[str, Any]:
    goals = []
    for i in range(GAS_GOALS):
        description = form.get(f"goal{i}.description", "").strip()
        if not description:
            continue
        weight = number_field(errs, f"goal{i}.weight", form.get(f"goal{i}.weight", "1"), "", 100.0, True)
        score_text = form.get(f"goal{i}.score", "").strip()
        if not score_text.lstrip("+-").isdigit():
            errs.append(Violation(f"goal{i}.score", "choose a score from -2 to +2"))
            continue
        score = int(score_text)
        try:
            Goal(description[:500], weight or 0.0, score)
        except InvalidInput as exc:  # "goal.score" → "goal0.score"
            errs += [Violation(f"goal{i}." + v.field.removeprefix("goal."), v.rule) for v in exc.violations]
        goals.append({"description": description[:500], "weight": weight, "score": score})
    if not goals and not errs:
        errs.append(Violation("goals", "describe at least one goal and score it"))
    return {"goals": goals}


def read_assessment_form(kind: str, form: Mapping[str, str]) -> dict[str, Any]:
    """The ``data`` of ``record_assessment`` from the score form; what the scale itself rules
    (grades, angles, scores) is the domain's, named by the field it is about."""
    errs: list[Violation] = []
    data: dict[str, Any] = {}
    if kind == "mas":
        data = {mu: form[f"mas.{mu}"] for mu in MAS_MUSCLES if form.get(f"mas.{mu}", "").strip()}
        if not data:
            errs.append(Violation("mas", "grade at least one muscle group"))
    elif kind == "tardieu":
        data = _tardieu(form, errs)
    elif kind == "pain":
        text = form.get("score", "").strip()
        if not text.isdigit():
            errs.append(Violation("score", "must be a whole number 0-10 (0 no pain, 10 worst pain)"))
        else:
            data = {"score": int(text), "during": form.get("during", "").strip()[:200]}
    elif kind == "gas":
        data = _gas(form, errs)
    else:
        errs.append(Violation("kind", f"must be one of {', '.join(ASSESSMENT_LABELS)}"))
    if errs:
        raise InvalidInput(errs)
    return data


def assessed_at(text: str, now: datetime) -> datetime:
    """When the scores were taken (empty: now), to the minute, not in the future."""
    text = text.strip()
    if not text:
        return now
    try:
        at = datetime.fromisoformat(text).replace(second=0, microsecond=0)
    except ValueError:
        raise InvalidInput([Violation("at", f"{text!r} is not a date and time YYYY-MM-DD HH:MM")]) from None
    if at > now + timedelta(minutes=5):
        raise InvalidInput([Violation("at", "must not be in the future")])
    return at


def install_assessment_pages(router: APIRouter, page: PageContext) -> None:
    """Add the phase, score and refill-review routes to ``router``."""
    clinic = page.clinic

    @router.post("/patients/{patient_id}/phase")
    def set_phase(request: Request, patient_id: PageId, csrf: str = Form(""), phase: str = Form("")) -> Response:
        actor, token = page.staff(request, CLINICIANS, "changing the phase of care")
        page.check_csrf(token, csrf)
        if phase not in PHASES:
            raise InvalidInput([Violation("phase", f"must be one of {', '.join(PHASES)}")])
        clinic.set_phase(actor, patient_id, phase)
        return RedirectResponse(f"/patients/{patient_id}?phase={phase}", 303)

    def score_page(
        request: Request, actor: Actor, token: str, patient_id: int, kind: str, **extra: Any
    ) -> HTMLResponse:
        extra.setdefault("form", {"at": clinic.clock().strftime("%Y-%m-%dT%H:%M")})
        return page.render(
            request, "assessment.html", actor, token, patient=views.patient_summary(clinic, actor, patient_id),
            kind=kind if kind in ASSESSMENT_LABELS else "mas", kinds=ASSESSMENT_LABELS, mas_muscles=MAS_MUSCLES,
            tardieu_muscles=TARDIEU_MUSCLES, grades=MAS_GRADES, qualities=TARDIEU_QUALITY, goals=range(GAS_GOALS),
            **{"invalid": {}, **extra},
        )  # fmt: skip

    @router.get("/patients/{patient_id}/assessments", response_class=HTMLResponse)
    def assessment_form(request: Request, patient_id: PageId, kind: str = "mas") -> HTMLResponse:
        actor, token = page.staff(request, CLINICIANS, "recording scores")
        return score_page(request, actor, token, patient_id, kind)

    @router.post("/patients/{patient_id}/assessments", response_class=HTMLResponse)
    async def assessment_save(request: Request, patient_id: PageId) -> Response:
        actor, token = page.staff(request, CLINICIANS, "recording scores")
        data = await request.form()
        page.check_csrf(token, str(data.get("csrf", "")))
        kind = str(data.get("kind", ""))
        form = {k: str(v) for k, v in data.items() if k != "csrf"}
        try:
            at = assessed_at(form.get("at", ""), clinic.clock())
            clinic.record_assessment(actor, patient_id, kind, read_assessment_form(kind, form), at)
        except InvalidInput as exc:
            return score_page(
                request, actor, token, patient_id, kind, form=form, invalid=field_errors(exc),
                errors=page.problems(exc), status=422,
            )  # fmt: skip
        return RedirectResponse(f"/patients/{patient_id}?assessed={kind}", 303)

    @router.post("/refills/{refill_id}/review")
    def review_refill(request: Request, refill_id: PageId, csrf: str = Form("")) -> Response:
        actor, token = page.staff(request, CLINICIANS, "reviewing a refill discrepancy")
        page.check_csrf(token, csrf)
        refill = clinic.review_discrepancy(actor, refill_id)
        patient_id = views.pump_record(clinic, actor, refill.pump_id).patient_id
        return RedirectResponse(f"/patients/{patient_id}?reviewed_refill={refill.id}", 303)


__all__ = ["ASSESSMENT_LABELS", "assessed_at", "install_assessment_pages", "read_assessment_form"]
