"""The notifications' channels against real servers on loopback: SMTP (aiosmtpd) and an HTTP webhook."""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import pytest

import smtp_server
from itb.adapters.notify import (
    ChannelSettings,
    SmtpConfig,
    SmtpSender,
    WebhookSender,
    channel_settings_from_env,
    describe,
    senders_from,
    smtp_config_from_url,
    verify_signature,
)
from itb.adapters.notify.config import EMAIL_NOT_CONFIGURED, WEBHOOK_NOT_CONFIGURED, NotConfigured
from itb.clinic.ports import Outgoing, SendFailed
from smtp_server import Gateway, SmtpCatcher

gateway = smtp_server.gateway  # the fixture, used by name

smtp_catcher = smtp_server.smtp_catcher  # the fixture, used by name

# aiosmtpd warns of AUTH without TLS: the logins here stay on loopback
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")

ICS = (
    b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nMETHOD:PUBLISH\r\n"
    b"BEGIN:VEVENT\r\nUID:visit-7@itb\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)
SENT_AT = datetime(2025, 3, 4, 9, 30, tzinfo=UTC)


def outgoing(**changes: object) -> Outgoing:
    fields: dict = {
        "message_id": "<itb-outbox-7@itb>",
        "channel": "email",
        "address": "renee.dupont@example.org",
        "recipient_name": "Renée Dupont, Jr.",
        "subject": "Refill on 12 March — Pump 1",
        "body": "Dear Renée,\nyour pump's refill is due on 12 March at 09:30.\nÄrztliche Grüße\n",
        "rule": "refill-reminder-7d",
        "event": "refill-due",
        "ics": ICS,
    }
    return Outgoing(**(fields | changes))


def free_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def smtp_sender(url: str, **kwargs: str) -> SmtpSender:
    return SmtpSender(smtp_config_from_url(url, **kwargs), now=lambda: SENT_AT)


# -- email -----------------------------------------------------------------------------------------


def test_an_email_arrives_with_its_headers_text_and_calendar_file(smtp_catcher: SmtpCatcher) -> None:
    smtp_sender(smtp_catcher.url, from_address="Klinik Süd <itb@klinik.example>").send(outgoing())

    [received] = smtp_catcher.envelopes
    assert received.mail_from == "itb@klinik.example"
    assert received.rcpt_tos == ("renee.dupont@example.org",)
    mail = received.parsed()
    assert mail["From"].addresses[0].display_name == "Klinik Süd"
    assert mail["To"].addresses[0].display_name == "Renée Dupont, Jr."
    assert mail["To"].addresses[0].addr_spec == "renee.dupont@example.org"
    assert mail["Subject"] == "Refill on 12 March — Pump 1"
    assert mail["Message-ID"] == "<itb-outbox-7@itb>"
    assert mail["X-ITB-Rule"] == "refill-reminder-7d"
    assert parsedate_to_datetime(mail["Date"]) == SENT_AT
    body = mail.get_body(preferencelist=("plain",))
    assert body is not None and body.get_content_charset() == "utf-8"
    assert body.get_content() == outgoing().body.replace("\n", "\r\n")  # SMTP's line ends
    [attachment] = mail.iter_attachments()
    assert attachment.get_content_type() == "text/calendar"
    assert attachment.get_param("method") == "PUBLISH"
    assert attachment.get_filename() == "visit.ics"
    assert attachment.get_payload(decode=True) == ICS


def test_an_email_without_a_visit_is_plain_text_only(smtp_catcher: SmtpCatcher) -> None:
    smtp_sender(smtp_catcher.url).send(outgoing(ics=None, message_id="itb-outbox-8@itb"))

    [mail] = smtp_catcher.messages
    assert mail.get_content_type() == "text/plain"
    assert list(mail.iter_attachments()) == []
    assert mail["Message-ID"] == "<itb-outbox-8@itb>"
    assert mail["From"] == "ITB clinic <itb@localhost>"


def test_an_international_domain_is_sent_in_its_ascii_form(smtp_catcher: SmtpCatcher) -> None:
    smtp_sender(smtp_catcher.url).send(outgoing(address="anna@müller.example"))

    [received] = smtp_catcher.envelopes
    assert received.rcpt_tos == ("anna@xn--mller-kva.example",)
    assert received.parsed()["To"].addresses[0].addr_spec == "anna@xn--mller-kva.example"


@pytest.mark.parametrize(
    ("address", "why"),
    [("renée@example.org", "only ASCII letters are supported before the @"), ("nobody", "is not an email address")],
)
def test_an_address_smtp_cannot_carry_fails_the_send_before_connecting(address: str, why: str) -> None:
    sender = smtp_sender(f"smtp://127.0.0.1:{free_port()}")

    with pytest.raises(SendFailed, match=f"^the message could not be written as an email: .*{why}"):
        sender.send(outgoing(address=address))


def test_a_message_sent_again_keeps_its_message_id(smtp_catcher: SmtpCatcher) -> None:
    sender = smtp_sender(smtp_catcher.url)
    sender.send(outgoing())
    sender.send(outgoing())

    assert [m["Message-ID"] for m in smtp_catcher.messages] == ["<itb-outbox-7@itb>"] * 2


def test_the_login_is_the_one_configured() -> None:
    with SmtpCatcher(users={"clinic": "pässword 1"}) as server:
        smtp_sender(f"smtp://clinic:p%C3%A4ssword%201@127.0.0.1:{server.port}").send(outgoing())
        smtp_sender(server.url, user="clinic", password="pässword 1").send(outgoing())

        assert [r.login for r in server.envelopes] == ["clinic", "clinic"]


def test_a_wrong_password_fails_without_showing_it() -> None:
    with SmtpCatcher(users={"clinic": "right-one"}) as server:
        sender = smtp_sender(server.url, user="clinic", password="wrong-one-1234")
        with pytest.raises(SendFailed) as failed:
            sender.send(outgoing())

        assert server.envelopes == []
    reason = str(failed.value)
    assert reason.startswith(f"SMTP server 127.0.0.1:{server.port} refused the login of clinic: 535")
    assert "wrong-one-1234" not in reason
    assert "wrong-one-1234" not in repr(sender)


def test_a_server_that_requires_a_login_refuses_a_message_without_one() -> None:
    with SmtpCatcher(users={"clinic": "right-one"}) as server, pytest.raises(SendFailed, match="530"):
        smtp_sender(server.url).send(outgoing())


def test_a_server_that_is_not_listening_fails_the_send() -> None:
    port = free_port()
    with pytest.raises(SendFailed, match=rf"^could not connect to 127\.0\.0\.1:{port}: .*(refused|Errno)"):
        smtp_sender(f"smtp://127.0.0.1:{port}").send(outgoing())


def test_a_refused_recipient_fails_the_send_naming_it(smtp_catcher: SmtpCatcher) -> None:
    smtp_catcher.refuse_recipients()

    with pytest.raises(SendFailed) as failed:
        smtp_sender(smtp_catcher.url).send(outgoing())

    assert str(failed.value) == (
        f"SMTP server 127.0.0.1:{smtp_catcher.port} refused the recipient: 550 5.1.1 No such user here"
    )
    assert smtp_catcher.envelopes == []


def test_a_failing_server_fails_the_send_until_it_recovers(smtp_catcher: SmtpCatcher) -> None:
    sender = smtp_sender(smtp_catcher.url)
    smtp_catcher.fail_next(2)
    for _ in range(2):
        with pytest.raises(SendFailed, match=r"refused the message: 451 4\.3\.0 Try again later$"):
            sender.send(outgoing())
    sender.send(outgoing())
    smtp_catcher.fail_all()
    with pytest.raises(SendFailed, match="451"):
        sender.send(outgoing())
    smtp_catcher.recover()
    sender.send(outgoing())

    assert smtp_catcher.attempts == 5
    assert len(smtp_catcher.wait_for(2)) == 2


def test_starttls_offered_by_no_server_fails_the_send(smtp_catcher: SmtpCatcher) -> None:
    sender = smtp_sender(f"smtp+starttls://127.0.0.1:{smtp_catcher.port}")

    with pytest.raises(SendFailed, match="STARTTLS"):
        sender.send(outgoing())
    assert smtp_catcher.envelopes == []


def test_tls_to_a_plain_server_fails_the_send(smtp_catcher: SmtpCatcher) -> None:
    with pytest.raises(SendFailed, match=rf"^TLS with SMTP server 127\.0\.0\.1:{smtp_catcher.port} failed: "):
        smtp_sender(f"smtps://127.0.0.1:{smtp_catcher.port}").send(outgoing())


def test_a_header_with_a_line_break_fails_the_send_before_connecting() -> None:
    sender = smtp_sender(f"smtp://127.0.0.1:{free_port()}")

    with pytest.raises(SendFailed, match="could not be written as an email"):
        sender.send(outgoing(subject="Refill\r\nBcc: everyone@example.org"))


# -- webhook ---------------------------------------------------------------------------------------


def test_a_webhook_message_is_signed_json(gateway: Gateway) -> None:
    WebhookSender(gateway.url, "gateway-secret", clock=lambda: 1741080600.7).send(outgoing(channel="webhook"))

    [(path, headers, body)] = gateway.requests
    assert path == "/itb/messages"
    assert json.loads(body) == {
        "message_id": "<itb-outbox-7@itb>",
        "rule": "refill-reminder-7d",
        "event": "refill-due",
        "channel": "webhook",
        "to": {"name": "Renée Dupont, Jr.", "address": "renee.dupont@example.org"},
        "subject": "Refill on 12 March — Pump 1",
        "text": outgoing().body,
    }
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    assert headers["Idempotency-Key"] == "<itb-outbox-7@itb>"
    assert headers["X-ITB-Timestamp"] == "1741080600"
    signed = headers["X-ITB-Signature"]
    assert signed.startswith("sha256=")
    assert verify_signature("gateway-secret", "1741080600", body, signed)
    assert not verify_signature("another-secret", "1741080600", body, signed)
    assert not verify_signature("gateway-secret", "1741080601", body, signed)
    assert not verify_signature("gateway-secret", "1741080600", body + b" ", signed)


def test_a_signature_can_be_refused_as_too_old(gateway: Gateway) -> None:
    WebhookSender(gateway.url, "gateway-secret", clock=lambda: 1_000_000.0).send(outgoing())
    [(_, headers, body)] = gateway.requests
    stamp, signed = headers["X-ITB-Timestamp"], headers["X-ITB-Signature"]

    assert verify_signature("gateway-secret", stamp, body, signed, max_age_s=300, now=1_000_299.0)
    assert not verify_signature("gateway-secret", stamp, body, signed, max_age_s=300, now=1_000_301.0)
    assert not verify_signature("gateway-secret", "-5", body, signed)


def test_a_gateway_error_fails_the_send_with_the_start_of_its_answer(gateway: Gateway) -> None:
    gateway.status, gateway.answer = 500, b"Internal error: " + b"x" * 500

    with pytest.raises(SendFailed) as failed:
        WebhookSender(gateway.url, "gateway-secret").send(outgoing())

    reason = str(failed.value)
    assert reason.startswith(f"webhook {gateway.url} answered 500: Internal error: xxx")
    assert len(reason) == len(f"webhook {gateway.url} answered 500: ") + 200


def test_a_redirect_is_not_followed(gateway: Gateway) -> None:
    gateway.status, gateway.answer = 302, b""

    with pytest.raises(SendFailed, match="answered 302"):
        WebhookSender(gateway.url, "gateway-secret").send(outgoing())


def test_a_closed_port_fails_the_webhook_send() -> None:
    url = f"http://user:hidden-pass@127.0.0.1:{free_port()}/hook?token=hidden-token"

    with pytest.raises(SendFailed) as failed:
        WebhookSender(url, "gateway-secret").send(outgoing())

    reason = str(failed.value)
    assert reason.startswith("webhook http://user@127.0.0.1:")
    assert "could not be reached" in reason
    assert "hidden-pass" not in reason and "hidden-token" not in reason


@pytest.mark.parametrize("url", ["ftp://gateway.example.org/", "gateway.example.org/hook", "https://", "http://[::1"])
def test_a_webhook_url_must_be_http_or_https(url: str) -> None:
    with pytest.raises(ValueError, match=r"^ITB_NOTIFY_WEBHOOK_URL: an http or https URL is needed"):
        WebhookSender(url, "gateway-secret")


@pytest.mark.parametrize("secret", [None, ""])
def test_an_unsigned_webhook_is_refused(secret: str | None) -> None:
    with pytest.raises(ValueError, match=r"^ITB_NOTIFY_WEBHOOK_SECRET: "):
        WebhookSender("https://gateway.example.org/itb", secret)


# -- configuration ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://mail.example.org", ("mail.example.org", 25, "plain")),
        ("smtp://mail.example.org:2525", ("mail.example.org", 2525, "plain")),
        ("smtp+starttls://mail.example.org", ("mail.example.org", 587, "starttls")),
        ("smtp+starttls://mail.example.org:2587/", ("mail.example.org", 2587, "starttls")),
        ("smtps://mail.example.org", ("mail.example.org", 465, "tls")),
        ("SMTPS://Mail.Example.org:4650", ("mail.example.org", 4650, "tls")),
        ("smtp://[::1]:2525", ("::1", 2525, "plain")),
    ],
)
def test_each_url_form_names_server_port_and_security(url: str, expected: tuple[str, int, str]) -> None:
    config = smtp_config_from_url(url)

    assert (config.host, config.port, config.security) == expected
    assert (config.user, config.password, config.from_address, config.timeout) == (
        None,
        None,
        "ITB clinic <itb@localhost>",
        10.0,
    )


