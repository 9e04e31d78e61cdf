"""The outbox as the pages and the API show it: the messages (newest first), what could not be
sent (the worklist's banner), and the messages about one patient (the patient's contacts page).

Plain data, each read in one session of its own, as :mod:`itb.clinic.views`. The outbox is the
staff's (admin, clinician, nurse); a caregiver reads the messages to their own child's contacts
only (another child: "not found", as ``clinic.patient`` says), without the channel's error text,
and never those to the staff about their child (the on-call alerts name the staff's addresses).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select

from itb.adapters.db.models import Contact, OutboxMessage, Patient
from itb.clinic.services import Actor, Clinic, Forbidden
from itb.domain.errors import InvalidInput, Violation

#: what becomes of a message (``itb.clinic.usecases.notify``), in the order a message goes through them
OUTBOX_STATUSES = ("pending", "sending", "sent", "failed", "suppressed")
#: the filter of the messages that could not be sent: given up (``failed``), or waiting after a failed attempt
PROBLEMS = "problems"
#: rows of one page at most, and by default
PAGE_MAX = 500
PAGE_DEFAULT = 100
STAFF = ("admin", "clinician", "nurse")


@dataclass(frozen=True)
class OutboxRow:
    """One message: to whom (the contact, the channel, the address), about whom, and what became of it."""

    id: int
    patient_id: int | None
    patient_name: str | None
    contact_id: int
    contact_name: str
    rule: str
    channel: str
    address: str
    subject: str
    urgent: bool
    status: str
    attempts: int
    next_attempt_at: datetime
    #: why the last attempt failed (None: none failed, or not shown to a caregiver)
    last_error: str | None
    #: why it was suppressed or deferred
    detail: str | None
    sent_at: datetime | None
    created_at: datetime

    @property
    def could_not_be_sent(self) -> bool:
        return self.status == "failed" or (self.status == "pending" and self.last_error is not None)


@dataclass(frozen=True)
class OutboxPage:
    """Up to ``limit`` messages before ``before_id``, the newest first; ``counts``: every status's
    messages in the whole outbox (0 included); ``next_before_id``: the next page's (None: no more)."""

    rows: list[OutboxRow]
    counts: dict[str, int]
    status: str | None
    next_before_id: int | None


@dataclass(frozen=True)
class OutboxProblems:
    """The messages that could not be sent: given up after every attempt (``failed``), and waiting
    to be tried again after a failed attempt (``erroring``: pending with an error)."""

    failed: int
    erroring: int

    @property
    def total(self) -> int:
        return self.failed + self.erroring


def _staff_only(actor: Actor) -> None:
    if actor.role not in STAFF:
        raise Forbidden("the outbox is for the clinic's staff")


def _rows() -> Select[Any]:
    o = OutboxMessage
    return (
        select(o, Contact.name, Patient.name)
        .join(Contact, Contact.id == o.contact_id)
        .outerjoin(Patient, Patient.id == o.patient_id)
        .order_by(o.id.desc())
    )


def _row(o: OutboxMessage, contact_name: str, patient_name: str | None, *, errors: bool = True) -> OutboxRow:
    return OutboxRow(
        id=o.id, patient_id=o.patient_id, patient_name=patient_name, contact_id=o.contact_id,
        contact_name=contact_name, rule=o.rule, channel=o.channel, address=o.address, subject=o.subject,
        urgent=bool(o.urgent), status=o.status, attempts=o.attempts, next_attempt_at=o.next_attempt_at,
        last_error=o.last_error if errors else None, detail=o.detail, sent_at=o.sent_at, created_at=o.created_at,
    )  # fmt: skip


def _could_not_be_sent() -> Any:
    o = OutboxMessage
    return (o.status == "failed") | ((o.status == "pending") & o.last_error.is_not(None))


def _status_filter(status: str | None) -> Any:
    if status is None or status == "":
        return None
    if status == PROBLEMS:
        return _could_not_be_sent()
    if status not in OUTBOX_STATUSES:
        allowed = ", ".join((*OUTBOX_STATUSES, PROBLEMS))
        raise InvalidInput([Violation("status", f"must be one of {allowed}, got {status!r}")])
    return OutboxMessage.status == status


def outbox_page(
    clinic: Clinic, actor: Actor, *, status: str | None = None, limit: int = PAGE_DEFAULT, before_id: int | None = None
) -> OutboxPage:
    """The outbox, the newest first (staff only): ``status`` one of :data:`OUTBOX_STATUSES`, or
    :data:`PROBLEMS` (failed, or pending after a failed attempt); ``limit`` 1-:data:`PAGE_MAX`."""
    _staff_only(actor)
    where = _status_filter(status)
    limit = max(1, min(limit, PAGE_MAX))
    query = _rows().limit(limit + 1)
    if where is not None:
        query = query.where(where)
    if before_id:
        query = query.where(OutboxMessage.id < before_id)
    with clinic.sessions() as s:
        found = [_row(o, contact, patient) for o, contact, patient in s.execute(query)]
        counted = s.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status))
        stored = {name: int(n) for name, n in counted}
    counts = {name: stored.get(name, 0) for name in OUTBOX_STATUSES}
    more = len(found) > limit
    rows = found[:limit]
    return OutboxPage(rows, counts, status or None, rows[-1].id if more else None)


def outbox_problems(clinic: Clinic, actor: Actor) -> OutboxProblems:
    """How many messages could not be sent (staff only): the worklist's banner."""
    _staff_only(actor)
    o = OutboxMessage
    query = select(o.status, func.count()).where(_could_not_be_sent()).group_by(o.status)
    with clinic.sessions() as s:
        counts = {name: int(n) for name, n in s.execute(query)}
    return OutboxProblems(failed=counts.get("failed", 0), erroring=counts.get("pending", 0))


def patient_messages(clinic: Clinic, actor: Actor, patient_id: int, limit: int = PAGE_DEFAULT) -> list[OutboxRow]:
    """The messages about one patient, the newest first: for the staff every one (to the family and
    to the staff), for a caregiver those to their own child's contacts, without the error text."""
    family = actor.role not in STAFF
    query = _rows().where(OutboxMessage.patient_id == patient_id).limit(max(1, min(limit, PAGE_MAX)))
    if family:
        query = query.where(Contact.patient_id == patient_id)
    with clinic.sessions() as s:
        clinic.patient(s, actor, patient_id)  # a caregiver: their own child only (else NotFound)
        return [_row(o, contact, patient, errors=not family) for o, contact, patient in s.execute(query)]


# The contacts the pages list are handed as records (``clinic.contacts``): named here for the
# interfaces' annotations, which do not import the database adapters themselves.
__all__ = [
    "OUTBOX_STATUSES",
    "PAGE_DEFAULT",
    "PAGE_MAX",
    "PROBLEMS",
    "Contact",
    "OutboxMessage",
    "OutboxPage",
    "OutboxProblems",
    "OutboxRow",
    "outbox_page",
    "outbox_problems",
    "patient_messages",
]
