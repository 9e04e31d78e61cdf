"""Pumps: implants, readings, program changes, refills, boluses, record checks, retirement, and the
pump's plans (the replacement plan, the spinal-fluid curve)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from itb.clinic import record_views, views
from itb.clinic.derived import is_constant_flow, program_of
from itb.clinic.services import Actor, Clinic, Conflict, ImportInvalid, row_json
from itb.clinic.usecases.implants import PumpRegistration
from itb.domain.csf import DEFAULT_CSF, periodic_steady_state, run_dry_curve
from itb.domain.errors import InvalidInput, Violation
from itb.domain.profile import DailyProfile
from itb.domain.program import DosingProgram
from itb.web.api.answers import (
    PUMP_WRITE,
    READ,
    WRITE,
    CsfOut,
    ProgramVersionOut,
    PumpChangeOut,
    PumpDetailOut,
    PumpEventOut,
    PumpOut,
    PumpRegistrationOut,
    RefillOut,
    RefillRecordOut,
    ReplacementOut,
    errors,
    findings_json,
)
from itb.web.api.deps import ClinicDep, CurrentUser, IdempotencyKey
from itb.web.api.patients import therapy_plans_of
from itb.web.api.schemas import (
    MAX_ID,
    BolusIn,
    ProgramIn,
    PumpIn,
    RecordId,
    RefillIn,
    ResolveIn,
    RetireIn,
    ReviewIn,
    program_from,
)

router = APIRouter(tags=["pumps"])

#: the API's names of the import's columns (``shared/spec/clinic-import.md``)
_VENDOR_FIELDS = {"pump_model": "model", "pump_serial": "serial", "implanted_on": "implanted_at"}
_VENDOR_ONLY = ("session_at", "flow_ml_per_day", "vendor_alarm_at", "next_refill_on")
#: the spinal-fluid curve as the family page draws it: the program, and the pump running dry on day 2 of 4
CSF_DAYS = 4.0
CSF_DRY_AT_HOURS = 48.0


def pump_json(clinic: Clinic, pump: Any) -> dict:
    return views.pump_data(pump, clinic.clock(), clinic.config.flow)


def telemetry_fields(body: PumpIn) -> dict[str, Any]:
    """A pump ITB talks to: the implant's fields (the vendor's ones are an error)."""
    errs = [Violation(name, "is only for a vendor-programmed pump") for name in _VENDOR_ONLY if getattr(body, name)]
    if body.model not in ("peristaltic", "valve-gated"):
        errs.append(Violation("model", "must be peristaltic or valve-gated for a pump ITB talks to"))
    for name in ("catheter_length_cm", "program"):
        if getattr(body, name) is None:
            errs.append(Violation(name, "is required"))
    if errs:
        raise InvalidInput(errs)
    fields = body.model_dump(exclude={"connection", *_VENDOR_ONLY})
    fields["program"] = program_from(fields["program"])
    fields["acknowledged"] = tuple(fields["acknowledged"])
    if fields["low_reservoir_alarm_ml"] is None:
        del fields["low_reservoir_alarm_ml"]
    return fields


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M")
    if isinstance(value, date):
        return value.isoformat()
    return repr(value) if isinstance(value, float) else str(value)


def vendor_cells(body: PumpIn) -> tuple[dict[str, str], DosingProgram | None]:
    """A vendor-programmed pump as the import's columns (and its program, parsed)."""
    errs = []
    for name in ("session_at", "vendor_alarm_at"):
        at = getattr(body, name)
        if at is not None and (at.second or at.microsecond):
            errs.append(Violation(name, "must be on the minute (as the vendor's programmer shows it)"))
    if body.session_at is None:
        errs.append(Violation("session_at", "is required for a vendor-programmed pump"))
    if errs:
        raise InvalidInput(errs)
    model = {"peristaltic": "synchromed-ii", "valve-gated": "prometra-ii"}.get(body.model, body.model)
    implanted = body.implanted_at.date() if body.implanted_at else None
    cells = {
        "pump_model": model, "pump_serial": body.serial, "reservoir_capacity_ml": _cell(body.reservoir_capacity_ml),
        "implanted_on": _cell(implanted), "catheter_length_cm": _cell(body.catheter_length_cm),
        "session_at": _cell(body.session_at), "reservoir_ml": _cell(body.reservoir_ml),
        "concentration_mcg_per_ml": _cell(body.concentration_mcg_per_ml),
        "low_reservoir_alarm_ml": _cell(body.low_reservoir_alarm_ml), "flow_ml_per_day": _cell(body.flow_ml_per_day),
        "vendor_alarm_at": _cell(body.vendor_alarm_at), "next_refill_on": _cell(body.next_refill_on),
    }  # fmt: skip
    return cells, None if body.program is None else program_from(body.program)


