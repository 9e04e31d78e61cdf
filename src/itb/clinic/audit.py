"""The audit log: every write, who, what, when, before and after; append-only and hash-chained.

Each entry's hash is SHA-256 over the previous entry's hash and the entry's own content, so
changing, deleting or reordering any entry breaks every hash after it (:func:`verify_chain`).
Writers lock the one-row chain head first, so two transactions can never fork the chain.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from itb.adapters.db.models import AuditEntry, AuditHead

GENESIS = "0" * 64


def _digest(
    prev_hash: str, at: datetime, actor: str, action: str, entity: str, entity_id: int | None, before: Any, after: Any
) -> str:
    body = orjson.dumps(
        [prev_hash, at.isoformat(), actor, action, entity, entity_id, before, after],
        option=orjson.OPT_SORT_KEYS,
        default=str,
    )
    return hashlib.sha256(body).hexdigest()


def jsonable(value: Any) -> Any:
    """A value as the audit log stores it (dates as ISO text)."""
    return orjson.loads(orjson.dumps(value, default=str, option=orjson.OPT_SORT_KEYS))


def _head(session: Session) -> AuditHead:
    """The chain's head, locked for this transaction (created at the first entry)."""
    head = session.execute(select(AuditHead).where(AuditHead.id == 1).with_for_update()).scalar_one_or_none()
    if head is None:
        head = AuditHead(id=1, last_hash=GENESIS, count=0)
        session.add(head)
        session.flush()
    return head


def _entry(prev_hash: str, e: dict[str, Any]) -> dict[str, Any]:
    """One entry's row, chained to ``prev_hash`` (``before`` and ``after`` already jsonable)."""
    digest = _digest(prev_hash, e["at"], e["actor"], e["action"], e["entity"], e["entity_id"], e["before"], e["after"])
    return {**e, "prev_hash": prev_hash, "hash": digest}


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
    head = _head(session)
    fields = {"at": at, "actor": actor, "action": action, "entity": entity, "entity_id": entity_id}
    entry = AuditEntry(**_entry(head.last_hash, {**fields, "before": jsonable(before), "after": jsonable(after)}))
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
    head = _head(session)
    rows, last = [], head.last_hash
    for e in entries:
        rows.append(_entry(last, e))
        last = rows[-1]["hash"]
    session.execute(insert(AuditEntry), rows)
    head.last_hash = last
    head.count += len(rows)


def verify_chain(session: Session) -> list[str]:
    """Every break in the chain (an empty list when intact)."""
    problems = []
    prev = GENESIS
    count = 0
    for e in session.execute(select(AuditEntry).order_by(AuditEntry.id)).scalars():
        count += 1
        if e.prev_hash != prev:
            problems.append(f"audit entry {e.id}: does not follow the entry before it (deleted or reordered)")
        if _digest(e.prev_hash, e.at, e.actor, e.action, e.entity, e.entity_id, e.before, e.after) != e.hash:
            problems.append(f"audit entry {e.id}: its content does not match its hash (changed)")
        prev = e.hash
    head = session.get(AuditHead, 1)
    if head is not None and (head.last_hash != prev or head.count != count):
        problems.append("audit log: entries are missing at its end")
    return problems
