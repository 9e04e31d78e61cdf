"""The pages' numbers in a path, a query or a form, within ``itb.contracts.bounds``: a record's id
from 1 to ``MAX_ID``, a version from 0; outside (or not a number), a 422 page naming the field."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

from fastapi import Form, Path, Query

from itb.contracts.bounds import MAX_ID, MIN_ID, check_event, check_id
from itb.domain.errors import InvalidInput, Violation

#: a record's id in a page's path
PageId = Annotated[int, Path(ge=MIN_ID, le=MAX_ID)]
#: a record's id in a form
FormId = Annotated[int, Form(ge=MIN_ID, le=MAX_ID)]
#: the version of the record a form was made from (0: none read)
FormVersion = Annotated[int, Form(ge=0, le=MAX_ID)]
#: a record's id in a query (0: none)
QueryId = Annotated[int, Query(ge=0, le=MAX_ID)]


def form_id(value: object, field: str) -> int:
    """A record's id as a hand-made form sends it (text), else :class:`InvalidInput` naming ``field``."""
    text = str(value or "").strip()
    if not text.isascii() or not text.isdigit() or len(text) > len(str(MAX_ID)):
        raise InvalidInput([Violation(field, f"must be a whole number from {MIN_ID} to {MAX_ID}")])
    check_id(field, int(text))
    return int(text)


def week_start(week: str | None, today: date) -> date:
    """The first day of the week a calendar page shows: ``week`` (YYYY-MM-DD, within the bookings'
    window of ``itb.contracts.bounds``), else this week's Monday."""
    if not week:
        return today - timedelta(days=today.weekday())
    try:
        start = date.fromisoformat(week)
    except ValueError:
        raise InvalidInput([Violation("week", "must be a date YYYY-MM-DD")]) from None
    check_event("week", start, today)
    return start


__all__ = ["FormId", "FormVersion", "PageId", "QueryId", "form_id", "week_start"]
