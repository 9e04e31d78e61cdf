"""The real ``itb forecast`` command, run as a subprocess."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import orjson
import pytest

from forecast_cases import GOOD, GOOD_ALARM, GOOD_EMPTY
from itb.contracts.forecast import answer

EXAMPLES = Path(__file__).parents[1] / "data" / "shared-examples"  # copies of shared/spec/examples


def itb_command() -> list[str]:
    """The installed console script, else the entry point through this interpreter."""
    beside = Path(sys.executable).with_name("itb")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("itb")
    if found:
        return [found]
    return [sys.executable, "-c", "from itb.cli import main; main()"]


ITB = itb_command()


def run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "160", "NO_COLOR": "1"}
    return subprocess.run([*ITB, *args], input=stdin, capture_output=True, timeout=60, env=env)


def write(tmp_path: Path, obj: object, name: str = "case.json") -> str:
    path = tmp_path / name
    path.write_bytes(obj if isinstance(obj, bytes) else orjson.dumps(obj))
    return str(path)


def assert_one_line_error(proc: subprocess.CompletedProcess, *names: str) -> str:
    err = proc.stderr.decode()
    assert proc.returncode == 2, (proc.returncode, err)
    assert "Traceback" not in err
    assert err.endswith("\n")
    assert err.count("\n") == 1, err
    for name in names:
        assert name in err, (name, err)
    assert proc.stdout == b""
    return err


def with_changes(**changes: object) -> dict:
    obj = orjson.loads(orjson.dumps(GOOD))
    obj.update(changes)
    return obj


# -- one case ----------------------------------------------------------------------------


def test_json_output_equals_the_contract_fields(tmp_path):
    proc = run("forecast", write(tmp_path, GOOD), "--json")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == b""
    assert proc.stdout.count(b"\n") == 1
    got = orjson.loads(proc.stdout)
    assert got == orjson.loads(orjson.dumps(answer(GOOD)))
    assert got == {
        "id": "p-0042",
        "daily_dose_mcg": 400.0,
        "daily_volume_ml": 0.2,
        "low_reservoir_alarm_at": "2026-04-01T00:00:00",
        "empty_at": "2026-04-11T00:00:00",
    }


def test_json_output_for_a_program_with_every_part(tmp_path):
    case = with_changes(
        at="2026-03-01T09:30:00",
        reservoir_ml=18.5,
        concentration_mcg_per_ml=500,
        empty_ml=0.5,
        program={
            "steps": [{"start": "00:00", "rate_mcg_per_day": 250}, {"start": "07:00", "rate_mcg_per_day": 350}],
            "boluses": [{"start": "23:00", "dose_mcg": 40, "duration_minutes": 120}],
            "one_time_boluses": [
                {"at": "2026-03-02T10:00:00", "dose_mcg": 75, "duration_minutes": 10, "kind": "bridge"}
            ],
        },
    )
    proc = run("forecast", write(tmp_path, case), "--json")
    assert proc.returncode == 0, proc.stderr
    assert orjson.loads(proc.stdout) == orjson.loads(orjson.dumps(answer(case)))


def test_human_output_mentions_the_dates(tmp_path):
    proc = run("forecast", write(tmp_path, GOOD))
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.decode()
    assert GOOD_ALARM in out
    assert GOOD_EMPTY in out
    assert "400" in out  # the daily dose
    assert "p-0042" in out


def test_human_output_says_never_for_a_stopped_pump(tmp_path):
    case = with_changes(program={"steps": [{"start": "00:00", "rate_mcg_per_day": 0}]})
    proc = run("forecast", write(tmp_path, case))
    assert proc.returncode == 0, proc.stderr
    assert "never" in proc.stdout.decode()


def test_stdin_with_dash():
    proc = run("forecast", "-", "--json", stdin=orjson.dumps(GOOD))
    assert proc.returncode == 0, proc.stderr
    assert orjson.loads(proc.stdout)["low_reservoir_alarm_at"] == "2026-04-01T00:00:00"


def test_human_output_from_stdin():
    proc = run("forecast", "-", stdin=orjson.dumps(GOOD))
    assert proc.returncode == 0, proc.stderr
    assert GOOD_ALARM in proc.stdout.decode()


# -- errors: exit 2 and one line on stderr -----------------------------------------------


@pytest.mark.parametrize(
    "changes, name",
    [
        ({"reservoir_ml": -1}, "reservoir_ml"),
        ({"reservoir_ml": 25}, "reservoir_ml"),
        ({"concentration_mcg_per_ml": 0}, "concentration_mcg_per_ml"),
        ({"low_reservoir_alarm_ml": "2"}, "low_reservoir_alarm_ml"),
        ({"at": "2026-02-30T00:00:00"}, "at"),
        ({"at": "2026-01-01T00:00:00+01:00"}, "at"),
        ({"colour": "red"}, "colour"),
        (
            {
                "program": {
                    "steps": [{"start": "00:00", "rate_mcg_per_day": 1}, {"start": "00:00", "rate_mcg_per_day": 2}]
                }
            },
            "program.steps[1].start",
        ),
        ({"program": {"steps": [{"start": "01:00", "rate_mcg_per_day": 1}]}}, "program.steps[0].start"),
        (
            {
                "program": {
                    "steps": [{"start": "00:00", "rate_mcg_per_day": 1}],
                    "boluses": [{"start": "12:00", "dose_mcg": 5, "duration_minutes": 0}],
                }
            },
            "program.boluses[0].duration_minutes",
        ),
        ({"program": {"steps": [{"start": "00:00", "rate_mcg_per_day": 1, "unit": "mcg"}]}}, "program.steps[0].unit"),
    ],
    ids=[
        "negative",
        "above-capacity",
        "concentration-0",
        "non-numeric",
        "bad-date",
        "offset",
        "unknown",
        "steps-order",
        "steps-midnight",
        "bolus-duration",
        "unknown-in-step",
    ],
)
def test_bad_case_exits_2_with_one_line(tmp_path, changes, name):
    assert_one_line_error(run("forecast", write(tmp_path, with_changes(**changes)), "--json"), name)


def test_bad_case_in_human_mode_too(tmp_path):
    assert_one_line_error(run("forecast", write(tmp_path, with_changes(reservoir_ml=-1))), "reservoir_ml")


def test_missing_field(tmp_path):
    case = with_changes()
    del case["at"]
    err = assert_one_line_error(run("forecast", write(tmp_path, case)), "at")
    assert "required" in err


def test_several_violations_on_one_line(tmp_path):
    case = with_changes(reservoir_ml=-1, concentration_mcg_per_ml=0, colour=1)
    assert_one_line_error(run("forecast", write(tmp_path, case)), "reservoir_ml", "concentration_mcg_per_ml", "colour")


def test_bad_case_from_stdin():
    assert_one_line_error(run("forecast", "-", stdin=orjson.dumps(with_changes(reservoir_ml=-1))), "reservoir_ml")


def test_unreadable_file(tmp_path):
    missing = str(tmp_path / "no-such-case.json")
    assert_one_line_error(run("forecast", missing), "no-such-case.json")
    assert_one_line_error(run("forecast", str(tmp_path)), str(tmp_path))
    assert_one_line_error(run("forecast", "--batch", missing), "no-such-case.json")


@pytest.mark.parametrize("data", [b"{not json", b"", b"\xff\xfe", b'{"a": 1} {"b": 2}'])
def test_not_json(tmp_path, data):
    assert_one_line_error(run("forecast", write(tmp_path, data)), "JSON")


def test_json_that_is_not_an_object(tmp_path):
    assert_one_line_error(run("forecast", write(tmp_path, [GOOD])), "case")


def test_usage_errors_are_one_line(tmp_path):
    path = write(tmp_path, GOOD)
    assert_one_line_error(run("forecast"))
    assert_one_line_error(run("forecast", path, "--batch", path))
    assert_one_line_error(run("forecast", path, "--bogus"), "--bogus")


# Regressions: each of these used to end in a traceback and exit status 1.


def test_date_after_year_9999_is_never(tmp_path):
    case = with_changes(program={"steps": [{"start": "00:00", "rate_mcg_per_day": 0.001}]})
    proc = run("forecast", write(tmp_path, case), "--json")
    assert proc.returncode == 0, proc.stderr
    got = orjson.loads(proc.stdout)
    assert got["low_reservoir_alarm_at"] is None
    assert got["empty_at"] is None
    proc = run("forecast", write(tmp_path, case))
    assert proc.returncode == 0, proc.stderr
    assert "never" in proc.stdout.decode()


@pytest.mark.parametrize(
    "case, name",
    [
        (
            with_changes(program={"steps": [{"start": "00:00", "rate_mcg_per_day": None}]}),
            "program.steps[0].rate_mcg_per_day",
        ),
        (
            with_changes(
                program={
                    "steps": [{"start": "00:00", "rate_mcg_per_day": 1}],
                    "one_time_boluses": [{"at": "2026-01-02T10:00+01", "dose_mcg": 5, "duration_minutes": 5}],
                }
            ),
            "program.one_time_boluses[0].at",
        ),
        (with_changes(reservoir_capacity_ml=1e308, reservoir_ml=1e308), "reservoir_capacity_ml"),
    ],
    ids=["null-rate", "short-offset", "huge-volume"],
)
def test_never_a_traceback(tmp_path, case, name):
    assert_one_line_error(run("forecast", write(tmp_path, case), "--json"), name)


def test_unknown_field_with_a_newline_in_its_name_stays_one_line(tmp_path):
    assert_one_line_error(run("forecast", write(tmp_path, with_changes(**{"bad\nkey": 1}))), "unknown field")


def test_array_as_step_start_is_one_line(tmp_path):
    case = with_changes(program={"steps": [{"start": [], "rate_mcg_per_day": 1}]})
    assert_one_line_error(run("forecast", write(tmp_path, case)), "program.steps[0].start")


# -- batch -------------------------------------------------------------------------------


def test_batch_of_the_worked_examples():
    proc = run("forecast", "--batch", str(EXAMPLES / "forecast.jsonl"))
    assert proc.returncode == 0, proc.stderr
    got = [orjson.loads(line) for line in proc.stdout.splitlines()]
    want = [
        orjson.loads(line) for line in (EXAMPLES / "forecast.expected.jsonl").read_bytes().splitlines() if line.strip()
    ]
    assert [g["id"] for g in got] == [w["id"] for w in want]
    for g, w in zip(got, want):
        assert set(g) == set(w)
        for key in ("low_reservoir_alarm_at", "empty_at"):
            assert g[key] == w[key]
        for key in ("daily_dose_mcg", "daily_volume_ml"):
            assert g[key] == pytest.approx(w[key], rel=1e-6)


def batch_lines() -> list[bytes]:
    return [
        orjson.dumps(with_changes(id="a")),
        orjson.dumps(with_changes(id="b", reservoir_ml=-1)),
        b"{this is not json",
        b"",
        orjson.dumps(with_changes(id="c", at="2026-01-01T06:00:00")),
        orjson.dumps([1, 2]),
    ]


def test_batch_with_bad_lines_answers_the_others(tmp_path):
    proc = run("forecast", "--batch", write(tmp_path, b"\n".join(batch_lines()) + b"\n", "cases.jsonl"))
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == b""
    out = [orjson.loads(line) for line in proc.stdout.splitlines()]
    assert len(out) == 5  # the blank line gets no answer
    assert out[0]["id"] == "a"
    assert out[0]["low_reservoir_alarm_at"] == "2026-04-01T00:00:00"
    assert out[1]["id"] == "b"
    assert set(out[1]) == {"id", "error"}
    assert "reservoir_ml" in out[1]["error"]
    assert out[2]["id"] is None
    assert out[2]["error"].startswith("line 3:")
    assert out[3]["id"] == "c"
    assert out[3]["low_reservoir_alarm_at"] == "2026-04-01T06:00:00"
    assert out[4]["id"] is None
    assert "case" in out[4]["error"]


def test_batch_from_stdin():
    proc = run("forecast", "--batch", "-", stdin=b"\n".join(batch_lines()))
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.splitlines()) == 5


def test_large_batch_uses_the_parallel_path_and_keeps_order(tmp_path):
    # More lines than itb.shell.batch.PARALLEL_MIN_LINES (5000), so the command forks workers.
    lines = []
    for i in range(6001):
        if i % 1000 == 999:
            lines.append(b"oops")
        elif i % 7 == 3:
            lines.append(orjson.dumps(with_changes(id=i, reservoir_ml=-1)))
        else:
            lines.append(orjson.dumps(with_changes(id=i, at=f"2026-01-01T{i % 24:02d}:00:00")))
    proc = run("forecast", "--batch", write(tmp_path, b"\n".join(lines), "big.jsonl"))
    assert proc.returncode == 0, proc.stderr
    out = [orjson.loads(line) for line in proc.stdout.splitlines()]
    assert len(out) == len(lines)
    for i, got in enumerate(out):
        if i % 1000 == 999:
            assert got["error"].startswith(f"line {i + 1}:")
        elif i % 7 == 3:
            assert got["id"] == i
            assert "reservoir_ml" in got["error"]
        else:
            assert got["id"] == i
            assert got["low_reservoir_alarm_at"] == datetime(2026, 4, 1, i % 24).isoformat()


def test_batch_line_with_an_overflowing_date_does_not_sink_the_batch(tmp_path):
    lines = batch_lines()
    lines.append(
        orjson.dumps(with_changes(id="far", program={"steps": [{"start": "00:00", "rate_mcg_per_day": 0.001}]}))
    )
    proc = run("forecast", "--batch", write(tmp_path, b"\n".join(lines), "cases.jsonl"))
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr.decode()
    out = [orjson.loads(line) for line in proc.stdout.splitlines()]
    assert len(out) == 6
    assert out[-1]["id"] == "far"
    assert out[-1]["empty_at"] is None
