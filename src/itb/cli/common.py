"""What every ``itb`` command shares: the disclaimer, the one-line error, the database option."""

from __future__ import annotations

from typing import Annotated

import typer

from itb.cli.messages import DISCLAIMER, fail

DbOption = Annotated[
    str | None, typer.Option("--db", help="SQLite file (default: $ITB_DATABASE_URL, else the data directory).")
]


__all__ = ["DISCLAIMER", "DbOption", "fail"]
