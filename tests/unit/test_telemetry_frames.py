"""Telemetry frames (``itb.telemetry.frames``): round trip, every decode error, bit flips detected."""

from __future__ import annotations

import struct
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from itb.telemetry.frames import (
    HEADER,
    HEADER_SIZE,
    MAX_PAYLOAD,
    Frame,
    FrameError,
    FrameType,
    decode,
    encode,
    json_payload,
    parse_payload,
)

frames = st.builds(
    Frame,
    type=st.sampled_from(FrameType),
    session=st.integers(0, 2**32 - 1),
    seq=st.integers(0, 2**32 - 1),
    payload=st.binary(max_size=MAX_PAYLOAD),
)


def raw_frame(magic=b"IT", version=1, type_=3, session=1, seq=1, length=None, payload=b"{}", crc=None) -> bytes:
    """A frame built field by field, so each field can be wrong on purpose."""
    body = HEADER.pack(magic, version, type_, session, seq, len(payload) if length is None else length) + payload
    return body + struct.pack(">I", zlib.crc32(body) if crc is None else crc)


def error_of(data: bytes) -> FrameError:
    with pytest.raises(FrameError) as info:
        decode(data)
    return info.value


# -- round trip ------------------------------------------------------------------------------


@given(frames)
def test_round_trip(frame):
    data = encode(frame)
    assert len(data) == HEADER_SIZE + len(frame.payload) + 4
    assert decode(data) == frame


def test_decoded_type_is_the_enum():
    frame = decode(encode(Frame(FrameType.RESPONSE, 7, 9, b'{"a":1}')))
    assert frame.type is FrameType.RESPONSE


def test_wire_layout():
    data = encode(Frame(FrameType.OPEN, 0x01020304, 0x0A0B0C0D, b"xy"))
    assert data[:16] == b"IT\x01\x01\x01\x02\x03\x04\x0a\x0b\x0c\x0d\x00\x02xy"
    assert data[16:] == struct.pack(">I", zlib.crc32(data[:16]))
    assert data == raw_frame(type_=1, session=0x01020304, seq=0x0A0B0C0D, payload=b"xy")


def test_frame_is_frozen():
    frame = Frame(FrameType.OPEN, 1, 2)
    with pytest.raises(AttributeError):
        frame.seq = 3  # type: ignore[misc]


# -- decode errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        (b"", "frame", "too short"),
        (raw_frame()[:17], "frame", "too short"),
        (raw_frame(magic=b"XX"), "frame.magic", "b'IT'"),
        (raw_frame(version=2), "frame.version", "unknown version 2"),
        (raw_frame(type_=0), "frame.type", "unknown type 0"),
        (raw_frame(type_=8), "frame.type", "unknown type 8"),
        (raw_frame(length=5), "frame.length", "says 5 payload bytes but the frame carries 2"),
        (raw_frame(length=1), "frame.length", "says 1 payload bytes"),
        (raw_frame(payload=b"x" * (MAX_PAYLOAD + 1)), "frame.length", "payload too long"),
        (raw_frame(length=MAX_PAYLOAD + 1), "frame.length", "payload too long"),
        (raw_frame(crc=1), "frame.crc", "does not match the frame's contents (corrupted)"),
        (raw_frame() + b"\x00", "frame.length", "the frame carries 3"),
    ],
)
def test_decode_errors(data, field, words):
    exc = error_of(data)
    assert exc.field == field
    assert words in exc.rule
    assert str(exc) == f"{field}: {exc.rule}"


def test_crc_message_is_exact():
    assert str(error_of(raw_frame(crc=0))) == "frame.crc: does not match the frame's contents (corrupted)"


def test_encode_refuses_what_does_not_fit():
    with pytest.raises(FrameError, match=r"^frame\.payload: too long: 1025 bytes"):
        encode(Frame(FrameType.REQUEST, 1, 1, b"x" * (MAX_PAYLOAD + 1)))
    with pytest.raises(FrameError, match=r"^frame\.session:"):
        encode(Frame(FrameType.REQUEST, 2**32, 1))
    with pytest.raises(FrameError, match=r"^frame\.seq:"):
        encode(Frame(FrameType.REQUEST, 1, -1))


# -- corruption is always detected ------------------------------------------------------------


def test_every_single_bit_flip_of_a_frame_is_detected():
    data = encode(Frame(FrameType.REQUEST, 0xDEADBEEF, 42, json_payload({"dose_mcg_per_day": 150.5})))
    for bit in range(len(data) * 8):
        flipped = bytearray(data)
        flipped[bit // 8] ^= 1 << (bit % 8)
        with pytest.raises(FrameError):
            decode(bytes(flipped))


@given(frames, st.data())
def test_any_single_bit_flip_is_detected(frame, data):
    encoded = encode(frame)
    bit = data.draw(st.integers(0, len(encoded) * 8 - 1))
    flipped = bytearray(encoded)
    flipped[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(FrameError):
        decode(bytes(flipped))


# -- JSON payloads ---------------------------------------------------------------------------


def test_json_payload_round_trip():
    obj = {"command": "set_rate", "mcg_per_day": 120.5, "steps": [1, 2], "note": "ü"}
    assert parse_payload(Frame(FrameType.REQUEST, 1, 1, json_payload(obj))) == obj


@pytest.mark.parametrize(
    ("payload", "words"),
    [
        (b"[1, 2]", "must be a JSON object, got an array"),
        (b"3", "must be a JSON object, got a number"),
        (b'"x"', "must be a JSON object, got a string"),
        (b"null", "must be a JSON object, got null"),
        (b"{", "is not valid JSON"),
        (b"", "is not valid JSON"),
        (b"\xff", "is not valid JSON"),
    ],
)
def test_parse_payload_errors(payload, words):
    with pytest.raises(FrameError) as info:
        parse_payload(Frame(FrameType.REQUEST, 1, 1, payload))
    assert info.value.field == "frame.payload"
    assert words in info.value.rule


def test_json_payload_errors():
    with pytest.raises(TypeError, match="must be a dict"):
        json_payload([1, 2])  # type: ignore[arg-type]
    with pytest.raises(FrameError, match="too long"):
        json_payload({"x": "a" * MAX_PAYLOAD})
    assert len(json_payload({"x": "a" * (MAX_PAYLOAD - 8)})) == MAX_PAYLOAD