def test_the_login_may_be_in_the_url_and_the_separate_one_wins() -> None:
    in_url = smtp_config_from_url("smtp://clinic%40example.org:p%3Ass%20w@mail.example.org:2525")
    apart = smtp_config_from_url("smtp://clinic:old@mail.example.org", user="itb", password="new")

    assert (in_url.user, in_url.password, in_url.port) == ("clinic@example.org", "p:ss w", 2525)
    assert (apart.user, apart.password) == ("itb", "new")
    assert "p:ss w" not in repr(in_url)


@pytest.mark.parametrize(
    ("url", "rule"),
    [
        ("http://mail.example.org", "the scheme must be smtp, smtp+starttls or smtps (got 'http')"),
        ("mail.example.org:25", "the scheme must be smtp, smtp+starttls or smtps"),
        ("smtp://", "a server is needed"),
        ("smtp://mail.example.org:0", "the port must be a number from 1 to 65535"),
        ("smtp://mail.example.org:70000", "the port must be a number from 1 to 65535"),
        ("smtp://mail.example.org:twenty", "the port must be a number from 1 to 65535"),
        ("smtp://mail.example.org/inbox", "no path or query"),
        ("smtp://[::1", "not a URL"),
    ],
)
def test_a_bad_url_names_the_setting_and_the_rule(url: str, rule: str) -> None:
    with pytest.raises(ValueError, match=r"^ITB_SMTP_URL: ") as raised:
        smtp_config_from_url(url)

    assert rule in str(raised.value)


