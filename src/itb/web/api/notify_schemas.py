"""The contacts' and the outbox's request bodies and answers (pydantic), for :mod:`itb.web.api.notify`.

A contact's schema states every rule of :func:`itb.domain.contact_rules.checked_contact` that
needs no stored record, so that a body the schema allows is a contact the clinic keeps: a name
of printable characters, an email address as the clinic reads one, a phone number as people
write it, the channels and languages there are, and each channel chosen with its address (an
email, or for text / push a phone or an email). The name and the relation are components of
their own (:class:`ContactName`, :class:`Relation`): their character class is long.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any, Literal, get_args

from pydantic import AfterValidator, ConfigDict, Field, RootModel

from itb.clinic import outbox_views
from itb.contracts import bounds
from itb.domain.clinic_settings import NAME_MAX_CHARS, PHONE_LENGTH_CHARS
from itb.domain.contact_rules import EMAIL_MAX_CHARS, RELATION_MAX_CHARS
from itb.domain.reminder_texts import TEXTS
from itb.web.api.answers import Answer, LocalTime, dataclass_fields, model, record_fields
from itb.web.api.schemas import RecordId, Strict, Version

LANGUAGES = sorted(TEXTS)
_BMP = 0x10000


def char_class(keep: Callable[[str], bool]) -> str:
    """The characters of the Basic Multilingual Plane that ``keep`` takes, as the inside of a
    pattern's ``[...]`` (each written ``\\uXXXX``, the same in ECMA-262 and in Python)."""
    ranges: list[tuple[int, int]] = []
    for code in range(_BMP):
        if not keep(chr(code)):
            continue
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1] = (ranges[-1][0], code)
        else:
            ranges.append((code, code))
    return "".join(f"\\u{a:04x}" if a == b else f"\\u{a:04x}-\\u{b:04x}" for a, b in ranges)


_PRINTABLE = char_class(str.isprintable)
_PRINTABLE_NOT_SPACE = char_class(lambda c: c.isprintable() and c != " ")
#: a contact's name: printable characters (``str.isprintable``: no control, format or separator but
#: the space), one at least that is not a space
NAME_PATTERN = rf"^ *[{_PRINTABLE_NOT_SPACE}][{_PRINTABLE}]*$"
RELATION_PATTERN = rf"^[{_PRINTABLE}]*$"
#: what an email address may not hold: "@" (but its one), spaces, control characters (and lone
#: surrogates, refused by the check: a pattern naming them is not a regular expression in every engine)
_NOT_IN_ADDRESS = rf"@{bounds.SPACES}\u0000-\u001f\u007f-\u009f"
_SURROGATE = re.compile("[\ud800-\udfff]")
#: ``itb.domain.contact_rules``' address: one "@", a domain with a dot, no spaces (and no control character)
EMAIL_PATTERN = rf"^[^{_NOT_IN_ADDRESS}]+@[^{_NOT_IN_ADDRESS}]+\.[^.{_NOT_IN_ADDRESS}]+$"
#: a phone number as people write it: digits, spaces and + - ( ) . , with 3 digits at least, no space
#: at either end (``itb.domain.clinic_settings.check_phone``: 3-30 characters)
_NOT_DIGIT = r"[ +\-().,]"
PHONE_PATTERN = rf"^[+\-().,]*[0-9]{_NOT_DIGIT}*[0-9]{_NOT_DIGIT}*[0-9](?:[0-9 +\-().,]*[0-9+\-().,])?$"
_NAME_RULE = f"must be 1-{NAME_MAX_CHARS} printable characters (not only spaces)"
_RELATION_RULE = f"must be at most {RELATION_MAX_CHARS} printable characters"
_EMAIL_RULE = f"must be an email address (name@example.org), at most {EMAIL_MAX_CHARS} characters"
_PHONE_RULE = "must be a phone number: digits, spaces and + - ( ) . , with 3 digits at least, no space at either end"


def _matching(pattern: str, rule: str) -> AfterValidator:
    """The schema's own pattern, checked as Python reads it (the document and the check agree)."""
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.fullmatch(value) or _SURROGATE.search(value):
            raise ValueError(rule)
        return value

    return AfterValidator(check)


def _language(value: str) -> str:
    if value not in TEXTS:
        raise ValueError(f"must be one of {', '.join(LANGUAGES)}")
    return value


class ContactName(RootModel[str]):
    """A contact's name: 1-200 printable characters of the Basic Multilingual Plane, not only spaces."""

    model_config = ConfigDict(strict=True)
    root: Annotated[
        str,
        Field(min_length=1, max_length=NAME_MAX_CHARS, json_schema_extra={"pattern": NAME_PATTERN}),
        _matching(NAME_PATTERN, _NAME_RULE),
    ]


class Relation(RootModel[str]):
    """How the contact is related to the child, in a word or two ("mother", "school nurse"):
    at most 32 printable characters ("": none)."""

    model_config = ConfigDict(strict=True)
    root: Annotated[
        str,
        Field(max_length=RELATION_MAX_CHARS, json_schema_extra={"pattern": RELATION_PATTERN}),
        _matching(RELATION_PATTERN, _RELATION_RULE),
    ]


