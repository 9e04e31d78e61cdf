"""The clinic's tables (SQLAlchemy 2 declarative models), the same on SQLite and PostgreSQL.

Quantities carry their unit in their column name. Flexible clinical data (a program, an
assessment's grades, a pump event's fields) is stored as JSON. ``Pump.version`` is the
optimistic-concurrency number: an update based on an older version fails (HTTP 409).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    case,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(16))  # admin, clinician, nurse, caregiver
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    #: every token carries the version it was made under; a sign-out, a new password, a new role or
    #: deactivation adds one, and every token made before stops working at once
    token_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class LoginAttempt(Base):
    """A failed sign-in (``itb.clinic.login_throttle``): the name tried, from which address, when."""

    __tablename__ = "login_attempts"
    __table_args__ = (
        Index("ix_login_attempts_username_at", "username", "at"),
        Index("ix_login_attempts_address_at", "address", "at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    address: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime)


class Patient(Base):
    __tablename__ = "patients"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    #: the clinic's own identifier (record number), as an import names the patient; unique when given
    patient_ref: Mapped[str | None] = mapped_column(String(64), unique=True)
    birth_date: Mapped[date] = mapped_column(Date)
    origin: Mapped[str] = mapped_column(String(16))  # spinal, cerebral
    weight_kg: Mapped[float | None] = mapped_column(Float)
    gmfcs: Mapped[int | None] = mapped_column(Integer)  # 1..5 (I..V)
    injury_t6_or_above: Mapped[bool] = mapped_column(Boolean, default=False)
    cannot_communicate: Mapped[bool] = mapped_column(Boolean, default=False)
    earlier_withdrawal: Mapped[bool] = mapped_column(Boolean, default=False)
    phase: Mapped[str] = mapped_column(String(16), default="screening")  # screening, titrating, maintenance, ended
    created_at: Mapped[datetime] = mapped_column(DateTime)
    pumps: Mapped[list[Pump]] = relationship(back_populates="patient", order_by="Pump.id")

    @property
    def high_risk(self) -> bool:
        return self.injury_t6_or_above or self.cannot_communicate or self.earlier_withdrawal


class CaregiverLink(Base):
    __tablename__ = "caregiver_links"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), primary_key=True)
    relation: Mapped[str] = mapped_column(String(32), default="parent")


class Pump(Base):
    __tablename__ = "pumps"
    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    model: Mapped[str] = mapped_column(String(32))
    serial: Mapped[str] = mapped_column(String(64), unique=True)
    reservoir_capacity_ml: Mapped[float] = mapped_column(Float)
    low_reservoir_alarm_ml: Mapped[float] = mapped_column(Float, default=2.0)
    empty_ml: Mapped[float] = mapped_column(Float, default=0.0)
    implanted_at: Mapped[datetime] = mapped_column(DateTime)
    catheter_length_cm: Mapped[float] = mapped_column(Float)
    catheter_volume_ml: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16), default="implanted", index=True)  # implanted, explanted
    explanted_at: Mapped[datetime | None] = mapped_column(DateTime)
    titrating: Mapped[bool] = mapped_column(Boolean, default=True)
    # The pump's last reading (implant, refill, program change or interrogation), as of ``reading_at``:
    # never the reservoir *now*, which is estimated from it when read (itb.domain.reading).
    reading_at: Mapped[datetime] = mapped_column(DateTime)
    reading_reservoir_ml: Mapped[float] = mapped_column(Float)
    concentration_mcg_per_ml: Mapped[float] = mapped_column(Float)
    program: Mapped[dict[str, Any]] = mapped_column(JSON)
    program_version: Mapped[int] = mapped_column(Integer, default=1)
    daily_dose_mcg: Mapped[float] = mapped_column(Float)
    last_refill_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_program_change_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_mri_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_interrogation_at: Mapped[datetime | None] = mapped_column(DateTime)
    # The exact forecast from that state, kept with it (so the worklist is one query).
    low_reservoir_alarm_at: Mapped[datetime | None] = mapped_column(DateTime, index=True)
    empty_at: Mapped[datetime | None] = mapped_column(DateTime, index=True)
    eri_at: Mapped[datetime | None] = mapped_column(DateTime, index=True)
    eri_reached: Mapped[bool] = mapped_column(Boolean, default=False)
    #: the volume of the first recorded fill (at implant, or an imported session; each refill's own
    #: fill is its ``added_ml``): flow calibration
    implant_fill_ml: Mapped[float | None] = mapped_column(Float)
    #: "telemetry": a pump ITB talks to; "vendor": programmed on the vendor's programmer, ITB
    #: records its sessions and never sends it a command
    connection: Mapped[str] = mapped_column(String(16), default="telemetry", server_default="telemetry")
    # The pump's learned flow (real / counted, itb.domain.calibration) from its refills, and the
    # earliest plausible alarm and empty instants it gives from the last reading (booking uses them).
    flow_ratio: Mapped[float | None] = mapped_column(Float)
    flow_ratio_sd: Mapped[float | None] = mapped_column(Float)
    flow_refills: Mapped[int] = mapped_column(Integer, default=0)
    plausible_alarm_at: Mapped[datetime | None] = mapped_column(DateTime, index=True)
    plausible_empty_at: Mapped[datetime | None] = mapped_column(DateTime, index=True)
    #: events of the pump's log the clinic has seen (a reading with fewer went backwards)
    log_seen: Mapped[int] = mapped_column(Integer, default=0)
    #: the pump's state went backwards (shorter log, older program): changes are refused until resolved
    regressed_at: Mapped[datetime | None] = mapped_column(DateTime)
    regression_detail: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    patient: Mapped[Patient] = relationship(back_populates="pumps")

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 (SQLAlchemy's declarative form)


#: The earliest known empty instant of a pump (its own forecast or the learned flow's, whichever
#: is known and sooner; NULL when neither is): the worklist's order, the same SQL on both databases.
PUMP_EARLIEST_EMPTY = case(
    (Pump.plausible_empty_at.is_(None) | (Pump.empty_at < Pump.plausible_empty_at), Pump.empty_at),
    else_=Pump.plausible_empty_at,
)
Index("ix_pumps_earliest_empty", PUMP_EARLIEST_EMPTY, Pump.id)


class ProgramVersion(Base):
    __tablename__ = "program_versions"
    __table_args__ = (UniqueConstraint("pump_id", "version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    pump_id: Mapped[int] = mapped_column(ForeignKey("pumps.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    program: Mapped[dict[str, Any]] = mapped_column(JSON)
    daily_dose_mcg: Mapped[float] = mapped_column(Float)
    at: Mapped[datetime] = mapped_column(DateTime)
    by: Mapped[str] = mapped_column(String(64))
    acknowledged: Mapped[list[Any]] = mapped_column(JSON, default=list)
    #: the idempotency key it was sent under (its ``program_changed`` event in the pump's log)
    change_key: Mapped[str | None] = mapped_column(String(64))


class Refill(Base):
    __tablename__ = "refills"
    id: Mapped[int] = mapped_column(primary_key=True)
    pump_id: Mapped[int] = mapped_column(ForeignKey("pumps.id"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime)
    expected_ml: Mapped[float] = mapped_column(Float)
    withdrawn_ml: Mapped[float] = mapped_column(Float)
    discrepancy_ml: Mapped[float] = mapped_column(Float)
    added_ml: Mapped[float] = mapped_column(Float)
    concentration_mcg_per_ml: Mapped[float] = mapped_column(Float)
    lot: Mapped[str | None] = mapped_column(String(64))
    #: the drug product chosen at the refill (its strengths are judged), when named
    product: Mapped[str | None] = mapped_column(String(64))
    by: Mapped[str] = mapped_column(String(64))
    flagged: Mapped[bool] = mapped_column(Boolean, default=False)
    reviewed_by: Mapped[str | None] = mapped_column(String(64))
    bridge_bolus_mcg: Mapped[float | None] = mapped_column(Float)
    acknowledged: Mapped[list[Any]] = mapped_column(JSON, default=list)
    #: the idempotency key it was sent under (its ``refill`` event in the pump's log)
    change_key: Mapped[str | None] = mapped_column(String(64))


class PumpSession(Base):
    """What a vendor's programmer did to a vendor-programmed pump, as the clinic recorded it.

    ``kind``: ``import`` (the state an existing clinic's file brought), later ``refill``,
    ``program``, ``interrogation``, ``bolus``, ``mri_check``. ``warnings`` (e.g. the vendor's
    printed alarm date against ITB's forecast) stay on the worklist until a clinician reviews them.
    """

    __tablename__ = "pump_sessions"
    __table_args__ = (UniqueConstraint("pump_id", "kind", "at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    pump_id: Mapped[int] = mapped_column(ForeignKey("pumps.id"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime)
    kind: Mapped[str] = mapped_column(String(16))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    warnings: Mapped[list[Any]] = mapped_column(JSON, default=list)
    by: Mapped[str] = mapped_column(String(64))
    reviewed_by: Mapped[str | None] = mapped_column(String(64))


class PumpChange(Base):
    """A change to a pump, recorded (and committed) as pending *before* it is sent.

    Its fate is settled from the pump's log by its key (``applied``, ``not_applied``, ``refused``),
    at once or, when the answer was lost, at the next read of the pump or by the reconciler at
    server start; the refill, program version and audit rows are written when it is settled.
    ``unrecorded``: an event in the pump's log under a key the clinic never recorded.
    """

    __tablename__ = "pump_changes"
    id: Mapped[int] = mapped_column(primary_key=True)
    pump_id: Mapped[int] = mapped_column(ForeignKey("pumps.id"), index=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    command: Mapped[str] = mapped_column(String(16))  # program, refill, bolus
    #: what was sent, and what the record needs when it is settled (e.g. a refill's lot)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), index=True)
    detail: Mapped[str | None] = mapped_column(Text)
    pump_seq: Mapped[int | None] = mapped_column(Integer)
    #: the change this one follows (a bridge bolus after its refill)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("pump_changes.id"))
    requested_at: Mapped[datetime] = mapped_column(DateTime)
    requested_by: Mapped[str] = mapped_column(String(64))
    settled_at: Mapped[datetime | None] = mapped_column(DateTime)
    reviewed_by: Mapped[str | None] = mapped_column(String(64))


class VirtualPump(Base):
    """A virtual pump's state, keyed by the clinic's pump id, reached alike by every server process.

    It is another device, not part of the clinic's record: it is written in transactions of its
    own (as a pump keeps its memory), so it holds no foreign key to the record it is addressed by.
    """

    __tablename__ = "virtual_pumps"
    pump_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    setup: Mapped[dict[str, Any]] = mapped_column(JSON)
    therapy: Mapped[dict[str, Any]] = mapped_column(JSON)
    #: the pump's clock when last saved (seconds from its start)
    t: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime)


class VirtualPumpJournal(Base):
    """Every change a virtual pump applied, in order, with its pump time (replayed on load)."""

    __tablename__ = "virtual_pump_journal"
    __table_args__ = (UniqueConstraint("pump_id", "n"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    pump_id: Mapped[int] = mapped_column(Integer, index=True)
    n: Mapped[int] = mapped_column(Integer)
    t: Mapped[float] = mapped_column(Float)
    request: Mapped[dict[str, Any]] = mapped_column(JSON)


class Interrogation(Base):
    __tablename__ = "interrogations"
    id: Mapped[int] = mapped_column(primary_key=True)
    pump_id: Mapped[int] = mapped_column(ForeignKey("pumps.id"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime)
    by: Mapped[str] = mapped_column(String(64))
    status: Mapped[dict[str, Any]] = mapped_column(JSON)


class PumpEvent(Base):
    __tablename__ = "pump_events"
    __table_args__ = (UniqueConstraint("pump_id", "seq"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    pump_id: Mapped[int] = mapped_column(ForeignKey("pumps.id"), index=True)
    interrogation_id: Mapped[int | None] = mapped_column(ForeignKey("interrogations.id"))
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime | None] = mapped_column(DateTime)
    type: Mapped[str] = mapped_column(String(48))
    fields: Mapped[dict[str, Any]] = mapped_column(JSON)


class Appointment(Base):
    __tablename__ = "appointments"
    #: the worklist's bookings by kind (the next booked refill, the overdue and missed visits)
    __table_args__ = (Index("ix_appointments_status_kind_at", "status", "kind", "at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    pump_id: Mapped[int | None] = mapped_column(ForeignKey("pumps.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # screening, titration, refill, mri_check, replacement
    status: Mapped[str] = mapped_column(String(16), default="booked", index=True)  # booked, done, missed, cancelled
    at: Mapped[datetime] = mapped_column(DateTime, index=True)
    notes: Mapped[str | None] = mapped_column(Text)
    by: Mapped[str] = mapped_column(String(64))


class Assessment(Base):
    __tablename__ = "assessments"
    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime)
    kind: Mapped[str] = mapped_column(String(16))  # mas, tardieu, gmfcs, gas
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    by: Mapped[str] = mapped_column(String(64))


class ScreeningTrial(Base):
    __tablename__ = "screening_trials"
    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime)
    dose_mcg: Mapped[float] = mapped_column(Float)
    mas_before: Mapped[dict[str, Any]] = mapped_column(JSON)
    mas_after: Mapped[dict[str, Any]] = mapped_column(JSON)
    responded: Mapped[bool] = mapped_column(Boolean)
    effect_hours: Mapped[float | None] = mapped_column(Float)
    #: when the "after" scores were taken, hours after the dose (the label: watch 4-8 h)
    assessed_after_hours: Mapped[float | None] = mapped_column(Float)
    caregiver_feedback: Mapped[str | None] = mapped_column(Text)
    #: side effects seen after the dose (empty: none); they stop the escalation
    side_effects: Mapped[str | None] = mapped_column(Text)
    by: Mapped[str] = mapped_column(String(64))


class SymptomReport(Base):
    """What a family reported from home (the clinic reviews it)."""

    __tablename__ = "symptom_reports"
    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime)
    by: Mapped[str] = mapped_column(String(64))
    symptoms: Mapped[list[Any]] = mapped_column(JSON)
    note: Mapped[str | None] = mapped_column(Text)
    #: who reviewed it (called the family back), when, and what they noted; an unreviewed report
    #: (``reviewed_by`` None) is on the worklist (``review_symptom_report``)
    reviewed_by: Mapped[str | None] = mapped_column(String(64))
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime)
    review_note: Mapped[str | None] = mapped_column(Text)
    #: the triage at the time of the report: urgency (0 next visit, 1 call today, 2 emergency),
    #: concerns, reasons with their sources, the instruction shown to the family
    urgency: Mapped[int | None] = mapped_column(Integer, index=True)
    triage: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class CalendarLink(Base):
    """A family's calendar feed link: only the SHA-256 of its secret token is kept."""

    __tablename__ = "calendar_links"
    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)


class AuditEntry(Base):
    """Append-only; each entry's hash covers its content and the previous entry's hash."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    entity: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[int | None] = mapped_column(Integer)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class AuditHead(Base):
    """One row: the chain's last hash. Writers lock it, so the chain never forks."""

    __tablename__ = "audit_head"
    id: Mapped[int] = mapped_column(primary_key=True)
    last_hash: Mapped[str] = mapped_column(String(64))
    count: Mapped[int] = mapped_column(Integer, default=0)


class AuditCheckpoint(Base):
    """A signed point of the audit chain (``itb.clinic.audit_check``): after ``entry_count`` entries,
    the last one ``entry_id``, the chain value was ``chain_value``. ``mac`` is the HMAC-SHA256 of it
    all under the audit key, which is kept outside the database. The first checkpoint is the
    ``seal``: the entries up to its entry were written before the chain had a key (plain SHA-256),
    every later one is keyed; a ``verified`` checkpoint is where a verification found the chain intact."""

    __tablename__ = "audit_checkpoints"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # seal, verified
    entry_id: Mapped[int] = mapped_column(Integer)  # 0: before the first entry
    entry_count: Mapped[int] = mapped_column(Integer)
    chain_value: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime)
    mac: Mapped[str] = mapped_column(String(64))


