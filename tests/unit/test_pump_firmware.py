"""The pump's side of telemetry (``itb.pump.firmware``), called directly through ``handle``.

Every command's answer; every refusal names its field and rule and changes nothing on the
pump; the program block is applied whole or not at all; idempotency keys make retries
harmless; every answer fits one telemetry frame.

Unless a test says otherwise the pump is a 20 mL peristaltic pump holding 10 mL at
500 mcg/mL, programmed at 400 mcg/day, on its virtual clock at 2026-03-01 09:00.
"""

from __future__ import annotations

import itertools
import zlib
from datetime import datetime, timedelta
from typing import Any

import orjson
import pytest

from itb.contracts.forecast import program_json
from itb.domain.devices import PERISTALTIC, VALVE_GATED, DeviceModel
from itb.domain.program import DosingProgram, Step
from itb.pump.firmware import (
    CHUNK_BYTES,
    LOG_PAGE_EVENTS,
    MAX_PROGRAM_BYTES,
    PumpFirmware,
    Refused,
)
from itb.simulation.pumps import implanted_pump
from itb.telemetry.frames import MAX_PAYLOAD

DAY0 = datetime(2026, 3, 1)
START_T = 9 * 3600.0
A, B = 11, 22  # two session ids

_keys = itertools.count(1)


def new_key() -> str:
    return f"key-{next(_keys):06d}"


def flat(rate: float) -> DosingProgram:
    return DosingProgram((Step(0, rate),))


def steps48() -> DosingProgram:
    """48 half-hour steps with long rates: a block of several chunks."""
    return DosingProgram(tuple(Step(30 * i, round(300 + i * 7.123456789, 9)) for i in range(48)))


def make_firmware(
    *,
    model: DeviceModel = PERISTALTIC,
    reservoir_ml: float = 10.0,
    program: DosingProgram | None = None,
    low_alarm_ml: float = 2.0,
    empty_ml: float = 0.0,
) -> PumpFirmware:
    return implanted_pump(
        program or flat(400),
        reservoir_ml=reservoir_ml,
        model=model,
        low_reservoir_alarm_ml=low_alarm_ml,
        empty_ml=empty_ml,
        day0=DAY0,
    )


@pytest.fixture
def fw() -> PumpFirmware:
    return make_firmware()


def text_of(program: DosingProgram | dict) -> bytes:
    obj = program if isinstance(program, dict) else program_json(program)
    return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)


def snapshot(fw: PumpFirmware) -> dict[str, Any]:
    """Everything a refused command must leave as it was."""
    pump = fw.pump
    return {
        "log": len(pump.log),
        "events": len(pump.events),
        "program": program_json(pump.program),
        "version": fw.program_version,
        "est_ml": pump.est_ml,
        "real_ml": pump.real_ml,
        "conc": pump.conc,
        "t": pump.t,
        "boluses": [(b.start_t, b.end_t, b.dose_mcg, b.kind, b.key) for b in pump.boluses],
        "alarms": dict(pump.alarms),
        "therapy": fw.therapy,
        "clock_offset_s": fw.clock_offset_s,
        "done": set(fw._done),
    }


def refused(fw: PumpFirmware, session: int, request: dict, field: str, rule: str = "") -> Refused:
    """``request`` is refused naming ``field`` (and ``rule`` in its text), and nothing changed."""
    before = snapshot(fw)
    with pytest.raises(Refused) as info:
        fw.handle(session, request)
    found = [v for v in info.value.violations if v.field == field and rule in v.rule]
    assert found, f"expected {field!r} ({rule!r}) in {info.value}"
    assert f"{field}: " in str(info.value)
    assert snapshot(fw) == before
    return info.value


def fits(answer: dict) -> dict:
    assert len(orjson.dumps(answer)) <= MAX_PAYLOAD, answer
    return answer


def call(fw: PumpFirmware, session: int, request: dict) -> dict:
    return fits(fw.handle(session, request))


def send_program(
    fw: PumpFirmware,
    session: int,
    text: bytes,
    key: str,
    *,
    base: int | None = None,
    crc: int | None = None,
    commit: bool = True,
) -> dict:
    """Begin, send every chunk and (unless told not to) commit ``text`` as one block."""
    begun = call(
        fw,
        session,
        {
            "cmd": "program_begin",
            "key": key,
            "base_version": fw.program_version if base is None else base,
            "size": len(text),
            "crc32": zlib.crc32(text) if crc is None else crc,
        },
    )
    if begun.get("already_applied"):
        return begun
    assert begun == {"chunk_bytes": CHUNK_BYTES, "received": 0}
    for offset in range(0, len(text), CHUNK_BYTES):
        part = text[offset : offset + CHUNK_BYTES]
        got = call(fw, session, {"cmd": "program_chunk", "offset": offset, "data": part.decode()})
        assert got == {"received": offset + len(part)}
    if not commit:
        return begun
    return call(fw, session, {"cmd": "program_commit", "key": key})


def events(fw: PumpFirmware, kind: str) -> list:
    return [e for e in fw.pump.log if e.type == kind]


# ---------------------------------------------------------------------------------- reading


