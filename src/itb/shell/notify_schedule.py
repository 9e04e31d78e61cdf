"""The outbox pass on a schedule inside ``itb serve`` (``ITB_NOTIFY_INTERVAL`` seconds; 0: off).

A thread of the server runs :meth:`~itb.clinic.services.Clinic.notify_run` every interval. Two
server processes are safe: one pass runs at a time across them (a database lock), the other
skips its turn. A pass that fails (the database away, a bug) is logged to standard error and the
next one runs at its time: the schedule never stops the server, nor the server the schedule.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Mapping

from itb.clinic.services import SYSTEM, Clinic
from itb.shell.clinic_setup import SetupError

#: a pass every five minutes: a missed refill or an emergency report is told within five minutes
DEFAULT_INTERVAL_S = 300.0
#: the shortest interval allowed (more often only loads the database)
MIN_INTERVAL_S = 10.0


def interval_from_env(env: Mapping[str, str] = os.environ) -> float:
    """``ITB_NOTIFY_INTERVAL``: seconds between passes (default 300; 0 turns the schedule off)."""
    text = env.get("ITB_NOTIFY_INTERVAL", "").strip()
    if not text:
        return DEFAULT_INTERVAL_S
    try:
        value = float(text)
    except ValueError:
        raise SetupError(f"ITB_NOTIFY_INTERVAL: {text!r} is not a number of seconds") from None
    if value != 0 and not MIN_INTERVAL_S <= value <= 86400:
        raise SetupError(f"ITB_NOTIFY_INTERVAL: must be 0 (off) or {MIN_INTERVAL_S:g} to 86400 seconds, got {text}")
    return value


class NotifySchedule:
    """A daemon thread running one pass per interval until :meth:`stop`."""

    def __init__(self, clinic: Clinic, interval_s: float) -> None:
        self.clinic = clinic
        self.interval_s = interval_s
        self.passes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="itb-notify", daemon=True)

    def start(self) -> NotifySchedule:
        if self.interval_s > 0:
            self._thread.start()
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.run_once()
            self._stop.wait(self.interval_s)

    def run_once(self) -> None:
        try:
            report = self.clinic.notify_run(SYSTEM)
        except Exception as error:
            print(f"itb notify: the pass failed: {type(error).__name__}: {error}", file=sys.stderr, flush=True)
            return
        self.passes += 1
        if report.failed:
            print(f"itb notify: {len(report.failed)} message(s) could not be sent (kept pending)", file=sys.stderr,
                  flush=True)  # fmt: skip


__all__ = ["DEFAULT_INTERVAL_S", "MIN_INTERVAL_S", "NotifySchedule", "interval_from_env"]
