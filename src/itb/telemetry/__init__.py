"""The radio link between the clinician programmer and the implanted pump.

Frames (``frames``), fault injection (``faults``), transports (``transport``: in-memory
loopback and TCP) and reliable request/response sessions (``session``). The layer knows
nothing about pumps: payloads are JSON objects.
"""

from itb.telemetry.faults import FaultInjector, FaultSpec
from itb.telemetry.frames import MAX_PAYLOAD, Frame, FrameError, FrameType, decode, encode, json_payload, parse_payload
from itb.telemetry.session import (
    ClientSession,
    LinkDown,
    RemoteError,
    ServerEndpoint,
    TelemetryError,
    UncertainOutcome,
)
from itb.telemetry.transport import LoopbackLink, TcpServer, TcpTransport, Transport

__all__ = [
    "MAX_PAYLOAD",
    "ClientSession",
    "FaultInjector",
    "FaultSpec",
    "Frame",
    "FrameError",
    "FrameType",
    "LinkDown",
    "LoopbackLink",
    "RemoteError",
    "ServerEndpoint",
    "TcpServer",
    "TcpTransport",
    "TelemetryError",
    "Transport",
    "UncertainOutcome",
    "decode",
    "encode",
    "json_payload",
    "parse_payload",
]
