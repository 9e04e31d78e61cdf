"""Registering a patient and a pump, as pages.

- ``/patients/new``: name, birth date, origin, weight, GMFCS, the withdrawal-risk flags.
- ``/patients/{id}/pumps/new``: a pump ITB talks to, or a vendor-programmed pump with the import's
  columns and rules (``?connection=vendor``). Either is first reviewed: the registration's own dry
  run (``preview_implant``, ``preview_vendor_pump``) shows the record as it would be stored, its
  forecast and every limit its first program meets (refused, or to confirm; a vendor pump's kept
  as warnings), and nothing is stored until *Implant* / *Register* is pressed.

The rules are the API's: the same use cases, the same roles (a caregiver reaches none of these
pages: "not found"; a nurse registers a patient but not a pump: "not allowed"), quantities with
their units, every error naming its field and rule, and CSRF on every POST.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from itb.clinic import views
from itb.clinic.services import Actor, Conflict, ImportInvalid, NotSent
from itb.clinic.usecases.implants import PumpRegistration, implant_errors
from itb.contracts import bounds
from itb.contracts.clinic_import import parse_program_cell
from itb.domain.catalogue import CATALOGUE
from itb.domain.devices import MODELS
from itb.domain.errors import InvalidInput, Violation
from itb.domain.program import DosingProgram
from itb.domain.units import Dimension
from itb.web.form_fields import day_field, field_errors, number_field, quantity_field, text_field
from itb.web.page_context import CLINICIANS, STAFF, PageContext
from itb.web.page_params import PageId
from itb.web.print_pages import program_words

NAME_MAX = bounds.NAME_MAX
WEIGHT_MAX_KG = 400.0
CATHETER_MAX_CM = 200.0
#: The models of a pump ITB talks to, and the device catalogue's codes of a vendor-programmed one.
TELEMETRY_MODELS = {"peristaltic": "peristaltic (SynchroMed-like)", "valve-gated": "valve-gated (Prometra-like)"}
VENDOR_MODELS = {code: product.name for code, product in CATALOGUE.items()}
#: The vendor form's entries (the import's pump columns, ``shared/spec/clinic-import.md``): label, example.
VENDOR_FIELDS: dict[str, tuple[str, str]] = {
    "pump_serial": ("Serial number", "as on the pump's card"),
    "reservoir_capacity_ml": ("Reservoir size", "e.g. 20 mL or 40 mL"),
    "implanted_on": ("Implanted on", "YYYY-MM-DD"),
    "catheter_length_cm": ("Catheter length (cm, optional)", "e.g. 50"),
    "session_at": ("Last session on the vendor's programmer", "YYYY-MM-DD HH:MM"),
    "reservoir_ml": ("Reservoir volume the programmer was given then", "e.g. 40 mL"),
    "concentration_mcg_per_ml": ("Concentration", "e.g. 500 mcg/mL"),
    "program": ("Program (programmable pumps)", "e.g. 600 mcg/day or 00:00=600;08:00=700"),
    "flow_ml_per_day": ("Nominal flow (constant-flow pumps, mL/day)", "e.g. 1"),
    "low_reservoir_alarm_ml": ("Low-reservoir alarm volume (optional)", "default 2 mL"),
    "vendor_alarm_at": ("Alarm date the vendor's programmer printed (optional)", "YYYY-MM-DD HH:MM"),
    "next_refill_on": ("Refill already booked (optional)", "YYYY-MM-DD"),
}
TELEMETRY_FIELDS: dict[str, tuple[str, str]] = {
    "serial": ("Serial number", "as on the pump's card"),
    "reservoir_capacity_ml": ("Reservoir size", "e.g. 20 mL"),
    "catheter_length_cm": ("Catheter length (cm)", "e.g. 50"),
    "reservoir_ml": ("Volume filled at the implant", "e.g. 20 mL"),
    "concentration_mcg_per_ml": ("Concentration", "e.g. 500 mcg/mL or 0.5 mg/mL"),
    "program": ("First program", "e.g. 100 mcg/day or 00:00=100;08:00=120"),
    "implanted_on": ("Implanted on (empty: now)", "YYYY-MM-DD"),
    "low_reservoir_alarm_ml": ("Low-reservoir alarm volume (empty: 2 mL)", "e.g. 2 mL"),
}
#: The form's date entries (a text field with the clinic's format, never the browser's own date field).
DATE_FIELDS = ("implanted_on", "next_refill_on")
#: the import's columns as the vendor form names them
_VENDOR_FIELD_OF = {"pump_model": "model"}


# ---------------------------------------------------------------------------------- reading the forms


def read_patient_form(form: Mapping[str, str], today: date) -> dict[str, Any]:
    """The fields ``register_patient`` takes, or one InvalidInput naming every wrong field."""
    errs: list[Violation] = []
    name = text_field(errs, "name", form.get("name", ""), NAME_MAX)
    birth = day_field(errs, "birth_date", "birth date", form.get("birth_date", ""), today)
    origin = form.get("origin", "")
    if origin not in ("spinal", "cerebral"):
        errs.append(Violation("origin", "must be spinal or cerebral"))
    weight = number_field(errs, "weight_kg", form.get("weight_kg", ""), "kg", WEIGHT_MAX_KG, required=False)
    gmfcs: int | None = None
    if form.get("gmfcs", "").strip():
        try:
            gmfcs = int(form["gmfcs"])
        except ValueError:
            gmfcs = 0
        if not 1 <= gmfcs <= 5:
            errs.append(Violation("gmfcs", "must be a level I to V (1-5), or empty"))
    if errs:
        raise InvalidInput(errs)
    return {
        "name": name,
        "birth_date": birth,
        "origin": origin,
        "weight_kg": weight,
        "gmfcs": gmfcs,
        "injury_t6_or_above": bool(form.get("injury_t6_or_above")),
        "cannot_communicate": bool(form.get("cannot_communicate")),
        "earlier_withdrawal": bool(form.get("earlier_withdrawal")),
    }


def _program_text(errs: list[Violation], text: str) -> DosingProgram | None:
    text = text.strip()
    if not text:
        errs.append(Violation("program", "is required, e.g. 100 mcg/day"))
        return None
    try:
        return parse_program_cell(text)
    except InvalidInput as exc:
        errs.extend(exc.violations)
    except ValueError:
        rule = f"{text!r} is not a daily dose (e.g. 100 mcg/day) or steps from 00:00 (00:00=100;08:00=120)"
        errs.append(Violation("program", rule))
    return None


def read_implant_form(form: Mapping[str, str], now: datetime) -> dict[str, Any]:
    """The fields ``implant_pump`` takes (not ``acknowledged``), or one InvalidInput naming every wrong field."""
    errs: list[Violation] = []
    model = form.get("model", "")
    if model not in MODELS:
        errs.append(Violation("model", f"must be one of {', '.join(MODELS)} for a pump ITB talks to"))
    serial = text_field(errs, "serial", form.get("serial", ""), 64)
    capacity = quantity_field(errs, "reservoir_capacity_ml", form.get("reservoir_capacity_ml", ""), Dimension.VOLUME)
    catheter = number_field(errs, "catheter_length_cm", form.get("catheter_length_cm", ""), "cm", CATHETER_MAX_CM, True)
    reservoir = quantity_field(errs, "reservoir_ml", form.get("reservoir_ml", ""), Dimension.VOLUME)
    conc = quantity_field(
        errs, "concentration_mcg_per_ml", form.get("concentration_mcg_per_ml", ""), Dimension.CONCENTRATION
    )
    if conc is not None and conc <= 0:
        errs.append(Violation("concentration_mcg_per_ml", "must be above 0 mcg/mL"))
    program = _program_text(errs, form.get("program", ""))
    implanted = day_field(errs, "implanted_on", "implant date", form.get("implanted_on", ""), now.date(), False)
    alarm = quantity_field(
        errs, "low_reservoir_alarm_ml", form.get("low_reservoir_alarm_ml", ""), Dimension.VOLUME, False
    )
    if not errs and model in MODELS:
        errs += implant_errors(serial, model, capacity, reservoir)
    if errs:
        raise InvalidInput(errs)
    fields: dict[str, Any] = {
        "model": model,
        "serial": serial,
        "reservoir_capacity_ml": capacity,
        "catheter_length_cm": catheter,
        "reservoir_ml": reservoir,
        "concentration_mcg_per_ml": conc,
        "program": program,
        "implanted_at": None if implanted is None else datetime.combine(implanted, datetime.min.time()),
    }
    if alarm is not None:
        fields["low_reservoir_alarm_ml"] = alarm
    return fields


def vendor_cells(form: Mapping[str, str]) -> dict[str, str]:
    """The import's pump columns as text, from the vendor form (the date-time inputs' ``T`` kept)."""
    cells = {name: form.get(name, "").strip() for name in VENDOR_FIELDS}
    cells["pump_model"] = form.get("model", "").strip()
    for name in ("session_at", "vendor_alarm_at"):
        cells[name] = cells[name].replace(" ", "T", 1)
    return cells


def vendor_invalid(exc: ImportInvalid) -> InvalidInput:
    """The import's errors, each named by the form's field."""
    return InvalidInput([Violation(_VENDOR_FIELD_OF.get(e.column, e.column), e.message) for e in exc.errors])


def other_warnings(registration: PumpRegistration) -> list[str]:
    """The warnings that are no limit of the program (a vendor's alarm date far from ITB's forecast)."""
    codes = {f.code for f in registration.assessment.findings}
    return [w for w in registration.warnings if w.split(":")[0] not in codes]


# ---------------------------------------------------------------------------------- the pages


def install_registration_pages(router: APIRouter, page: PageContext) -> None:
    """Add the patient and pump registration pages to ``router``."""
    clinic = page.clinic

    @router.get("/patients/new", response_class=HTMLResponse)
    def patient_form(request: Request) -> HTMLResponse:
        actor, token = page.staff(request, STAFF, "registering a patient")
        return page.render(request, "patient_new.html", actor, token, form={}, invalid={})

    @router.post("/patients/new", response_class=HTMLResponse)
    async def patient_register(request: Request) -> Response:
        actor, token = page.staff(request, STAFF, "registering a patient")
        data = await request.form()
        page.check_csrf(token, str(data.get("csrf", "")))
        form = {k: str(v) for k, v in data.items() if k != "csrf"}
        try:
            patient = clinic.register_patient(actor, **read_patient_form(form, clinic.clock().date()))
        except InvalidInput as exc:
            return page.render(
                request, "patient_new.html", actor, token, form=form, invalid=field_errors(exc),
                errors=page.problems(exc), status=422,
            )  # fmt: skip
        return RedirectResponse(f"/patients/{patient.id}?registered=patient", 303)

    def pump_page(request: Request, actor: Actor, token: str, patient_id: int, **shown: Any) -> HTMLResponse:
        """The pump page (``step``: enter, the default, or review) for ``shown['connection']``."""
        connection = shown.pop("connection", "telemetry")
        return page.render(
            request, "pump_new.html", actor, token, patient=views.patient_summary(clinic, actor, patient_id),
            connection=connection if connection in ("telemetry", "vendor") else "telemetry",
            telemetry_models=TELEMETRY_MODELS, vendor_models=VENDOR_MODELS, telemetry_fields=TELEMETRY_FIELDS,
            vendor_fields=VENDOR_FIELDS, date_fields=DATE_FIELDS, program_words=program_words,
            sizes=sorted({s for d in MODELS.values() for s in d.reservoir_sizes_ml}),
            **{"step": "enter", "invalid": {}, **shown},
        )  # fmt: skip

    @router.get("/patients/{patient_id}/pumps/new", response_class=HTMLResponse)
    def pump_form(request: Request, patient_id: PageId, connection: str = "telemetry") -> HTMLResponse:
        actor, token = page.staff(request, CLINICIANS, "registering a pump")
        form = {"model": "peristaltic", "catheter_length_cm": "", "low_reservoir_alarm_ml": ""}
        return pump_page(request, actor, token, patient_id, connection=connection, form=form)

    @router.post("/patients/{patient_id}/pumps/new", response_class=HTMLResponse)
    async def pump_register(request: Request, patient_id: PageId) -> Response:
        """``step``: review (the dry run), confirm (the registration), or edit (the entries again)."""
        actor, token = page.staff(request, CLINICIANS, "registering a pump")
        data = await request.form()
        page.check_csrf(token, str(data.get("csrf", "")))
        form = {k: str(v) for k, v in data.items() if k not in ("csrf", "ack", "step")}
        acknowledged = tuple(str(a) for a in data.getlist("ack"))
        step, vendor = str(data.get("step", "review")), form.get("connection") == "vendor"
        shown: dict[str, Any] = {"connection": form.get("connection", ""), "form": form}
        if step == "edit":
            return pump_page(request, actor, token, patient_id, **shown)
        try:
            if step == "confirm":
                try:
                    pump = register(actor, patient_id, form, acknowledged, vendor)
                    return RedirectResponse(f"/patients/{pump.patient_id}?registered=pump", 303)
                except NotSent as exc:  # the limits as the use case judged them at the confirm
                    shown.update(errors=page.problems(exc), status=422)
            review = preview(actor, patient_id, form, acknowledged, vendor)
        except (InvalidInput, Conflict) as exc:
            shown.update(
                errors=page.problems(exc), invalid=field_errors(exc) if isinstance(exc, InvalidInput) else {},
                status=409 if isinstance(exc, Conflict) else 422,
            )  # fmt: skip
            return pump_page(request, actor, token, patient_id, **shown)
        return pump_page(
            request, actor, token, patient_id, **shown, step="review", registration=review,
            other_warnings=other_warnings(review), program=review.pump.program,
        )  # fmt: skip

    def register(actor: Actor, patient_id: int, form: dict[str, str], acks: tuple[str, ...], vendor: bool) -> Any:
        """The pump stored: implanted (NotSent when its limits are not met) or registered as the vendor's."""
        if not vendor:
            return clinic.implant_pump(actor, patient_id, **read_implant_form(form, clinic.clock()), acknowledged=acks)
        try:
            return clinic.register_vendor_pump(actor, patient_id, vendor_cells(form), None, acks)
        except ImportInvalid as exc:
            raise vendor_invalid(exc) from None

    def preview(
        actor: Actor, patient_id: int, form: dict[str, str], acks: tuple[str, ...], vendor: bool
    ) -> PumpRegistration:
        """The registration's dry run: what it would store and every limit it meets; nothing stored."""
        if not vendor:
            fields = read_implant_form(form, clinic.clock())
            return clinic.preview_implant(actor, patient_id, **fields, acknowledged=acks)
        try:
            return clinic.preview_vendor_pump(actor, patient_id, vendor_cells(form), None, acks)
        except ImportInvalid as exc:
            raise vendor_invalid(exc) from None


__all__ = [
    "TELEMETRY_FIELDS",
    "VENDOR_FIELDS",
    "install_registration_pages",
    "read_implant_form",
    "read_patient_form",
    "vendor_cells",
]