def register(clinic: Clinic, me: Actor, patient_id: RecordId, body: PumpIn, dry_run: bool) -> Any:
    """The pump stored (its record), or with ``dry_run`` only judged (a :class:`PumpRegistration`); a
    vendor-programmed pump through the import's own rules, its errors named as the API names them."""
    if body.connection != "vendor":
        implant = clinic.preview_implant if dry_run else clinic.implant_pump
        return implant(me, patient_id, **telemetry_fields(body))
    cells, program = vendor_cells(body)
    how = clinic.preview_vendor_pump if dry_run else clinic.register_vendor_pump
    try:
        return how(me, patient_id, cells, program, tuple(body.acknowledged))
    except ImportInvalid as exc:
        raise InvalidInput([Violation(_VENDOR_FIELDS.get(e.column, e.column), e.message) for e in exc.errors]) from None


def registration_json(outcome: PumpRegistration) -> dict[str, Any]:
    """A dry run's answer (:class:`PumpRegistrationOut`)."""
    booked = outcome.booked
    return {
        "dry_run": outcome.dry_run,
        "would_store": outcome.would_store,
        "pump": {**row_json(outcome.pump), **({"id": None} if outcome.dry_run else {})},
        "findings": findings_json(outcome.assessment.findings),
        "unconfirmed": findings_json(outcome.unconfirmed),
        "warnings": list(outcome.warnings),
        "booked_refill": None if booked is None else {"on": booked.at.date().isoformat(), "notes": booked.notes},
    }


# -- the pump's record -----------------------------------------------------------------------
@router.post(
    "/api/patients/{patient_id}/pumps",
    status_code=201,
    response_model=PumpOut,
    responses={
        200: {"model": PumpRegistrationOut, "description": "dry_run=true: judged, nothing stored"},
        **errors(*PUMP_WRITE),
    },
)
def implant(patient_id: RecordId, body: PumpIn, clinic: ClinicDep, me: CurrentUser, dry_run: bool = False) -> Any:
    """Register a pump: implant one ITB talks to (its first program judged by the limits, then
    sent), or record a vendor-programmed one as it stood after its last session.

    ``dry_run=true`` is the review before it: the same checks (422 as without it), and 200 with
    the record as it would be stored, every limit its first program meets, the soft ones not yet
    in ``acknowledged`` and a vendor pump's warnings; nothing is stored, nothing audited, no pump
    is created. Then send the same body, with the codes confirmed, without ``dry_run``."""
    outcome = register(clinic, me, patient_id, body, dry_run)
    if dry_run:
        return JSONResponse(jsonable_encoder(PumpRegistrationOut.model_validate(registration_json(outcome))))
    return pump_json(clinic, outcome)


@router.get("/api/pumps/{pump_id}", response_model=PumpDetailOut, responses=errors(*READ))
def pump(pump_id: RecordId, clinic: ClinicDep, me: CurrentUser) -> dict:
    detail = views.pump_detail(clinic, me, pump_id)
    return {
        **detail.pump,
        "refills": detail.refills,
        "program_versions": detail.program_versions,
        "pending_changes": detail.pending_changes,
    }


@router.get("/api/pumps/{pump_id}/events", response_model=list[PumpEventOut], responses=errors(*READ))
def pump_events(
    pump_id: RecordId,
    clinic: ClinicDep,
    me: CurrentUser,
    since: Annotated[int, Query(ge=0, le=MAX_ID, description="after this event's sequence number (0: all)")] = 0,
) -> list:
    """The pump's log as the clinic has stored it (from its interrogations), from ``since`` on."""
    return views.pump_log(clinic, me, pump_id, since)