def test_interrogate_answers_every_field(fw):
    answer = call(fw, A, {"cmd": "interrogate"})
    text = fw.program_text()
    assert answer["pump_time"] == "2026-03-01T09:00:00"
    assert answer["model"] == "peristaltic"
    assert answer["state"] == "running"
    assert answer["program_version"] == 1
    assert answer["program_bytes"] == len(text)
    assert answer["program_crc32"] == zlib.crc32(text)
    assert answer["daily_dose_mcg"] == 400
    assert answer["reservoir_ml"] == 10.0
    assert answer["reservoir_capacity_ml"] == 20.0
    assert answer["concentration_mcg_per_ml"] == 500
    assert answer["low_reservoir_alarm_ml"] == 2.0
    assert answer["empty_ml"] == 0.0
    assert answer["active_alarms"] == [] and answer["sounding_alarms"] == []
    assert answer["eri_reached"] is False and answer["end_of_service_at"] is None
    assert datetime.fromisoformat(answer["eri_at"]) > DAY0
    assert answer["bolus_running"] is False
    assert answer["log_size"] == len(fw.pump.log)
    assert answer["therapy"] == {
        "patient_id": "demo",
        "origin": "spinal",
        "age_years": 40,
        "implanted_at": "2025-01-25T09:00:00",
        "catheter_length_cm": 50.0,
    }


def test_reading_changes_nothing(fw):
    before = snapshot(fw)
    call(fw, A, {"cmd": "interrogate"})
    call(fw, A, {"cmd": "program_read"})
    call(fw, A, {"cmd": "log"})
    assert snapshot(fw) == before


def test_program_read_chunks_reassemble_to_the_program_with_the_interrogated_crc():
    fw = make_firmware(program=steps48())
    status = call(fw, A, {"cmd": "interrogate"})
    assert status["program_bytes"] > 3 * CHUNK_BYTES  # several chunks
    parts, offset = [], 0
    while True:
        answer = call(fw, A, {"cmd": "program_read", "offset": offset})
        assert answer["version"] == 1 and answer["offset"] == offset
        assert answer["size"] == status["program_bytes"] and answer["crc32"] == status["program_crc32"]
        assert len(answer["data"]) <= CHUNK_BYTES
        if not answer["data"]:
            break
        parts.append(answer["data"])
        offset += len(answer["data"].encode())
    text = "".join(parts).encode()
    assert offset == answer["size"]
    assert text == fw.program_text()
    assert zlib.crc32(text) == status["program_crc32"]
    assert orjson.loads(text) == program_json(steps48())


@pytest.mark.parametrize("offset", [-1, "0", 1.0, True, 10**6])
def test_program_read_refuses_an_offset_outside_the_program(fw, offset):
    refused(fw, A, {"cmd": "program_read", "offset": offset}, "offset", "whole number from 0 to")


def test_log_pages_with_since_next_and_size(fw):
    for i in range(5):
        call(fw, A, {"cmd": "refill", "key": new_key(), "added_ml": 10 + i, "concentration_mcg_per_ml": 500})
        call(fw, A, {"cmd": "alarms_silence", "key": new_key()})
        fw.pump.advance_to(fw.pump.t + 3600)
    log = fw.pump.log
    assert len(log) == 10
    seen: list[dict] = []
    since = 0
    while True:
        page = call(fw, A, {"cmd": "log", "since": since})
        assert page["size"] == len(log)
        assert 0 < len(page["events"]) <= LOG_PAGE_EVENTS or page["next"] == len(log)
        assert page["next"] == since + len(page["events"])
        seen.extend(page["events"])
        if not page["events"]:
            break
        since = page["next"]
    assert [e["seq"] for e in seen] == list(range(1, len(log) + 1))
    assert [e["type"] for e in seen] == [e.type for e in log]
    assert [e.get("key") for e in seen] == [e.fields.get("key") for e in log]
    assert seen[0]["at"] == "2026-03-01T09:00:00" and seen[-1]["at"] == "2026-03-01T13:00:00"
    # Past the end: an empty page that says where the end is.
    assert call(fw, A, {"cmd": "log", "since": 99}) == {"events": [], "next": 99, "size": len(log)}


def test_a_log_page_always_fits_one_frame_even_with_long_keys_and_many_fields(fw):
    for i in range(8):
        key = f"{i:064d}"  # the longest key
        call(
            fw,
            A,
            {
                "cmd": "refill",
                "key": key,
                "added_ml": 19.123456789,
                "concentration_mcg_per_ml": 500.123456789,
                "withdrawn_ml": 3.333333333,
            },
        )
        fw.pump.advance_to(fw.pump.t + 3777.7)
    since, seen = 0, []
    while since < len(fw.pump.log):
        page = call(fw, A, {"cmd": "log", "since": since})
        assert 1 <= len(page["events"]) <= LOG_PAGE_EVENTS
        seen.extend(page["events"])
        since = page["next"]
    assert [e["seq"] for e in seen] == list(range(1, len(fw.pump.log) + 1))
    assert [e["key"] for e in seen if e["type"] == "refill"] == [f"{i:064d}" for i in range(8)]


@pytest.mark.parametrize("since", [-1, "0", 1.5, None, False])
def test_log_refuses_a_bad_since(fw, since):
    refused(fw, A, {"cmd": "log", "since": since}, "since", "whole number >= 0")


