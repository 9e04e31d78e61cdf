"""Sessions of a vendor-programmed pump: what the vendor's programmer did, as the nurse records it.

The record follows reality: what the device was given is always recorded, never refused (a
refused session would leave the forecast wrong). Every limit it breaks is judged as for a pump
ITB talks to (the same refill, program and bolus reviews) and, unless acknowledged, kept as a
warning on the session, on the worklist until a clinician reviews it. The pump's state after the
session (its reservoir, concentration, program) becomes its last reading; the forecast, the
learned flow and the next refill follow from it, as for any pump.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import pairwise
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from itb.adapters.db import models as m
from itb.clinic.derived import is_constant_flow, last_reading_state, program_of
from itb.clinic.usecases.base import Actor, Conflict, require, row_json
from itb.clinic.usecases.dry_runs import transaction_or_dry_run
from itb.clinic.usecases.imports import ImportUseCases
from itb.clinic.usecases.refills import product_errors
from itb.contracts.bounds import DEVICE_WINDOW, code_violations, event_violation, program_violations, violations
from itb.contracts.clinic_import import ALARM_AGREEMENT, ALARM_WARNING
from itb.contracts.forecast import program_json
from itb.domain.errors import InvalidInput, Violation, bound_violation
from itb.domain.limits import (
    Assessment,
    DoseHistory,
    Origin,
    PatientContext,
    assess_bolus,
    assess_concentration,
    assess_program_change,
    product_named,
)
from itb.domain.program import DosingProgram
from itb.domain.reading import age_years_on, estimate_reservoir_ml
from itb.domain.refill import assess_refill

SESSION_KINDS = ("refill", "program", "interrogation", "bolus", "mri_check")
#: a constant-flow pump has no electronics (domain.md, The pump)
CONSTANT_FLOW_NO_PROGRAM = (
    "a constant-flow pump has no program and gives no bolus: its dose changes only through the concentration "
    "(record a refill with the new concentration)"
)


def _need(fields: dict[str, Any], names: tuple[str, ...], kind: str) -> list[Violation]:
    return [Violation(n, f"is required for a {kind} session") for n in names if fields.get(n) is None]


def session_bounds(at: datetime, fields: dict[str, Any], acknowledged: tuple[str, ...], today: date) -> list[Violation]:
    """The session's times within the windows of ``itb.contracts.bounds``, its program's size, its codes."""
    program = fields.get("program")
    return violations(
        event_violation("at", at, today),
        event_violation("vendor_alarm_at", fields.get("vendor_alarm_at"), today),
        event_violation("eri_at", fields.get("eri_at"), today, DEVICE_WINDOW),
        program_violations(program, today) if isinstance(program, DosingProgram) else None,
        code_violations("acknowledged", acknowledged),
    )


def session_errors(
    kind: str, fields: dict[str, Any], capacity: float, *, constant_flow: bool = False
) -> list[Violation]:
    """What a session must carry, by kind, and the bounds of each volume."""
    if kind not in SESSION_KINDS:
        return [Violation("kind", f"must be one of {', '.join(SESSION_KINDS)}")]
    if constant_flow and kind in ("program", "bolus"):
        return [Violation("kind", CONSTANT_FLOW_NO_PROGRAM)]
    if constant_flow and fields.get("program") is not None:
        return [Violation("program", CONSTANT_FLOW_NO_PROGRAM)]
    needs = {
        "refill": ("withdrawn_ml", "added_ml", "concentration_mcg_per_ml"),
        "program": ("program",),
        "interrogation": ("reservoir_ml",),
        "bolus": ("dose_mcg",),
        "mri_check": (),
    }[kind]
    errs = _need(fields, needs, kind) + product_errors(fields.get("product"))
    for name in ("reservoir_ml", "withdrawn_ml", "added_ml", "vendor_expected_ml"):
        bad = bound_violation(name, fields.get(name), minimum=0, maximum=capacity)
        errs += [bad] if bad else []
    return errs


@dataclass(slots=True)
class SessionOutcome:
    """A recorded (or, with ``dry_run``, only reviewed) session: what it found and what follows."""

    session: m.PumpSession
    assessment: Assessment
    pump: m.Pump
    #: the refill booked after a refill session (None for the other kinds)
    booked: m.Appointment | None
    dry_run: bool


class SessionUseCases(ImportUseCases):
    def record_session(
        self, actor: Actor, pump_id: int, *, kind: str, at: datetime, expected_version: int, dry_run: bool = False,
        **fields: Any,
    ) -> SessionOutcome:  # fmt: skip
        """Record one session of a vendor-programmed pump (see the module docstring).

        ``dry_run``: the review before the nurse programs the vendor device. Everything is judged
        and computed as for the record (the limits, ITB's expected residual, the new forecast, the
        refill that would be booked) and nothing is stored."""
        require(actor, "admin", "clinician", "nurse")
        acknowledged = tuple(fields.pop("acknowledged", ()) or ())
        with transaction_or_dry_run(self, dry_run) as s:
            outcome = self._record(s, actor, pump_id, kind, at, expected_version, acknowledged, fields, dry_run)
        return outcome

    def _record(
        self, s: Session, actor: Actor, pump_id: int, kind: str, at: datetime, expected_version: int,
        acknowledged: tuple[str, ...], fields: dict[str, Any], dry_run: bool,
    ) -> SessionOutcome:  # fmt: skip
        pump = self.pump(s, actor, pump_id, expected_version)
        if pump.connection != "vendor":
            raise Conflict(f"pump {pump_id}: ITB talks to this pump; record its changes by sending them")
        errs = session_errors(kind, fields, pump.reservoir_capacity_ml, constant_flow=is_constant_flow(pump))
        errs += session_bounds(at, fields, acknowledged, self.clock().date())
        if at > self.clock() or at <= pump.reading_at:  # one session per instant: never recorded twice
            errs.append(
                Violation("at", f"must be after the last session ({pump.reading_at:%Y-%m-%d %H:%M}) and not after now")
            )
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
        booked = self._book_next_refill(s, pump, actor) if kind == "refill" else None
        s.flush()
        self._audit(s, actor, f"session_{kind}", "pump", pump.id, before=before, after=row_json(pump))
        return SessionOutcome(session, assessment, pump, booked, dry_run)

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
            chosen = None if f.get("product") is None else product_named(f["product"])
            assessment = assessment.merged(assess_concentration(conc, self.config.limits, chosen))
            self._add_refill(s, actor, pump, at, expected, f, assessment)
            if is_constant_flow(pump) and conc != pump.concentration_mcg_per_ml:
                # a fixed flow: the new drug is the dose change, judged as one
                fixed = DosingProgram.simple_continuous(program.daily_volume_ml(pump.concentration_mcg_per_ml) * conc)
                change = self._program_change(s, actor, pump, program, fixed, conc, at)
                assessment = _union(assessment, change)
                program = fixed
        elif kind == "program":
            assessment = self._program_change(s, actor, pump, program, f["program"], conc, at)
            program = f["program"]
        elif kind == "bolus":
            history = self._history(s, pump, at)
            assessment = assess_bolus(f["dose_mcg"], self._context(pump, at), history, at, self.config.limits)
            if reservoir is None:
                reservoir = max(expected - f["dose_mcg"] / conc, 0.0)
        if f.get("low_reservoir_alarm_ml") is not None:
            pump.low_reservoir_alarm_ml = f["low_reservoir_alarm_ml"]
        if f.get("eri_at") is not None:  # the elective replacement indicator, as the vendor's programmer shows it
            pump.eri_at, pump.eri_reached = f["eri_at"], f["eri_at"] <= at
        # every session reads the pump on the vendor's programmer: after a scan, it is the check
        self._post_scan_checks_done(s, pump, at, actor)
        self._new_state(s, pump, at, expected if reservoir is None else reservoir, conc, program)
        return assessment, data

    def _add_refill(
        self, s: Session, actor: Actor, pump: m.Pump, at: datetime, expected: float, f: dict[str, Any],
        assessment: Assessment,
    ) -> None:  # fmt: skip
        s.add(
            m.Refill(
                pump_id=pump.id, at=at, expected_ml=expected, withdrawn_ml=f["withdrawn_ml"],
                discrepancy_ml=f["withdrawn_ml"] - expected, added_ml=f["added_ml"],
                concentration_mcg_per_ml=f["concentration_mcg_per_ml"], lot=f.get("lot"), product=f.get("product"),
                by=actor.username, flagged=any(x.code == "refill_discrepancy" for x in assessment.findings),
                acknowledged=[],
            )
        )  # fmt: skip
        pump.last_refill_at = at

    def _program_change(
        self, s: Session, actor: Actor, pump: m.Pump, old: DosingProgram, new: DosingProgram, conc: float, at: datetime
    ) -> Assessment:
        """A new program version, judged as any program change, against the pump's recorded history."""
        history = self._history(s, pump, at)
        assessment = assess_program_change(old, new, conc, self._context(pump, at), history, at, self.config.limits)
        self._new_program_version(s, actor, pump, new, at)
        return assessment

    def _history(self, s: Session, pump: m.Pump, at: datetime) -> DoseHistory:
        """The pump's recorded dosing before ``at``: its last increase, a stop, the boluses of the day."""
        versions = s.execute(
            select(m.ProgramVersion.at, m.ProgramVersion.daily_dose_mcg)
            .where(m.ProgramVersion.pump_id == pump.id)
            .order_by(m.ProgramVersion.version)
        ).all()
        increases = [b.at for a, b in pairwise(versions) if b.daily_dose_mcg > a.daily_dose_mcg]
        stopped = len(versions) > 1 and versions[-1].daily_dose_mcg == 0
        boluses = s.execute(
            select(m.PumpSession.at, m.PumpSession.data)
            .where(m.PumpSession.pump_id == pump.id, m.PumpSession.kind == "bolus")
            .where(m.PumpSession.at > at - timedelta(days=1))
        ).all()
        return DoseHistory(
            last_increase_at=increases[-1] if increases else None,
            boluses=tuple((b.at, float(b.data["dose_mcg"])) for b in boluses),
            stopped_at=versions[-1].at if stopped else None,
            dose_before_stop_mcg=versions[-2].daily_dose_mcg if stopped else None,
        )

    def _context(self, pump: m.Pump, at: datetime) -> PatientContext:
        patient = pump.patient
        return PatientContext(
            Origin(patient.origin), age_years_on(patient.birth_date, at.date()), pump.implanted_at,
            maintenance=patient.phase == "maintenance", high_risk=patient.high_risk,
        )  # fmt: skip

    def _vendor_alarm(self, pump: m.Pump, vendor_alarm_at: datetime | None) -> list[str]:
        ours = pump.low_reservoir_alarm_at
        if vendor_alarm_at is None or (ours is not None and abs(vendor_alarm_at - ours) <= ALARM_AGREEMENT):
            return []
        shown = ours.isoformat(" ", "minutes") if ours else "never"
        return [
            f"vendor_alarm: the vendor's alarm date {vendor_alarm_at.isoformat(' ', 'minutes')} differs from ITB's "
            f"forecast {shown} by more than a day: {ALARM_WARNING}"
        ]


def _union(first: Assessment, then: Assessment) -> Assessment:
    """Both assessments' findings, each limit once (the first one's words)."""
    seen = {f.code for f in first.findings}
    return Assessment(first.findings + tuple(f for f in then.findings if f.code not in seen))


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


__all__ = ["CONSTANT_FLOW_NO_PROGRAM", "SESSION_KINDS", "SessionOutcome", "SessionUseCases", "session_errors"]
