"""A dry run: a use case's own transaction, every check and computation made, then undone.

The review before a record is made (a vendor session, an import, a pump's registration) runs the
very code that makes the record, so what it shows is what would be stored: only the end differs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session

from itb.clinic.usecases.base import ClinicBase


class _Undone(Exception):
    """Ends a dry run's transaction: everything was judged, nothing is stored."""


@contextmanager
def transaction_or_dry_run(clinic: ClinicBase, dry_run: bool) -> Iterator[Session]:
    """``clinic.transaction()``; with ``dry_run`` it is rolled back where it would commit, and the
    records made in it are kept (detached) as they stood, ids and all. An error raised inside
    rolls back and is raised in both cases."""
    try:
        with clinic.transaction() as s:
            yield s
            if dry_run:
                s.flush()
                s.expunge_all()  # the records keep their state; the transaction is undone
                raise _Undone
    except _Undone:
        pass


__all__ = ["transaction_or_dry_run"]
