"""The real ``itb import`` command, run as a subprocess (``shared/spec/clinic-import.md``,
"Command"): exit 0 imported (or valid with ``--dry-run``), exit 2 invalid with every error on
stderr as ``row N, column C: ...``, ``--json`` the report."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import orjson
from test_forecast_cli import itb_command

FILE = Path(__file__).parents[1] / "data" / "clinic-import" / "three-pumps.csv"


def itb_import(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ITB_HOME": str(tmp_path)}
    command = [*itb_command(), "import", *args, "--db", str(tmp_path / "clinic.db")]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)


def test_import_then_again_unchanged_and_a_dry_run_stores_nothing(tmp_path: Path):
    dry = itb_import(tmp_path, str(FILE), "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    assert {r["status"] for r in orjson.loads(dry.stdout)["rows"]} == {"valid"}
    first = itb_import(tmp_path, str(FILE), "--json")
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
