"""The clinic's REST API (FastAPI). OpenAPI at ``/openapi.json``, interactive docs at ``/docs``.

Auth: OAuth2 password flow (``POST /api/auth/token``) giving a bearer token (JWT, HS256,
8 hours). Errors: 401 no or bad token; 403 role not allowed; 404 not found (also another
family's child, for a caregiver); 409 the pump changed since it was read; 422 bad input, naming
each field and rule, or limits not met (with every finding and its code); 502 the pump could
not be reached or refused. Nothing is stored when a request fails.
"""

from __future__ import annotations

import html
import math
import os
import secrets
from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import jwt
from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.security import OAuth2PasswordBearer, OAuth2PasswordRequestForm
from pydantic import BaseModel, ConfigDict, Field, field_validator

from itb.clinic import views
from itb.clinic.services import (
    Actor,
    Clinic,
    Conflict,
    Forbidden,
    ImportInvalid,
    NotFound,
    NotSent,
    PumpChangeFailed,
    RecordIncomplete,
    row_json,
)
from itb.contracts.forecast import parse_program
from itb.domain.catalogue import CATALOGUE
from itb.domain.devices import MODELS
from itb.domain.errors import InvalidInput, Violation
from itb.domain.management import management_json
from itb.domain.mri import MAX_FIELD_STRENGTH_T
from itb.domain.program import DosingProgram

DISCLAIMER = "For education, planning and research. Not a certified medical device."
TOKEN_HOURS = 8


def secret_key(data_dir: Path) -> str:
    """``$ITB_SECRET``, else a random key kept in the data directory (created once, mode 0600)."""
    if os.environ.get("ITB_SECRET"):
        return os.environ["ITB_SECRET"]
    path = data_dir / "secret.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


# ---------------------------------------------------------------------- request bodies
class Strict(BaseModel):
    #: no unknown field, and no NaN or infinity in any number (none is a dose, a volume or a time)
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class PatientIn(Strict):
    name: str = Field(min_length=1, max_length=200)
    birth_date: date
    origin: Literal["spinal", "cerebral"]
    weight_kg: float | None = Field(default=None, gt=0, le=400)
    gmfcs: int | None = Field(default=None, ge=1, le=5)
    injury_t6_or_above: bool = False
    cannot_communicate: bool = False
    earlier_withdrawal: bool = False


class PumpIn(Strict):
    """A new pump. ``connection``: ``telemetry`` (default), a pump ITB talks to; or ``vendor``,
    programmed on the vendor's programmer, registered as it stood after its last session
    (``session_at``), with the import's rules (``shared/spec/clinic-import.md``)."""

    connection: Literal["telemetry", "vendor"] = "telemetry"
    model: str = Field(
        description="telemetry: peristaltic or valve-gated; vendor: a device catalogue code "
        "(synchromed-ii, prometra-ii, constant-flow) or peristaltic / valve-gated"
    )
    serial: str = Field(min_length=1, max_length=64)
    reservoir_capacity_ml: float = Field(gt=0)
    catheter_length_cm: float | None = Field(default=None, gt=0, le=200, description="required for telemetry")
    reservoir_ml: float = Field(ge=0, description="vendor: the volume the programmer was given at session_at")
    concentration_mcg_per_ml: float = Field(gt=0, le=2000)
    program: dict[str, Any] | None = Field(default=None, description="as in forecast.md; none for constant-flow")
    implanted_at: datetime | None = None
    low_reservoir_alarm_ml: float | None = Field(default=None, ge=0, description="default 2 (constant-flow: 0)")
    session_at: datetime | None = Field(default=None, description="vendor: the last session, on the minute")
    flow_ml_per_day: float | None = Field(default=None, gt=0, description="vendor constant-flow: the nominal flow")
    vendor_alarm_at: datetime | None = Field(default=None, description="vendor: the alarm date it printed")
    next_refill_on: date | None = Field(default=None, description="vendor: a refill already booked")
    acknowledged: list[str] = Field(default_factory=list, description="codes of the soft limits confirmed")

    @field_validator("model")
    @classmethod
    def _known_model(cls, model: str) -> str:
        known = (*MODELS, *CATALOGUE)
        if model not in known:
            raise ValueError(f"must be one of {', '.join(known)}")
        return model


