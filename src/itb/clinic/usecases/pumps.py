"""Pumps: reading one, and every change to it recorded first, sent, then settled from the pump's log.

The order of a change (AndroidAPS's lesson: the record and the pump must never disagree):

1. hold the pump (one writer across every server process: :class:`~itb.clinic.ports.PumpLocks`);
2. settle what an earlier request left pending (a crash, a lost answer, a database error);
3. read the pump, judge the change against every limit, and **commit it as pending** with its key;
4. send it through the gateway (the key makes a retry harmless: the pump applies it once);
5. read the pump again and **settle** every pending change from its log: the refill, program
   version, booking and audit rows are written for what the log proves, and only for that.

A change whose record could not be written stays pending, and step 2 of the next request (or
the reconciler at server start) writes it from the pump's log: never guessed, never twice.
A reading whose log is shorter, or whose program is older, than the clinic has seen means the
pump's state went backwards: it is flagged, its numbers are not adopted, and changes are
refused until a clinician resolves it.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from itb.adapters.db import models as m
from itb.clinic.derived import age_years, learned_flow, refill_rows
from itb.clinic.ports import (
    PROOF,
    Busy,
    ChangeResult,
    ChangeStatus,
    PumpChange,
    PumpConnection,
    PumpUnreachable,
)
from itb.clinic.usecases.base import (
    SYSTEM,
    Actor,
    ClinicBase,
    Conflict,
    PumpChangeFailed,
    RecordIncomplete,
    require,
    row_json,
)
from itb.contracts.bounds import text_violation
from itb.contracts.forecast import program_json
from itb.domain.errors import InvalidInput, Violation
from itb.domain.limits import Origin, PatientContext
from itb.domain.reading import PumpReading
from itb.programmer.link import new_key

log = logging.getLogger(__name__)

SETTLED = (ChangeStatus.APPLIED, ChangeStatus.NOT_APPLIED, ChangeStatus.REFUSED)
OPEN = (ChangeStatus.PENDING.value, ChangeStatus.UNCERTAIN.value)


def _parse(text: object) -> datetime | None:
    return datetime.fromisoformat(text) if isinstance(text, str) else None


#: A client's idempotency key: 8 to 60 letters, digits or ``._:-`` (the pump takes 8 to 64).
REQUEST_KEY = re.compile(r"[A-Za-z0-9._:-]{8,60}")


def check_request_key(key: str) -> str:
    if not REQUEST_KEY.fullmatch(key):
        raise InvalidInput([Violation("idempotency_key", "must be 8 to 60 letters, digits or . _ : -")])
    return key


def check_text(field: str, value: str | None, max_length: int, *, multiline: bool = False) -> list[Violation]:
    """A text a person typed (``itb.contracts.bounds``): at most ``max_length``, no control
    character (line breaks and tabs in a ``multiline`` note)."""
    bad = text_violation(field, value, max_length=max_length, multiline=multiline)
    return [bad] if bad else []


def _no_telemetry(pump: m.Pump) -> None:
    """A vendor-programmed pump is never sent a command: ITB records what its programmer did."""
    if pump.connection == "vendor":
        raise InvalidInput(
            [
                Violation(
                    "pump",
                    "is programmed on the vendor's programmer: ITB cannot talk to it, it records what the "
                    "programmer did",
                )
            ]
        )


@dataclasses.dataclass(frozen=True)
class Planned:
    """A change judged and ready to record: what to send, and what its record will need."""

    change: PumpChange
    payload: dict[str, Any]
    #: index in the plan of the change it follows (a bridge bolus follows its refill)
    after: int | None = None


class PumpUseCases(ClinicBase):
    # ------------------------------------------------------------------ holding and reading a pump
    @contextmanager
    def _holding(self, pump_id: int) -> Iterator[None]:
        """The pump for this request alone (across processes), with anything left pending settled first."""
        try:
            with self.locks.hold(pump_id):
                self._settle_left_over(pump_id)
                yield
        except Busy as exc:
            raise Conflict(str(exc)) from None

    def _settle_left_over(self, pump_id: int) -> None:
        with self.sessions() as s:
            open_change = s.execute(
                select(m.PumpChange.id).where(m.PumpChange.pump_id == pump_id, m.PumpChange.status.in_(OPEN))
            ).first()
        if open_change is None or not self.gateway.exists(pump_id):
            return
        with self.gateway.connect(pump_id) as connection:
            reading = self._read(connection)
        self._settle(SYSTEM, pump_id, reading, {}, "reconcile")

    def reconcile_all(self) -> int:
        """At server start: settle every change a stopped process left pending. Returns how many pumps."""
        with self.sessions() as s:
            pump_ids = sorted(
                set(s.execute(select(m.PumpChange.pump_id).where(m.PumpChange.status.in_(OPEN))).scalars())
            )
        done = 0
        for pump_id in pump_ids:
            try:
                with self.locks.hold(pump_id, wait_s=0):
                    self._settle_left_over(pump_id)
                done += 1
            except Busy:
                continue  # another process is talking to it, and settles it itself
            except PumpChangeFailed as exc:
                log.warning("pump %s: its pending changes stay pending (%s)", pump_id, exc)
        return done

    def _in_context(self, reading: PumpReading, pump: m.Pump, patient: m.Patient) -> PumpReading:
        """The reading with the patient as the clinic knows them today (age now, not at implant)."""
        now = reading.now
        context = PatientContext(
            origin=Origin(patient.origin),
            age_years=age_years(patient, now),
            implanted_at=pump.implanted_at,
            maintenance=patient.phase == "maintenance",
            high_risk=patient.high_risk,
        )
        return dataclasses.replace(reading, patient=context)

    def _writable(self, actor: Actor, pump_id: int, expected_version: int | None) -> tuple[m.Pump, m.Patient]:
        with self.sessions() as s:
            pump = self.pump(s, actor, pump_id, expected_version)
            patient = pump.patient
            _no_telemetry(pump)
            if pump.status != "implanted":  # the request does not fit the record's state: 409
                raise Conflict(f"pump {pump_id} is not implanted (status: {pump.status})")
            if pump.regressed_at is not None:
                raise Conflict(
                    f"pump {pump_id}: its state went backwards ({pump.regression_detail}); "
                    "a clinician must resolve it before any change"
                )
        if not self.gateway.exists(pump_id):
            raise InvalidInput([Violation("pump", "has no virtual pump to talk to")])
        return pump, patient

    def _read(self, connection: PumpConnection) -> PumpReading:
        try:
            return connection.read()
        except PumpUnreachable as exc:
            raise PumpChangeFailed(str(exc)) from None

    def _went_backwards(self, pump: m.Pump, reading: PumpReading) -> str | None:
        if reading.log_size < pump.log_seen:
            return f"its log holds {reading.log_size} events, the clinic has seen {pump.log_seen}"
        if reading.program_version < pump.program_version:
            return f"it runs program version {reading.program_version}, the clinic has seen {pump.program_version}"
        return None

    def _read_for_change(self, connection: PumpConnection, pump: m.Pump, patient: m.Patient) -> PumpReading:
        reading = self._read(connection)
        if self._went_backwards(pump, reading) is not None:
            self._settle(SYSTEM, pump.id, reading, {}, "interrogate")  # flags it
            raise Conflict(f"pump {pump.id}: its state went backwards; a clinician must resolve it before any change")
        return self._in_context(reading, pump, patient)

    # ------------------------------------------------------------------ the change itself
    def _apply(
        self,
        actor: Actor,
        pump_id: int,
        expected_version: int | None,
        plan: Callable[[PumpReading, m.Pump, m.Patient, str], list[Planned]],
        request_key: str | None = None,
        asked: dict[str, Any] | None = None,
    ) -> dict[str, m.PumpChange]:
        """Plan (may refuse), record pending, send, settle. Returns the settled changes by key.

        ``request_key``: the client's idempotency key for this request. Asked again (an answer
        lost on the way back, a form sent twice), the change it made is answered, not made again;
        ``asked`` (what the request asks for, as its payload records it) must then be the same.
        """
        key = new_key() if request_key is None else check_request_key(request_key)
        with self._holding(pump_id):
            earlier = self._requested_before(pump_id, key, asked or {})
            if earlier:
                return earlier
            pump, patient = self._writable(actor, pump_id, expected_version)
            with self.gateway.connect(pump_id) as connection:
                reading = self._read_for_change(connection, pump, patient)
                planned = plan(reading, pump, patient, key)
                self._record_pending(actor, pump_id, planned)
                results: dict[str, ChangeResult] = {}
                for item in planned:
                    parent = planned[item.after].change.key if item.after is not None else None
                    if parent is not None and results[parent].status is not ChangeStatus.APPLIED:
                        results[item.change.key] = ChangeResult(ChangeStatus.NOT_APPLIED, "its refill was not applied")
                        continue
                    results[item.change.key] = connection.send(item.change)
                try:
                    after = connection.read()
                except PumpUnreachable as exc:
                    raise PumpChangeFailed(
                        f"{exc} after the change was sent: it stays pending and is settled from the pump's log "
                        "at the next reading of this pump"
                    ) from None
            return self._settle_or_leave(actor, pump_id, after, results, [p.change.key for p in planned])

    def _requested_before(self, pump_id: int, key: str, asked: dict[str, Any]) -> dict[str, m.PumpChange]:
        """The changes a request under ``key`` made (settled by now: the pump is held), if any."""
        with self.sessions() as s:
            first = s.execute(select(m.PumpChange).where(m.PumpChange.key == key)).scalar_one_or_none()
            if first is None:
                return {}
            same = first.pump_id == pump_id and first.status != ChangeStatus.UNRECORDED.value
            if not same or any(first.payload.get(k) != v for k, v in asked.items()):
                raise InvalidInput([Violation("idempotency_key", "was used for another change: use a new key")])
            rows = [first, *s.execute(select(m.PumpChange).where(m.PumpChange.parent_id == first.id)).scalars()]
            return {c.key: c for c in rows}

    def _record_pending(self, actor: Actor, pump_id: int, planned: list[Planned]) -> None:
        """Commit every planned change as pending before anything is sent."""
        with self.transaction() as s:
            rows: list[m.PumpChange] = []
            for item in planned:
                row = m.PumpChange(
                    pump_id=pump_id,
                    key=item.change.key,
                    command=item.change.command,
                    payload=item.payload,
                    status=ChangeStatus.PENDING.value,
                    parent_id=rows[item.after].id if item.after is not None else None,
                    requested_at=self.clock(),
                    requested_by=actor.username,
                )
                s.add(row)
                s.flush()
                rows.append(row)

    def _settle_or_leave(
        self, actor: Actor, pump_id: int, reading: PumpReading, results: dict[str, ChangeResult], keys: list[str]
    ) -> dict[str, m.PumpChange]:
        """Settle now; on a database error, try once more, then leave it pending for the next reading.

        What is returned is read back from the record, so a commit whose answer was lost (the
        second try then finds nothing open) still answers with the changes as settled.
        """
        for attempt in (1, 2):
            try:
                self._settle(actor, pump_id, reading, results, None)
                break
            except SQLAlchemyError as exc:
                log.warning("pump %s: recording a change failed (attempt %s): %s", pump_id, attempt, exc)
        try:
            with self.sessions() as s:
                changes = {
                    c.key: c for c in s.execute(select(m.PumpChange).where(m.PumpChange.key.in_(keys))).scalars()
                }
        except SQLAlchemyError:
            changes = {}
        if len(changes) < len(keys) or any(c.status == ChangeStatus.PENDING.value for c in changes.values()):
            applied = [k for k, r in results.items() if r.status is ChangeStatus.APPLIED]
            raise RecordIncomplete(
                f"pump {pump_id}: {len(applied)} change(s) reached the pump and their record could not be written "
                "yet; it is completed from the pump's log at the next reading of this pump"
            )
        return changes

    # ------------------------------------------------------------------ settling from the log
    def _settle(
        self,
        actor: Actor,
        pump_id: int,
        reading: PumpReading,
        results: dict[str, ChangeResult],
        audit_action: str | None,
    ) -> dict[str, m.PumpChange]:
        """One transaction: every open change settled from ``reading``'s log, the reading stored.

        ``results`` holds what this request's own sends answered; an open change without one was
        left by an earlier request that is no longer running (the pump is held), so the log alone
        decides it. Returns the changes settled here, by key.
        """
        with self.transaction() as s:
            pump = s.get(m.Pump, pump_id)
            assert pump is not None
            before = row_json(pump)
            backwards = self._went_backwards(pump, reading)
            changes = (
                []
                if backwards is not None
                else list(
                    s.execute(
                        select(m.PumpChange)
                        .where(m.PumpChange.pump_id == pump_id, m.PumpChange.status.in_(OPEN))
                        .order_by(m.PumpChange.id)
                    ).scalars()
                )
            )
            # A pump whose state went backwards settles nothing until a clinician resolves it.
            applied = [c for c in changes if self._settle_one(c, reading, results.get(c.key))]
            interrogation = self._store_reading(s, pump, reading, actor, backwards)
            for change in applied:
                self._record_applied(s, pump, change, reading, before)
            for change in changes:
                if change.status in (ChangeStatus.NOT_APPLIED, ChangeStatus.REFUSED):
                    self._audit(
                        s, self._requester(change), "change_not_applied", "pump", pump.id, after=row_json(change)
                    )
            if audit_action is not None or backwards is not None:
                after = {**row_json(pump), "interrogation_id": interrogation.id}
                action = "pump_state_went_backwards" if backwards is not None else audit_action
                self._audit(s, actor, action or "interrogate", "pump", pump.id, before=before, after=after)
            if backwards is None:  # a pump reading after an MRI's end is the post-scan check
                self._calibrate(s, pump)
                self._post_scan_checks_done(s, pump, reading.now, actor)
            return {c.key: c for c in changes}

    def _calibrate(self, s: Session, pump: m.Pump, refills: list[tuple] | None = None) -> None:
        """The pump's learned flow from its refills (read unless given: a new pump has none), and
        the earliest plausible dates it gives."""
        if refills is None:
            s.flush()
            refills = [tuple(r) for r in s.execute(refill_rows(pump.id)).all()]
        learned = learned_flow(pump, refills, self.config.flow)
        estimate = learned.estimate
        pump.flow_ratio, pump.flow_ratio_sd, pump.flow_refills = estimate.ratio, estimate.sd, estimate.observations
        pump.plausible_alarm_at = learned.forecast.low_reservoir_alarm_at
        pump.plausible_empty_at = learned.forecast.empty_at

    def _post_scan_checks_done(self, s: Session, pump: m.Pump, at: datetime, actor: Actor) -> None:
        """An interrogation after an MRI's end is its post-scan check: the booked check is done."""
        for check in s.execute(
            select(m.Appointment).where(
                m.Appointment.pump_id == pump.id,
                m.Appointment.kind == "mri_check",
                m.Appointment.status == "booked",
                m.Appointment.at <= at,
            )
        ).scalars():
            before = row_json(check)
            check.status = "done"
            check.notes = f"{check.notes or ''} Done: the pump was interrogated at {at:%Y-%m-%d %H:%M}.".strip()
            self._audit(s, actor, "appointment_done", "appointment", check.id, before=before, after=row_json(check))

    def _settle_one(self, change: m.PumpChange, reading: PumpReading, result: ChangeResult | None) -> bool:
        """Decide one open change from the log (True when it applied)."""
        event = reading.keyed_event(change.key, PROOF[change.command])
        if event is not None:
            change.status, change.pump_seq = ChangeStatus.APPLIED.value, event["seq"]
            change.detail = "found in the pump's log" + ("" if result is not None else " (settled afterwards)")
        elif result is not None and result.status is ChangeStatus.UNCERTAIN:
            change.status, change.detail = ChangeStatus.UNCERTAIN.value, result.detail
            return False
        elif result is not None and result.status is ChangeStatus.REFUSED:
            change.status, change.detail = ChangeStatus.REFUSED.value, result.detail
        else:
            change.status = ChangeStatus.NOT_APPLIED.value
            change.detail = (result.detail if result is not None else "") or "not in the pump's log: never applied"
        change.settled_at = self.clock()
        return change.status == ChangeStatus.APPLIED.value

    def _requester(self, change: m.PumpChange) -> Actor:
        return Actor(change.requested_by, "clinician")

    def _record_applied(
        self, s: Session, pump: m.Pump, change: m.PumpChange, reading: PumpReading, before: dict
    ) -> None:
        """The record of an applied change, with its audit entry: ``_record_<command>`` of the use
        case that makes such changes (refills, programs, boluses)."""
        getattr(self, f"_record_{change.command}")(s, pump, change, reading, before)

    def _record_bolus(self, s: Session, pump: m.Pump, change: m.PumpChange, reading: PumpReading, before: dict) -> None:
        after = {"change": row_json(change)}
        self._audit(s, self._requester(change), "bolus", "pump", pump.id, before=before, after=after)

    def _store_reading(
        self, s: Session, pump: m.Pump, reading: PumpReading, actor: Actor, backwards: str | None
    ) -> m.Interrogation:
        """The interrogation as read, the log's new events, and (unless it went backwards) the reading."""
        interrogation = m.Interrogation(pump_id=pump.id, at=reading.now, by=actor.username, status=reading.status)
        s.add(interrogation)
        s.flush()
        if backwards is not None:
            if pump.regressed_at is None:
                pump.regressed_at, pump.regression_detail = reading.now, backwards
            return interrogation
        known = set(s.execute(select(m.PumpChange.key).where(m.PumpChange.pump_id == pump.id)).scalars())
        for e in reading.log:
            if e["seq"] <= pump.log_seen:
                continue
            s.add(
                m.PumpEvent(
                    pump_id=pump.id,
                    interrogation_id=interrogation.id,
                    seq=e["seq"],
                    at=_parse(e.get("at")),
                    type=e["type"],
                    fields={k: v for k, v in e.items() if k not in ("seq", "at", "type")},
                )
            )
            if e["type"] in ("motor_stall", "safety_valve_closed"):
                pump.last_mri_at = _parse(e.get("at"))
            self._flag_unrecorded(s, pump, e, known)
        pump.reading_at = reading.now
        pump.reading_reservoir_ml = reading.reservoir_ml
        pump.concentration_mcg_per_ml = reading.concentration_mcg_per_ml
        pump.program = program_json(reading.program)
        pump.program_version = reading.program_version
        pump.daily_dose_mcg = reading.program.daily_dose_mcg
        pump.low_reservoir_alarm_at = reading.forecast.low_reservoir_alarm_at
        pump.empty_at = reading.forecast.empty_at
        pump.eri_at = reading.eri_at
        pump.eri_reached = reading.eri_reached
        pump.last_interrogation_at = reading.now
        pump.log_seen = max(pump.log_seen, reading.log_size)
        return interrogation

    def _flag_unrecorded(self, s: Session, pump: m.Pump, event: dict, known: set[str]) -> None:
        """A change in the pump's log under a key the clinic never recorded: flagged for review."""
        command = next((c for c, proof in PROOF.items() if proof == event["type"]), None)
        key = event.get("key")
        if command is None or key is None or key in known:
            return
        if command == "program" and event.get("version") is None:
            return
        s.add(
            m.PumpChange(
                pump_id=pump.id,
                key=key,
                command=command,
                payload={"event": event},
                status=ChangeStatus.UNRECORDED.value,
                detail="in the pump's log, with no record in the clinic: review it",
                pump_seq=event["seq"],
                requested_at=self.clock(),
                requested_by="pump log",
                settled_at=self.clock(),
            )
        )
        known.add(key)

    # ------------------------------------------------------------------ use cases
    def _fresh(self, pump_id: int) -> m.Pump:
        with self.sessions() as s:
            pump = s.get(m.Pump, pump_id)
            assert pump is not None
            return pump

    def interrogate(self, actor: Actor, pump_id: int) -> m.Pump:
        """Read the pump and store what it says (settling anything left pending from its log)."""
        require(actor, "admin", "clinician", "nurse")
        with self.sessions() as s:
            _no_telemetry(self.pump(s, actor, pump_id))
        if not self.gateway.exists(pump_id):
            raise InvalidInput([Violation("pump", "has no virtual pump to talk to")])
        with self._holding(pump_id):
            with self.gateway.connect(pump_id) as connection:
                reading = self._read(connection)
            self._settle(actor, pump_id, reading, {}, "interrogate")
        return self._fresh(pump_id)

    def _look(self, actor: Actor, pump_id: int, work: Callable[[PumpReading], Any]) -> Any:
        """Read the pump and judge a change, without recording anything."""
        with self._holding(pump_id):
            pump, patient = self._writable(actor, pump_id, None)
            with self.gateway.connect(pump_id) as connection:
                reading = self._read_for_change(connection, pump, patient)
            return work(reading)

    def pending_changes(self, s: Session, pump_id: int) -> list[m.PumpChange]:
        """Changes not settled yet, and changes found in the pump's log with no record (to review)."""
        return list(
            s.execute(
                select(m.PumpChange)
                .where(
                    m.PumpChange.pump_id == pump_id,
                    m.PumpChange.status.in_((*OPEN, ChangeStatus.UNRECORDED.value)),
                    m.PumpChange.reviewed_by.is_(None),
                )
                .order_by(m.PumpChange.id)
            ).scalars()
        )