class ClinicSettings(Base):
    """One row (``id`` 1): the clinic's settings an admin changes while it runs (the settings page).

    A null column means "the startup default holds" (the environment, ``ITB_CLINIC_DAYS`` and the
    like, or the built-in default). ``clinic_days`` is a comma list (``mon,tue,thu``), ``closed_days``
    a JSON list of ``YYYY-MM-DD`` dates. ``version`` is the optimistic-concurrency number.
    """

    __tablename__ = "clinic_settings"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200))
    day_phone: Mapped[str | None] = mapped_column(String(30))
    after_hours_phone: Mapped[str | None] = mapped_column(String(30))
    clinic_days: Mapped[str | None] = mapped_column(String(32))
    closed_days: Mapped[list[str] | None] = mapped_column(JSON)
    refill_margin_days: Mapped[int | None] = mapped_column(Integer)
    stale_margin_days: Mapped[int | None] = mapped_column(Integer)
    #: where messages go out (``itb.adapters.notify``), over ``$ITB_SMTP_URL`` and the like; a
    #: password or the webhook's secret is never stored here (the environment only)
    smtp_url: Mapped[str | None] = mapped_column(String(300))
    smtp_user: Mapped[str | None] = mapped_column(String(254))
    notify_from: Mapped[str | None] = mapped_column(String(254))
    webhook_url: Mapped[str | None] = mapped_column(String(300))
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    updated_at: Mapped[datetime] = mapped_column(DateTime)
    updated_by: Mapped[str] = mapped_column(String(64))


