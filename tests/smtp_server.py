"""A real SMTP server on loopback for tests (aiosmtpd in a thread): it keeps what it is sent.

Use the fixture: import it into a ``conftest.py`` (``from smtp_server import smtp_catcher  #
noqa: F401``), or bind it in the test module (an import used as a parameter name is ruff's F811)::

    import smtp_server
    from smtp_server import SmtpCatcher

    smtp_catcher = smtp_server.smtp_catcher  # the fixture, used by name

    def test_reminder(smtp_catcher: SmtpCatcher) -> None:
        sender = SmtpSender(smtp_config_from_url(smtp_catcher.url))
        ...
        [mail] = smtp_catcher.messages          # email.message.EmailMessage, policy default

or the class itself, for a server with logins or several at once::

    with SmtpCatcher(users={"clinic": "s3cret"}) as server:   # AUTH required, over plain SMTP
        ...

The server binds 127.0.0.1 on a port the system picks (no race for a free port) and answers
before ``start()`` returns. To test failure and recovery:

* ``fail_next(n)``: the next ``n`` messages are refused at DATA (``451 4.3.0 ...`` by default);
* ``fail_all()``: every message is refused at DATA, ``refuse_recipients()``: every RCPT TO
  (``550 5.1.1 ...``), until ``recover()``;
* ``attempts``: the messages offered (taken or refused), ``messages``/``envelopes``: those taken.

With ``users``, aiosmtpd warns (``UserWarning``) that AUTH is offered without TLS; a test module
may silence it with ``pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")``.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

TEMPORARY_FAILURE = "451 4.3.0 Try again later"
NO_SUCH_USER = "550 5.1.1 No such user here"


@dataclass(frozen=True)
class Received:
    """One message the server took: the envelope, the raw bytes, who logged in (or ``None``)."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes
    login: str | None

    def parsed(self) -> EmailMessage:
        message = message_from_bytes(self.data, policy=policy.default)
        assert isinstance(message, EmailMessage)
        return message


class _Handler:
    """aiosmtpd's hooks: answers as the catcher says, and hands it what it takes."""

    def __init__(self, catcher: SmtpCatcher) -> None:
        self.catcher = catcher

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        refusal = self.catcher._rcpt_refusal()
        if refusal:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        return self.catcher._offered(envelope, session)


class _LoopbackController(Controller):
    """aiosmtpd's controller on a socket bound beforehand (port 0: the system picks a free one)."""

    def __init__(self, handler: Any, sock: socket.socket, **kwargs: Any) -> None:
        super().__init__(handler, hostname="127.0.0.1", port=sock.getsockname()[1], **kwargs)
        self._sock = sock

    def _create_server(self) -> Any:
        return self.loop.create_server(self._factory_invoker, sock=self._sock, ssl=self.ssl_context)


