"""Verifying the audit chain (``itb.clinic.audit_chain``): from the latest signed checkpoint on,
reading only the entries written since (the default), or whole (``full``). A verification that
finds the chain intact signs a new checkpoint at its last entry, where the next one starts.

Each finding names the entry or the checkpoint and what failed:

- an entry does not follow the one before it (its ``prev_hash`` is not that one's value): an
  entry before it was deleted, inserted or moved;
- an entry's content does not match its chain value (an HMAC under the key after the seal, a
  SHA-256 before it): it was changed, or rewritten by someone without the key;
- the chain does not end at its head (the count and last value every writer updates): entries
  are missing at its end;
- a checkpoint's signature is not the key's: it was forged, or the key is not this clinic's;
- a checkpoint's entry no longer has the value the checkpoint pinned: the entries up to it were
  rewritten (a full verification names which), or it was deleted;
- the first checkpoint is not the seal: the seal was deleted.

An incremental verification also re-reads the seal's entry and the one its checkpoint pinned; a
change to an older entry that leaves its value in place is found by a full verification.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from itb.adapters.db.models import AuditCheckpoint, AuditEntry, AuditHead
from itb.clinic.audit_chain import (
    GENESIS,
    add_checkpoint,
    chain_value,
    lock_head,
    seal_if_unsealed,
    session_key,
    signed,
)

#: the findings one verification reports (the rest are counted in ``more_problems``)
MAX_PROBLEMS = 100
#: how many of the latest checkpoints are tried for a signed one to start from
LOOKBACK = 50
#: a walk longer than this many entries reads them in batches of it, not all at once
_STREAM_FROM = 2000
_COLUMNS = (
    AuditEntry.id,
    AuditEntry.at,
    AuditEntry.actor,
    AuditEntry.action,
    AuditEntry.entity,
    AuditEntry.entity_id,
    AuditEntry.before,
    AuditEntry.after,
    AuditEntry.prev_hash,
    AuditEntry.hash,
)


@dataclass(frozen=True)
class Problem:
    """One finding: what failed, and the entry or checkpoint it is about."""

    what: str
    entry_id: int | None = None
    checkpoint_id: int | None = None


@dataclass(frozen=True)
class Verification:
    full: bool
    #: the entries this verification read after its starting point
    checked: int
    #: the entries after this one were checked (0: from the first)
    from_entry_id: int
    #: the last entry checked (``from_entry_id`` when there was none new)
    last_entry_id: int
    #: the chain's length, as its head counts it
    entries: int
    #: entries up to this one were written before the key (plain SHA-256); None: not sealed yet
    sealed_at_entry_id: int | None
    sealed_at: datetime | None
    problems: tuple[Problem, ...]
    #: findings beyond the ``MAX_PROBLEMS`` listed
    more_problems: int
    #: the checkpoint this verification signed (None: nothing new, not intact, or not saved)
    checkpoint_id: int | None

    @property
    def intact(self) -> bool:
        return not self.problems

    def messages(self) -> list[str]:
        more = [f"audit log: {self.more_problems} more problems"] if self.more_problems else []
        return [p.what for p in self.problems] + more


@dataclass(frozen=True)
class _Point:
    """A place in the chain: after ``count`` entries, the last one ``entry_id`` with value ``value``."""

    entry_id: int
    count: int
    value: str
    checkpoint: AuditCheckpoint | None = None


_START = _Point(0, 0, GENESIS)


def verify(
    session: Session, *, full: bool = False, save: bool = True, at: datetime | None = None, sign_after: int = 1
) -> Verification:
    """The chain verified from its latest signed checkpoint (``full``: from its first entry).
    ``save``: seal an unsealed chain first and, if intact, sign a checkpoint at ``at`` where it
    ended once ``sign_after`` entries or more were read since the last one (always after a full
    verification); the caller commits. A stored value the columns cannot read is a finding, not an error."""
    check = _Check(session, session_key(session))
    try:
        return check.run(full, sign_after if save else 0, at or datetime.now())
    except (ValueError, TypeError) as exc:  # e.g. text that is not a date, stored behind the service's back
        what = f"audit entry after {check.reached}: cannot be read ({type(exc).__name__}: {exc})"
        check.found(what, check.reached or None)
        return check.result(full, _START, _START, None, None)


def verify_chain(session: Session) -> list[str]:
    """Every break in the whole chain, as text (an empty list when intact); nothing is written."""
    return verify(session, full=True, save=False).messages()


def check_entries(session: Session, entries: Sequence[Any]) -> list[Problem]:
    """The entries of one page (consecutive, the latest first): each one's value, and each one's
    link to the one before it on the page."""
    check = _Check(session, session_key(session))
    check.read_seal()
    for newer, older in pairwise(entries):
        if newer.prev_hash != older.hash:
            check.unlinked(newer.id)
    for e in entries:
        if check.value_of(e) != e.hash:
            check.changed(e.id)
    return list(check.problems)


class _Check:
    """One verification: what it has found, the seal, how far it got."""

    def __init__(self, session: Session, key: bytes) -> None:
        self.s, self.key = session, key
        self.problems: list[Problem] = []
        self.more = 0
        self.seal: AuditCheckpoint | None = None
        #: entries up to this id were written before the key (infinite: the chain was never sealed)
        self.boundary: float = 0
        self.checked = 0
        self.reached = 0  # the last entry read

    def found(self, what: str, entry_id: int | None = None, checkpoint_id: int | None = None) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(Problem(what, entry_id, checkpoint_id))
        else:
            self.more += 1

    def unlinked(self, entry_id: int) -> None:
        self.found(f"audit entry {entry_id}: does not follow the entry before it (deleted or reordered)", entry_id)

    def changed(self, entry_id: int) -> None:
        what = "its content does not match its chain value (changed, or rewritten without the audit key)"
        self.found(f"audit entry {entry_id}: {what}", entry_id)

    def forged(self, c: AuditCheckpoint) -> None:
        what = "its signature is not the audit key's (forged, or this is not the clinic's audit key)"
        self.found(f"audit checkpoint {c.id}{' (the seal)' if c.kind == 'seal' else ''}: {what}", checkpoint_id=c.id)

    def value_of(self, e: Any) -> str:
        key = None if e.id <= self.boundary else self.key
        return chain_value(e.prev_hash, e.at, e.actor, e.action, e.entity, e.entity_id, e.before, e.after, key=key)

    # ------------------------------------------------------------------ the checkpoints
    def read_seal(self) -> None:
        """The seal, the first checkpoint: the entries up to its entry are unkeyed."""
        first = self.s.execute(select(AuditCheckpoint).order_by(AuditCheckpoint.id).limit(1)).scalar_one_or_none()
        if first is None:
            self.boundary = math.inf  # never sealed: every entry was written before the key
        elif first.kind != "seal":
            what = "the chain's seal is missing (deleted): the first checkpoint is not it"
            self.found(f"audit checkpoint {first.id}: {what}", checkpoint_id=first.id)
        else:
            self.seal, self.boundary = first, first.entry_id
            if not signed(self.key, first):
                self.forged(first)

    def latest_signed(self) -> _Point:
        """The latest verified checkpoint signed with the key (the chain's start if none)."""
        q = select(AuditCheckpoint).where(AuditCheckpoint.kind == "verified").order_by(AuditCheckpoint.id.desc())
        for c in self.s.execute(q.limit(LOOKBACK)).scalars():
            if signed(self.key, c):
                return _Point(c.entry_id, c.entry_count, c.chain_value, c)
            self.forged(c)
        return _START

    def all_signed(self) -> dict[int, list[AuditCheckpoint]]:
        """Every checkpoint signed with the key, by the entry it pins (the others are findings)."""
        pins: dict[int, list[AuditCheckpoint]] = defaultdict(list)
        for c in self.s.execute(select(AuditCheckpoint).order_by(AuditCheckpoint.id)).scalars():
            if not signed(self.key, c):
                self.forged(c)
            elif c.kind == "seal" and c is not self.seal:
                self.found(f"audit checkpoint {c.id}: a second seal (the chain was sealed again)", checkpoint_id=c.id)
            else:
                pins[c.entry_id].append(c)
        return pins

    def pinned(self, c: AuditCheckpoint, value: str, count: int) -> None:
        """The checkpoint's entry, reached after ``count`` entries, has value ``value``: as it pinned?"""
        if value != c.chain_value or count != c.entry_count:
            what = f"no longer what checkpoint {c.id} pinned (it or an entry before it was rewritten)"
            self.found(f"audit entry {c.entry_id}: {what}", c.entry_id, c.id)

    def missing(self, c: AuditCheckpoint) -> None:
        self.found(f"audit entry {c.entry_id}: missing (deleted); checkpoint {c.id} pinned it", c.entry_id, c.id)

    def anchor(self, c: AuditCheckpoint) -> None:
        """The checkpoint's entry, read again: there, valued right, as it pinned."""
        if c.entry_id == 0:
            self.pinned(c, GENESIS, 0)
            return
        row = self.s.execute(select(*_COLUMNS).where(AuditEntry.id == c.entry_id)).first()
        if row is None:
            self.missing(c)
            return
        if self.value_of(row) != row.hash:
            self.changed(row.id)
        if row.hash != c.chain_value:
            self.pinned(c, row.hash, c.entry_count)

    # ------------------------------------------------------------------ the entries
    def walk(self, start: _Point, head: AuditHead | None, pins: dict[int, list[AuditCheckpoint]]) -> _Point:
        """The entries after ``start``, as many as the head counts: each linked and valued right.
        Entries written after the head was read are left to the next verification."""
        expected = (head.count if head else 0) - start.count
        q = select(*_COLUMNS).where(AuditEntry.id > start.entry_id).order_by(AuditEntry.id).limit(max(expected, 0))
        prev, count = start.value, start.count
        self.reached = start.entry_id
        if expected > _STREAM_FROM:  # a long walk streams (PostgreSQL: a server-side cursor, a few round trips more)
            q = q.execution_options(yield_per=_STREAM_FROM)
        for row in self.s.execute(q):
            if row.prev_hash != prev:
                self.unlinked(row.id)
            if self.value_of(row) != row.hash:
                self.changed(row.id)
            prev, count, self.reached = row.hash, count + 1, row.id
            self.checked += 1
            for c in pins.pop(row.id, ()):
                self.pinned(c, row.hash, count)
        return _Point(self.reached, count, prev)

    def end(self, reached: _Point, head: AuditHead | None, pins: dict[int, list[AuditCheckpoint]]) -> None:
        """The chain ends at its head; every checkpoint's entry was met on the way."""
        count, last = (head.count, head.last_hash) if head else (0, GENESIS)
        if reached.count != count:
            self.found("audit log: entries are missing at its end")
        elif reached.value != last:
            self.found("audit log: its last entry is not the chain's head (entries replaced at its end)")
        for entry_id, cps in sorted(pins.items()):
            for c in cps:
                if entry_id == 0:
                    self.pinned(c, GENESIS, 0)
                else:
                    self.missing(c)

    # ------------------------------------------------------------------ one verification
    def run(self, full: bool, sign_after: int, at: datetime) -> Verification:
        """``sign_after``: 0, write nothing; else seal if unsealed and sign after that many new entries."""
        if sign_after and self.s.execute(select(AuditCheckpoint.id).limit(1)).first() is None:
            seal_if_unsealed(self.s, lock_head(self.s), at)
        self.read_seal()
        head = self.s.get(AuditHead, 1)  # before the entries: those written after it wait for the next time
        if full:
            pins, start = self.all_signed(), _START
        else:
            pins, start = {}, self.latest_signed()
            for c in {id(c): c for c in (self.seal, start.checkpoint) if c is not None}.values():
                self.anchor(c)
        reached = self.walk(start, head, pins)
        self.end(reached, head, pins)
        signs = sign_after and not self.problems and (full or self.checked >= sign_after)
        saved = self.save(reached, at) if signs else None
        return self.result(full, start, reached, head, saved)

    def save(self, reached: _Point, at: datetime) -> int | None:
        """A checkpoint signed at ``reached``, unless a verified one already pins it (the seal does
        not count: an incremental verification starts from the latest verified checkpoint)."""
        q = select(AuditCheckpoint).where(
            AuditCheckpoint.entry_id == reached.entry_id, AuditCheckpoint.kind == "verified"
        )
        if reached.count == 0 or any(signed(self.key, c) for c in self.s.execute(q).scalars()):
            return None
        return add_checkpoint(self.s, "verified", reached.entry_id, reached.count, reached.value, at).id

    def result(
        self, full: bool, start: _Point, reached: _Point, head: AuditHead | None, saved: int | None
    ) -> Verification:
        return Verification(
            full=full,
            checked=self.checked,
            from_entry_id=start.entry_id,
            last_entry_id=reached.entry_id,
            entries=head.count if head else 0,
            sealed_at_entry_id=None if self.seal is None else self.seal.entry_id,
            sealed_at=None if self.seal is None else self.seal.at,
            problems=tuple(self.problems),
            more_problems=self.more,
            checkpoint_id=saved,
        )
