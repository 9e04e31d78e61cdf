"""The API's request bodies and answers (pydantic), and the errors each operation may answer.

Units are ``shared/spec``'s: mL, mcg/mL, mcg/day, cm, hours; times are ISO 8601, the clinic's
local time. An answer that is a record (a pump, a refill, an appointment, ...) carries the record's
columns, its model made from the record's own table (:func:`record_fields`), so the document
follows the database; a column added later appears as an additional property.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, datetime
from typing import Annotated, Any, Literal, get_type_hints

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    create_model,
    field_validator,
    model_validator,
)

from itb.clinic import record_views, views
from itb.contracts import bounds
from itb.contracts.bounds import MAX_ID
from itb.contracts.forecast import parse_program
from itb.domain.catalogue import CATALOGUE
from itb.domain.devices import MODELS
from itb.domain.errors import MAX_PHYSICAL, InvalidInput, Violation
from itb.domain.limits import Finding
from itb.domain.mri import MAX_FIELD_STRENGTH_T
from itb.domain.program import DosingProgram
from itb.domain.scales import GAS_MAX_WEIGHT, GAS_MIN_WEIGHT, MAX_ANGLE_DEG, MIN_ANGLE_DEG
from itb.domain.screening import DEFAULT_SCREENING
from itb.domain.titration import ProposalKind
from itb.domain.triage import SYMPTOM_CODES

#: a record's id in a path (or a body): from 1 to :data:`MAX_ID` (``itb.contracts.bounds``: the columns'
#: range), else 422 naming it; one that does not exist is 404
RecordId = Annotated[int, Field(ge=bounds.MIN_ID, le=MAX_ID)]
#: the record's version as read (409 when it changed since), in the same range
Version = Annotated[int, Field(ge=0, le=MAX_ID, description="the record's version you read (409 if it changed)")]


def _one_line(value: str) -> str:
    bad = bounds.text_violation("text", value, max_length=len(value))
    if bad:
        raise ValueError(bad.rule)
    return value


def _multi_line(value: str) -> str:
    bad = bounds.text_violation("text", value, max_length=len(value), multiline=True)
    if bad:
        raise ValueError(bad.rule)
    return value


_ONE_LINE = {"pattern": bounds.ONE_LINE_PATTERN}
_MULTI_LINE = {"pattern": bounds.MULTI_LINE_PATTERN}
#: a person's name: 1-200 characters on one line (no control character)
Name = Annotated[
    str, Field(min_length=1, max_length=bounds.NAME_MAX, json_schema_extra=_ONE_LINE), AfterValidator(_one_line)
]
#: a short code (a serial, a lot, a product): at most 64 characters on one line
Code = Annotated[str, Field(max_length=bounds.CODE_MAX, json_schema_extra=_ONE_LINE), AfterValidator(_one_line)]
#: a note a person types: at most 2000 characters, line breaks and tabs allowed (no other control character)
Note = Annotated[str, Field(max_length=bounds.NOTE_MAX, json_schema_extra=_MULTI_LINE), AfterValidator(_multi_line)]
#: a note that says something (a review, a resolution)
RequiredNote = Annotated[
    str,
    Field(min_length=1, max_length=bounds.NOTE_MAX, json_schema_extra={"pattern": bounds.REQUIRED_NOTE_PATTERN}),
    AfterValidator(_multi_line),
]
#: the soft limits confirmed: each a limit's code, at most 64
Acknowledged = Annotated[
    list[Annotated[str, Field(pattern=bounds.LIMIT_CODE_PATTERN)]],
    Field(max_length=bounds.ACKNOWLEDGED_MAX, description="codes of the soft limits confirmed"),
]
#: a muscle group as the forms name it, and its Modified Ashworth grade
Muscle = Annotated[
    str, Field(min_length=1, max_length=bounds.CODE_MAX, json_schema_extra=_ONE_LINE), AfterValidator(_one_line)
]
_GRADES = ("0", "1", "1+", "2", "3", "4")
MasGrades = Annotated[
    dict[Muscle, Literal["0", "1", "1+", "2", "3", "4"]],
    Field(min_length=1, max_length=bounds.MUSCLES_MAX),
    WithJsonSchema(
        {
            "type": "object",
            "description": "muscle group: Modified Ashworth grade",
            "propertyNames": {"minLength": 1, "maxLength": bounds.CODE_MAX, **_ONE_LINE},
            "additionalProperties": {"type": "string", "enum": list(_GRADES)},
            "minProperties": 1,
            "maxProperties": bounds.MUSCLES_MAX,
        }
    ),
]
#: a clinical event's time: from 20 years before today to 5 years after (``itb.contracts.bounds.EventWindow``)
_EVENT = "within 20 years before today and 5 years after"
#: a drug product by its name (case and spacing as typed)
Product = Annotated[
    str,
    Field(max_length=bounds.CODE_MAX, json_schema_extra={"pattern": bounds.PRODUCT_PATTERN}),
    AfterValidator(_one_line),
]
#: the label's screening test doses (mcg)
SCREENING_DOSES: list[Any] = sorted({DEFAULT_SCREENING.small_child_first_dose_mcg, *DEFAULT_SCREENING.doses_mcg})
_NUMBER = {"type": "number", "minimum": 0, "maximum": MAX_PHYSICAL}
_MINUTES = {"type": "number", "minimum": 1, "maximum": 1440}


def _step(start: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["start", "rate_mcg_per_day"],
        "properties": {"start": start, "rate_mcg_per_day": _NUMBER},
    }


_PROGRAM_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["steps"],
    "properties": {
        "steps": {
            "type": "array",
            "minItems": 1,
            "maxItems": bounds.PROGRAM_STEPS_MAX,
            "description": "the first at 00:00, then each later than the one before",
            "prefixItems": [_step({"const": "00:00"})],
            "items": _step({"type": "string", "pattern": bounds.HHMM_PATTERN}),
        },
        "boluses": {
            "type": ["array", "null"],  # null: none (as the contract reads it)
            "maxItems": bounds.DAILY_BOLUSES_MAX,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["start", "dose_mcg", "duration_minutes"],
                "properties": {
                    "start": {"type": "string", "pattern": bounds.HHMM_PATTERN},
                    "dose_mcg": _NUMBER,
                    "duration_minutes": _MINUTES,
                },
            },
        },
        "one_time_boluses": {
            "type": ["array", "null"],
            "maxItems": bounds.ONE_TIME_BOLUSES_MAX,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["at", "dose_mcg", "duration_minutes"],
                "properties": {
                    "at": {"type": "string", "pattern": bounds.PUMP_TIME_PATTERN, "description": _EVENT},
                    "dose_mcg": _NUMBER,
                    "duration_minutes": _MINUTES,
                    "kind": {"enum": ["single", "bridge", "priming"]},
                },
            },
        },
    },
}
#: a program as ``forecast.md`` writes it (read by :func:`program_from`, every rule named)
Program = Annotated[dict[str, Any], WithJsonSchema(_PROGRAM_SCHEMA)]


# ====================================================================== request bodies
def _whole(value: Any) -> Any:
    if type(value) is float and value.is_integer() and abs(value) < 2**63:
        return int(value)
    if isinstance(value, dict):
        return {k: _whole(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_whole(v) for v in value]
    return value


class Strict(BaseModel):
    #: no unknown field, no NaN or infinity in any number (none is a dose, a volume or a time), and each
    #: value of its schema's JSON type: ``0`` is not ``false``, ``"5"`` not 5, ``1.0`` not a whole number
    #: (dates and times are ISO 8601 text, the clinic's local times: :data:`IsoDate`, :data:`IsoDateTime`)
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, strict=True)

    @model_validator(mode="before")
    @classmethod
    def _whole_numbers(cls, data: Any) -> Any:
        """JSON Schema's ``integer`` is any number with no fraction: ``5.0`` is as whole as ``5`` (in the
        data and programs too)."""
        return _whole(data)


def _local(pattern: re.Pattern[str], rule: str) -> Any:
    """A date or time as the schema says it, exactly (pydantic alone also takes a number as Unix
    time, a space for the ``T``, an offset the clinic's local records cannot keep)."""

    def check(value: object) -> object:
        if isinstance(value, date) or (isinstance(value, str) and pattern.fullmatch(value)):
            return value
        raise ValueError(rule)

    return BeforeValidator(check)


#: a day, YYYY-MM-DD; an instant, the clinic's local time YYYY-MM-DDTHH:MM[:SS[.ffffff]] (no offset)
IsoDate = Annotated[
    date,
    Field(strict=False),
    _local(re.compile(bounds.DATE_PATTERN), "must be a date YYYY-MM-DD"),
    WithJsonSchema({"type": "string", "pattern": bounds.DATE_PATTERN}),
]
IsoDateTime = Annotated[
    datetime,
    Field(strict=False),
    _local(re.compile(bounds.LOCAL_TIME_PATTERN), "must be the clinic's local time YYYY-MM-DDTHH:MM[:SS], no offset"),
    WithJsonSchema({"type": "string", "pattern": bounds.LOCAL_TIME_PATTERN}),
]


#: a patient's fields, with the same rules at registration and on an edit
PatientName = Name
_NAME_SCHEMA: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": bounds.NAME_MAX, **_ONE_LINE}
WeightKg = Annotated[float, Field(gt=0, le=400, description="kg")]
Gmfcs = Annotated[int, Field(ge=1, le=5, description="GMFCS level I-V as 1-5")]


class PatientIn(Strict):
    name: PatientName
    birth_date: IsoDate = Field(description="from 1900-01-01 to today")
    origin: Literal["spinal", "cerebral"]
    weight_kg: WeightKg | None = None
    gmfcs: Gmfcs | None = None
    injury_t6_or_above: bool = False
    cannot_communicate: bool = False
    earlier_withdrawal: bool = False


class PatientPatch(Strict):
    """The fields to change, only those given, with the registration's rules; ``weight_kg`` or
    ``gmfcs`` null clears it (the birth date and the origin are the registration's)."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 1})

    # not nullable, only left out (their schema has no null): None is "not given"
    name: Annotated[PatientName | None, WithJsonSchema(_NAME_SCHEMA)] = None
    weight_kg: WeightKg | None = None
    gmfcs: Gmfcs | None = None
    injury_t6_or_above: Annotated[bool | None, WithJsonSchema({"type": "boolean"})] = None
    cannot_communicate: Annotated[bool | None, WithJsonSchema({"type": "boolean"})] = None
    earlier_withdrawal: Annotated[bool | None, WithJsonSchema({"type": "boolean"})] = None

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
        "(synchromed-ii, prometra-ii, constant-flow) or peristaltic / valve-gated",
        json_schema_extra={"enum": [*MODELS, *CATALOGUE]},
    )
    serial: Code = Field(min_length=1)
    reservoir_capacity_ml: float = Field(gt=0, le=MAX_PHYSICAL)
    catheter_length_cm: float | None = Field(default=None, gt=0, le=200, description="required for telemetry")
    reservoir_ml: float = Field(
        ge=0, le=MAX_PHYSICAL, description="vendor: the volume the programmer was given at session_at"
    )
    concentration_mcg_per_ml: float = Field(gt=0, le=2000)
    program: Program | None = Field(default=None, description="as in forecast.md; none for constant-flow")
    implanted_at: IsoDateTime | None = Field(default=None, description=_EVENT)
    low_reservoir_alarm_ml: float | None = Field(
        default=None, ge=0, le=MAX_PHYSICAL, description="default 2 (constant-flow: 0)"
    )
    session_at: IsoDateTime | None = Field(
        default=None, description=f"vendor: the last session, on the minute, {_EVENT}"
    )
    flow_ml_per_day: float | None = Field(
        default=None, gt=0, le=MAX_PHYSICAL, description="vendor constant-flow: the nominal flow"
    )
    vendor_alarm_at: IsoDateTime | None = Field(
        default=None, description=f"vendor: the alarm date it printed, {_EVENT}"
    )
    next_refill_on: IsoDate | None = Field(default=None, description=f"vendor: a refill already booked, {_EVENT}")
    acknowledged: Acknowledged = Field(default_factory=list)

    @field_validator("model")
    @classmethod
    def _known_model(cls, model: str) -> str:
        known = (*MODELS, *CATALOGUE)
        if model not in known:
            raise ValueError(f"must be one of {', '.join(known)}")
        return model


class ProgramIn(Strict):
    program: Program = Field(
        description=f"as in forecast.md: at most {bounds.PROGRAM_STEPS_MAX} steps, {bounds.DAILY_BOLUSES_MAX} daily "
        f"boluses and {bounds.ONE_TIME_BOLUSES_MAX} one-time boluses ({_EVENT})"
    )
    version: Version
    acknowledged: Acknowledged = Field(default_factory=list)


class RefillIn(Strict):
    withdrawn_ml: float = Field(ge=0, le=MAX_PHYSICAL)
    added_ml: float = Field(gt=0, le=MAX_PHYSICAL)
    concentration_mcg_per_ml: float = Field(gt=0, le=2000)
    lot: Code | None = None
    product: Product | None = Field(
        default=None, description="the drug product (its strengths are judged): Lioresal Intrathecal, Gablofen"
    )
    version: Version
    acknowledged: Acknowledged = Field(default_factory=list)


class BolusIn(Strict):
    #: a single bolus needs its dose, a priming bolus the catheter length to fill
    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [
                {"properties": {"kind": {"const": "single"}, "dose_mcg": {"type": "number"}}, "required": ["dose_mcg"]},
                {
                    "properties": {"kind": {"const": "priming"}, "catheter_length_cm": {"type": "number"}},
                    "required": ["catheter_length_cm"],
                },
            ]
        }
    )
    kind: Literal["single", "priming"]
    dose_mcg: float | None = Field(default=None, gt=0, le=MAX_PHYSICAL, description="a single bolus's dose (mcg)")
    catheter_length_cm: float | None = Field(
        default=None, gt=0, le=200, description="a priming bolus: the catheter length to fill (cm)"
    )
    duration_minutes: float = Field(default=30, ge=1, le=1440)
    version: Version
    acknowledged: Acknowledged = Field(default_factory=list)


class SessionIn(Strict):
    """What the vendor's programmer did (``shared/spec`` units: mL, mcg/mL, mcg/day)."""

    at: IsoDateTime = Field(description=f"after the pump's last session and not after now, {_EVENT}")
    kind: Literal["refill", "program", "interrogation", "bolus", "mri_check"]
    reservoir_ml: float | None = Field(
        default=None, ge=0, le=MAX_PHYSICAL, description="the reservoir volume as set on the device"
    )
    withdrawn_ml: float | None = Field(default=None, ge=0, le=MAX_PHYSICAL)
    vendor_expected_ml: float | None = Field(
        default=None, ge=0, le=MAX_PHYSICAL, description="the vendor programmer's expected residual"
    )
    added_ml: float | None = Field(default=None, gt=0, le=MAX_PHYSICAL)
    concentration_mcg_per_ml: float | None = Field(default=None, gt=0, le=2000)
    product: Product | None = None
    lot: Code | None = None
    program: Program | None = Field(default=None, description="as in forecast.md (as for a program change)")
    dose_mcg: float | None = Field(
        default=None, gt=0, le=MAX_PHYSICAL, description="a bolus given on the vendor's programmer"
    )
    low_reservoir_alarm_ml: float | None = Field(default=None, ge=0, le=MAX_PHYSICAL)
    vendor_alarm_at: IsoDateTime | None = Field(default=None, description=_EVENT)
    eri_at: IsoDateTime | None = Field(
        default=None,
        description="the elective replacement indicator the vendor's programmer shows (reached: on or before at), "
        + _EVENT,
    )
    version: Version
    acknowledged: Acknowledged = Field(default_factory=list)


class AppointmentIn(Strict):
    patient_id: RecordId
    kind: Literal["screening", "titration", "refill", "mri", "mri_check", "replacement"]
    at: IsoDateTime = Field(description=f"on a clinic day, {_EVENT}")
    pump_id: RecordId | None = None
    notes: Note | None = None


class ScreeningIn(Strict):
    dose_mcg: float = Field(
        gt=0, le=100, json_schema_extra={"enum": SCREENING_DOSES}, description="one of the label's test doses (mcg)"
    )
    mas_before: MasGrades
    mas_after: MasGrades = Field(description="the same muscle groups as mas_before")
    effect_hours: float | None = Field(default=None, ge=0, le=72)
    at: IsoDateTime | None = Field(default=None, description=_EVENT)
    side_effects: Note | None = Field(
        default=None, description="side effects seen after the dose (they stop the escalation)"
    )


_KEY = {"maxLength": bounds.CODE_MAX, **_ONE_LINE}
_GRADE = {
    "anyOf": [
        {"type": "string", "pattern": bounds.padded(r"0|1|1\+|2|3|4")},
        {"type": "integer", "minimum": 0, "maximum": 4},
    ]
}
_ANGLE = {"type": "number", "minimum": MIN_ANGLE_DEG, "maximum": MAX_ANGLE_DEG}
_TARDIEU = {
    "type": "object",
    "additionalProperties": False,
    "required": ["quality", "r1_deg", "r2_deg"],
    "properties": {"quality": {"type": "integer", "minimum": 0, "maximum": 5}, "r1_deg": _ANGLE, "r2_deg": _ANGLE},
}
_GOAL = {
    "type": "object",
    "additionalProperties": False,
    "required": ["description", "weight", "score"],
    "properties": {
        "description": {"type": "string", "maxLength": bounds.NOTE_MAX, "pattern": bounds.REQUIRED_LINE_PATTERN},
        "weight": {"type": "number", "minimum": GAS_MIN_WEIGHT, "maximum": GAS_MAX_WEIGHT},
        "score": {"type": "integer", "minimum": -2, "maximum": 2},
    },
}
_MUSCLES = {"type": "object", "minProperties": 1, "maxProperties": bounds.MUSCLES_MAX, "propertyNames": _KEY}
_ASSESSMENT_DATA: list[Any] = [
    {"properties": {"kind": {"const": "mas"}, "data": {**_MUSCLES, "additionalProperties": _GRADE}}},
    {"properties": {"kind": {"const": "tardieu"}, "data": {**_MUSCLES, "additionalProperties": _TARDIEU}}},
    {
        "properties": {
            "kind": {"const": "gmfcs"},
            "data": {
                "type": "object",
                "additionalProperties": False,
                "required": ["level"],
                "properties": {
                    "level": {
                        "anyOf": [
                            {"type": "integer", "minimum": 1, "maximum": 5},
                            {"type": "string", "pattern": bounds.padded("[Ii]{1,3}|[Ii][Vv]|[Vv]|[1-5]")},
                        ]
                    }
                },
            },
        }
    },
    {
        "properties": {
            "kind": {"const": "pain"},
            "data": {
                "type": "object",
                "additionalProperties": False,
                "required": ["score"],
                "properties": {
                    "score": {"type": "integer", "minimum": 0, "maximum": 10},
                    "during": {"type": "string", "maxLength": bounds.NOTE_MAX, **_ONE_LINE},
                },
            },
        }
    },
    {
        "properties": {
            "kind": {"const": "gas"},
            "data": {
                "type": "object",
                "additionalProperties": False,
                "required": ["goals"],
                "properties": {
                    "goals": {"type": "array", "minItems": 1, "maxItems": bounds.GAS_GOALS_MAX, "items": _GOAL}
                },
            },
        }
    },
]


class AssessmentIn(Strict):
    #: each scale's data, as :func:`itb.domain.scales.assessment_record` reads it
    model_config = ConfigDict(json_schema_extra={"anyOf": _ASSESSMENT_DATA})

    kind: Literal["mas", "tardieu", "gmfcs", "pain", "gas"]
    data: dict[str, Any] = Field(
        description="mas {muscle: grade 0, 1, 1+, 2, 3, 4}; tardieu {muscle: {quality 0-5, r1_deg, r2_deg}}, "
        "angles signed from the joint's zero position (-180 to 180, R1 <= R2; R2 - R1 is stored); "
        f"gmfcs {{level}}; pain {{score 0-10}}; gas {{goals: at most {bounds.GAS_GOALS_MAX}}}",
        max_length=bounds.MUSCLES_MAX,
    )
    at: IsoDateTime | None = Field(default=None, description=_EVENT)


class PhaseIn(Strict):
    phase: Literal["screening", "titrating", "maintenance", "ended"]


class MriIn(Strict):
    at: IsoDateTime = Field(description=f"on a clinic day (its check too), {_EVENT}")
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
    version: Version
    reason: Note = ""


class ResolveIn(Strict):
    version: Version
    note: RequiredNote


class ReviewIn(Strict):
    note: RequiredNote


class AppointmentStatusIn(Strict):
    status: Literal["done", "missed", "cancelled"]


class SymptomReportIn(Strict):
    """What the family sees at home: symptom codes (``itb.domain.triage``), and/or a note in words."""

    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [
                {"required": ["symptoms"], "properties": {"symptoms": {"minItems": 1}}},
                {"required": ["note"], "properties": {"note": {"pattern": bounds.REQUIRED_NOTE_PATTERN}}},
            ]
        }
    )

    symptoms: list[Annotated[str, Field(json_schema_extra={"enum": sorted(SYMPTOM_CODES)})]] = Field(
        default_factory=list, max_length=bounds.SYMPTOMS_MAX, description="symptom codes, e.g. itching, breathing_slow"
    )
    note: Note = Field(default="", description="what you see, in your own words")


def program_from(obj: dict) -> DosingProgram:
    """A request's ``program`` (``forecast.md``, of ``itb.contracts.bounds``' sizes), every error naming its field."""
    errs: list[Violation] = bounds.json_violations("program", obj, max_items=bounds.PROGRAM_STEPS_MAX)
    if errs:
        raise InvalidInput(errs)
    program = parse_program(obj, "program", errs)
    errs += bounds.program_size_violations(program)
    if errs:
        raise InvalidInput(errs)
    return program


def findings_json(findings: Iterable[Finding]) -> list[dict[str, str]]:
    """Limits met, as the answers carry them (:class:`FindingOut`)."""
    return [{"code": f.code, "severity": f.severity.value, "message": f.message} for f in findings]


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
