"""Telemetry frames: the bytes that go over the radio link between programmer and pump.

Wire format (big-endian)::

    magic b"IT" | version u8 | type u8 | session u32 | seq u32 | length u16 | payload | crc32 u32

The CRC-32 (``zlib.crc32``) covers the header and the payload. Payloads are JSON objects
encoded with orjson, at most ``MAX_PAYLOAD`` bytes.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from enum import IntEnum

import orjson

MAGIC = b"IT"
VERSION = 1
MAX_PAYLOAD = 1024
U32_MAX = 0xFFFF_FFFF

HEADER = struct.Struct(">2sBBIIH")
CRC = struct.Struct(">I")
HEADER_SIZE = HEADER.size  # 14
CRC_SIZE = CRC.size  # 4
MIN_FRAME_SIZE = HEADER_SIZE + CRC_SIZE
MAX_FRAME_SIZE = HEADER_SIZE + MAX_PAYLOAD + CRC_SIZE


class FrameType(IntEnum):
    """What a frame is for."""

    OPEN = 1
    OPEN_OK = 2
    REQUEST = 3
    RESPONSE = 4
    CLOSE = 5
    CLOSE_OK = 6
    ERROR = 7


_KNOWN_TYPES = ", ".join(t.name for t in FrameType)


class FrameError(Exception):
    """A frame that breaks a rule of the wire format: which field, and which rule."""

    def __init__(self, field: str, rule: str) -> None:
        self.field = field
        self.rule = rule
        super().__init__(f"{field}: {rule}")

    def __str__(self) -> str:
        return f"{self.field}: {self.rule}"


@dataclass(frozen=True, slots=True)
class Frame:
    """One frame: its type, the session it belongs to, its sequence number and its payload."""

    type: FrameType
    session: int
    seq: int
    payload: bytes = b""


def encode(frame: Frame) -> bytes:
    """The frame as bytes on the wire; FrameError if a field does not fit."""
    for name, value in (("session", frame.session), ("seq", frame.seq)):
        if not 0 <= value <= U32_MAX:
            raise FrameError(f"frame.{name}", f"must be from 0 to {U32_MAX}, got {value}")
    if len(frame.payload) > MAX_PAYLOAD:
        raise FrameError("frame.payload", f"too long: {len(frame.payload)} bytes, max {MAX_PAYLOAD}")
    body = HEADER.pack(MAGIC, VERSION, int(frame.type), frame.session, frame.seq, len(frame.payload)) + frame.payload
    return body + CRC.pack(zlib.crc32(body))


def header_readable(data: bytes) -> bool:
    """Whether the bytes are long enough and start with the magic, so the sender can be told off."""
    return len(data) >= HEADER_SIZE and data[:2] == MAGIC


def decode(data: bytes) -> Frame:
    """The frame in ``data``; FrameError naming the first broken rule."""
    if len(data) < MIN_FRAME_SIZE:
        raise FrameError("frame", f"too short: {len(data)} bytes, a frame has at least {MIN_FRAME_SIZE}")
    magic, version, type_, session, seq, length = HEADER.unpack_from(data)
    if magic != MAGIC:
        raise FrameError("frame.magic", f"must be {MAGIC!r}, got {bytes(magic)!r}")
    if version != VERSION:
        raise FrameError("frame.version", f"unknown version {version}; this side speaks version {VERSION}")
    if length > MAX_PAYLOAD:
        raise FrameError("frame.length", f"payload too long: {length} bytes, max {MAX_PAYLOAD}")
    carried = len(data) - MIN_FRAME_SIZE
    if length != carried:
        raise FrameError("frame.length", f"says {length} payload bytes but the frame carries {carried}")
    body_end = HEADER_SIZE + length
    (crc,) = CRC.unpack_from(data, body_end)
    if crc != zlib.crc32(data[:body_end]):
        raise FrameError("frame.crc", "does not match the frame's contents (corrupted)")
    try:
        frame_type = FrameType(type_)
    except ValueError:
        raise FrameError("frame.type", f"unknown type {type_}; known: {_KNOWN_TYPES}") from None
    return Frame(frame_type, session, seq, bytes(data[HEADER_SIZE:body_end]))


def json_payload(obj: dict) -> bytes:
    """A JSON object as payload bytes; TypeError if not a dict, FrameError if too long."""
    if not isinstance(obj, dict):
        raise TypeError(f"payload must be a dict (a JSON object), got {type(obj).__name__}")
    data = orjson.dumps(obj)
    if len(data) > MAX_PAYLOAD:
        raise FrameError("frame.payload", f"too long: {len(data)} bytes of JSON, max {MAX_PAYLOAD}")
    return data


def parse_payload(frame: Frame) -> dict:
    """The frame's payload as a dict; FrameError if it is not a JSON object."""
    try:
        obj = orjson.loads(frame.payload)
    except orjson.JSONDecodeError as exc:
        raise FrameError("frame.payload", f"is not valid JSON ({exc})") from None
    if not isinstance(obj, dict):
        raise FrameError("frame.payload", f"must be a JSON object, got {_json_kind(obj)}")
    return obj


def _json_kind(obj: object) -> str:
    if obj is None:
        return "null"
    if isinstance(obj, bool):
        return "a boolean"
    if isinstance(obj, int | float):
        return "a number"
    if isinstance(obj, str):
        return "a string"
    return "an array"
