"""One writer per pump across every server process: the :class:`~itb.clinic.ports.PumpLocks` port.

- PostgreSQL: a session-level advisory lock on a connection of its own, keyed by the schema and
  the clinic's pump id; it survives the commits made while it is held, and the database releases
  it when the holder's connection ends (a killed server process holds nothing).
- SQLite (one machine): an exclusive ``flock`` on a file per pump id beside the database; the
  kernel releases it when the holder's process ends.

Within one process the requests for a pump queue on a thread lock first, so at most one of
them waits on the database (and holds a connection) at a time. A request that cannot have the
pump within ``wait_s`` gets :class:`~itb.clinic.ports.Busy` (HTTP 409), never a half-applied change.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from sqlalchemy import Engine, text

from itb.clinic.ports import Busy

#: How long a request waits for a pump another request holds, by default (seconds).
DEFAULT_WAIT_S = 10.0
#: Pause between tries while waiting (seconds).
RETRY_S = 0.02
_TRY_LOCK = text("SELECT pg_try_advisory_lock(hashtext(current_schema()), :id)")
_UNLOCK = text("SELECT pg_advisory_unlock(hashtext(current_schema()), :id)")


class DatabasePumpLocks:
    def __init__(self, engine: Engine, lock_dir: Path, wait_s: float = DEFAULT_WAIT_S) -> None:
        self.engine = engine
        self.lock_dir = lock_dir
        self.wait_s = wait_s
        self._local: dict[int, threading.Lock] = {}
        self._guard = threading.Lock()

    def hold(self, pump_id: int, wait_s: float | None = None) -> AbstractContextManager[None]:
        return self._held(pump_id, self.wait_s if wait_s is None else wait_s)

    @contextmanager
    def _held(self, pump_id: int, wait_s: float) -> Iterator[None]:
        """The process's own lock first, so one request per process at most waits on the database
        (waiting requests would otherwise take every pooled connection from the one holding it)."""
        deadline = time.monotonic() + wait_s
        with self._guard:
            local = self._local.setdefault(pump_id, threading.Lock())
        got = local.acquire(timeout=wait_s) if wait_s > 0 else local.acquire(blocking=False)
        if not got:
            raise Busy(f"pump {pump_id} is busy with another request: try again")
        try:
            remaining = max(0.0, deadline - time.monotonic())
            across = self._advisory if self.engine.dialect.name == "postgresql" else self._flock
            with across(pump_id, remaining):
                yield
        finally:
            local.release()

    @contextmanager
    def _advisory(self, pump_id: int, wait_s: float) -> Iterator[None]:
        key = {"id": pump_id}
        connection = self.engine.connect()
        try:
            deadline = time.monotonic() + wait_s
            while not connection.execute(_TRY_LOCK, key).scalar_one():
                connection.commit()
                if time.monotonic() >= deadline:
                    raise Busy(f"pump {pump_id} is busy with another request: try again")
                time.sleep(RETRY_S)
            connection.commit()
        except BaseException:
            connection.close()
            raise
        try:
            yield
        finally:
            try:
                connection.execute(_UNLOCK, key)
                connection.commit()
            except Exception:
                connection.invalidate()  # the lock dies with the connection
            connection.close()

    @contextmanager
    def _flock(self, pump_id: int, wait_s: float) -> Iterator[None]:
        self.lock_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_dir / f"pump-{int(pump_id)}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            deadline = time.monotonic() + wait_s
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise Busy(f"pump {pump_id} is busy with another request: try again") from None
                    time.sleep(RETRY_S)
            yield
        finally:
            os.close(fd)  # releases the lock
