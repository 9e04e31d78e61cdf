"""A virtual pump's state file (``itb.pump.state_file``): changes applied over telemetry survive
a restart, every save is atomic, and a file that is not a pump state is refused clearly.

The pump starts from the demo scenario (``child-first-year.json``: a 20 mL peristaltic pump,
500 mcg/mL, 100 mcg/day); changes go through ``PumpFirmware.handle`` with the store attached.
"""

from __future__ import annotations

import json
import os
import zlib
from pathlib import Path

import orjson
import pytest

import itb
from itb.contracts.forecast import program_json
from itb.domain.errors import InvalidInput
from itb.pump.firmware import CHUNK_BYTES, PumpFirmware, Refused, TherapyInfo
from itb.pump.state_file import FORMAT, PumpStore, setup_from_scenario

SCENARIO = Path(itb.__file__).parent / "scenarios" / "child-first-year.json"
DAY = 86400.0
SESSION = 7

PROGRAM = {
    "steps": [{"start": f"{h:02d}:{m:02d}", "rate_mcg_per_day": 110 + h + m / 100} for h in range(24) for m in (0, 30)],
    "boluses": [{"start": "06:30", "dose_mcg": 10, "duration_minutes": 30}],
}


def scenario() -> dict:
    return json.loads(SCENARIO.read_text())


def saved(path: Path) -> dict:
    """The state file as it is on disk now: valid JSON in the state format."""
    obj = orjson.loads(path.read_bytes())
    assert obj["format"] == FORMAT
    return obj


def send_program(fw: PumpFirmware, program: dict, key: str) -> dict:
    text = orjson.dumps(program, option=orjson.OPT_SORT_KEYS)
    begun = fw.handle(
        SESSION,
        {
            "cmd": "program_begin",
            "key": key,
            "base_version": fw.program_version,
            "size": len(text),
            "crc32": zlib.crc32(text),
        },
    )
    if begun.get("already_applied"):
        return begun
    for offset in range(0, len(text), CHUNK_BYTES):
        fw.handle(
            SESSION, {"cmd": "program_chunk", "offset": offset, "data": text[offset : offset + CHUNK_BYTES].decode()}
        )
    return fw.handle(SESSION, {"cmd": "program_commit", "key": key})


def fingerprint(fw: PumpFirmware) -> dict:
    """What must come back after a restart."""
    pump = fw.pump
    return {
        "t": pump.t,
        "now": fw.now(),
        "clock_offset_s": fw.clock_offset_s,
        "program": program_json(pump.program),
        "program_text": fw.program_text(),
        "version": fw.program_version,
        # To the 1e-9 mL the pump reports: time passed in several steps before the restart and in
        # one after it, so the sums may differ in their last bits (4e-15 mL).
        "est_ml": round(pump.est_ml, 9),
        "real_ml": round(pump.real_ml, 9),
        "conc": pump.conc,
        "log": [(e.t, e.type, e.fields.get("key")) for e in pump.log],
        "therapy": fw.therapy,
        "alarms": dict(pump.alarms),
        "boluses": [(b.start_t, b.end_t, b.dose_mcg, b.kind, b.key) for b in pump.boluses],
        "done": dict(fw._done),
        "interrogate": fw.handle(SESSION, {"cmd": "interrogate"}),
    }