def test_interrogate_fits_one_frame_at_its_largest():
    fw = make_firmware(reservoir_ml=1.5, program=steps48())  # low reservoir alarm at once
    call(fw, A, {"cmd": "therapy_set", "key": new_key(), "patient_id": "\U0001f600" * 16})  # 64 bytes
    call(fw, A, {"cmd": "refill", "key": new_key(), "added_ml": 1.123456789, "concentration_mcg_per_ml": 1.23456789})
    fw.pump.mri(45)  # motor stall
    answer = call(fw, A, {"cmd": "interrogate"})
    assert answer["state"] == "motor_stall"
    assert answer["active_alarms"] == ["low_reservoir", "motor_stall"]
    page = call(fw, A, {"cmd": "log"})
    assert page["events"]


# ---------------------------------------------------------------------------------- the program block


def test_a_program_block_is_applied_whole_and_versioned():
    fw = make_firmware()
    program = steps48()
    text = text_of(program)
    key = new_key()
    answer = send_program(fw, A, text, key)
    assert answer == {"version": 2, "applied_at": "2026-03-01T09:00:00"}
    assert fw.program_version == 2
    assert program_json(fw.pump.program) == program_json(program)
    assert fw.program_text() == text
    [changed] = events(fw, "program_changed")
    assert changed.fields["version"] == 2 and changed.fields["key"] == key and changed.fields["steps"] == 48
    status = call(fw, A, {"cmd": "interrogate"})
    assert status["program_version"] == 2 and status["program_crc32"] == zlib.crc32(text)
    assert fw._transfers == {}


def test_a_chunk_sent_again_with_the_same_bytes_is_harmless(fw):
    text = text_of(steps48())
    key = new_key()
    send_program(fw, A, text, key, commit=False)
    again = call(fw, A, {"cmd": "program_chunk", "offset": 0, "data": text[:CHUNK_BYTES].decode()})
    assert again == {"received": len(text)}
    assert call(fw, A, {"cmd": "program_commit", "key": key})["version"] == 2
    assert fw.program_text() == text


def begin(fw: PumpFirmware, session: int, text: bytes, key: str, **over: Any) -> dict:
    request = {
        "cmd": "program_begin",
        "key": key,
        "base_version": fw.program_version,
        "size": len(text),
        "crc32": zlib.crc32(text),
        **over,
    }
    return call(fw, session, request)


def chunk(fw: PumpFirmware, session: int, offset: int, data: bytes) -> dict:
    return call(fw, session, {"cmd": "program_chunk", "offset": offset, "data": data.decode()})


def assert_cannot_commit(fw: PumpFirmware, session: int, key: str) -> None:
    """A commit now is refused and nothing changes (the block is incomplete, refused or gone)."""
    before = snapshot(fw)
    with pytest.raises(Refused):
        fw.handle(session, {"cmd": "program_commit", "key": key})
    assert snapshot(fw) == before
    assert events(fw, "program_changed") == []


@pytest.mark.parametrize(
    ("over", "field", "rule"),
    [
        ({"base_version": 0}, "base_version", "runs program version 1, not 0"),
        ({"base_version": 2}, "base_version", "runs program version 1"),
        ({"base_version": None}, "base_version", "is required"),
        ({"size": 0}, "size", "from 1 to"),
        ({"size": MAX_PROGRAM_BYTES + 1}, "size", "from 1 to"),
        ({"crc32": -1}, "crc32", "CRC-32"),
        ({"crc32": 2**32}, "crc32", "CRC-32"),
    ],
)
def test_program_begin_refuses_a_bad_announcement(fw, over, field, rule):
    text = text_of(flat(500))
    key = new_key()
    request = {"cmd": "program_begin", "key": key, "base_version": 1, "size": len(text), "crc32": 0, **over}
    refused(fw, A, request, field, rule)
    assert fw._transfers == {}
    assert_cannot_commit(fw, A, key)


def test_a_chunk_at_a_wrong_offset_is_refused(fw):
    text = text_of(steps48())
    key = new_key()
    begin(fw, A, text, key)
    chunk(fw, A, 0, text[:CHUNK_BYTES])
    skipped = text[2 * CHUNK_BYTES : 3 * CHUNK_BYTES]  # a chunk lost on the way: the next one is early
    refused(fw, A, {"cmd": "program_chunk", "offset": 2 * CHUNK_BYTES, "data": skipped.decode()}, "offset", "(600)")
    refused(fw, A, {"cmd": "program_chunk", "offset": -1, "data": "x"}, "offset", "next byte expected")
    refused(fw, A, {"cmd": "program_chunk", "offset": "600", "data": "x"}, "offset", "next byte expected")
    assert fw._transfers[A].data == text[:CHUNK_BYTES]
    assert_cannot_commit(fw, A, key)


def test_a_chunk_past_the_announced_size_is_refused(fw):
    text = text_of(flat(500))
    key = new_key()
    begin(fw, A, text, key)
    refused(fw, A, {"cmd": "program_chunk", "offset": 0, "data": (text + b" ").decode()}, "data", "announced size")
    assert fw._transfers[A].data == b""
    assert_cannot_commit(fw, A, key)


def test_a_resent_chunk_with_different_bytes_is_refused(fw):
    text = text_of(steps48())
    key = new_key()
    begin(fw, A, text, key)
    chunk(fw, A, 0, text[:CHUNK_BYTES])
    chunk(fw, A, CHUNK_BYTES, text[CHUNK_BYTES : 2 * CHUNK_BYTES])
    changed = text[CHUNK_BYTES : 2 * CHUNK_BYTES].replace(b"3", b"9")
    assert changed != text[CHUNK_BYTES : 2 * CHUNK_BYTES]
    refused(fw, A, {"cmd": "program_chunk", "offset": CHUNK_BYTES, "data": changed.decode()}, "data", "differs")
    assert fw._transfers[A].data == text[: 2 * CHUNK_BYTES]  # what was received stays as received
    assert_cannot_commit(fw, A, key)


