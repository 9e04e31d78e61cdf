"""Implants: a new pump into the record and onto its gateway (or, as a dry run, only judged), and
retiring one."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import NotRequired, TypedDict, Unpack

from sqlalchemy import select
from sqlalchemy.orm import Session

from itb.adapters.db import models as m
from itb.clinic.derived import age_years
from itb.clinic.ports import VirtualPumpSetup
from itb.clinic.usecases.base import Actor, Conflict, NotSent, require, row_json
from itb.clinic.usecases.dry_runs import transaction_or_dry_run
from itb.clinic.usecases.pumps import PumpUseCases, check_text
from itb.contracts.bounds import CODE_MAX, code_violations, event_violation, program_violations, violations
from itb.contracts.forecast import program_json
from itb.domain.devices import MODELS
from itb.domain.errors import InvalidInput, Violation
from itb.domain.forecast import ReservoirState, forecast_reservoir
from itb.domain.limits import Assessment, Finding, Origin, PatientContext, assess_first_program
from itb.domain.program import DosingProgram
from itb.domain.screening import starting_daily_dose_mcg

#: Longest serial number kept (the column's width).
SERIAL_MAX = CODE_MAX


class ImplantFields(TypedDict):
    """A pump ITB talks to as it leaves the operating room: what ``implant_pump`` takes."""

    model: str
    serial: str
    reservoir_capacity_ml: float
    catheter_length_cm: float
    reservoir_ml: float
    concentration_mcg_per_ml: float
    program: DosingProgram
    implanted_at: NotRequired[datetime | None]
    low_reservoir_alarm_ml: NotRequired[float]
    flow_error: NotRequired[float]
    #: the codes of the soft limits the clinician confirmed
    acknowledged: NotRequired[tuple[str, ...]]


@dataclass(slots=True)
class PumpRegistration:
    """A pump registered or, with ``dry_run``, only judged (nothing stored): the record as stored or
    as it would be stored (its ``id`` then names nothing), the limits its first program meets, and
    what the record keeps beside it (a vendor pump's warnings, registration session, booked refill)."""

    pump: m.Pump
    assessment: Assessment
    acknowledged: tuple[str, ...]
    dry_run: bool
    #: a hard limit refuses the pump (ITB sends the program); a vendor pump runs it anyway: a warning
    refuses: bool = True
    warnings: list[str] = field(default_factory=list)
    session: m.PumpSession | None = None
    booked: m.Appointment | None = None

    @property
    def unconfirmed(self) -> tuple[Finding, ...]:
        """The soft limits not acknowledged: refused until confirmed, or (a vendor pump) warnings."""
        return self.assessment.unacknowledged(self.acknowledged)

    @property
    def would_store(self) -> bool:
        """The same request without the dry run stores the pump (as it did, if it was no dry run)."""
        return not self.refuses or self.assessment.allowed(self.acknowledged)


def implant_errors(serial: str, model: str, reservoir_capacity_ml: float, reservoir_ml: float) -> list[Violation]:
    device = MODELS.get(model)
    errs = check_text("serial", serial, SERIAL_MAX)
    if not serial.strip():
        errs.append(Violation("serial", "is required"))
    if device is None:
        errs.append(Violation("model", f"must be one of {', '.join(MODELS)}"))
    elif reservoir_capacity_ml not in device.reservoir_sizes_ml:
        sizes = ", ".join(f"{x:g}" for x in device.reservoir_sizes_ml)
        errs.append(Violation("reservoir_capacity_ml", f"must be one of {sizes}"))
    if reservoir_ml > reservoir_capacity_ml:
        errs.append(Violation("reservoir_ml", "must not exceed the reservoir capacity"))
    return errs


def screening_start(s: Session, patient_id: int) -> float | None:
    """The label's starting daily dose from the patient's first positive screening trial, if any."""
    trial = s.execute(
        select(m.ScreeningTrial)
        .where(m.ScreeningTrial.patient_id == patient_id, m.ScreeningTrial.responded.is_(True))
        .order_by(m.ScreeningTrial.at)
        .limit(1)
    ).scalar_one_or_none()
    if trial is None:
        return None
    return starting_daily_dose_mcg(trial.dose_mcg, trial.effect_hours or 0.0)


class ImplantUseCases(PumpUseCases):
    def implant_pump(self, actor: Actor, patient_id: int, **fields: Unpack[ImplantFields]) -> m.Pump:
        """Record the pump, then create it on the gateway and store its first reading.

        Its first program and drug pass the same limits as any program change (NotSent, 422,
        naming each finding; soft ones go through when their codes are ``acknowledged``).
        """
        return self._implant(actor, patient_id, fields, dry_run=False).pump

    def preview_implant(self, actor: Actor, patient_id: int, **fields: Unpack[ImplantFields]) -> PumpRegistration:
        """The dry run of :meth:`implant_pump`: the same checks, limits and record, then undone
        (nothing stored, nothing audited, no pump created); a refused or unconfirmed first program
        is answered in the findings, not raised. The record carries its first forecast."""
        return self._implant(actor, patient_id, fields, dry_run=True)

    def _implant(self, actor: Actor, patient_id: int, fields: ImplantFields, dry_run: bool) -> PumpRegistration:
        require(actor, "admin", "clinician")
        serial = fields["serial"]
        errs = implant_errors(serial, fields["model"], fields["reservoir_capacity_ml"], fields["reservoir_ml"])
        today = self.clock().date()
        errs += violations(
            program_violations(fields["program"], today),
            code_violations("acknowledged", fields.get("acknowledged", ())),
            event_violation("implanted_at", fields.get("implanted_at"), today),
        )
        if errs:
            raise InvalidInput(errs)
        acknowledged = tuple(fields.get("acknowledged", ()))
        with transaction_or_dry_run(self, dry_run) as s:
            patient = self._implantable(s, actor, patient_id, serial)
            setup = self._setup(patient, fields)
            assessment = self._judge_first_program(s, patient, setup)
            if not dry_run and not assessment.allowed(acknowledged):
                raise NotSent(assessment, acknowledged)
            if not assessment.refusals:  # a program the limits refuse is never offered to the pump
                self.gateway.check(setup)  # a setup the pump refuses is refused before anything is written
            pump = self._add_pump(s, actor, patient, serial, setup)
        outcome = PumpRegistration(pump, assessment, acknowledged, dry_run)
        if not dry_run:
            outcome.pump = self._first_reading(actor, pump.id, setup)
        return outcome

    def _setup(self, patient: m.Patient, fields: ImplantFields) -> VirtualPumpSetup:
        """The virtual pump the implant starts: now, filled, its catheter primed to its length."""
        device, now = MODELS[fields["model"]], self.clock()
        length = fields["catheter_length_cm"]
        return VirtualPumpSetup(
            model=fields["model"], capacity_ml=fields["reservoir_capacity_ml"],
            implanted_at=fields.get("implanted_at") or now, start=now, reservoir_ml=fields["reservoir_ml"],
            concentration_mcg_per_ml=fields["concentration_mcg_per_ml"], program=fields["program"],
            catheter_volume_ml=device.internal_tubing_ml + length * device.catheter_ml_per_cm,
            catheter_length_cm=length, low_reservoir_alarm_ml=fields.get("low_reservoir_alarm_ml", 2.0),
            patient_ref=f"P{patient.id}", origin=patient.origin, age_years=age_years(patient, now),
            flow_error=fields.get("flow_error", 0.0),
        )  # fmt: skip

    def _first_reading(self, actor: Actor, pump_id: int, setup: VirtualPumpSetup) -> m.Pump:
        """The recorded pump created on its gateway, read, and its reading stored."""
        self.gateway.create(pump_id, setup)
        with self._holding(pump_id):
            with self.gateway.connect(pump_id) as connection:
                reading = self._read(connection)
            self._settle(actor, pump_id, reading, {}, None)
        return self._fresh(pump_id)

    def _judge_first_program(self, s: Session, patient: m.Patient, setup: VirtualPumpSetup) -> Assessment:
        now = self.clock()
        context = PatientContext(Origin(patient.origin), age_years(patient, now), setup.implanted_at)
        return assess_first_program(
            setup.program, setup.concentration_mcg_per_ml, context, now, screening_start(s, patient.id),
            self.config.limits,
        )  # fmt: skip

    def _implantable(self, s: Session, actor: Actor, patient_id: int, serial: str) -> m.Patient:
        patient = self.patient(s, actor, patient_id)
        if s.execute(select(m.Pump.id).where(m.Pump.serial == serial)).first():
            raise InvalidInput([Violation("serial", f"{serial!r} is already registered")])
        for old in patient.pumps:
            if old.status == "implanted":
                raise InvalidInput([Violation("patient", f"already has pump {old.id} implanted: retire it first")])
        return patient

    def _add_pump(self, s: Session, actor: Actor, patient: m.Patient, serial: str, setup: VirtualPumpSetup) -> m.Pump:
        """The pump record with its first program version (audited); the patient starts titrating.
        Its forecast is the setup's until the pump's first reading gives the pump's own."""
        state = ReservoirState(
            setup.start, setup.capacity_ml, setup.reservoir_ml, setup.concentration_mcg_per_ml,
            setup.low_reservoir_alarm_ml,
        )  # fmt: skip
        forecast = forecast_reservoir(state, setup.program)
        pump = m.Pump(
            patient_id=patient.id,
            model=setup.model,
            serial=serial,
            reservoir_capacity_ml=setup.capacity_ml,
            low_reservoir_alarm_ml=setup.low_reservoir_alarm_ml,
            implanted_at=setup.implanted_at,
            catheter_length_cm=setup.catheter_length_cm,
            catheter_volume_ml=setup.catheter_volume_ml,
            reading_at=setup.start,
            reading_reservoir_ml=setup.reservoir_ml,
            implant_fill_ml=setup.reservoir_ml,
            concentration_mcg_per_ml=setup.concentration_mcg_per_ml,
            program=program_json(setup.program),
            daily_dose_mcg=setup.program.daily_dose_mcg,
            last_refill_at=setup.start,
            low_reservoir_alarm_at=forecast.low_reservoir_alarm_at,
            empty_at=forecast.empty_at,
        )
        s.add(pump)
        patient.phase = "titrating"
        s.flush()
        version = m.ProgramVersion(
            pump_id=pump.id,
            version=1,
            program=pump.program,
            daily_dose_mcg=pump.daily_dose_mcg,
            at=setup.start,
            by=actor.username,
        )
        s.add(version)
        self._audit(s, actor, "implant_pump", "pump", pump.id, after=row_json(pump))
        return pump

    def retire_pump(self, actor: Actor, pump_id: int, *, expected_version: int, reason: str = "") -> m.Pump:
        require(actor, "admin", "clinician")
        with self._holding(pump_id), self.transaction() as s:
            pump = self.pump(s, actor, pump_id, expected_version)
            if pump.status != "implanted":  # the request does not fit the record's state: 409
                raise Conflict(f"pump {pump_id} is not implanted (status: {pump.status})")
            before = row_json(pump)
            pump.status = "explanted"
            pump.explanted_at = self.clock()
            for a in s.execute(
                select(m.Appointment).where(m.Appointment.pump_id == pump.id, m.Appointment.status == "booked")
            ).scalars():
                a.status = "cancelled"
            self._audit(
                s, actor, "retire_pump", "pump", pump.id, before=before, after={**row_json(pump), "reason": reason}
            )
            return pump
