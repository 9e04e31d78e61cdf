"""The channels' settings and the senders they make.

Settings come from the environment (:func:`channel_settings_from_env`); the clinic's settings page
stores some of them and lays them over it (:meth:`ChannelSettings.over`). A channel that is not
configured, or configured wrongly, still gets a sender: one that refuses every message with the
reason (:class:`NotConfigured`), so the outbox keeps its messages pending and visible and sends
them once the channel is set up. :func:`describe` shows the settings and any such reason,
without the password or the secret.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace

from itb.adapters.notify.smtp import DEFAULT_FROM, SmtpSender, smtp_config_from_url
from itb.adapters.notify.urls import shown
from itb.adapters.notify.webhook import WebhookSender
from itb.clinic.ports import Outgoing, Sender, SendFailed

ENVIRONMENT = {
    "smtp_url": "ITB_SMTP_URL",
    "smtp_user": "ITB_SMTP_USER",
    "smtp_password": "ITB_SMTP_PASSWORD",
    "from_address": "ITB_NOTIFY_FROM",
    "webhook_url": "ITB_NOTIFY_WEBHOOK_URL",
    "webhook_secret": "ITB_NOTIFY_WEBHOOK_SECRET",
}
EMAIL_NOT_CONFIGURED = "email is not configured: set ITB_SMTP_URL or the settings page's SMTP server"
WEBHOOK_NOT_CONFIGURED = "webhook is not configured: set ITB_NOTIFY_WEBHOOK_URL or the settings page's webhook"


@dataclass(frozen=True)
class ChannelSettings:
    """The channels' settings; ``None`` (or blank) is not set. The secrets stay out of ``repr``."""

    smtp_url: str | None = None
    smtp_user: str | None = None
    smtp_password: str | None = field(default=None, repr=False)
    from_address: str | None = None
    webhook_url: str | None = None
    webhook_secret: str | None = field(default=None, repr=False)

    def over(self, other: ChannelSettings) -> ChannelSettings:
        """These settings with the ones set in ``other`` (not ``None``, not blank) in their place."""
        return replace(self, **{f.name: v for f in fields(other) if _is_set(v := getattr(other, f.name))})


def channel_settings_from_env(env: Mapping[str, str]) -> ChannelSettings:
    """The settings in ``env`` (``os.environ``, say): ``ITB_SMTP_URL`` and the others in :data:`ENVIRONMENT`."""
    return ChannelSettings(**{name: env[var] for name, var in ENVIRONMENT.items() if _is_set(env.get(var))})


def _is_set(value: str | None) -> bool:
    return value is not None and value.strip() != ""


class NotConfigured:
    """A channel that cannot send yet: every message raises :class:`SendFailed` with ``reason``."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def send(self, message: Outgoing) -> None:
        raise SendFailed(self.reason)


def senders_from(settings: ChannelSettings) -> dict[str, Sender]:
    """The sender of each channel, keyed ``email`` and ``webhook``."""
    return {"email": _email(settings), "webhook": _webhook(settings)}


def _email(settings: ChannelSettings) -> Sender:
    if not _is_set(settings.smtp_url):
        return NotConfigured(EMAIL_NOT_CONFIGURED)
    try:
        config = smtp_config_from_url(
            settings.smtp_url or "", settings.smtp_user, settings.smtp_password, settings.from_address
        )
    except ValueError as error:
        return NotConfigured(f"email is not configured: {error}")
    return SmtpSender(config)


def _webhook(settings: ChannelSettings) -> Sender:
    if not _is_set(settings.webhook_url):
        return NotConfigured(WEBHOOK_NOT_CONFIGURED)
    try:
        return WebhookSender((settings.webhook_url or "").strip(), settings.webhook_secret)
    except ValueError as error:
        return NotConfigured(f"webhook is not configured: {error}")


def describe(settings: ChannelSettings) -> dict:
    """The settings for display: no password or secret (``set``/``not set``), URLs without passwords.

    ``problem`` is why the channel cannot send (not configured, or a setting is wrong), else ``None``.
    """
    senders = senders_from(settings)
    return {"email": _email_shown(settings, senders["email"]), "webhook": _webhook_shown(settings, senders["webhook"])}


def _email_shown(settings: ChannelSettings, sender: Sender) -> dict:
    config = sender.config if isinstance(sender, SmtpSender) else None
    return {
        "server": shown(settings.smtp_url.strip()) if settings.smtp_url and _is_set(settings.smtp_url) else None,
        "security": config.security if config else None,
        "user": config.user if config else settings.smtp_user,
        "password": _shown_secret(config.password if config else settings.smtp_password),
        "from": config.from_address if config else (settings.from_address or DEFAULT_FROM),
        "problem": _problem(sender),
    }


def _webhook_shown(settings: ChannelSettings, sender: Sender) -> dict:
    return {
        "url": shown(settings.webhook_url.strip()) if settings.webhook_url and _is_set(settings.webhook_url) else None,
        "secret": _shown_secret(settings.webhook_secret),
        "problem": _problem(sender),
    }


def _problem(sender: Sender) -> str | None:
    return sender.reason if isinstance(sender, NotConfigured) else None


def _shown_secret(value: str | None) -> str:
    return "set" if value else "not set"
