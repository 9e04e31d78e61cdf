"""``itb forecast``'s plain forms run without Typer (``itb.cli.forecast_run``), and answer exactly
as the Typer command does: the same output, the same one-line errors, the same exit statuses."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from forecast_cases import GOOD
from itb.cli.forecast_run import plain_forecast

#: The entry point (the fast path where it applies), reporting whether Typer was imported.
FAST = """
import sys
sys.argv = ["itb", *sys.argv[1:]]
try:
    from itb.cli import main
    main()
finally:
    sys.stderr.write("typer: %s\\n" % ("typer" in sys.modules))
"""
#: The command line through Typer, always.
TYPER = """
import sys
sys.argv = ["itb", *sys.argv[1:]]
from itb.cli.commands import run
run()
"""


def run(program: str, args: list[str], stdin: bytes | None) -> tuple[int, bytes, bytes]:
    env = {**os.environ, "COLUMNS": "160", "NO_COLOR": "1"}
    done = subprocess.run(
        [sys.executable, "-c", program, *args], input=stdin, capture_output=True, timeout=120, env=env
    )
    return done.returncode, done.stdout, done.stderr


def both(args: list[str], stdin: bytes | None = None) -> tuple[int, bytes, bytes]:
    """What the fast path printed, after checking that it used no Typer and that Typer's path
    prints the same."""
    code, out, err = run(FAST, args, stdin)
    err, _, used = err.rpartition(b"typer: ")
    assert used == b"False\n", err
    assert (code, out, err) == run(TYPER, args, stdin)
    return code, out, err


def lines_file(tmp_path: Path) -> Path:
    bad = {**GOOD, "id": "b", "reservoir_ml": -1}
    lines = [orjson.dumps(GOOD), orjson.dumps(bad), b"{not json", b"", b"[1, 2]", orjson.dumps({**GOOD, "id": 7})]
    path = tmp_path / "cases.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


@pytest.mark.parametrize(
    "args, form",
    [
        (["forecast", "case.json"], ("case.json", None, False)),
        (["forecast", "-"], ("-", None, False)),
        (["forecast", "case.json", "--json"], ("case.json", None, True)),
        (["forecast", "--json", "case.json"], ("case.json", None, True)),
        (["forecast", "--batch", "cases.jsonl"], (None, "cases.jsonl", False)),
        (["forecast", "--batch", "-"], (None, "-", False)),
    ],
)
def test_plain_forms(args, form):
    assert plain_forecast(args) == form


@pytest.mark.parametrize(
    "args",
    [
        ["forecast"],
        ["forecast", "--help"],
        ["forecast", "case.json", "--bogus"],
        ["forecast", "case.json", "other.json"],
        ["forecast", "case.json", "--batch", "cases.jsonl"],
        ["forecast", "--batch"],
        ["forecast", "--batch", "--json"],
        ["forecast", "--batch=cases.jsonl"],
        ["forecast", "--batch", "cases.jsonl", "--json"],
        ["forecast", "--json"],
        ["forecast", "--json", "--json", "case.json"],
        ["forecast", "-x"],
        ["forecast", ""],
        ["simulate", "case.json"],
        [],
    ],
)
def test_every_other_form_is_left_to_typer(args):
    assert plain_forecast(args) is None


def test_one_case_json_and_human(tmp_path):
    path = str(tmp_path / "case.json")
    Path(path).write_bytes(orjson.dumps(GOOD))
    code, out, err = both(["forecast", path, "--json"])
    assert code == 0 and err == b""
    assert orjson.loads(out)["low_reservoir_alarm_at"] == "2026-04-01T00:00:00"
    code, out, _ = both(["forecast", path])
    assert code == 0 and b"2026-04-01" in out and b"p-0042" in out
    code, out, _ = both(["forecast", "--json", "-"], stdin=orjson.dumps(GOOD))
    assert code == 0 and out.count(b"\n") == 1


@pytest.mark.parametrize(
    "data, name, more",
    [
        (orjson.dumps({**GOOD, "reservoir_ml": -1}), b"reservoir_ml", []),
        (orjson.dumps({**GOOD, "colour": "red"}), b"colour", ["--json"]),
        (orjson.dumps([GOOD]), b"case", []),
        (b"{not json", b"not valid JSON", ["--json"]),
        (b"", b"not valid JSON", []),
    ],
)
def test_one_bad_case_is_the_same_one_line(tmp_path, data, name, more):
    path = tmp_path / "case.json"
    path.write_bytes(data)
    code, out, err = both(["forecast", str(path), *more])
    assert (code, out) == (2, b"")
    assert err.startswith(b"itb: error: ") and err.count(b"\n") == 1 and name in err


def test_unreadable_files(tmp_path):
    missing = str(tmp_path / "no-such-case.json")
    for args in (["forecast", missing], ["forecast", "--batch", missing], ["forecast", str(tmp_path)]):
        code, out, err = both(args)
        assert (code, out) == (2, b"")
        assert err.count(b"\n") == 1 and b"cannot read" in err


def test_batch_from_a_file_and_from_stdin(tmp_path):
    path = lines_file(tmp_path)
    code, out, err = both(["forecast", "--batch", str(path)])
    assert (code, err) == (0, b"")
    assert len(out.splitlines()) == 5
    assert both(["forecast", "--batch", "-"], stdin=path.read_bytes()) == (code, out, err)


def test_large_batch_through_the_workers(tmp_path):
    lines = [orjson.dumps({**GOOD, "id": i, "at": f"2026-01-01T{i % 24:02d}:00:00"}) for i in range(6000)]
    lines[4321] = b"oops"
    path = tmp_path / "big.jsonl"
    path.write_bytes(b"\n".join(lines))
    code, out, err = both(["forecast", "--batch", str(path)])
    assert (code, err) == (0, b"")
    assert len(out.splitlines()) == 6000
    assert out.splitlines()[4321].startswith(b'{"id":null,"error":"line 4322: not valid JSON')
