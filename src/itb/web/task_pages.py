"""The clinic's everyday tasks as pages: registering a patient and a pump, the phase of care,
scores (Modified Ashworth, Tardieu, pain, GAS), a refill discrepancy's review, the patient header
on every patient-specific page, and printable records (a refill, a vendor session), as HTML for
the browser's print and as PDF.

Each page keeps the API's rules: the same use cases (``Clinic``), the same roles (a caregiver
reaches none of them: "not found"; a nurse registers a patient but not a pump: "not allowed"),
quantities with their units (``parse_quantity``), every error naming its field and rule, the
limits of a first program judged before it is sent (its confirmations ticked as on the program
page), and CSRF on every POST.

- ``/patients/new``: name, birth date, origin, weight, GMFCS, the withdrawal-risk flags.
- ``/patients/{id}/pumps/new``: a pump ITB talks to (review of the first program's limits, then
  *Implant*), or a vendor-programmed pump with the import's columns and rules
  (``?connection=vendor``).
- ``POST /patients/{id}/phase``: screening, titrating, maintenance (or ended).
- ``/patients/{id}/assessments?kind=mas|tardieu|pain|gas``: one assessment; the chart's titration
  proposal reads the MAS and GAS scores.
- ``POST /refills/{id}/review``: a clinician has reviewed a refill's volume discrepancy.
- ``/refills/{id}/print`` and ``/pump-sessions/{id}/print`` (``.pdf`` beside each).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from itb.clinic import views
from itb.clinic.derived import is_constant_flow
from itb.clinic.services import PHASES, Actor, Clinic, Conflict, Forbidden, ImportInvalid, NotFound, NotSent
from itb.clinic.usecases.implants import implant_errors
from itb.contracts.clinic_import import parse_program_cell
from itb.contracts.jsonfields import parse_hhmm
from itb.domain.catalogue import CATALOGUE
from itb.domain.devices import MODELS
from itb.domain.errors import InvalidInput, Violation
from itb.domain.limits import Assessment, Origin, PatientContext, assess_first_program
from itb.domain.program import DailyBolus, DosingProgram, Step
from itb.domain.reading import age_years_on
from itb.domain.scales import TARDIEU_QUALITY, Goal
from itb.domain.screening import starting_daily_dose_mcg
from itb.domain.units import Dimension, parse_quantity

STAFF = ("admin", "clinician", "nurse")
CLINICIANS = ("admin", "clinician")
ROLE_WORDS = {STAFF: "the clinic's staff", CLINICIANS: "a clinician or an admin"}
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
PHASE_LABELS = {"screening": "Screening", "titrating": "Titrating", "maintenance": "Maintenance", "ended": "Ended"}
NAME_MAX = 200
BIRTH_MIN = date(1900, 1, 1)
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
FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
DISCLAIMER = "For education, planning and research. Not a certified medical device."


# ---------------------------------------------------------------------------------- reading forms


def field_errors(exc: InvalidInput) -> dict[str, str]:
    """Each form field's problems, for the message under it (``data.hamstrings.r1_deg`` → ``hamstrings.r1_deg``)."""
    out: dict[str, list[str]] = {}
    for v in exc.violations:
        out.setdefault(v.field.removeprefix("data."), []).append(v.rule)
    return {k: "; ".join(rules) for k, rules in out.items()}


def _text(errs: list[Violation], field: str, value: str, maximum: int, required: bool = True) -> str:
    value = value.strip()
    if not value:
        if required:
            errs.append(Violation(field, "is required"))
    elif len(value) > maximum or not value.isprintable():
        errs.append(Violation(field, f"must be 1-{maximum} printable characters"))
    return value


def _day(errs: list[Violation], field: str, text: str, today: date, required: bool = True) -> date | None:
    text = text.strip()
    if not text:
        if required:
            errs.append(Violation(field, "is required (YYYY-MM-DD)"))
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        errs.append(Violation(field, f"{text!r} is not a date YYYY-MM-DD"))
        return None
    if day > today:
        errs.append(Violation(field, "must not be in the future"))
    elif day < BIRTH_MIN:
        errs.append(Violation(field, "must not be before 1900-01-01"))
    return day


