"""The ``itb`` command tree (Typer). Each command reads its input, calls the layers below, writes output.

Errors in the user's input end with exit status 2 and one line on stderr naming the field
and the rule; never a traceback. The entry point is :func:`itb.cli.main`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from typer.exceptions import TyperException

from itb.cli.audit import audit_app
from itb.cli.common import DISCLAIMER, DbOption, fail
from itb.cli.lazy import lazy_command
from itb.cli.notify import notify_app
from itb.cli.records import (
    clinic_app,
    export_command,
    import_command,
    json_before,
    json_requested,
    session_command,
)
from itb.cli.simulate_run import default_scenario
from itb.cli.users import users_app
from itb.shell.files import InputError, read_json

app = typer.Typer(
    name="itb",
    help=f"Open software for intrathecal baclofen pump therapy. {DISCLAIMER}",
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    no_args_is_help=True,
)


@app.callback()
def itb_options(
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON, for the commands that do (also accepted after the command).")
    ] = False,
) -> None:
    json_before.given = as_json  # `itb --json worklist` is `itb worklist --json` (see json_requested)


@app.command()
def forecast(
    case: Annotated[str | None, typer.Argument(help="Case JSON file; '-' reads standard input.")] = None,
    batch: Annotated[str | None, typer.Option("--batch", help="JSON Lines file of cases ('-': stdin).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the contract's JSON object.")] = False,
) -> None:
    """When does the reservoir reach the low-reservoir alarm, and empty? (shared/spec/forecast.md)"""
    from itb.cli.forecast_run import run_forecast

    run_forecast(case, batch, json_requested(as_json))


@app.command()
def simulate(
    scenario: Annotated[
        str | None, typer.Argument(help="Scenario JSON file; '-' reads standard input. Default: the demo.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the contract's JSON object.")] = False,
    plot: Annotated[
        str | None,
        typer.Option(
            "--plot",
            help="Also draw the run into FILE.svg or FILE.png: the reservoir as the pump counts it and as it "
            "really is, the alarm line, dose steps, refills, MRI scans and alarms.",
        ),
    ] = None,
) -> None:
    """Run one implanted pump through months or years on a virtual clock (shared/spec/simulate.md).

    Without SCENARIO, runs the bundled example: a child's first year with the pump. The timeline
    is printed in words, every number with its unit (--json: the contract's object instead).
    """
    from itb.cli.simulate_run import run_simulate

    run_simulate(scenario, json_requested(as_json), plot)


# ----------------------------------------------------------------------------- the pump
pump_app = typer.Typer(help="A virtual implanted pump that answers telemetry.", no_args_is_help=True)
app.add_typer(pump_app, name="pump")


@pump_app.command("serve")
def pump_serve(
    state: Annotated[str, typer.Option("--state", help="The pump's state file (created if missing).")],
    port: Annotated[int, typer.Option("--port", help="TCP port on the host (0: any free port).")] = 7070,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    clock_speed: Annotated[
        float, typer.Option("--clock-speed", help="Pump seconds per real second (86400: a day a second).")
    ] = 1.0,
    faults: Annotated[
        str, typer.Option("--faults", help="Faults on the link, e.g. 'drop=0.05,corrupt=0.02,seed=1'.")
    ] = "",
    init: Annotated[
        str | None, typer.Option("--init", help="Scenario JSON whose start makes a new pump. Default: the demo.")
    ] = None,
) -> None:
    """Run a virtual pump (state survives restarts; Ctrl-C stops it and saves)."""
    from itb.domain.errors import InvalidInput
    from itb.pump.firmware import TherapyInfo
    from itb.shell.pump_server import open_pump, serve
    from itb.telemetry.faults import FaultSpec

    if not clock_speed > 0:
        fail("--clock-speed: must be > 0")
    if not 0 <= port < 65536:
        fail("--port: must be from 0 to 65535")
    try:
        spec = FaultSpec.parse(faults)
    except ValueError as exc:
        fail(str(exc))
    init_obj = read_json(init) if init else read_json(str(default_scenario().with_name("demo-pump.json")))
    if type(init_obj) is not dict:
        fail("--init: must be a scenario JSON object")
    therapy = TherapyInfo(patient_id="demo-child", origin="cerebral", age_years=7.0) if init is None else TherapyInfo()
    try:
        store, firmware, created = open_pump(Path(state), init_obj, therapy)  # type: ignore[arg-type]
    except InvalidInput as exc:
        fail(exc.one_line())

    def ready(bound: int) -> None:
        what = "new pump" if created else "pump restored"
        print(
            f"{what} ({firmware.pump.setup.model.name}, {firmware.pump.setup.reservoir_capacity_ml:g} mL) "
            f"listening on {host}:{bound}; pump clock {firmware.now():%Y-%m-%d %H:%M:%S} x{clock_speed:g}; "
            f"faults: {spec if spec.active else 'none'}. {DISCLAIMER}",
            flush=True,
        )

    try:
        serve(store, firmware, host=host, port=port, clock_speed=clock_speed, faults=spec, ready=ready)
    except OSError as exc:
        fail(f"--port: cannot listen on {host}:{port} ({exc.strerror or exc})")


# ----------------------------------------------------------------------------- the programmer
programmer_app = typer.Typer(help="The clinician programmer: talk to a pump over telemetry.", no_args_is_help=True)
app.add_typer(programmer_app, name="programmer")


class _Visit:
    """Options shared by every programmer command."""

    address: object = None
    record_path: Path | None = None
    as_json: bool = False


_visit = _Visit()
CONFIRM_HELP = "Acknowledge a soft limit by its code (repeat for several)."
#: ``--json`` on a programmer command: ``itb programmer --json interrogate`` and ``itb programmer interrogate --json``
#: mean the same.
JsonAfter = Annotated[bool, typer.Option("--json", help="Print JSON for scripts (also accepted before the command).")]


def _json_after(as_json: bool) -> None:
    """``--json`` given after the command counts as much as before it (or before ``programmer``)."""
    _visit.as_json = json_requested(as_json or _visit.as_json)


@programmer_app.callback()
def programmer_options(
    pump: Annotated[str, typer.Option("--pump", help="The pump's HOST:PORT (see `itb pump serve`).")],
    record: Annotated[
        str | None,
        typer.Option("--record", help="The programmer's record file (default: $ITB_HOME or ~/.local/share/itb)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    from itb.shell.programmer_session import UsageError, default_record_path, parse_address

    try:
        _visit.address = parse_address(pump)
    except UsageError as exc:
        fail(str(exc))
    _visit.record_path = Path(record) if record else default_record_path()
    _visit.as_json = as_json


def _run_visit(work) -> None:  # type: ignore[no-untyped-def]
    """Open the record, reconcile what an earlier visit left uncertain, do ``work``, save."""
    from rich.console import Console

    from itb.programmer.workflows import NotAllowed, reconcile_record
    from itb.shell.programmer_session import (
        EXIT_REFUSED,
        EXIT_UNREACHABLE,
        UsageError,
        link_to,
        load_record,
        save_record,
    )
    from itb.telemetry.session import LinkDown, RemoteError, UncertainOutcome

    console = Console(stderr=_visit.as_json)
    try:
        record = load_record(_visit.record_path)  # type: ignore[arg-type]
    except UsageError as exc:
        fail(str(exc))
    link = link_to(_visit.address)  # type: ignore[arg-type]
    code = 0
    try:
        reconcile_record(link, record)
        code = work(link, record, console) or 0
    except NotAllowed as exc:
        sys.stderr.write(f"itb: not sent: {exc}\n")
        code = EXIT_REFUSED
    except (LinkDown, ConnectionError, OSError) as exc:
        sys.stderr.write(f"itb: cannot reach the pump: {exc}\n")
        code = EXIT_UNREACHABLE
    except UncertainOutcome as exc:
        sys.stderr.write(f"itb: the pump stopped answering: {exc}\n")
        code = EXIT_UNREACHABLE
    except RemoteError as exc:
        sys.stderr.write(f"itb: the pump refused: {exc}\n")
        code = EXIT_REFUSED
    except UsageError as exc:
        sys.stderr.write(f"itb: error: {exc}\n")
        code = EXIT_REFUSED
    finally:
        link.close()
        save_record(_visit.record_path, record)  # type: ignore[arg-type]
    if code:
        raise SystemExit(code)


def _emit(obj: object) -> None:
    import orjson

    sys.stdout.buffer.write(orjson.dumps(obj, default=str) + b"\n")


def _go_ahead(console, assessment, confirm: list[str], yes: bool) -> None:  # type: ignore[no-untyped-def]
    """Stop before sending unless allowed, acknowledged and confirmed (``--yes`` or a prompt)."""
    from itb.programmer.workflows import require_allowed

    require_allowed(assessment, confirm)
    if yes:
        return
    if not sys.stdin.isatty():
        from itb.shell.programmer_session import UsageError

        raise UsageError("reviewed, not sent: add --yes to send without a prompt")
    if not typer.confirm("Send to the pump?", default=False):
        raise typer.Abort()


@programmer_app.command("interrogate")
def programmer_interrogate(as_json: JsonAfter = False) -> None:
    """Read the pump: status, program, reservoir, alarm and ERI dates, alarms."""
    _json_after(as_json)
    from itb.programmer.workflows import interrogate
    from itb.shell.programmer_report import print_view

    def work(link, record, console):  # type: ignore[no-untyped-def]
        view = interrogate(link)
        if _visit.as_json:
            _emit(
                {
                    **view.status,
                    "program": view.block.text.decode(),
                    "low_reservoir_alarm_at": view.forecast.low_reservoir_alarm_at,
                    "empty_at": view.forecast.empty_at,
                }
            )
        else:
            print_view(console, view)

    _run_visit(work)


@programmer_app.command("log")
def programmer_log(
    since: Annotated[int, typer.Option("--since", help="Only events after this sequence number.")] = 0,
    as_json: JsonAfter = False,
) -> None:
    """Read the pump's event log."""
    _json_after(as_json)
    from itb.shell.programmer_report import print_log

    if since < 0:
        fail("--since: must be >= 0")

    def work(link, record, console):  # type: ignore[no-untyped-def]
        events = link.read_log(since)
        if _visit.as_json:
            _emit(events)
        else:
            print_log(console, events)

    _run_visit(work)


@programmer_app.command("program")
def programmer_program(
    rate: Annotated[str | None, typer.Option("--rate", help="Simple continuous dose, e.g. '0.3 mg/day'.")] = None,
    file: Annotated[str | None, typer.Option("--file", help="A program JSON (as in `itb forecast`).")] = None,
    confirm: Annotated[list[str] | None, typer.Option("--confirm", help=CONFIRM_HELP)] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Send without asking.")] = False,
    as_json: JsonAfter = False,
) -> None:
    """Change the program: review old against new, confirm, send as one block, verify."""
    _json_after(as_json)
    from itb.contracts.forecast import parse_program
    from itb.domain.errors import InvalidInput, Violation
    from itb.domain.program import DosingProgram
    from itb.domain.units import Dimension, parse_quantity
    from itb.programmer.workflows import interrogate, review_program, send_program
    from itb.shell.programmer_report import print_program_outcome, print_program_review
    from itb.shell.programmer_session import exit_status

    if (rate is None) == (file is None):
        fail("give either --rate or --file")
    acks = confirm or []
    entered = None
    try:
        if rate is not None:
            entered = parse_quantity(rate, Dimension.RATE, "--rate")
            new = DosingProgram.simple_continuous(entered.value)
        else:
            errs: list[Violation] = []
            new = parse_program(read_json(file), "program", errs)  # type: ignore[arg-type]
            if errs:
                raise InvalidInput(errs)
    except InvalidInput as exc:
        fail(exc.one_line())

    def work(link, record, console):  # type: ignore[no-untyped-def]
        view = interrogate(link)
        review = review_program(view, new, entered_rate=entered)
        print_program_review(console, review, acks)
        _go_ahead(console, review.assessment, acks, yes)
        outcome = send_program(link, review, record, acks)
        if _visit.as_json:
            _emit({**outcome.entry.json(), "version": outcome.version, "verified": outcome.verified})
        else:
            print_program_outcome(console, outcome)
        return exit_status([outcome.entry])

    _run_visit(work)


@programmer_app.command("refill")
def programmer_refill(
    withdrawn: Annotated[str, typer.Option("--withdrawn", help="Volume withdrawn and measured, e.g. '3.1 mL'.")],
    added: Annotated[str, typer.Option("--added", help="Volume put in, e.g. '20 mL'.")],
    concentration: Annotated[str, typer.Option("--concentration", help="Of the new drug, e.g. '1000 mcg/mL'.")],
    product: Annotated[
        str | None,
        typer.Option("--product", help="The drug product, e.g. 'Gablofen' (its own strengths are judged)."),
    ] = None,
    confirm: Annotated[list[str] | None, typer.Option("--confirm", help=CONFIRM_HELP)] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Send without asking.")] = False,
    as_json: JsonAfter = False,
) -> None:
    """Refill: discrepancy check, no overfill, bridge bolus (or a weaker drug's temporary program),
    new alarm date and its earliest plausible one, next refill date."""
    _json_after(as_json)
    from itb.domain.errors import InvalidInput
    from itb.domain.limits import DRUG_PRODUCTS, product_named
    from itb.domain.units import Dimension, parse_quantities
    from itb.programmer.workflows import interrogate, plan_refill, send_refill
    from itb.shell.programmer_report import print_refill_outcome, print_refill_plan
    from itb.shell.programmer_session import exit_status

    acks = confirm or []
    try:
        values = parse_quantities(
            {
                "--withdrawn": (withdrawn, Dimension.VOLUME),
                "--added": (added, Dimension.VOLUME),
                "--concentration": (concentration, Dimension.CONCENTRATION),
            }
        )
    except InvalidInput as exc:
        fail(exc.one_line())
    chosen = None if product is None else product_named(product)
    if product is not None and chosen is None:
        fail(f"--product: must be one of {', '.join(p.name for p in DRUG_PRODUCTS)}, got {product!r}")

    def work(link, record, console):  # type: ignore[no-untyped-def]
        view = interrogate(link)
        plan = plan_refill(
            view,
            withdrawn_ml=values["--withdrawn"],
            added_ml=values["--added"],
            concentration_mcg_per_ml=values["--concentration"],
            product=chosen,
        )
        if not _visit.as_json:
            print_refill_plan(console, plan, acks)
        _go_ahead(console, plan.assessment, acks, yes)
        outcome = send_refill(link, plan, record, acks)
        entries = [outcome.refill] + ([outcome.bridge] if outcome.bridge else [])
        if _visit.as_json:
            _emit(
                {
                    "refill": outcome.refill.json(),
                    "bridge": outcome.bridge.json() if outcome.bridge else None,
                    "low_reservoir_alarm_at": plan.low_reservoir_alarm_at,
                    "next_refill_at": plan.next_refill_at,
                }
            )
        else:
            print_refill_outcome(console, outcome)
        return exit_status(entries)

    _run_visit(work)


@programmer_app.command("bolus")
def programmer_bolus(
    dose: Annotated[str | None, typer.Option("--dose", help="e.g. '25 mcg' (a single bolus).")] = None,
    duration: Annotated[str, typer.Option("--duration", help="e.g. '30 min'.")] = "30 min",
    priming_catheter_cm: Annotated[
        float | None, typer.Option("--priming", help="Prime a new catheter of this length (cm) instead.")
    ] = None,
    new_catheter: Annotated[
        bool,
        typer.Option(
            "--new-catheter",
            help="With --priming: the catheter is new or revised (empty). Without it the catheter is taken "
            "as full of drug and the priming is judged as a bolus into the patient.",
        ),
    ] = False,
    confirm: Annotated[list[str] | None, typer.Option("--confirm", help=CONFIRM_HELP)] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Send without asking.")] = False,
    as_json: JsonAfter = False,
) -> None:
    """A single bolus (lockout, daily maximum) or a priming bolus (catheter length -> volume, only the
    catheter's volume; a catheter already primed is judged by every bolus limit)."""
    _json_after(as_json)
    from itb.domain.errors import InvalidInput
    from itb.domain.units import Dimension, parse_quantity
    from itb.programmer.workflows import interrogate, review_bolus, review_priming, send_bolus
    from itb.shell.programmer_report import print_bolus_review, print_entry
    from itb.shell.programmer_session import exit_status

    if (dose is None) == (priming_catheter_cm is None):
        fail("give either --dose or --priming")
    acks = confirm or []
    try:
        minutes = parse_quantity(duration, Dimension.DURATION, "--duration").value
        amount = parse_quantity(dose, Dimension.DOSE, "--dose") if dose is not None else None
    except InvalidInput as exc:
        fail(exc.one_line())
    if priming_catheter_cm is not None and not 0 < priming_catheter_cm <= 200:
        fail("--priming: the catheter length must be > 0 and <= 200 cm")

    def work(link, record, console):  # type: ignore[no-untyped-def]
        view = interrogate(link)
        review = (
            review_bolus(view, amount.value, minutes)
            if amount is not None
            else review_priming(view, priming_catheter_cm, minutes, primed=not new_catheter)  # type: ignore[arg-type]
        )
        if not _visit.as_json:
            print_bolus_review(console, review, acks)
        _go_ahead(console, review.assessment, acks, yes)
        entry = send_bolus(link, review, record, acks)
        if _visit.as_json:
            _emit(entry.json())
        else:
            print_entry(console, entry)
        return exit_status([entry])

    _run_visit(work)


# ----------------------------------------------------------------------------- the clinic
@app.command()
def serve(
    db: DbOption = None,
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port")] = 8000,
    demo: Annotated[bool, typer.Option("--demo", help="Fill an empty database with a synthetic clinic.")] = False,
) -> None:
    """Run the clinic's web service (REST API; OpenAPI at /openapi.json)."""
    from itb.shell.clinic_server import https_from_env, serve_app, serve_while_building

    https = https_from_env()
    schedules: list = []  # reminders and escalation (ITB_NOTIFY_INTERVAL), started once the pages answer
    try:
        if not demo:
            web_app = _clinic_app(db, https, None, schedules)
            print(f"ITB clinic on http://{host}:{port} (API docs at /docs). {DISCLAIMER}", flush=True)
            schedules[0].start()
            serve_app(web_app, host, port)
        else:  # listen at once: the pages say the demo is being prepared until it is
            print(f"ITB clinic on http://{host}:{port} (API docs at /docs). {DISCLAIMER}", flush=True)
            print("Preparing the demo clinic: the pages answer once it is ready.", flush=True)
            serve_while_building(lambda put_in: _build_demo(db, https, put_in, schedules), host, port, https)
    finally:
        for schedule in schedules:
            schedule.stop()


def _clinic_app(db, https: bool, ready, schedules: list):  # type: ignore[no-untyped-def]
    """The clinic's web app on ``db`` (its reminders' schedule appended to ``schedules``, not started);
    without ``ready``, what a stopped server left pending is settled first."""
    import gc

    from itb.shell.clinic_setup import open_clinic
    from itb.shell.notify_schedule import NotifySchedule, interval_from_env
    from itb.web.app import create_app, secret_key

    interval = interval_from_env()
    clinic, _engine = open_clinic(db)
    schedules.append(NotifySchedule(clinic, interval))
    if ready is None:
        _settle(clinic)
    web_app = create_app(clinic, secret_key(clinic.config.data_dir), https=https, ready=ready)
    gc.freeze()  # start-up objects never become garbage: the collector skips them (worklist p95 -40 %)
    return web_app


def _build_demo(db, https: bool, put_in, schedules: list) -> None:  # type: ignore[no-untyped-def]
    """``serve --demo`` behind the answering server: build the app and put it in (the pages say
    the demo is being prepared), fill, settle, open the pages, start reminders."""
    import threading

    ready = threading.Event()
    web_app = _clinic_app(db, https, ready, schedules)
    put_in(web_app)
    clinic = web_app.state.clinic
    _fill_demo(clinic)
    _settle(clinic)
    ready.set()
    schedules[0].start()


def _settle(clinic) -> None:  # type: ignore[no-untyped-def]
    """What a stopped server left pending, settled from the pumps' logs."""
    settled = clinic.reconcile_all()
    if settled:
        print(f"Settled the pending changes of {settled} pump(s) from their logs.", flush=True)


@app.command()
def demo(db: DbOption = None) -> None:
    """Fill an empty database with a synthetic clinic (~40 patients) and print the demo logins."""
    from itb.shell.clinic_setup import open_clinic

    clinic, _engine = open_clinic(db)
    _fill_demo(clinic)


def _fill_demo(clinic) -> None:  # type: ignore[no-untyped-def]
    from itb.simulation.demo_clinic import DemoNotEmpty, fill_demo_clinic

    try:
        logins = fill_demo_clinic(clinic)
    except DemoNotEmpty as exc:
        print(f"demo: {exc}")
        return
    print("Demo clinic ready. Logins (user / password / role):")
    for user, password, role in logins:
        print(f"  {user} / {password} / {role}")
    sys.stdout.flush()


app.add_typer(users_app, name="users")


app.command("import")(import_command)
app.command("export")(export_command)
app.command("session")(session_command)
app.add_typer(clinic_app, name="clinic")
app.add_typer(audit_app, name="audit")
app.add_typer(notify_app, name="notify")


@app.command("worklist")
def worklist_command(
    db: DbOption = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Who must be seen before their pump runs low, and why (most urgent first)."""
    from datetime import datetime

    from itb.clinic.worklist import worklist
    from itb.shell.clinic_setup import open_clinic

    clinic, _engine = open_clinic(db)
    with clinic.sessions() as s:
        items = worklist(s, datetime.now(), clinic.config.booking, flow=clinic.config.flow)
    if json_requested(as_json):
        import orjson

        sys.stdout.buffer.write(orjson.dumps([_item(i) for i in items], default=str) + b"\n")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Worklist {datetime.now():%Y-%m-%d} ({len(items)} patients). {DISCLAIMER}")
    for name in ("urgency", "patient", "days to empty", "why"):
        table.add_column(name)
    for i in items:
        days = "" if i.days_until_empty is None else f"{i.days_until_empty:.1f}"
        table.add_row(str(i.urgency), i.patient_name, days, "; ".join(i.details))
    Console().print(table)


def _item(i) -> dict:  # type: ignore[no-untyped-def]
    return {f: getattr(i, f) for f in i.__slots__}


def run() -> None:
    """The command line through Typer: usage errors and unreadable input become one line and exit status 2."""
    from itb.shell.clinic_server import SetupError

    try:
        lazy_command(app)(standalone_mode=False)  # builds only the command the line runs
    except (InputError, SetupError) as exc:
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
