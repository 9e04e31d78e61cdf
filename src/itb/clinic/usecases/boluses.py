"""Boluses: a single bolus or a priming bolus, judged by every bolus limit, sent, settled from the log.

A single bolus passes the lockout, the daily maximum and the dose limits. A priming bolus fills
only the catheter the pump records (tubing + catheter); once that catheter holds drug (the
pump has counted more than its volume since the implant, or it was primed), priming pushes
drug into the spinal fluid and is judged as a bolus (``itb.domain.refill.assess_priming``).
Bridge boluses are not asked for: the refill that changes the concentration computes and
sends them.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from itb.adapters.db import models as m
from itb.clinic.derived import refill_rows
from itb.clinic.ports import ChangeStatus, PumpChange
from itb.clinic.usecases.base import Actor, NotSent, PumpChangeFailed, require
from itb.clinic.usecases.pumps import Planned, PumpUseCases
from itb.contracts.bounds import code_violations
from itb.domain.calibration import refill_history
from itb.domain.errors import InvalidInput, Violation, bound_violation
from itb.domain.reading import PumpReading
from itb.programmer import workflows as W

BOLUS_KINDS = ("single", "priming")
#: the longest bolus the clinic sends, in minutes (a day: longer is a program, not a bolus)
MAX_BOLUS_MINUTES = 1440
#: the longest catheter a priming is computed for, in cm (as the programmer's --priming)
MAX_CATHETER_CM = 200


def bolus_errors(
    kind: str, dose_mcg: float | None, catheter_length_cm: float | None, duration_minutes: float
) -> list[Violation]:
    errs = []
    if kind not in BOLUS_KINDS:
        errs.append(
            Violation("kind", f"must be one of {', '.join(BOLUS_KINDS)} (a bridge bolus comes with its refill)")
        )
    if kind == "single":
        bad = bound_violation("dose_mcg", dose_mcg, minimum=0, strict=True, required=True)
        errs += [bad] if bad else []
    if kind == "priming":
        bad = bound_violation(
            "catheter_length_cm", catheter_length_cm, minimum=0, strict=True, maximum=MAX_CATHETER_CM, required=True
        )
        errs += [bad] if bad else []
    bad = bound_violation("duration_minutes", duration_minutes, minimum=1, maximum=MAX_BOLUS_MINUTES, required=True)
    return errs + ([bad] if bad else [])


class BolusUseCases(PumpUseCases):
    def _bolus_review(
        self,
        reading: PumpReading,
        pump_id: int,
        kind: str,
        dose_mcg: float | None,
        catheter_length_cm: float | None,
        duration_minutes: float,
    ) -> W.BolusReview:
        if kind == "single":
            assert dose_mcg is not None  # bolus_errors
            return W.review_bolus(reading, dose_mcg, duration_minutes, "single", self.config.limits)
        assert catheter_length_cm is not None  # bolus_errors
        with self.sessions() as s:
            primed = self.catheter_primed(s, pump_id)
        limits = self.config.limits
        return W.review_priming(reading, catheter_length_cm, duration_minutes, primed=primed, settings=limits)

    def catheter_primed(self, s: Session, pump_id: int) -> bool:
        """Whether the catheter holds drug: primed since the implant, or the pump has counted more
        than the catheter's volume since (an unknown implant fill counts as primed: the safe side)."""
        pump = s.get(m.Pump, pump_id)
        assert pump is not None
        primings = s.execute(
            select(m.PumpEvent.fields).where(m.PumpEvent.pump_id == pump_id, m.PumpEvent.type == "bolus_started")
        ).scalars()
        if any((f or {}).get("kind") == "priming" for f in primings):
            return True
        history, fill = refill_history(pump.implant_fill_ml, [tuple(r) for r in s.execute(refill_rows(pump_id))])
        if pump.implant_fill_ml is None or fill is None:
            return True
        counted = sum(o.counted_ml for o in history) + max(fill - pump.reading_reservoir_ml, 0.0)
        return counted >= pump.catheter_volume_ml

    def preview_bolus(
        self,
        actor: Actor,
        pump_id: int,
        *,
        kind: str,
        dose_mcg: float | None = None,
        catheter_length_cm: float | None = None,
        duration_minutes: float = 30.0,
    ) -> W.BolusReview:
        errs = bolus_errors(kind, dose_mcg, catheter_length_cm, duration_minutes)
        if errs:
            raise InvalidInput(errs)
        return self._look(
            actor,
            pump_id,
            lambda view: self._bolus_review(view, pump_id, kind, dose_mcg, catheter_length_cm, duration_minutes),
        )

    def give_bolus(
        self,
        actor: Actor,
        pump_id: int,
        *,
        kind: str,
        expected_version: int,
        dose_mcg: float | None = None,
        catheter_length_cm: float | None = None,
        duration_minutes: float = 30.0,
        acknowledged: tuple[str, ...] = (),
        request_key: str | None = None,
    ) -> m.PumpChange:
        """Judge, record as pending, send and settle one bolus; its change as settled."""
        require(actor, "admin", "clinician")
        errs = bolus_errors(kind, dose_mcg, catheter_length_cm, duration_minutes)
        errs += code_violations("acknowledged", acknowledged)
        if errs:
            raise InvalidInput(errs)

        def plan(reading: PumpReading, pump: m.Pump, patient: m.Patient, key: str) -> list[Planned]:
            review = self._bolus_review(reading, pump.id, kind, dose_mcg, catheter_length_cm, duration_minutes)
            if not review.assessment.allowed(acknowledged):
                raise NotSent(review.assessment, acknowledged)
            fields = {"dose_mcg": review.dose_mcg, "duration_minutes": review.duration_minutes, "kind": kind}
            record = {**fields, "acknowledged": list(acknowledged)}
            return [Planned(PumpChange(key, "bolus", fields, log_since=reading.log_size), record)]

        asked = {
            "kind": kind,
            "dose_mcg": dose_mcg,
            "catheter_length_cm": catheter_length_cm,
            "duration_minutes": duration_minutes,
        }
        settled = self._apply(actor, pump_id, expected_version, plan, request_key, asked)
        change = next(iter(settled.values()))
        if change.status != ChangeStatus.APPLIED.value:
            raise PumpChangeFailed(f"bolus {change.status}: {change.detail}")
        return change