@pytest.mark.parametrize("data", [None, 5, "caf\u00e9"])
def test_a_chunk_that_is_not_program_text_is_refused(fw, data):
    text = text_of(flat(500))
    begin(fw, A, text, new_key())
    refused(fw, A, {"cmd": "program_chunk", "offset": 0, "data": data}, "data", "program text")


def test_a_chunk_without_a_transfer_is_refused(fw):
    refused(fw, A, {"cmd": "program_chunk", "offset": 0, "data": "{}"}, "program", "send program_begin first")


def test_a_commit_before_every_byte_arrived_is_refused_and_the_block_is_gone(fw):
    text = text_of(steps48())
    key = new_key()
    begin(fw, A, text, key)
    chunk(fw, A, 0, text[:CHUNK_BYTES])
    refused(fw, A, {"cmd": "program_commit", "key": key}, "program", f"incomplete: {CHUNK_BYTES} of {len(text)}")
    assert A not in fw._transfers
    # The rest arriving later does not bring it back.
    refused(fw, A, {"cmd": "program_chunk", "offset": CHUNK_BYTES, "data": text[CHUNK_BYTES:].decode()}, "program", "")
    assert_cannot_commit(fw, A, key)


def test_a_commit_with_a_crc_mismatch_is_refused(fw):
    text = text_of(flat(500))
    corrupt = text.replace(b"500", b"900")
    assert len(corrupt) == len(text)
    key = new_key()
    begin(fw, A, text, key)  # the CRC of the intended text is announced
    chunk(fw, A, 0, corrupt)  # and corrupted bytes arrive
    refused(fw, A, {"cmd": "program_commit", "key": key}, "program", "CRC-32 does not match")
    assert_cannot_commit(fw, A, key)


@pytest.mark.parametrize(
    ("obj", "field", "rule"),
    [
        ({"steps": [{"start": "00:30", "rate_mcg_per_day": 100}]}, "program.steps[0].start", "start at 00:00"),
        ({"steps": [{"start": "00:00", "rate_mcg_per_day": -1}]}, "program.steps[0].rate_mcg_per_day", ">= 0"),
        ({"steps": []}, "program.steps", "at least one"),
        ({"steps": [{"start": "00:00", "rate_mcg_per_day": 1}], "extra": 1}, "program.extra", "unknown field"),
        ([1, 2], "program", "must be an object"),
    ],
)
def test_a_commit_of_text_that_is_not_a_valid_program_is_refused(fw, obj, field, rule):
    text = orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)
    key = new_key()
    begin(fw, A, text, key)
    chunk(fw, A, 0, text)
    refused(fw, A, {"cmd": "program_commit", "key": key}, field, rule)
    assert_cannot_commit(fw, A, key)


def test_a_commit_of_text_that_is_not_json_is_refused(fw):
    text = b'{"steps": [{"start": "00:00", "rate_mcg_per_day": 1}'
    key = new_key()
    begin(fw, A, text, key)
    chunk(fw, A, 0, text)
    refused(fw, A, {"cmd": "program_commit", "key": key}, "program", "must be an object")
    assert_cannot_commit(fw, A, key)


def test_a_commit_under_another_key_than_begun_is_refused(fw):
    text = text_of(flat(500))
    key = new_key()
    send_program(fw, A, text, key, commit=False)
    refused(fw, A, {"cmd": "program_commit", "key": new_key()}, "key", "given to program_begin")
    assert_cannot_commit(fw, A, key)


def test_a_commit_whose_base_version_went_stale_is_refused(fw):
    old = text_of(flat(500))
    stale_key = new_key()
    send_program(fw, A, old, stale_key, commit=False)  # begun on version 1
    send_program(fw, B, text_of(flat(300)), new_key())  # meanwhile version 2 is committed
    refused(fw, A, {"cmd": "program_commit", "key": stale_key}, "base_version", "now runs version 2")
    assert program_json(fw.pump.program) == program_json(flat(300))
    assert fw.program_version == 2


def test_a_transfer_in_one_session_cannot_be_committed_from_another(fw):
    text = text_of(flat(500))
    key = new_key()
    send_program(fw, A, text, key, commit=False)
    refused(fw, B, {"cmd": "program_commit", "key": key}, "program", "no transfer open in this session")
    refused(fw, B, {"cmd": "program_chunk", "offset": 0, "data": text.decode()}, "program", "no transfer open")
    # Session A's transfer is untouched and still commits.
    assert call(fw, A, {"cmd": "program_commit", "key": key})["version"] == 2


def test_ending_a_session_discards_its_open_transfer(fw):
    text = text_of(flat(500))
    key = new_key()
    send_program(fw, A, text, key, commit=False)
    send_program(fw, B, text_of(flat(450)), new_key(), commit=False)
    fw.end_session(A)
    assert fw.discarded_transfers == 1
    assert set(fw._transfers) == {B}
    fw.end_session(A)  # a session ended twice counts once
    fw.end_session(99)  # a session that never began a transfer counts nothing
    assert fw.discarded_transfers == 1
    assert_cannot_commit(fw, A, key)
    assert fw.program_version == 1 and program_json(fw.pump.program) == program_json(flat(400))