@router.get(
    "/api/pumps/{pump_id}/program-versions",
    response_model=list[ProgramVersionOut],  # type: ignore[valid-type]
    responses=errors(*READ),
)
def program_versions(pump_id: RecordId, clinic: ClinicDep, me: CurrentUser) -> list[dict]:
    """Every program the pump has run, oldest first (``version``, the program, its daily dose, who and when)."""
    return views.pump_detail(clinic, me, pump_id).program_versions


# -- record checks -------------------------------------------------------------------------------
@router.post("/api/pumps/{pump_id}/resolve-regression", response_model=PumpOut, responses=errors(*PUMP_WRITE))
def resolve_regression(pump_id: RecordId, body: ResolveIn, clinic: ClinicDep, me: CurrentUser) -> dict:
    """A clinician accepts a pump's state that went backwards, saying what was checked."""
    return pump_json(clinic, clinic.resolve_regression(me, pump_id, expected_version=body.version, note=body.note))


@router.post("/api/pump-changes/{change_id}/review", response_model=PumpChangeOut, responses=errors(*WRITE))
def review_change(change_id: RecordId, body: ReviewIn, clinic: ClinicDep, me: CurrentUser) -> dict:
    """A clinician says what a change found in the pump's log with no record was."""
    return views.change_data(clinic.review_unrecorded_change(me, change_id, body.note))


# -- what reaches the pump ---------------------------------------------------------------------
@router.post(
    "/api/pumps/{pump_id}/interrogations", status_code=201, response_model=PumpOut, responses=errors(*PUMP_WRITE)
)
def interrogate(pump_id: RecordId, clinic: ClinicDep, me: CurrentUser) -> dict:
    return pump_json(clinic, clinic.interrogate(me, pump_id))


@router.post("/api/pumps/{pump_id}/programs", status_code=201, response_model=PumpOut, responses=errors(*PUMP_WRITE))
def change_program(
    pump_id: RecordId, body: ProgramIn, clinic: ClinicDep, me: CurrentUser, key: IdempotencyKey = None
) -> dict:
    program = program_from(body.program)
    changed = clinic.change_program(
        me,
        pump_id,
        program,
        expected_version=body.version,
        acknowledged=tuple(body.acknowledged),
        request_key=key,
    )
    return pump_json(clinic, changed)


@router.post("/api/pumps/{pump_id}/refills", status_code=201, response_model=RefillOut, responses=errors(*PUMP_WRITE))
def refill(pump_id: RecordId, body: RefillIn, clinic: ClinicDep, me: CurrentUser, key: IdempotencyKey = None) -> dict:
    r = clinic.refill(
        me,
        pump_id,
        withdrawn_ml=body.withdrawn_ml,
        added_ml=body.added_ml,
        concentration_mcg_per_ml=body.concentration_mcg_per_ml,
        lot=body.lot,
        product=body.product,
        expected_version=body.version,
        acknowledged=tuple(body.acknowledged),
        request_key=key,
    )
    return row_json(r)


@router.post(
    "/api/pumps/{pump_id}/boluses", status_code=201, response_model=PumpChangeOut, responses=errors(*PUMP_WRITE)
)
def give_bolus(
    pump_id: RecordId, body: BolusIn, clinic: ClinicDep, me: CurrentUser, key: IdempotencyKey = None
) -> dict:
    """A single bolus (lockout, daily maximum, dose limits) or a priming bolus (only the
    catheter's volume; a catheter that already holds drug is judged as a bolus). A refused
    bolus answers 422 with each finding's code; soft ones go through when acknowledged."""
    change = clinic.give_bolus(
        me,
        pump_id,
        kind=body.kind,
        dose_mcg=body.dose_mcg,
        catheter_length_cm=body.catheter_length_cm,
        duration_minutes=body.duration_minutes,
        expected_version=body.version,
        acknowledged=tuple(body.acknowledged),
        request_key=key,
    )
    return views.change_data(change)


@router.post("/api/pumps/{pump_id}/retire", response_model=PumpOut, responses=errors(*WRITE))
def retire(pump_id: RecordId, body: RetireIn, clinic: ClinicDep, me: CurrentUser) -> dict:
    return pump_json(clinic, clinic.retire_pump(me, pump_id, expected_version=body.version, reason=body.reason))


