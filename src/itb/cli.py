"""The ``itb`` command. Each command reads its input, calls the layers below, writes output.

Errors in the user's input end with exit status 2 and one line on stderr naming the field
and the rule; never a traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from typer.exceptions import TyperException

from itb.shell.files import InputError, read_json, read_source

DISCLAIMER = "For education, planning and research. Not a certified medical device."

app = typer.Typer(
    name="itb",
    help=f"Open software for intrathecal baclofen pump therapy. {DISCLAIMER}",
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    no_args_is_help=True,
)


def fail(message: str) -> NoReturn:
    """One line on stderr, exit status 2."""
    sys.stderr.write(f"itb: error: {' '.join(message.split())}\n")
    raise SystemExit(2)


@app.command()
def forecast(
    case: Annotated[str | None, typer.Argument(help="Case JSON file; '-' reads standard input.")] = None,
    batch: Annotated[str | None, typer.Option("--batch", help="JSON Lines file of cases ('-': stdin).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the contract's JSON object.")] = False,
) -> None:
    """When does the reservoir reach the low-reservoir alarm, and empty? (shared/spec/forecast.md)"""
    from itb.contracts import forecast as contract

    if (case is None) == (batch is None):
        fail("give either one CASE file or --batch FILE")
    if batch is not None:
        from itb.shell.batch import answer_batch

        sys.stdout.buffer.write(answer_batch(read_source(batch), contract.answer_many))
        return
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


@app.command()
def simulate(
    scenario: Annotated[
        str | None, typer.Argument(help="Scenario JSON file; '-' reads standard input. Default: the demo.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the contract's JSON object.")] = False,
) -> None:
    """Run one implanted pump through months or years on a virtual clock (shared/spec/simulate.md).

    Without SCENARIO, runs the bundled example: a child's first year with the pump.
    """
    from itb.contracts import simulate as contract
    from itb.domain.errors import InvalidInput

    obj = read_json(scenario) if scenario else read_json(str(default_scenario()))
    try:
        parsed = contract.parse_scenario(obj)
    except InvalidInput as exc:
        fail(exc.one_line())
    from itb.pump.simulator import run

    outcome = run(parsed)
    if as_json:
        import orjson

        sys.stdout.buffer.write(orjson.dumps(contract.outcome_json(outcome)) + b"\n")
    else:
        from itb.shell.report import print_timeline

        print_timeline(parsed, outcome, DISCLAIMER)


def default_scenario() -> Path:
    return Path(__file__).parent / "scenarios" / "child-first-year.json"


def main() -> None:
    """Entry point: usage errors and unreadable input become one line and exit status 2."""
    try:
        app(standalone_mode=False)
    except InputError as exc:
        fail(str(exc))
    except typer.Abort:
        fail("aborted")
    except TyperException as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":
            exc.show()  # type: ignore[attr-defined]
            raise SystemExit(2) from None
        fail(exc.format_message())
    except (KeyboardInterrupt, BrokenPipeError):
        sys.stderr.close()
        raise SystemExit(1) from None