Email = Annotated[
    str,
    Field(max_length=EMAIL_MAX_CHARS, json_schema_extra={"pattern": EMAIL_PATTERN}),
    _matching(EMAIL_PATTERN, _EMAIL_RULE),
]
Phone = Annotated[
    str,
    Field(min_length=PHONE_LENGTH_CHARS[0], max_length=PHONE_LENGTH_CHARS[1],
          json_schema_extra={"pattern": PHONE_PATTERN}),
    _matching(PHONE_PATTERN, _PHONE_RULE),
]  # fmt: skip
Language = Annotated[str, Field(json_schema_extra={"enum": LANGUAGES}), AfterValidator(_language)]
Channels = Annotated[
    list[Literal["email", "webhook"]],
    Field(max_length=2, description="email: to the address; webhook: text message or push, to the phone (or address)"),
]
#: each channel chosen with its address: an email reaches every channel; without one, text / push
#: needs the phone; no channel needs nothing (``itb.domain.contact_rules``)
_REACHABLE: list[Any] = [
    {"required": ["email"], "properties": {"email": {"type": "string"}}},
    {"required": ["phone"], "properties": {"phone": {"type": "string"}, "channels": {"items": {"const": "webhook"}}}},
    {"properties": {"channels": {"maxItems": 0}}},
]


class ContactIn(Strict):
    """A caregiver's contact of one child: who, how to reach them, in which language, and whether
    at all (``opted_out``: no message). Each channel needs its address: ``email`` an email;
    ``webhook`` (text message or push through the clinic's gateway) a phone or an email."""

    model_config = ConfigDict(json_schema_extra={"anyOf": _REACHABLE})

    name: ContactName
    relation: Relation | None = None
    email: Email | None = None
    phone: Phone | None = None
    channels: Channels
    language: Language = "en"
    opted_out: bool = False

    def fields(self) -> dict[str, Any]:
        """The use case's keyword arguments."""
        values = self.model_dump()
        values["channels"] = tuple(values["channels"])
        return values


class StaffContactIn(ContactIn):
    """A member of the staff the clinic's messages reach: ``on_call`` gets the alerts (a missed
    refill, an alarm with no refill booked, an emergency report, ...), ``digest`` the morning digest
    of the worklist; ``user_id``: their login, if any."""

    on_call: bool = False
    digest: bool = False
    user_id: RecordId | None = None


class ContactUpdate(ContactIn):
    """Every field of the contact (a family's contact is never ``on_call`` nor ``digest``: 422),
    and the ``version`` read (409 when it changed since)."""

    on_call: bool = False
    digest: bool = False
    version: Version

    def fields(self) -> dict[str, Any]:
        values = super().fields()
        values["expected_version"] = values.pop("version")
        return values


class VersionIn(Strict):
    version: Version


ContactOut = model(
    "Contact",
    "A contact as stored: a family's (``patient_id``) or the staff's (null); ``removed_at`` set: off the list.",
    record_fields(outbox_views.Contact),
)
OutboxRowOut = model(
    "OutboxRow", "One message of the outbox: to whom, about whom, and what became of it.",
    dataclass_fields(outbox_views.OutboxRow),
)  # fmt: skip


class OutboxPageOut(Answer):
    """Messages the newest first; ``counts``: every status's messages in the outbox; ``next_before_id``:
    the ``before_id`` of the next page (null: no more)."""

    rows: list[OutboxRowOut]  # type: ignore[valid-type]
    counts: dict[str, int]
    status: str | None
    next_before_id: int | None


class NotifyMessageOut(Answer):
    """A message one pass queued, sent, failed to send, deferred or suppressed (``error``, ``retry_at``:
    why it failed and when it is tried again; ``until``, ``reason``: why it waits)."""

    rule: str
    event: str
    contact_id: int
    channel: str
    address: str
    subject: str
    id: int | None = None
    error: str | None = None
    retry_at: str | None = None
    until: str | None = None
    reason: str | None = None


class NotifyReportOut(Answer):
    """What one pass of the outbox did (``dry_run``: would do; nothing is stored). ``busy``: another
    pass was running, this one did nothing."""

    at: LocalTime
    dry_run: bool
    busy: bool
    queued: list[NotifyMessageOut]
    sent: list[NotifyMessageOut] = Field(
        description="sent; in a dry run, those that would be sent now (new, and waiting)"
    )
    failed: list[NotifyMessageOut]
    deferred: list[NotifyMessageOut]
    suppressed: list[NotifyMessageOut]
    counts: dict[str, int]


#: a status of the outbox (``itb.clinic.outbox_views.OUTBOX_STATUSES``), or ``problems``: the messages
#: that could not be sent (failed, or pending after a failed attempt)
OutboxStatus = Literal["pending", "sending", "sent", "failed", "suppressed", "problems"]
if set(get_args(OutboxStatus)) != {*outbox_views.OUTBOX_STATUSES, outbox_views.PROBLEMS}:
    raise RuntimeError("OutboxStatus must name the outbox's statuses (itb.clinic.outbox_views)")

__all__ = [
    "EMAIL_PATTERN",
    "LANGUAGES",
    "NAME_PATTERN",
    "PHONE_PATTERN",
    "RELATION_PATTERN",
    "ContactIn",
    "ContactName",
    "ContactOut",
    "ContactUpdate",
    "NotifyMessageOut",
    "NotifyReportOut",
    "OutboxPageOut",
    "OutboxRowOut",
    "OutboxStatus",
    "Relation",
    "StaffContactIn",
    "VersionIn",
    "char_class",
]
