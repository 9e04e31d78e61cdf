"""What every ``itb`` command shares: the disclaimer, the one-line error, the database option."""

from __future__ import annotations

import sys
from typing import Annotated, NoReturn

import typer

DISCLAIMER = "For education, planning and research. Not a certified medical device."

DbOption = Annotated[
    str | None, typer.Option("--db", help="SQLite file (default: $ITB_DATABASE_URL, else the data directory).")
]


def fail(message: str) -> NoReturn:
    """One line on stderr, exit status 2."""
    sys.stderr.write(f"itb: error: {' '.join(message.split())}\n")
    raise SystemExit(2)


__all__ = ["DISCLAIMER", "DbOption", "fail"]
