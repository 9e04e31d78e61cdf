"""Request/response sessions over an unreliable link.

The client numbers its requests and retransmits the same frame until it gets the answer for
that number. The server answers a retransmission from its cache, so a command is applied at
most once. When no answer comes at all, the client cannot know whether the pump applied the
command: it says so (``UncertainOutcome``) and the caller must read the pump's log.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType

from itb.telemetry.frames import (
    U32_MAX,
    Frame,
    FrameError,
    FrameType,
    decode,
    encode,
    header_readable,
    json_payload,
    parse_payload,
)
from itb.telemetry.transport import Transport

log = logging.getLogger(__name__)

UNKNOWN_SESSION = "session: unknown or closed"


class TelemetryError(Exception):
    """Base of the errors a session raises."""


class LinkDown(TelemetryError):
    """No session could be opened (or the link was closed before sending): nothing reached the pump's logic."""


class UncertainOutcome(TelemetryError):
    """A request got no answer: the pump may or may not have applied it; read its log to find out."""

    def __init__(self, message: str, *, session: int, seq: int, attempts: int, payload: dict) -> None:
        super().__init__(message)
        self.session = session
        self.seq = seq
        self.attempts = attempts
        self.payload = payload


class RemoteError(TelemetryError):
    """The pump refused the request (ERROR frame); it did not apply it."""

    def __init__(self, message: str, *, session: int = 0, seq: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.session = session
        self.seq = seq


def _error_frame(session: int, seq: int, message: str) -> bytes:
    return encode(Frame(FrameType.ERROR, session, seq, json_payload({"error": message[:900]})))


def _error_text(frame: Frame) -> str:
    try:
        return str(parse_payload(frame).get("error", "(no message)"))
    except FrameError:
        return frame.payload.decode("utf-8", "replace") or "(no message)"


# -- client ------------------------------------------------------------------------------------


class ClientSession:
    """The programmer's side: open a session, send requests reliably, close."""

    def __init__(self, transport: Transport, *, timeout_s: float = 0.25, max_attempts: int = 6) -> None:
        if not timeout_s > 0:
            raise ValueError(f"timeout_s: must be more than 0, got {timeout_s!r}")
        if max_attempts < 1:
            raise ValueError(f"max_attempts: must be at least 1, got {max_attempts!r}")
        self.transport = transport
        self.timeout_s = timeout_s
        self.max_attempts = max_attempts
        self.session_id: int | None = None
        self.last_seq = 0
        self.stats: dict[str, int] = {"sent": 0, "retransmitted": 0, "corrupted": 0, "ignored": 0}
        self._attempts = 0

    def __enter__(self) -> ClientSession:
        self.open()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def is_open(self) -> bool:
        return self.session_id is not None

    def open(self) -> int:
        """Open a session (retrying) and return its id; LinkDown if the pump never answers."""
        if self.session_id is not None:
            return self.session_id
        nonce = secrets.randbelow(U32_MAX) + 1
        frame = Frame(FrameType.OPEN, 0, nonce)
        self._check_not_closed()
        try:
            reply, attempts = self._exchange(frame, lambda f: f.type is FrameType.OPEN_OK and f.seq == nonce)
        except ConnectionError as exc:
            raise LinkDown(f"{exc}; no session was opened and nothing was changed on the pump") from exc
        if reply is None:
            raise LinkDown(
                f"no answer to OPEN after {attempts} attempts ({self.timeout_s:g} s each): "
                "no session was opened and nothing was changed on the pump; check the link and try again"
            )
        self.session_id = reply.session
        self.last_seq = 0
        return reply.session

    def request(self, payload: dict) -> dict:
        """Send one request and return the pump's answer.

        RemoteError if the pump refused it; UncertainOutcome if no answer came after every attempt
        (or the link broke after sending): the caller must read the pump's log, never guess.
        """
        if self.session_id is None:
            raise RuntimeError("session is not open: call open() first (or use `with ClientSession(...)`)")
        sid = self.session_id
        seq = self.last_seq + 1
        frame = Frame(FrameType.REQUEST, sid, seq, json_payload(payload))  # TypeError/FrameError: nothing sent
        if seq > U32_MAX:
            raise LinkDown("session has used every sequence number; close it and open a new one")
        self._check_not_closed()
        self.last_seq = seq
        where = f"session {sid}, seq {seq}"
        try:
            reply, attempts = self._exchange(
                frame,
                lambda f: f.session == sid and f.seq == seq and f.type in (FrameType.RESPONSE, FrameType.ERROR),
            )
        except ConnectionError as exc:
            raise UncertainOutcome(
                f"{where}: sent, then the link failed ({exc}): the pump may or may not have applied it; "
                "read its log to find out",
                session=sid,
                seq=seq,
                attempts=self._attempts,
                payload=payload,
            ) from exc
        if reply is None:
            raise UncertainOutcome(
                f"{where}: sent {attempts} times, no answer: the pump may or may not have applied it; "
                "read its log to find out",
                session=sid,
                seq=seq,
                attempts=attempts,
                payload=payload,
            )
        if reply.type is FrameType.ERROR:
            raise RemoteError(_error_text(reply), session=sid, seq=seq)
        try:
            return parse_payload(reply)
        except FrameError as exc:
            raise UncertainOutcome(
                f"{where}: the pump answered but its answer is unreadable ({exc}): it may or may not have "
                "applied the request; read its log to find out",
                session=sid,
                seq=seq,
                attempts=attempts,
                payload=payload,
            ) from exc

    def close(self) -> None:
        """Close the session (best effort: a lost CLOSE leaves it to expire on the pump). The transport stays."""
        sid, self.session_id = self.session_id, None
        if sid is None:
            return
        seq = min(self.last_seq + 1, U32_MAX)
        frame = Frame(FrameType.CLOSE, sid, seq)
        try:
            self._exchange(
                frame,
                lambda f: f.session == sid and f.seq == seq and f.type in (FrameType.CLOSE_OK, FrameType.ERROR),
            )
        except (OSError, TelemetryError) as exc:
            log.info("telemetry: closing session %s: %s", sid, exc)

    def _check_not_closed(self) -> None:
        if getattr(self.transport, "closed", False):
            raise LinkDown("the link is closed: nothing was sent")

    def _exchange(self, frame: Frame, match: Callable[[Frame], bool]) -> tuple[Frame | None, int]:
        """Send ``frame`` until a matching reply arrives: (reply or None, attempts made)."""
        data = encode(frame)
        self._attempts = 0
        for attempt in range(1, self.max_attempts + 1):
            self._attempts = attempt
            self.transport.send(data)
            self.stats["sent"] += 1
            if attempt > 1:
                self.stats["retransmitted"] += 1
            deadline = time.monotonic() + self.timeout_s
            while (remaining := deadline - time.monotonic()) > 0:
                raw = self.transport.recv(remaining)
                if raw is None:
                    break
                try:
                    reply = decode(raw)
                except FrameError:
                    self.stats["corrupted"] += 1
                    continue
                if match(reply):
                    return reply, attempt
                self.stats["ignored"] += 1
        return None, self.max_attempts


# -- server ------------------------------------------------------------------------------------


@dataclass(slots=True)
class _SessionState:
    nonce: int
    last_seq: int = 0
    last_answer: bytes | None = None
    last_active: int = 0


class ServerEndpoint:
    """The pump's side: turns frames into calls of ``handle(session, request) -> answer``.

    A retransmitted request (same seq as the last answered) gets the cached answer; ``handle``
    is never called twice for one seq. Sessions with no request while ``idle_limit`` requests
    were handled in other sessions expire (``on_session_end`` is called).
    """

    def __init__(
        self,
        handle: Callable[[int, dict], dict],
        on_session_end: Callable[[int], None] | None = None,
        *,
        idle_limit: int | None = 100,
    ) -> None:
        self.handle = handle
        self.on_session_end = on_session_end
        self.idle_limit = idle_limit
        self._sessions: dict[int, _SessionState] = {}
        self._by_nonce: dict[int, int] = {}
        self._issued: set[int] = set()
        self._tick = 0
        self._lock = threading.RLock()

    @property
    def sessions(self) -> frozenset[int]:
        """The ids of the open sessions."""
        with self._lock:
            return frozenset(self._sessions)

    def expire(self, session: int) -> bool:
        """End a session now (calls ``on_session_end``); False if it was not open."""
        with self._lock:
            state = self._sessions.pop(session, None)
            if state is None:
                return False
            if self._by_nonce.get(state.nonce) == session:
                del self._by_nonce[state.nonce]
        if self.on_session_end is not None:
            self.on_session_end(session)
        return True

    def on_frame(self, data: bytes) -> list[bytes]:
        """The frames to send back for one received frame (a LoopbackLink/TcpServer callback)."""
        try:
            frame = decode(data)
        except FrameError as exc:
            return [_error_frame(0, 0, str(exc))] if header_readable(data) else []
        with self._lock:
            if frame.type is FrameType.OPEN:
                return [self._open(frame)]
            if frame.type is FrameType.REQUEST:
                return self._request(frame)
            if frame.type is FrameType.CLOSE:
                if not self.expire(frame.session):
                    return [_error_frame(frame.session, frame.seq, UNKNOWN_SESSION)]
                return [encode(Frame(FrameType.CLOSE_OK, frame.session, frame.seq))]
            if frame.type is FrameType.ERROR:
                return []  # never answer an error with an error
            return [_error_frame(frame.session, frame.seq, f"frame.type: {frame.type.name} is not sent to a pump")]

    def _open(self, frame: Frame) -> bytes:
        sid = self._by_nonce.get(frame.seq)  # a retransmitted OPEN gets the same session
        if sid is None or sid not in self._sessions:
            sid = self._new_id()
            self._sessions[sid] = _SessionState(nonce=frame.seq, last_active=self._tick)
            self._by_nonce[frame.seq] = sid
        return encode(Frame(FrameType.OPEN_OK, sid, frame.seq))

    def _new_id(self) -> int:
        while True:
            sid = secrets.randbelow(U32_MAX) + 1
            if sid not in self._issued:
                self._issued.add(sid)
                return sid

    def _request(self, frame: Frame) -> list[bytes]:
        state = self._sessions.get(frame.session)
        if state is None:
            return [_error_frame(frame.session, frame.seq, UNKNOWN_SESSION)]
        if frame.seq == state.last_seq and state.last_seq > 0:
            return [state.last_answer] if state.last_answer is not None else []
        if frame.seq < state.last_seq or frame.seq == 0:
            return [
                _error_frame(
                    frame.session,
                    frame.seq,
                    f"seq: {frame.seq} is older than the last answered ({state.last_seq}); refused",
                )
            ]
        try:
            request = parse_payload(frame)
        except FrameError as exc:
            return [_error_frame(frame.session, frame.seq, str(exc))]
        self._tick += 1
        state.last_active = self._tick
        try:
            result = self.handle(frame.session, request)
        except ValueError as exc:
            answer: bytes | None = _error_frame(frame.session, frame.seq, str(exc) or type(exc).__name__)
        except BaseException:
            # A handler bug: it may have changed the pump, so a retransmission must not call it again.
            state.last_seq, state.last_answer = frame.seq, None
            raise
        else:
            answer = self._encode_answer(frame, result)
        state.last_seq = frame.seq
        state.last_answer = answer
        self._expire_idle()
        return [answer] if answer is not None else []

    def _encode_answer(self, frame: Frame, result: dict) -> bytes | None:
        """The RESPONSE frame, or None (no answer, so the client reports an uncertain outcome)."""
        try:
            return encode(Frame(FrameType.RESPONSE, frame.session, frame.seq, json_payload(result)))
        except (TypeError, FrameError) as exc:
            # handle() may have changed the pump: an ERROR would wrongly say it did not.
            log.error("telemetry: session %s seq %s: the answer cannot be sent: %s", frame.session, frame.seq, exc)
            return None

    def _expire_idle(self) -> None:
        if self.idle_limit is None:
            return
        idle = [sid for sid, s in self._sessions.items() if self._tick - s.last_active > self.idle_limit]
        for sid in idle:
            self.expire(sid)
