"""Implants: a new pump into the record and onto its gateway, and retiring one."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from itb.adapters.db import models as m
from itb.clinic.derived import age_years
from itb.clinic.ports import VirtualPumpSetup
from itb.clinic.usecases.base import Actor, NotSent, require, row_json
from itb.clinic.usecases.pumps import PumpUseCases, check_text
from itb.contracts.forecast import program_json
from itb.domain.devices import MODELS
from itb.domain.errors import InvalidInput, Violation
from itb.domain.limits import Origin, PatientContext, assess_first_program
from itb.domain.program import DosingProgram
from itb.domain.screening import starting_daily_dose_mcg

#: Longest serial number kept (the column's width).
SERIAL_MAX = 64


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
    def implant_pump(
        self,
        actor: Actor,
        patient_id: int,
        *,
        model: str,
        serial: str,
        reservoir_capacity_ml: float,
        catheter_length_cm: float,
        reservoir_ml: float,
        concentration_mcg_per_ml: float,
        program: DosingProgram,
        implanted_at: datetime | None = None,
        low_reservoir_alarm_ml: float = 2.0,
        flow_error: float = 0.0,
        acknowledged: tuple[str, ...] = (),
    ) -> m.Pump:
        """Record the pump, then create it on the gateway and store its first reading.

        Its first program and drug pass the same limits as any program change (NotSent, 422,
        naming each finding; soft ones go through when their codes are ``acknowledged``).
        """
        require(actor, "admin", "clinician")
        errs = implant_errors(serial, model, reservoir_capacity_ml, reservoir_ml)
        if errs:
            raise InvalidInput(errs)
        device = MODELS[model]
        now = self.clock()
        with self.transaction() as s:
            patient = self._implantable(s, actor, patient_id, serial)
            self._judge_first_program(s, patient, program, concentration_mcg_per_ml, implanted_at or now, acknowledged)
            setup = VirtualPumpSetup(
                model=model,
                capacity_ml=reservoir_capacity_ml,
                implanted_at=implanted_at or now,
                start=now,
                reservoir_ml=reservoir_ml,
                concentration_mcg_per_ml=concentration_mcg_per_ml,
                program=program,
                catheter_volume_ml=device.internal_tubing_ml + catheter_length_cm * device.catheter_ml_per_cm,
                catheter_length_cm=catheter_length_cm,
                low_reservoir_alarm_ml=low_reservoir_alarm_ml,
                patient_ref=f"P{patient.id}",
                origin=patient.origin,
                age_years=age_years(patient, now),
                flow_error=flow_error,
            )
            self.gateway.check(setup)  # a setup the pump refuses is refused before anything is written
            pump_id = self._add_pump(s, actor, patient, serial, setup).id
        self.gateway.create(pump_id, setup)
        with self._holding(pump_id):
            with self.gateway.connect(pump_id) as connection:
                reading = self._read(connection)
            self._settle(actor, pump_id, reading, {}, None)
        return self._fresh(pump_id)

    def _judge_first_program(
        self,
        s: Session,
        patient: m.Patient,
        program: DosingProgram,
        concentration_mcg_per_ml: float,
        implanted_at: datetime,
        acknowledged: tuple[str, ...],
    ) -> None:
        now = self.clock()
        context = PatientContext(Origin(patient.origin), age_years(patient, now), implanted_at)
        assessment = assess_first_program(
            program, concentration_mcg_per_ml, context, now, screening_start(s, patient.id), self.config.limits
        )
        if not assessment.allowed(acknowledged):
            raise NotSent(assessment, acknowledged)

    def _implantable(self, s: Session, actor: Actor, patient_id: int, serial: str) -> m.Patient:
        patient = self.patient(s, actor, patient_id)
        if s.execute(select(m.Pump.id).where(m.Pump.serial == serial)).first():
            raise InvalidInput([Violation("serial", f"{serial!r} is already registered")])
        for old in patient.pumps:
            if old.status == "implanted":
                raise InvalidInput([Violation("patient", f"already has pump {old.id} implanted: retire it first")])
        return patient

    def _add_pump(self, s: Session, actor: Actor, patient: m.Patient, serial: str, setup: VirtualPumpSetup) -> m.Pump:
        """The pump record with its first program version (audited); the patient starts titrating."""
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
            if pump.status != "implanted":
                raise InvalidInput([Violation("pump", "is not implanted")])
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
