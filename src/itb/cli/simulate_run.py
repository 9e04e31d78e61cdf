"""``itb simulate``'s work, without the command-line library: the entry point runs the bundled
demo (``itb simulate`` with nothing more) straight from here, Typer every other command line."""

from __future__ import annotations

import sys
from pathlib import Path

from itb.cli.messages import DISCLAIMER, fail
from itb.shell.files import read_json


def default_scenario() -> Path:
    return Path(__file__).parents[1] / "scenarios" / "child-first-year.json"


def _bundled_scenario() -> object:
    """The bundled demo, read by the standard library's JSON reader: the project's own valid
    file, so the same objects as orjson reads, without the cost of loading orjson."""
    import json

    return json.loads(default_scenario().read_bytes())


def run_simulate(scenario: str | None, as_json: bool, plot: str | None) -> None:
    """Run the scenario (None: the bundled demo) and print its timeline, or its JSON; ``plot``: also draw it."""
    from itb.domain.errors import InvalidInput
    from itb.pump import scenario_json as contract

    if plot is not None:
        from itb.simulation.timeline_plot import PlotError, plot_format

        try:
            plot_format(plot)
        except PlotError as exc:
            fail(str(exc))
    obj = read_json(scenario) if scenario else _bundled_scenario()
    try:
        parsed = contract.parse_scenario(obj)
    except InvalidInput as exc:
        fail(exc.one_line())
    from itb.pump.simulator import run

    outcome = run(parsed)
    data = contract.outcome_json(outcome)
    if plot is not None:
        from itb.simulation.timeline_plot import write_plot

        try:
            write_plot(parsed, data, plot)
        except PlotError as exc:
            fail(str(exc))
    if as_json:
        import orjson

        sys.stdout.buffer.write(orjson.dumps(data) + b"\n")
    else:
        from itb.simulation.timeline import timeline_lines

        header, *rest = timeline_lines(parsed, data)
        print("\n".join([header, DISCLAIMER, *rest] + ([f"Plot written to {plot}."] if plot else [])))


__all__ = ["default_scenario", "run_simulate"]
