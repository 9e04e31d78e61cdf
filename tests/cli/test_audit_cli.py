"""The ``itb audit verify`` command, in this process (a broken chain's also as a process of its
own): exit 0 and a summary when the chain is intact, exit 1 with each finding on a line naming its
entry when it is not, ``--json`` the verification, ``--full`` every entry; an unusable
``ITB_AUDIT_KEY`` is one line and exit 2."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from datetime import date
from pathlib import Path

import orjson
from test_forecast_cli import itb_command

from itb.adapters.db.engine import make_engine, migrate
from itb.bootstrap import clinic_on
from itb.clinic.services import SYSTEM, ClinicConfig
from itb_here import itb_here


def itb(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``itb ARGS --db`` the test's clinic, in this process (``tests/itb_here.py``)."""
    environment: dict[str, str | None] = {"ITB_AUDIT_KEY": None, "ITB_HOME": str(tmp_path), **env}
    return itb_here(*args, "--db", str(tmp_path / "clinic.db"), env=environment)


def itb_process(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The same, as a process of its own."""
    environment = {k: v for k, v in os.environ.items() if k != "ITB_AUDIT_KEY"}
    environment.update({"ITB_HOME": str(tmp_path), **env})
    command = [*itb_command(), *args, "--db", str(tmp_path / "clinic.db")]
    return subprocess.run(command, capture_output=True, text=True, env=environment, timeout=120)


def write_entries(tmp_path: Path, count: int) -> None:
    """``count`` audit entries in the clinic the command opens (its database, its key file)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'clinic.db'}")
    migrate(engine)
    clinic = clinic_on(engine, ClinicConfig(data_dir=tmp_path))
    for i in range(count):
        clinic.register_patient(SYSTEM, name=f"P {i}", birth_date=date(2015, 1, 1), origin="spinal")
    engine.dispose()


def test_verify_reports_an_intact_chain_then_the_changed_entry_by_its_id(tmp_path: Path, monkeypatch):
    monkeypatch.delenv("ITB_AUDIT_KEY", raising=False)
    write_entries(tmp_path, 3)
    first = itb(tmp_path, "audit", "verify", "--json")
    assert first.returncode == 0, first.stderr
    report = orjson.loads(first.stdout)
    assert report["intact"] and report["checked"] == report["entries"] > 0 and report["checkpoint_id"]
    again = itb(tmp_path, "audit", "verify")
    assert again.returncode == 0 and "intact" in again.stdout and "checked 0" in again.stdout
    assert (tmp_path / "audit.key").stat().st_mode & 0o777 == 0o600  # made beside the database, private

    with sqlite3.connect(tmp_path / "clinic.db") as db:
        target = db.execute("SELECT min(id) FROM audit_log").fetchone()[0]
        db.execute("UPDATE audit_log SET actor = 'nobody' WHERE id = ?", (target,))
    broken = itb_process(tmp_path, "audit", "verify", "--full")
    assert broken.returncode == 1, broken.stderr
    assert f"audit entry {target}: its content does not match its chain value" in broken.stdout
    found = orjson.loads(itb(tmp_path, "audit", "verify", "--full", "--json").stdout)
    assert not found["intact"] and found["problems"][0]["entry_id"] == target


def test_a_short_audit_key_is_one_line_and_exit_2(tmp_path: Path):
    result = itb(tmp_path, "audit", "verify", ITB_AUDIT_KEY="short")
    assert result.returncode == 2
    assert result.stderr.strip() == "itb: error: ITB_AUDIT_KEY: the audit key must be at least 32 characters"
