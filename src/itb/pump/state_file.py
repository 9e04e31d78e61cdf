"""A virtual pump's state on disk, so that it survives a restart of ``itb pump serve``.

The file holds how the pump started (a scenario's ``start``, ``pump``, ``reservoir_ml``,
``concentration_mcg_per_ml``, ``program``, ``flow_error``), the therapy information, the
journal of every change applied over telemetry with the pump time it was applied at, and the
pump's clock when last saved. Loading starts the pump again and replays the journal: the
engine is deterministic, so the pump comes back exactly as it was (program version,
idempotency keys, log, alarms, battery).

Every save writes a temporary file beside the real one, flushes it to disk and renames it over
the old one: a crash leaves either the old state or the new one, never half a file.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import orjson

from itb.contracts.bounds import PUMP_CLOCK_MAX_S, violations
from itb.domain.errors import InvalidInput, Violation, bound_violation
from itb.pump.firmware import PumpFirmware, TherapyInfo
from itb.pump.scenario_json import parse_scenario
from itb.pump.simulator import new_pump

FORMAT = "itb-pump-state/1"
SETUP_FIELDS = ("start", "pump", "reservoir_ml", "concentration_mcg_per_ml", "program", "flow_error")


@dataclass
class PumpState:
    setup: dict[str, Any]
    #: the therapy information as first stored (later changes are in the journal)
    therapy: dict[str, Any] = field(default_factory=dict)
    journal: list[tuple[float, dict]] = field(default_factory=list)
    t: float | None = None

    def json(self) -> dict:
        return {
            "format": FORMAT,
            "setup": self.setup,
            "therapy": self.therapy,
            "journal": [{"t": t, "request": r} for t, r in self.journal],
            "t": self.t,
        }


def setup_from_scenario(obj: dict) -> dict:
    """The starting fields of a scenario (its actions, if any, are not part of a live pump)."""
    return {k: obj[k] for k in SETUP_FIELDS if k in obj}


def build(state: PumpState) -> PumpFirmware:
    """The pump the state describes: started from its setup, its journal replayed."""
    scenario_obj = {**state.setup, "until": "9999-12-31T23:59:59"}
    scenario = parse_scenario(scenario_obj)
    therapy = TherapyInfo(**state.therapy)
    if therapy.implanted_at is None:
        therapy = replace(therapy, implanted_at=scenario.implanted_at.isoformat(timespec="seconds"))
    firmware = PumpFirmware(new_pump(scenario), therapy)
    for t, request in state.journal:
        firmware.replay(t, request)
    if state.t is not None:
        firmware.pump.advance_to(max(firmware.pump.t, state.t))
    return firmware


def check_clock(state: PumpState, path: Path) -> None:
    """The pump times the file holds, each a number of seconds from 0 to :data:`PUMP_CLOCK_MAX_S`
    (a larger one, ``1e300``, would overflow the pump's calendar)."""
    found = violations(
        bound_violation("t", state.t, minimum=0, maximum=PUMP_CLOCK_MAX_S),
        *(
            bound_violation(f"journal[{i}].t", t, minimum=0, maximum=PUMP_CLOCK_MAX_S, required=True)
            for i, (t, _) in enumerate(state.journal)
        ),
    )
    if found:
        problems = "; ".join(str(v) for v in found[:5])
        raise InvalidInput([Violation("state", f"{path}: damaged, the pump cannot be restored from it ({problems})")])


class PumpStore:
    """One pump's state file: load it, and save each change as it is applied."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.state: PumpState | None = None

    def exists(self) -> bool:
        return self.path.exists()

    def create(self, scenario_obj: dict, therapy: TherapyInfo | None = None) -> PumpFirmware:
        state = PumpState(setup=setup_from_scenario(scenario_obj), therapy=therapy.json() if therapy else {})
        firmware = build(state)  # refuses a bad scenario before anything is written
        state.therapy = firmware.therapy.json()
        self.state = state
        self.attach(firmware)
        self.save(firmware)
        return firmware

    def load(self) -> PumpFirmware:
        try:
            obj = orjson.loads(self.path.read_bytes())
        except OSError as exc:
            raise InvalidInput([Violation("state", f"{self.path}: cannot read ({exc.strerror})")]) from None
        except orjson.JSONDecodeError as exc:
            raise InvalidInput([Violation("state", f"{self.path}: not valid JSON ({exc})")]) from None
        if type(obj) is not dict or obj.get("format") != FORMAT:
            raise InvalidInput([Violation("state", f"{self.path}: not an itb pump state file ({FORMAT})")])
        try:
            state = PumpState(
                setup=obj.get("setup") or {},
                therapy=obj.get("therapy") or {},
                journal=[(entry["t"], entry["request"]) for entry in obj.get("journal") or []],
                t=obj.get("t"),
            )
            check_clock(state, self.path)
            firmware = build(state)
        except InvalidInput:
            raise
        except (LookupError, TypeError, AttributeError, ValueError) as exc:  # a damaged journal, therapy or t
            message = f"{self.path}: damaged, the pump cannot be restored from it ({type(exc).__name__}: {exc})"
            raise InvalidInput([Violation("state", message)]) from None
        self.state = state
        self.attach(firmware)
        return firmware

    def attach(self, firmware: PumpFirmware) -> None:
        """Journal (and save) every change the firmware applies from now on."""

        def on_change(t: float, request: dict) -> None:
            assert self.state is not None
            self.state.journal.append((t, request))
            self.save(firmware)

        firmware.on_change = on_change

    def save(self, firmware: PumpFirmware) -> None:
        assert self.state is not None
        self.state.t = firmware.pump.t
        data = orjson.dumps(self.state.json(), option=orjson.OPT_INDENT_2)
        directory = self.path.parent
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=directory)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
