"""``itb programmer``: one command = one visit to the pump over TCP, with the programmer's record.

The record (every change sent and what became of it) lives in a JSON file; changes left
uncertain by a lost link are settled from the pump's log at the start of the next command.
Exit status: 0 done; 2 bad input, a refusal, or soft limits not yet confirmed (nothing sent);
3 the pump could not be reached (nothing sent); 4 a change was sent and its fate is still
uncertain (read the log, or run any command again to reconcile).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import orjson

from itb.programmer.link import PumpLink
from itb.programmer.record import Entry, ProgrammerRecord, Status
from itb.telemetry.transport import TcpTransport

EXIT_REFUSED = 2
EXIT_UNREACHABLE = 3
EXIT_UNCERTAIN = 4


class UsageError(ValueError):
    """Bad command-line input: the message names the option and the rule."""


@dataclass(frozen=True)
class PumpAddress:
    host: str
    port: int


def parse_address(text: str) -> PumpAddress:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"--pump: must be HOST:PORT (e.g. 127.0.0.1:7070), got {text!r}")
    return PumpAddress(host, int(port))


def link_to(address: PumpAddress, timeout_s: float = 0.5, max_attempts: int = 6) -> PumpLink:
    return PumpLink(lambda: TcpTransport(address.host, address.port), timeout_s=timeout_s, max_attempts=max_attempts)


def default_record_path() -> Path:
    base = os.environ.get("ITB_HOME") or Path.home() / ".local" / "share" / "itb"
    return Path(base) / "programmer-record.json"


def load_record(path: Path) -> ProgrammerRecord:
    if not path.exists():
        return ProgrammerRecord()
    try:
        rows = orjson.loads(path.read_bytes())
        return ProgrammerRecord([Entry(**{**row, "status": Status(row["status"])}) for row in rows])
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise UsageError(f"--record: {path} is not a programmer record ({exc})") from None


def save_record(path: Path, record: ProgrammerRecord) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(orjson.dumps(record.json(), option=orjson.OPT_INDENT_2))
    os.replace(tmp, path)


def exit_status(entries: list[Entry]) -> int:
    if any(e.status in (Status.UNCERTAIN, Status.PENDING) for e in entries):
        return EXIT_UNCERTAIN
    if any(e.status is Status.REFUSED for e in entries):
        return EXIT_REFUSED
    return 0
