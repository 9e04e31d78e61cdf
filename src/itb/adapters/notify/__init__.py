"""The notifications' message channels: email over SMTP and a signed JSON webhook.

Each channel is a :class:`itb.clinic.ports.Sender`: it takes an :class:`~itb.clinic.ports.Outgoing`
or raises :class:`~itb.clinic.ports.SendFailed` saying why, and nothing else. ``config`` reads the
channels' settings (environment, laid under the clinic's settings page) and builds the senders.
"""

from itb.adapters.notify.config import ChannelSettings, channel_settings_from_env, describe, senders_from
from itb.adapters.notify.smtp import SmtpConfig, SmtpSender, smtp_config_from_url
from itb.adapters.notify.webhook import WebhookSender, verify_signature

__all__ = [
    "ChannelSettings",
    "SmtpConfig",
    "SmtpSender",
    "WebhookSender",
    "channel_settings_from_env",
    "describe",
    "senders_from",
    "smtp_config_from_url",
    "verify_signature",
]
