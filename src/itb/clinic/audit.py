"""The audit log: every write, who, what, when, before and after; append-only and chained under a
key kept outside the database (``itb.clinic.audit_chain``), so that changing, deleting or
reordering an entry breaks the chain after it, and no one without the key can recompute it to
hide that (:func:`itb.clinic.audit_check.verify`).

Writers lock the one-row chain head first, so two transactions never fork the chain; the first
writer with a key seals the entries written before it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import insert
from sqlalchemy.orm import Session, SessionTransaction

from itb.adapters.db.models import AuditEntry, AuditHead
from itb.clinic.audit_chain import GENESIS, AuditKeyMissing, chain_value, lock_head, seal_if_unsealed, session_key
from itb.clinic.audit_check import verify_chain

__all__ = ["GENESIS", "AuditKeyMissing", "jsonable", "record", "record_many", "verify_chain"]


def jsonable(value: Any) -> Any:
    """A value as the audit log stores it (dates as ISO text)."""
    return orjson.loads(orjson.dumps(value, default=str, option=orjson.OPT_SORT_KEYS))


#: Where a session keeps the head it locked, and the transaction (or savepoint) that holds the lock.
_HELD = "itb.audit.head"


def _head(session: Session, at: datetime) -> AuditHead:
    """The chain's head, locked for this transaction, the chain sealed first if it never was.

    Locked once per transaction: a later entry of the same transaction uses the head it holds
    (the lock lasts until the transaction ends; a savepoint rolled back releases what it took,
    so a head locked inside one is only used again within it)."""
    held = session.info.get(_HELD)
    if held is not None and _within(session, held[0]):
        return held[1]
    head = lock_head(session)
    seal_if_unsealed(session, head, at)
    session.info[_HELD] = (session.get_nested_transaction() or session.get_transaction(), head)
    return head


def _within(session: Session, holder: SessionTransaction) -> bool:
    """Whether the session's transaction now is ``holder``, or runs inside it, and it is active."""
    now = session.get_nested_transaction() or session.get_transaction()
    while now is not None:
        if now is holder:
            return bool(holder.is_active)
        now = now.parent
    return False


def _entry(key: bytes, prev_hash: str, e: dict[str, Any]) -> dict[str, Any]:
    """One entry's row, chained to ``prev_hash`` (``before`` and ``after`` already jsonable)."""
    fields = (e["at"], e["actor"], e["action"], e["entity"], e["entity_id"], e["before"], e["after"])
    return {**e, "prev_hash": prev_hash, "hash": chain_value(prev_hash, *fields, key=key)}


def record(
    session: Session,
    *,
    at: datetime,
    actor: str,
    action: str,
    entity: str,
    entity_id: int | None,
    before: dict | None = None,
    after: dict | None = None,
) -> AuditEntry:
    key = session_key(session)
    head = _head(session, at)
    fields = {"at": at, "actor": actor, "action": action, "entity": entity, "entity_id": entity_id}
    entry = AuditEntry(**_entry(key, head.last_hash, {**fields, "before": jsonable(before), "after": jsonable(after)}))
    session.add(entry)
    head.last_hash = entry.hash
    head.count += 1
    return entry


def record_many(session: Session, entries: list[dict[str, Any]]) -> None:
    """Entries (``at, actor, action, entity, entity_id, before, after``; before/after already
    jsonable) appended in their order, chained exactly as :func:`record` one by one would: one lock
    of the head, one insert statement."""
    if not entries:
        return
    key = session_key(session)
    head = _head(session, entries[0]["at"])
    rows, last = [], head.last_hash
    for e in entries:
        rows.append(_entry(key, last, e))
        last = rows[-1]["hash"]
    session.execute(insert(AuditEntry), rows)
    head.last_hash = last
    head.count += len(rows)
