"""The clinic's use cases. Each is one transaction: it is written whole, audited, or not at all.

Who may do what is decided here (not only in the web layer): admin everything; clinician every
clinical act; nurse refills, appointments and interrogations, no program change; caregiver reads
their own child's record only (any other patient is "not found"). Concurrent edits of the same
pump are caught by its version number (:class:`Conflict`), never silently merged.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from itb.adapters.db import models as m
from itb.clinic import audit
from itb.clinic.triage_context import pump_context
from itb.clinic.virtual_pumps import VirtualPumps
from itb.contracts.forecast import program_json
from itb.domain.errors import InvalidInput, Violation
from itb.domain.limits import DEFAULT_LIMITS, LimitSettings
from itb.domain.program import DosingProgram
from itb.domain.refill import DEFAULT_REFILL, RefillSettings
from itb.domain.scheduling import BookingSettings, ClinicCalendar, refill_booking_date
from itb.domain.triage import triage
from itb.programmer import workflows as W
from itb.programmer.record import ProgrammerRecord, Status
from itb.pump.firmware import TherapyInfo
from itb.pump.models import MODELS

ROLES = ("admin", "clinician", "nurse", "caregiver")
APPOINTMENT_KINDS = ("screening", "titration", "refill", "mri", "mri_check", "replacement")
#: The post-scan check is booked this long after an MRI (clinic setting): the pump is interrogated then.
MRI_CHECK_AFTER = timedelta(hours=2)
APPOINTMENT_STATUSES = ("booked", "done", "missed", "cancelled")
PHASES = ("screening", "titrating", "maintenance", "ended")
#: Booked appointments start at this time of day unless given.
DEFAULT_APPOINTMENT_TIME = time(10, 0)


class NotFound(LookupError):
    pass


class Forbidden(PermissionError):
    pass


class Conflict(Exception):
    """Someone changed the record since it was read: read it again (HTTP 409)."""


class NotSent(Exception):
    """A change the limits refuse or that needs confirmations (nothing reached the pump)."""

    def __init__(self, assessment: Any, acknowledged: tuple[str, ...] = ()) -> None:
        self.assessment = assessment
        self.findings = [
            {"code": f.code, "severity": str(f.severity), "message": f.message}
            for f in assessment.refusals + assessment.unacknowledged(acknowledged)
        ]
        super().__init__("; ".join(f["message"] for f in self.findings))


class PumpChangeFailed(Exception):
    """The pump refused the change, or its fate could not be settled (see the programmer record)."""


@dataclass(frozen=True)
class Actor:
    username: str
    role: str
    user_id: int | None = None


SYSTEM = Actor("system", "admin")


@dataclass
class ClinicConfig:
    data_dir: Path
    calendar: ClinicCalendar = field(default_factory=ClinicCalendar)
    booking: BookingSettings = field(default_factory=BookingSettings)
    refill: RefillSettings = DEFAULT_REFILL
    limits: LimitSettings = DEFAULT_LIMITS


def _require(actor: Actor, *roles: str) -> None:
    if actor.role not in roles:
        raise Forbidden(f"a {actor.role} may not do this (needs: {', '.join(roles)})")


def row_json(obj: Any) -> dict:
    """A record's columns (the audit log's before/after, the API's answers)."""
    return {c.key: getattr(obj, c.key) for c in obj.__table__.columns}