def test_a_password_without_a_user_or_a_bad_from_address_is_refused() -> None:
    with pytest.raises(ValueError, match=r"^ITB_SMTP_PASSWORD: a password needs a user"):
        smtp_config_from_url("smtp://mail.example.org", password="secret")
    with pytest.raises(ValueError, match=r"^ITB_NOTIFY_FROM: an email address is needed"):
        smtp_config_from_url("smtp://mail.example.org", from_address="the clinic")


ENV = {
    "ITB_SMTP_URL": "smtp+starttls://clinic:url-pass@mail.example.org",
    "ITB_SMTP_USER": "itb",
    "ITB_SMTP_PASSWORD": "env-pass",
    "ITB_NOTIFY_FROM": "Klinik <itb@klinik.example>",
    "ITB_NOTIFY_WEBHOOK_URL": "https://gateway.example.org/itb",
    "ITB_NOTIFY_WEBHOOK_SECRET": "hook-secret",
    "HOME": "/home/itb",
}


def test_the_settings_are_read_from_the_environment() -> None:
    settings = channel_settings_from_env(ENV)

    assert settings == ChannelSettings(
        smtp_url="smtp+starttls://clinic:url-pass@mail.example.org",
        smtp_user="itb",
        smtp_password="env-pass",
        from_address="Klinik <itb@klinik.example>",
        webhook_url="https://gateway.example.org/itb",
        webhook_secret="hook-secret",
    )
    assert channel_settings_from_env({"ITB_SMTP_URL": " ", "HOME": "/"}) == ChannelSettings()
    assert "env-pass" not in repr(settings) and "hook-secret" not in repr(settings)


