"""The email channel: one message, one SMTP conversation (standard library ``smtplib``).

The server is named by a URL (``ITB_SMTP_URL``): ``smtp://host:port`` speaks plain SMTP (port 25
by default), ``smtp+starttls://host:port`` upgrades the connection with STARTTLS (587),
``smtps://host:port`` speaks TLS from the first byte (465). TLS verifies the server's certificate
against the system's authorities. The user and password may be in the URL
(``smtp://user:pass@host:2525``, percent-encoded) or given apart (``ITB_SMTP_USER``,
``ITB_SMTP_PASSWORD``), which win. The password is never shown: not in ``repr``, not in an error.
"""

from __future__ import annotations

import base64
import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Literal
from urllib.parse import SplitResult, unquote, urlsplit

from itb.clinic.ports import Outgoing, SendFailed

Security = Literal["plain", "starttls", "tls"]

DEFAULT_FROM = "ITB clinic <itb@localhost>"
SCHEMES: dict[str, tuple[Security, int]] = {
    "smtp": ("plain", 25),
    "smtp+starttls": ("starttls", 587),
    "smtps": ("tls", 465),
}
ICS_FILENAME = "visit.ics"
#: the SMTP policy (CRLF), with lines up to RFC 5322's limit
HEADER_POLICY = policy.SMTP.clone(max_line_length=998)


@dataclass(frozen=True)
class SmtpConfig:
    """Where and how to hand messages over; ``timeout`` in seconds, for connecting and each answer."""

    host: str
    port: int
    security: Security = "plain"
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    from_address: str = DEFAULT_FROM
    timeout: float = 10.0


def smtp_config_from_url(
    url: str,
    user: str | None = None,
    password: str | None = None,
    from_address: str | None = None,
    timeout: float = 10.0,
) -> SmtpConfig:
    """The configuration ``url`` names; ``user`` and ``password``, when given, win over the URL's.

    ``from_address`` (``ITB_NOTIFY_FROM``) defaults to ``ITB clinic <itb@localhost>``. A URL that
    does not follow the rules raises ``ValueError`` naming the setting and the rule.
    """
    parts = _split(url)
    if parts.scheme not in SCHEMES:
        raise ValueError(f"ITB_SMTP_URL: the scheme must be smtp, smtp+starttls or smtps (got {parts.scheme!r})")
    if not parts.hostname:
        raise ValueError("ITB_SMTP_URL: a server is needed, as in smtp://mail.example.org:25")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError("ITB_SMTP_URL: only a server and port, as in smtp://mail.example.org:25 (no path or query)")
    security, default_port = SCHEMES[parts.scheme]
    login = user or _decoded(parts.username)
    secret = password or _decoded(parts.password)
    if secret and not login:
        raise ValueError("ITB_SMTP_PASSWORD: a password needs a user (ITB_SMTP_USER, or user:pass@ in ITB_SMTP_URL)")
    return SmtpConfig(
        host=parts.hostname,
        port=_port(parts, default_port),
        security=security,
        user=login,
        password=secret,
        from_address=_checked_from(from_address or DEFAULT_FROM),
        timeout=timeout,
    )


def _split(url: str) -> SplitResult:
    try:
        return urlsplit(url.strip())
    except ValueError:  # an unclosed [ of an IPv6 address, say
        raise ValueError("ITB_SMTP_URL: not a URL, as in smtp://mail.example.org:25") from None


def _decoded(value: str | None) -> str | None:
    return unquote(value) if value else None


def _port(parts: SplitResult, default: int) -> int:
    try:
        port = parts.port
    except ValueError:  # not a number, or out of range
        port = 0
    if port is None:
        return default
    if not 1 <= port <= 65535:
        raise ValueError("ITB_SMTP_URL: the port must be a number from 1 to 65535")
    return port


def _checked_from(address: str) -> str:
    if "\r" in address or "\n" in address or "@" not in parseaddr(address)[1]:
        raise ValueError(f"ITB_NOTIFY_FROM: an email address is needed, as in {DEFAULT_FROM} (got {address!r})")
    return address


def ascii_address(address: str) -> str:
    """``address`` as SMTP carries it: an international domain in its ASCII form (IDNA, RFC 5890).

    A name before the ``@`` outside ASCII (RFC 6531) is not supported: ``ValueError``.
    """
    local, at, domain = address.strip().rpartition("@")
    if not at or not local or not domain:
        raise ValueError(f"{address!r} is not an email address")
    if not local.isascii():
        raise ValueError(f"{address!r}: only ASCII letters are supported before the @")
    try:
        return f"{local}@{domain if domain.isascii() else domain.encode('idna').decode('ascii')}"
    except UnicodeError:
        raise ValueError(f"{address!r}: the domain is not a valid international domain name") from None


def build_message(message: Outgoing, from_address: str, when: datetime) -> EmailMessage:
    """The email of ``message``: text (UTF-8), and the visit as ``visit.ics`` when it has one.

    From and To are :class:`~email.headerregistry.Address` objects, not ``formataddr`` strings:
    Python 3.11 folds a parsed quoted name outside ASCII with a comma (``"Renée Dupont, Jr."``)
    into two addresses; an ``Address`` is encoded whole (RFC 2047).

    ``Message-ID`` is the outbox's own (in angle brackets, added if missing), so a message sent
    again after a crash is recognisably the same; ``X-ITB-Rule`` names the rule that wrote it.
    Headers are not folded below RFC 5322's 998 characters: Python folds a long subject right
    after ``Subject:``, and a reader then sees it with a leading space.
    """
    mail = EmailMessage(policy=HEADER_POLICY)
    from_name, from_addr = parseaddr(from_address)
    mail["From"] = Address(from_name, addr_spec=from_addr)
    mail["To"] = Address(message.recipient_name, addr_spec=ascii_address(message.address))
    mail["Subject"] = message.subject
    mail["Date"] = format_datetime(when)
    mail["Message-ID"] = message.message_id if message.message_id.startswith("<") else f"<{message.message_id}>"
    mail["X-ITB-Rule"] = message.rule
    mail.set_content(message.body, charset="utf-8", cte="quoted-printable")
    if message.ics is not None:
        mail.add_attachment(
            message.ics, maintype="text", subtype="calendar", filename=ICS_FILENAME, params={"method": "PUBLISH"}
        )
    return mail


