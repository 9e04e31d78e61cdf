"""``itb pump serve`` and ``itb programmer`` as a clinic uses them: a real pump process, real TCP.

The pump is always a process of its own (``itb pump serve``); the programmer's commands run in
this process through the command's entry point (``tests/itb_here.py``: its exit status and both
streams) but for the tests of the installed command itself (a bad address, an unreachable pump,
``--json`` before ``programmer``).
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from itb_here import itb_here

_EXE = shutil.which("itb")
ITB = [_EXE] if _EXE else [sys.executable, "-c", "from itb.cli import main; main()"]


class ServedPump:
    def __init__(self, state: Path, *extra: str) -> None:
        self.proc = subprocess.Popen(
            [*ITB, "pump", "serve", "--port", "0", "--state", str(state), *extra],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        line = self.proc.stdout.readline()  # type: ignore[union-attr]
        found = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
        assert found, (line, self.proc.stderr.read() if self.proc.poll() is not None else "")  # type: ignore[union-attr]
        self.first_line = line
        self.address = f"127.0.0.1:{found.group(1)}"

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(timeout=20)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ITB_HOME", str(tmp_path))
    return tmp_path


@pytest.fixture
def pump(home: Path) -> Iterator[ServedPump]:
    served = ServedPump(home / "pump.json")
    yield served
    if served.proc.poll() is None:
        served.stop()


def programmer(pump: ServedPump, *args: str) -> subprocess.CompletedProcess[str]:
    return itb_here("programmer", "--pump", pump.address, *args)


def as_json(result: subprocess.CompletedProcess[str]) -> object:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_serve_says_what_it_is(pump: ServedPump):
    assert "new pump (peristaltic, 20 mL)" in pump.first_line
    assert "Not a certified medical device" in pump.first_line


def test_interrogate_shows_the_pump_as_a_clinician_reads_it(pump: ServedPump):
    human = programmer(pump, "interrogate")
    assert human.returncode == 0, human.stderr
    for words in ("demo-child", "cerebral", "version 1", "low-reservoir alarm", "battery (ERI)", "alarms"):
        assert words in human.stdout
    status = as_json(programmer(pump, "--json", "interrogate"))
    assert status["program_version"] == 1  # type: ignore[index]
    assert status["daily_dose_mcg"] == 100  # type: ignore[index]
    assert status["low_reservoir_alarm_at"].startswith("2026-0")  # type: ignore[index]


def test_program_change_is_reviewed_sent_and_verified(pump: ServedPump, home: Path):
    result = programmer(pump, "program", "--rate", "110 mcg/day", "--yes")
    assert result.returncode == 0, result.stderr
    assert "now (version 1)" in result.stdout and "proposed" in result.stdout
    assert "verified" in result.stdout
    status = as_json(programmer(pump, "--json", "interrogate"))
    assert status["program_version"] == 2 and status["daily_dose_mcg"] == 110  # type: ignore[index]
    record = json.loads((home / "programmer-record.json").read_text())
    assert [(e["command"], e["status"]) for e in record] == [("program", "applied")]


def test_units_are_read_mg_per_day_is_1000_mcg(pump: ServedPump):
    result = programmer(pump, "--json", "program", "--rate", "0.11 mg/day", "--yes")
    assert result.returncode == 0, result.stderr
    assert as_json(programmer(pump, "--json", "interrogate"))["daily_dose_mcg"] == 110  # type: ignore[index]


def test_hard_limit_is_refused_and_nothing_is_sent(pump: ServedPump):
    result = programmer(pump, "program", "--rate", "0.3 mg/day", "--yes")
    assert result.returncode == 2
    assert "increase_step_max" in result.stdout
    assert "Traceback" not in result.stderr
    assert as_json(programmer(pump, "--json", "log")) == []


def test_bare_number_1000x_off_needs_confirmation(pump: ServedPump):
    result = programmer(pump, "program", "--rate", "0.1", "--yes")
    assert result.returncode == 2
    assert "--confirm bare_number_1000x" in result.stdout
    assert as_json(programmer(pump, "--json", "interrogate"))["program_version"] == 1  # type: ignore[index]


def test_without_yes_and_without_a_terminal_nothing_is_sent(pump: ServedPump):
    result = programmer(pump, "program", "--rate", "105 mcg/day")
    assert result.returncode == 2
    assert "add --yes" in result.stderr
    assert as_json(programmer(pump, "--json", "log")) == []


def test_refill_with_a_new_concentration_gives_a_bridge_bolus(pump: ServedPump):
    result = programmer(
        pump, "--json", "refill", "--withdrawn", "13 mL", "--added", "20 mL", "--concentration", "1 mg/mL", "--yes"
    )
    out = as_json(result)
    assert out["refill"]["status"] == "applied"  # type: ignore[index]
    assert out["bridge"]["status"] == "applied"  # type: ignore[index]
    assert out["bridge"]["summary"]["kind"] == "bridge"  # type: ignore[index]
    assert out["next_refill_at"] < out["low_reservoir_alarm_at"]  # type: ignore[index,operator]
    types = [e["type"] for e in as_json(programmer(pump, "--json", "log"))]  # type: ignore[union-attr]
    assert types == ["refill", "bolus_started"]


def test_overfill_is_refused(pump: ServedPump):
    result = programmer(pump, "refill", "--withdrawn", "13 mL", "--added", "25 mL", "--concentration", "500 mcg/mL")
    assert result.returncode == 2
    assert "refill_overfill" in result.stdout


def test_bolus_then_lockout(pump: ServedPump):
    first = programmer(pump, "bolus", "--dose", "0.02 mg", "--duration", "30 min", "--yes")
    assert first.returncode == 0, first.stderr
    second = programmer(pump, "bolus", "--dose", "20 mcg", "--yes")
    assert second.returncode == 2
    assert "bolus_lockout" in second.stdout
    log = as_json(programmer(pump, "--json", "log"))
    assert [e["type"] for e in log] == ["bolus_started"]  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["program", "--rate", "300 mcg"], "--rate: '300 mcg' is a dose"),
        (["program", "--rate", "0,3 mg/day"], "--rate:"),
        (["program"], "give either --rate or --file"),
        (["refill", "--withdrawn", "3", "--added", "20 L", "--concentration", "500"], "--added:"),
        (["bolus", "--dose", "20 mcg", "--duration", "-5 min"], "--duration:"),
        (["log", "--since", "-1"], "--since"),
    ],
)
def test_bad_input_is_one_line_exit_2(pump: ServedPump, args: list[str], message: str):
    result = programmer(pump, *args)
    assert result.returncode == 2, result
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_address_and_unreachable_pump(home: Path):
    bad = subprocess.run([*ITB, "programmer", "--pump", "nowhere", "interrogate"], capture_output=True, text=True)
    assert bad.returncode == 2 and "--pump: must be HOST:PORT" in bad.stderr
    gone = subprocess.run(
        [*ITB, "programmer", "--pump", "127.0.0.1:9", "interrogate"], capture_output=True, text=True, timeout=60
    )
    assert gone.returncode == 3
    assert "cannot reach the pump" in gone.stderr and "Traceback" not in gone.stderr


def test_the_pump_survives_a_restart(home: Path):
    first = ServedPump(home / "pump.json")
    assert programmer(first, "program", "--rate", "110 mcg/day", "--yes").returncode == 0
    assert first.stop() == 0
    again = ServedPump(home / "pump.json")
    try:
        assert "pump restored" in again.first_line
        status = as_json(programmer(again, "--json", "interrogate"))
        assert status["program_version"] == 2 and status["daily_dose_mcg"] == 110  # type: ignore[index]
        assert [e["type"] for e in as_json(programmer(again, "--json", "log"))] == ["program_changed"]  # type: ignore[union-attr]
    finally:
        again.stop()


def test_a_faulty_link_still_gets_the_change_through_once(home: Path):
    served = ServedPump(home / "pump.json", "--faults", "drop=0.1,corrupt=0.1,duplicate=0.1,seed=3")
    try:
        result = programmer(served, "program", "--rate", "110 mcg/day", "--yes")
        assert result.returncode in (0, 3, 4), result.stderr
        # Whatever happened, a later visit settles it from the pump's log: applied once or not at all.
        log = None
        for _ in range(5):
            got = programmer(served, "--json", "log")
            if got.returncode == 0:
                log = json.loads(got.stdout)
                break
        assert log is not None
        assert sum(1 for e in log if e["type"] == "program_changed") <= 1
        record = json.loads((home / "programmer-record.json").read_text())
        applied = [e for e in record if e["status"] == "applied"]
        assert len(applied) == sum(1 for e in log if e["type"] == "program_changed")
    finally:
        served.stop()


def test_refill_judges_the_strength_against_the_product_named(pump: ServedPump):
    """Product labels: Lioresal Intrathecal is not sold as 1,000 mcg/mL (Gablofen is)."""
    args = ("refill", "--withdrawn", "13 mL", "--added", "20 mL", "--concentration", "1 mg/mL")
    refused = programmer(pump, *args, "--product", "Lioresal Intrathecal", "--yes")
    assert refused.returncode == 2 and "concentration_not_in_product" in refused.stdout
    unknown = programmer(pump, *args, "--product", "Baclofen Plus", "--yes")
    assert unknown.returncode == 2 and "--product: must be one of" in unknown.stderr + unknown.stdout
    assert as_json(programmer(pump, "--json", "log")) == []


def test_priming_a_primed_catheter_is_a_bolus_unless_new_catheter(pump: ServedPump):
    """Device manual: prime only a new or revised catheter; otherwise priming is a bolus into the
    patient and every bolus limit applies (0.32 mL x 500 mcg/mL = 160 mcg > 100 mcg: refused)."""
    primed = programmer(pump, "bolus", "--priming", "50", "--yes")
    assert primed.returncode == 2 and "bolus_dose_max" in primed.stdout and "priming_catheter_primed" in primed.stdout
    new = programmer(pump, "bolus", "--priming", "50", "--new-catheter", "--yes")
    assert new.returncode == 0, new.stdout + new.stderr


# ------------------------------------------------------------------ --json before or after the command (issue 13)
def test_json_after_the_command_means_the_same_as_before(pump: ServedPump):
    before = as_json(programmer(pump, "--json", "interrogate"))
    after = as_json(programmer(pump, "interrogate", "--json"))
    assert isinstance(before, dict) and isinstance(after, dict)
    assert set(after) == set(before)
    assert after["program"] == before["program"] and after["program_version"] == before["program_version"]
    changed = as_json(programmer(pump, "program", "--rate", "0.11 mg/day", "--yes", "--json"))
    assert changed["verified"] is True  # type: ignore[index]
    log_after = as_json(programmer(pump, "log", "--json"))
    assert log_after == as_json(programmer(pump, "--json", "log"))
    assert [e["type"] for e in log_after] == ["program_changed"]  # type: ignore[union-attr]
    assert as_json(programmer(pump, "log", "--since", "0", "--json")) == log_after


def test_json_before_programmer_is_accepted_too(pump: ServedPump):
    result = subprocess.run(
        [*ITB, "--json", "programmer", "--pump", pump.address, "log"],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert as_json(result) == []


def test_json_after_refill_and_bolus_prints_only_json(pump: ServedPump):
    refill = programmer(
        pump, "refill", "--withdrawn", "13 mL", "--added", "20 mL", "--concentration", "500 mcg/mL", "--yes", "--json"
    )
    answer = as_json(refill)
    assert set(answer) >= {"refill", "bridge", "low_reservoir_alarm_at", "next_refill_at"}  # type: ignore[arg-type]
    bolus = as_json(programmer(pump, "bolus", "--dose", "25 mcg", "--yes", "--json"))
    assert bolus["command"].startswith("bolus") and bolus["status"]  # type: ignore[index]


def test_every_json_command_takes_json_after_and_before(tmp_path: Path):
    """The top-level commands too: `itb --json worklist` is `itb worklist --json`."""
    db = str(tmp_path / "clinic.db")
    after = subprocess.run([*ITB, "worklist", "--db", db, "--json"], capture_output=True, text=True, timeout=60)
    before = subprocess.run([*ITB, "--json", "worklist", "--db", db], capture_output=True, text=True, timeout=60)
    assert as_json(after) == as_json(before) == []
    for command in ("interrogate", "log", "program", "refill", "bolus"):
        shown = itb_here("programmer", "--pump", "127.0.0.1:1", command, "--help")
        assert "--json" in shown.stdout, (command, shown.stdout, shown.stderr)
