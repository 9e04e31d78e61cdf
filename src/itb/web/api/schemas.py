"""The API's request bodies and answers (pydantic), and the errors each operation may answer.

Units are ``shared/spec``'s: mL, mcg/mL, mcg/day, cm, hours; times are ISO 8601, the clinic's
local time. An answer that is a record (a pump, a refill, an appointment, ...) carries the record's
columns, its model made from the record's own table (:func:`record_fields`), so the document
follows the database; a column added later appears as an additional property.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal, get_type_hints

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, create_model, field_validator

from itb.clinic import views
from itb.contracts.forecast import parse_program
from itb.domain.catalogue import CATALOGUE
from itb.domain.devices import MODELS
from itb.domain.errors import InvalidInput, Violation
from itb.domain.mri import MAX_FIELD_STRENGTH_T
from itb.domain.program import DosingProgram
from itb.domain.titration import ProposalKind

#: the largest record id or sequence number a request may name (the columns are INTEGER: 32 bits in
#: PostgreSQL, which refuses a larger number outright); one outside is 422, naming it
MAX_ID = 2**31 - 1
#: a record's id in a path (or a body): in the columns' range; one that does not exist is 404
RecordId = Annotated[int, Field(ge=-MAX_ID - 1, le=MAX_ID)]


# ====================================================================== request bodies
class Strict(BaseModel):
    #: no unknown field, and no NaN or infinity in any number (none is a dose, a volume or a time)
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


#: a patient's fields, with the same rules at registration and on an edit
PatientName = Annotated[str, Field(min_length=1, max_length=200)]
WeightKg = Annotated[float, Field(gt=0, le=400, description="kg")]
Gmfcs = Annotated[int, Field(ge=1, le=5, description="GMFCS level I-V as 1-5")]


class PatientIn(Strict):
    name: PatientName
    birth_date: date
    origin: Literal["spinal", "cerebral"]
    weight_kg: WeightKg | None = None
    gmfcs: Gmfcs | None = None
    injury_t6_or_above: bool = False
    cannot_communicate: bool = False
    earlier_withdrawal: bool = False


class PatientPatch(Strict):
    """The fields to change, only those given, with the registration's rules; ``weight_kg`` or
    ``gmfcs`` null clears it (the birth date and the origin are the registration's)."""

    name: PatientName | None = None
    weight_kg: WeightKg | None = None
    gmfcs: Gmfcs | None = None
    injury_t6_or_above: bool | None = None
    cannot_communicate: bool | None = None
    earlier_withdrawal: bool | None = None

    @field_validator("name", "injury_t6_or_above", "cannot_communicate", "earlier_withdrawal")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("must not be null")
        return value

    def changes(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in sorted(self.model_fields_set)}


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
    patient_id: RecordId
    kind: Literal["screening", "titration", "refill", "mri", "mri_check", "replacement"]
    at: datetime
    pump_id: RecordId | None = None
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


class SymptomReportIn(Strict):
    """What the family sees at home: symptom codes (``itb.domain.triage``), and/or a note in words."""

    symptoms: list[str] = Field(default_factory=list, description="symptom codes, e.g. itching, breathing_slow")
    note: str = Field(default="", description="what you see, in your own words (at most 2000 characters)")


def program_from(obj: dict) -> DosingProgram:
    """A request's ``program`` (``forecast.md``), every error naming its field."""
    errs: list[Violation] = []
    program = parse_program(obj, "program", errs)
    if errs:
        raise InvalidInput(errs)
    return program


# ====================================================================== answers
#: a time as the clinic's records keep it: its local time, ISO 8601 without an offset (RFC 3339's
#: ``date-time`` needs one, so that format would not be true of it)
LocalTime = Annotated[
    datetime,
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$",
            "description": "the clinic's local time (ISO 8601, no offset)",
        }
    ),
]


class Answer(BaseModel):
    """An answer; more properties may be added later (a client ignores what it does not know)."""

    model_config = ConfigDict(extra="allow")


