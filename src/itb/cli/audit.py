"""``itb audit verify``: the audit chain verified from its last signed checkpoint, or whole.

Exit status 0 when the chain is intact, 1 when something is found (each finding on a line,
naming its entry or checkpoint), 2 for a usage error.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from itb.cli.common import DbOption
from itb.cli.records import json_requested

audit_app = typer.Typer(no_args_is_help=True)


@audit_app.callback()
def audit_options() -> None:
    """The audit log: chained under the audit key, verified from signed checkpoints (a group of
    one command today, so that ``itb audit verify`` stays ``itb audit verify``)."""


@audit_app.command("verify")
def audit_verify(
    db: DbOption = None,
    full: Annotated[bool, typer.Option("--full", help="Every entry and checkpoint, not only what is new.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the verification as JSON.")] = False,
) -> None:
    """Verify the audit chain; an intact one gets a new signed checkpoint where it ends."""
    from dataclasses import asdict

    from itb.clinic import views
    from itb.clinic.services import SYSTEM
    from itb.shell.clinic_setup import open_clinic

    clinic, _engine = open_clinic(db)
    result = views.audit_verification(clinic, SYSTEM, full)
    if json_requested(as_json):
        import orjson

        sys.stdout.buffer.write(orjson.dumps({**asdict(result), "intact": result.intact}) + b"\n")
    else:
        _print(result)
    raise SystemExit(0 if result.intact else 1)


def _print(v: Any) -> None:
    how = "whole" if v.full else f"from entry {v.from_entry_id}" if v.from_entry_id else "from its first entry"
    state = "intact" if v.intact else "NOT intact"
    print(f"audit log {state}: {v.entries} entries; checked {v.checked} ({how}) up to entry {v.last_entry_id}")
    if v.sealed_at_entry_id is None:
        print("not sealed yet: no entry was written or verified with the audit key")
    else:
        print(f"sealed at entry {v.sealed_at_entry_id} on {v.sealed_at:%Y-%m-%d %H:%M} (entries up to it have no key)")
    if v.checkpoint_id is not None:
        print(f"signed checkpoint {v.checkpoint_id} at entry {v.last_entry_id}")
    for line in v.messages():
        print(line)