def test_a_pump_comes_back_exactly_as_it_was(tmp_path):
    path = tmp_path / "pumps" / "child.json"  # its folder is made
    store = PumpStore(path)
    assert not store.exists()
    fw = store.create(scenario())
    assert store.exists()
    first = saved(path)
    assert first["setup"] == setup_from_scenario(scenario())
    assert "actions" not in first["setup"] and "until" not in first["setup"]
    assert first["journal"] == [] and first["therapy"]["implanted_at"] == "2026-01-05T08:00:00"

    keys = {name: f"{name}-key-0001" for name in ("program", "refill", "bolus", "clock", "therapy", "silence")}
    changes = [
        (2 * DAY, lambda: send_program(fw, PROGRAM, keys["program"])),
        (
            40 * DAY,
            lambda: fw.handle(
                SESSION,
                {
                    "cmd": "refill",
                    "key": keys["refill"],
                    "added_ml": 19.5,
                    "concentration_mcg_per_ml": 1000,
                    "withdrawn_ml": 6.2,
                },
            ),
        ),
        (
            0.01 * DAY,
            lambda: fw.handle(
                SESSION,
                {
                    "cmd": "bolus_start",
                    "key": keys["bolus"],
                    "dose_mcg": 160,
                    "duration_minutes": 1093,
                    "kind": "bridge",
                },
            ),
        ),
        (
            0.3 * DAY,
            lambda: fw.handle(SESSION, {"cmd": "clock_set", "key": keys["clock"], "at": "2026-02-16T17:45:30"}),
        ),
        (
            0.1 * DAY,
            lambda: fw.handle(
                SESSION,
                {"cmd": "therapy_set", "key": keys["therapy"], "patient_id": "child-07", "age_years": 6.5},
            ),
        ),
        (0.05 * DAY, lambda: fw.handle(SESSION, {"cmd": "alarms_silence", "key": keys["silence"]})),
    ]
    for n, (dt, change) in enumerate(changes, 1):
        # Time passes in several steps, as it does between visits.
        for part in (0.25, 0.5, 0.25):
            fw.pump.advance_to(fw.pump.t + dt * part)
        change()
        state = saved(path)
        assert len(state["journal"]) == n
        assert state["t"] == fw.pump.t
        assert state["journal"][-1]["t"] == fw.pump.t
        # Reading, and a refused change, write nothing.
        before = path.read_bytes()
        fw.handle(SESSION, {"cmd": "log", "since": 0})
        with pytest.raises(Refused):
            fw.handle(
                SESSION, {"cmd": "refill", "key": "refused-key-1", "added_ml": 25, "concentration_mcg_per_ml": 500}
            )
        assert path.read_bytes() == before

    assert [entry["request"]["cmd"] for entry in saved(path)["journal"]] == [
        "program_set",
        "refill",
        "bolus_start",
        "clock_set",
        "therapy_set",
        "alarms_silence",
    ]
    assert fw.program_version == 2 and fw.pump.conc == 1000 and fw.pump.boluses
    assert fw.therapy.patient_id == "child-07" and fw.clock_offset_s != 0

    expected = fingerprint(fw)
    loaded = PumpStore(path).load()
    assert fingerprint(loaded) == expected
    assert {e.fields.get("key") for e in loaded.pump.log} >= set(keys.values())

    # A retried key is still answered as already applied, and nothing is applied again.
    log_size = len(loaded.pump.log)
    assert send_program(loaded, {"steps": [{"start": "00:00", "rate_mcg_per_day": 1}]}, keys["program"]) == {
        **expected["done"][keys["program"]],
        "already_applied": True,
    }
    retried = loaded.handle(
        SESSION + 1, {"cmd": "bolus_start", "key": keys["bolus"], "dose_mcg": 160, "duration_minutes": 1093}
    )
    assert retried == {**expected["done"][keys["bolus"]], "already_applied": True}
    assert len(loaded.pump.log) == log_size and loaded.program_version == 2
    assert path.read_bytes() == PumpStore(path).path.read_bytes()  # nothing was saved for the retries
    assert len(saved(path)["journal"]) == 6

    # The loaded pump keeps journaling: a change after the restart survives the next one.
    loaded.pump.advance_to(loaded.pump.t + DAY)
    loaded.handle(SESSION, {"cmd": "bolus_cancel", "key": "cancel-key-0001"})
    assert len(saved(path)["journal"]) == 7
    again = PumpStore(path).load()
    assert fingerprint(again) == fingerprint(loaded)
    assert again.handle(SESSION, {"cmd": "bolus_cancel", "key": "cancel-key-0001"})["already_applied"] is True


def test_create_keeps_the_therapy_given(tmp_path):
    path = tmp_path / "pump.json"
    therapy = TherapyInfo(patient_id="p-1", origin="cerebral", age_years=4, implanted_at="2026-01-05T08:00:00")
    fw = PumpStore(path).create(scenario(), therapy)
    assert fw.therapy == therapy
    assert saved(path)["therapy"] == therapy.json()
    assert PumpStore(path).load().therapy == therapy


@pytest.mark.parametrize("failing", ["replace", "fsync"])
def test_a_save_that_fails_midway_leaves_the_previous_file_and_no_temporary_file(tmp_path, monkeypatch, failing):
    path = tmp_path / "pump.json"
    fw = PumpStore(path).create(scenario())
    fw.handle(SESSION, {"cmd": "refill", "key": "refill-key-01", "added_ml": 20, "concentration_mcg_per_ml": 500})
    before = path.read_bytes()

    def broken(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, failing, broken)
    with pytest.raises(OSError, match="No space left"):
        fw.handle(SESSION, {"cmd": "bolus_start", "key": "bolus-key-01", "dose_mcg": 20, "duration_minutes": 30})
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["pump.json"]
    assert len(saved(path)["journal"]) == 1

    # The pump did apply the bolus (a retry says so); the next save writes it down too.
    assert fw.handle(SESSION, {"cmd": "bolus_cancel", "key": "bolus-key-01"})["already_applied"] is True
    fw.handle(SESSION, {"cmd": "alarms_silence", "key": "silence-key-1"})
    assert [e["request"]["key"] for e in saved(path)["journal"]] == ["refill-key-01", "bolus-key-01", "silence-key-1"]
    assert [p.name for p in tmp_path.iterdir()] == ["pump.json"]


