"""The clinic import file of ``shared/spec/clinic-import.md``: read and judge every row, forecast each.

:func:`parse_clinic_csv` reads the CSV text, checks every row and column against the contract and
returns either the rows (each with its exact forecast as of its ``session_at`` and its warnings)
or every error, each ``row N, column C: what is wrong and what is allowed``. Nothing here stores
anything: the clinic's import use case does, all or nothing. Pure: text in, values out.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from itb.contracts.bounds import (
    EARLIEST_BIRTH_DATE,
    code_violations,
    event_violation,
    program_size_violations,
    program_violations,
)
from itb.domain.catalogue import CATALOGUE, DeviceProduct, product
from itb.domain.errors import InvalidInput
from itb.domain.forecast import Forecast, ReservoirState, forecast_reservoir
from itb.domain.limits import (
    DEFAULT_LIMITS,
    Assessment,
    DoseHistory,
    LimitSettings,
    Origin,
    PatientContext,
    Severity,
    assess_concentration,
    assess_program_change,
)
from itb.domain.program import DosingProgram, Step, check_program
from itb.domain.reading import age_years_on
from itb.domain.units import Dimension, parse_quantity

REQUIRED = (
    "patient_ref",
    "family_name",
    "given_name",
    "birth_date",
    "origin",
    "pump_model",
    "pump_serial",
    "reservoir_capacity_ml",
    "implanted_on",
    "session_at",
    "reservoir_ml",
    "concentration_mcg_per_ml",
)
OPTIONAL = (
    "catheter_length_cm",
    "low_reservoir_alarm_ml",
    "program",
    "flow_ml_per_day",
    "vendor_alarm_at",
    "next_refill_on",
)
COLUMNS = REQUIRED + OPTIONAL
EARLIEST_BIRTH = EARLIEST_BIRTH_DATE  # itb.contracts.bounds
#: a vendor's printed alarm this far from ITB's forecast is a warning on the row
ALARM_AGREEMENT = timedelta(days=1)
ALARM_WARNING = "check the program and the volume entered"
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_MINUTE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
_STEP = re.compile(r"(\d{2}):(\d{2})=(.+)")


@dataclass(frozen=True, slots=True)
class RowError:
    row: int
    column: str
    message: str

    def __str__(self) -> str:
        return f"row {self.row}, column {self.column}: {self.message}"


@dataclass(slots=True)
class ImportRow:
    """One valid pump row, its values parsed, its forecast as of ``session_at``."""

    row: int
    values: dict[str, Any]
    product: DeviceProduct
    program: DosingProgram
    forecast: Forecast
    warnings: list[str] = field(default_factory=list)
    #: the limits its program meets (:func:`program_assessment`); those not acknowledged are warnings
    assessment: Assessment = field(default_factory=Assessment)


class _Row:
    """One row's cells and the errors found in them."""

    def __init__(
        self, number: int, cells: dict[str, str], errors: list[RowError], program: DosingProgram | None = None,
        acknowledged: tuple[str, ...] = (),
    ) -> None:  # fmt: skip
        self.number, self.cells, self.errors = number, cells, errors
        self.values: dict[str, Any] = {}
        #: a program already parsed (the API's program object), used instead of the ``program`` cell
        self.program = program
        #: the soft limits a clinician confirmed (the API); a file confirms none
        self.acknowledged = acknowledged

    def fail(self, column: str, message: str) -> None:
        self.errors.append(RowError(self.number, column, message))

    def text(self, column: str, longest: int, required: bool = True) -> str | None:
        value = self.cells.get(column, "")
        if not value:
            if required:
                self.fail(column, f"is required (1-{longest} characters)")
            return None
        if len(value) > longest or any(not ch.isprintable() for ch in value):
            self.fail(column, f"must be 1-{longest} printable characters")
            return None
        return value

    def read(self, column: str, parse: Callable[[str], Any], allowed: str, required: bool = False) -> Any:
        raw = self.cells.get(column, "")
        if not raw:
            if required:
                self.fail(column, f"is required: {allowed}")
            return None
        try:
            return parse(raw)
        except (ValueError, InvalidInput) as exc:
            detail = exc.one_line() if isinstance(exc, InvalidInput) else ""
            self.fail(column, f"{raw!r} is not {allowed}" + (f" ({detail})" if detail else ""))
            return None


