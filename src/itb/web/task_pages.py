"""The clinic's everyday tasks as pages, and what they share: the patient header on every
patient-specific page, and the program form's rows (the program page reads them).

The tasks themselves, each group its own module, all installed by :func:`install_task_pages`:

- :mod:`itb.web.registration_pages`: registering a patient and a pump (ITB's own, or a
  vendor-programmed one), each pump reviewed by its registration's dry run before it is stored;
- :mod:`itb.web.assessment_pages`: the phase of care, the scores (Modified Ashworth, Tardieu, pain,
  GAS), a refill discrepancy's review;
- :mod:`itb.web.print_pages`: the printed refill and vendor session (HTML and PDF).

Each page keeps the API's rules: the same use cases (``Clinic``), the same roles (a caregiver
reaches none of them: "not found"; a nurse registers a patient but not a pump: "not allowed"),
quantities with their units (``parse_quantity``), every error naming its field and rule, the
limits of a first program judged before it is sent (its confirmations ticked as on the program
page), and CSRF on every POST.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from itb.clinic import views
from itb.clinic.services import Actor
from itb.contracts.jsonfields import parse_hhmm
from itb.domain.errors import InvalidInput, Violation
from itb.domain.program import DailyBolus, DosingProgram, Step, check_program
from itb.domain.reading import age_years_on
from itb.domain.units import Dimension, parse_quantity
from itb.web.assessment_pages import install_assessment_pages
from itb.web.form_fields import quantity_field
from itb.web.page_context import PageContext
from itb.web.print_pages import install_print_pages
from itb.web.registration_pages import install_registration_pages

PHASE_LABELS = {"screening": "Screening", "titrating": "Titrating", "maintenance": "Maintenance", "ended": "Ended"}


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
        amount = quantity_field(found, f"{where}.dose", dose, Dimension.DOSE)
        minutes = quantity_field(found, f"{where}.duration", duration, Dimension.DURATION)
        errs += found
        if minute >= 0 and not found:
            daily.append(DailyBolus(minute, amount, minutes))
    if errs:
        raise InvalidInput(errs)
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


def install_task_pages(router: APIRouter, page: PageContext) -> None:
    """Add the task pages to ``router``, and ``patient_header`` (the header partial's data) and
    ``phase_labels`` to the templates."""
    clinic = page.clinic

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

    page.templates.env.globals["patient_header"] = patient_header
    page.templates.env.globals["phase_labels"] = PHASE_LABELS
    install_registration_pages(router, page)
    install_assessment_pages(router, page)
    install_print_pages(router, page)


__all__ = ["PHASE_LABELS", "install_task_pages", "program_rows", "read_program_form"]
