"""``itb forecast``'s work, without the command-line library.

The Typer command (:func:`itb.cli.commands.forecast`) calls :func:`run_forecast`; the entry
point (:func:`itb.cli.main`) calls it straight from here for the plain forms of the command line
(:func:`plain_forecast`), without importing Typer: a nightly batch would otherwise spend more
time starting than a tenth of its cases take. Any other form (``--help``, an unknown option, a
missing argument) goes to Typer, which parses it and reports usage errors.
"""

from __future__ import annotations

import sys

from itb.cli.messages import fail


def plain_forecast(args: list[str]) -> tuple[str | None, str | None, bool] | None:
    """``(case, batch, as_json)`` for the command lines (``sys.argv[1:]``) that need no parser:
    ``forecast CASE``, ``forecast CASE --json`` (or ``--json`` first) and ``forecast --batch
    FILE``, each file a name that cannot be read as an option (or ``-``); None for every other."""
    if not args or args[0] != "forecast":
        return None
    rest = args[1:]
    if len(rest) == 2 and rest[0] == "--batch" and _plain_name(rest[1]):
        return None, rest[1], False
    as_json = "--json" in rest
    if as_json:
        rest = [arg for arg in rest if arg != "--json"]
        if len(rest) != len(args) - 2:  # --json given twice: Typer's to judge
            return None
    if len(rest) == 1 and _plain_name(rest[0]):
        return rest[0], None, as_json
    return None


def _plain_name(arg: str) -> bool:
    return arg == "-" or (bool(arg) and not arg.startswith("-"))


def run_forecast(case: str | None, batch: str | None, as_json: bool) -> None:
    """Forecast one case (human summary, or the contract's JSON with ``as_json``), or answer a
    JSON Lines batch (``batch``); usage and input errors end as one line and exit status 2."""
    from itb.shell.files import open_source, read_json

    if (case is None) == (batch is None):
        fail("give either one CASE file or --batch FILE")
    if batch is not None:
        from itb.contracts import forecast as contract
        from itb.shell.batch import answer_stream

        with open_source(batch) as source:
            _import_typed_path()
            answer_stream(source, sys.stdout.buffer, contract.answer_many)
        return
    from itb.contracts import forecast as contract
    from itb.domain.errors import InvalidInput

    obj = read_json(case)  # type: ignore[arg-type]
    try:
        state, program = contract.parse_case(obj)
    except InvalidInput as exc:
        fail(exc.one_line())
    from itb.domain.forecast import forecast_reservoir

    result = forecast_reservoir(state, program)
    if as_json:
        import orjson

        sys.stdout.buffer.write(orjson.dumps(contract.result_json(contract.case_id(obj), result)) + b"\n")
    else:
        from itb.shell.report import print_forecast

        print_forecast(state, result, contract.case_id(obj))


def _import_typed_path() -> None:
    """The batch's typed path (numpy, msgspec), imported once here rather than by each worker
    process on its first chunk: the same wait, half the work on a shared machine."""
    from contextlib import suppress

    with suppress(ImportError):  # without msgspec every line takes the other path (itb.contracts.forecast)
        import itb.contracts.forecast_typed  # noqa: F401


def main_forecast(case: str | None, batch: str | None, as_json: bool) -> None:
    """:func:`run_forecast` as the entry point runs it: unreadable input, or a batch that could
    not be finished, is one line and exit status 2; a closed output pipe or an interrupt ends
    it with status 1 (as :func:`itb.cli.commands.run`)."""
    from itb.shell.batch import BatchFailed
    from itb.shell.files import InputError

    try:
        run_forecast(case, batch, as_json)
    except InputError as exc:
        fail(str(exc))
    except BatchFailed as exc:
        fail(f"the batch did not finish ({exc}); the answers written are not the whole batch")
    except (KeyboardInterrupt, BrokenPipeError):
        sys.stderr.close()
        raise SystemExit(1) from None


__all__ = ["main_forecast", "plain_forecast", "run_forecast"]