def _number(errs: list[Violation], field: str, text: str, unit: str, maximum: float, required: bool) -> float | None:
    """A plain measure (kg, cm) typed with or without its unit: above 0, at most ``maximum``."""
    text = text.strip()
    if not text:
        if required:
            errs.append(Violation(field, f"is required, in {unit}"))
        return None
    bare = re.sub(rf"\s*{unit}$", "", text, flags=re.I)
    if "," in bare:
        errs.append(Violation(field, f"{text!r} has a comma: write decimals with a point (e.g. 12.5)"))
        return None
    try:
        value = float(bare)
    except ValueError:
        errs.append(Violation(field, f"{text!r} is not a number of {unit}"))
        return None
    if not 0 < value <= maximum:  # also NaN
        errs.append(Violation(field, f"must be above 0 and at most {maximum:g} {unit}"))
        return None
    return value


def _quantity(errs: list[Violation], field: str, text: str, dimension: Dimension, required: bool = True) -> Any:
    if not text.strip():
        if required:
            errs.append(Violation(field, "is required, with its unit"))
        return None
    try:
        return parse_quantity(text, dimension, field).value
    except InvalidInput as exc:
        errs.extend(exc.violations)
        return None


def read_patient_form(form: Mapping[str, str], today: date) -> dict[str, Any]:
    """The fields ``register_patient`` takes, or one InvalidInput naming every wrong field."""
    errs: list[Violation] = []
    name = _text(errs, "name", form.get("name", ""), NAME_MAX)
    birth = _day(errs, "birth_date", form.get("birth_date", ""), today)
    origin = form.get("origin", "")
    if origin not in ("spinal", "cerebral"):
        errs.append(Violation("origin", "must be spinal or cerebral"))
    weight = _number(errs, "weight_kg", form.get("weight_kg", ""), "kg", WEIGHT_MAX_KG, required=False)
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
        errs.append(
            Violation(
                "program", f"{text!r} is not a daily dose (e.g. 100 mcg/day) or steps from 00:00 (00:00=100;08:00=120)"
            )
        )
    return None


def read_implant_form(form: Mapping[str, str], now: datetime) -> dict[str, Any]:
    """The fields ``implant_pump`` takes (not ``acknowledged``), or one InvalidInput naming every wrong field."""
    errs: list[Violation] = []
    model = form.get("model", "")
    if model not in MODELS:
        errs.append(Violation("model", f"must be one of {', '.join(MODELS)} for a pump ITB talks to"))
    serial = _text(errs, "serial", form.get("serial", ""), 64)
    capacity = _quantity(errs, "reservoir_capacity_ml", form.get("reservoir_capacity_ml", ""), Dimension.VOLUME)
    catheter = _number(errs, "catheter_length_cm", form.get("catheter_length_cm", ""), "cm", CATHETER_MAX_CM, True)
    reservoir = _quantity(errs, "reservoir_ml", form.get("reservoir_ml", ""), Dimension.VOLUME)
    conc = _quantity(
        errs, "concentration_mcg_per_ml", form.get("concentration_mcg_per_ml", ""), Dimension.CONCENTRATION
    )
    if conc is not None and conc <= 0:
        errs.append(Violation("concentration_mcg_per_ml", "must be above 0 mcg/mL"))
    program = _program_text(errs, form.get("program", ""))
    implanted = _day(errs, "implanted_on", form.get("implanted_on", ""), now.date(), required=False)
    alarm = _quantity(errs, "low_reservoir_alarm_ml", form.get("low_reservoir_alarm_ml", ""), Dimension.VOLUME, False)
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


#: the import's columns as the vendor form names them
_VENDOR_FIELD_OF = {"pump_model": "model"}