def test_a_commit_retried_with_the_same_key_is_already_applied_and_applies_nothing_again(fw):
    text = text_of(flat(500))
    key = new_key()
    first = send_program(fw, A, text, key)
    assert first == {"version": 2, "applied_at": "2026-03-01T09:00:00"}
    fw.pump.advance_to(fw.pump.t + 600)
    before = snapshot(fw)
    retries = [
        call(fw, A, {"cmd": "program_commit", "key": key}),  # same session
        call(fw, B, {"cmd": "program_commit", "key": key}),  # a new session, no transfer in it
        send_program(fw, B, text, key),  # begun again under the key: answered at program_begin
        send_program(fw, B, text_of(flat(999)), key),  # even with other text: the key was applied
    ]
    for answer in retries:
        assert answer == {**first, "already_applied": True}
    assert snapshot(fw) == before
    assert [e.fields["key"] for e in events(fw, "program_changed")] == [key]
    assert fw._transfers == {}


def test_two_sessions_sending_under_one_key_apply_it_once(fw):
    text = text_of(flat(500))
    key = new_key()
    send_program(fw, A, text, key, commit=False)
    send_program(fw, B, text, key, commit=False)
    assert call(fw, A, {"cmd": "program_commit", "key": key})["version"] == 2
    assert fw._transfers == {}  # the other copy of the block is gone with it
    assert call(fw, B, {"cmd": "program_commit", "key": key})["already_applied"] is True
    assert fw.program_version == 2 and len(events(fw, "program_changed")) == 1


def test_a_refused_commit_can_be_sent_again_under_its_key(fw):
    text = text_of(flat(500))
    key = new_key()
    begin(fw, A, text, key)
    refused(fw, A, {"cmd": "program_commit", "key": key}, "program", "incomplete")
    assert send_program(fw, A, text, key)["version"] == 2  # refused is not applied: the key is free


def test_a_new_program_ends_running_boluses(fw):
    call(fw, A, {"cmd": "bolus_start", "key": new_key(), "dose_mcg": 50, "duration_minutes": 60})
    fw.pump.advance_to(fw.pump.t + 600)
    send_program(fw, A, text_of(flat(500)), new_key())
    assert fw.pump.boluses == []
    assert [e.fields["cut_short"] for e in events(fw, "bolus_completed")] == [True]


# ---------------------------------------------------------------------------------- other changes


def test_refill_answers_and_logs(fw):
    fw.pump.advance_to(fw.pump.t + 86400)
    key = new_key()
    answer = call(
        fw, A, {"cmd": "refill", "key": key, "added_ml": 20, "concentration_mcg_per_ml": 1000, "withdrawn_ml": 9.1}
    )
    assert answer == {"expected_ml": pytest.approx(9.2), "refilled_at": "2026-03-02T09:00:00"}
    assert fw.pump.est_ml == 20 and fw.pump.conc == 1000
    [event] = events(fw, "refill")
    assert event.fields["key"] == key
    assert event.fields["reported_withdrawn_ml"] == 9.1
    assert event.fields["added_ml"] == 20 and event.fields["concentration_mcg_per_ml"] == 1000
    assert call(fw, A, {"cmd": "interrogate"})["concentration_mcg_per_ml"] == 1000


def test_refill_to_exactly_the_capacity_is_accepted(fw):
    call(fw, A, {"cmd": "refill", "key": new_key(), "added_ml": 20.0, "concentration_mcg_per_ml": 2000})
    assert fw.pump.est_ml == 20.0 and fw.pump.conc == 2000
    assert "reported_withdrawn_ml" not in events(fw, "refill")[0].fields


def test_bolus_start_answers_logs_and_runs(fw):
    key = new_key()
    answer = call(fw, A, {"cmd": "bolus_start", "key": key, "dose_mcg": 50, "duration_minutes": 60})
    assert answer == {"started_at": "2026-03-01T09:00:00"}
    [started] = events(fw, "bolus_started")
    assert started.fields == {"dose_mcg": 50, "duration_minutes": 60, "kind": "single", "key": key}
    assert [(b.dose_mcg, b.end_t - b.start_t, b.key) for b in fw.pump.boluses] == [(50, 3600, key)]
    assert call(fw, A, {"cmd": "interrogate"})["bolus_running"] is True
    fw.pump.advance_to(fw.pump.t + 3600)
    [done] = events(fw, "bolus_completed")
    assert done.fields["dose_mcg"] == pytest.approx(50) and done.fields["cut_short"] is False


def test_a_bridge_bolus_may_run_longer_than_a_day(fw):
    call(fw, A, {"cmd": "bolus_start", "key": new_key(), "dose_mcg": 160, "duration_minutes": 2100, "kind": "bridge"})
    assert events(fw, "bolus_started")[0].fields["kind"] == "bridge"


