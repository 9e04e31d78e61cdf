"""The clinic's pages (server-rendered with Jinja2, small HTMX touches), behind the API's login.

The login sets an HttpOnly, SameSite=Strict cookie holding the same signed token as the API;
every form carries a CSRF token derived from it. Caregivers land on their child's page, staff
on the worklist. Every dose is shown with its unit; dates as YYYY-MM-DD HH:MM.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from itb.clinic import outbox_views, views
from itb.clinic.calendar_file import ics_calendar
from itb.clinic.derived import estimated_reservoir_ml
from itb.clinic.services import Actor, Clinic, Conflict, Forbidden, NotFound, NotSent, PumpChangeFailed
from itb.domain import formatting
from itb.domain.errors import InvalidInput, Violation
from itb.domain.limits import DRUG_PRODUCTS
from itb.domain.program import DosingProgram
from itb.domain.reading import age_years_on
from itb.domain.units import Dimension, parse_quantities, parse_quantity
from itb.domain.worklist import Reason, Wanted
from itb.web import family
from itb.web.api.deps import token_actor
from itb.web.calendar_pages import install_calendar_pages
from itb.web.chart import chart_context, drawn
from itb.web.emergency_pages import install_emergency_pages
from itb.web.login_pages import COOKIE, install_login_pages
from itb.web.notify_pages import install_notify_pages
from itb.web.page_context import PageContext
from itb.web.page_params import FormId, FormVersion, PageId, QueryId, form_id, week_start
from itb.web.quality_pages import install_quality_pages
from itb.web.report_pages import install_report_pages
from itb.web.settings_pages import install_settings_pages
from itb.web.task_pages import install_task_pages, program_rows, read_program_form
from itb.web.vendor_pages import install_vendor_pages

HERE = Path(__file__).parent
#: Worklist rows shown at first (the most urgent; "show all" lists the rest), and at most.
WORKLIST_PAGE_ROWS = 200
MAX_WORKLIST_ROWS = 100_000
#: who the refill, program and screening pages are for (a caregiver is refused before any pump is read)
STAFF_ROLES = ("admin", "clinician", "nurse")
DATE_FORMAT = "%Y-%m-%d %H:%M"  # the clinic's format for dates and times (a setting)
DAY_FORMAT = "%Y-%m-%d"


class LoginRequired(Exception):
    pass


def _when(day: str, at_time: str) -> datetime:
    """A visit's date and time as the booking forms send them."""
    try:
        return datetime.fromisoformat(f"{day}T{at_time}")
    except ValueError:
        raise InvalidInput([Violation("day", "must be a date YYYY-MM-DD and a time HH:MM")]) from None


def _tesla(text: str) -> float | None:
    """The MRI form's field strength in tesla ("" : not given); the rules on its value are the domain's."""
    text = text.strip().removesuffix("T").removesuffix("t").strip().replace(",", ".")
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise InvalidInput([Violation("field_strength_t", "must be a number of tesla, e.g. 1.5 or 3")]) from None


def fmt_dt(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime):
        return formatting.instant(value)
    if isinstance(value, date):
        return formatting.day(value)
    return str(value)


def fmt_dose(value: float | None, unit: str = "mcg/day") -> str:
    """A quantity with its unit (itb.domain.formatting; thousands grouped, as these pages always did)."""
    return "—" if value is None else formatting.quantity(value, unit, grouping=True)


