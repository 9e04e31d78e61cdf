"""``itb notify run``: one pass of the outbox — decide what is due, send it, record what became of it.

The channels are those of the environment (``ITB_SMTP_URL``, ``ITB_SMTP_USER``,
``ITB_SMTP_PASSWORD``, ``ITB_NOTIFY_FROM``, ``ITB_NOTIFY_WEBHOOK_URL``,
``ITB_NOTIFY_WEBHOOK_SECRET``) with the settings page's over them. Exit status 0 when every
message due went (or waits for quiet hours or the daily cap), 1 when a message failed (it stays
pending and is tried again at a later pass), 2 for a usage error.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from itb.cli.common import DISCLAIMER, DbOption
from itb.cli.records import json_requested

notify_app = typer.Typer(no_args_is_help=True)


@notify_app.callback()
def notify_options() -> None:
    """Reminders and escalation: the outbox of messages to families and staff (email, webhook)."""


@notify_app.command("run")
def notify_run(
    db: DbOption = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what would be queued and sent; store none.")] = False,
    retry: Annotated[
        bool, typer.Option("--retry", help="Try the messages that failed now (a channel was repaired).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the pass as JSON.")] = False,
) -> None:
    """One pass: queue the messages due now (each once), send what may go, record the outcome."""
    from dataclasses import asdict

    from itb.clinic.services import SYSTEM
    from itb.shell.clinic_setup import open_clinic

    clinic, _engine = open_clinic(db)
    report = clinic.notify_run(SYSTEM, dry_run=dry_run, retry_now=retry)
    if json_requested(as_json):
        import orjson

        sys.stdout.buffer.write(orjson.dumps({**asdict(report), "counts": report.counts()}, default=str) + b"\n")
    else:
        _print(report)
    raise SystemExit(1 if report.failed else 0)


def _print(report: Any) -> None:
    if report.busy:
        print("another pass is running (in another process): nothing done")
        return
    counts = ", ".join(f"{n} {k}" for k, n in report.counts().items())
    dry = " (dry run: nothing stored or sent)" if report.dry_run else ""
    print(f"notify pass at {report.at:%Y-%m-%d %H:%M}{dry}: {counts}")
    verb = "would send" if report.dry_run else "sent"
    for title, rows in (("queued", report.queued), (verb, report.sent), ("failed", report.failed),
                        ("waiting", report.deferred), ("suppressed", report.suppressed)):  # fmt: skip
        for row in rows:
            extra = row.get("error") or row.get("reason") or ""
            print(f"  {title:10} {row['rule']:16} {row['channel']:7} {row['address']}: {row['subject']}"
                  + (f" — {extra}" if extra else ""))  # fmt: skip
    print(DISCLAIMER)