def record_fields(record: Any, *, all_optional: bool = False) -> dict[str, Any]:
    """A record's columns as pydantic fields: ``row_json``'s keys, in its order, with their types
    (a JSON column: any JSON; a nullable column: or null)."""
    fields: dict[str, Any] = {}
    for column in record.__table__.columns:
        try:
            kind: Any = column.type.python_type
        except NotImplementedError:
            kind = Any
        if kind is datetime:
            kind = LocalTime
        if kind in (dict, list):
            kind = Any  # a JSON column
        elif column.nullable or all_optional:
            kind = kind | None
        fields[column.key] = (kind, ...)
    return fields


def dataclass_fields(kind: type) -> dict[str, Any]:
    """A view's dataclass fields as pydantic fields (``asdict``'s keys and types)."""
    local = {datetime: LocalTime, datetime | None: LocalTime | None}
    return {name: (local.get(hint, hint), ...) for name, hint in get_type_hints(kind).items()}


def model(name: str, doc: str, fields: dict[str, Any]) -> type[BaseModel]:
    return create_model(name, __base__=Answer, __doc__=doc, **fields)


class LearnedFlow(Answer):
    """The pump's learned flow (its delivered / counted ratio from the refills) and the dates planned from it."""

    ratio: float | None
    sd: float | None
    refills: int
    confidence: float
    earliest_alarm_at: LocalTime | None
    earliest_empty_at: LocalTime | None
    drift: str | None


_PUMP_FIELDS = {
    **record_fields(views.Pump),
    "estimated_reservoir_ml_now": (float, Field(description="mL: the last reading with the program run forward")),
    "estimated_at": (LocalTime, ...),
    "flow": (LearnedFlow, ...),
}
PumpOut = model("Pump", "A pump's record, with the reservoir estimated now and its learned flow.", _PUMP_FIELDS)
RefillOut = model("Refill", "A refill as recorded (volumes in mL, concentration mcg/mL).", record_fields(views.Refill))
ProgramVersionOut = model(
    "ProgramVersion", "A program the pump ran from ``at`` (daily dose in mcg/day).", record_fields(views.ProgramVersion)
)
PumpChangeOut = model(
    "PumpChange", "A change sent to a pump (pending, sent, settled from its log).", record_fields(views.PumpChange)
)
PumpDetailOut = model(
    "PumpDetail",
    "A pump, its refills, its program versions and the changes still open.",
    {
        **_PUMP_FIELDS,
        "refills": (list[RefillOut], ...),  # type: ignore[valid-type]
        "program_versions": (list[ProgramVersionOut], ...),  # type: ignore[valid-type]
        "pending_changes": (list[PumpChangeOut], ...),  # type: ignore[valid-type]
    },
)
AppointmentOut = model("Appointment", "A visit booked.", record_fields(views.Appointment))
AssessmentOut = model("Assessment", "A clinical assessment (its data as stored).", record_fields(views.Assessment))
ScreeningOut = model(
    "Screening", "A screening trial (a test dose, tone before and after).", record_fields(views.ScreeningTrial)
)
ScreeningEntryOut = model(
    "ScreeningEntry",
    "A screening trial in the assessment history (kind ``screening``).",
    {**record_fields(views.ScreeningTrial), "kind": (Literal["screening"], ...)},
)
PumpSessionOut = model(
    "PumpSession", "A session of the vendor's programmer as recorded.", record_fields(views.PumpSession)
)
AuditEntryOut = model("AuditEntry", "One entry of the hash-chained audit log.", record_fields(views.AuditEntry))

_PATIENT_FIELDS = dataclass_fields(views.PatientSummary)
PatientOut = model("Patient", "A patient (weight in kg, GMFCS 1-5).", _PATIENT_FIELDS)
PatientRecordOut = model(
    "PatientRecord",
    "A patient with their pumps (reservoir estimated now) and appointments.",
    {
        **_PATIENT_FIELDS,
        "pumps": (list[PumpOut], ...),  # type: ignore[valid-type]
        "appointments": (list[AppointmentOut], ...),  # type: ignore[valid-type]
    },
)


class TokenOut(Answer):
    access_token: str
    token_type: Literal["bearer"]
    role: str


class HealthOut(Answer):
    status: Literal["ok"]
    disclaimer: str