def test_bolus_cancel_cuts_the_running_bolus(fw):
    call(fw, A, {"cmd": "bolus_start", "key": new_key(), "dose_mcg": 50, "duration_minutes": 60})
    fw.pump.advance_to(fw.pump.t + 1800)
    key = new_key()
    assert call(fw, A, {"cmd": "bolus_cancel", "key": key}) == {"cut_short": 1}
    assert fw.pump.boluses == []
    [cancel] = events(fw, "bolus_cancel")
    assert cancel.fields["key"] == key
    [done] = events(fw, "bolus_completed")
    assert done.fields["dose_mcg"] == pytest.approx(25) and done.fields["cut_short"] is True
    assert call(fw, A, {"cmd": "bolus_cancel", "key": new_key()}) == {"cut_short": 0}


def test_alarms_silence_answers_what_it_silenced_and_what_stays_active():
    fw = make_firmware(reservoir_ml=1.5)  # below the low reservoir alarm level
    assert fw.pump.sounding_alarms() == ["low_reservoir"]
    key = new_key()
    assert call(fw, A, {"cmd": "alarms_silence", "key": key}) == {
        "silenced": ["low_reservoir"],
        "still_active": ["low_reservoir"],
    }
    assert fw.pump.sounding_alarms() == [] and fw.pump.active_alarms() == ["low_reservoir"]
    assert events(fw, "alarms_cleared")[0].fields["key"] == key


def test_valve_reset_answers_whether_the_valve_was_closed():
    fw = make_firmware(model=VALVE_GATED)
    assert call(fw, A, {"cmd": "valve_reset", "key": new_key()}) == {"was_closed": False}
    fw.pump.mri(30)  # a valve-gated pump shuts its safety valve
    assert fw.pump.state == "safety_valve_closed"
    key = new_key()
    assert call(fw, A, {"cmd": "valve_reset", "key": key}) == {"was_closed": True}
    assert fw.pump.state == "running" and "safety_valve_closed" not in fw.pump.active_alarms()
    assert events(fw, "valve_reset")[-1].fields == {"was_closed": True, "key": key}


def test_clock_set_moves_the_pump_clock_and_is_logged(fw):
    assert fw.now() == datetime(2026, 3, 1, 9)
    key = new_key()
    answer = call(fw, A, {"cmd": "clock_set", "key": key, "at": "2026-03-01T09:30:15"})
    assert answer == {"pump_time": "2026-03-01T09:30:15"}
    assert fw.now() == datetime(2026, 3, 1, 9, 30, 15)
    [event] = events(fw, "clock_set")
    assert event.fields == {"old": "2026-03-01T09:00:00", "new": "2026-03-01T09:30:15", "key": key}
    fw.pump.advance_to(fw.pump.t + 60)
    assert fw.now() == datetime(2026, 3, 1, 9, 31, 15)
    assert call(fw, A, {"cmd": "interrogate"})["pump_time"] == "2026-03-01T09:31:15"
    # Back in time too (a clock that ran fast).
    call(fw, A, {"cmd": "clock_set", "key": new_key(), "at": "2026-02-28T23:00"})
    assert fw.now() == datetime(2026, 2, 28, 23)
    assert fw.now() - timedelta(seconds=fw.pump.t) == DAY0 + timedelta(seconds=fw.clock_offset_s)


@pytest.mark.parametrize("at", [None, "2026-03-01", "2026-03-01T09:00:00+01:00", "2026-03-01T25:00:00", 1234])
def test_clock_set_refuses_what_is_not_a_local_date_time(fw, at):
    refused(fw, A, {"cmd": "clock_set", "key": new_key(), "at": at}, "at", "YYYY-MM-DDTHH:MM:SS")


def test_therapy_set_changes_the_given_fields_only(fw):
    key = new_key()
    answer = call(
        fw,
        A,
        {"cmd": "therapy_set", "key": key, "origin": "cerebral", "age_years": 6.5, "implanted_at": "2026-01-05T08:00"},
    )
    expected = {
        "patient_id": "demo",
        "origin": "cerebral",
        "age_years": 6.5,
        "implanted_at": "2026-01-05T08:00",
        "catheter_length_cm": 50.0,
    }
    assert answer == {"therapy": expected}
    assert fw.therapy.json() == expected
    [event] = events(fw, "therapy_info_changed")
    assert event.fields == {"key": key, "origin": "cerebral", "age_years": 6.5, "implanted_at": "2026-01-05T08:00"}
    assert call(fw, A, {"cmd": "interrogate"})["therapy"] == expected


@pytest.mark.parametrize(
    ("fields", "field", "rule"),
    [
        ({"origin": "brain"}, "origin", "spinal, cerebral"),
        ({"origin": ""}, "origin", "must be text"),
        ({"age_years": -1}, "age_years", ">= 0 and <= 150"),
        ({"age_years": 151}, "age_years", "<= 150"),
        ({"age_years": "6"}, "age_years", "must be a number"),
        ({"age_years": None}, "age_years", "is required"),
        ({"catheter_length_cm": 501}, "catheter_length_cm", "<= 500"),
        ({"catheter_length_cm": None}, "catheter_length_cm", "is required"),
        ({"implanted_at": "2026-01-05"}, "implanted_at", "YYYY-MM-DDTHH:MM:SS"),
        ({"implanted_at": "2026-02-30T08:00:00"}, "implanted_at", "YYYY-MM-DDTHH:MM:SS"),
        ({"implanted_at": None}, "implanted_at", "must be text"),
        ({"patient_id": ""}, "patient_id", "must be text"),
        ({"patient_id": 42}, "patient_id", "must be text"),
        ({"patient_id": "p" * 65}, "patient_id", "at most 64 bytes"),
        ({}, "therapy", "give at least one of"),
    ],
)
def test_therapy_set_refuses_bad_values(fw, fields, field, rule):
    refused(fw, A, {"cmd": "therapy_set", "key": new_key(), **fields}, field, rule)


