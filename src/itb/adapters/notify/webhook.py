"""The webhook channel: each message as a signed JSON ``POST`` to a gateway (SMS, messenger, paging).

The body is UTF-8 JSON::

    {"message_id": "<itb-outbox-7@itb>", "rule": "...", "event": "...", "channel": "webhook",
     "to": {"name": "...", "address": "..."}, "subject": "...", "text": "..."}

The visit's calendar file (``Outgoing.ics``) is not sent: a gateway carries text. Headers:

* ``X-ITB-Timestamp``: the time of sending, in whole seconds since 1970-01-01 UTC (``1735689600``);
* ``X-ITB-Signature``: ``sha256=`` and the lowercase hex HMAC-SHA256, under the shared secret
  (``ITB_NOTIFY_WEBHOOK_SECRET``, as UTF-8 bytes), of the timestamp's ASCII digits, one ``.`` and
  the body's exact bytes as received: ``HMAC(secret, timestamp + "." + body)``. Verify it on the
  bytes received, before parsing them (:func:`verify_signature`), and refuse old timestamps so a
  recorded request cannot be replayed;
* ``Idempotency-Key``: the message id, the same when a message is sent again after a crash.

Any 2xx answer means the gateway took the message; redirects are not followed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import httpx

from itb.adapters.notify.urls import shown
from itb.clinic.ports import Outgoing, SendFailed

ANSWER_SHOWN = 200  # characters of a refusing gateway's answer kept in the reason


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-ITB-Signature`` value of ``body`` sent at ``timestamp``: ``sha256=<hex>``."""
    mac = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def verify_signature(
    secret: str, timestamp: str, body: bytes, header: str, *, max_age_s: float | None = None, now: float | None = None
) -> bool:
    """Whether ``header`` (``X-ITB-Signature``) signs ``body`` at ``timestamp`` (``X-ITB-Timestamp``) under ``secret``.

    Compared in constant time. With ``max_age_s``, a timestamp more than that many seconds away
    from ``now`` (default: the clock's) is refused too.
    """
    if not timestamp.isascii() or not timestamp.isdigit():
        return False
    if max_age_s is not None and abs((time.time() if now is None else now) - int(timestamp)) > max_age_s:
        return False
    return hmac.compare_digest(signature(secret, timestamp, body).encode(), header.encode("utf-8"))


def payload(message: Outgoing) -> bytes:
    """The JSON body of ``message`` (no calendar file)."""
    document = {
        "message_id": message.message_id,
        "rule": message.rule,
        "event": message.event,
        "channel": "webhook",
        "to": {"name": message.recipient_name, "address": message.address},
        "subject": message.subject,
        "text": message.body,
    }
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _is_web_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
        return parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
    except ValueError:  # a port that is not a number, an unclosed [
        return False


class WebhookSender:
    """POSTs each message to ``url``, signed with ``secret``; an unsigned webhook is not built."""

    def __init__(
        self, url: str, secret: str | None, *, timeout: float = 10.0, clock: Callable[[], float] = time.time
    ) -> None:
        if not _is_web_url(url):
            raise ValueError(
                "ITB_NOTIFY_WEBHOOK_URL: an http or https URL is needed, as in https://gateway.example.org/itb"
            )
        if not secret:
            raise ValueError("ITB_NOTIFY_WEBHOOK_SECRET: the webhook needs a shared secret to sign its messages")
        self.url = url
        self._secret = secret
        self._timeout = timeout
        self._clock = clock

    def __repr__(self) -> str:
        return f"WebhookSender({shown(self.url)!r})"

    def send(self, message: Outgoing) -> None:
        """POST ``message``; :class:`SendFailed` with the status and the start of the answer unless 2xx."""
        body = payload(message)
        timestamp = str(int(self._clock()))
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "X-ITB-Timestamp": timestamp,
            "X-ITB-Signature": signature(self._secret, timestamp, body),
            "Idempotency-Key": message.message_id,
        }
        try:
            answer = httpx.post(self.url, content=body, headers=headers, timeout=self._timeout)
        except (httpx.HTTPError, httpx.InvalidURL, OSError, ValueError) as error:
            reason = str(error) or type(error).__name__
            raise SendFailed(f"webhook {shown(self.url)} could not be reached: {reason}") from None
        if not answer.is_success:
            text = " ".join(answer.text.split())[:ANSWER_SHOWN]
            raise SendFailed(f"webhook {shown(self.url)} answered {answer.status_code}: {text}")
