"""The programmer's end of the radio link: sessions opened on demand, the pump's commands typed.

A :class:`PumpLink` holds at most one telemetry session. A request whose fate is unknown (sent,
never answered) raises :class:`~itb.telemetry.session.UncertainOutcome`; the session is then
dropped, because the wand may have slipped, and the next request opens a new one. Callers
reconcile an uncertain change by reading the pump's log, never by guessing.
"""

from __future__ import annotations

import contextlib
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import orjson

from itb.contracts.forecast import parse_program, program_json
from itb.domain.errors import Violation
from itb.domain.program import DosingProgram
from itb.telemetry.session import ClientSession, UncertainOutcome
from itb.telemetry.transport import Transport


def new_key() -> str:
    """A fresh idempotency key for one change (the same key is used for every retry of it)."""
    return uuid.uuid4().hex


class PumpDataError(Exception):
    """The pump's answer does not make sense (e.g. a program read back with a bad CRC)."""


@dataclass(frozen=True, slots=True)
class ProgramBlock:
    version: int
    program: DosingProgram
    text: bytes


class PumpLink:
    """Requests to one pump; ``connect`` makes a new transport (a new radio connection)."""

    def __init__(self, connect: Callable[[], Transport], *, timeout_s: float = 0.25, max_attempts: int = 6) -> None:
        self.connect = connect
        self.timeout_s = timeout_s
        self.max_attempts = max_attempts
        self._session: ClientSession | None = None
        self._transport: Transport | None = None

    # ------------------------------------------------------------------ sessions
    def session(self) -> ClientSession:
        if self._session is None:
            transport = self.connect()
            session = ClientSession(transport, timeout_s=self.timeout_s, max_attempts=self.max_attempts)
            try:
                session.open()
            except BaseException:
                transport.close()
                raise
            self._transport, self._session = transport, session
        return self._session

    def drop(self) -> None:
        """Forget the current session (after an uncertain request, or when done)."""
        session, transport = self._session, self._transport
        self._session = self._transport = None
        if session is not None:
            with contextlib.suppress(Exception):  # best effort: the link may be gone
                session.close()
        if transport is not None:
            transport.close()

    close = drop

    def request(self, payload: dict) -> dict:
        try:
            return self.session().request(payload)
        except UncertainOutcome:
            self.drop()
            raise

    # ------------------------------------------------------------------ reading
    def interrogate(self) -> dict:
        return self.request({"cmd": "interrogate"})

    def read_program(self) -> ProgramBlock:
        """The program the pump runs, read in chunks and checked against its CRC."""
        chunks: list[str] = []
        offset, size, version, crc = 0, None, None, None
        while size is None or offset < size:
            answer = self.request({"cmd": "program_read", "offset": offset})
            if version is not None and answer["version"] != version:
                chunks, offset, size = [], 0, None  # it changed while we read: start again
                version = None
                continue
            version, size, crc = answer["version"], answer["size"], answer["crc32"]
            chunks.append(answer["data"])
            offset += len(answer["data"].encode())
            if not answer["data"] and offset < size:
                raise PumpDataError("the pump sent an empty chunk before the end of its program")
        text = "".join(chunks).encode()
        if zlib.crc32(text) != crc:
            raise PumpDataError("the program read back does not match the pump's CRC-32")
        errs: list[Violation] = []
        program = parse_program(orjson.loads(text), "program", errs)
        if errs:
            raise PumpDataError(f"the pump's program does not parse: {'; '.join(map(str, errs))}")
        return ProgramBlock(version, program, text)  # type: ignore[arg-type]

    def read_log(self, since: int = 0) -> list[dict]:
        """Every event of the pump's log after sequence number ``since``, oldest first."""
        events: list[dict] = []
        while True:
            answer = self.request({"cmd": "log", "since": since})
            events.extend(answer["events"])
            since = answer["next"]
            if not answer["events"] or since >= answer["size"]:
                return events

    # ------------------------------------------------------------------ changing
    def send_program(self, program: DosingProgram, base_version: int, key: str) -> dict:
        """Announce, send and commit ``program`` as one block in one session.

        Raises UncertainOutcome if any request went unanswered: before the commit the block is
        lost with the session (nothing applied); at the commit it may have been applied.
        """
        text = orjson.dumps(program_json(program), option=orjson.OPT_SORT_KEYS)
        session = self.session()
        try:
            begun = session.request(
                {
                    "cmd": "program_begin",
                    "key": key,
                    "base_version": base_version,
                    "size": len(text),
                    "crc32": zlib.crc32(text),
                }
            )
            if begun.get("already_applied"):
                return begun
            step = begun["chunk_bytes"]
            for offset in range(0, len(text), step):
                session.request(
                    {"cmd": "program_chunk", "offset": offset, "data": text[offset : offset + step].decode()}
                )
            return session.request({"cmd": "program_commit", "key": key})
        except UncertainOutcome:
            self.drop()
            raise

    def change(self, cmd: str, key: str, **fields: object) -> dict:
        """Any other change (refill, bolus_start, bolus_cancel, alarms_silence, ...)."""
        return self.request({"cmd": cmd, "key": key, **fields})
