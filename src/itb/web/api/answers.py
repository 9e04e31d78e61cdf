"""The API's answers (pydantic), and the errors each operation may answer.

An answer that is a record (a pump, a refill, an appointment, ...) carries the record's columns,
its model made from the record's own table (:func:`record_fields`), so the document follows the
database; a column added later appears as an additional property. Times are the clinic's local
time, ISO 8601 without an offset. The request bodies are in :mod:`itb.web.api.schemas`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Annotated, Any, Literal, get_type_hints

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    WithJsonSchema,
    create_model,
)

from itb.clinic import record_views, views
from itb.domain.limits import Finding
from itb.domain.titration import ProposalKind

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

PumpBriefOut = model(
    "PumpBrief",
    "The pump a record is of (its concentration and status as now).",
    dataclass_fields(record_views.PumpBrief),
)
NextVisitOut = model("NextVisit", "The patient's next visit booked.", dataclass_fields(record_views.NextVisit))
_RECORD_PARTS = {"patient": (PatientOut, ...), "pump": (PumpBriefOut, ...), "next_visit": (NextVisitOut | None, ...)}
RefillRecordOut = model(
    "RefillRecord",
    "A refill with its patient and pump, the drug and lot, the volumes (mL), the program the pump ran after it, "
    "the alarm date that followed (null: a later refill followed) and the next visit booked.",
    {**dataclass_fields(record_views.RefillRecord), **_RECORD_PARTS},
)
PumpSessionRecordOut = model(
    "PumpSessionRecord",
    "A session of the vendor's programmer with its patient and pump, each entry as given (null: not given), "
    "the program the pump ran after it, ITB's alarm date (null: a later session followed), the alarm date the "
    "vendor's programmer printed, its warnings and the next visit booked.",
    {**dataclass_fields(record_views.SessionRecord), **_RECORD_PARTS},
)


class TokenOut(Answer):
    access_token: str
    token_type: Literal["bearer"]
    role: str


class SignedOutOut(Answer):
    """Every token and page session of the user has ended (this one too)."""

    status: Literal["signed out"]
    username: str


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


class PumpRegistrationOut(Answer):
    """A pump's registration judged (``dry_run=true``), nothing stored: the record as it would be
    stored (``id`` null; its forecast from the entries), the limits its first program meets, and
    what a vendor pump's record would keep beside it."""

    dry_run: bool
    would_store: bool = Field(
        description="the same request without dry_run stores the pump (nothing refused, every soft limit confirmed)"
    )
    pump: model(  # type: ignore[valid-type]
        "PumpRecord", "A pump's record (``id`` null in a dry run).", record_fields(views.Pump, all_optional=True)
    )
    findings: list[FindingOut] = Field(description="every limit the first program meets")
    unconfirmed: list[FindingOut] = Field(
        description="the soft limits not in acknowledged: a pump ITB talks to is refused (422) until each is "
        "confirmed; a vendor pump keeps each as a warning"
    )
    warnings: list[str] = Field(description="what a vendor pump's registration session keeps for a clinician")
    booked_refill: BookedRefillOut | None = Field(description="the refill a vendor pump's registration books")


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


class AuditProblemOut(Answer):
    """One finding of the audit chain's verification: what failed, about which entry or checkpoint."""

    what: str
    entry_id: int | None
    checkpoint_id: int | None


class AuditPageOut(Answer):
    entries: list[AuditEntryOut]  # type: ignore[valid-type]
    chain_intact: bool
    problems: list[AuditProblemOut] = Field(description="since the last checkpoint, and on this page")


class AuditVerificationOut(Answer):
    """The audit chain verified from its last signed checkpoint (``full``: from its first entry)."""

    intact: bool
    full: bool
    checked: int = Field(description="the entries read after the starting checkpoint")
    from_entry_id: int = Field(description="the entries after this one were checked (0: from the first)")
    last_entry_id: int
    entries: int = Field(description="the chain's length")
    sealed_at_entry_id: int | None = Field(description="entries up to this one were written before the audit key")
    sealed_at: LocalTime | None
    problems: list[AuditProblemOut]
    more_problems: int = Field(description="findings beyond those listed")
    checkpoint_id: int | None = Field(description="the checkpoint this verification signed")


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


def findings_json(findings: Iterable[Finding]) -> list[dict[str, str]]:
    """Limits met, as the answers carry them (:class:`FindingOut`)."""
    return [{"code": f.code, "severity": f.severity.value, "message": f.message} for f in findings]


# ====================================================================== errors
class ErrorOut(BaseModel):
    detail: str


class FieldProblem(Answer):
    loc: list[str | int]
    msg: str
    type: str


class FieldsInvalidOut(Answer):
    """Bad input: each field (its path, ``loc``) and the rule it broke (``msg``)."""

    detail: list[FieldProblem]


class NotSentOut(Answer):
    """Limits not met: nothing was sent to the pump nor stored; ``findings``, each refused or
    unconfirmed limit with its code (confirm a soft one by sending its code in ``acknowledged``)."""

    detail: Literal["not sent to the pump"]
    findings: list[FindingOut]


#: the two kinds of 422: bad input, or limits not met
InvalidOut = Annotated[FieldsInvalidOut | NotSentOut, Field(description="bad input, or limits not met")]


class ImportProblem(Answer):
    row: int | None
    column: str | None
    message: str


class ImportRefusedOut(Answer):
    """A file refused: ``errors``, every error of the file (its row, column and message); or
    ``detail``, the body itself (not UTF-8 text)."""

    errors: list[ImportProblem] | None = None
    detail: list[FieldProblem] | str | None = None


_ERRORS: dict[int, tuple[Any, str]] = {
    401: (ErrorOut, "no token, or a bad or expired one"),
    403: (ErrorOut, "the user's role may not do this"),
    404: (ErrorOut, "not found (for a caregiver: also another family's child)"),
    409: (ErrorOut, "the record changed since it was read, or the request does not fit the record's state"),
    422: (InvalidOut, "bad input, naming each field and rule; or limits not met, with each finding's code"),
    502: (ErrorOut, "the pump could not be reached or refused the change"),
    503: (ErrorOut, "the change reached the pump and its record is written at the next reading"),
}


def errors(*codes: int, **models: Any) -> dict[int | str, dict[str, Any]]:
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
