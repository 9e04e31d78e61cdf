"""The audit chain's values, its signed checkpoints and its head (``itb.clinic.audit`` writes the
entries, ``itb.clinic.audit_check`` verifies them).

An entry's chain value (its ``hash`` column) is an HMAC-SHA256, under the audit key kept outside
the database (``itb.adapters.audit_key``), of the previous entry's value and the entry's own
content. Entries written before the chain had a key keep their plain SHA-256 values over the same
serialisation: the first audited write (or verification) with the key *seals* them with a
checkpoint signed with the key, which pins the last of them; the first keyed entry chains from it.
The seal is the chain's first checkpoint.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from itb.adapters.db.engine import AUDIT_KEY
from itb.adapters.db.models import AuditCheckpoint, AuditEntry, AuditHead

GENESIS = "0" * 64


class AuditKeyMissing(RuntimeError):
    """A session opened without the audit key (``session_factory(engine, audit_key)``) tried to
    write or verify the audit log."""


def session_key(session: Session) -> bytes:
    """The audit key the session was opened with."""
    key = session.info.get(AUDIT_KEY)
    if not isinstance(key, bytes) or not key:
        raise AuditKeyMissing("this database session carries no audit key: open it with session_factory(engine, key)")
    return key


def chain_value(
    prev_hash: str,
    at: datetime,
    actor: str,
    action: str,
    entity: str,
    entity_id: int | None,
    before: Any,
    after: Any,
    key: bytes | None = None,
) -> str:
    """An entry's chain value: HMAC-SHA256 under ``key``; with no key, the plain SHA-256 the entries
    before the seal were written with. The content's serialisation is the same for both."""
    body = orjson.dumps(
        [prev_hash, at.isoformat(), actor, action, entity, entity_id, before, after],
        option=orjson.OPT_SORT_KEYS,
        default=str,
    )
    return hashlib.sha256(body).hexdigest() if key is None else hmac.new(key, body, hashlib.sha256).hexdigest()


def checkpoint_mac(key: bytes, kind: str, entry_id: int, entry_count: int, value: str, at: datetime) -> str:
    """A checkpoint's signature: HMAC-SHA256 under ``key`` of all it says."""
    body = orjson.dumps([kind, entry_id, entry_count, value, at.isoformat()])
    return hmac.new(key, body, hashlib.sha256).hexdigest()


def signed(key: bytes, c: AuditCheckpoint) -> bool:
    """Whether the checkpoint's signature is the key's (compared in constant time)."""
    expected = checkpoint_mac(key, c.kind, c.entry_id, c.entry_count, c.chain_value, c.at)
    return hmac.compare_digest(expected, c.mac)


def add_checkpoint(
    session: Session, kind: str, entry_id: int, entry_count: int, value: str, at: datetime
) -> AuditCheckpoint:
    """A new checkpoint, signed with the session's key."""
    at = at.replace(tzinfo=None)  # as the column keeps it, so that the signature reads back the same
    mac = checkpoint_mac(session_key(session), kind, entry_id, entry_count, value, at)
    checkpoint = AuditCheckpoint(
        kind=kind, entry_id=entry_id, entry_count=entry_count, chain_value=value, at=at, mac=mac
    )
    session.add(checkpoint)
    session.flush()
    return checkpoint


def lock_head(session: Session) -> AuditHead:
    """The chain's head, locked for this transaction by an update of it (a row lock on PostgreSQL,
    the database's write lock on SQLite): two writers, in one process or two, take turns."""
    session.execute(
        update(AuditHead).where(AuditHead.id == 1).values(count=AuditHead.count),
        execution_options={"synchronize_session": False},
    )
    query = select(AuditHead).where(AuditHead.id == 1).with_for_update()
    head = session.execute(query.execution_options(populate_existing=True)).scalar_one_or_none()
    if head is None:  # a database made without the migrations (0011 makes the row)
        head = AuditHead(id=1, last_hash=GENESIS, count=0)
        session.add(head)
        session.flush()
    return head


def seal_if_unsealed(session: Session, head: AuditHead, at: datetime) -> None:
    """With the head locked: if the chain has no checkpoint yet, seal the entries it holds (written
    before the key, or none) with a signed checkpoint at its last entry."""
    if session.execute(select(AuditCheckpoint.id).limit(1)).first() is not None:
        return
    last = 0
    if head.count:
        last = session.execute(select(AuditEntry.id).where(AuditEntry.hash == head.last_hash)).scalar() or 0
    add_checkpoint(session, "seal", last, head.count, head.last_hash, at)
