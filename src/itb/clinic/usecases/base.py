"""What every use case shares: who is acting, the errors they may meet, one transaction, the audit.

Who may do what is decided in the use cases (not only in the web layer): admin everything;
clinician every clinical act; nurse refills, appointments and interrogations, no program change;
caregiver reads their own child's record only (any other patient is "not found").
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from itb.adapters.db import models as m
from itb.clinic import audit
from itb.clinic.ports import PumpGateway, PumpLocks, Sender
from itb.clinic.usecases.settings_cache import SettingsCache
from itb.contracts import bounds
from itb.contracts.bounds import text_violation
from itb.domain.calibration import DEFAULT_FLOW, FlowSettings
from itb.domain.clinic_settings import ClinicSettings
from itb.domain.errors import Violation
from itb.domain.limits import DEFAULT_LIMITS, LimitSettings
from itb.domain.refill import DEFAULT_REFILL, RefillSettings
from itb.domain.reminders import DEFAULT_NOTIFY, NotifySettings
from itb.domain.scheduling import BookingSettings, ClinicCalendar


class NotFound(LookupError):
    pass


class Forbidden(PermissionError):
    pass


class Conflict(Exception):
    """Someone changed the record since it was read, or holds the pump now: read it again (HTTP 409)."""


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
    """The pump refused the change, or its fate is not known yet (it is settled from the pump's log)."""


class RecordIncomplete(Exception):
    """The change reached the pump, and writing its record failed: it stays pending and is written
    from the pump's log at the next reading of the pump (or at server start). HTTP 503."""


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
    flow: FlowSettings = DEFAULT_FLOW
    #: who is told what and when (reminders, escalation, quiet hours, the daily cap)
    notify: NotifySettings = DEFAULT_NOTIFY
    #: the clinic's time zone (IANA name): the record's times are its local times; the families'
    #: calendar feeds carry it (clinic setting, ``$ITB_TIME_ZONE``)
    time_zone: str = "UTC"


def require(actor: Actor, *roles: str) -> None:
    if actor.role not in roles:
        raise Forbidden(f"a {actor.role} may not do this (needs: {', '.join(roles)})")


def row_json(obj: Any) -> dict:
    """A record's columns (the audit log's before/after, the API's answers)."""
    return {c.key: getattr(obj, c.key) for c in obj.__table__.columns}


@dataclass
class _Pending:
    at: datetime
    actor: str
    action: str
    entity: str
    entity_id: int | None
    record: Any = None
    before: dict | None = None
    after: dict | None = None


class AuditBatch:
    """Audit entries kept back to be written together (:meth:`ClinicBase._audit_batched`), in the
    order they were made. A new record's entry is taken (its id, its columns as ``after``) by
    :meth:`taken` after the flush that stores it, before anything changes it again."""

    def __init__(self) -> None:
        self._entries: list[_Pending] = []

    def add(
        self, at: datetime, actor: Actor, action: str, entity: str, entity_id: int | None, *, record: Any = None,
        before: dict | None = None, after: dict | None = None,
    ) -> None:  # fmt: skip
        before, after = audit.jsonable(before), audit.jsonable(after)  # as they are now
        self._entries.append(_Pending(at, actor.username, action, entity, entity_id, record, before, after))

    def taken(self) -> list[_Pending]:
        """The entries, each new record's taken now (call it after a flush); taken once."""
        for e in self._entries:
            if e.record is not None:
                e.entity_id = e.record.id if e.entity_id is None else e.entity_id
                e.after, e.record = audit.jsonable(row_json(e.record)), None
        return self._entries


class ClinicBase:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        config: ClinicConfig,
        clock: Callable[[], datetime] = datetime.now,
        *,
        gateway: PumpGateway,
        locks: PumpLocks,
        senders: Callable[[], Mapping[str, Sender]] = dict,
    ) -> None:
        self.sessions = sessions
        self.startup_config = config
        self.clock = clock
        self.gateway = gateway
        self.locks = locks
        #: the message channels as configured now (``itb.adapters.notify``, wired by ``itb.bootstrap``)
        self.senders = senders
        self.settings_cache = SettingsCache(sessions)
        self._effective: tuple[ClinicConfig, ClinicSettings, ClinicConfig] | None = None
        self._local = threading.local()  # this thread's depth of open transactions

    # ------------------------------------------------------------------ the settings in effect
    @property
    def config(self) -> ClinicConfig:
        """The settings in effect: the startup config (the environment's) with the clinic's stored
        settings over it (``itb.domain.clinic_settings``: the calendar's days, the booking margins).

        The stored settings are those of :class:`SettingsCache`: read again when more than a second
        old, so a change an admin makes in another process holds here a second later at most. Inside
        a transaction they are not read again: a use case sees one set of settings throughout (those
        read when its transaction began). Assigning ``config`` replaces the startup config.
        """
        settings = self.settings_cache.current(may_read=not getattr(self._local, "depth", 0))
        startup, cached = self.startup_config, self._effective
        if cached is not None and cached[0] is startup and cached[1] == settings:
            return cached[2]
        effective = replace(
            startup, calendar=settings.calendar(startup.calendar), booking=settings.booking(startup.booking)
        )
        self._effective = (startup, settings, effective)
        return effective

    @config.setter
    def config(self, value: ClinicConfig) -> None:
        self.startup_config = value

    # ------------------------------------------------------------------ transactions
    @contextmanager
    def transaction(self) -> Iterator[Session]:
        depth = getattr(self._local, "depth", 0)
        if not depth:
            self.settings_cache.current()  # read before the transaction's session, never inside it
        session = self.sessions()
        self._local.depth = depth + 1
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
            self._local.depth = depth

    def _mark_reviewed(self, actor: Actor, kind: type, record_id: int, label: str, action: str, audited_as: str) -> Any:
        """A clinician has reviewed a record of one pump (``kind``: a refill, a recorded session):
        ``reviewed_by`` is set and audited under ``audited_as`` (``"pump"``: the pump's id; else the
        record's own). Returns the record."""
        require(actor, "admin", "clinician")
        with self.transaction() as s:
            record = s.get(kind, record_id)
            if record is None:
                raise NotFound(f"{label} {record_id}: not found")
            self.pump(s, actor, record.pump_id)
            before = row_json(record)
            record.reviewed_by = actor.username
            entity_id = record.pump_id if audited_as == "pump" else record.id
            self._audit(s, actor, action, audited_as, entity_id, before=before, after=row_json(record))
            return record

    def _add_audited(
        self, s: Session, actor: Actor, action: str, entity: str, record: Any, entity_id: int | None = None,
        batch: AuditBatch | None = None,
    ) -> None:  # fmt: skip
        """Store a new record and audit it (its id is known after the flush). With ``batch``: no
        flush here; its entry is taken at the batch's next :meth:`AuditBatch.taken` (after a flush)."""
        s.add(record)
        if batch is not None:
            batch.add(self.clock(), actor, action, entity, entity_id, record=record)
            return
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

    def _audit_batched(self, s: Session, batches: list[AuditBatch]) -> None:
        """Write the entries of ``batches`` (in that order, each in its own order) at once: the
        chain and every entry exactly as :meth:`_audit` entry by entry would give (one lock of its
        head, one insert). Flushes first: the batches' records are taken as they stand then."""
        s.flush()
        audit.record_many(
            s,
            [
                {"at": e.at, "actor": e.actor, "action": e.action, "entity": e.entity, "entity_id": e.entity_id,
                 "before": e.before, "after": e.after}
                for batch in batches
                for e in batch.taken()
            ],
        )  # fmt: skip

    # ------------------------------------------------------------------ reading, with visibility
    def visible_patients(self, s: Session, actor: Actor) -> Select[tuple[m.Patient]]:
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


#: The longest note a person types in a form (side effects, feedback), in characters.
NOTE_MAX = bounds.NOTE_MAX


def check_note(field: str, value: str | None, max_length: int = NOTE_MAX) -> list[Violation]:
    """A note a person typed, on several lines: at most ``max_length``, no control character but
    line breaks and tabs (a NUL byte is refused before it reaches the database)."""
    bad = text_violation(field, value, max_length=max_length, multiline=True)  # itb.contracts.bounds
    return [bad] if bad else []
