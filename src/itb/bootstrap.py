"""The one place that wires a clinic: its database, its pumps' gateway, the pump locks, the message
channels, the clock."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from datetime import datetime

from sqlalchemy import Engine

from itb.adapters.audit_key import audit_key
from itb.adapters.db.engine import session_factory
from itb.adapters.db.locks import DatabasePumpLocks
from itb.adapters.notify.config import ChannelSettings, channel_settings_from_env, senders_from
from itb.adapters.pumps.telemetry import TelemetryPumps
from itb.clinic.ports import Sender
from itb.clinic.services import Clinic, ClinicConfig


def clinic_on(engine: Engine, config: ClinicConfig, clock: Callable[[], datetime] = datetime.now) -> Clinic:
    """A clinic on ``engine``: virtual pumps kept in that database, one writer per pump across processes.

    The pumps read the clinic's clock when they are visited (a demo or a test may move it). The
    sessions carry the audit key (``$ITB_AUDIT_KEY``, else ``audit.key`` in the data directory).
    Messages go out through the channels of :func:`notify_senders`, read again at each pass.
    """
    clinic = Clinic(
        session_factory(engine, audit_key(config.data_dir)),
        config,
        clock,
        gateway=TelemetryPumps(engine, lambda: clinic.clock()),
        locks=DatabasePumpLocks(engine, config.data_dir / "locks"),
        senders=lambda: notify_senders(clinic),
    )
    return clinic


def notify_senders(clinic: Clinic, env: Mapping[str, str] = os.environ) -> dict[str, Sender]:
    """The email and webhook channels: the environment's settings (``ITB_SMTP_URL`` and the like)
    with those stored on the clinic's settings page over them (never a password or a secret)."""
    stored = clinic.settings_cache.current()
    page = ChannelSettings(
        smtp_url=stored.smtp_url, smtp_user=stored.smtp_user, from_address=stored.notify_from,
        webhook_url=stored.webhook_url,
    )  # fmt: skip
    return senders_from(channel_settings_from_env(env).over(page))
