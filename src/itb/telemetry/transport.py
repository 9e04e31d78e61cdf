"""Transports that carry frames: an in-memory loopback (virtual time) and TCP on loopback.

A transport moves whole frames as bytes and promises nothing else: frames may be lost,
corrupted, duplicated, delayed or reordered (see ``faults``). Making requests reliable is
the session's job.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import socketserver
import struct
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

from itb.telemetry.faults import FaultInjector
from itb.telemetry.frames import MAX_FRAME_SIZE

log = logging.getLogger(__name__)

ServerCallback = Callable[[bytes], list[bytes]]
UP, DOWN = "up", "down"  # up: programmer -> pump, down: pump -> programmer
_PREFIX = struct.Struct(">I")
_IDLE_S = 0.02  # how often a TCP connection releases frames held back by a delay fault


class Transport(Protocol):
    """Moves whole frames; ``recv`` returns None when nothing arrived within ``timeout_s``."""

    def send(self, data: bytes) -> None: ...

    def recv(self, timeout_s: float) -> bytes | None: ...

    def close(self) -> None: ...


class _Wire:
    """Frames held back by delay/reorder faults, released after enough later frames passed."""

    def __init__(self, faults: FaultInjector | None) -> None:
        self.faults = faults
        self._held: list[list] = []  # [frames still to wait, direction, bytes]

    def _pass(self, direction: str, data: bytes) -> list[tuple[str, bytes]]:
        """One frame enters the link: what to deliver now, in order."""
        fates = self.faults.apply(data) if self.faults is not None else [(0, data)]
        if self.faults is not None and self.faults.cut_active:
            self._held.clear()
            return []
        due: list[tuple[str, bytes]] = []
        still: list[list] = []
        for item in self._held:
            item[0] -= 1
            if item[0] <= 0:
                due.append((item[1], item[2]))
            else:
                still.append(item)
        self._held = still
        now = [(direction, b) for k, b in fates if k <= 0]
        self._held.extend([k, direction, b] for k, b in fates if k > 0)
        return now + due

    def _run(self, items: list[tuple[str, bytes]], up: ServerCallback, down: Callable[[bytes], None]) -> None:
        queue = deque(items)
        while queue:
            direction, data = queue.popleft()
            if direction == UP:
                for reply in up(data):
                    queue.extend(self._pass(DOWN, reply))
            else:
                down(data)

    def carry(self, direction: str, data: bytes, up: ServerCallback, down: Callable[[bytes], None]) -> None:
        """Pass one frame over the link and deliver whatever comes out (answers included)."""
        self._run(self._pass(direction, data), up, down)

    @property
    def holding(self) -> bool:
        return bool(self._held)

    def release_one(self, up: ServerCallback, down: Callable[[bytes], None]) -> bool:
        """Deliver the held frame that is due first; False when nothing is held."""
        if not self._held:
            return False
        first = min(range(len(self._held)), key=lambda i: self._held[i][0])
        _, direction, data = self._held.pop(first)
        self._run([(direction, data)], up, down)
        return True


# -- in memory -----------------------------------------------------------------------------


class LoopbackLink:
    """An in-memory link from a client transport to a server callback: no threads, no sleeping.

    Time is virtual: a ``recv`` that finds nothing adds its timeout to ``clock_s`` and returns
    None at once. Frames held back by a delay/reorder fault are released after their number of
    later frames, or when the client would otherwise time out (so late answers do arrive).
    """

    def __init__(self, server: ServerCallback, faults: FaultInjector | None = None) -> None:
        self.server = server
        self.faults = faults
        self.clock_s = 0.0
        self._wire = _Wire(faults)
        self._inbox: deque[bytes] = deque()
        self.client = LoopbackClient(self)

    def reconnect(self) -> None:
        """End a cut (the wand is back in place)."""
        if self.faults is not None:
            self.faults.reconnect()

    def _send(self, data: bytes) -> None:
        self._wire.carry(UP, data, self.server, self._inbox.append)

    def _recv(self, timeout_s: float) -> bytes | None:
        if not self._inbox:
            self.clock_s += timeout_s
            while not self._inbox and self._wire.release_one(self.server, self._inbox.append):
                pass
        return self._inbox.popleft() if self._inbox else None


class LoopbackClient:
    """The client end of a ``LoopbackLink`` (a Transport)."""

    def __init__(self, link: LoopbackLink) -> None:
        self.link = link
        self.closed = False

    def send(self, data: bytes) -> None:
        """Pass one frame up the link; the server answers synchronously."""
        if self.closed:
            raise ConnectionError("loopback link: closed")
        self.link._send(bytes(data))

    def recv(self, timeout_s: float) -> bytes | None:
        """The next frame for the client, or None at once when nothing is due."""
        if self.closed:
            raise ConnectionError("loopback link: closed")
        return self.link._recv(timeout_s)

    def close(self) -> None:
        self.closed = True


# -- TCP -------------------------------------------------------------------------------------


class _StreamDesync(Exception):
    """A length prefix no frame can have: the stream cannot be trusted any more."""


class _Reader:
    """Length-prefixed frames from a stream socket, keeping partial data across timeouts."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = bytearray()

    def read(self, timeout_s: float) -> bytes | None:
        """One frame, or None on timeout; EOFError when the peer closed, _StreamDesync on garbage."""
        deadline = time.monotonic() + max(timeout_s, 0.0)
        while True:
            if len(self.buf) >= _PREFIX.size:
                (n,) = _PREFIX.unpack_from(self.buf)
                if not 0 < n <= MAX_FRAME_SIZE:
                    raise _StreamDesync(f"length prefix {n} is not a frame length (1..{MAX_FRAME_SIZE})")
                end = _PREFIX.size + n
                if len(self.buf) >= end:
                    frame = bytes(self.buf[_PREFIX.size : end])
                    del self.buf[:end]
                    return frame
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                return None
            if not chunk:
                raise EOFError("peer closed the connection")
            self.buf += chunk