class Clinic:
    def __init__(
        self, sessions: sessionmaker[Session], config: ClinicConfig, clock: Callable[[], datetime] = datetime.now
    ) -> None:
        self.sessions = sessions
        self.config = config
        self.clock = clock
        self.pumps = VirtualPumps(config.data_dir / "pumps", lambda: self.clock())
        self._pump_locks: dict[int, threading.Lock] = {}
        self._pump_locks_guard = threading.Lock()

    # ------------------------------------------------------------------ transactions
    @contextmanager
    def transaction(self) -> Iterator[Session]:
        session = self.sessions()
        try:
            yield session
            session.commit()
        except StaleDataError:
            session.rollback()
            raise Conflict("the pump record was changed by someone else meanwhile: read it again") from None
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    @contextmanager
    def _one_writer(self, pump_id: int) -> Iterator[None]:
        """One write at a time per pump, held until it is committed.

        The next write then reads the committed record (and its version) before it talks to the
        pump: a request based on an old version is a :class:`Conflict` that never reaches the pump.
        """
        with self._pump_locks_guard:
            lock = self._pump_locks.setdefault(pump_id, threading.Lock())
        with lock:
            yield

    def _add_audited(
        self, s: Session, actor: Actor, action: str, entity: str, record: Any, entity_id: int | None = None
    ) -> None:
        """Store a new record and audit it (its id is known after the flush)."""
        s.add(record)
        s.flush()
        self._audit(s, actor, action, entity, record.id if entity_id is None else entity_id, after=row_json(record))

    def _audit(
        self,
        s: Session,
        actor: Actor,
        action: str,
        entity: str,
        entity_id: int | None,
        before: dict | None = None,
        after: dict | None = None,
    ) -> None:
        audit.record(
            s,
            at=self.clock(),
            actor=actor.username,
            action=action,
            entity=entity,
            entity_id=entity_id,
            before=before,
            after=after,
        )

    # ------------------------------------------------------------------ reading, with visibility
    def visible_patients(self, s: Session, actor: Actor):  # type: ignore[no-untyped-def]
        query = select(m.Patient)
        if actor.role == "caregiver":
            query = query.join(m.CaregiverLink, m.CaregiverLink.patient_id == m.Patient.id).where(
                m.CaregiverLink.user_id == actor.user_id
            )
        return query

    def patient(self, s: Session, actor: Actor, patient_id: int) -> m.Patient:
        found = s.execute(self.visible_patients(s, actor).where(m.Patient.id == patient_id)).scalar_one_or_none()
        if found is None:
            raise NotFound(f"patient {patient_id}: not found")
        return found

    def pump(self, s: Session, actor: Actor, pump_id: int, expected_version: int | None = None) -> m.Pump:
        pump = s.get(m.Pump, pump_id)
        if pump is None:
            raise NotFound(f"pump {pump_id}: not found")
        self.patient(s, actor, pump.patient_id)  # the caregiver check
        if expected_version is not None and pump.version != expected_version:
            raise Conflict(f"pump {pump_id} is at version {pump.version}, not {expected_version}: read it again")
        return pump

    # ------------------------------------------------------------------ patients
    def register_patient(self, actor: Actor, **fields: Any) -> m.Patient:
        _require(actor, "admin", "clinician", "nurse")
        with self.transaction() as s:
            patient = m.Patient(created_at=self.clock(), **fields)
            self._add_audited(s, actor, "register_patient", "patient", patient)
            return patient

    def link_caregiver(self, actor: Actor, patient_id: int, user_id: int, relation: str = "parent") -> None:
        _require(actor, "admin", "clinician")
        with self.transaction() as s:
            self.patient(s, actor, patient_id)
            user = s.get(m.User, user_id)
            if user is None or user.role != "caregiver":
                raise InvalidInput([Violation("user_id", "must be a caregiver's user id")])
            if s.get(m.CaregiverLink, (user_id, patient_id)) is not None:
                raise InvalidInput([Violation("user_id", "is already linked to this patient")])
            link = m.CaregiverLink(user_id=user_id, patient_id=patient_id, relation=relation)
            s.add(link)
            self._audit(s, actor, "link_caregiver", "patient", patient_id, after=row_json(link))

    def set_phase(self, actor: Actor, patient_id: int, phase: str) -> m.Patient:
        """Move a patient to another phase of care (e.g. titration done: ``maintenance``).

        Without it a patient stays "titrating" for ever after the implant, and the worklist asks
        for titration visits long after the right dose was reached.
        """
        _require(actor, "admin", "clinician")
        if phase not in PHASES:
            raise InvalidInput([Violation("phase", f"must be one of {', '.join(PHASES)}")])
        with self.transaction() as s:
            patient = self.patient(s, actor, patient_id)
            before = row_json(patient)
            patient.phase = phase
            self._audit(s, actor, "set_phase", "patient", patient.id, before=before, after=row_json(patient))
            return patient

    def record_screening(
        self,
        actor: Actor,
        patient_id: int,
        *,
        dose_mcg: float,
        mas_before: dict[str, str],
        mas_after: dict[str, str],
        effect_hours: float | None = None,
        at: datetime | None = None,
        assessed_after_hours: float | None = None,
        caregiver_feedback: str | None = None,
    ) -> m.ScreeningTrial:
        from itb.domain.scales import mas_response, parse_mas

        _require(actor, "admin", "clinician")
        errs: list[Violation] = []
        before, after = {}, {}
        for name, grades, out in (("mas_before", mas_before, before), ("mas_after", mas_after, after)):
            for muscle, grade in grades.items():
                try:
                    out[muscle] = parse_mas(grade, f"{name}.{muscle}")
                except InvalidInput as exc:
                    errs.extend(exc.violations)
        if set(mas_before) != set(mas_after):
            errs.append(Violation("mas_after", "must grade the same muscle groups as mas_before"))
        if not mas_before:
            errs.append(Violation("mas_before", "at least one muscle group is required"))
        if errs:
            raise InvalidInput(errs)
        responded = mas_response(list(before.values()), [after[k] for k in before])
        with self.transaction() as s:
            patient = self.patient(s, actor, patient_id)
            trial = m.ScreeningTrial(
                patient_id=patient.id,
                at=at or self.clock(),
                dose_mcg=dose_mcg,
                mas_before={k: str(v) for k, v in before.items()},
                mas_after={k: str(v) for k, v in after.items()},
                responded=responded,
                effect_hours=effect_hours,
                by=actor.username,
                assessed_after_hours=assessed_after_hours,
                caregiver_feedback=caregiver_feedback,
            )
            self._add_audited(s, actor, "record_screening", "patient", trial, entity_id=patient.id)
            return trial

    def record_assessment(
        self, actor: Actor, patient_id: int, kind: str, data: dict, at: datetime | None = None
    ) -> m.Assessment:
        """A clinical assessment: ``mas`` {muscle: grade}, ``tardieu`` {muscle: {quality, r1_deg, r2_deg}},
        ``gmfcs`` {level}, or ``gas`` {goals: [{description, weight, score}]} (its T-score is stored)."""
        from itb.domain.scales import assessment_record

        _require(actor, "admin", "clinician")
        stored = assessment_record(kind, data)
        with self.transaction() as s:
            patient = self.patient(s, actor, patient_id)
            assessment = m.Assessment(
                patient_id=patient.id, at=at or self.clock(), kind=kind, data=stored, by=actor.username
            )
            if kind == "gmfcs":
                patient.gmfcs = stored["level"]
            self._add_audited(s, actor, "record_assessment", "patient", assessment, entity_id=patient.id)
            return assessment

    # ------------------------------------------------------------------ pumps
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
    ) -> m.Pump:
        _require(actor, "admin", "clinician")
        device = MODELS.get(model)
        errs = []
        if device is None:
            errs.append(Violation("model", f"must be one of {', '.join(MODELS)}"))
        elif reservoir_capacity_ml not in device.reservoir_sizes_ml:
            sizes = ", ".join(f"{x:g}" for x in device.reservoir_sizes_ml)
            errs.append(Violation("reservoir_capacity_ml", f"must be one of {sizes}"))
        if reservoir_ml > reservoir_capacity_ml:
            errs.append(Violation("reservoir_ml", "must not exceed the reservoir capacity"))
        if errs:
            raise InvalidInput(errs)
        assert device is not None
        now = self.clock()
        implanted_at = implanted_at or now
        with self.transaction() as s:
            patient = self.patient(s, actor, patient_id)
            if s.execute(select(m.Pump.id).where(m.Pump.serial == serial)).first():
                raise InvalidInput([Violation("serial", f"{serial!r} is already registered")])
            for old in patient.pumps:
                if old.status == "implanted":
                    raise InvalidInput([Violation("patient", f"already has pump {old.id} implanted: retire it first")])
            catheter_volume = device.internal_tubing_ml + catheter_length_cm * device.catheter_ml_per_cm
            age = (now.date() - patient.birth_date).days / 365.25
            state = self.pumps.create(
                serial,
                model=model,
                capacity_ml=reservoir_capacity_ml,
                implanted_at=implanted_at,
                start=now,
                reservoir_ml=reservoir_ml,
                concentration_mcg_per_ml=concentration_mcg_per_ml,
                program=program,
                catheter_volume_ml=catheter_volume,
                low_reservoir_alarm_ml=low_reservoir_alarm_ml,
                therapy=TherapyInfo(
                    patient_id=f"P{patient.id}",
                    origin=patient.origin,
                    age_years=round(age, 2),
                    implanted_at=implanted_at.isoformat(timespec="seconds"),
                    catheter_length_cm=catheter_length_cm,
                ),
                flow_error=flow_error,
            )
            pump = m.Pump(
                patient_id=patient.id,
                model=model,
                serial=serial,
                reservoir_capacity_ml=reservoir_capacity_ml,
                low_reservoir_alarm_ml=low_reservoir_alarm_ml,
                implanted_at=implanted_at,
                catheter_length_cm=catheter_length_cm,
                catheter_volume_ml=catheter_volume,
                state_at=now,
                reservoir_ml=reservoir_ml,
                concentration_mcg_per_ml=concentration_mcg_per_ml,
                program=program_json(program),
                daily_dose_mcg=program.daily_dose_mcg,
                virtual_state=state,
                last_refill_at=now,
            )
            s.add(pump)
            patient.phase = "titrating"
            s.flush()
            s.add(
                m.ProgramVersion(
                    pump_id=pump.id,
                    version=1,
                    program=pump.program,
                    daily_dose_mcg=pump.daily_dose_mcg,
                    at=now,
                    by=actor.username,
                )
            )
            self._visit_and_sync(s, pump, actor)
            self._audit(s, actor, "implant_pump", "pump", pump.id, after=row_json(pump))
            return pump

    def _visit_and_sync(self, s: Session, pump: m.Pump, actor: Actor, work: Callable[[Any], Any] | None = None) -> Any:
        """Visit the virtual pump (doing ``work`` with its link, if any), then store what it says."""
        if not pump.virtual_state:
            raise InvalidInput([Violation("pump", "has no virtual pump to talk to")])
        with self.pumps.visit(pump.virtual_state) as (link, _firmware):
            result = work(link) if work is not None else None
            view = W.interrogate(link)
        self._store_view(s, pump, view, actor)
        return result, view

    def _store_view(self, s: Session, pump: m.Pump, view: W.PumpView, actor: Actor) -> None:
        status = view.status
        now = view.now
        interrogation = m.Interrogation(pump_id=pump.id, at=now, by=actor.username, status=status)
        s.add(interrogation)
        s.flush()
        known = s.execute(select(func.max(m.PumpEvent.seq)).where(m.PumpEvent.pump_id == pump.id)).scalar() or 0
        for e in view.log[known:]:
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
            if e["type"] == "motor_stall" or e["type"] == "safety_valve_closed":
                pump.last_mri_at = _parse(e.get("at"))
        pump.state_at = now
        pump.reservoir_ml = status["reservoir_ml"]
        pump.concentration_mcg_per_ml = status["concentration_mcg_per_ml"]
        pump.program = program_json(view.block.program)
        pump.program_version = view.block.version
        pump.daily_dose_mcg = view.block.program.daily_dose_mcg
        pump.low_reservoir_alarm_at = view.forecast.low_reservoir_alarm_at
        pump.empty_at = view.forecast.empty_at
        pump.eri_at = _parse(status.get("eri_at"))
        pump.eri_reached = status["eri_reached"]
        pump.last_interrogation_at = now

    # ------------------------------------------------------------------ previews (nothing is written)
    def _look(self, actor: Actor, pump_id: int, work: Callable[[W.PumpView], Any]) -> Any:
        """Read the pump through the programmer and judge a change, without recording anything."""
        with self.sessions() as s:
            pump = self.pump(s, actor, pump_id)
            state = pump.virtual_state
        if not state:
            raise InvalidInput([Violation("pump", "has no virtual pump to talk to")])
        with self._one_writer(pump_id), self.pumps.visit(state) as (link, _firmware):
            return work(W.interrogate(link))

    def preview_program(
        self, actor: Actor, pump_id: int, program: DosingProgram, entered_rate: Any = None
    ) -> W.ProgramReview:
        """The review a clinician sees before sending: old against new, every limit judged."""
        return self._look(
            actor, pump_id, lambda view: W.review_program(view, program, self.config.limits, entered_rate=entered_rate)
        )

    def preview_refill(
        self, actor: Actor, pump_id: int, *, withdrawn_ml: float, added_ml: float, concentration_mcg_per_ml: float
    ) -> W.RefillPlan:
        return self._look(
            actor,
            pump_id,
            lambda view: W.plan_refill(
                view,
                withdrawn_ml=withdrawn_ml,
                added_ml=added_ml,
                concentration_mcg_per_ml=concentration_mcg_per_ml,
                settings=self.config.refill,
                limits=self.config.limits,
                booking=self.config.booking,
            ),
        )

    def interrogate(self, actor: Actor, pump_id: int) -> m.Pump:
        _require(actor, "admin", "clinician", "nurse")
        with self._one_writer(pump_id), self.transaction() as s:
            pump = self.pump(s, actor, pump_id)
            before = row_json(pump)
            self._visit_and_sync(s, pump, actor)
            self._audit(s, actor, "interrogate", "pump", pump.id, before=before, after=row_json(pump))
            return pump

    def change_program(
        self,
        actor: Actor,
        pump_id: int,
        program: DosingProgram,
        *,
        expected_version: int,
        acknowledged: tuple[str, ...] = (),
    ) -> m.Pump:
        _require(actor, "admin", "clinician", "nurse")
        with self._one_writer(pump_id), self.transaction() as s:
            pump = self.pump(s, actor, pump_id, expected_version)
            if actor.role == "nurse" and program_json(program) != pump.program:
                raise Forbidden("a nurse may not change the program (only a clinician may)")
            before = row_json(pump)
            record = ProgrammerRecord()

            def work(link):  # type: ignore[no-untyped-def]
                view = W.interrogate(link)
                review = W.review_program(view, program, self.config.limits)
                if not review.assessment.allowed(acknowledged):
                    raise NotSent(review.assessment, acknowledged)
                return W.send_program(link, review, record, acknowledged)

            outcome, _view = self._visit_and_sync(s, pump, actor, work)
            if outcome.entry.status is not Status.APPLIED:
                raise PumpChangeFailed(f"program {outcome.entry.status}: {outcome.entry.detail}")
            now = self.clock()
            if program.daily_dose_mcg > before["daily_dose_mcg"]:
                pump.titrating = True
            pump.last_program_change_at = now
            s.add(
                m.ProgramVersion(
                    pump_id=pump.id,
                    version=pump.program_version,
                    program=pump.program,
                    daily_dose_mcg=pump.daily_dose_mcg,
                    at=now,
                    by=actor.username,
                    acknowledged=list(acknowledged),
                )
            )
            self._audit(
                s,
                actor,
                "change_program",
                "pump",
                pump.id,
                before=before,
                after={**row_json(pump), "acknowledged": list(acknowledged)},
            )
            if pump.patient.phase == "titrating":
                self._book_next_titration(s, pump, actor)
            return pump

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

    def _add_booking(self, s: Session, actor: Actor, pump: m.Pump, kind: str, day: date, notes: str) -> m.Appointment:
        """A visit the service books itself (after a refill or a titration step), audited."""
        appointment = m.Appointment(
            patient_id=pump.patient_id,
            pump_id=pump.id,
            kind=kind,
            status="booked",
            at=datetime.combine(day, DEFAULT_APPOINTMENT_TIME),
            by=actor.username,
            notes=notes,
        )
        self._add_audited(s, actor, "book_appointment", "appointment", appointment)
        return appointment

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
        acknowledged: tuple[str, ...] = (),
    ) -> m.Refill:
        _require(actor, "admin", "clinician", "nurse")
        with self._one_writer(pump_id), self.transaction() as s:
            pump = self.pump(s, actor, pump_id, expected_version)
            if withdrawn_ml > pump.reservoir_capacity_ml:  # else the pump refuses it: a 502, not a 422
                capacity = f"{pump.reservoir_capacity_ml:g} mL"
                raise InvalidInput([Violation("withdrawn_ml", f"must not exceed the reservoir capacity ({capacity})")])
            before = row_json(pump)
            record = ProgrammerRecord()

            def work(link):  # type: ignore[no-untyped-def]
                view = W.interrogate(link)
                plan = W.plan_refill(
                    view,
                    withdrawn_ml=withdrawn_ml,
                    added_ml=added_ml,
                    concentration_mcg_per_ml=concentration_mcg_per_ml,
                    settings=self.config.refill,
                    limits=self.config.limits,
                    booking=self.config.booking,
                )
                if not plan.assessment.allowed(acknowledged):
                    raise NotSent(plan.assessment, acknowledged)
                return plan, W.send_refill(link, plan, record, acknowledged)

            (plan, outcome), _view = self._visit_and_sync(s, pump, actor, work)
            if outcome.refill.status is not Status.APPLIED:
                raise PumpChangeFailed(f"refill {outcome.refill.status}: {outcome.refill.detail}")
            now = self.clock()
            expected = plan.view.status["reservoir_ml"]
            refill = m.Refill(
                pump_id=pump.id,
                at=now,
                expected_ml=expected,
                withdrawn_ml=withdrawn_ml,
                discrepancy_ml=withdrawn_ml - expected,
                added_ml=added_ml,
                concentration_mcg_per_ml=concentration_mcg_per_ml,
                lot=lot,
                by=actor.username,
                flagged=any(f.code == "refill_discrepancy" for f in plan.assessment.findings),
                bridge_bolus_mcg=plan.bridge.dose_mcg if plan.bridge else None,
                acknowledged=list(acknowledged),
            )
            s.add(refill)
            pump.last_refill_at = now
            s.flush()
            self._book_next_refill(s, pump, actor)
            self._audit(
                s, actor, "refill", "pump", pump.id, before=before, after={**row_json(pump), "refill": row_json(refill)}
            )
            return refill

    def _book_next_refill(self, s: Session, pump: m.Pump, actor: Actor) -> m.Appointment:
        now = self.clock()
        for old in s.execute(
            select(m.Appointment).where(
                m.Appointment.pump_id == pump.id,
                m.Appointment.kind == "refill",
                m.Appointment.status == "booked",
                m.Appointment.at >= datetime.combine(now.date(), time.min),
            )
        ).scalars():
            if old.at.date() == now.date():  # the visit this refill is
                old.status = "done"
            else:
                old.status = "cancelled"
                old.notes = "replaced by the booking after a refill"
        day = refill_booking_date(
            now.date(),
            (pump.last_refill_at or now).date(),
            pump.low_reservoir_alarm_at,
            self.config.calendar,
            self.config.booking,
        )
        return self._add_booking(s, actor, pump, "refill", day, "booked from the exact forecast")

    def review_discrepancy(self, actor: Actor, refill_id: int) -> m.Refill:
        _require(actor, "admin", "clinician")
        with self.transaction() as s:
            refill = s.get(m.Refill, refill_id)
            if refill is None:
                raise NotFound(f"refill {refill_id}: not found")
            self.pump(s, actor, refill.pump_id)
            before = row_json(refill)
            refill.reviewed_by = actor.username
            self._audit(s, actor, "review_discrepancy", "refill", refill.id, before=before, after=row_json(refill))
            return refill

    def retire_pump(self, actor: Actor, pump_id: int, *, expected_version: int, reason: str = "") -> m.Pump:
        _require(actor, "admin", "clinician")
        with self._one_writer(pump_id), self.transaction() as s:
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

    # ------------------------------------------------------------------ families
    def report_symptoms(self, actor: Actor, patient_id: int, symptoms: list[str], note: str = "") -> m.SymptomReport:
        """A family (or staff) reports symptoms seen at home; the clinic sees them on the chart."""
        from itb.web.family import SYMPTOM_CHOICES

        known = {code for code, _ in SYMPTOM_CHOICES}
        errs = [Violation("symptoms", f"unknown symptom {x!r}") for x in symptoms if x not in known]
        if not symptoms and not note.strip():
            errs.append(Violation("symptoms", "choose at least one symptom or describe what you see"))
        if len(note) > 2000:
            errs.append(Violation("note", "must be at most 2000 characters"))
        if errs:
            raise InvalidInput(errs)
        with self.transaction() as s:
            patient = self.patient(s, actor, patient_id)
            result = triage(symptoms or ["other"], pump_context(s, patient, self.clock()))
            report = m.SymptomReport(
                patient_id=patient.id,
                at=self.clock(),
                by=actor.username,
                symptoms=list(symptoms),
                note=note.strip() or None,
                urgency=int(result.urgency),
                triage={
                    "urgency": result.urgency.label,
                    "concerns": [str(c) for c in result.concerns],
                    "reasons": list(result.reasons),
                    "instruction": result.instruction,
                },
            )
            self._add_audited(s, actor, "report_symptoms", "patient", report, entity_id=patient.id)
            return report

    # ------------------------------------------------------------------ appointments
    def book(
        self,
        actor: Actor,
        patient_id: int,
        *,
        kind: str,
        at: datetime,
        pump_id: int | None = None,
        notes: str | None = None,
    ) -> m.Appointment:
        _require(actor, "admin", "clinician", "nurse")
        errs = []
        if kind not in APPOINTMENT_KINDS:
            errs.append(Violation("kind", f"must be one of {', '.join(APPOINTMENT_KINDS)}"))
        if not self.config.calendar.is_open(at.date()):
            errs.append(Violation("at", f"{at:%A %Y-%m-%d} is not a clinic day"))
        if errs:
            raise InvalidInput(errs)
        with self.transaction() as s:
            self.patient(s, actor, patient_id)
            if pump_id is not None and self.pump(s, actor, pump_id).patient_id != patient_id:
                raise InvalidInput([Violation("pump_id", "is not this patient's pump")])
            appointment = m.Appointment(
                patient_id=patient_id, pump_id=pump_id, kind=kind, at=at, notes=notes, by=actor.username
            )
            self._add_audited(s, actor, "book_appointment", "appointment", appointment)
            return appointment

    def book_mri(self, actor: Actor, patient_id: int, at: datetime) -> tuple[m.Appointment, m.Appointment, Any]:
        """An MRI for a patient with a pump: the scan with the model's checklist, and the post-scan
        check (interrogate the pump), which stays on the worklist until it is done."""
        from itb.domain.mri import mri_plan

        _require(actor, "admin", "clinician", "nurse")
        with self.sessions() as s:
            patient = self.patient(s, actor, patient_id)
            pump = next((p for p in patient.pumps if p.status == "implanted"), None)
            if pump is None:
                raise InvalidInput([Violation("patient", "has no implanted pump: book the scan as usual")])
            plan = mri_plan(MODELS[pump.model], pump.reservoir_ml, pump.daily_dose_mcg)
            pump_id = pump.id
        steps = "Before: " + " ".join(plan.before) + " After: " + " ".join(plan.after)
        scan = self.book(actor, patient_id, kind="mri", at=at, pump_id=pump_id, notes=steps)
        check = self.book(
            actor,
            patient_id,
            kind="mri_check",
            at=at + MRI_CHECK_AFTER,
            pump_id=pump_id,
            notes="Interrogate the pump after the MRI: " + " ".join(plan.after),
        )
        return scan, check, plan

    def set_appointment_status(self, actor: Actor, appointment_id: int, status: str) -> m.Appointment:
        _require(actor, "admin", "clinician", "nurse")
        if status not in APPOINTMENT_STATUSES[1:]:
            raise InvalidInput([Violation("status", "must be one of done, missed, cancelled")])
        with self.transaction() as s:
            appointment = s.get(m.Appointment, appointment_id)
            if appointment is None:
                raise NotFound(f"appointment {appointment_id}: not found")
            self.patient(s, actor, appointment.patient_id)
            if appointment.status != "booked":
                raise InvalidInput([Violation("status", f"the appointment is already {appointment.status}")])
            before = row_json(appointment)
            appointment.status = status
            self._audit(
                s,
                actor,
                f"appointment_{status}",
                "appointment",
                appointment.id,
                before=before,
                after=row_json(appointment),
            )
            return appointment


def _parse(text: object) -> datetime | None:
    return datetime.fromisoformat(text) if isinstance(text, str) else None


def clinic_day(d: date) -> datetime:
    return datetime.combine(d, DEFAULT_APPOINTMENT_TIME)


def days(n: float) -> timedelta:
    return timedelta(days=n)
