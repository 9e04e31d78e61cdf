"""The ``itb`` command. Each command reads its input, calls the layers below, writes output.

Errors in the user's input end with exit status 2 and one line on stderr naming the field
and the rule; never a traceback. The commands are in :mod:`itb.cli.commands` (Typer); this
module, the entry point, imports none of them to answer ``itb --help`` (:mod:`itb.cli.top_help`).
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any


def main() -> None:
    """Entry point: the top-level help from its table, the bundled simulation (``itb simulate``
    alone: no option to parse) and the plain forms of ``itb forecast`` (see
    :func:`itb.cli.forecast_run.plain_forecast`) directly, every other command line through Typer."""
    top_help = importlib.import_module("itb.cli.top_help")
    if top_help.answer(sys.argv):
        if len(sys.argv) == 1:  # `itb` alone: the help, as a usage error
            raise SystemExit(2)
        return
    if top_help.plain(sys.argv) and sys.argv[1:] == ["simulate"]:  # the bundled demo: nothing to parse
        try:
            importlib.import_module("itb.cli.simulate_run").run_simulate(None, False, None)
        except (KeyboardInterrupt, BrokenPipeError):  # as the Typer path ends them (commands.run)
            sys.stderr.close()
            raise SystemExit(1) from None
        return
    if sys.argv[1:2] == ["forecast"] and "_ITB_COMPLETE" not in os.environ:
        run = importlib.import_module("itb.cli.forecast_run")
        forecast = run.plain_forecast(sys.argv[1:])
        if forecast is not None:  # `itb forecast CASE [--json]`, `itb forecast --batch FILE`: nothing to parse
            run.main_forecast(*forecast)
            return
    importlib.import_module("itb.cli.commands").run()


def __getattr__(name: str) -> Any:
    """``itb.cli.app`` and the rest of :mod:`itb.cli.commands`, imported when first asked for
    (a submodule's name is left to the import system)."""
    if name.startswith("__") or name in ("commands", "top_help"):
        raise AttributeError(name)
    return getattr(importlib.import_module("itb.cli.commands"), name)
