"""``itb simulate`` through the installed command's entry point (``shared/spec/simulate.md``): the bundled
demo, a scenario on standard input and its refusal as a process of its own, as a user starts it; the
rest in this process (``tests/itb_here.py``)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest

from itb_here import itb_here

#: a copy of ``shared/spec/examples/simulate-overinfusion.json`` (tests/data/shared-examples/README.md)
EXAMPLE = Path(__file__).resolve().parents[1] / "data" / "shared-examples" / "simulate-overinfusion.json"
DISCLAIMER = "Not a certified medical device"

_EXE = shutil.which("itb")
ITB = [_EXE] if _EXE else [sys.executable, "-c", "from itb.cli import main; main()"]

GOOD: dict[str, Any] = {
    "start": "2026-01-05T08:00:00",
    "until": "2026-03-01T00:00:00",
    "pump": {"model": "peristaltic", "reservoir_capacity_ml": 20, "low_reservoir_alarm_ml": 2.0},
    "reservoir_ml": 20.0,
    "concentration_mcg_per_ml": 500,
    "program": {"steps": [{"start": "00:00", "rate_mcg_per_day": 500}]},
    "actions": [{"at": "2026-01-15T08:00:00", "type": "refill", "added_ml": 20, "concentration_mcg_per_ml": 500}],
}


def itb(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """``itb ARGS`` through the command's entry point, in this process (``tests/itb_here.py``)."""
    return itb_here(*args, stdin=stdin)


