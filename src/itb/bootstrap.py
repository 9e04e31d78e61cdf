"""The one place that wires a clinic: its database, its pumps' gateway, the pump locks, the clock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Engine

from itb.adapters.audit_key import audit_key
from itb.adapters.db.engine import session_factory
from itb.adapters.db.locks import DatabasePumpLocks
from itb.adapters.pumps.telemetry import TelemetryPumps
from itb.clinic.services import Clinic, ClinicConfig


def clinic_on(engine: Engine, config: ClinicConfig, clock: Callable[[], datetime] = datetime.now) -> Clinic:
    """A clinic on ``engine``: virtual pumps kept in that database, one writer per pump across processes.

    The pumps read the clinic's clock when they are visited (a demo or a test may move it). The
    sessions carry the audit key (``$ITB_AUDIT_KEY``, else ``audit.key`` in the data directory).
    """
    clinic = Clinic(
        session_factory(engine, audit_key(config.data_dir)),
        config,
        clock,
        gateway=TelemetryPumps(engine, lambda: clinic.clock()),
        locks=DatabasePumpLocks(engine, config.data_dir / "locks"),
    )
    return clinic