def test_the_settings_pages_values_lie_over_the_environments() -> None:
    page = ChannelSettings(smtp_url="smtp://relay.clinic.example:2525", smtp_user="", webhook_secret="page-secret")

    assert channel_settings_from_env(ENV).over(page) == ChannelSettings(
        smtp_url="smtp://relay.clinic.example:2525",
        smtp_user="itb",
        smtp_password="env-pass",
        from_address="Klinik <itb@klinik.example>",
        webhook_url="https://gateway.example.org/itb",
        webhook_secret="page-secret",
    )


def test_the_senders_are_built_from_the_settings() -> None:
    senders = senders_from(channel_settings_from_env(ENV))

    email, webhook = senders["email"], senders["webhook"]
    assert isinstance(email, SmtpSender) and isinstance(webhook, WebhookSender)
    assert email.config == SmtpConfig(
        host="mail.example.org",
        port=587,
        security="starttls",
        user="itb",
        password="env-pass",
        from_address="Klinik <itb@klinik.example>",
    )
    assert webhook.url == "https://gateway.example.org/itb"


def test_a_channel_not_configured_refuses_every_message() -> None:
    senders = senders_from(ChannelSettings())

    assert set(senders) == {"email", "webhook"}
    for channel, reason in (("email", EMAIL_NOT_CONFIGURED), ("webhook", WEBHOOK_NOT_CONFIGURED)):
        with pytest.raises(SendFailed) as failed:
            senders[channel].send(outgoing(channel=channel))
        assert str(failed.value) == reason
    assert EMAIL_NOT_CONFIGURED == "email is not configured: set ITB_SMTP_URL or the settings page's SMTP server"