def _day(raw: str) -> date:
    if not _DATE.fullmatch(raw):
        raise ValueError(raw)
    return date.fromisoformat(raw)


def _minute(raw: str) -> datetime:
    if not _MINUTE.fullmatch(raw):
        raise ValueError(raw)
    return datetime.fromisoformat(raw)


def _day_or_minute(raw: str) -> datetime:
    return datetime.combine(_day(raw), datetime.min.time()) if len(raw) == 10 else _minute(raw)


def _quantity(dimension: Dimension, column: str) -> Callable[[str], float]:
    return lambda raw: parse_quantity(raw, dimension, column).value


def _flow(raw: str) -> float:
    number = raw.removesuffix("mL/day").strip()
    value = float(number)
    if not value > 0 or value != value or value == float("inf"):
        raise ValueError(raw)
    return value


def parse_program_cell(raw: str) -> DosingProgram:
    """``600`` (mcg/day, simple continuous) or ``HH:MM=RATE;HH:MM=RATE;...`` (a rate may carry a
    unit); raises ``ValueError`` or ``InvalidInput`` when it is not one."""
    if "=" not in raw:
        return DosingProgram.simple_continuous(parse_quantity(raw, Dimension.RATE, "program").value)
    steps = []
    for part in raw.split(";"):
        match = _STEP.fullmatch(part.strip())
        if match is None:
            raise ValueError(part)
        hours, minutes, rate = int(match[1]), int(match[2]), match[3].strip()
        if hours > 23 or minutes > 59:
            raise ValueError(part)
        steps.append(Step(hours * 60 + minutes, parse_quantity(rate, Dimension.RATE, "program").value))
    program = DosingProgram(steps=tuple(steps))
    found = check_program(program, "program") + program_size_violations(program)
    if found:
        raise InvalidInput(found)
    return program


def program_cell(program: DosingProgram) -> str:
    """The ``program`` cell that :func:`parse_program_cell` reads back to the same steps (rates
    exactly, in mcg/day). Only steps: daily and one-time boluses have no place in the cell."""
    if program.is_simple_continuous:
        return number_cell(program.steps[0].rate_mcg_per_day)
    return ";".join(
        f"{s.start_minute // 60:02d}:{s.start_minute % 60:02d}={number_cell(s.rate_mcg_per_day)}" for s in program.steps
    )


def number_cell(value: float) -> str:
    """A number as a cell that reads back exactly (``600``, ``0.4166666666666667``)."""
    value = float(value)
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)