def itb_process(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """``itb ARGS`` as a process of its own, as a user starts it."""
    return subprocess.run([*ITB, *args], input=stdin, capture_output=True, text=True, timeout=60)


def with_(**changes: Any) -> dict:
    obj = json.loads(json.dumps(GOOD))
    for key, value in changes.items():
        if key == "action":  # replaces the one action, keeping its time unless given
            obj["actions"][0] = {"at": obj["actions"][0]["at"], **value}
        elif key == "action_fields":
            obj["actions"][0].update(value)
        elif key == "pump_fields":
            obj["pump"].update(value)
        else:
            obj[key] = value
    return obj


def assert_refused(result: subprocess.CompletedProcess[str], field: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert field in lines[0], lines[0]
    assert result.stdout == ""


# ------------------------------------------------------------------ the bundled demo
@pytest.fixture(scope="module")
def demo_text() -> subprocess.CompletedProcess[str]:
    return itb_process("simulate")


def test_demo_prints_a_timeline_with_refills(demo_text):
    assert demo_text.returncode == 0, demo_text.stderr
    assert "Traceback" not in demo_text.stderr
    text = " ".join(demo_text.stdout.split())
    assert "refill" in text
    assert "MRI" in text or "mri" in text
    assert DISCLAIMER in text


def test_demo_json_has_events_and_final():
    result = itb("simulate", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) >= {"events", "final"}
    assert any(e["type"] == "refill" for e in data["events"])
    assert all({"at", "type"} <= set(e) for e in data["events"])
    times = [e["at"] for e in data["events"]]
    assert times == sorted(times)  # ISO strings of one width sort as times
    final = data["final"]
    for key in ("at", "reservoir_ml", "pump_estimated_reservoir_ml", "delivered_mcg", "in_transit_mcg", "eri_at"):
        assert key in final, key
    assert len(final["eri_at"]) == 19  # YYYY-MM-DDTHH:MM:SS, to the second


# ------------------------------------------------------------------ files and stdin
def test_shared_example_file_json():
    result = itb("simulate", str(EXAMPLE), "--json")
    assert result.returncode == 0, result.stderr
    events = {e["type"]: e for e in json.loads(result.stdout)["events"]}
    assert events["refill"]["discrepancy_ml"] == pytest.approx(-1.0)
    assert events["low_reservoir_alarm"]["at"] == "2026-02-02T08:00:00"
    assert events["drug_exhausted"]["at"] == "2026-02-02T12:21:49"
    assert events["empty_reservoir_alarm"]["at"] == "2026-02-04T08:00:00"


def test_stdin_with_dash_gives_the_same_answer_as_a_file(tmp_path):
    path = tmp_path / "scenario.json"
    path.write_text(json.dumps(GOOD))
    from_file = itb("simulate", str(path), "--json")
    from_stdin = itb_process("simulate", "-", "--json", stdin=json.dumps(GOOD))
    assert from_file.returncode == from_stdin.returncode == 0, from_stdin.stderr
    assert json.loads(from_stdin.stdout) == json.loads(from_file.stdout)
    assert any(e["type"] == "refill" for e in json.loads(from_stdin.stdout)["events"])


def test_stdin_timeline_without_json():
    result = itb("simulate", "-", stdin=json.dumps(GOOD))
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())
    assert "refill" in text
    assert DISCLAIMER in text


# ------------------------------------------------------------------ bad input
BAD = {
    "overfill": (with_(action_fields={"added_ml": 25}), "actions[0].added_ml"),
    "unknown action type": (with_(action={"type": "reboot"}), "actions[0].type"),
    "action before start": (with_(action_fields={"at": "2026-01-05T07:59:59"}), "actions[0].at"),
    "action after until": (with_(action_fields={"at": "2026-03-01T00:00:01"}), "actions[0].at"),
    "bad date": (with_(start="2026-02-30T08:00:00"), "start"),
    "date with offset": (with_(until="2026-03-01T00:00:00+01:00"), "until"),
    "unknown field": (with_(colour="blue"), "colour"),
    "unknown pump field": (with_(pump_fields={"colour": "blue"}), "pump.colour"),
    "unknown model": (with_(pump_fields={"model": "gravity"}), "pump.model"),
    "reservoir above capacity": (with_(reservoir_ml=25), "reservoir_ml"),
    "valve_reset on peristaltic": (with_(action={"type": "valve_reset"}), "actions[0].type"),
    "missing program": ({k: v for k, v in GOOD.items() if k != "program"}, "program"),
    "flow error out of range": (with_(flow_error=-1.5), "flow_error"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_scenario_exit_2_one_line_naming_the_field(case, tmp_path):
    obj, field = BAD[case]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(obj))
    assert_refused(itb("simulate", str(path), "--json"), field)


def test_bad_scenario_on_stdin_is_refused_the_same_way():
    refused = itb_process("simulate", "-", stdin=json.dumps(with_(action_fields={"added_ml": 21})))
    assert_refused(refused, "actions[0].added_ml")


def test_missing_file_and_invalid_json_exit_2(tmp_path):
    assert_refused(itb("simulate", str(tmp_path / "nope.json")), "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert_refused(itb("simulate", str(bad)), "bad.json")


# ------------------------------------------------------------------ bugs found by these tests (now fixed)
UNHASHABLE = {
    "action type a list": (with_(action={"type": ["refill"]}), "actions[0].type"),
    "pump model a list": (with_(pump_fields={"model": ["peristaltic"]}), "pump.model"),
    "bolus kind a list": (
        with_(action={"type": "bolus", "dose_mcg": 5, "duration_minutes": 10, "kind": []}),
        "actions[0].kind",
    ),
}


@pytest.mark.parametrize("case", sorted(UNHASHABLE))
def test_non_string_names_are_refused_not_a_traceback(case):
    obj, field = UNHASHABLE[case]
    assert_refused(itb("simulate", "-", stdin=json.dumps(obj)), field)


def test_scenario_near_year_9999_does_not_crash():
    obj = with_(start="9999-01-01T00:00:00", until="9999-12-31T00:00:00", actions=[])
    result = itb("simulate", "-", "--json", stdin=json.dumps(obj))
    assert "Traceback" not in result.stderr
    assert result.returncode in (0, 2)


def test_subnormal_rate_is_answered_or_refused_not_a_traceback():
    obj = with_(program={"steps": [{"start": "00:00", "rate_mcg_per_day": 1e-310}]}, actions=[])
    result = itb("simulate", "-", "--json", stdin=json.dumps(obj))
    assert "Traceback" not in result.stderr
    assert result.returncode in (0, 2)


# ------------------------------------------------------------------ the timeline in words, the plot (issue 13)
RAW_KEYS = ("estimated reservoir ml", "reservoir ml:", "withdrawn ml", "mcg per ml", "daily dose mcg", "_ml", "_mcg")


def test_timeline_is_sentences_with_units_not_a_key_dump(demo_text):
    text = demo_text.stdout
    for raw in RAW_KEYS:
        assert raw not in text, raw
    assert "e+0" not in text
    assert "interrogation: the pump counts 19.79 mL in the reservoir, there really are 19.79 mL" in text
    assert "program changed: 100 to 115 mcg/day (+15 %), 0.23 mL/day" in text
    assert "refill: withdrew 9.98 mL, the pump expected 10.13 mL (0.15 mL less than the pump counted); " in text
    assert "added 20 mL of 500 mcg/mL" in text
    assert "bridge bolus started: 160 mcg over 18.22 h" in text
    assert "MRI scan, 45 min [not in the pump's log]" in text
    assert "LOW RESERVOIR alarm (single tone, every 60 min): the pump counts 2 mL left; book a refill now" in text
    assert "78373 mcg delivered into the spinal fluid" in text
    lines = text.splitlines()
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d  interrogation: ", lines[2]), lines[2]


def test_timeline_names_what_the_pump_cannot_see():
    result = itb("simulate", str(EXAMPLE))
    assert result.returncode == 0, result.stderr
    assert "2026-02-02 12:21  the real reservoir is EMPTY (the pump does not know)" in result.stdout
    assert "withdrew 9 mL, the pump expected 10 mL (1 mL less than the pump counted)" in result.stdout


@pytest.mark.parametrize("suffix", ["svg", "png"])
def test_plot_writes_a_valid_file(tmp_path, suffix):
    path = tmp_path / f"run.{suffix}"
    result = itb("simulate", "--plot", str(path))
    assert result.returncode == 0, result.stderr
    assert f"Plot written to {path}." in result.stdout
    data = path.read_bytes()
    if suffix == "png":
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000
    else:
        root = ElementTree.fromstring(data)
        assert root.tag == "{http://www.w3.org/2000/svg}svg"
        text = data.decode()
        for words in ("Reservoir (mL)", "Daily dose", "low-reservoir alarm 2 mL", "refill", "MRI", "low reservoir"):
            assert words in text, words
        assert "Date (YYYY-MM-DD)" in text


def test_plot_with_json_keeps_the_json_exactly(tmp_path):
    path = tmp_path / "run.svg"
    plain = itb("simulate", "--json")
    plotted = itb("simulate", "--json", "--plot", str(path))
    assert plain.returncode == plotted.returncode == 0, plotted.stderr
    assert plotted.stdout == plain.stdout
    assert path.exists()
    assert itb("--json", "simulate").stdout == plain.stdout  # --json before the command too


def test_plot_refuses_another_format_before_running(tmp_path):
    assert_refused(itb("simulate", "--plot", str(tmp_path / "run.pdf")), "--plot")
    assert not (tmp_path / "run.pdf").exists()
    assert_refused(itb("simulate", "--plot", str(tmp_path / "no" / "dir" / "run.svg")), "--plot")
