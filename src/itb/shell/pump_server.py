"""``itb pump serve``: a virtual implanted pump as a process, answering telemetry over TCP.

The pump's clock runs from where its state file left it, ``clock_speed`` times faster than
real time (1 = real time; 86,400 = a day per second, for demos). Its state is saved after
every change and when the process stops, so a restart finds the same pump.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

from itb.pump.firmware import PumpFirmware, TherapyInfo
from itb.pump.state_file import PumpStore
from itb.telemetry.faults import FaultInjector, FaultSpec
from itb.telemetry.session import ServerEndpoint
from itb.telemetry.transport import TcpServer


class RunningClock:
    """The pump's virtual clock: ``start_t`` plus real seconds elapsed times ``speed``."""

    def __init__(self, start_t: float, speed: float, now: Callable[[], float] = time.monotonic) -> None:
        self.start_t, self.speed, self._now = start_t, speed, now
        self._origin = now()

    def __call__(self) -> float:
        return self.start_t + (self._now() - self._origin) * self.speed


def open_pump(state_path: Path, init: dict, therapy: TherapyInfo) -> tuple[PumpStore, PumpFirmware, bool]:
    """The pump in ``state_path``, created from ``init`` (a scenario's start) if the file is new."""
    store = PumpStore(state_path)
    if store.exists():
        return store, store.load(), False
    return store, store.create(init, therapy), True


def serve(
    store: PumpStore,
    firmware: PumpFirmware,
    *,
    host: str,
    port: int,
    clock_speed: float,
    faults: FaultSpec | None,
    ready: Callable[[int], None],
    stop: threading.Event | None = None,
) -> None:
    """Answer telemetry until ``stop`` is set or the process gets SIGINT/SIGTERM."""
    firmware.clock = RunningClock(firmware.pump.t, clock_speed)
    lock = threading.Lock()
    endpoint = ServerEndpoint(firmware.handle, on_session_end=firmware.end_session)

    def on_frame(data: bytes) -> list[bytes]:
        with lock:
            return endpoint.on_frame(data)

    server = TcpServer(on_frame, host=host, port=port, faults=FaultInjector(faults) if faults else None)
    server.start()
    stop = stop or threading.Event()
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, lambda *_: stop.set())
    try:
        ready(server.port)
        while not stop.wait(1.0):
            pass
    finally:
        server.stop()
        with lock:
            firmware.pump.advance_to(max(firmware.pump.t, firmware.clock()))
            store.save(firmware)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