def test_a_failed_create_writes_nothing(tmp_path):
    path = tmp_path / "pump.json"
    bad = {**scenario(), "reservoir_ml": 25}  # more than the reservoir holds
    with pytest.raises(InvalidInput, match="reservoir_ml"):
        PumpStore(path).create(bad)
    assert list(tmp_path.iterdir()) == []


def write(path: Path, content: bytes | str | object) -> Path:
    if isinstance(content, str):
        content = content.encode()
    elif not isinstance(content, bytes):
        content = orjson.dumps(content)
    path.write_bytes(content)
    return path


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "not valid JSON"),
        ("{not json", "not valid JSON"),
        (b"\xff\xfe binary", "not valid JSON"),
        ([1, 2, 3], "not an itb pump state file (itb-pump-state/1)"),
        ("null", "not an itb pump state file"),
        ({"format": "itb-pump-state/2", "setup": {}}, "not an itb pump state file"),
        ({"setup": {}, "journal": []}, "not an itb pump state file"),
    ],
)
def test_a_file_that_is_not_a_pump_state_is_refused_clearly(tmp_path, content, message):
    path = write(tmp_path / "pump.json", content)
    with pytest.raises(InvalidInput) as info:
        PumpStore(path).load()
    assert [v.field for v in info.value.violations] == ["state"]
    assert str(path) in str(info.value) and message in str(info.value)


def test_a_scenario_is_not_a_pump_state(tmp_path):
    path = write(tmp_path / "scenario.json", SCENARIO.read_bytes())
    with pytest.raises(InvalidInput, match="not an itb pump state file"):
        PumpStore(path).load()


@pytest.mark.parametrize("make", [lambda p: None, lambda p: p.mkdir()], ids=["missing", "directory"])
def test_an_unreadable_state_file_is_refused_clearly(tmp_path, make):
    path = tmp_path / "pump.json"
    make(path)
    with pytest.raises(InvalidInput) as info:
        PumpStore(path).load()
    assert str(path) in str(info.value) and "cannot read" in str(info.value)


def state_with(**fields) -> dict:
    base = {"format": FORMAT, "setup": setup_from_scenario(scenario()), "therapy": {}, "journal": [], "t": None}
    return {**base, **fields}


@pytest.mark.parametrize(
    "fields",
    [
        {"journal": [{"t": 0}]},
        {"journal": ["refill"]},
        {"journal": {"t": 0}},
        {"journal": [{"t": 32400.0, "request": {"cmd": "format_disk", "key": "k" * 8}}]},
        {"journal": [{"t": 32400.0, "request": {"cmd": "refill", "key": "k" * 8, "added_ml": 99}}]},
        {"journal": [{"t": 32400.0, "request": {"cmd": "bolus_cancel"}}]},
        {"therapy": {"blood_type": "0+"}},
        {"therapy": ["spinal"]},
        {"t": "noon"},
    ],
    ids=lambda f: f"{next(iter(f))}",
)
def test_a_state_file_with_a_damaged_body_is_refused_clearly(tmp_path, fields):
    path = write(tmp_path / "pump.json", state_with(**fields))
    with pytest.raises(InvalidInput) as info:
        PumpStore(path).load()
    assert [v.field for v in info.value.violations] == ["state"]
    assert str(path) in str(info.value) and "damaged, the pump cannot be restored from it" in str(info.value)


@pytest.mark.parametrize(
    ("setup", "message"),
    [({}, "start: is required"), ({**setup_from_scenario(scenario()), "reservoir_ml": -1}, "reservoir_ml")],
)
def test_a_state_file_with_a_bad_setup_names_the_setup_field(tmp_path, setup, message):
    path = write(tmp_path / "pump.json", state_with(setup=setup))
    with pytest.raises(InvalidInput, match=message):
        PumpStore(path).load()


def test_a_state_file_written_by_hand_loads(tmp_path):
    """The format is plain JSON: a minimal file with a journal is enough."""
    request = {"cmd": "refill", "key": "hand-key-01", "added_ml": 12, "concentration_mcg_per_ml": 500}
    path = write(tmp_path / "pump.json", state_with(journal=[{"t": 36000.0, "request": request}], t=40000.0))
    fw = PumpStore(path).load()
    assert fw.pump.t == 40000.0
    assert [e.type for e in fw.pump.log if e.fields.get("key") == "hand-key-01"] == ["refill"]
    assert fw.therapy.implanted_at == "2026-01-05T08:00:00"
