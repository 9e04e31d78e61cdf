"""The clinic's link to each implanted (virtual) pump: a state file, opened per visit.

Each implanted pump record points at a virtual pump's state file (the kind ``itb pump serve``
keeps). A visit loads it, runs its clock up to the clinic's "now", and gives the programmer an
in-memory telemetry link to it; every change the programmer makes is saved to the file as it
is applied. One visit at a time per pump (a lock per file).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from itb.contracts.forecast import program_json
from itb.domain.program import DosingProgram
from itb.programmer.link import PumpLink
from itb.pump.firmware import PumpFirmware, TherapyInfo
from itb.pump.state_file import PumpStore
from itb.telemetry.session import ServerEndpoint
from itb.telemetry.transport import LoopbackLink


class VirtualPumps:
    def __init__(self, directory: Path, clock: Callable[[], datetime]) -> None:
        self.directory = directory
        self.clock = clock
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def create(
        self,
        serial: str,
        *,
        model: str,
        capacity_ml: float,
        implanted_at: datetime,
        start: datetime,
        reservoir_ml: float,
        concentration_mcg_per_ml: float,
        program: DosingProgram,
        catheter_volume_ml: float,
        low_reservoir_alarm_ml: float,
        therapy: TherapyInfo,
        flow_error: float = 0.0,
    ) -> str:
        path = self.directory / f"pump-{serial}.json"
        scenario = {
            "start": start.isoformat(timespec="seconds"),
            "pump": {
                "model": model,
                "reservoir_capacity_ml": capacity_ml,
                "implanted_at": implanted_at.isoformat(timespec="seconds"),
                "low_reservoir_alarm_ml": low_reservoir_alarm_ml,
                "catheter_volume_ml": catheter_volume_ml,
            },
            "reservoir_ml": reservoir_ml,
            "concentration_mcg_per_ml": concentration_mcg_per_ml,
            "program": program_json(program),
            "flow_error": flow_error,
        }
        PumpStore(path).create(scenario, therapy)
        return str(path)

    def _lock(self, path: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(path, threading.Lock())

    @contextmanager
    def visit(self, state_path: str) -> Iterator[tuple[PumpLink, PumpFirmware]]:
        """A programmer link to the pump, its clock run up to now; saved as changes apply."""
        with self._lock(state_path):
            store = PumpStore(state_path)
            firmware = store.load()
            pump = firmware.pump
            now_t = pump.t_of(self.clock())
            firmware.clock = lambda: max(pump.t, now_t)
            endpoint = ServerEndpoint(firmware.handle, on_session_end=firmware.end_session)
            wire = LoopbackLink(endpoint.on_frame)
            link = PumpLink(lambda: wire.client)
            try:
                yield link, firmware
            finally:
                link.close()
                pump.advance_to(max(pump.t, now_t))
                store.save(firmware)