class SmtpCatcher:
    """An SMTP server on 127.0.0.1 that keeps the messages it takes; thread-safe.

    ``users`` (login -> password): AUTH PLAIN/LOGIN is offered without TLS (loopback only) and
    required before MAIL; a wrong password is answered ``535``.
    """

    def __init__(self, users: Mapping[str, str] | None = None) -> None:
        self.users = dict(users or {})
        self._lock = threading.Lock()
        self._received: list[Received] = []
        self._attempts = 0
        self._fail_next: tuple[int, str] = (0, TEMPORARY_FAILURE)
        self._fail_all: str | None = None
        self._refuse_rcpt: str | None = None
        self._controller: _LoopbackController | None = None
        self.port = 0

    # -- running -------------------------------------------------------------------------------------

    def start(self) -> SmtpCatcher:
        """Listen, and return once the server answers."""
        assert self._controller is None, "already started"
        sock = socket.create_server(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        kwargs: dict[str, Any] = {"server_hostname": "localhost", "ready_timeout": 10.0}
        if self.users:
            kwargs |= {"authenticator": self._authenticate, "auth_required": True, "auth_require_tls": False}
        self._controller = _LoopbackController(_Handler(self), sock, **kwargs)
        self._controller.start()
        return self

    def stop(self) -> None:
        """Stop listening (a stopped catcher keeps what it took)."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> SmtpCatcher:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def url(self) -> str:
        """``smtp://127.0.0.1:<port>``, for ``ITB_SMTP_URL``."""
        assert self.port, "not started"
        return f"smtp://{self.host}:{self.port}"

    # -- what it took --------------------------------------------------------------------------------

    @property
    def envelopes(self) -> list[Received]:
        with self._lock:
            return list(self._received)

    @property
    def messages(self) -> list[EmailMessage]:
        """The messages taken, oldest first, parsed with ``email.policy.default``."""
        return [r.parsed() for r in self.envelopes]

    @property
    def attempts(self) -> int:
        """How many messages reached DATA, taken or refused."""
        with self._lock:
            return self._attempts

    def wait_for(self, count: int, timeout: float = 30.0) -> list[EmailMessage]:
        """The messages once at least ``count`` were taken; ``AssertionError`` after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while len(self.envelopes) < count:
            assert time.monotonic() < deadline, f"{len(self.envelopes)} messages after {timeout} s, not {count}"
            time.sleep(0.01)
        return self.messages

    def clear(self) -> None:
        """Forget the messages taken and the attempts."""
        with self._lock:
            self._received.clear()
            self._attempts = 0

    # -- failing -------------------------------------------------------------------------------------

    def fail_next(self, n: int = 1, reply: str = TEMPORARY_FAILURE) -> None:
        """Refuse the next ``n`` messages at DATA with ``reply``, then take them again."""
        with self._lock:
            self._fail_next = (n, reply)

    def fail_all(self, reply: str = TEMPORARY_FAILURE) -> None:
        """Refuse every message at DATA with ``reply`` until :meth:`recover`."""
        with self._lock:
            self._fail_all = reply

    def refuse_recipients(self, reply: str = NO_SUCH_USER) -> None:
        """Answer every RCPT TO with ``reply`` until :meth:`recover`."""
        with self._lock:
            self._refuse_rcpt = reply

    def recover(self) -> None:
        """Take every message again."""
        with self._lock:
            self._fail_next = (0, TEMPORARY_FAILURE)
            self._fail_all = None
            self._refuse_rcpt = None

    # -- the handler's side --------------------------------------------------------------------------

    def _rcpt_refusal(self) -> str | None:
        with self._lock:
            return self._refuse_rcpt

    def _offered(self, envelope: Envelope, session: Session) -> str:
        with self._lock:
            self._attempts += 1
            left, reply = self._fail_next
            if left:
                self._fail_next = (left - 1, reply)
                return reply
            if self._fail_all:
                return self._fail_all
            login = session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None
            data = envelope.original_content or envelope.content
            assert isinstance(data, bytes)
            self._received.append(Received(envelope.mail_from or "", tuple(envelope.rcpt_tos), data, login))
            return "250 Message accepted for delivery"

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and self.users.get(auth_data.login.decode()) == auth_data.password.decode()
        )
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)


@pytest.fixture
def smtp_catcher() -> Iterator[SmtpCatcher]:
    """A started :class:`SmtpCatcher` (no login), stopped after the test."""
    with SmtpCatcher() as catcher:
        yield catcher


# -- a webhook gateway ---------------------------------------------------------------------------


class Gateway:
    """An HTTP server on loopback that records each request and answers ``status``."""

    def __init__(self, status: int = 202, answer: bytes = b'{"queued": true}') -> None:
        self.status, self.answer = status, answer
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                gateway.requests.append((self.path, dict(self.headers), body))
                self.send_response(gateway.status)
                self.send_header("Content-Length", str(len(gateway.answer)))
                self.end_headers()
                self.wfile.write(gateway.answer)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/itb/messages"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    gw = Gateway()
    gw.thread.start()
    yield gw
    gw.server.shutdown()
    gw.server.server_close()