def _framed(data: bytes) -> bytes:
    return _PREFIX.pack(len(data)) + data


class TcpServer:
    """Serves a frame callback over TCP: one thread per connection, callback calls serialized.

    Faults, if given, apply to incoming and outgoing frames (shared by all connections); a new
    connection ends a cut, as a clinician putting the wand back would.
    """

    def __init__(
        self,
        server_callback: ServerCallback,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: FaultInjector | None = None,
    ) -> None:
        self.callback = server_callback
        self.host = host
        self.requested_port = port
        self.faults = faults
        self._lock = threading.Lock()
        self._server: socketserver.ThreadingTCPServer | None = None
        self._thread: threading.Thread | None = None
        self._conns: set[socket.socket] = set()

    @property
    def port(self) -> int:
        """The port actually bound (useful with port=0)."""
        if self._server is None:
            raise RuntimeError("TcpServer: not started")
        return self._server.server_address[1]

    def start(self) -> TcpServer:
        """Bind and serve in a background thread."""
        if self._server is not None:
            return self
        owner = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                owner._serve_connection(self.request)

        class Server(socketserver.ThreadingTCPServer):
            allow_reuse_address = True
            daemon_threads = True
            block_on_close = True

        self._server = Server((self.host, self.requested_port), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="itb-telemetry-tcp", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting, close every connection and wait for their threads."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> TcpServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _serve_connection(self, sock: socket.socket) -> None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        wire = _Wire(self.faults)
        reader = _Reader(sock)
        with self._lock:
            self._conns.add(sock)
            if self.faults is not None:
                self.faults.reconnect()

        def up(data: bytes) -> list[bytes]:
            return self.callback(data)

        def down(data: bytes) -> None:
            sock.settimeout(2.0)
            sock.sendall(_framed(data))

        try:
            while True:
                try:
                    data = reader.read(_IDLE_S)
                except (EOFError, ConnectionError):
                    return
                with self._lock:
                    if data is None:
                        while wire.release_one(up, down):
                            pass
                    else:
                        wire.carry(UP, data, up, down)
        except _StreamDesync as exc:
            log.warning("telemetry tcp: dropping a connection: %s", exc)
        except OSError as exc:
            log.info("telemetry tcp: connection ended: %s", exc)
        except Exception:
            log.exception("telemetry tcp: the frame callback failed; closing the connection")
        finally:
            with self._lock:
                self._conns.discard(sock)


class TcpTransport:
    """The programmer's end of a TCP link to ``TcpServer`` (a Transport with real timeouts)."""

    def __init__(self, host: str, port: int, connect_timeout_s: float = 2.0) -> None:
        self.host = host
        self.port = port
        self.where = f"pump at {host}:{port}"
        try:
            self._sock = socket.create_connection((host, port), timeout=connect_timeout_s)
        except ConnectionRefusedError:
            raise ConnectionError(f"{self.where}: connection refused — is `itb pump serve` running?") from None
        except TimeoutError:
            raise ConnectionError(f"{self.where}: no answer within {connect_timeout_s:g} s") from None
        except OSError as exc:
            raise ConnectionError(f"{self.where}: cannot connect ({exc.strerror or exc})") from None
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._send_timeout_s = connect_timeout_s
        self._reader = _Reader(self._sock)
        self.closed = False

    def send(self, data: bytes) -> None:
        """Send one frame; ConnectionError if the link is closed or breaks."""
        if self.closed:
            raise ConnectionError(f"{self.where}: link is closed")
        try:
            self._sock.settimeout(self._send_timeout_s)
            self._sock.sendall(_framed(data))
        except OSError as exc:
            self.close()
            raise ConnectionError(f"{self.where}: connection lost while sending ({exc.strerror or exc})") from None

    def recv(self, timeout_s: float) -> bytes | None:
        """The next frame, or None after ``timeout_s``; ConnectionError if the pump closed the link."""
        if self.closed:
            raise ConnectionError(f"{self.where}: link is closed")
        try:
            return self._reader.read(timeout_s)
        except EOFError:
            self.close()
            raise ConnectionError(f"{self.where}: connection closed by the pump") from None
        except _StreamDesync as exc:
            self.close()
            raise ConnectionError(f"{self.where}: stream out of sync ({exc})") from None
        except OSError as exc:
            self.close()
            raise ConnectionError(f"{self.where}: connection lost ({exc.strerror or exc})") from None

    def close(self) -> None:
        """Close the socket (idempotent)."""
        if not self.closed:
            self.closed = True
            self._sock.close()

    def __enter__(self) -> TcpTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
