"""What the clinic needs from the world outside it: pumps, and one writer per pump.

The use cases talk to a pump only through a :class:`PumpGateway`. Reading a pump gives a typed
:class:`~itb.domain.reading.PumpReading`; a change is a :class:`PumpChange` sent under its own
idempotency key, and its fate is settled from the pump's log (``settle``), never guessed. The
adapter (``itb.adapters.pumps.telemetry``) speaks the telemetry protocol to a virtual pump. A pump
the clinic cannot talk to (``connection == "vendor"``: programmed on the vendor's own programmer)
never reaches the gateway: what the nurse records of each session on that programmer is its
reading (``itb.clinic.usecases.sessions``), and every use case that would talk to it refuses it
by name.

:class:`PumpLocks` gives one writer per pump across every server process (a database lock), held
while the pump is talked to, so two processes are as safe as one.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from itb.domain.program import DosingProgram
from itb.domain.reading import PumpReading


class ChangeStatus(StrEnum):
    """What became of a change (the programmer record's vocabulary)."""

    PENDING = "pending"  # recorded, not (yet) known to have reached the pump
    APPLIED = "applied"  # the pump's log holds it under its key
    NOT_APPLIED = "not_applied"  # the pump's log was read and does not hold it
    REFUSED = "refused"  # the pump answered no, and said why
    UNCERTAIN = "uncertain"  # sent, no answer, and the log could not be read: settle later
    UNRECORDED = "unrecorded"  # found in the pump's log with a key the clinic never recorded


#: The log event that proves each kind of change applied (logged under the change's key).
PROOF = {"program": "program_changed", "refill": "refill", "bolus": "bolus_started"}


@dataclass(frozen=True)
class PumpChange:
    """One change to a pump: ``command`` with ``fields``, under idempotency ``key``.

    - ``program``: ``program`` (a DosingProgram) and ``base_version`` (the version it replaces);
    - ``refill``: ``withdrawn_ml``, ``added_ml``, ``concentration_mcg_per_ml``;
    - ``bolus``: ``dose_mcg``, ``duration_minutes``, ``kind`` (single, bridge, priming).
    """

    key: str
    command: str
    fields: dict[str, Any]
    program: DosingProgram | None = None
    #: the pump's log size when the change was planned: its proof can only come after
    log_since: int = 0

    @property
    def proof(self) -> str:
        return PROOF[self.command]


@dataclass(frozen=True)
class ChangeResult:
    status: ChangeStatus
    detail: str = ""
    #: the pump log's sequence number of the event that proves it applied
    pump_seq: int | None = None


@dataclass(frozen=True)
class VirtualPumpSetup:
    """A new pump as it leaves the operating room (what a virtual pump starts from)."""

    model: str
    capacity_ml: float
    implanted_at: datetime
    start: datetime
    reservoir_ml: float
    concentration_mcg_per_ml: float
    program: DosingProgram
    catheter_volume_ml: float
    catheter_length_cm: float
    low_reservoir_alarm_ml: float
    patient_ref: str
    origin: str
    age_years: float
    flow_error: float = 0.0


class PumpConnection(Protocol):
    """One session with one pump (a wand on the skin): read it, send changes to it."""

    def read(self) -> PumpReading:
        """The pump's answer now; :class:`PumpUnreachable` when it cannot be read."""
        ...

    def send(self, change: PumpChange) -> ChangeResult: ...


class PumpGateway(Protocol):
    """Every pump the clinic knows, by the clinic's own pump id (never by a serial or other typed text)."""

    def check(self, setup: VirtualPumpSetup) -> None:
        """Refuse (InvalidInput) a setup the pump cannot start from, writing nothing."""
        ...

    def create(self, pump_id: int, setup: VirtualPumpSetup) -> None: ...

    def exists(self, pump_id: int) -> bool: ...

    def connect(self, pump_id: int) -> AbstractContextManager[PumpConnection]: ...


class PumpUnreachable(Exception):
    """The pump could not be read (out of the wand's reach, a broken link): nothing is known of it now."""


class Busy(Exception):
    """Another request holds this pump (in this or another server process)."""


class PumpLocks(Protocol):
    """One writer per pump across processes, held for as long as the pump is talked to."""

    def hold(self, pump_id: int, wait_s: float | None = None) -> AbstractContextManager[None]: ...


# ---------------------------------------------------------------------------- messages out
@dataclass(frozen=True)
class Outgoing:
    """One message of the outbox, as a channel sends it (``itb.clinic.usecases.notify``).

    ``message_id`` is the outbox row's own (``<itb-outbox-<id>@itb>``): sent again after a crash
    mid-send, the receiver sees the same id. ``ics``: the visit it is about, as an iCalendar file.
    """

    message_id: str
    channel: str  # email, webhook
    address: str  # an email address; for the webhook the contact's phone (or address)
    recipient_name: str
    subject: str
    body: str
    rule: str
    event: str
    ics: bytes | None = None


class SendFailed(Exception):
    """The channel did not take the message (refused, unreachable, not configured): try again later."""


class Sender(Protocol):
    """A channel: takes a message or raises :class:`SendFailed` saying why."""

    def send(self, message: Outgoing) -> None: ...
