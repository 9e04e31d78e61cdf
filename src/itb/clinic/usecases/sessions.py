"""Sessions of a vendor-programmed pump: what the vendor's programmer did, as the nurse records it.

The record follows reality: what the device was given is always recorded, never refused (a
refused session would leave the forecast wrong). Every limit it breaks is judged as for a pump
ITB talks to (the same refill, program and bolus reviews) and, unless acknowledged, kept as a
warning on the session, on the worklist until a clinician reviews it. The pump's state after the
session (its reservoir, concentration, program) becomes its last reading; the forecast, the
learned flow and the next refill follow from it, as for any pump.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from itb.adapters.db import models as m
from itb.clinic.derived import last_reading_state, program_of
from itb.clinic.usecases.base import Actor, Conflict, require, row_json
from itb.clinic.usecases.imports import ImportUseCases
from itb.contracts.clinic_import import ALARM_AGREEMENT, ALARM_WARNING
from itb.contracts.forecast import program_json
from itb.domain.errors import InvalidInput, Violation, bound_violation
from itb.domain.forecast import ReservoirState, forecast_reservoir
from itb.domain.limits import Assessment, DoseHistory, Origin, PatientContext, assess_bolus, assess_program_change
from itb.domain.program import DosingProgram
from itb.domain.reading import age_years_on, estimate_reservoir_ml
from itb.domain.refill import assess_refill

SESSION_KINDS = ("refill", "program", "interrogation", "bolus", "mri_check")


def _need(fields: dict[str, Any], names: tuple[str, ...], kind: str) -> list[Violation]:
    return [Violation(n, f"is required for a {kind} session") for n in names if fields.get(n) is None]


def session_errors(kind: str, fields: dict[str, Any], capacity: float) -> list[Violation]:
    """What a session must carry, by kind, and the bounds of each volume."""
    if kind not in SESSION_KINDS:
        return [Violation("kind", f"must be one of {', '.join(SESSION_KINDS)}")]
    needs = {
        "refill": ("withdrawn_ml", "added_ml", "concentration_mcg_per_ml"),
        "program": ("program",),
        "interrogation": ("reservoir_ml",),
        "bolus": ("dose_mcg",),
        "mri_check": (),
    }[kind]
    errs = _need(fields, needs, kind)
    for name in ("reservoir_ml", "withdrawn_ml", "added_ml", "vendor_expected_ml"):
        bad = bound_violation(name, fields.get(name), minimum=0, maximum=capacity)
        errs += [bad] if bad else []
    return errs


class SessionUseCases(ImportUseCases):
    def record_session(
        self, actor: Actor, pump_id: int, *, kind: str, at: datetime, expected_version: int, **fields: Any
    ) -> tuple[m.PumpSession, Assessment, m.Pump]:
        """Record one session of a vendor-programmed pump (see the module docstring)."""
        require(actor, "admin", "clinician", "nurse")
        acknowledged = tuple(fields.pop("acknowledged", ()) or ())
        with self.transaction() as s:
            pump = self.pump(s, actor, pump_id, expected_version)
            if pump.connection != "vendor":
                raise Conflict(f"pump {pump_id}: ITB talks to this pump; record its changes by sending them")
            errs = session_errors(kind, fields, pump.reservoir_capacity_ml)
            if at > self.clock() or at < pump.reading_at:
                errs.append(Violation("at", f"must be from the last session ({pump.reading_at:%Y-%m-%d %H:%M}) to now"))
            if errs:
                raise InvalidInput(errs)
            before = row_json(pump)
            assessment, data = self._apply_session(s, actor, pump, kind, at, fields)
            # a hard limit is always a warning; a soft one unless the clinician acknowledged it
            broken = (*assessment.refusals, *assessment.unacknowledged(acknowledged))
            warnings = [f"{f.code}: {f.message}" for f in broken]
            warnings += self._vendor_alarm(pump, fields.get("vendor_alarm_at"))
            session = m.PumpSession(
                pump_id=pump.id, at=at, kind=kind, data={**data, "acknowledged": list(acknowledged)},
                warnings=warnings, by=actor.username,
            )  # fmt: skip
            s.add(session)
            s.flush()
            self._audit(s, actor, f"session_{kind}", "pump", pump.id, before=before, after=row_json(pump))
            return session, assessment, pump

    def _apply_session(
        self, s: Session, actor: Actor, pump: m.Pump, kind: str, at: datetime, f: dict[str, Any]
    ) -> tuple[Assessment, dict[str, Any]]:
        """The pump's new state from the session, and the limits it was judged by."""
        old_state, program = last_reading_state(pump), program_of(pump)
        expected = estimate_reservoir_ml(old_state, program, at)  # ITB's own count to this instant
        data: dict[str, Any] = {"itb_expected_ml": expected, **_plain(f)}
        reservoir, conc = f.get("reservoir_ml"), pump.concentration_mcg_per_ml
        assessment = Assessment()
        if kind == "refill":
            assessment = assess_refill(
                expected_ml=expected, withdrawn_ml=f["withdrawn_ml"], added_ml=f["added_ml"],
                capacity_ml=pump.reservoir_capacity_ml, settings=self.config.refill,
            )  # fmt: skip
            conc, reservoir = f["concentration_mcg_per_ml"], f["added_ml"]
            refill = m.Refill(
                pump_id=pump.id, at=at, expected_ml=expected, withdrawn_ml=f["withdrawn_ml"],
                discrepancy_ml=f["withdrawn_ml"] - expected, added_ml=f["added_ml"], concentration_mcg_per_ml=conc,
                lot=f.get("lot"), product=f.get("product"), by=actor.username,
                flagged=any(x.code == "refill_discrepancy" for x in assessment.findings), acknowledged=[],
            )  # fmt: skip
            s.add(refill)
            pump.last_refill_at = at
        elif kind == "program":
            new: DosingProgram = f["program"]
            assessment = assess_program_change(
                program, new, conc, self._context(pump, at), DoseHistory(), at, self.config.limits
            )
            s.add(m.ProgramVersion(pump_id=pump.id, version=pump.program_version + 1, program=program_json(new),
                                   daily_dose_mcg=new.daily_dose_mcg, at=at, by=actor.username))  # fmt: skip
            pump.program_version += 1
            pump.last_program_change_at = at
            program = new
        elif kind == "bolus":
            assessment = assess_bolus(f["dose_mcg"], self._context(pump, at), DoseHistory(), at, self.config.limits)
            if reservoir is None:
                reservoir = max(expected - f["dose_mcg"] / conc, 0.0)
        elif kind == "mri_check":
            self._post_scan_checks_done(s, pump, at, actor)
        if f.get("low_reservoir_alarm_ml") is not None:
            pump.low_reservoir_alarm_ml = f["low_reservoir_alarm_ml"]
        self._new_state(s, pump, at, expected if reservoir is None else reservoir, conc, program)
        if kind == "refill":
            self._book_next_refill(s, pump, actor)
        return assessment, data

    def _context(self, pump: m.Pump, at: datetime) -> PatientContext:
        patient = pump.patient
        return PatientContext(
            Origin(patient.origin), age_years_on(patient.birth_date, at.date()), pump.implanted_at,
            maintenance=patient.phase == "maintenance", high_risk=patient.high_risk,
        )  # fmt: skip

    def _new_state(
        self, s: Session, pump: m.Pump, at: datetime, reservoir: float, conc: float, program: DosingProgram
    ) -> None:
        state = ReservoirState(
            at, pump.reservoir_capacity_ml, reservoir, conc, pump.low_reservoir_alarm_ml, pump.empty_ml
        )
        forecast = forecast_reservoir(state, program)
        pump.reading_at, pump.reading_reservoir_ml, pump.concentration_mcg_per_ml = at, reservoir, conc
        pump.program, pump.daily_dose_mcg = program_json(program), program.daily_dose_mcg
        pump.low_reservoir_alarm_at, pump.empty_at = forecast.low_reservoir_alarm_at, forecast.empty_at
        pump.last_interrogation_at = at
        self._calibrate(s, pump)

    def _vendor_alarm(self, pump: m.Pump, vendor_alarm_at: datetime | None) -> list[str]:
        ours = pump.low_reservoir_alarm_at
        if vendor_alarm_at is None or (ours is not None and abs(vendor_alarm_at - ours) <= ALARM_AGREEMENT):
            return []
        shown = ours.isoformat(" ", "minutes") if ours else "never"
        return [
            f"vendor_alarm: the vendor's alarm date {vendor_alarm_at.isoformat(' ', 'minutes')} differs from ITB's "
            f"forecast {shown} by more than a day: {ALARM_WARNING}"
        ]


def _plain(fields: dict[str, Any]) -> dict[str, Any]:
    """The session's entries as JSON can keep them."""
    out: dict[str, Any] = {}
    for key, value in fields.items():
        if isinstance(value, DosingProgram):
            out[key] = program_json(value)
        elif isinstance(value, datetime):
            out[key] = value.isoformat()
        else:
            out[key] = value
    return out


__all__ = ["SESSION_KINDS", "SessionUseCases", "session_errors"]
