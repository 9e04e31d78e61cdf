"""Program changes: review old against new with every limit judged, send as one block, record the version."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from itb.adapters.db import models as m
from itb.clinic.ports import ChangeStatus, PumpChange
from itb.clinic.usecases.appointments import AppointmentUseCases
from itb.clinic.usecases.base import Actor, Forbidden, NotSent, PumpChangeFailed, require, row_json
from itb.clinic.usecases.pumps import Planned, PumpUseCases
from itb.contracts.bounds import code_violations, program_violations, raise_violations
from itb.contracts.forecast import program_json
from itb.domain.program import DosingProgram
from itb.domain.reading import PumpReading
from itb.programmer import workflows as W


class ProgramUseCases(PumpUseCases, AppointmentUseCases):
    def preview_program(
        self, actor: Actor, pump_id: int, program: DosingProgram, entered_rate: Any = None
    ) -> W.ProgramReview:
        """The review a clinician sees before sending: old against new, every limit judged."""
        raise_violations(program_violations(program, self.clock().date()))
        return self._look(
            actor, pump_id, lambda view: W.review_program(view, program, self.config.limits, entered_rate=entered_rate)
        )

    def change_program(
        self,
        actor: Actor,
        pump_id: int,
        program: DosingProgram,
        *,
        expected_version: int,
        acknowledged: tuple[str, ...] = (),
        request_key: str | None = None,
    ) -> m.Pump:
        require(actor, "admin", "clinician", "nurse")
        raise_violations(
            program_violations(program, self.clock().date()), code_violations("acknowledged", acknowledged)
        )

        def plan(reading: PumpReading, pump: m.Pump, patient: m.Patient, key: str) -> list[Planned]:
            if actor.role == "nurse" and program_json(program) != pump.program:
                raise Forbidden("a nurse may not change the program (only a clinician may)")
            review = W.review_program(reading, program, self.config.limits)
            if not review.assessment.allowed(acknowledged):
                raise NotSent(review.assessment, acknowledged)
            fields = {"base_version": reading.program_version, "daily_dose_mcg": program.daily_dose_mcg}
            record = {
                **fields,
                "program": program_json(program),
                "previous_daily_dose_mcg": reading.program.daily_dose_mcg,
                "acknowledged": list(acknowledged),
            }
            change = PumpChange(key, "program", fields, program=program, log_since=reading.log_size)
            return [Planned(change, record)]

        settled = self._apply(actor, pump_id, expected_version, plan, request_key, {"program": program_json(program)})
        change = next(iter(settled.values()))
        if change.status != ChangeStatus.APPLIED.value:
            raise PumpChangeFailed(f"program {change.status}: {change.detail}")
        return self._fresh(pump_id)

    def _record_program(
        self, s: Session, pump: m.Pump, change: m.PumpChange, reading: PumpReading, before: dict
    ) -> None:
        """The program version the pump's log proves, with the codes acknowledged for it."""
        p = change.payload
        event = reading.keyed_event(change.key, "program_changed") or {}
        version = event.get("version", pump.program_version)
        at = self.clock()
        if p["daily_dose_mcg"] > p["previous_daily_dose_mcg"]:
            pump.titrating = True
        pump.last_program_change_at = at
        s.add(
            m.ProgramVersion(
                pump_id=pump.id,
                version=version,
                program=p["program"],
                daily_dose_mcg=p["daily_dose_mcg"],
                at=at,
                by=change.requested_by,
                acknowledged=p.get("acknowledged", []),
                change_key=change.key,
            )
        )
        actor = self._requester(change)
        self._audit(
            s,
            actor,
            "change_program",
            "pump",
            pump.id,
            before=before,
            after={**row_json(pump), "acknowledged": p.get("acknowledged", []), "change_key": change.key},
        )
        if pump.patient.phase == "titrating":
            self._book_next_titration(s, pump, actor)

    def _book_next_titration(self, s: Session, pump: m.Pump, actor: Actor) -> m.Appointment | None:
        """While titrating, the next visit in 2-3 weeks on a clinic day (unless one is booked there)."""
        from itb.domain.titration import titration_schedule

        now = self.clock()
        day = titration_schedule(now.date(), self.config.calendar, self.config.booking)
        booked = s.execute(
            select(m.Appointment.id).where(
                m.Appointment.patient_id == pump.patient_id,
                m.Appointment.kind == "titration",
                m.Appointment.status == "booked",
                m.Appointment.at > now,
            )
        ).first()
        if booked:
            return None
        return self._add_booking(
            s,
            actor,
            pump,
            "titration",
            day,
            "booked by the titration planner (every 2-3 weeks until the dose is stable)",
        )