# ---------------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("request_", "field", "rule"),
    [
        # the command itself
        ({"cmd": "prime"}, "cmd", "unknown command 'prime'"),
        ({"cmd": None}, "cmd", "unknown command"),
        ({}, "cmd", "unknown command None"),
        ({"cmd": ["interrogate"]}, "cmd", "unknown command"),
        ({"cmd": "interrogate", "verbose": True}, "verbose", "unknown field"),
        ({"cmd": "refill", "key": "k" * 8, "added_ml": 5, "concentration_mcg_per_ml": 500, "ml": 5}, "ml", "unknown"),
        # the idempotency key
        ({"cmd": "bolus_cancel"}, "key", "is required"),
        ({"cmd": "bolus_cancel", "key": "short"}, "key", "8-64 characters"),
        ({"cmd": "bolus_cancel", "key": "k" * 65}, "key", "8-64 characters"),
        ({"cmd": "bolus_cancel", "key": 12345678}, "key", "8-64 characters"),
        ({"cmd": "interrogate", "key": "k" * 8}, "key", "not used by interrogate"),
        ({"cmd": "log", "key": "k" * 8}, "key", "not used by log"),
        ({"cmd": "program_read", "key": "k" * 8}, "key", "not used by program_read"),
        ({"cmd": "program_chunk", "key": "k" * 8, "offset": 0, "data": "{}"}, "key", "not used by program_chunk"),
        # refill
        ({"cmd": "refill", "key": "k" * 8, "concentration_mcg_per_ml": 500}, "added_ml", "is required"),
        ({"cmd": "refill", "key": "k" * 8, "added_ml": 0, "concentration_mcg_per_ml": 500}, "added_ml", "> 0"),
        ({"cmd": "refill", "key": "k" * 8, "added_ml": 20.01, "concentration_mcg_per_ml": 500}, "added_ml", "<= 20"),
        ({"cmd": "refill", "key": "k" * 8, "added_ml": 5}, "concentration_mcg_per_ml", "is required"),
        (
            {"cmd": "refill", "key": "k" * 8, "added_ml": 5, "concentration_mcg_per_ml": 0},
            "concentration_mcg_per_ml",
            "> 0 and <= 2000",
        ),
        (
            {"cmd": "refill", "key": "k" * 8, "added_ml": 5, "concentration_mcg_per_ml": 2000.5},
            "concentration_mcg_per_ml",
            "<= 2000",
        ),
        (
            {"cmd": "refill", "key": "k" * 8, "added_ml": 5, "concentration_mcg_per_ml": 500, "withdrawn_ml": -0.1},
            "withdrawn_ml",
            ">= 0",
        ),
        (
            {"cmd": "refill", "key": "k" * 8, "added_ml": True, "concentration_mcg_per_ml": 500},
            "added_ml",
            "must be a number",
        ),
        # bolus_start
        ({"cmd": "bolus_start", "key": "k" * 8, "dose_mcg": -5, "duration_minutes": 10}, "dose_mcg", "> 0"),
        ({"cmd": "bolus_start", "key": "k" * 8, "dose_mcg": 0, "duration_minutes": 10}, "dose_mcg", "> 0"),
        ({"cmd": "bolus_start", "key": "k" * 8, "duration_minutes": 10}, "dose_mcg", "is required"),
        ({"cmd": "bolus_start", "key": "k" * 8, "dose_mcg": 5, "duration_minutes": 0}, "duration_minutes", ">= 1"),
        ({"cmd": "bolus_start", "key": "k" * 8, "dose_mcg": 5, "duration_minutes": 1441}, "duration_minutes", "1440"),
        ({"cmd": "bolus_start", "key": "k" * 8, "dose_mcg": 5}, "duration_minutes", "is required"),
        (
            {"cmd": "bolus_start", "key": "k" * 8, "dose_mcg": 5, "duration_minutes": 7 * 1440 + 1, "kind": "bridge"},
            "duration_minutes",
            "<= 10080",
        ),
        (
            {"cmd": "bolus_start", "key": "k" * 8, "dose_mcg": 5, "duration_minutes": 10, "kind": "huge"},
            "kind",
            "must be one of",
        ),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(fw, request_, field, rule):
    refused(fw, A, request_, field, rule)


def test_a_refusal_names_every_broken_rule_at_once(fw):
    error = refused(fw, A, {"cmd": "bolus_start", "dose_mcg": -1, "duration_minutes": 0, "x": 1}, "x", "unknown")
    assert {v.field for v in error.violations} == {"x", "key"}  # the request's shape first
    error = refused(fw, A, {"cmd": "bolus_start", "key": new_key(), "dose_mcg": -1, "duration_minutes": 0}, "dose_mcg")
    assert {v.field for v in error.violations} == {"dose_mcg", "duration_minutes"}


def test_a_bolus_is_refused_while_the_pump_is_stopped(fw):
    fw.pump.mri(45)  # a peristaltic pump's motor stalls in the scanner
    assert not fw.pump.pumping and fw.pump.state == "motor_stall"
    key = new_key()
    refused(fw, A, {"cmd": "bolus_start", "key": key, "dose_mcg": 10, "duration_minutes": 10}, "pump", "motor stall")
    fw.pump.advance_to(fw.pump.t + 46 * 60)  # it recovers
    assert fw.pump.pumping
    call(fw, A, {"cmd": "bolus_start", "key": key, "dose_mcg": 10, "duration_minutes": 10})
    assert len(events(fw, "bolus_started")) == 1


def test_a_bolus_is_refused_when_the_pump_stopped_empty():
    fw = make_firmware(reservoir_ml=0.5, program=flat(5000))
    fw.pump.advance_to(fw.pump.t + 86400)
    assert fw.pump.state == "stopped_empty"
    refused(fw, A, {"cmd": "bolus_start", "key": new_key(), "dose_mcg": 1, "duration_minutes": 10}, "pump", "stopped")


def test_a_bolus_bigger_than_the_reservoir_holds_is_refused(fw):
    # 10 mL x 500 mcg/mL = 5000 mcg in the reservoir.
    refused(
        fw,
        A,
        {"cmd": "bolus_start", "key": new_key(), "dose_mcg": 5000.5, "duration_minutes": 60},
        "dose_mcg",
        "more than the reservoir holds above its empty level (5000 mcg)",
    )
    call(fw, A, {"cmd": "bolus_start", "key": new_key(), "dose_mcg": 5000, "duration_minutes": 60})


def test_a_bolus_is_refused_beyond_what_the_pump_can_give_before_it_stops_empty():
    # It stops at empty_ml = 1 mL: 9 mL x 500 mcg/mL = 4500 mcg can be given of the 10 mL.
    fw = make_firmware(empty_ml=1.0)
    request = {"cmd": "bolus_start", "key": new_key(), "dose_mcg": 4600, "duration_minutes": 60}
    refused(fw, A, request, "dose_mcg", "above its empty level (4500 mcg)")
    call(fw, A, {**request, "dose_mcg": 4500})


def test_a_bolus_retried_with_the_same_key_starts_one_bolus_only(fw):
    key = new_key()
    request = {"cmd": "bolus_start", "key": key, "dose_mcg": 20, "duration_minutes": 30}
    first = call(fw, A, request)
    fw.pump.advance_to(fw.pump.t + 60)
    before = snapshot(fw)
    assert call(fw, A, request) == {**first, "already_applied": True}
    assert call(fw, B, request) == {**first, "already_applied": True}
    assert call(fw, B, {**request, "dose_mcg": 40}) == {**first, "already_applied": True}
    assert snapshot(fw) == before
    assert len(fw.pump.boluses) == 1
    assert [e.fields["key"] for e in events(fw, "bolus_started")] == [key]


@pytest.mark.parametrize(
    "request_",
    [
        {"cmd": "refill", "added_ml": 5, "concentration_mcg_per_ml": 500},
        {"cmd": "alarms_silence"},
        {"cmd": "valve_reset"},
        {"cmd": "clock_set", "at": "2026-03-01T10:00:00"},
        {"cmd": "therapy_set", "age_years": 41},
        {"cmd": "bolus_cancel"},
    ],
)
def test_every_change_retried_with_its_key_is_applied_once(fw, request_):
    key = new_key()
    first = call(fw, A, {**request_, "key": key})
    before = snapshot(fw)
    assert call(fw, B, {**request_, "key": key}) == {**first, "already_applied": True}
    assert snapshot(fw) == before
    assert sum(1 for e in fw.pump.log if e.fields.get("key") == key) == 1


def test_every_answer_fits_one_frame_through_a_whole_visit():
    fw = make_firmware(program=steps48())
    answers = [
        fw.handle(A, {"cmd": "interrogate"}),
        fw.handle(A, {"cmd": "program_read", "offset": 0}),
        fw.handle(A, {"cmd": "refill", "key": "r" * 64, "added_ml": 20, "concentration_mcg_per_ml": 1000}),
        fw.handle(A, {"cmd": "bolus_start", "key": "b" * 64, "dose_mcg": 75.5, "duration_minutes": 90}),
        fw.handle(A, {"cmd": "alarms_silence", "key": "s" * 64}),
        fw.handle(A, {"cmd": "valve_reset", "key": "v" * 64}),
        fw.handle(A, {"cmd": "clock_set", "key": "c" * 64, "at": "2026-03-01T09:05:00"}),
        fw.handle(A, {"cmd": "therapy_set", "key": "t" * 64, "patient_id": "x" * 64, "origin": "cerebral"}),
        fw.handle(A, {"cmd": "bolus_cancel", "key": "n" * 64}),
    ]
    new = DosingProgram(tuple(Step(30 * i, 123.456789012) for i in range(48)))
    answers.append(send_program(fw, A, text_of(new), "p" * 64))
    answers.append(fw.handle(A, {"cmd": "interrogate"}))
    since = 0
    while since < len(fw.pump.log):
        answers.append(fw.handle(A, {"cmd": "log", "since": since}))
        since = answers[-1]["next"]
    for offset in range(0, len(fw.program_text()) + 1, CHUNK_BYTES):
        answers.append(fw.handle(A, {"cmd": "program_read", "offset": offset}))
    for answer in answers:
        fits(answer)


def test_the_pumps_answer_budget_is_one_telemetry_frame():
    from itb.pump.firmware import MAX_ANSWER_BYTES

    assert MAX_ANSWER_BYTES == MAX_PAYLOAD
