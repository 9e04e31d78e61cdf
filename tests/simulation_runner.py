"""Running a scenario in tests with a time limit: a simulation takes milliseconds, so one that
takes seconds means the engine's clock stopped advancing (a regression once seen: see
test_pump_rules.test_eri_reached_while_pumping_does_not_stop_the_clock)."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from itb.pump.scenario_json import outcome_json, parse_scenario
from itb.pump.simulator import run

HANG_LIMIT_S = 2.0


class EngineHang(Exception):
    """The simulation did not finish in HANG_LIMIT_S."""


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    def stop(signum: int, frame: object) -> None:
        raise EngineHang(f"no result after {seconds:g} s: the engine's clock is not advancing")

    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def simulate(obj: dict):
    """(the pump after the run, the contract's JSON outcome); a hung engine fails the test at once
    (no shrinking through one time limit after another) and names the scenario."""
    try:
        with time_limit(HANG_LIMIT_S):
            outcome = run(parse_scenario(obj))
    except EngineHang as exc:
        pytest.fail(f"{exc}; scenario: {json.dumps(obj)}")
    return outcome.pump, outcome_json(outcome)
