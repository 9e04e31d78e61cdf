"""What ``itb`` imports to start: ``itb --help`` not even Typer, the quick commands never the
clinic's or the forecast's libraries, and the command tree built on demand lists and runs
exactly what Typer's would."""

from __future__ import annotations

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from itb.cli import app
from itb.cli.lazy import lazy_command

HEAVY = ("numpy", "sqlalchemy", "fastapi", "pydantic", "starlette", "uvicorn", "matplotlib", "jinja2", "typer")
PROBE = """
import sys
from itb.cli import main
sys.argv = ["itb", *sys.argv[1:]]
try:
    main()
finally:
    loaded = {{name.split(".")[0] for name in sys.modules}}
    sys.stderr.write("loaded: " + ",".join(sorted(loaded & set({heavy!r}))) + "\\n")
"""


def loaded_by(*args: str) -> tuple[set[str], str]:
    """The heavy libraries that ``itb ARGS`` imported, and what it printed."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY), *args], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    line = next(x for x in done.stderr.splitlines() if x.startswith("loaded: "))
    return {x for x in line.removeprefix("loaded: ").split(",") if x}, done.stdout


def test_help_imports_no_heavy_library_not_even_typer_and_lists_every_command():
    loaded, out = loaded_by("--help")
    assert loaded == set()
    for name in ("forecast", "simulate", "serve", "demo", "import", "worklist", "pump", "programmer", "audit"):
        assert f"\n  {name} " in out


def test_the_bundled_simulation_imports_neither_the_clinic_nor_numpy_nor_typer():
    loaded, out = loaded_by("simulate")
    assert loaded == set()  # nothing to parse: the entry point runs it
    assert out == CliRunner().invoke(app, ["simulate"]).stdout  # as Typer's command prints it
    assert "Not a certified medical device" in out
    loaded, _ = loaded_by("simulate", "--json")
    assert loaded == {"typer"}  # an option: Typer parses the line


def test_forecast_still_imports_what_it_computes_with(tmp_path):
    case = tmp_path / "case.json"
    case.write_text(
        '{"at": "2026-01-01T08:00", "reservoir_capacity_ml": 20, "reservoir_ml": 18,'
        ' "concentration_mcg_per_ml": 500, "low_reservoir_alarm_ml": 2, "program": {"steps":'
        ' [{"start": "00:00", "rate_mcg_per_day": 100}]}}'
    )
    loaded, out = loaded_by("forecast", str(case))
    assert "numpy" in loaded and "sqlalchemy" not in loaded
    assert out


def test_the_plain_forecast_forms_do_not_import_typer(tmp_path):
    case = tmp_path / "case.json"
    case.write_text(
        '{"at": "2026-01-01T08:00", "reservoir_capacity_ml": 20, "reservoir_ml": 18,'
        ' "concentration_mcg_per_ml": 500, "low_reservoir_alarm_ml": 2, "program": {"steps":'
        ' [{"start": "00:00", "rate_mcg_per_day": 100}]}}'
    )
    for args in (["forecast", str(case)], ["forecast", str(case), "--json"], ["forecast", "--batch", str(case)]):
        loaded, out = loaded_by(*args)
        assert "typer" not in loaded and "sqlalchemy" not in loaded, args
        assert out, args
    loaded, _ = loaded_by("forecast", "--help")
    assert "typer" in loaded  # anything else: Typer parses the line


@pytest.mark.parametrize(
    "args",
    [["--help"], [], ["pump", "--help"], ["simulate", "--help"], ["worklst"], ["users", "--help"], ["--bogus"]],
)
def test_the_tree_built_on_demand_answers_as_typers_own(args, monkeypatch):
    eager = CliRunner().invoke(app, args)
    monkeypatch.setattr("typer.testing._get_command", lazy_command)  # the runner takes the lazy tree instead
    lazy = CliRunner().invoke(app, args)
    assert (lazy.exit_code, lazy.output) == (eager.exit_code, eager.output)
    assert eager.output