class Contact(Base):
    """Someone the clinic's messages reach (``itb.domain.reminders``): a caregiver of one patient
    (``patient_id``) or staff (``patient_id`` None: the on-call list, the morning digest).

    ``channels`` is a JSON list of ``email`` / ``webhook`` (SMS or push through the clinic's
    gateway, to ``phone``). ``user_id``: the login it belongs to (a caregiver edits their own).
    ``opted_out``: no message at all. ``version`` is the optimistic-concurrency number.
    """

    __tablename__ = "contacts"
    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("patients.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    relation: Mapped[str | None] = mapped_column(String(32))
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(30))
    channels: Mapped[list[str]] = mapped_column(JSON, default=list)
    language: Mapped[str] = mapped_column(String(8), default="en")
    opted_out: Mapped[bool] = mapped_column(Boolean, default=False)
    on_call: Mapped[bool] = mapped_column(Boolean, default=False)
    digest: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    #: removed from the list (kept: the outbox names it); a removed contact gets nothing
    removed_at: Mapped[datetime | None] = mapped_column(DateTime)
    updated_by: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 (SQLAlchemy's declarative form)


class OutboxMessage(Base):
    """A message to send (``itb.clinic.usecases.notify``), stored once per (rule, event, contact,
    channel): a second pass, a restart or a second server process finds it and sends nothing again.

    ``status``: ``pending`` (to send at ``next_attempt_at``; ``last_error`` says why an attempt
    failed), ``sending`` (claimed by a pass until ``claimed_until``), ``sent``, ``failed`` (given
    up after the attempts allowed) or ``suppressed`` (no longer due, ``detail`` says why).
    """

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("rule", "event", "contact_id", "channel", name="uq_outbox_once"),
        Index("ix_outbox_status_next", "status", "next_attempt_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    rule: Mapped[str] = mapped_column(String(32))
    event: Mapped[str] = mapped_column(String(160))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    address: Mapped[str] = mapped_column(String(254))
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("patients.id"), index=True)
    appointment_id: Mapped[int | None] = mapped_column(ForeignKey("appointments.id"))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    ics: Mapped[str | None] = mapped_column(Text)
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime)
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[str | None] = mapped_column(Text)


class Complication(Base):
    """A complication the clinic recorded (``itb.domain.quality.COMPLICATION_KINDS``: infection, CSF
    leak or seroma, a catheter kink, disconnection, migration or occlusion, a pump pocket problem,
    withdrawal, overdose, other): when, of which patient and pump, and who recorded it. ``refill_id``:
    the refill whose volume discrepancy it explains (the quality report's recorded cause)."""

    __tablename__ = "complications"
    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    pump_id: Mapped[int | None] = mapped_column(ForeignKey("pumps.id"), index=True)
    refill_id: Mapped[int | None] = mapped_column(ForeignKey("refills.id"))
    kind: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(DateTime, index=True)
    notes: Mapped[str | None] = mapped_column(Text)
    by: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[datetime] = mapped_column(DateTime)
