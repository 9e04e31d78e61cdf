"""The API's request bodies (pydantic), each field's rules named.

Units are ``shared/spec``'s: mL, mcg/mL, mcg/day, cm, hours; times are ISO 8601, the clinic's
local time. The answers, and the errors each operation may answer, are in
:mod:`itb.web.api.answers`.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from itb.contracts import bounds
from itb.contracts.bounds import MAX_ID
from itb.contracts.forecast import parse_program
from itb.domain.catalogue import CATALOGUE
from itb.domain.devices import MODELS
from itb.domain.errors import MAX_PHYSICAL, InvalidInput, Violation
from itb.domain.mri import MAX_FIELD_STRENGTH_T
from itb.domain.program import DosingProgram
from itb.domain.scales import GAS_MAX_WEIGHT, GAS_MIN_WEIGHT, MAX_ANGLE_DEG, MIN_ANGLE_DEG
from itb.domain.screening import DEFAULT_SCREENING
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