class SmtpSender:
    """Sends each message in a conversation of its own: connect, (STARTTLS,) (AUTH,) MAIL, RCPT, DATA, QUIT."""

    def __init__(
        self,
        config: SmtpConfig,
        *,
        tls_context: ssl.SSLContext | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.config = config
        self._tls_context = tls_context
        self._now = now

    def __repr__(self) -> str:
        return f"SmtpSender({self.config!r})"

    def send(self, message: Outgoing) -> None:
        """Hand ``message`` to the server; :class:`SendFailed` with the server's or the network's reason."""
        try:
            address = ascii_address(message.address)
            mail = build_message(message, self.config.from_address, self._now())
        except (ValueError, TypeError) as error:  # a header with a line break, say
            raise SendFailed(f"the message could not be written as an email: {error}") from None
        smtp = self._connect()
        try:
            self._deliver(smtp, mail, address)
        except (OSError, ValueError) as error:  # smtplib's errors are OSErrors; ValueError: an address it cannot encode
            raise SendFailed(self._hidden(self._reason(error))) from None
        finally:
            _close(smtp)

    def _connect(self) -> smtplib.SMTP:
        c = self.config
        try:
            if c.security == "tls":
                return smtplib.SMTP_SSL(c.host, c.port, timeout=c.timeout, context=self._context())
            return smtplib.SMTP(c.host, c.port, timeout=c.timeout)
        except smtplib.SMTPException as error:
            raise SendFailed(self._hidden(self._reason(error))) from None
        except ssl.SSLError as error:
            raise SendFailed(f"TLS with {self._where()} failed: {error}") from None
        except OSError as error:
            raise SendFailed(f"could not connect to {c.host}:{c.port}: {error}") from None

    def _deliver(self, smtp: smtplib.SMTP, mail: EmailMessage, address: str) -> None:
        c = self.config
        if c.security == "starttls":
            smtp.starttls(context=self._context())
        if c.user:
            _login(smtp, c.user, c.password or "")
        refused = smtp.send_message(mail, from_addr=parseaddr(c.from_address)[1], to_addrs=[address])
        if refused:
            raise smtplib.SMTPRecipientsRefused(refused)

    def _context(self) -> ssl.SSLContext:
        return self._tls_context or ssl.create_default_context()

    def _where(self) -> str:
        return f"SMTP server {self.config.host}:{self.config.port}"

    def _reason(self, error: Exception) -> str:
        where = self._where()
        if isinstance(error, smtplib.SMTPRecipientsRefused):
            return f"{where} refused the recipient: " + "; ".join(_answer(*a) for a in error.recipients.values())
        if isinstance(error, smtplib.SMTPSenderRefused):
            return f"{where} refused the sender {error.sender}: {_answer(error.smtp_code, error.smtp_error)}"
        if isinstance(error, smtplib.SMTPAuthenticationError):
            return f"{where} refused the login of {self.config.user}: {_answer(error.smtp_code, error.smtp_error)}"
        if isinstance(error, smtplib.SMTPConnectError):
            return f"{where} refused the connection: {_answer(error.smtp_code, error.smtp_error)}"
        if isinstance(error, smtplib.SMTPDataError):
            return f"{where} refused the message: {_answer(error.smtp_code, error.smtp_error)}"
        if isinstance(error, smtplib.SMTPResponseException):
            return f"{where} answered {_answer(error.smtp_code, error.smtp_error)}"
        if isinstance(error, smtplib.SMTPServerDisconnected):
            return f"{where} closed the connection: {error}"
        if isinstance(error, smtplib.SMTPException):
            return f"{where}: {error}"
        if isinstance(error, ssl.SSLError):
            return f"TLS with {where} failed: {error}"
        if isinstance(error, OSError):
            return f"lost the connection to {where}: {error}"
        return f"{where}: {error}"

    def _hidden(self, reason: str) -> str:
        """``reason`` with the password replaced, should a server have echoed it."""
        password = self.config.password
        return reason.replace(password, "***") if password else reason


def _login(smtp: smtplib.SMTP, user: str, password: str) -> None:
    """AUTH with ``smtplib``'s choice of mechanism; outside ASCII, which ``smtplib`` cannot encode, AUTH PLAIN.

    RFC 4616: PLAIN carries the user and password as UTF-8.
    """
    if (user + password).isascii():
        smtp.login(user, password)
        return
    smtp.ehlo_or_helo_if_needed()
    if not smtp.has_extn("auth"):
        raise smtplib.SMTPNotSupportedError("SMTP AUTH extension not supported by server.")
    token = base64.b64encode(f"\0{user}\0{password}".encode()).decode("ascii")
    code, answer = smtp.docmd("AUTH", f"PLAIN {token}")
    if code != 235:
        raise smtplib.SMTPAuthenticationError(code, answer)


def _close(smtp: smtplib.SMTP) -> None:
    """End the conversation; a server gone by then changes nothing (the message was taken, or refused)."""
    try:
        smtp.quit()
    except OSError:
        smtp.close()


def _answer(code: int, text: bytes | str) -> str:
    words = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    return f"{code} {' '.join(words.split())}"
