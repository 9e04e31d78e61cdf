"""The last check before a statement reaches the database: no value it cannot store.

Every edge (the API's models, the pages' forms, the import, the command line) checks its input
against ``itb.contracts.bounds``; this guard is the backstop behind them all, on every statement
of the engine: a text with NUL or another control character (line breaks and tabs are text) or a
lone surrogate, a text written longer than its column, or a whole number outside the INTEGER
columns' 32 bits is refused as :class:`InvalidInput` naming the column (a 422), where PostgreSQL would
fail the statement (a 500) and SQLite would store what no page can show.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from sqlalchemy import Engine, Integer, String, event

from itb.contracts.bounds import MAX_ID, text_violation
from itb.domain.errors import InvalidInput, Violation

#: a bind parameter's name, its column's: ``username_1`` and ``name__0`` (a batch's rows) are ``username``, ``name``
_SUFFIX = re.compile(r"_{1,2}\d+$")
_MIN_INTEGER = -MAX_ID - 1


def install_value_guard(engine: Engine) -> None:
    """Check every statement's parameters on ``engine`` before they are sent."""
    event.listen(engine, "before_cursor_execute", _refuse_unstorable)


def _refuse_unstorable(
    _conn: Any, _cursor: Any, _statement: str, parameters: Any, context: Any, executemany: bool
) -> None:
    compiled = getattr(context, "compiled", None)
    binds = getattr(compiled, "binds", None) or {}
    names = list(getattr(compiled, "positiontup", None) or ())
    # a value written must fit its column; one compared with a column (a search) need not
    writes = bool(getattr(context, "isinsert", False) or getattr(context, "isupdate", False))
    problems: dict[str, Violation] = {}
    for row in parameters if executemany else (parameters,):
        # a batch of rows in one statement (SQLite's positional insert of many) is named by its
        # first row's order; its columns' lengths are then not known for sure, and not checked
        exact = isinstance(row, Mapping) or (isinstance(row, Sequence) and len(row) == len(names))
        for name, value in _named(row, names):
            problem = _problem(name, value, binds.get(name), writes and exact)
            if problem is not None:
                problems.setdefault(problem.field, problem)
    if problems:
        raise InvalidInput(problems.values())


def _named(row: Any, names: list[str]) -> Iterator[tuple[str, Any]]:
    """A row's parameters with their bind names (a positional row is named by its statement's order)."""
    if isinstance(row, Mapping):
        yield from row.items()
    elif isinstance(row, Sequence) and not isinstance(row, str):
        for i, value in enumerate(row):
            yield (names[i % len(names)] if names else str(i)), value


def _problem(name: str, value: Any, bind: Any, sized: bool) -> Violation | None:
    """The rule ``value`` breaks; ``sized``: it is written to the bind's column, whose length it must fit."""
    field = _SUFFIX.sub("", str(name))
    if type(value) is str:
        kind = getattr(bind, "type", None)
        length = kind.length if sized and isinstance(kind, String) and kind.length else len(value)
        return text_violation(field, value, max_length=length, multiline=True)
    outside = type(value) is int and not _MIN_INTEGER <= value <= MAX_ID
    if outside and (bind is None or isinstance(bind.type, Integer)):
        return Violation(field, f"must be a whole number from {_MIN_INTEGER} to {MAX_ID}")
    return None


__all__ = ["install_value_guard"]