class ProgramIn(Strict):
    program: dict[str, Any]
    version: int = Field(description="the pump record's version you read (409 if it changed)")
    acknowledged: list[str] = Field(default_factory=list, description="codes of the soft limits confirmed")


class RefillIn(Strict):
    withdrawn_ml: float = Field(ge=0)
    added_ml: float = Field(gt=0)
    concentration_mcg_per_ml: float = Field(gt=0, le=2000)
    lot: str | None = Field(default=None, max_length=64)
    product: str | None = Field(
        default=None,
        max_length=64,
        description="the drug product (its strengths are judged): Lioresal Intrathecal, Gablofen",
    )
    version: int
    acknowledged: list[str] = Field(default_factory=list)


class BolusIn(Strict):
    kind: Literal["single", "priming"]
    dose_mcg: float | None = Field(default=None, gt=0, description="a single bolus's dose (mcg)")
    catheter_length_cm: float | None = Field(
        default=None, gt=0, le=200, description="a priming bolus: the catheter length to fill (cm)"
    )
    duration_minutes: float = Field(default=30, ge=1, le=1440)
    version: int
    acknowledged: list[str] = Field(default_factory=list)


class SessionIn(Strict):
    """What the vendor's programmer did (``shared/spec`` units: mL, mcg/mL, mcg/day)."""

    at: datetime
    kind: Literal["refill", "program", "interrogation", "bolus", "mri_check"]
    reservoir_ml: float | None = Field(default=None, ge=0, description="the reservoir volume as set on the device")
    withdrawn_ml: float | None = Field(default=None, ge=0)
    vendor_expected_ml: float | None = Field(
        default=None, ge=0, description="the vendor programmer's expected residual"
    )
    added_ml: float | None = Field(default=None, gt=0)
    concentration_mcg_per_ml: float | None = Field(default=None, gt=0, le=2000)
    product: str | None = Field(default=None, max_length=64)
    lot: str | None = Field(default=None, max_length=64)
    program: dict | None = Field(default=None, description="as in forecast.md")
    dose_mcg: float | None = Field(default=None, gt=0, description="a bolus given on the vendor's programmer")
    low_reservoir_alarm_ml: float | None = Field(default=None, ge=0)
    vendor_alarm_at: datetime | None = None
    eri_at: datetime | None = Field(
        default=None,
        description="the elective replacement indicator the vendor's programmer shows (reached: on or before at)",
    )
    version: int
    acknowledged: list[str] = Field(default_factory=list)


class AppointmentIn(Strict):
    patient_id: int
    kind: Literal["screening", "titration", "refill", "mri", "mri_check", "replacement"]
    at: datetime
    pump_id: int | None = None
    notes: str | None = Field(default=None, max_length=2000)


class ScreeningIn(Strict):
    dose_mcg: float = Field(gt=0, le=100)
    mas_before: dict[str, str]
    mas_after: dict[str, str]
    effect_hours: float | None = Field(default=None, ge=0, le=72)
    at: datetime | None = None
    side_effects: str | None = Field(
        default=None, max_length=2000, description="side effects seen after the dose (they stop the escalation)"
    )


class AssessmentIn(Strict):
    kind: Literal["mas", "tardieu", "gmfcs", "pain", "gas"]
    data: dict[str, Any] = Field(
        description="mas {muscle: grade 0, 1, 1+, 2, 3, 4}; tardieu {muscle: {quality 0-5, r1_deg, r2_deg}}, "
        "angles signed from the joint's zero position (-180 to 180, R1 <= R2; R2 - R1 is stored); "
        "gmfcs {level}; pain {score 0-10}; gas {goals}"
    )
    at: datetime | None = None


