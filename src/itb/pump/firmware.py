"""What the implanted pump answers over telemetry: its command set, checked before any change.

Every request is a JSON object ``{"cmd": ..., ...}``. Commands that change the pump carry an
idempotency ``key`` (8-64 characters): a command already applied under that key is answered
with its first answer and never applied again, whatever the link did to the retries.

The program is one unitary, versioned block: the programmer announces it
(``program_begin``: its byte size, CRC-32 and the version it replaces), sends it in chunks
(``program_chunk``) and commits it (``program_commit``). The pump applies it only when every
byte arrived, the CRC matches, it parses as a valid program and the pump still runs the
version it replaces; otherwise nothing changes. A transfer dies with its session: a program
half-sent when the wand slipped is never applied.

Bad input (unknown command or field, out-of-range value) raises :class:`Refused` naming the
field and the rule; nothing has changed on the pump when it does.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, cast

import orjson

from itb.contracts.forecast import BOLUS_KINDS, parse_program, program_json
from itb.contracts.jsonfields import parse_local_datetime
from itb.domain.errors import Violation, bound_violation
from itb.domain.limits import Origin
from itb.domain.numerics import at_second
from itb.domain.program import MAX_BOLUS_DURATION_MINUTES, MIN_BOLUS_DURATION_MINUTES, DosingProgram
from itb.pump.engine import Event, ImplantedPump

#: The largest answer that fits one telemetry frame (``itb.telemetry.frames.MAX_PAYLOAD``; the
#: pump sits below the link and does not import it, a test keeps the two equal).
MAX_ANSWER_BYTES = 1024
#: Bytes of program text per ``program_chunk`` / ``program_read`` (fits one telemetry frame).
CHUNK_BYTES = 600
#: The largest program block the pump accepts, bytes.
MAX_PROGRAM_BYTES = 64_000
#: Log events per ``log`` answer at most (and they must fit one frame).
LOG_PAGE_EVENTS = 6
#: The longest patient identifier, UTF-8 bytes (``interrogate`` must fit one frame).
MAX_PATIENT_ID_BYTES = 64
#: A bridge bolus runs at the old drug's flow rate until the dead volume clears: at a low dose
#: that takes more than a day (0.32 mL x 500 mcg/mL at 110 mcg/day: 35 h).
MAX_BRIDGE_MINUTES = 7 * 1440
#: The highest concentration the pump accepts at a refill (mcg/mL; the label's strongest).
MAX_CONCENTRATION_MCG_PER_ML = 2000.0


class Refused(ValueError):
    """The pump refuses a command; the message names each field and rule. Nothing changed."""

    def __init__(self, violations: list[Violation]) -> None:
        self.violations = violations
        super().__init__("; ".join(str(v) for v in violations))


@dataclass(frozen=True, slots=True)
class TherapyInfo:
    """What the pump stores about its patient and implant (the programmer reads it)."""

    patient_id: str = "demo"
    origin: str = "spinal"
    age_years: float = 30.0
    implanted_at: str | None = None  # local date-time text
    catheter_length_cm: float = 50.0

    def json(self) -> dict:
        return asdict(self)


THERAPY_FIELDS = {
    "patient_id": str,
    "origin": str,
    "age_years": float,
    "implanted_at": str,
    "catheter_length_cm": float,
}
ORIGINS = tuple(Origin)


@dataclass(slots=True)
class _Transfer:
    key: str
    base_version: int
    size: int
    crc32: int
    data: bytearray = field(default_factory=bytearray)


class PumpFirmware:
    """The pump's side of telemetry around an :class:`ImplantedPump`.

    ``clock`` gives the pump's current time (seconds on its virtual clock); the pump is
    advanced to it before each command. ``on_change`` is called with each applied request and
    the time it was applied (the state file's journal).
    """

    def __init__(
        self,
        pump: ImplantedPump,
        therapy: TherapyInfo | None = None,
        *,
        clock: Callable[[], float] | None = None,
        on_change: Callable[[float, dict], None] | None = None,
    ) -> None:
        self.pump = pump
        self.therapy = therapy or TherapyInfo()
        self.clock = clock
        self.on_change = on_change
        self.program_version = 1
        #: the program the current version names; the pump replacing it by itself (a low battery
        #: reset's minimum rate) makes a new version, so a block based on the old one is refused
        self._versioned_program = pump.program
        self.clock_offset_s = 0.0
        self._done: dict[str, dict] = {}
        self._transfers: dict[int, _Transfer] = {}
        #: program transfers that ended with their session, not committed (nothing applied)
        self.discarded_transfers = 0

    # ------------------------------------------------------------------ dispatch
    def handle(self, session: int, request: dict) -> dict:
        if self.clock is not None:
            self.pump.advance_to(max(self.pump.t, self.clock()))
        self._sync_program_version()
        cmd = request.get("cmd")
        if type(cmd) is not str or cmd not in COMMANDS:
            raise Refused([Violation("cmd", f"unknown command {cmd!r}; known: {', '.join(COMMANDS)}")])
        fields, changes = COMMANDS[cmd]
        unknown = sorted(set(request) - fields - {"cmd", "key"})
        errs = [Violation(k, "unknown field") for k in unknown]
        key = request.get("key")
        if changes:
            if type(key) is not str or not 8 <= len(key) <= 64:
                errs.append(Violation("key", "is required: an idempotency key of 8-64 characters"))
            elif key in self._done:
                return {**self._done[key], "already_applied": True}
        elif "key" in request:
            errs.append(Violation("key", f"not used by {cmd} (it changes nothing)"))
        if errs:
            raise Refused(errs)
        return getattr(self, f"_{cmd}")(session, request)

    def end_session(self, session: int) -> None:
        """The link or session ended: a program transfer not committed is discarded."""
        if self._transfers.pop(session, None) is not None:
            self.discarded_transfers += 1

    def _sync_program_version(self) -> None:
        """A program the pump put in place by itself (``ImplantedPump.low_battery_reset``) is a new version."""
        if self.pump.program is not self._versioned_program:
            self._versioned_program = self.pump.program
            self.program_version += 1

    def _applied(self, request: dict, answer: dict) -> dict:
        self._done[request["key"]] = answer
        if self.on_change is not None:
            self.on_change(self.pump.t, request)
        return answer

    # ------------------------------------------------------------------ reading
    def now(self) -> datetime:
        """The pump's clock (as set by the programmer)."""
        return self.pump.day0 + timedelta(seconds=self.pump.t + self.clock_offset_s)

    def _iso(self, t: float | None) -> str | None:
        if t is None:
            return None
        instant = at_second(self.pump.day0, t + self.clock_offset_s)
        return None if instant is None else instant.isoformat()

    def program_text(self) -> bytes:
        return orjson.dumps(program_json(self.pump.program), option=orjson.OPT_SORT_KEYS)

    def _interrogate(self, session: int, request: dict) -> dict:
        pump = self.pump
        status = pump.status()
        text = self.program_text()
        setup = pump.setup
        return {
            "pump_time": self._iso(pump.t),
            "model": setup.model.name,
            "state": status["state"],
            "program_version": self.program_version,
            "program_bytes": len(text),
            "program_crc32": zlib.crc32(text),
            "daily_dose_mcg": status["daily_dose_mcg"],
            "reservoir_ml": status["pump_estimated_reservoir_ml"],
            "reservoir_capacity_ml": setup.reservoir_capacity_ml,
            "concentration_mcg_per_ml": pump.conc,
            "low_reservoir_alarm_ml": setup.low_reservoir_alarm_ml,
            "empty_ml": setup.empty_ml,
            "active_alarms": status["active_alarms"],
            "sounding_alarms": status["sounding_alarms"],
            "eri_at": self._iso(status["eri_at_t"]),
            "eri_reached": pump.eri_t is not None,
            "end_of_service_at": self._iso(pump.eos_t),
            "bolus_running": any(b.start_t <= pump.t < b.end_t for b in pump.boluses),
            "log_size": len(pump.log),
            "therapy": self.therapy.json(),
        }

    def _program_read(self, session: int, request: dict) -> dict:
        offset = request.get("offset", 0)
        text = self.program_text()
        if type(offset) is not int or not 0 <= offset <= len(text):
            raise Refused([Violation("offset", f"must be a whole number from 0 to {len(text)}")])
        return {
            "version": self.program_version,
            "size": len(text),
            "crc32": zlib.crc32(text),
            "offset": offset,
            "data": text[offset : offset + CHUNK_BYTES].decode(),
        }

    def _log(self, session: int, request: dict) -> dict:
        since = request.get("since", 0)
        log = self.pump.log
        if type(since) is not int or since < 0:
            raise Refused([Violation("since", "must be a whole number >= 0 (a log sequence number)")])
        # As many events as fit one frame (at least one): six refills with long keys do not.
        used = len(orjson.dumps({"events": [], "next": len(log), "size": len(log)}))
        page: list[dict] = []
        for seq, e in enumerate(log[since : since + LOG_PAGE_EVENTS], since + 1):
            event = self._event_json(seq, e)
            used += len(orjson.dumps(event)) + (1 if page else 0)
            if page and used > MAX_ANSWER_BYTES:
                break
            page.append(event)
        return {"events": page, "next": since + len(page), "size": len(log)}

    def _event_json(self, seq: int, event: Event) -> dict:
        out: dict[str, Any] = {"seq": seq, "at": self._iso(event.t), "type": event.type}
        for name, value in event.fields.items():
            out[name[:-2] if name.endswith("_at_t") else name] = self._iso(value) if name.endswith("_at_t") else value
        return out

    # ------------------------------------------------------------------ the program block
    def _program_begin(self, session: int, request: dict) -> dict:
        errs = []
        base, size, crc = request.get("base_version"), request.get("size"), request.get("crc32")
        if type(base) is not int:
            errs.append(Violation("base_version", "is required: the program version this one replaces"))
        elif base != self.program_version:
            errs.append(
                Violation(
                    "base_version",
                    f"the pump runs program version {self.program_version}, not {base}: read it again and review",
                )
            )
        if type(size) is not int or not 0 < size <= MAX_PROGRAM_BYTES:
            errs.append(Violation("size", f"must be a whole number of bytes from 1 to {MAX_PROGRAM_BYTES}"))
        if type(crc) is not int or not 0 <= crc < 2**32:
            errs.append(Violation("crc32", "must be the CRC-32 of the program text (0 to 2^32-1)"))
        if errs:
            raise Refused(errs)
        if session in self._transfers:  # a new block replaces one not committed
            self.discarded_transfers += 1
        # each is an int here: any other value was refused above
        self._transfers[session] = _Transfer(request["key"], cast(int, base), cast(int, size), cast(int, crc))
        return {"chunk_bytes": CHUNK_BYTES, "received": 0}

    def _program_chunk(self, session: int, request: dict) -> dict:
        transfer = self._transfer(session)
        offset, data = request.get("offset"), request.get("data")
        if type(data) is not str or not data.isascii():
            raise Refused([Violation("data", "must be program text")])
        chunk = data.encode()
        received = len(transfer.data)
        if type(offset) is not int or offset > received or offset < 0:
            raise Refused([Violation("offset", f"must be the next byte expected ({received})")])
        if offset < received:  # a chunk sent again: it must be the same bytes
            if transfer.data[offset : offset + len(chunk)] != chunk:
                raise Refused([Violation("data", "differs from the bytes already received at this offset")])
            return {"received": received}
        if received + len(chunk) > transfer.size:
            raise Refused([Violation("data", f"runs past the announced size ({transfer.size} bytes)")])
        transfer.data += chunk
        return {"received": len(transfer.data)}

    def _program_commit(self, session: int, request: dict) -> dict:
        transfer = self._transfer(session)
        errs = []
        if request["key"] != transfer.key:
            errs.append(Violation("key", "must be the key given to program_begin"))
        if len(transfer.data) != transfer.size:
            errs.append(Violation("program", f"incomplete: {len(transfer.data)} of {transfer.size} bytes received"))
        elif zlib.crc32(transfer.data) != transfer.crc32:
            errs.append(Violation("program", "CRC-32 does not match: the block was corrupted, send it again"))
        if transfer.base_version != self.program_version:
            errs.append(Violation("base_version", f"the pump now runs version {self.program_version}"))
        program = None
        if not errs:
            try:
                obj = orjson.loads(transfer.data)
            except orjson.JSONDecodeError:
                obj = None
            parse_errs: list[Violation] = []
            program = parse_program(obj, "program", parse_errs)
            errs.extend(parse_errs)
        if errs:
            self._transfers.pop(session, None)  # a refused block is gone: begin again
            raise Refused(errs)
        return self.apply_program(program, request)  # type: ignore[arg-type]

    def apply_program(self, program: DosingProgram, request: dict) -> dict:
        """Run ``program`` from now on as the next version (a committed block, or a replay)."""
        self._transfers = {s: t for s, t in self._transfers.items() if t.key != request["key"]}
        self._sync_program_version()
        event = self.pump.set_program(program)
        self._versioned_program = program
        self.program_version += 1
        event.fields["version"] = self.program_version
        event.fields["key"] = request["key"]
        answer = {"version": self.program_version, "applied_at": self._iso(self.pump.t)}
        return self._applied({**request, "cmd": "program_set", "program": program_json(program)}, answer)

    def _transfer(self, session: int) -> _Transfer:
        transfer = self._transfers.get(session)
        if transfer is None:
            raise Refused([Violation("program", "no transfer open in this session: send program_begin first")])
        return transfer

    # ------------------------------------------------------------------ other changes
    def _refill(self, session: int, request: dict) -> dict:
        errs = []
        cap = self.pump.setup.reservoir_capacity_ml
        added, conc = request.get("added_ml"), request.get("concentration_mcg_per_ml")
        for bad in (
            bound_violation("added_ml", added, minimum=0, strict=True, maximum=cap, required=True),
            bound_violation(
                "concentration_mcg_per_ml",
                conc,
                minimum=0,
                strict=True,
                maximum=MAX_CONCENTRATION_MCG_PER_ML,
                required=True,
            ),
            bound_violation("withdrawn_ml", request.get("withdrawn_ml"), minimum=0, maximum=cap),
        ):
            if bad:
                errs.append(bad)
        if errs:
            raise Refused(errs)
        event = self.pump.refill(float(added), float(conc))  # type: ignore[arg-type]
        event.fields["key"] = request["key"]
        if request.get("withdrawn_ml") is not None:
            event.fields["reported_withdrawn_ml"] = request["withdrawn_ml"]
        answer = {"expected_ml": event.fields["expected_ml"], "refilled_at": self._iso(self.pump.t)}
        return self._applied(request, answer)

    def _bolus_start(self, session: int, request: dict) -> dict:
        dose, minutes, kind = request.get("dose_mcg"), request.get("duration_minutes"), request.get("kind", "single")
        errs = [
            v
            for v in (
                bound_violation("dose_mcg", dose, minimum=0, strict=True, required=True),
                bound_violation(
                    "duration_minutes",
                    minutes,
                    minimum=MIN_BOLUS_DURATION_MINUTES,
                    maximum=MAX_BRIDGE_MINUTES if kind == "bridge" else MAX_BOLUS_DURATION_MINUTES,
                    required=True,
                ),
            )
            if v
        ]
        if type(kind) is not str or kind not in BOLUS_KINDS:
            errs.append(Violation("kind", f"must be one of {', '.join(sorted(BOLUS_KINDS))}"))
        pump = self.pump
        if not pump.pumping:
            errs.append(Violation("pump", f"cannot give a bolus while {pump.state.replace('_', ' ')}"))
        elif not errs and dose > (usable := (pump.est_ml - pump.setup.empty_ml) * pump.conc):  # type: ignore[operator]
            # The pump stops at empty_ml: what lies below it can never be given.
            errs.append(
                Violation("dose_mcg", f"more than the reservoir holds above its empty level ({usable:.4g} mcg)")
            )
        if errs:
            raise Refused(errs)
        pump.start_bolus(float(dose), float(minutes), kind, key=request["key"])  # type: ignore[arg-type]
        return self._applied(request, {"started_at": self._iso(pump.t)})

    def _bolus_cancel(self, session: int, request: dict) -> dict:
        event = self.pump.cancel_boluses()
        event.fields["key"] = request["key"]
        return self._applied(request, {"cut_short": event.fields["cut_short"]})

    def _alarms_silence(self, session: int, request: dict) -> dict:
        event = self.pump.clear_alarms()
        event.fields["key"] = request["key"]
        return self._applied(request, {"silenced": event.fields["silenced"], "still_active": self.pump.active_alarms()})

    def _valve_reset(self, session: int, request: dict) -> dict:
        event = self.pump.reset_valve()
        event.fields["key"] = request["key"]
        return self._applied(request, {"was_closed": event.fields["was_closed"]})

    def _clock_set(self, session: int, request: dict) -> dict:
        at = parse_local_datetime(request.get("at"))
        if at is None:
            raise Refused([Violation("at", "must be the local date-time YYYY-MM-DDTHH:MM:SS to set the pump's clock")])
        old = self.now()
        self.clock_offset_s = (at - self.pump.day0).total_seconds() - self.pump.t
        self.pump.note("clock_set", old=old.isoformat(timespec="seconds"), new=at.isoformat(), key=request["key"])
        return self._applied(request, {"pump_time": self._iso(self.pump.t)})

    def _therapy_set(self, session: int, request: dict) -> dict:
        changes = {k: request[k] for k in THERAPY_FIELDS if k in request}
        errs = []
        for name, value in changes.items():
            kind = THERAPY_FIELDS[name]
            if kind is float:
                bad = bound_violation(
                    name, value, minimum=0, maximum=150 if name == "age_years" else 500, required=True
                )
                if bad:
                    errs.append(bad)
            elif type(value) is not str or not value:
                errs.append(Violation(name, "must be text"))
            elif name == "patient_id" and len(value.encode()) > MAX_PATIENT_ID_BYTES:
                errs.append(Violation(name, f"must be text of at most {MAX_PATIENT_ID_BYTES} bytes (UTF-8)"))
        if "origin" in changes and changes["origin"] not in ORIGINS:
            errs.append(Violation("origin", f"must be one of {', '.join(ORIGINS)}"))
        if "implanted_at" in changes and parse_local_datetime(changes["implanted_at"]) is None:
            errs.append(Violation("implanted_at", "must be a local date-time YYYY-MM-DDTHH:MM:SS"))
        if not changes:
            errs.append(Violation("therapy", f"give at least one of {', '.join(THERAPY_FIELDS)}"))
        if errs:
            raise Refused(errs)
        self.therapy = replace(self.therapy, **changes)
        self.pump.note("therapy_info_changed", key=request["key"], **changes)
        return self._applied(request, {"therapy": self.therapy.json()})

    # ------------------------------------------------------------------ replay
    def replay(self, t: float, request: dict) -> None:
        """Apply a journaled change again (restoring a saved pump): same time, same key."""
        self.pump.advance_to(max(self.pump.t, t))
        if request["cmd"] == "program_set":
            errs: list[Violation] = []
            program = parse_program(request["program"], "program", errs)
            self.apply_program(program, request)
        else:
            getattr(self, f"_{request['cmd']}")(0, request)


#: command -> (its fields besides cmd and key, whether it changes the pump)
COMMANDS: dict[str, tuple[frozenset[str], bool]] = {
    "interrogate": (frozenset(), False),
    "log": (frozenset({"since"}), False),
    "program_read": (frozenset({"offset"}), False),
    "program_begin": (frozenset({"base_version", "size", "crc32"}), True),
    "program_chunk": (frozenset({"offset", "data"}), False),
    "program_commit": (frozenset(), True),
    "refill": (frozenset({"added_ml", "concentration_mcg_per_ml", "withdrawn_ml"}), True),
    "bolus_start": (frozenset({"dose_mcg", "duration_minutes", "kind"}), True),
    "bolus_cancel": (frozenset(), True),
    "alarms_silence": (frozenset(), True),
    "valve_reset": (frozenset(), True),
    "clock_set": (frozenset({"at"}), True),
    "therapy_set": (frozenset(THERAPY_FIELDS), True),
}