@router.get("/api/refills/{refill_id}", response_model=RefillRecordOut, responses=errors(*READ))
def refill_record(refill_id: RecordId, clinic: ClinicDep, me: CurrentUser) -> dict:
    """One refill as its printed summary says it: the patient and pump, the drug and lot, the
    volumes, the program the pump ran after it, the alarm date that followed, the next visit, who."""
    return asdict(record_views.refill_record(clinic, me, refill_id))


@router.post("/api/refills/{refill_id}/review", response_model=RefillOut, responses=errors(*WRITE))
def review_refill(refill_id: RecordId, clinic: ClinicDep, me: CurrentUser) -> dict:
    return row_json(clinic.review_discrepancy(me, refill_id))


# -- the pump's plans -----------------------------------------------------------------------------
@router.get("/api/pumps/{pump_id}/replacement", response_model=ReplacementOut, responses=errors(401, 404, 409, 422))
def replacement(pump_id: RecordId, clinic: ClinicDep, me: CurrentUser) -> dict:
    """The battery's replacement plan, as the chart shows it: the elective replacement indicator
    (ERI), the end of service, the date to operate by, and the new pump's priming bolus.
    409 for a pump with no battery to plan from (a constant-flow pump), or one no longer implanted."""
    record = views.pump_record(clinic, me, pump_id)
    if is_constant_flow(record):
        raise Conflict(f"pump {pump_id} is a constant-flow pump: it has no battery, so no replacement plan")
    if record.status != "implanted":
        raise Conflict(f"pump {pump_id} is not implanted (status: {record.status}): no replacement plan")
    records, plans = therapy_plans_of(clinic, me, record.patient_id)
    plan = plans["replacement"]
    if plan is None or records.pump is None or records.pump.id != record.id:
        raise Conflict(f"pump {pump_id} ({record.model}): no replacement plan is made for this model")
    return {
        "pump_id": record.id,
        "model": record.model,
        "eri_at": plan.eri_at,
        "end_of_service_at": plan.end_of_service_at,
        "surgery_by": plan.surgery_by,
        "priming": {
            "volume_ml": plan.priming.volume_ml,
            "dose_mcg": plan.priming.dose_mcg,
            "duration_minutes": plan.priming.duration_minutes,
        },
        "basis": plan.basis,
        "overdue": plan.overdue,
        "notes": list(plan.notes),
    }


@router.get("/api/pumps/{pump_id}/csf", response_model=CsfOut, responses=errors(*READ))
def csf(pump_id: RecordId, clinic: ClinicDep, me: CurrentUser) -> dict:
    """The baclofen level in the spinal fluid on the pump's program, and what happens if the pump
    runs dry (at 48 h, over 4 days), every 10 minutes: the family page's curve as data
    (``itb.domain.csf``: one compartment plus an effect delay; an orientation, not a measurement).
    A program that delivers nothing has no points."""
    record = views.pump_record(clinic, me, pump_id)
    profile = DailyProfile.from_program(program_of(record))
    settings = DEFAULT_CSF
    out: dict[str, Any] = {
        "pump_id": record.id,
        "daily_dose_mcg": profile.daily_mcg,
        "runs_dry_at_hours": CSF_DRY_AT_HOURS,
        "steady_state_ng_per_ml": 0.0,
        "half_life_h": settings.half_life_h,
        "clearance_ml_per_h": settings.clearance_ml_per_h,
        "effect_delay_h": settings.effect_delay_h,
        "units": {"hours": "h", "csf_ng_per_ml": "ng/mL", "effect_ng_per_ml": "ng/mL", "daily_dose_mcg": "mcg/day"},
        "points": [],
    }
    if profile.daily_mcg <= 0:
        return out
    c_ss, e_ss = periodic_steady_state(profile, settings)
    hour = 3600.0
    curve = run_dry_curve(
        profile, 0.0, CSF_DRY_AT_HOURS * hour, CSF_DAYS * 24 * hour, c_ss, ce0_ng_per_ml=e_ss, settings=settings
    )
    out["steady_state_ng_per_ml"] = c_ss
    out["points"] = [
        {"hours": float(t) / hour, "csf_ng_per_ml": float(c), "effect_ng_per_ml": float(e)}
        for t, c, e in zip(curve.times_s, curve.csf_ng_per_ml, curve.effect_ng_per_ml, strict=True)
    ]
    return out