def install_pages(app: FastAPI, clinic: Clinic, secret: str, make_token: Callable[[Actor, int], str]) -> None:
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.filters["dt"] = fmt_dt
    templates.env.filters["dose"] = fmt_dose
    templates.env.filters["quantity"] = formatting.quantity  # {{ 3.66|quantity('mL') }}: "3.66 mL"
    templates.env.filters["percent_change"] = formatting.percent_change  # {{ 13.0|percent_change }}: "+1300 %"
    templates.env.filters["reservoir_now"] = lambda pump: estimated_reservoir_ml(pump, clinic.clock())
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    router = APIRouter(include_in_schema=False)

    def csrf_of(token: str) -> str:
        return hmac.new(secret.encode(), token.encode(), hashlib.sha256).hexdigest()[:32]

    def session(request: Request) -> tuple[Actor, str]:
        """The signed-in user and their token; a missing, expired or signed-out one goes to the login."""
        token = request.cookies.get(COOKIE, "")
        actor = token_actor(clinic, secret, token) if token else None
        if actor is None:
            raise LoginRequired
        return actor, token

    def staff_session(request: Request) -> tuple[Actor, str]:
        """As :func:`session`, for a page of the clinic's staff: a caregiver is refused (403) before
        anything of a pump is read (the refill, program and screening pages)."""
        actor, token = session(request)
        if actor.role not in STAFF_ROLES:
            raise Forbidden("this page is for the clinic's staff; the family page shows your child's pump")
        return actor, token

    def check_csrf(token: str, given: str) -> None:
        if not hmac.compare_digest(csrf_of(token), given or ""):
            raise Forbidden("the form has expired or did not come from this site: reload the page")

    def render(
        request: Request, name: str, actor: Actor | None, token: str = "", status: int = 200, **context: Any
    ) -> HTMLResponse:
        return templates.TemplateResponse(
            request, name, {"actor": actor, "csrf": csrf_of(token) if token else "", **context}, status_code=status
        )

    @app.exception_handler(LoginRequired)
    async def to_login(request: Request, exc: LoginRequired) -> Response:
        if request.url.path.startswith("/api/"):
            return Response(status_code=401)
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)

    install_login_pages(
        router, clinic, render=render, csrf_of=csrf_of, session=session, check_csrf=check_csrf, make_token=make_token
    )

    @router.get("/")
    def home(request: Request) -> Response:
        actor, _ = session(request)
        return RedirectResponse("/family" if actor.role == "caregiver" else "/worklist", 303)

    # -- worklist --------------------------------------------------------------------------
    @router.get("/worklist", response_class=HTMLResponse)
    def worklist_page(
        request: Request,
        urgency: Annotated[int | None, Query(ge=0, le=2)] = None,
        reason: str | None = None,
        q: str | None = None,
        show: Annotated[int, Query(ge=1, le=MAX_WORKLIST_ROWS)] = WORKLIST_PAGE_ROWS,
    ) -> HTMLResponse:
        actor, token = session(request)
        if actor.role == "caregiver":
            raise NotFound("page not found")
        now = clinic.clock()
        # Only the rows shown are built (and one more: whether more are on the list), not the whole list.
        wanted = Wanted(limit=show + 1, max_urgency=urgency, reason=reason or None, name=q or None)
        items = views.work_items(clinic, actor, now, wanted)
        return render(
            request,
            "worklist.html",
            actor,
            token,
            more=len(items) > show,
            show=show,
            more_rows=min(show + WORKLIST_PAGE_ROWS, MAX_WORKLIST_ROWS),
            all_rows=MAX_WORKLIST_ROWS,
            items=items[:show],
            now=now,
            reasons=[str(r) for r in Reason],
            urgency=urgency,
            reason=reason,
            q=q or "",
            outbox=outbox_views.outbox_problems(clinic, actor),
        )

    # -- patients --------------------------------------------------------------------------
    @router.get("/patients", response_class=HTMLResponse)
    def patients_page(request: Request) -> HTMLResponse:
        actor, token = session(request)
        if actor.role == "caregiver":
            return RedirectResponse("/family", 303)  # type: ignore[return-value]
        return render(request, "patients.html", actor, token, patients=views.patient_list(clinic, actor))

    @router.get("/patients/{patient_id:int}", response_class=HTMLResponse)  # not /patients/new
    def chart(request: Request, patient_id: PageId) -> HTMLResponse:
        actor, token = session(request)
        return render(request, "chart.html", actor, token, **chart_context(clinic, actor, patient_id))

    @router.post("/pumps/{pump_id}/interrogate")
    def interrogate(request: Request, pump_id: PageId, csrf: str = Form("")) -> Response:
        actor, token = session(request)
        check_csrf(token, csrf)
        pump = clinic.interrogate(actor, pump_id)
        return RedirectResponse(f"/patients/{pump.patient_id}", 303)

    @router.post("/pumps/{pump_id}/resolve-regression")
    def resolve_regression(
        request: Request, pump_id: PageId, csrf: str = Form(""), version: FormVersion = 0, note: str = Form("")
    ) -> Response:
        actor, token = session(request)
        check_csrf(token, csrf)
        pump = clinic.resolve_regression(actor, pump_id, expected_version=version, note=note)
        return RedirectResponse(f"/patients/{pump.patient_id}", 303)

    @router.post("/pump-changes/{change_id}/review")
    def review_change(request: Request, change_id: PageId, csrf: str = Form(""), note: str = Form("")) -> Response:
        actor, token = session(request)
        check_csrf(token, csrf)
        change = clinic.review_unrecorded_change(actor, change_id, note)
        return RedirectResponse(f"/patients/{views.pump_record(clinic, actor, change.pump_id).patient_id}", 303)

    # -- guided refill ---------------------------------------------------------------------
    @router.get("/pumps/{pump_id}/refill", response_class=HTMLResponse)
    def refill_start(request: Request, pump_id: PageId) -> HTMLResponse:
        actor, token = staff_session(request)
        pump = views.pump_record(clinic, actor, pump_id)
        return render(request, "refill.html", actor, token, step="enter", pump=pump, form={}, products=DRUG_PRODUCTS)

    @router.post("/pumps/{pump_id}/refill", response_class=HTMLResponse)
    def refill_step(
        request: Request,
        pump_id: PageId,
        csrf: str = Form(""),
        step: str = Form("review"),
        withdrawn: str = Form(""),
        added: str = Form(""),
        concentration: str = Form(""),
        lot: str = Form(""),
        product: str = Form(""),
        version: FormVersion = 0,
        ack: Annotated[list[str] | None, Form()] = None,
        request_key: str = Form(""),
    ) -> HTMLResponse:
        actor, token = staff_session(request)
        check_csrf(token, csrf)
        pump = views.pump_record(clinic, actor, pump_id)
        form = {"withdrawn": withdrawn, "added": added, "concentration": concentration, "lot": lot, "product": product}
        try:
            v = parse_quantities(
                {
                    "withdrawn": (withdrawn, Dimension.VOLUME),
                    "added": (added, Dimension.VOLUME),
                    "concentration": (concentration, Dimension.CONCENTRATION),
                }
            )
            if step == "confirm":
                refill = clinic.refill(
                    actor,
                    pump_id,
                    withdrawn_ml=v["withdrawn"],
                    added_ml=v["added"],
                    concentration_mcg_per_ml=v["concentration"],
                    lot=lot or None,
                    product=product or None,
                    expected_version=version,
                    acknowledged=tuple(ack or ()),
                    request_key=request_key or None,
                )
                return render(request, "refill.html", actor, token, step="done", **summary(actor, refill))
            plan = clinic.preview_refill(
                actor,
                pump_id,
                withdrawn_ml=v["withdrawn"],
                added_ml=v["added"],
                concentration_mcg_per_ml=v["concentration"],
                product=product or None,
            )
            return render(
                request,
                "refill.html",
                actor,
                token,
                step="review",
                pump=pump,
                plan=plan,
                form=form,
                values=v,
                request_key=secrets.token_hex(16),  # sent twice (a double click), it refills once
            )
        except (InvalidInput, NotSent, Conflict, PumpChangeFailed) as exc:
            return render(
                request,
                "refill.html",
                actor,
                token,
                step="enter",
                pump=pump,
                form=form,
                products=DRUG_PRODUCTS,
                errors=problems(exc),
                status=422 if not isinstance(exc, Conflict) else 409,
            )

    def summary(actor: Actor, refill: views.Refill) -> dict:
        follow_up = views.refill_follow_up(clinic, actor, refill.pump_id)
        return {"pump": follow_up.pump, "refill": refill, "next_refill_at": follow_up.next_refill_at}

    def problems(exc: Exception) -> list[dict]:
        if isinstance(exc, InvalidInput):
            return [{"code": v.field, "severity": "refuse", "message": f"{v.field}: {v.rule}"} for v in exc.violations]
        if isinstance(exc, NotSent):
            return exc.findings
        return [{"code": "", "severity": "refuse", "message": str(exc)}]

    # -- program change --------------------------------------------------------------------
    @router.get("/pumps/{pump_id}/program", response_class=HTMLResponse)
    def program_start(request: Request, pump_id: PageId) -> HTMLResponse:
        actor, token = staff_session(request)
        pump = views.pump_record(clinic, actor, pump_id)
        return render(request, "program.html", actor, token, step="enter", pump=pump, form=program_rows(pump.program))

    @router.post("/pumps/{pump_id}/program", response_class=HTMLResponse)
    def program_step(
        request: Request,
        pump_id: PageId,
        csrf: str = Form(""),
        step: str = Form("review"),
        rate: str = Form(""),
        step_start: Annotated[list[str] | None, Form()] = None,
        step_rate: Annotated[list[str] | None, Form()] = None,
        bolus_start: Annotated[list[str] | None, Form()] = None,
        bolus_dose: Annotated[list[str] | None, Form()] = None,
        bolus_duration: Annotated[list[str] | None, Form()] = None,
        edit: str = Form(""),
        version: FormVersion = 0,
        ack: Annotated[list[str] | None, Form()] = None,
        request_key: str = Form(""),
    ) -> HTMLResponse:
        actor, token = staff_session(request)
        check_csrf(token, csrf)
        pump = views.pump_record(clinic, actor, pump_id)
        # every step and daily bolus as entered (a bare ``rate``: one step all day, as the form once was)
        starts, rates = (step_start or [], step_rate or []) if step_rate else (["00:00"], [rate])
        boluses = list(zip(bolus_start or [], bolus_dose or [], bolus_duration or [], strict=False))
        form = {
            "steps": [{"start": s, "rate": r} for s, r in zip(starts, rates, strict=False)],
            "boluses": [{"start": s, "dose": d, "duration": m} for s, d, m in boluses],
        }
        if edit:  # add or remove a row, then the form again (nothing is judged yet)
            what, _, index = edit.partition(":")
            rows = form["steps" if what.endswith("step") else "boluses"]
            if what.startswith("add"):
                keys = ("start", "rate") if what == "add_step" else ("start", "dose", "duration")
                rows.append(dict.fromkeys(keys, ""))
            elif index.isdigit() and int(index) < len(rows):
                del rows[int(index)]
            return render(request, "program.html", actor, token, step="enter", pump=pump, form=form)
        try:
            program, entered = read_program_form(starts, rates, boluses)
            if step == "confirm":
                pump = clinic.change_program(
                    actor,
                    pump_id,
                    program,
                    expected_version=version,
                    acknowledged=tuple(ack or ()),
                    request_key=request_key or None,
                )
                return render(request, "program.html", actor, token, step="done", pump=pump)
            review = clinic.preview_program(actor, pump_id, program, entered_rate=entered)
            impact = forecast_impact(review, program)
            return render(
                request,
                "program.html",
                actor,
                token,
                step="review",
                pump=pump,
                review=review,
                form=form,
                impact=impact,
                request_key=secrets.token_hex(16),
            )
        except (InvalidInput, NotSent, Conflict, PumpChangeFailed, Forbidden) as exc:
            status = 409 if isinstance(exc, Conflict) else 403 if isinstance(exc, Forbidden) else 422
            return render(
                request,
                "program.html",
                actor,
                token,
                step="enter",
                pump=pump,
                form=form,
                products=DRUG_PRODUCTS,
                errors=problems(exc),
                status=status,
            )

    def forecast_impact(review: Any, program: DosingProgram) -> dict:
        """The alarm and empty dates before and after, both from the pump as it was just read."""
        from itb.domain.forecast import forecast_reservoir

        return {"old": review.view.forecast, "new": forecast_reservoir(review.view.reservoir_state, program)}

    # -- screening -------------------------------------------------------------------------
    @router.get("/patients/{patient_id}/screening", response_class=HTMLResponse)
    def screening_form(request: Request, patient_id: PageId) -> HTMLResponse:
        actor, token = staff_session(request)
        patient = views.patient_summary(clinic, actor, patient_id)
        return render(
            request,
            "screening.html",
            actor,
            token,
            patient=patient,
            form={},
            muscles=MUSCLES,
            step=protocol_step(actor, patient),
        )

    @router.post("/patients/{patient_id}/screening", response_class=HTMLResponse)
    async def screening_save(request: Request, patient_id: PageId) -> Response:
        actor, token = staff_session(request)
        data = await request.form()
        check_csrf(token, str(data.get("csrf", "")))
        patient = views.patient_summary(clinic, actor, patient_id)
        before = {mu: str(data.get(f"before_{mu}")) for mu in MUSCLES if data.get(f"before_{mu}")}
        after = {mu: str(data.get(f"after_{mu}")) for mu in MUSCLES if data.get(f"after_{mu}")}

        def hours_of(name: str) -> float | None:
            """An hours field: "6", "6 h", "6h" (or "90 min"); anything else is this field's error."""
            text = str(data.get(name) or "").strip()
            if not text:
                return None
            bare = text.replace(".", "", 1).isdigit()
            return parse_quantity(f"{text} h" if bare else text, Dimension.DURATION, name).value / 60

        try:
            dose = parse_quantity(str(data.get("dose", "")), Dimension.DOSE, "dose").value
            hours = hours_of("effect_hours")
            assessed = hours_of("assessed_after_hours")
            trial = clinic.record_screening(
                actor,
                patient_id,
                dose_mcg=dose,
                mas_before=before,
                mas_after=after,
                effect_hours=hours,
                assessed_after_hours=assessed,
                caregiver_feedback=str(data.get("feedback", "")).strip() or None,
                side_effects=str(data.get("side_effects", "")).strip() or None,
            )
        except (InvalidInput, ValueError) as exc:
            errors = problems(exc) if isinstance(exc, InvalidInput) else [{"message": f"effect_hours: {exc}"}]
            return render(
                request,
                "screening.html",
                actor,
                token,
                patient=patient,
                form=dict(data),
                muscles=MUSCLES,
                errors=errors,
                status=422,
            )
        return render(
            request,
            "screening.html",
            actor,
            token,
            patient=patient,
            trial=trial,
            muscles=MUSCLES,
            form={},
            step=protocol_step(actor, patient),
        )

    def protocol_step(actor: Actor, patient: views.PatientSummary) -> Any:
        """The label's screening protocol applied to the trials recorded so far."""
        from itb.domain.screening import next_trial_step

        results = views.screening_results(clinic, actor, patient.id)
        age = age_years_on(patient.birth_date, clinic.clock().date())
        return next_trial_step(results, patient.weight_kg, age)

    # -- appointments and the calendar feed ------------------------------------------------
    @router.get("/appointments", response_class=HTMLResponse)
    def appointments_page(request: Request, week: str | None = None) -> HTMLResponse:
        actor, token = session(request)
        today = clinic.clock().date()
        start = week_start(week, today)
        end = start + timedelta(days=7)
        visits = views.appointments_between(
            clinic, actor, datetime.combine(start, datetime.min.time()), datetime.combine(end, datetime.min.time())
        )
        days = [start + timedelta(days=i) for i in range(7)]
        by_day = {d: [v for v in visits if v.at.date() == d] for d in days}
        return render(
            request,
            "appointments.html",
            actor,
            token,
            days=by_day,
            start=start,
            prev=(start - timedelta(days=7)).isoformat(),
            next=(start + timedelta(days=7)).isoformat(),
        )

    @router.post("/appointments/book")
    def book(
        request: Request,
        patient_id: FormId,
        csrf: str = Form(""),
        kind: str = Form(...),
        day: str = Form(...),
        at_time: str = Form("10:00"),
    ) -> Response:
        actor, token = session(request)
        check_csrf(token, csrf)
        when = _when(day, at_time)
        clinic.book(actor, patient_id, kind=kind, at=when)
        return RedirectResponse(f"/patients/{patient_id}", 303)

    @router.post("/patients/{patient_id}/mri")
    def book_mri(
        request: Request,
        patient_id: PageId,
        csrf: str = Form(""),
        day: str = Form(...),
        at_time: str = Form("14:00"),
        field_strength_t: str = Form(""),
    ) -> Response:
        actor, token = session(request)
        check_csrf(token, csrf)
        when = _when(day, at_time)
        clinic.book_mri(actor, patient_id, when, field_strength_t=_tesla(field_strength_t))
        return RedirectResponse(f"/patients/{patient_id}", 303)

    @router.post("/appointments/{appointment_id}/status")
    def appointment_status(
        request: Request,
        appointment_id: PageId,
        csrf: str = Form(""),
        status: str = Form(...),
        back: str = Form("/appointments"),
    ) -> Response:
        actor, token = session(request)
        check_csrf(token, csrf)
        clinic.set_appointment_status(actor, appointment_id, status)
        return RedirectResponse(back if back.startswith("/") and not back.startswith("//") else "/", 303)

    @router.get("/patients/{patient_id}/appointments.ics")
    def ics(request: Request, patient_id: PageId) -> Response:
        actor, _ = session(request)
        found = clinic.calendar_of(actor, patient_id)
        return Response(
            ics_calendar(found.patient_name, found.time_zone, found.visits, clinic.clock()),
            media_type="text/calendar; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="patient-{patient_id}.ics"'},
        )

    # -- the family's page -----------------------------------------------------------------
    @router.get("/family", response_class=HTMLResponse)
    def family_page(request: Request, sent: QueryId = 0, calendar: str = "") -> HTMLResponse:
        actor, token = session(request)
        children = views.patient_list(clinic, actor)
        charts = [chart_context(clinic, actor, c.id) for c in children] if actor.role == "caregiver" else []
        answer = views.symptom_report(clinic, actor, sent) if sent else None
        return render(
            request,
            "family.html",
            actor,
            token,
            charts=charts,
            family=family,
            contacts=clinic.clinic_contacts(actor),
            sent=sent,
            calendar_revoked=calendar == "revoked",
            answer=answer,
            csf=csf_svgs(charts),
            oral=oral_svg(),
        )

    def oral_svg() -> str:
        from itb.web.plots import oral_vs_intrathecal_svg

        return oral_vs_intrathecal_svg()

    def csf_svgs(charts: list[dict]) -> dict[int, str]:
        from itb.web.plots import csf_run_dry_svg

        return {
            c["patient"].id: drawn("Spinal fluid if the pump stops", csf_run_dry_svg, c["program"])
            for c in charts
            if c["program"] is not None
        }

    @router.post("/family/symptoms")
    async def report(request: Request) -> Response:
        actor, token = session(request)
        data = await request.form()
        check_csrf(token, str(data.get("csrf", "")))
        report = clinic.report_symptoms(
            actor,
            form_id(data.get("patient_id"), "patient_id"),
            [str(x) for x in data.getlist("symptoms")],
            str(data.get("note", "")),
        )
        return RedirectResponse(f"/family?sent={report.id}", 303)

    page = PageContext(clinic, templates, render, session, check_csrf, problems)
    install_vendor_pages(router, page)
    install_task_pages(router, page)
    install_emergency_pages(router, page)
    install_calendar_pages(router, clinic, session=session, check_csrf=check_csrf, render=render)
    install_report_pages(router, clinic, session=session, check_csrf=check_csrf)
    install_settings_pages(router, clinic, session=session, check_csrf=check_csrf, render=render)
    install_notify_pages(router, page)
    install_quality_pages(router, page)
    app.include_router(router)


MUSCLES = ("hip adductors", "hamstrings", "knee extensors", "ankle plantar flexors", "elbow flexors")