def read_program_form(
    starts: list[str], rates: list[str], boluses: list[tuple[str, str, str]]
) -> tuple[DosingProgram, Any]:
    """A flexible program from the program page's rows: each step's start (HH:MM) and rate with its
    unit, each daily bolus's start, dose and duration. Returns the program and the rate entry that
    departs most from the others (``preview_program`` checks it for a mg/mcg slip); one
    InvalidInput naming every wrong row (``program.steps[1].start``)."""
    errs: list[Violation] = []
    steps: list[Step] = []
    entered: list[Any] = []
    if not rates:
        errs.append(Violation("program.steps", "at least one step is required"))
    for i, (start, rate) in enumerate(zip(starts, rates, strict=False)):
        where = f"program.steps[{i}]"
        minute = parse_hhmm(start.strip())
        if minute < 0:
            errs.append(Violation(f"{where}.start", f"{start.strip()!r} is not a time of day HH:MM"))
        try:
            quantity = parse_quantity(rate, Dimension.RATE, f"{where}.rate")
        except InvalidInput as exc:
            errs.extend(exc.violations)
            continue
        entered.append(quantity)
        if minute >= 0:
            steps.append(Step(minute, quantity.value))
    daily: list[DailyBolus] = []
    for i, (start, dose, duration) in enumerate(boluses):
        where = f"program.boluses[{i}]"
        minute = parse_hhmm(start.strip())
        if minute < 0:
            errs.append(Violation(f"{where}.start", f"{start.strip()!r} is not a time of day HH:MM"))
        found: list[Violation] = []
        amount = _quantity(found, f"{where}.dose", dose, Dimension.DOSE)
        minutes = _quantity(found, f"{where}.duration", duration, Dimension.DURATION)
        errs += found
        if minute >= 0 and not found:
            daily.append(DailyBolus(minute, amount, minutes))
    if errs:
        raise InvalidInput(errs)
    from itb.domain.program import check_program

    program = DosingProgram(tuple(steps), tuple(daily))
    found = check_program(program)
    if found:
        raise InvalidInput(found)
    return program, max(entered, key=lambda q: q.value) if entered else None


def program_rows(program: dict | None) -> dict[str, list[dict[str, str]]]:
    """A stored program (``forecast.md``'s form) as the program form's rows, every quantity with its unit."""
    program = program or {"steps": [{"start": "00:00", "rate_mcg_per_day": 0}]}
    return {
        "steps": [{"start": s["start"], "rate": f"{s['rate_mcg_per_day']:g} mcg/day"} for s in program["steps"]],
        "boluses": [
            {"start": b["start"], "dose": f"{b['dose_mcg']:g} mcg", "duration": f"{b['duration_minutes']:g} min"}
            for b in program.get("boluses", ())
        ],
    }


# ---------------------------------------------------------------------------------- assessments


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
    elif kind == "pain":
        text = form.get("score", "").strip()
        if not text.isdigit():
            errs.append(Violation("score", "must be a whole number 0-10 (0 no pain, 10 worst pain)"))
        else:
            data = {"score": int(text), "during": form.get("during", "").strip()[:200]}
    elif kind == "gas":
        goals = []
        for i in range(GAS_GOALS):
            description = form.get(f"goal{i}.description", "").strip()
            if not description:
                continue
            weight = _number(errs, f"goal{i}.weight", form.get(f"goal{i}.weight", "1"), "", 100.0, True)
            score_text = form.get(f"goal{i}.score", "").strip()
            if score_text.lstrip("+-").isdigit():
                score = int(score_text)
            else:
                errs.append(Violation(f"goal{i}.score", "choose a score from -2 to +2"))
                continue
            try:
                Goal(description[:500], weight or 0.0, score)
            except InvalidInput as exc:  # "goal.score" → "goal0.score"
                errs += [Violation(f"goal{i}." + v.field.removeprefix("goal."), v.rule) for v in exc.violations]
            goals.append({"description": description[:500], "weight": weight, "score": score})
        if not goals and not errs:
            errs.append(Violation("goals", "describe at least one goal and score it"))
        data = {"goals": goals}
    else:
        errs.append(Violation("kind", f"must be one of {', '.join(ASSESSMENT_LABELS)}"))
    if errs:
        raise InvalidInput(errs)
    return data


# ---------------------------------------------------------------------------------- printable records


@dataclass(frozen=True)
class PrintRecord:
    """What a printed refill or session says: each line a label and its value, with units."""

    title: str
    patient: Any
    pump: Any
    lines: list[tuple[str, str]]
    at: datetime
    by: str