class MriBookingOut(Answer):
    """The scan and the pump check after it, with the plan's steps."""

    scan: AppointmentOut  # type: ignore[valid-type]
    check: AppointmentOut  # type: ignore[valid-type]
    before: list[str]
    after: list[str]
    warnings: list[str]
    field_strength_t: float | None
    field_check: Literal["within", "outside", "unknown"]
    field_condition: str


class CitationOut(Answer):
    document: str
    section: str | None
    checked_copy: str | None


class StepOut(Answer):
    text: str
    note: str
    citations: list[CitationOut]


class ManagementOut(Answer):
    """The drug labels' management of one concern (overdose, withdrawal), with citations."""

    concern: str
    title: str
    signs: list[StepOut]
    steps: list[StepOut]


class TriageOut(Answer):
    """The triage made when the report arrived."""

    urgency: str = Field(description="in words: next visit, call the clinic today, emergency")
    concerns: list[str]
    reasons: list[str]
    instruction: str
    from_note: list[str] | None = Field(default=None, description="the symptom codes found in the note's words")


_REPORT_FIELDS = {**dataclass_fields(views.Report), "triage": (TriageOut | None, ...)}
SymptomReportOut = model(
    "SymptomReport",
    "A family's symptom report with the triage made then. ``urgency``: 0 next visit, 1 call today, 2 emergency. "
    "``management`` (the labels' steps when the triage points at an overdose or a withdrawal): staff only.",
    {**_REPORT_FIELDS, "management": (list[ManagementOut] | None, Field(default=None, description="staff only"))},
)
SymptomReportCreatedOut = model(
    "SymptomReportCreated",
    "The report as stored, and what the family is told now (the triage's urgency, reasons and instruction).",
    {
        **_REPORT_FIELDS,
        "urgency": (int, Field(description="0 next visit, 1 call the clinic today, 2 emergency")),
        "urgency_label": (str, ...),
        "concerns": (list[str], ...),
        "reasons": (list[str], Field(description="why, each with its source")),
        "instruction": (str, Field(description="what to do now, in plain words")),
    },
)


class FindingOut(Answer):
    code: str
    severity: str
    message: str


class BookedRefillOut(Answer):
    on: date
    notes: str | None


class SessionOutcomeOut(Answer):
    """A recorded (or, with ``dry_run``, reviewed) session: its findings and the pump after it."""

    dry_run: bool
    session: model(  # type: ignore[valid-type]
        "SessionRecord", "The session (``id`` null in a dry run).", record_fields(views.PumpSession, all_optional=True)
    )
    findings: list[FindingOut]
    pump: PumpOut  # type: ignore[valid-type]
    booked_refill: BookedRefillOut | None


class ImportReportOut(Answer):
    """What the import stored (or, with ``dry_run``, would store), row by row."""

    dry_run: bool
    created: dict[str, int] = Field(description="records made, by kind: patients, pumps, sessions, appointments")
    unchanged: int
    rows: list[dict[str, Any]]
    errors: list[dict[str, Any]]


class PumpEventOut(Answer):
    seq: int
    at: LocalTime | None
    type: str
    fields: dict[str, Any]


class WorkItemOut(Answer):
    patient_id: int
    patient_name: str
    pump_id: int | None
    reasons: list[str]
    details: list[str]
    days_until_empty: float | None
    days_until_alarm: float | None
    urgency: int = Field(description="0 urgent, 1 soon, 2 other")
    high_risk: bool = Field(description="the label's patients at apparent risk of withdrawal")
    symptom_report_ids: list[int] = Field(description="the family reports to review (most urgent first)")
    report_urgency: int | None = Field(description="the highest urgency of those reports: 2 emergency, 1 call today")


class AuditPageOut(Answer):
    entries: list[AuditEntryOut]  # type: ignore[valid-type]
    chain_intact: bool


class ProposalOut(Answer):
    """The planner's proposal for the next daily dose, for the clinician to accept or change."""

    dose_mcg_per_day: float
    change_fraction: float = Field(description="of the current dose: +0.2 is 20 % more")
    kind: ProposalKind
    reasons: list[str] = Field(description="each citing its rule")
    earliest_at: LocalTime = Field(description="program it no earlier than this")
    needs_confirmation: list[str] = Field(description="codes of the soft limits to acknowledge when programming it")


