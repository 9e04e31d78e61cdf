"""Exporting the clinic: every implanted pump's current state in the import's own columns.

The reverse of ``shared/spec/clinic-import.md``, so a clinic can back up, or leave: the file
imports again (into this clinic: every row ``unchanged``; into another: the same pumps, as
vendor-programmed pumps, with the same forecast). Each row is the pump as its record stands: the
last reading (``session_at`` on the minute, the reservoir counted forward to it exactly), the
concentration, the program (a constant-flow pump's flow), the alarm volume and the next booked
refill. What the file cannot carry (a program's boluses) is named in the report, never dropped
silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from itb.adapters.db import models as m
from itb.clinic.derived import is_constant_flow, last_reading_state, program_of
from itb.clinic.usecases.base import Actor, require
from itb.clinic.usecases.imports import patient_ref
from itb.clinic.usecases.sessions import SessionUseCases
from itb.contracts.clinic_import import number_cell, program_cell, write_clinic_csv
from itb.domain.reading import estimate_reservoir_ml

#: a pump ITB talks to is exported as the catalogue product its generic model stands for
EXPORT_CODE = {"peristaltic": "synchromed-ii", "valve-gated": "prometra-ii"}


@dataclass
class ExportReport:
    text: str
    pumps: int
    #: what a row could not carry, one sentence per pump concerned
    warnings: list[str] = field(default_factory=list)


def _minute_up(at: datetime) -> datetime:
    floor = at.replace(second=0, microsecond=0)
    return floor if floor == at else floor + timedelta(minutes=1)


class ExportUseCases(SessionUseCases):
    def export_clinic(self, actor: Actor) -> ExportReport:
        """Every implanted pump, one row each (see the module docstring)."""
        require(actor, "admin", "clinician")
        with self.sessions() as s:
            pumps = s.execute(
                select(m.Pump)
                .where(m.Pump.status == "implanted")
                .options(selectinload(m.Pump.patient))
                .order_by(m.Pump.id)
            ).scalars()
            report = ExportReport("", 0)
            rows = [self._export_row(s, pump, report.warnings) for pump in pumps]
        report.text, report.pumps = write_clinic_csv(rows), len(rows)
        return report

    def _export_row(self, s: Session, pump: m.Pump, warnings: list[str]) -> dict[str, str]:
        patient, program = pump.patient, program_of(pump)
        at = _minute_up(pump.reading_at)
        reservoir = estimate_reservoir_ml(last_reading_state(pump), program, at)
        given, _, family = patient.name.rpartition(" ")
        running = [b for b in program.one_time_boluses if b.at + timedelta(minutes=b.duration_minutes) > at]
        if program.daily_boluses or running:
            warnings.append(
                f"pump {pump.serial}: its program's boluses cannot be written in the program column "
                "(steps only): enter them again after an import"
            )
        today = datetime.combine(self.clock().date(), datetime.min.time())
        booked = s.execute(
            select(m.Appointment.at)
            .where(m.Appointment.pump_id == pump.id, m.Appointment.kind == "refill")
            .where(m.Appointment.status == "booked", m.Appointment.at >= today)
            .order_by(m.Appointment.at)
            .limit(1)
        ).scalar_one_or_none()
        constant = is_constant_flow(pump)
        catheter = pump.catheter_length_cm
        return {
            "patient_ref": patient_ref(patient), "family_name": family, "given_name": given or family,
            "birth_date": patient.birth_date.isoformat(), "origin": patient.origin,
            "pump_model": EXPORT_CODE.get(pump.model, pump.model), "pump_serial": pump.serial,
            "reservoir_capacity_ml": number_cell(pump.reservoir_capacity_ml),
            "implanted_on": pump.implanted_at.date().isoformat(),
            "catheter_length_cm": number_cell(catheter) if catheter and 1 <= catheter <= 200 else "",
            "session_at": at.strftime("%Y-%m-%dT%H:%M"), "reservoir_ml": number_cell(reservoir),
            "concentration_mcg_per_ml": number_cell(pump.concentration_mcg_per_ml),
            "low_reservoir_alarm_ml": number_cell(pump.low_reservoir_alarm_ml),
            "program": "" if constant else program_cell(program),
            "flow_ml_per_day": number_cell(program.daily_volume_ml(pump.concentration_mcg_per_ml)) if constant else "",
            "vendor_alarm_at": "", "next_refill_on": booked.date().isoformat() if booked else "",
        }  # fmt: skip


__all__ = ["EXPORT_CODE", "ExportReport", "ExportUseCases"]