class PhaseIn(Strict):
    phase: Literal["screening", "titrating", "maintenance", "ended"]


class MriIn(Strict):
    at: datetime
    duration_minutes: float = Field(
        default=60.0, gt=0, le=480, description="the scan's length: the check is due at its end"
    )
    # Only the type is checked here (a number: not a string, not a boolean); the range (> 0, at most
    # MAX_FIELD_STRENGTH_T, finite) is the domain's rule, answered 422 naming the field. Checking it here
    # would echo a NaN back in the 422 body, which JSON cannot carry (a 500).
    field_strength_t: float | None = Field(
        default=None,
        strict=True,
        description=f"the scanner's static field in tesla (> 0, at most {MAX_FIELD_STRENGTH_T:g}), checked against "
        "the pump's MRI conditions; omitted: the plan reminds to check the scanner against the manual",
    )


class RetireIn(Strict):
    version: int
    reason: str = Field(default="", max_length=2000)


class ResolveIn(Strict):
    version: int
    note: str = Field(min_length=1, max_length=2000)


class ReviewIn(Strict):
    note: str = Field(min_length=1, max_length=2000)


class AppointmentStatusIn(Strict):
    status: Literal["done", "missed", "cancelled"]


# ---------------------------------------------------------------------- views
def error_page(code: int, message: str) -> str:
    """A plain page for an error met while browsing (the API answers JSON)."""
    title = {403: "Not allowed", 404: "Not found", 409: "Changed meanwhile", 422: "Please check", 502: "Pump"}.get(
        code, "Error"
    )
    return (
        f'<!doctype html><html lang="en"><meta charset="utf-8"><title>{title}</title>'
        f'<body style="font:17px system-ui;max-width:40rem;margin:3rem auto"><h1>{title}</h1>'
        f'<p>{html.escape(message)}</p><p><a href="/">Back to the start</a></p>'
        f"<p><small>{DISCLAIMER}</small></p></body></html>"
    )


def patient_json(p: views.PatientSummary) -> dict:
    return asdict(p)


def _program(obj: dict) -> DosingProgram:
    errs: list[Violation] = []
    program = parse_program(obj, "program", errs)
    if errs:
        raise InvalidInput(errs)
    return program


oauth2 = OAuth2PasswordBearer(tokenUrl="/api/auth/token")


#: the API's names of the import's columns (``shared/spec/clinic-import.md``)
_VENDOR_FIELDS = {"pump_model": "model", "pump_serial": "serial", "implanted_on": "implanted_at"}
_VENDOR_ONLY = ("session_at", "flow_ml_per_day", "vendor_alarm_at", "next_refill_on")


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
    fields["program"] = _program(fields["program"])
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


def register_vendor(clinic: Clinic, me: Actor, patient_id: int, body: PumpIn) -> Any:
    """A vendor-programmed pump through the import's own rules; its errors named as the API names them."""
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
    program = None if body.program is None else _program(body.program)
    try:
        return clinic.register_vendor_pump(me, patient_id, cells, program, tuple(body.acknowledged))
    except ImportInvalid as exc:
        raise InvalidInput([Violation(_VENDOR_FIELDS.get(e.column, e.column), e.message) for e in exc.errors]) from None


def current_actor(request: Request, token: Annotated[str, Depends(oauth2)]) -> Actor:
    try:
        claims = jwt.decode(token, request.app.state.secret, algorithms=["HS256"])
    except jwt.PyJWTError:
        raise HTTPException(401, "invalid or expired token", headers={"WWW-Authenticate": "Bearer"}) from None
    return Actor(claims["sub"], claims["role"], claims["uid"])


Me = Annotated[Actor, Depends(current_actor)]
#: A change sent again under the same key (its answer was lost) is answered, never made twice.
IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", description="8-60 letters, digits or ._:- ; the same key answers the same change"),
]