class TitrationOut(Answer):
    """The titration planner's proposal as the chart computes it (while the patient is titrating)."""

    patient_id: int
    phase: str
    pump_id: int | None
    current_dose_mcg_per_day: float | None
    proposal: ProposalOut | None
    note: str | None = Field(description="why there is no proposal")


class SizeAdviceOut(Answer):
    capacity_ml: float
    concentration_mcg_per_ml: float
    refill_interval_days: float
    meets_need: bool
    reasons: list[str]


class PumpSizeOut(Answer):
    """The pump-size advice (before the implant, after a positive screening), as the chart computes it."""

    patient_id: int
    expected_daily_dose_mcg: float | None = Field(description="the dose planned for (mcg/day)")
    advice: SizeAdviceOut | None
    note: str | None = Field(description="why there is no advice")


class PrimingOut(Answer):
    volume_ml: float
    dose_mcg: float
    duration_minutes: float


class ReplacementOut(Answer):
    """When the pump's battery ends, when to operate by, and the new pump's priming bolus."""

    pump_id: int
    model: str
    eri_at: LocalTime = Field(description="the elective replacement indicator")
    end_of_service_at: LocalTime
    surgery_by: LocalTime
    priming: PrimingOut
    basis: str = Field(description="how eri_at was found")
    overdue: bool
    notes: list[str]


class CsfPoint(Answer):
    hours: float
    csf_ng_per_ml: float
    effect_ng_per_ml: float


class CsfOut(Answer):
    """The drug in the spinal fluid on the pump's program, then if the pump runs dry (``itb.domain.csf``:
    one compartment plus an effect delay), as the family page draws it."""

    pump_id: int
    daily_dose_mcg: float
    runs_dry_at_hours: float
    steady_state_ng_per_ml: float = Field(description="the level at midnight on the program (ng/mL)")
    half_life_h: float
    clearance_ml_per_h: float
    effect_delay_h: float
    units: dict[str, str]
    points: list[CsfPoint]


# ====================================================================== errors
class ErrorOut(BaseModel):
    detail: str


class FieldProblem(Answer):
    loc: list[str | int]
    msg: str
    type: str


class InvalidOut(Answer):
    """Bad input, each field and rule named; or limits not met (``detail`` a sentence, ``findings`` each code)."""

    detail: list[FieldProblem] | str
    findings: list[FindingOut] | None = None


class ImportProblem(Answer):
    row: int | None
    column: str | None
    message: str


class ImportRefusedOut(Answer):
    """A file refused: ``errors``, every error of the file (its row, column and message); or
    ``detail``, the body itself (not UTF-8 text)."""

    errors: list[ImportProblem] | None = None
    detail: list[FieldProblem] | str | None = None


_ERRORS: dict[int, tuple[type[BaseModel], str]] = {
    401: (ErrorOut, "no token, or a bad or expired one"),
    403: (ErrorOut, "the user's role may not do this"),
    404: (ErrorOut, "not found (for a caregiver: also another family's child)"),
    409: (ErrorOut, "the record changed since it was read, or the request does not fit the record's state"),
    422: (InvalidOut, "bad input, naming each field and rule; or limits not met, with each finding's code"),
    502: (ErrorOut, "the pump could not be reached or refused the change"),
    503: (ErrorOut, "the change reached the pump and its record is written at the next reading"),
}


def errors(*codes: int, **models: type[BaseModel]) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for the error statuses ``codes`` (a model per status may be given as ``s422=...``)."""
    out: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        kind, description = _ERRORS[code]
        out[code] = {"model": models.get(f"s{code}", kind), "description": description}
    return out


#: an operation a signed-in user makes on a record found by its id
READ = (401, 404, 422)
#: a change to a record (a role may not, it may have changed meanwhile)
WRITE = (401, 403, 404, 409, 422)
#: a change that reaches the pump
PUMP_WRITE = (*WRITE, 502, 503)
