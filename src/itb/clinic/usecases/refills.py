"""Refills: withdraw and measure, review against the limits, refill (and bridge), book the next one."""

from __future__ import annotations

from datetime import datetime, time

from sqlalchemy import select
from sqlalchemy.orm import Session

from itb.adapters.db import models as m
from itb.clinic.derived import earliest_alarm_at, learned_flow, refill_rows
from itb.clinic.ports import ChangeStatus, PumpChange
from itb.clinic.usecases.appointments import AppointmentUseCases
from itb.clinic.usecases.base import Actor, NotSent, PumpChangeFailed, require, row_json
from itb.clinic.usecases.pumps import Planned, PumpUseCases, check_text
from itb.contracts.bounds import CODE_MAX, code_violations
from itb.domain.calibration import FlowEstimate
from itb.domain.errors import InvalidInput, Violation
from itb.domain.limits import DRUG_PRODUCTS, product_named
from itb.domain.reading import PumpReading
from itb.domain.scheduling import refill_booking_date
from itb.programmer import workflows as W
from itb.programmer.link import new_key

#: Longest drug lot number kept (the column's width).
LOT_MAX = CODE_MAX


def product_errors(product: str | None) -> list[Violation]:
    """A named product must be one the clinic knows (its strengths are judged)."""
    if product is None or product_named(product) is not None:
        return []
    names = ", ".join(p.name for p in DRUG_PRODUCTS)
    return [Violation("product", f"must be one of {names} (or not given), got {product[:64]!r}")]