def test_a_channel_configured_wrongly_refuses_every_message_saying_why() -> None:
    senders = senders_from(ChannelSettings(smtp_url="smtp+ssl://mail.example.org", webhook_url="https://gw.example/"))

    for channel, setting in (("email", "ITB_SMTP_URL"), ("webhook", "ITB_NOTIFY_WEBHOOK_SECRET")):
        sender = senders[channel]
        assert isinstance(sender, NotConfigured)
        assert sender.reason.startswith(f"{channel} is not configured: {setting}: ")
        with pytest.raises(SendFailed, match=setting):
            sender.send(outgoing())


def test_describe_shows_the_settings_without_secrets() -> None:
    shown = describe(channel_settings_from_env(ENV | {"ITB_NOTIFY_WEBHOOK_URL": "https://gw.example/hook?key=k3y"}))

    assert shown == {
        "email": {
            "server": "smtp+starttls://clinic@mail.example.org",
            "security": "starttls",
            "user": "itb",
            "password": "set",
            "from": "Klinik <itb@klinik.example>",
            "problem": None,
        },
        "webhook": {"url": "https://gw.example/hook?…", "secret": "set", "problem": None},
    }
    for secret in ("url-pass", "env-pass", "hook-secret", "k3y"):
        assert secret not in repr(shown)


def test_describe_says_what_is_missing() -> None:
    shown = describe(ChannelSettings(smtp_url="smtp://clinic:only-in-url@mail.example.org"))

    assert shown["email"]["password"] == "set"
    assert shown["email"]["user"] == "clinic"
    assert "only-in-url" not in repr(shown)
    assert shown["webhook"] == {"url": None, "secret": "not set", "problem": WEBHOOK_NOT_CONFIGURED}
    assert describe(ChannelSettings())["email"] == {
        "server": None,
        "security": None,
        "user": None,
        "password": "not set",
        "from": "ITB clinic <itb@localhost>",
        "problem": EMAIL_NOT_CONFIGURED,
    }
