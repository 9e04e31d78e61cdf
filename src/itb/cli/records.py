"""The record's own commands: import an existing clinic, export it, record a vendor pump's session.

Each reads its input, calls the clinic, and writes a line per result; an error in the input is
one line on stderr naming the field (row and column for a file) and exit status 2.
"""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from itb.cli.common import DbOption, fail


class _JsonBefore:
    """``itb --json COMMAND``: set by the ``itb`` callback at every run, read by :func:`json_requested`."""

    given = False


json_before = _JsonBefore()


def json_requested(as_json: bool) -> bool:
    """``--json`` after the command (``itb import FILE --json``) or before it (``itb --json import FILE``)."""
    return as_json or json_before.given


def import_command(
    file: Annotated[Path, typer.Argument(help="The clinic's CSV (shared/spec/clinic-import.md), or 'fhir'.")],
    fhir_file: Annotated[
        Path | None, typer.Argument(help="After 'fhir': the hospital's FHIR JSON (a Bundle or one Patient).")
    ] = None,
    db: DbOption = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Judge every row; store nothing.")] = False,
    origin: Annotated[
        str | None, typer.Option("--origin", help="fhir: spinal or cerebral, for Patients without ITB's extension.")
    ] = None,
    system: Annotated[
        str | None, typer.Option("--system", help="fhir: the identifier system of the clinic's record numbers.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Import an existing clinic: its vendor-programmed pumps as they stood after their last session.

    All rows or none: every error on stderr as 'row N, column C: ...' (exit 2), nothing stored.
    'itb import fhir FILE': register the hospital's Patients not yet in the record (matched by
    their record number), all or none.
    """
    if str(file) == "fhir":
        from itb.cli.fhir import import_fhir

        if fhir_file is None:
            fail("itb import fhir FILE: give the FHIR JSON file")
        import_fhir(fhir_file, db, dry_run, origin, system, json_requested(as_json))
        return
    if fhir_file is not None:
        fail(f"{fhir_file}: one CSV file only ('itb import fhir FILE' for FHIR)")
    from itb.clinic.services import SYSTEM, ImportInvalid
    from itb.domain.errors import InvalidInput
    from itb.shell.clinic_setup import open_clinic

    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"{file}: cannot read it as UTF-8 text ({exc.__class__.__name__})")
    clinic, _engine = open_clinic(db)
    try:
        report = clinic.import_clinic(SYSTEM, text, dry_run=dry_run)
    except ImportInvalid as exc:
        for error in exc.errors:
            print(error, file=sys.stderr)
        raise SystemExit(2) from None
    except InvalidInput as exc:
        fail(exc.one_line())
    if json_requested(as_json):
        import orjson

        sys.stdout.buffer.write(orjson.dumps(report.json()) + b"\n")
        return
    what = "valid (dry run, nothing stored)" if dry_run else "imported"
    created = ", ".join(f"{n} {k}" for k, n in report.created.items())
    print(f"{len(report.rows)} rows {what}: {created}; unchanged {report.unchanged}")
    for row in report.rows:
        warned = f"; warning: {'; '.join(row['warnings'])}" if row["warnings"] else ""
        print(
            f"row {row['row']}: {row['patient_ref']} {row['pump_serial']} {row['status']}, alarm "
            f"{row['low_reservoir_alarm_at'] or 'never'}, refill booked {row['next_refill_on'] or '-'}{warned}"
        )


def export_command(
    file: Annotated[str, typer.Argument(help="Where to write the CSV ('-': standard output), or 'fhir'.")],
    fhir_file: Annotated[str | None, typer.Argument(help="After 'fhir': where to write the FHIR Bundle ('-').")] = None,
    patient: Annotated[int | None, typer.Option("--patient", help="fhir: this patient only (their id).")] = None,
    base: Annotated[str, typer.Option("--base", help="fhir: the server's FHIR address (each entry's fullUrl).")] = (
        "http://127.0.0.1:8000/fhir"
    ),
    db: DbOption = None,
) -> None:
    """Export every implanted pump's current state in the import's columns (importable again).

    What a row cannot carry (a program's boluses) is named on stderr, never dropped silently.
    'itb export fhir FILE': the whole clinic (or --patient N) as a FHIR R4 Bundle.
    """
    if file == "fhir":
        from itb.cli.fhir import export_fhir

        export_fhir(fhir_file or "-", db, patient, base)
        return
    if fhir_file is not None or patient is not None:
        fail("itb export FILE writes the CSV; 'itb export fhir FILE [--patient N]' writes FHIR")
    from itb.clinic.services import SYSTEM
    from itb.shell.clinic_setup import open_clinic

    clinic, _engine = open_clinic(db)
    report = clinic.export_clinic(SYSTEM)
    if file == "-":
        sys.stdout.write(report.text)
    else:
        try:
            Path(file).write_text(report.text, encoding="utf-8", newline="")
        except OSError as exc:
            fail(f"{file}: cannot write it ({exc.__class__.__name__})")
        print(f"{report.pumps} pumps exported to {file}")
    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)


Quantity = Annotated[str | None, typer.Option(help="A number in the unit shown, or a number with its unit.")]


def session_command(
    pump_id: Annotated[int, typer.Argument(help="The vendor-programmed pump's id.")],
    kind: Annotated[str, typer.Argument(help="refill, program, interrogation, bolus or mri_check.")],
    at: Annotated[str, typer.Option("--at", help="When, YYYY-MM-DDTHH:MM (default: now).")] = "",
    reservoir: Annotated[str | None, typer.Option("--reservoir", help="Reservoir as set on the device (mL).")] = None,
    withdrawn: Annotated[str | None, typer.Option("--withdrawn", help="Refill: withdrawn, measured (mL).")] = None,
    vendor_expected: Annotated[
        str | None, typer.Option("--vendor-expected", help="Refill: the vendor programmer's expected residual (mL).")
    ] = None,
    added: Annotated[str | None, typer.Option("--added", help="Refill: added (mL).")] = None,
    concentration: Annotated[str | None, typer.Option("--concentration", help="Refill: mcg/mL.")] = None,
    product: Annotated[str | None, typer.Option("--product", help="Refill: the drug product.")] = None,
    lot: Annotated[str | None, typer.Option("--lot", help="Refill: the drug lot.")] = None,
    program: Annotated[
        str | None, typer.Option("--program", help="As set: '600' (mcg/day) or '00:00=600;08:00=700'.")
    ] = None,
    bolus: Annotated[str | None, typer.Option("--bolus", help="Bolus: its dose (mcg).")] = None,
    alarm_volume: Annotated[str | None, typer.Option("--alarm-volume", help="Low-reservoir alarm (mL).")] = None,
    vendor_alarm: Annotated[
        str | None, typer.Option("--vendor-alarm", help="The alarm date the vendor printed, YYYY-MM-DD[THH:MM].")
    ] = None,
    eri: Annotated[
        str | None, typer.Option("--eri", help="The ERI date the vendor's programmer shows, YYYY-MM-DD[THH:MM].")
    ] = None,
    ack: Annotated[list[str] | None, typer.Option("--ack", help="A soft limit's code, confirmed (repeatable).")] = None,
    review: Annotated[
        bool, typer.Option("--review", help="Review only: judge and forecast, store nothing (before programming).")
    ] = False,
    db: DbOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the answer as JSON.")] = False,
) -> None:
    """Record what the vendor's programmer did to a vendor-programmed pump.

    First --review (nothing stored), program the device, then the same command without --review
    ("programmed as reviewed"), or with the values actually set. Never refused for a limit: each
    broken limit is a warning on the worklist until a clinician reviews it.
    """
    from itb.clinic.services import SYSTEM, Conflict, NotFound
    from itb.domain.errors import InvalidInput
    from itb.shell.clinic_setup import open_clinic

    clinic, _engine = open_clinic(db)
    try:
        fields = _session_fields(
            reservoir_ml=reservoir, withdrawn_ml=withdrawn, vendor_expected_ml=vendor_expected, added_ml=added,
            concentration_mcg_per_ml=concentration, dose_mcg=bolus, low_reservoir_alarm_ml=alarm_volume,
            program=program, vendor_alarm_at=vendor_alarm, eri_at=eri,
        )  # fmt: skip
        when = _instant("at", at) if at else datetime.now().replace(microsecond=0)
        with clinic.sessions() as s:
            version = clinic.pump(s, SYSTEM, pump_id).version
        outcome = clinic.record_session(
            SYSTEM, pump_id, kind=kind, at=when, expected_version=version, dry_run=review,
            product=product, lot=lot, acknowledged=tuple(ack or ()), **fields,
        )  # fmt: skip
    except InvalidInput as exc:
        fail(exc.one_line())
    except (Conflict, NotFound) as exc:
        fail(str(exc))
    _print_session(outcome, json_requested(as_json))


def _instant(field: str, raw: str) -> datetime:
    from itb.domain.errors import InvalidInput, Violation

    try:
        at = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidInput([Violation(field, f"{raw!r} is not a time YYYY-MM-DDTHH:MM")]) from None
    return at if len(raw) > 10 else at.replace(hour=0, minute=0)


def _session_fields(**raw: str | None) -> dict[str, Any]:
    """The typed entries in their canonical units (a bare number in the unit the option names)."""
    from itb.contracts.clinic_import import parse_program_cell
    from itb.domain.errors import InvalidInput, Violation
    from itb.domain.units import Dimension, parse_quantity

    dimensions = {"dose_mcg": Dimension.DOSE, "concentration_mcg_per_ml": Dimension.CONCENTRATION}
    out: dict[str, Any] = {}
    errors: list[Violation] = []
    for name, value in raw.items():
        if value is None:
            continue
        try:
            if name == "program":
                out[name] = parse_program_cell(value)
            elif name in ("vendor_alarm_at", "eri_at"):
                out[name] = _instant(name, value)
            else:
                out[name] = parse_quantity(value, dimensions.get(name, Dimension.VOLUME), name).value
        except InvalidInput as exc:
            errors += exc.violations
        except ValueError:
            errors.append(Violation(name, f"{value!r} is not a daily dose in mcg/day or steps HH:MM=RATE;..."))
    if errors:
        raise InvalidInput(errors)
    return out


def _print_session(outcome: Any, as_json: bool) -> None:
    pump, session = outcome.pump, outcome.session
    booked = None if outcome.booked is None else outcome.booked.at.date().isoformat()
    if as_json:
        import orjson

        from itb.clinic.usecases.base import row_json

        answer = {
            "dry_run": outcome.dry_run, "session": row_json(session) | ({"id": None} if outcome.dry_run else {}),
            "findings": [{"code": f.code, "severity": f.severity.value, "message": f.message}
                         for f in outcome.assessment.findings],
            "low_reservoir_alarm_at": pump.low_reservoir_alarm_at, "empty_at": pump.empty_at, "booked_refill": booked,
        }  # fmt: skip
        sys.stdout.buffer.write(orjson.dumps(answer, default=str) + b"\n")
        return
    what = "reviewed (nothing stored): program the device, then record it" if outcome.dry_run else "recorded"
    print(f"{session.kind} session of pump {pump.id} at {session.at:%Y-%m-%d %H:%M} {what}")
    expected = session.data.get("itb_expected_ml")
    if expected is not None:
        vendor = session.data.get("vendor_expected_ml")
        print(f"ITB's expected residual {expected:.2f} mL" + (f" (the vendor's: {vendor:g} mL)" if vendor else ""))
    acknowledged = set(session.data.get("acknowledged", ()))
    for f in outcome.assessment.findings:
        if f.severity.value == "refuse":
            print(f"hard limit broken, a warning for a clinician's review: {f.code}: {f.message}")
        elif f.code in acknowledged:
            print(f"soft limit, acknowledged: {f.code}: {f.message}")
        else:
            print(f"soft limit, a warning for review (--ack {f.code} confirms it): {f.code}: {f.message}")
    codes = {f.code for f in outcome.assessment.findings}
    for warning in session.warnings:
        if warning.split(":", 1)[0] not in codes:
            print(f"warning for review: {warning}")
    alarm = pump.low_reservoir_alarm_at
    print(f"low-reservoir alarm {alarm:%Y-%m-%d %H:%M}" if alarm else "low-reservoir alarm: never", end="")
    print(f"; refill booked {booked}" if booked else "")


# ---------------------------------------------------------------------------------- the clinic's settings
clinic_app = typer.Typer(help="The clinic itself: its settings.", no_args_is_help=True)
settings_app = typer.Typer(
    help="The clinic's settings: name, phone numbers, clinic days, margins, where messages go out."
)
clinic_app.add_typer(settings_app, name="settings")

#: the word that gives a setting back to its startup default (the environment's)
DEFAULT_WORD = "default"


@settings_app.callback(invoke_without_command=True)
def settings_show(
    ctx: typer.Context,
    db: DbOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print them as JSON (as GET /api/clinic/settings).")] = False,
) -> None:
    """Show the settings in effect ("startup default": not stored, the environment's)."""
    if ctx.invoked_subcommand is not None:
        return
    from itb.clinic.services import SYSTEM
    from itb.shell.clinic_setup import open_clinic

    clinic, _engine = open_clinic(db)
    _print_settings(clinic.clinic_settings(SYSTEM), json_requested(as_json))


Text = Annotated[str | None, typer.Option(help="The new value ('' : none).")]
Setting = Annotated[str | None, typer.Option(help=f"The new value ('{DEFAULT_WORD}': the startup default).")]
SmtpUrl = Annotated[
    str | None,
    typer.Option(help="smtps://host[:port] (or smtp://, smtp+starttls://), no password ('' : $ITB_SMTP_URL)."),
]
SmtpUser = Annotated[str | None, typer.Option(help="The SMTP login ('' : $ITB_SMTP_USER).")]
NotifyFrom = Annotated[str | None, typer.Option(help="'Name <a@b.org>' or a@b.org ('' : $ITB_NOTIFY_FROM).")]
WebhookUrl = Annotated[
    str | None, typer.Option(help="An http(s) URL, no user or password ('' : $ITB_NOTIFY_WEBHOOK_URL).")
]


@settings_app.command("set")
def settings_set(
    name: Text = None,
    day_phone: Text = None,
    after_hours_phone: Text = None,
    clinic_days: Setting = None,
    closed_days: Annotated[
        str | None, typer.Option(help=f"YYYY-MM-DD,... ('' : none; '{DEFAULT_WORD}': the startup default).")
    ] = None,
    refill_margin_days: Setting = None,
    stale_margin_days: Setting = None,
    smtp_url: SmtpUrl = None,
    smtp_user: SmtpUser = None,
    notify_from: NotifyFrom = None,
    webhook_url: WebhookUrl = None,
    db: DbOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the new settings as JSON.")] = False,
) -> None:
    """Change the settings given (the others stay as they are), audited as the system's admin.

    E.g. --day-phone '+1 555 0100' --clinic-days mon,tue,thu --closed-days 2026-12-24,2026-12-25,
    --smtp-url smtp+starttls://mail.example.org:587 (the password stays in ITB_SMTP_PASSWORD).
    """
    from itb.clinic.services import SYSTEM, Conflict
    from itb.domain.errors import InvalidInput
    from itb.shell.clinic_setup import open_clinic

    clinic, _engine = open_clinic(db)
    view = clinic.clinic_settings(SYSTEM)
    given = {
        "name": name, "day_phone": day_phone, "after_hours_phone": after_hours_phone, "clinic_days": clinic_days,
        "closed_days": closed_days, "refill_margin_days": refill_margin_days, "stale_margin_days": stale_margin_days,
        "smtp_url": smtp_url, "smtp_user": smtp_user, "notify_from": notify_from, "webhook_url": webhook_url,
    }  # fmt: skip
    try:
        fields = {**_stored_fields(view), **_settings_options(given)}
        view = clinic.update_clinic_settings(SYSTEM, **fields, expected_version=view.version)
    except (InvalidInput, Conflict) as exc:
        fail(exc.one_line() if isinstance(exc, InvalidInput) else str(exc))
    _print_settings(view, json_requested(as_json))


def _stored_fields(view: Any) -> dict[str, Any]:
    """The use case's arguments that keep every stored setting as it is."""
    from itb.domain.clinic_settings import TEXT_SETTINGS, weekday_names

    stored = view.stored
    days, closed = stored.clinic_days, stored.closed_days
    return {
        **{field: getattr(stored, field) for field in TEXT_SETTINGS},
        "clinic_days": None if days is None else weekday_names(days),
        "closed_days": None if closed is None else [d.isoformat() for d in sorted(closed)],
        "refill_margin_days": stored.refill_margin_days, "stale_margin_days": stored.stale_margin_days,
    }  # fmt: skip


def _settings_options(given: dict[str, str | None]) -> dict[str, Any]:
    """The options given, as the use case's arguments (``InvalidInput`` naming each bad one)."""
    from itb.domain.clinic_settings import TEXT_SETTINGS
    from itb.domain.errors import InvalidInput, Violation

    out: dict[str, Any] = {}
    errors: list[Violation] = []
    for field, raw in given.items():
        if raw is None:
            continue
        text = raw.strip()
        if field in TEXT_SETTINGS:
            out[field] = text or None
        elif text.lower() == DEFAULT_WORD:
            out[field] = None
        elif field in ("clinic_days", "closed_days"):
            out[field] = [part.strip() for part in text.split(",") if part.strip()]
        elif text.isdigit():
            out[field] = int(text)
        else:
            errors.append(Violation(field, f"must be a whole number of days or '{DEFAULT_WORD}', got {raw!r}"))
    if errors:
        raise InvalidInput(errors)
    return out


def _print_outbound(view: Any) -> None:
    """Where messages go out, as stored ("-": the environment's), and whether this environment has the secrets."""
    from itb.domain.clinic_settings import MESSAGE_ENVIRONMENT
    from itb.web.api.settings import SECRETS, secrets_shown

    for field, variable in MESSAGE_ENVIRONMENT.items():
        value = getattr(view, field)
        print(f"{field.replace('_', ' ')}: {value or '-'}" + ("" if value else f" (the environment's {variable})"))
    for name, state in secrets_shown().items():
        print(f"{name.replace('_', ' ')}: {state} ({SECRETS[name]} here)")


def _print_settings(view: Any, as_json: bool) -> None:
    if as_json:
        import orjson

        from itb.web.api.settings import settings_json

        sys.stdout.buffer.write(orjson.dumps(settings_json(view)) + b"\n")
        return
    note = {field: " (startup default)" for field in view.defaults}
    stored = view.stored
    print(f"name: {stored.name or '-'}")
    print(f"day phone: {stored.day_phone or '-'}")
    print(f"after-hours phone: {stored.after_hours_phone or '-'}")
    print(f"clinic days: {','.join(view.clinic_days)}{note.get('clinic_days', '')}")
    closed = ",".join(d.isoformat() for d in view.closed_days) or "none"
    print(f"closed days: {closed}{note.get('closed_days', '')}")
    print(f"refill margin: {view.refill_margin_days:g} days{note.get('refill_margin_days', '')}")
    print(f"stale margin: {view.stale_margin_days:g} days{note.get('stale_margin_days', '')}")
    _print_outbound(view)
    changed = f", changed by {view.updated_by} at {view.updated_at:%Y-%m-%d %H:%M}" if view.updated_by else ""
    print(f"version: {view.version}{changed}")


__all__ = ["clinic_app", "export_command", "import_command", "json_before", "json_requested", "session_command"]