class RefillUseCases(PumpUseCases, AppointmentUseCases):
    def _refill_plan(
        self,
        pump_id: int,
        reading: PumpReading,
        withdrawn_ml: float,
        added_ml: float,
        concentration_mcg_per_ml: float,
        product: str | None = None,
    ) -> W.RefillPlan:
        return W.plan_refill(
            reading,
            withdrawn_ml=withdrawn_ml,
            added_ml=added_ml,
            concentration_mcg_per_ml=concentration_mcg_per_ml,
            settings=self.config.refill,
            limits=self.config.limits,
            booking=self.config.booking,
            flow=self._flow_with(pump_id, reading, withdrawn_ml),
            flow_settings=self.config.flow,
            product=None if product is None else product_named(product),
        )

    def _flow_with(self, pump_id: int, reading: PumpReading, withdrawn_ml: float) -> FlowEstimate:
        """The pump's learned flow with the interval this refill ends (its measured withdrawal)."""
        with self.sessions() as s:
            pump = s.get(m.Pump, pump_id)
            assert pump is not None
            refills = [tuple(r) for r in s.execute(refill_rows(pump.id)).all()]
        ending = (reading.now, reading.reservoir_ml, withdrawn_ml, 0.0)
        return learned_flow(pump, [*refills, ending], self.config.flow).estimate

    def preview_refill(
        self,
        actor: Actor,
        pump_id: int,
        *,
        withdrawn_ml: float,
        added_ml: float,
        concentration_mcg_per_ml: float,
        product: str | None = None,
    ) -> W.RefillPlan:
        errs = product_errors(product)
        if errs:
            raise InvalidInput(errs)
        return self._look(
            actor,
            pump_id,
            lambda view: self._refill_plan(pump_id, view, withdrawn_ml, added_ml, concentration_mcg_per_ml, product),
        )

    def refill(
        self,
        actor: Actor,
        pump_id: int,
        *,
        withdrawn_ml: float,
        added_ml: float,
        concentration_mcg_per_ml: float,
        expected_version: int,
        lot: str | None = None,
        product: str | None = None,
        acknowledged: tuple[str, ...] = (),
        request_key: str | None = None,
    ) -> m.Refill:
        require(actor, "admin", "clinician", "nurse")
        errs = check_text("lot", lot, LOT_MAX) + product_errors(product) + code_violations("acknowledged", acknowledged)
        if errs:
            raise InvalidInput(errs)

        def plan(reading: PumpReading, pump: m.Pump, patient: m.Patient, key: str) -> list[Planned]:
            if withdrawn_ml > pump.reservoir_capacity_ml:  # else the pump refuses it: a 502, not a 422
                capacity = f"{pump.reservoir_capacity_ml:g} mL"
                raise InvalidInput([Violation("withdrawn_ml", f"must not exceed the reservoir capacity ({capacity})")])
            chosen = None if product is None else product_named(product)
            p = self._refill_plan(pump.id, reading, withdrawn_ml, added_ml, concentration_mcg_per_ml, product)
            if not p.assessment.allowed(acknowledged):
                raise NotSent(p.assessment, acknowledged)
            fields = {
                "added_ml": added_ml,
                "concentration_mcg_per_ml": concentration_mcg_per_ml,
                "withdrawn_ml": withdrawn_ml,
            }
            record = {
                **fields,
                "expected_ml": reading.reservoir_ml,
                "lot": lot,
                "product": None if chosen is None else chosen.name,
                "flagged": any(f.code == "refill_discrepancy" for f in p.assessment.findings),
                "bridge_bolus_mcg": p.bridge.dose_mcg if p.bridge else None,
                "acknowledged": list(acknowledged),
            }
            since = reading.log_size
            planned = [Planned(PumpChange(key, "refill", fields, log_since=since), record)]
            if p.bridge is not None:
                bolus = {"dose_mcg": p.bridge.dose_mcg, "duration_minutes": p.bridge.duration_minutes, "kind": "bridge"}
                planned.append(Planned(PumpChange(new_key(), "bolus", bolus, log_since=since), dict(bolus), after=0))
            return planned

        asked = {
            "withdrawn_ml": withdrawn_ml,
            "added_ml": added_ml,
            "concentration_mcg_per_ml": concentration_mcg_per_ml,
        }
        settled = self._apply(actor, pump_id, expected_version, plan, request_key, asked)
        change = next(c for c in settled.values() if c.command == "refill")
        if change.status != ChangeStatus.APPLIED.value:
            raise PumpChangeFailed(f"refill {change.status}: {change.detail}")
        with self.sessions() as s:
            refill = s.execute(select(m.Refill).where(m.Refill.change_key == change.key)).scalar_one()
            return refill

    def _record_refill(
        self, s: Session, pump: m.Pump, change: m.PumpChange, reading: PumpReading, before: dict
    ) -> None:
        """The refill the pump's log proves, from what was recorded when it was planned."""
        p = change.payload
        event = reading.keyed_event(change.key, "refill") or {}
        at = datetime.fromisoformat(event["at"]) if event.get("at") else reading.now
        refill = m.Refill(
            pump_id=pump.id,
            at=at,
            expected_ml=p["expected_ml"],
            withdrawn_ml=p["withdrawn_ml"],
            discrepancy_ml=p["withdrawn_ml"] - p["expected_ml"],
            added_ml=p["added_ml"],
            concentration_mcg_per_ml=p["concentration_mcg_per_ml"],
            lot=p.get("lot"),
            product=p.get("product"),
            by=change.requested_by,
            flagged=p["flagged"],
            bridge_bolus_mcg=p.get("bridge_bolus_mcg"),
            acknowledged=p.get("acknowledged", []),
            change_key=change.key,
        )
        s.add(refill)
        pump.last_refill_at = at
        self._calibrate(s, pump)
        actor = self._requester(change)
        self._book_next_refill(s, pump, actor)
        after = {**row_json(pump), "refill": row_json(refill), "change_key": change.key}
        self._audit(s, actor, "refill", "pump", pump.id, before=before, after=after)

    def _book_next_refill(self, s: Session, pump: m.Pump, actor: Actor) -> m.Appointment:
        """After a refill (ITB's own, or a vendor refill session): the pump's refill bookings are
        settled and the next refill is booked. A booking for today is the visit this refill is
        (done); one before today, past due, is done by this refill too ("done by the refill of
        <date>": a late or walk-in refill closes it, so it leaves the worklist's overdue list); a
        later one is replaced by the new booking (cancelled). A refill booked for the patient with
        no pump named counts as this pump's."""
        now = self.clock()
        refilled = (pump.last_refill_at or now).date()
        of_pump = (m.Appointment.pump_id == pump.id) | (
            m.Appointment.pump_id.is_(None) & (m.Appointment.patient_id == pump.patient_id)
        )
        for old in s.execute(
            select(m.Appointment).where(of_pump, m.Appointment.kind == "refill", m.Appointment.status == "booked")
        ).scalars():
            if old.at < datetime.combine(now.date(), time.min):  # past due: this refill is the one it was for
                old.status = "done"
                done = f"done by the refill of {refilled.isoformat()}"
                old.notes = f"{old.notes}; {done}" if old.notes else done
            elif old.at.date() == now.date():  # the visit this refill is
                old.status = "done"
            else:
                old.status = "cancelled"
                old.notes = "replaced by the booking after a refill"
        alarm = earliest_alarm_at(pump)
        day = refill_booking_date(
            now.date(), (pump.last_refill_at or now).date(), alarm, self.config.calendar, self.config.booking
        )
        note = (
            f"booked {self.config.booking.refill_margin_days:g} days before the earliest plausible low-reservoir alarm"
            f" ({alarm:%Y-%m-%d %H:%M}; learned flow x{pump.flow_ratio or 1:.3f} from {pump.flow_refills} refills)"
            if alarm is not None
            else "booked by drug stability (the reservoir does not reach its alarm)"
        )
        return self._add_booking(s, actor, pump, "refill", day, note)

    def review_discrepancy(self, actor: Actor, refill_id: int) -> m.Refill:
        refill: m.Refill = self._mark_reviewed(actor, m.Refill, refill_id, "refill", "review_discrepancy", "refill")
        return refill