def _dose(value: float | None, unit: str = "mcg/day") -> str:
    return "—" if value is None else f"{value:,.4g} {unit}"


def _dt(value: datetime | None) -> str:
    return "—" if value is None else value.strftime("%Y-%m-%d %H:%M")


def _program_words(program: dict | None) -> str:
    if not program or not program.get("steps"):
        return "—"
    steps = program["steps"]
    if len(steps) == 1 and not program.get("boluses"):
        return f"{_dose(steps[0]['rate_mcg_per_day'])}, all day"
    words = [f"from {s['start']} {_dose(s['rate_mcg_per_day'])}" for s in steps]
    words += [
        f"bolus {b['start']} {_dose(b['dose_mcg'], 'mcg')} over {b['duration_minutes']:g} min"
        for b in program.get("boluses", ())
    ]
    return "; ".join(words)


def pdf_of(record: PrintRecord, disclaimer: str) -> bytes:
    """The record as a one-page PDF (fpdf2): DejaVu Sans when installed (any name), else Helvetica."""
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(True, margin=15)
    pdf.add_page()
    font, plain = "Helvetica", True
    if (FONT_DIR / "DejaVuSans.ttf").exists() and (FONT_DIR / "DejaVuSans-Bold.ttf").exists():
        pdf.add_font("DejaVu", "", str(FONT_DIR / "DejaVuSans.ttf"))
        pdf.add_font("DejaVu", "B", str(FONT_DIR / "DejaVuSans-Bold.ttf"))
        font, plain = "DejaVu", False

    def text(value: str) -> str:
        if not plain:
            return value
        value = value.replace("—", "-").replace("–", "-").replace("·", "-").replace("≤", "<=")
        return value.encode("latin-1", "replace").decode("latin-1")

    pdf.set_font(font, "B", 16)
    pdf.cell(0, 10, text(record.title), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(font, "", 11)
    p = record.patient
    pdf.multi_cell(
        0, 6, text(f"{p.name} · born {p.birth_date.isoformat()} · {p.origin} origin"), new_x="LMARGIN", new_y="NEXT"
    )
    pdf.ln(2)
    width = 62
    for label, value in record.lines:
        pdf.set_font(font, "B", 10)
        y = pdf.get_y()
        pdf.multi_cell(width, 6, text(label), new_x="RIGHT", new_y="TOP")
        pdf.set_font(font, "", 10)
        pdf.multi_cell(0, 6, text(value), new_x="LMARGIN", new_y="NEXT")
        pdf.set_y(max(pdf.get_y(), y + 6))
    pdf.ln(6)
    pdf.set_font(font, "", 8)
    pdf.multi_cell(0, 4, text(disclaimer), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


# ---------------------------------------------------------------------------------- the pages


def install_task_pages(
    router: APIRouter,
    clinic: Clinic,
    *,
    templates: Jinja2Templates,
    render: Callable[..., HTMLResponse],
    session: Callable[[Request], tuple[Actor, str]],
    check_csrf: Callable[[str, str], None],
    problems: Callable[[Exception], list[dict]],
) -> None:
    """Add the task pages to ``router``, and ``patient_header`` (the header partial's data) to the templates."""

    def staff(request: Request, roles: tuple[str, ...], what: str) -> tuple[Actor, str]:
        actor, token = session(request)
        if actor.role == "caregiver":
            raise NotFound("page not found")
        if actor.role not in roles:
            raise Forbidden(f"{what} is for {ROLE_WORDS[roles]}")
        return actor, token

    def patient_header(actor: Actor, patient_id: int, pump: Any = None) -> dict[str, Any]:
        """The patient's name, birth date, age and pump, for the header of a patient-specific page."""
        record = views.patient_record(clinic, actor, patient_id)
        implanted = next((p for p in record.pumps if p["status"] == "implanted"), None)
        patient = record.patient
        return {
            "patient": patient,
            "age": age_years_on(patient.birth_date, clinic.clock().date()),
            "pump": pump if pump is not None else implanted,
        }

    templates.env.globals["patient_header"] = patient_header
    templates.env.globals["phase_labels"] = PHASE_LABELS

    # -- register a patient ---------------------------------------------------------------
    @router.get("/patients/new", response_class=HTMLResponse)
    def patient_form(request: Request) -> HTMLResponse:
        actor, token = staff(request, STAFF, "registering a patient")
        return render(request, "patient_new.html", actor, token, form={}, invalid={}, today=clinic.clock().date())

    @router.post("/patients/new", response_class=HTMLResponse)
    async def patient_register(request: Request) -> Response:
        actor, token = staff(request, STAFF, "registering a patient")
        data = await request.form()
        check_csrf(token, str(data.get("csrf", "")))
        form = {k: str(v) for k, v in data.items() if k != "csrf"}
        try:
            patient = clinic.register_patient(actor, **read_patient_form(form, clinic.clock().date()))
        except InvalidInput as exc:
            return render(
                request, "patient_new.html", actor, token, form=form, invalid=field_errors(exc),
                errors=problems(exc), today=clinic.clock().date(), status=422,
            )  # fmt: skip
        return RedirectResponse(f"/patients/{patient.id}?registered=patient", 303)

    # -- register a pump ------------------------------------------------------------------
    def pump_context(actor: Actor, patient_id: int, connection: str) -> dict[str, Any]:
        patient = views.patient_summary(clinic, actor, patient_id)
        return {
            "patient": patient,
            "connection": connection if connection in ("telemetry", "vendor") else "telemetry",
            "telemetry_models": TELEMETRY_MODELS,
            "vendor_models": VENDOR_MODELS,
            "telemetry_fields": TELEMETRY_FIELDS,
            "vendor_fields": VENDOR_FIELDS,
            "sizes": sorted({s for d in MODELS.values() for s in d.reservoir_sizes_ml}),
        }

    def first_program_review(actor: Actor, patient: Any, fields: dict[str, Any]) -> Assessment:
        """The limits ``implant_pump`` judges the first program by (``assess_first_program``), before it is sent."""
        records = views.chart(clinic, actor, patient.id)
        responded = sorted((t for t in records.screenings if t.responded), key=lambda t: t.at)
        start = starting_daily_dose_mcg(responded[0].dose_mcg, responded[0].effect_hours or 0.0) if responded else None
        now = clinic.clock()
        implanted = fields.get("implanted_at") or now
        context = PatientContext(Origin(patient.origin), age_years_on(patient.birth_date, now.date()), implanted)
        return assess_first_program(
            fields["program"], fields["concentration_mcg_per_ml"], context, now, start, clinic.config.limits
        )

    @router.get("/patients/{patient_id}/pumps/new", response_class=HTMLResponse)
    def pump_form(request: Request, patient_id: int, connection: str = "telemetry") -> HTMLResponse:
        actor, token = staff(request, CLINICIANS, "registering a pump")
        context = pump_context(actor, patient_id, connection)
        form = {"model": "peristaltic", "catheter_length_cm": "", "low_reservoir_alarm_ml": ""}
        return render(request, "pump_new.html", actor, token, step="enter", form=form, invalid={}, **context)

    @router.post("/patients/{patient_id}/pumps/new", response_class=HTMLResponse)
    async def pump_register(request: Request, patient_id: int) -> Response:
        actor, token = staff(request, CLINICIANS, "registering a pump")
        data = await request.form()
        check_csrf(token, str(data.get("csrf", "")))
        context = pump_context(actor, patient_id, str(data.get("connection", "")))
        form = {k: str(v) for k, v in data.items() if k not in ("csrf", "ack", "step")}
        acknowledged = tuple(str(a) for a in data.getlist("ack"))
        step = str(data.get("step", "review"))

        def again(exc: Exception, status: int = 422) -> HTMLResponse:
            invalid = field_errors(exc) if isinstance(exc, InvalidInput) else {}
            return render(
                request, "pump_new.html", actor, token, step="enter", form=form, invalid=invalid,
                errors=problems(exc), status=status, **context,
            )  # fmt: skip

        if context["connection"] == "vendor":
            try:
                pump = clinic.register_vendor_pump(actor, patient_id, vendor_cells(form), None, acknowledged)
            except ImportInvalid as exc:
                named = InvalidInput(
                    [Violation(_VENDOR_FIELD_OF.get(e.column, e.column), e.message) for e in exc.errors]
                )
                return again(named)
            return RedirectResponse(f"/patients/{pump.patient_id}?registered=pump", 303)
        if step == "edit":
            return render(request, "pump_new.html", actor, token, step="enter", form=form, invalid={}, **context)
        try:
            fields = read_implant_form(form, clinic.clock())
            if step == "confirm":
                pump = clinic.implant_pump(actor, patient_id, **fields, acknowledged=acknowledged)
                return RedirectResponse(f"/patients/{pump.patient_id}?registered=pump", 303)
            review = first_program_review(actor, context["patient"], fields)
        except NotSent as exc:  # the limits as the use case judged them at the confirm
            return render(
                request, "pump_new.html", actor, token, step="review", form=form, fields=fields,
                assessment=exc.assessment, program_words=_program_words, errors=problems(exc), status=422, **context,
            )  # fmt: skip
        except (InvalidInput, Conflict) as exc:
            return again(exc, 409 if isinstance(exc, Conflict) else 422)
        from itb.contracts.forecast import program_json

        return render(
            request, "pump_new.html", actor, token, step="review", form=form, fields=fields, assessment=review,
            program=program_json(fields["program"]), program_words=_program_words, **context,
        )  # fmt: skip

    # -- the phase of care ----------------------------------------------------------------
    @router.post("/patients/{patient_id}/phase")
    def set_phase(request: Request, patient_id: int, csrf: str = Form(""), phase: str = Form("")) -> Response:
        actor, token = staff(request, CLINICIANS, "changing the phase of care")
        check_csrf(token, csrf)
        if phase not in PHASES:
            raise InvalidInput([Violation("phase", f"must be one of {', '.join(PHASES)}")])
        clinic.set_phase(actor, patient_id, phase)
        return RedirectResponse(f"/patients/{patient_id}?phase={phase}", 303)

    # -- scores ---------------------------------------------------------------------------
    def score_page(
        request: Request, actor: Actor, token: str, patient_id: int, kind: str, **extra: Any
    ) -> HTMLResponse:
        now = clinic.clock()
        extra.setdefault("form", {"at": now.strftime("%Y-%m-%dT%H:%M")})
        return render(
            request, "assessment.html", actor, token, patient=views.patient_summary(clinic, actor, patient_id),
            kind=kind, kinds=ASSESSMENT_LABELS, mas_muscles=MAS_MUSCLES, tardieu_muscles=TARDIEU_MUSCLES,
            grades=MAS_GRADES, qualities=TARDIEU_QUALITY, goals=range(GAS_GOALS), **{"invalid": {}, **extra},
        )  # fmt: skip

    @router.get("/patients/{patient_id}/assessments", response_class=HTMLResponse)
    def assessment_form(request: Request, patient_id: int, kind: str = "mas") -> HTMLResponse:
        actor, token = staff(request, CLINICIANS, "recording scores")
        return score_page(request, actor, token, patient_id, kind if kind in ASSESSMENT_LABELS else "mas")

    @router.post("/patients/{patient_id}/assessments", response_class=HTMLResponse)
    async def assessment_save(request: Request, patient_id: int) -> Response:
        actor, token = staff(request, CLINICIANS, "recording scores")
        data = await request.form()
        check_csrf(token, str(data.get("csrf", "")))
        kind = str(data.get("kind", ""))
        form = {k: str(v) for k, v in data.items() if k != "csrf"}
        try:
            at = _assessed_at(form.get("at", ""), clinic.clock())
            clinic.record_assessment(actor, patient_id, kind, read_assessment_form(kind, form), at)
        except InvalidInput as exc:
            return score_page(
                request, actor, token, patient_id, kind if kind in ASSESSMENT_LABELS else "mas", form=form,
                invalid=field_errors(exc), errors=problems(exc), status=422,
            )  # fmt: skip
        return RedirectResponse(f"/patients/{patient_id}?assessed={kind}", 303)

    # -- a refill's discrepancy -----------------------------------------------------------
    @router.post("/refills/{refill_id}/review")
    def review_refill(request: Request, refill_id: int, csrf: str = Form("")) -> Response:
        actor, token = staff(request, CLINICIANS, "reviewing a refill discrepancy")
        check_csrf(token, csrf)
        refill = clinic.review_discrepancy(actor, refill_id)
        patient_id = views.pump_record(clinic, actor, refill.pump_id).patient_id
        return RedirectResponse(f"/patients/{patient_id}?reviewed_refill={refill.id}", 303)

    # -- printable records ----------------------------------------------------------------
    def next_visit(actor: Actor, patient_id: int) -> str:
        now = clinic.clock()
        booked = sorted(v.at for v in views.booked_visits(clinic, actor, patient_id).visits if v.at >= now)
        kinds = {v.at: v.kind for v in views.booked_visits(clinic, actor, patient_id).visits}
        return f"{_dt(booked[0])} ({kinds[booked[0]].replace('_', ' ')})" if booked else "none booked"

    def refill_record(actor: Actor, refill_id: int) -> PrintRecord:
        refill = _record_of(clinic, actor, views.Refill, refill_id, "refill")
        pump = views.pump_record(clinic, actor, refill.pump_id)
        patient = views.patient_summary(clinic, actor, pump.patient_id)
        latest = pump.last_refill_at is None or pump.last_refill_at <= refill.at
        product = f"{refill.product}, " if refill.product else ""
        lines = [
            ("Pump", f"{pump.model}, {pump.reservoir_capacity_ml:g} mL, serial {pump.serial}"),
            ("Drug", f"baclofen {product}{_dose(refill.concentration_mcg_per_ml, 'mcg/mL')}"),
            ("Lot", refill.lot or "not recorded"),
            ("Expected in the pump", f"{refill.expected_ml:.2f} mL"),
            ("Withdrawn", f"{refill.withdrawn_ml:.2f} mL (difference {refill.discrepancy_ml:+.2f} mL)"),
            ("Added", f"{refill.added_ml:.2f} mL"),
        ]
        if refill.flagged:
            lines.append(
                ("Discrepancy", f"reviewed by {refill.reviewed_by}" if refill.reviewed_by else "to be reviewed")
            )
        if refill.bridge_bolus_mcg:
            lines.append(("Bridge bolus", _dose(refill.bridge_bolus_mcg, "mcg")))
        lines += [
            ("Program", _program_words(pump.program) + ("" if latest else " (now; a later refill followed)")),
            ("Low-reservoir alarm", _dt(pump.low_reservoir_alarm_at) if latest else "see the later refill"),
            ("Next visit", next_visit(actor, patient.id)),
            ("Refilled by", refill.by),
        ]
        return PrintRecord("Refill", patient, pump, lines, refill.at, refill.by)

    def session_record(actor: Actor, session_id: int) -> PrintRecord:
        from itb.web.vendor_pages import FIELDS, RECORDED_LABELS

        recorded = _record_of(clinic, actor, views.PumpSession, session_id, "pump session")
        pump = views.pump_record(clinic, actor, recorded.pump_id)
        patient = views.patient_summary(clinic, actor, pump.patient_id)
        data = recorded.data or {}
        latest = pump.reading_at is None or pump.reading_at <= recorded.at
        kind = RECORDED_LABELS.get(recorded.kind, recorded.kind)
        product = f"{data['product']}, " if data.get("product") else ""
        conc = data.get("concentration_mcg_per_ml", pump.concentration_mcg_per_ml if latest else None)
        lines = [
            ("Pump", f"{pump.model}, {pump.reservoir_capacity_ml:g} mL, serial {pump.serial} (vendor's programmer)"),
            ("Session", f"{kind}, {_dt(recorded.at)}"),
            ("Drug", f"baclofen {product}{_dose(conc, 'mcg/mL')}" if conc is not None else "—"),
            ("Lot", data.get("lot") or "not recorded"),
        ]
        if data.get("itb_expected_ml") is not None:
            lines.append(("ITB's expected residual", f"{data['itb_expected_ml']:.2f} mL"))
        for name in ("vendor_expected_ml", "withdrawn_ml", "added_ml", "reservoir_ml", "low_reservoir_alarm_ml"):
            if data.get(name) is not None:
                lines.append((FIELDS[name].label, f"{data[name]:.2f} mL"))
        if data.get("dose_mcg") is not None:
            lines.append((FIELDS["dose_mcg"].label, _dose(data["dose_mcg"], "mcg")))
        program = data.get("program") or (pump.program if latest else None)
        fixed = "fixed flow: the dose changes only with the concentration"
        lines.append(("Program", fixed if is_constant_flow(pump) else _program_words(program)))
        lines.append(
            ("Low-reservoir alarm (ITB)", _dt(pump.low_reservoir_alarm_at) if latest else "see the later session")
        )
        if data.get("vendor_alarm_at"):
            lines.append(("Alarm date the vendor printed", _dt(datetime.fromisoformat(data["vendor_alarm_at"]))))
        for w in recorded.warnings or ():
            lines.append(("Warning", str(w).partition(": ")[2] or str(w)))
        if recorded.warnings:
            lines.append(("Warnings reviewed", f"by {recorded.reviewed_by}" if recorded.reviewed_by else "not yet"))
        lines += [("Next visit", next_visit(actor, patient.id)), ("Recorded by", recorded.by)]
        return PrintRecord(f"{kind} session", patient, pump, lines, recorded.at, recorded.by)

    def printed(request: Request, record: PrintRecord, pdf_url: str) -> HTMLResponse:
        actor, token = session(request)
        return render(
            request, "print_record.html", actor, token, record=record, pdf_url=pdf_url, patient=record.patient,
            pump=record.pump, printed_at=clinic.clock(),
        )  # fmt: skip

    def as_pdf(record: PrintRecord, name: str) -> Response:
        return Response(
            pdf_of(record, DISCLAIMER),
            media_type="application/pdf",
            headers={"Content-Disposition": f'inline; filename="{name}.pdf"'},
        )

    @router.get("/refills/{refill_id}/print", response_class=HTMLResponse)
    def refill_print(request: Request, refill_id: int) -> HTMLResponse:
        actor, _ = staff(request, STAFF, "a printed refill")
        return printed(request, refill_record(actor, refill_id), f"/refills/{refill_id}/print.pdf")

    @router.get("/refills/{refill_id}/print.pdf")
    def refill_pdf(request: Request, refill_id: int) -> Response:
        actor, _ = staff(request, STAFF, "a printed refill")
        return as_pdf(refill_record(actor, refill_id), f"refill-{refill_id}")

    @router.get("/pump-sessions/{session_id}/print", response_class=HTMLResponse)
    def session_print(request: Request, session_id: int) -> HTMLResponse:
        actor, _ = staff(request, STAFF, "a printed session report")
        return printed(request, session_record(actor, session_id), f"/pump-sessions/{session_id}/print.pdf")

    @router.get("/pump-sessions/{session_id}/print.pdf")
    def session_pdf(request: Request, session_id: int) -> Response:
        actor, _ = staff(request, STAFF, "a printed session report")
        return as_pdf(session_record(actor, session_id), f"session-{session_id}")


def _assessed_at(text: str, now: datetime) -> datetime:
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


def _record_of(clinic: Clinic, actor: Actor, kind: type, record_id: int, label: str) -> Any:
    """One refill or recorded session by its id, if its pump is one the actor may see (detached).

    The clinic's views have no read of one refill or session by its own id (only by the pump's):
    this is that read, with the use cases' own visibility (``clinic.pump``)."""
    with clinic.sessions() as s:
        record = s.get(kind, record_id)
        if record is None:
            raise NotFound(f"{label} {record_id}: not found")
        clinic.pump(s, actor, record.pump_id)
        return record


__all__ = [
    "install_task_pages",
    "program_rows",
    "read_assessment_form",
    "read_implant_form",
    "read_patient_form",
    "read_program_form",
]
