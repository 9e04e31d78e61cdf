"""The programmer's own record of every change it sent, and what became of it.

Each change is recorded *before* it is sent (status ``pending``), with the idempotency key the
pump will log it under. Afterwards it is ``applied`` or ``not_applied`` (known from the pump's
answer or its log), ``refused`` (the pump said why), or ``uncertain`` (the link failed and the
log could not be read yet: reconcile at the next session, see
:func:`itb.programmer.workflows.reconcile_record`). The record must always agree with the
pump's log; the fault campaign in the tests holds it to that.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    PENDING = "pending"
    APPLIED = "applied"
    NOT_APPLIED = "not_applied"
    REFUSED = "refused"
    UNCERTAIN = "uncertain"


@dataclass
class Entry:
    key: str
    command: str  # "program", "refill", "bolus_start", ...
    summary: dict[str, Any]
    status: Status = Status.PENDING
    detail: str = ""
    #: the pump log's sequence number of the event that proves it applied
    pump_seq: int | None = None
    attempts: int = 0

    def json(self) -> dict:
        out = asdict(self)
        out["status"] = str(self.status)
        return out


@dataclass
class ProgrammerRecord:
    entries: list[Entry] = field(default_factory=list)

    def add(self, key: str, command: str, **summary: Any) -> Entry:
        entry = Entry(key, command, summary)
        self.entries.append(entry)
        return entry

    def unresolved(self) -> list[Entry]:
        return [e for e in self.entries if e.status in (Status.PENDING, Status.UNCERTAIN)]

    def json(self) -> list[dict]:
        return [e.json() for e in self.entries]