def json_safe(value: Any) -> Any:
    """``value`` with what JSON cannot carry written as text: non-finite numbers, lone surrogates,
    any other object (an exception in a validation error's context)."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8")
    return json_safe(str(value))


def create_app(clinic: Clinic, secret: str) -> FastAPI:
    app = FastAPI(title="ITB clinic", description=f"Intrathecal baclofen pump clinic. {DISCLAIMER}", version="0.1")
    app.state.secret = secret

    def make_token(user: Actor) -> str:
        claims = {
            "sub": user.username,
            "role": user.role,
            "uid": user.user_id,
            "exp": datetime.now(UTC) + timedelta(hours=TOKEN_HOURS),
        }
        return jwt.encode(claims, secret, algorithm="HS256")

    # -- errors ------------------------------------------------------------------------
    @app.exception_handler(InvalidInput)
    async def invalid(request: Request, exc: InvalidInput) -> Response:
        if not request.url.path.startswith("/api/"):
            return HTMLResponse(error_page(422, exc.one_line()), status_code=422)
        return JSONResponse(
            status_code=422,
            content={
                "detail": [{"loc": v.field.split("."), "msg": v.rule, "type": "value_error"} for v in exc.violations]
            },
        )

    @app.exception_handler(RequestValidationError)
    async def unreadable(request: Request, exc: RequestValidationError) -> Response:
        """FastAPI's 422, with the echoed input made JSON-safe (a NaN, an infinity or a lone
        surrogate in the request made the default handler fail with a 500)."""
        return JSONResponse(status_code=422, content={"detail": json_safe(list(exc.errors()))})

    @app.exception_handler(ImportInvalid)
    async def import_invalid(_: Request, exc: ImportInvalid) -> JSONResponse:
        errors = [{"row": e.row, "column": e.column, "message": e.message} for e in exc.errors]
        return JSONResponse(status_code=422, content=json_safe({"errors": errors}))

    @app.exception_handler(NotSent)
    async def not_sent(_: Request, exc: NotSent) -> JSONResponse:
        return JSONResponse(status_code=422, content={"detail": "not sent to the pump", "findings": exc.findings})

    for kind, code in (
        (NotFound, 404),
        (Forbidden, 403),
        (Conflict, 409),
        (PumpChangeFailed, 502),
        (RecordIncomplete, 503),
    ):

        def handler(request: Request, exc: Exception, code: int = code) -> Response:
            if not request.url.path.startswith("/api/"):  # a page: a page in return
                return HTMLResponse(error_page(code, str(exc)), status_code=code)
            return JSONResponse(status_code=code, content={"detail": str(exc)})

        app.add_exception_handler(kind, handler)

    @app.post("/api/auth/token", tags=["auth"])
    def token(form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> dict:
        user = views.sign_in(clinic, form.username, form.password)
        if user is None:
            raise HTTPException(401, "wrong username or password", headers={"WWW-Authenticate": "Bearer"})
        return {
            "access_token": make_token(user),
            "token_type": "bearer",
            "role": user.role,
        }

    @app.get("/api/health", tags=["meta"])
    def health() -> dict:
        views.health_check(clinic)
        return {"status": "ok", "disclaimer": DISCLAIMER}

    # -- patients ----------------------------------------------------------------------
    @app.get("/api/patients", tags=["patients"])
    def patients(me: Me) -> list[dict]:
        return [patient_json(p) for p in views.patient_list(clinic, me)]

    @app.post("/api/patients", status_code=201, tags=["patients"])
    def register(body: PatientIn, me: Me) -> dict:
        return patient_json(views.summarize_patient(clinic.register_patient(me, **body.model_dump())))

    @app.get("/api/patients/{patient_id}", tags=["patients"])
    def patient(patient_id: int, me: Me) -> dict:
        record = views.patient_record(clinic, me, patient_id)
        return {**patient_json(record.patient), "pumps": record.pumps, "appointments": record.appointments}

    @app.post("/api/patients/{patient_id}/pumps", status_code=201, tags=["pumps"])
    def implant(patient_id: int, body: PumpIn, me: Me) -> dict:
        if body.connection == "vendor":
            pump = register_vendor(clinic, me, patient_id, body)
        else:
            pump = clinic.implant_pump(me, patient_id, **telemetry_fields(body))
        return views.pump_data(pump, clinic.clock(), clinic.config.flow)

    @app.post("/api/patients/{patient_id}/phase", tags=["patients"])
    def set_phase(patient_id: int, body: PhaseIn, me: Me) -> dict:
        return patient_json(views.summarize_patient(clinic.set_phase(me, patient_id, body.phase)))

    @app.post("/api/patients/{patient_id}/mri", status_code=201, tags=["appointments"])
    def book_mri(patient_id: int, body: MriIn, me: Me) -> dict:
        scan, check, plan = clinic.book_mri(me, patient_id, body.at, body.duration_minutes, body.field_strength_t)
        return {
            "scan": row_json(scan),
            "check": row_json(check),
            "before": list(plan.before),
            "after": list(plan.after),
            "warnings": list(plan.warnings),
            "field_strength_t": plan.field_strength_t,
            "field_check": plan.field_check,
            "field_condition": plan.field_condition,
        }

    @app.get("/api/patients/{patient_id}/symptom-reports", tags=["patients"])
    def symptom_reports(patient_id: int, me: Me) -> list[dict]:
        """The family's symptom reports with the triage made then, the latest first. For the clinic's staff
        each also has ``management``: the drug labels' steps, with citations, when the triage points at an
        overdose or a withdrawal (empty otherwise). A caregiver never gets it."""
        reports = views.symptom_reports(clinic, me, patient_id)
        if me.role == "caregiver":
            return [asdict(r) for r in reports]
        return [{**asdict(r), "management": management_json((r.triage or {}).get("concerns", ()))} for r in reports]

    @app.post("/api/patients/{patient_id}/screenings", status_code=201, tags=["patients"])
    def screening(patient_id: int, body: ScreeningIn, me: Me) -> dict:
        return row_json(clinic.record_screening(me, patient_id, **body.model_dump()))

    @app.get("/api/patients/{patient_id}/assessments", tags=["patients"])
    def assessments(patient_id: int, me: Me) -> list[dict]:
        return views.assessment_history(clinic, me, patient_id)

    @app.post("/api/patients/{patient_id}/assessments", status_code=201, tags=["patients"])
    def assess(patient_id: int, body: AssessmentIn, me: Me) -> dict:
        return row_json(clinic.record_assessment(me, patient_id, body.kind, body.data, body.at))

    # -- pumps -------------------------------------------------------------------------
    @app.get("/api/pumps/{pump_id}", tags=["pumps"])
    def pump(pump_id: int, me: Me) -> dict:
        detail = views.pump_detail(clinic, me, pump_id)
        return {
            **detail.pump,
            "refills": detail.refills,
            "program_versions": detail.program_versions,
            "pending_changes": detail.pending_changes,
        }

    @app.get("/api/pumps/{pump_id}/events", tags=["pumps"])
    def pump_events(pump_id: int, me: Me, since: int = 0) -> list:
        """The pump's log as the clinic has stored it (from its interrogations), from ``since`` on."""
        return views.pump_log(clinic, me, pump_id, since)

    @app.post("/api/pumps/{pump_id}/resolve-regression", tags=["pumps"])
    def resolve_regression(pump_id: int, body: ResolveIn, me: Me) -> dict:
        """A clinician accepts a pump's state that went backwards, saying what was checked."""
        return views.pump_data(
            clinic.resolve_regression(me, pump_id, expected_version=body.version, note=body.note),
            clinic.clock(),
            clinic.config.flow,
        )

    @app.post("/api/pump-changes/{change_id}/review", tags=["pumps"])
    def review_change(change_id: int, body: ReviewIn, me: Me) -> dict:
        """A clinician says what a change found in the pump's log with no record was."""
        return views.change_data(clinic.review_unrecorded_change(me, change_id, body.note))

    @app.post("/api/pumps/{pump_id}/interrogations", status_code=201, tags=["pumps"])
    def interrogate(pump_id: int, me: Me) -> dict:
        return views.pump_data(clinic.interrogate(me, pump_id), clinic.clock(), clinic.config.flow)

    @app.post("/api/pumps/{pump_id}/programs", status_code=201, tags=["pumps"])
    def change_program(pump_id: int, body: ProgramIn, me: Me, key: IdempotencyKey = None) -> dict:
        program = _program(body.program)
        return views.pump_data(
            clinic.change_program(
                me,
                pump_id,
                program,
                expected_version=body.version,
                acknowledged=tuple(body.acknowledged),
                request_key=key,
            ),
            clinic.clock(),
            clinic.config.flow,
        )

    @app.post("/api/pumps/{pump_id}/refills", status_code=201, tags=["pumps"])
    def refill(pump_id: int, body: RefillIn, me: Me, key: IdempotencyKey = None) -> dict:
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

    @app.post("/api/pumps/{pump_id}/boluses", status_code=201, tags=["pumps"])
    def give_bolus(pump_id: int, body: BolusIn, me: Me, key: IdempotencyKey = None) -> dict:
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

    @app.post("/api/pumps/{pump_id}/retire", tags=["pumps"])
    def retire(pump_id: int, body: RetireIn, me: Me) -> dict:
        return views.pump_data(
            clinic.retire_pump(me, pump_id, expected_version=body.version, reason=body.reason),
            clinic.clock(),
            clinic.config.flow,
        )

    @app.post("/api/refills/{refill_id}/review", tags=["pumps"])
    def review_refill(refill_id: int, me: Me) -> dict:
        return row_json(clinic.review_discrepancy(me, refill_id))

    # -- appointments --------------------------------------------------------------------
    @app.get("/api/appointments", tags=["appointments"])
    def appointments(me: Me, status: str | None = None, start: date | None = None, end: date | None = None) -> list:
        since = datetime.combine(start, datetime.min.time()) if start else None
        before = datetime.combine(end, datetime.min.time()) + timedelta(days=1) if end else None
        return views.appointments(clinic, me, status, since, before)

    @app.post("/api/appointments", status_code=201, tags=["appointments"])
    def book(body: AppointmentIn, me: Me) -> dict:
        a = clinic.book(me, body.patient_id, kind=body.kind, at=body.at, pump_id=body.pump_id, notes=body.notes)
        return row_json(a)

    @app.post("/api/appointments/{appointment_id}/status", tags=["appointments"])
    def set_status(appointment_id: int, body: AppointmentStatusIn, me: Me) -> dict:
        a = clinic.set_appointment_status(me, appointment_id, body.status)
        return row_json(a)

    # -- the worklist and the audit log ----------------------------------------------------
    @app.get("/api/worklist", tags=["worklist"])
    def get_worklist(
        me: Me,
        limit: Annotated[int | None, Query(ge=1, le=100_000, description="the first N items only")] = None,
        max_urgency: Annotated[int | None, Query(ge=0, le=2, description="0: urgent only; 1: and soon")] = None,
    ) -> list[dict]:
        items = views.work_items(clinic, me)
        if max_urgency is not None:
            items = [i for i in items if i.urgency <= max_urgency]
        items = items[:limit] if limit else items
        return [
            {
                "patient_id": i.patient_id,
                "patient_name": i.patient_name,
                "pump_id": i.pump_id,
                "reasons": [str(r) for r in i.reasons],
                "details": list(i.details),
                "days_until_empty": i.days_until_empty,
                "days_until_alarm": i.days_until_alarm,
                "urgency": i.urgency,
            }
            for i in items
        ]

    @app.post("/api/import", tags=["import"])
    async def import_clinic(request: Request, me: Me, dry_run: bool = False) -> dict:
        """Import an existing clinic (``shared/spec/clinic-import.md``): a CSV as the body
        (``text/csv``) or as the multipart field ``file``. All rows or none: 422 with every error."""
        kind = request.headers.get("content-type", "")
        if kind.startswith("multipart/form-data"):
            form = await request.form()
            upload = form.get("file")
            raw = None if upload is None or isinstance(upload, str) else await upload.read()
        else:
            raw = await request.body()
        try:
            text = (raw or b"").decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidInput([Violation("file", "must be UTF-8 text")]) from None
        return clinic.import_clinic(me, text, dry_run=dry_run).json()

    @app.get(
        "/api/export",
        tags=["import"],
        response_class=Response,
        responses={200: {"content": {"text/csv": {}}, "description": "the import's columns, one row per pump"}},
    )
    def export_clinic(me: Me) -> Response:
        """Every implanted pump's current state in the import's columns (``shared/spec/clinic-import.md``),
        importable again. What a row cannot carry (a program's boluses) is named in ``X-ITB-Export-Warnings``."""
        report = clinic.export_clinic(me)
        headers = {"Content-Disposition": 'attachment; filename="itb-clinic-export.csv"'}
        if report.warnings:
            headers["X-ITB-Export-Warnings"] = " | ".join(report.warnings)
        return Response(report.text, media_type="text/csv; charset=utf-8", headers=headers)

    @app.post("/api/pumps/{pump_id}/sessions", status_code=201, tags=["pumps"])
    def record_session(pump_id: int, body: SessionIn, me: Me, response: Response, dry_run: bool = False) -> dict:
        """Record what the vendor's programmer did to a vendor-programmed pump. Never refused for
        a limit: what the device was given is recorded, each limit it breaks (unless acknowledged)
        a warning on the session and the worklist until a clinician reviews it.

        ``dry_run=true`` is the review before the device is programmed: the same answer (200),
        nothing stored. Then program the device and send the same body ("programmed as
        reviewed"), or the values actually set."""
        fields = body.model_dump(exclude={"at", "kind", "version"})
        if body.program is not None:
            fields["program"] = _program(body.program)
        outcome = clinic.record_session(
            me, pump_id, kind=body.kind, at=body.at, expected_version=body.version, dry_run=dry_run, **fields
        )
        if dry_run:
            response.status_code = 200
        booked = outcome.booked
        return {
            "dry_run": dry_run,
            "session": {**row_json(outcome.session), **({"id": None} if dry_run else {})},
            "findings": [
                {"code": f.code, "severity": f.severity.value, "message": f.message}
                for f in outcome.assessment.findings
            ],
            "pump": views.pump_data(outcome.pump, clinic.clock(), clinic.config.flow),
            "booked_refill": None if booked is None else {"on": booked.at.date().isoformat(), "notes": booked.notes},
        }

    @app.get("/api/pumps/{pump_id}/sessions", tags=["pumps"])
    def pump_sessions(pump_id: int, me: Me) -> list[dict]:
        """What the vendor's programmer did to a vendor-programmed pump, as recorded, oldest first."""
        return views.pump_sessions(clinic, me, pump_id)

    @app.post("/api/pump-sessions/{session_id}/review", tags=["pumps"])
    def review_session(session_id: int, me: Me) -> dict:
        """A clinician has reviewed a recorded session's warnings: they leave the worklist."""
        return row_json(clinic.review_session(me, session_id))

    @app.get("/api/audit", tags=["audit"])
    def get_audit(me: Me, limit: int = 100, before_id: int | None = None) -> dict:
        page = views.audit_page(clinic, me, limit, before_id)
        return {"entries": page.entries, "chain_intact": page.chain_intact}

    from itb.web.pages import install_pages

    install_pages(app, clinic, secret, make_token)
    return app