def write_clinic_csv(rows: list[dict[str, str]]) -> str:
    """The file of the contract: the header (every column, in the contract's order), one row per pump."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def _check_row(r: _Row, today: date, limits: LimitSettings) -> ImportRow | None:
    v = r.values
    v["patient_ref"] = r.text("patient_ref", 64)
    v["family_name"] = r.text("family_name", 100)
    v["given_name"] = r.text("given_name", 100)
    birth = v["birth_date"] = r.read("birth_date", _day, "a date YYYY-MM-DD", required=True)
    if birth is not None and not EARLIEST_BIRTH <= birth <= today:
        r.fail("birth_date", f"must be from 1900-01-01 to today ({today.isoformat()})")
    origin = v["origin"] = r.cells.get("origin", "")
    if origin not in ("spinal", "cerebral"):
        r.fail("origin", "must be spinal or cerebral")
    code = r.cells.get("pump_model", "")
    device = product(code)
    if device is None:
        r.fail("pump_model", f"must be a code of the device catalogue: {', '.join(CATALOGUE)}")
    v["pump_serial"] = r.text("pump_serial", 64)
    capacity = v["reservoir_capacity_ml"] = r.read(
        "reservoir_capacity_ml", _quantity(Dimension.VOLUME, "reservoir_capacity_ml"), "a volume in mL", True
    )
    if device is not None and capacity is not None and not device.size_allowed(capacity):
        if device.reservoir_sizes_ml:
            sizes = " or ".join(f"{s:g}" for s in device.reservoir_sizes_ml)
        else:
            sizes = "from {:g} to {:g}".format(*device.size_range_ml)
        r.fail("reservoir_capacity_ml", f"must be a {device.name} size: {sizes} mL")
    session = v["session_at"] = r.read("session_at", _minute, "a time YYYY-MM-DDTHH:MM", required=True)
    implanted = v["implanted_on"] = r.read("implanted_on", _day, "a date YYYY-MM-DD", required=True)
    if implanted is not None and (birth is not None and implanted < birth):
        r.fail("implanted_on", "must be on or after birth_date")
    if implanted is not None and session is not None and implanted > session.date():
        r.fail("implanted_on", "must not be after session_at")
    catheter = v["catheter_length_cm"] = r.read("catheter_length_cm", float, "a length in cm from 1 to 200")
    if catheter is not None and not 1 <= catheter <= 200:
        r.fail("catheter_length_cm", "must be from 1 to 200 cm")
    volume = v["reservoir_ml"] = r.read(
        "reservoir_ml", _quantity(Dimension.VOLUME, "reservoir_ml"), "a volume in mL", required=True
    )
    if volume is not None and capacity is not None and not 0 <= volume <= capacity:
        r.fail("reservoir_ml", f"must be from 0 to reservoir_capacity_ml ({capacity:g} mL)")
    conc = v["concentration_mcg_per_ml"] = r.read(
        "concentration_mcg_per_ml", _quantity(Dimension.CONCENTRATION, "concentration_mcg_per_ml"),
        "a concentration in mcg/mL", required=True,
    )  # fmt: skip
    if conc is not None:
        for f in assess_concentration(conc, limits).findings:
            if f.severity is Severity.REFUSE:
                r.fail("concentration_mcg_per_ml", f.message)
    alarm = r.read("low_reservoir_alarm_ml", _quantity(Dimension.VOLUME, "low_reservoir_alarm_ml"), "a volume in mL")
    if alarm is None:
        alarm = 0.0 if device is not None and not device.programmable else 2.0
    elif capacity is not None and not 0 <= alarm < capacity:
        r.fail("low_reservoir_alarm_ml", f"must be from 0 to below reservoir_capacity_ml ({capacity:g} mL)")
    v["low_reservoir_alarm_ml"] = alarm
    program = _program(r, device, conc)
    v["vendor_alarm_at"] = r.read("vendor_alarm_at", _day_or_minute, "a date YYYY-MM-DD or YYYY-MM-DDTHH:MM")
    v["next_refill_on"] = r.read("next_refill_on", _day, "a date YYYY-MM-DD")
    for column in ("session_at", "implanted_on", "vendor_alarm_at", "next_refill_on"):
        outside = event_violation(column, v.get(column), today)  # itb.contracts.bounds' window
        if outside is not None:
            r.fail(column, outside.rule)
    if r.errors or device is None or program is None:
        return None
    state = ReservoirState(session, capacity, volume, conc, alarm)
    forecast = forecast_reservoir(state, program)
    row = ImportRow(r.number, v, device, program, forecast)
    row.assessment = program_assessment(program, conc, origin, birth, session, limits)
    row.warnings += _warnings(row.assessment, r.acknowledged)
    vendor = v["vendor_alarm_at"]
    computed = forecast.low_reservoir_alarm_at
    if vendor is not None and (computed is None or abs(vendor - computed) > ALARM_AGREEMENT):
        shown = computed.isoformat(" ", "minutes") if computed else "never"
        row.warnings.append(
            f"the vendor's alarm date {vendor.isoformat(' ', 'minutes')} differs from ITB's forecast {shown} "
            f"by more than a day: {ALARM_WARNING}"
        )
    return row


def program_assessment(
    program: DosingProgram, conc: float, origin: str, birth: date, at: datetime, limits: LimitSettings
) -> Assessment:
    """The limits of any program that a device already runs meets (the hard maximum, the usual
    maintenance range, the concentration library, the label's age), judged as a first program."""
    patient = PatientContext(Origin(origin), age_years_on(birth, at.date()), maintenance=True)
    return assess_program_change(None, program, conc, patient, DoseHistory(), at, limits)


def program_warnings(
    program: DosingProgram, conc: float, origin: str, birth: date, at: datetime, limits: LimitSettings,
    acknowledged: tuple[str, ...] = (),
) -> list[str]:  # fmt: skip
    """The limits of :func:`program_assessment` as warnings for a clinician's review, never refused,
    since the pump runs the program whatever the record says. A soft limit the clinician
    ``acknowledged`` is not a warning; a hard one always is."""
    return _warnings(program_assessment(program, conc, origin, birth, at, limits), acknowledged)


def _warnings(assessment: Assessment, acknowledged: tuple[str, ...]) -> list[str]:
    return [f"{f.code}: {f.message}" for f in (*assessment.refusals, *assessment.unacknowledged(acknowledged))]


def judge_pump_cells(
    cells: dict[str, str], today: date, limits: LimitSettings = DEFAULT_LIMITS, program: DosingProgram | None = None,
    acknowledged: tuple[str, ...] = (),
) -> tuple[ImportRow | None, list[RowError]]:  # fmt: skip
    """One pump as the import's columns give it (every rule of the file's row), with ``program``
    already parsed when it is not a cell: the row, or its errors (numbered row 0)."""
    errors: list[RowError] = []
    for v in program_violations(program, today) if program is not None else ():
        errors.append(RowError(0, "program", f"{v.field}: {v.rule}"))
    for v in code_violations("acknowledged", acknowledged):
        errors.append(RowError(0, "acknowledged", f"{v.field}: {v.rule}"))
    row = None if errors else _check_row(_Row(0, cells, errors, program, acknowledged), today, limits)
    return (row, []) if not errors else (None, errors)


def _program(r: _Row, device: DeviceProduct | None, conc: float | None) -> DosingProgram | None:
    """A programmable pump's program, or a constant-flow pump's flow as the dose it gives."""
    has_program = bool(r.cells.get("program")) or r.program is not None
    has_flow = bool(r.cells.get("flow_ml_per_day"))
    if device is None:
        return None
    if device.programmable:
        if has_flow:
            r.fail("flow_ml_per_day", "must be empty for a programmable pump (its program sets the flow)")
        allowed = "a daily dose in mcg/day, or steps HH:MM=RATE;... from 00:00"
        program = r.program or r.read("program", parse_program_cell, allowed, required=True)
        r.values["program"] = program
        return program
    if has_program:
        r.fail("program", "must be empty for a constant-flow pump (its dose changes only through the concentration)")
    flow = r.values["flow_ml_per_day"] = r.read("flow_ml_per_day", _flow, "a flow in mL/day above 0", required=True)
    if flow is None or conc is None:
        return None
    return DosingProgram.simple_continuous(flow * conc)


def parse_clinic_csv(
    text: str, today: date, limits: LimitSettings = DEFAULT_LIMITS
) -> tuple[list[ImportRow], list[RowError]]:
    """Every pump row of the file, or every error (rows are numbered as a spreadsheet shows them)."""
    errors: list[RowError] = []
    records = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline="")))
    if not records or not any(records[0]):
        return [], [RowError(1, "-", f"the header row is missing: {', '.join(REQUIRED)} are required")]
    header = [name.strip() for name in records[0]]
    for name in header:
        if name not in COLUMNS:
            errors.append(RowError(1, name, f"unknown column (the columns are: {', '.join(COLUMNS)})"))
    for name in REQUIRED:
        if name not in header:
            errors.append(RowError(1, name, "required column missing"))
    if len(set(header)) != len(header):
        errors.append(RowError(1, "-", "a column is named twice"))
    if errors:
        return [], errors
    rows: list[ImportRow] = []
    seen: dict[str, dict[str, int]] = {"patient_ref": {}, "pump_serial": {}}
    for number, record in enumerate(records[1:], start=2):
        if not record or not any(cell.strip() for cell in record):
            continue
        if len(record) != len(header):
            errors.append(RowError(number, "-", f"has {len(record)} cells, the header {len(header)}"))
            continue
        r = _Row(number, {k: cell.strip() for k, cell in zip(header, record)}, errors)
        row = _check_row(r, today, limits)
        for column, firsts in seen.items():
            key = r.cells.get(column)
            if key and key in firsts:
                r.fail(column, f"{key!r} is already in row {firsts[key]}: one row per pump and per patient")
            elif key:
                firsts[key] = number
        if row is not None and not any(e.row == number for e in errors):
            rows.append(row)
    return (rows, []) if not errors else ([], errors)


__all__ = [
    "COLUMNS",
    "OPTIONAL",
    "REQUIRED",
    "ImportRow",
    "RowError",
    "judge_pump_cells",
    "number_cell",
    "parse_clinic_csv",
    "parse_program_cell",
    "program_assessment",
    "program_cell",
    "program_warnings",
    "write_clinic_csv",
]
