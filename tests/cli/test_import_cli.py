"""The ``itb import`` command (``shared/spec/clinic-import.md``, "Command"), in this process, and
as a process of its own for a repeated import and an invalid file: exit 0 imported (or valid with
``--dry-run``), exit 2 invalid with every error on stderr as ``row N, column C: ...``, ``--json``
the report."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import orjson
from test_forecast_cli import itb_command

from itb_here import itb_here

FILE = Path(__file__).parents[1] / "data" / "clinic-import" / "three-pumps.csv"


def itb_import(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``itb import ARGS`` as a process of its own."""
    env = {**os.environ, "ITB_HOME": str(tmp_path)}
    command = [*itb_command(), "import", *args, "--db", str(tmp_path / "clinic.db")]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)


def test_import_then_again_unchanged_and_a_dry_run_stores_nothing(tmp_path: Path):
    dry = itb(tmp_path, "import", str(FILE), "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    assert {r["status"] for r in orjson.loads(dry.stdout)["rows"]} == {"valid"}
    first = itb(tmp_path, "import", str(FILE), "--json")
    assert first.returncode == 0, first.stderr
    assert orjson.loads(first.stdout)["created"]["pumps"] == 3  # the dry run stored nothing
    again = itb_import(tmp_path, str(FILE))
    assert again.returncode == 0 and "unchanged 3" in again.stdout


def test_an_invalid_file_exits_2_with_every_error_on_stderr(tmp_path: Path):
    bad = tmp_path / "bad.csv"
    bad.write_text(FILE.read_text(encoding="utf-8").replace("cerebral", "brain").replace(",35,2012", ",300,2012"))
    result = itb_import(tmp_path, str(bad))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert "row 2, column origin: must be spinal or cerebral" in lines
    assert any(line.startswith("row 4, column reservoir_capacity_ml:") for line in lines)
    assert "Traceback" not in result.stderr


def itb(tmp_path: Path, *args: str, db: str = "clinic.db") -> subprocess.CompletedProcess[str]:
    """``itb ARGS --db`` the test's clinic, in this process (``tests/itb_here.py``)."""
    return itb_here(*args, "--db", str(tmp_path / db), env={"ITB_HOME": str(tmp_path)})


def test_export_then_import_elsewhere_gives_the_same_forecast(tmp_path: Path):
    """``itb export``: the import's columns, every pump as it stands; another clinic importing the
    file gets the same alarm and empty instants for each pump."""
    first = orjson.loads(itb(tmp_path, "import", str(FILE), "--json").stdout)
    out = tmp_path / "export.csv"
    done = itb(tmp_path, "export", str(out))
    assert done.returncode == 0 and "3 pumps exported" in done.stdout, done.stderr
    moved = itb(tmp_path, "import", str(out), "--json", db="other.db")
    assert moved.returncode == 0, moved.stderr
    forecast = {r["pump_serial"]: (r["low_reservoir_alarm_at"], r["empty_at"]) for r in first["rows"]}
    assert {
        r["pump_serial"]: (r["low_reservoir_alarm_at"], r["empty_at"]) for r in orjson.loads(moved.stdout)["rows"]
    } == forecast
    again = itb(tmp_path, "import", str(out))
    assert again.returncode == 0 and "unchanged 3" in again.stdout


def test_session_review_stores_nothing_then_the_session_is_recorded(tmp_path: Path):
    """``itb session``: --review first (nothing stored), then the same entries recorded; units
    are parsed (0.5 mg/mL is 500 mcg/mL), a bad entry names its field and exits 2."""
    rows = orjson.loads(itb(tmp_path, "import", str(FILE), "--json").stdout)["rows"]
    pump = str(next(r["pump_id"] for r in rows if r["pump_serial"] == "NGP123456H"))
    entries = ["--at", "2026-11-30T10:00", "--withdrawn", "16 mL", "--added", "20", "--concentration", "0.5 mg/mL"]
    review = itb(tmp_path, "session", pump, "refill", *entries, "--review", "--json")
    assert review.returncode == 0, review.stderr
    reviewed = orjson.loads(review.stdout)
    assert reviewed["dry_run"] is True and reviewed["session"]["id"] is None and reviewed["booked_refill"]
    recorded = orjson.loads(itb(tmp_path, "session", pump, "refill", *entries, "--json").stdout)
    assert recorded["dry_run"] is False and recorded["session"]["id"] is not None
    assert recorded["session"]["data"]["concentration_mcg_per_ml"] == 500
    assert recorded["low_reservoir_alarm_at"] == reviewed["low_reservoir_alarm_at"]
    again = itb(tmp_path, "session", pump, "refill", *entries)  # the same instant is now before the last session
    assert again.returncode == 2 and "at" in again.stderr
    bad = itb(tmp_path, "session", pump, "refill", "--withdrawn", "16 mcg", "--added", "20", "--concentration", "500")
    assert bad.returncode == 2 and "withdrawn_ml" in bad.stderr and "Traceback" not in bad.stderr
