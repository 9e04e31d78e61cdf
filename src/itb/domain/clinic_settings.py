"""The clinic's settings an admin changes while it runs: its name and phone numbers, its days, its
margins, and where its messages go out (the SMTP server, the sender's address, the webhook).

A setting left unset (``None``) means "the startup default holds": the environment
(``ITB_CLINIC_DAYS``, ``ITB_CLOSED_DAYS``, ``ITB_SMTP_URL``, ``ITB_SMTP_USER``, ``ITB_NOTIFY_FROM``,
``ITB_NOTIFY_WEBHOOK_URL``) or the built-in default of ``ClinicCalendar`` and ``BookingSettings``.
The SMTP password and the webhook's secret are never settings: they stay in the server's
environment (:data:`SMTP_PASSWORD_VARIABLE`, :data:`WEBHOOK_SECRET_VARIABLE`).

:func:`checked_settings` turns what a person typed into settings, or raises ``InvalidInput``
naming each field and the rule it broke. Every bound is a named setting below, with its reason;
``docs/parameters.md`` lists them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from email.utils import parseaddr
from urllib.parse import SplitResult, urlsplit

from itb.domain.errors import InvalidInput, Violation
from itb.domain.scheduling import BookingSettings, ClinicCalendar

#: the weekdays as the settings write them, Monday (0) first
WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

#: the clinic's name, as it heads the family page (the column's width)
NAME_MAX_CHARS = 200
#: a phone number as people write it: "+1 555 0100", "(555) 010-0199", "555.0100, 23" (a pause)
PHONE_CHARACTERS = frozenset("0123456789 +-().,")
#: the shortest (an internal extension) and longest (an international number with spaces and an
#: extension) number the clinic writes, in characters
PHONE_LENGTH_CHARS = (3, 30)
#: a number has at least this many digits (a short internal extension); fewer is a typo
PHONE_MIN_DIGITS = 3
#: the refill margin, in whole days: at least 1 so the refill comes before the earliest plausible
#: alarm; at most 30, since beyond a month before the alarm the refill interval shrinks for no
#: safety gain (domain.md: one children's hospital tells families 7-10 days; the default is 7)
REFILL_MARGIN_RANGE_DAYS = (1, 30)
#: the stale margin, in whole days: at least 1; at most 90, half the 180-day drug-stability
#: interval, so a session missing from the record is noticed within half an interval (default 14)
STALE_MARGIN_RANGE_DAYS = (1, 90)
#: the most closed days kept (a year of them): more is a mistake, not a calendar
CLOSED_DAYS_MAX = 366

#: the SMTP server's URL (the column's width): ``smtp://`` (plain SMTP), ``smtp+starttls://``
#: (upgraded with STARTTLS) or ``smtps://`` (TLS from the first byte), as ``itb.adapters.notify.smtp``
#: speaks them, then the server and an optional port
SMTP_URL_MAX_CHARS = 300
SMTP_SCHEMES = ("smtp", "smtp+starttls", "smtps")
#: the SMTP login (the column's width; a login is often an address, RFC 5321's path limit)
SMTP_USER_MAX_CHARS = 254
#: the sender's address, "Name <a@b.org>" or "a@b.org" (the column's width, RFC 5321's path limit)
NOTIFY_FROM_MAX_CHARS = 254
#: the webhook (the clinic's SMS or push gateway): an http or https URL (the column's width)
WEBHOOK_URL_MAX_CHARS = 300
WEBHOOK_SCHEMES = ("http", "https")
#: where the secrets stay: in the server's environment, never in the database (a stored copy
#: would be in every backup and export of it)
SMTP_PASSWORD_VARIABLE = "ITB_SMTP_PASSWORD"
WEBHOOK_SECRET_VARIABLE = "ITB_NOTIFY_WEBHOOK_SECRET"
#: one "@", a domain with a dot, no spaces: a typo is caught, a real address is never refused
#: (a contact's address too, ``itb.domain.contact_rules``)
EMAIL_PATTERN = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")

_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True, slots=True)
class ClinicContacts:
    """How a family reaches the clinic (None: not set, nothing is shown)."""

    name: str | None = None
    day_phone: str | None = None
    after_hours_phone: str | None = None


@dataclass(frozen=True, slots=True)
class ClinicSettings:
    """The stored settings; each None means "the startup default holds"."""

    name: str | None = None
    day_phone: str | None = None
    after_hours_phone: str | None = None
    #: open weekdays, Monday = 0 ... Sunday = 6
    clinic_days: frozenset[int] | None = None
    closed_days: frozenset[date] | None = None
    refill_margin_days: int | None = None
    stale_margin_days: int | None = None
    #: where messages go out; None: the environment's ``ITB_SMTP_URL`` and the like hold
    smtp_url: str | None = None
    smtp_user: str | None = None
    notify_from: str | None = None
    webhook_url: str | None = None

    @property
    def contacts(self) -> ClinicContacts:
        return ClinicContacts(self.name, self.day_phone, self.after_hours_phone)

    def calendar(self, startup: ClinicCalendar) -> ClinicCalendar:
        """``startup`` with the days that are set here."""
        weekdays = startup.weekdays if self.clinic_days is None else self.clinic_days
        closures = startup.closures if self.closed_days is None else self.closed_days
        return ClinicCalendar(weekdays=weekdays, closures=closures)

    def booking(self, startup: BookingSettings) -> BookingSettings:
        """``startup`` with the margins that are set here."""
        refill = startup.refill_margin_days if self.refill_margin_days is None else self.refill_margin_days
        stale = startup.stale_margin_days if self.stale_margin_days is None else self.stale_margin_days
        return replace(startup, refill_margin_days=refill, stale_margin_days=stale)

    def defaults(self) -> tuple[str, ...]:
        """The fields left to the startup default."""
        names = ("clinic_days", "closed_days", "refill_margin_days", "stale_margin_days")
        return tuple(n for n in names if getattr(self, n) is None)


#: the settings kept as typed, stripped: how families reach the clinic (blank: none shown), and
#: where messages go out (blank: the environment's value holds)
CONTACT_SETTINGS = ("name", "day_phone", "after_hours_phone")
#: each message setting and the environment's variable that holds while it is unset
MESSAGE_ENVIRONMENT = {
    "smtp_url": "ITB_SMTP_URL",
    "smtp_user": "ITB_SMTP_USER",
    "notify_from": "ITB_NOTIFY_FROM",
    "webhook_url": "ITB_NOTIFY_WEBHOOK_URL",
}
MESSAGE_SETTINGS = tuple(MESSAGE_ENVIRONMENT)
TEXT_SETTINGS = CONTACT_SETTINGS + MESSAGE_SETTINGS


def weekday_names(days: Iterable[int]) -> list[str]:
    """``[0, 2]`` → ``["mon", "wed"]``."""
    return [WEEKDAY_NAMES[d] for d in sorted(set(days))]


def weekdays_of(names: Iterable[str]) -> frozenset[int]:
    """Stored weekday names (``mon`` ... ``sun``) as weekday numbers (names already checked)."""
    return frozenset(WEEKDAY_NAMES.index(n) for n in names)


def check_name(field: str, text: str | None) -> tuple[str | None, list[Violation]]:
    """The clinic's name, stripped ("" : not set)."""
    text = (text or "").strip()
    if not text:
        return None, []
    if len(text) > NAME_MAX_CHARS:
        return None, [Violation(field, f"must be at most {NAME_MAX_CHARS} characters")]
    if not text.isprintable():
        return None, [Violation(field, "must not contain control characters")]
    return text, []


def check_phone(field: str, text: str | None) -> tuple[str | None, list[Violation]]:
    """A phone number as people write it, stripped ("" : not set)."""
    text = (text or "").strip()
    if not text:
        return None, []
    low, high = PHONE_LENGTH_CHARS
    problems = []
    if not low <= len(text) <= high:
        problems.append(Violation(field, f"must be {low}-{high} characters long"))
    if not set(text) <= PHONE_CHARACTERS:
        problems.append(Violation(field, "may hold only digits, spaces and + - ( ) . ,"))
    if sum(ch.isdigit() for ch in text) < PHONE_MIN_DIGITS:
        problems.append(Violation(field, f"must have at least {PHONE_MIN_DIGITS} digits"))
    return (None, problems) if problems else (text, [])


def check_clinic_days(field: str, names: Sequence[str] | None) -> tuple[frozenset[int] | None, list[Violation]]:
    """Weekday names (``mon`` or ``monday``, any case); None: the startup default."""
    if names is None:
        return None, []
    days, problems = set(), []
    for given in (n.strip() for n in names):
        lowered = given.lower()
        if lowered in WEEKDAY_NAMES or lowered in _FULL_NAMES:
            days.add(WEEKDAY_NAMES.index(lowered[:3]))
        else:
            problems.append(Violation(field, f"{given!r} is not a weekday (mon, tue, wed, thu, fri, sat, sun)"))
    if not days and not problems:
        problems.append(Violation(field, "must have at least one weekday"))
    return (None, problems) if problems else (frozenset(days), [])


def check_closed_days(field: str, texts: Sequence[str] | None) -> tuple[frozenset[date] | None, list[Violation]]:
    """Dates written ``YYYY-MM-DD`` (blanks skipped); None: the startup default."""
    if texts is None:
        return None, []
    days, problems = set(), []
    for text in filter(None, (t.strip() for t in texts)):
        try:
            if not _ISO_DAY.fullmatch(text):
                raise ValueError(text)
            days.add(date.fromisoformat(text))
        except ValueError:
            problems.append(Violation(field, f"{text!r} is not a date YYYY-MM-DD"))
    if len(days) > CLOSED_DAYS_MAX:
        problems.append(Violation(field, f"must be at most {CLOSED_DAYS_MAX} days"))
    return (None, problems) if problems else (frozenset(days), [])


def check_days(field: str, value: int | None, bounds: tuple[int, int]) -> tuple[int | None, list[Violation]]:
    """A whole number of days within ``bounds``; None: the startup default."""
    if value is None:
        return None, []
    low, high = bounds
    if type(value) is not int or not low <= value <= high:
        return None, [Violation(field, f"must be a whole number of days from {low} to {high}, got {value!r}")]
    return value, []


def check_smtp_url(field: str, text: str | None) -> tuple[str | None, list[Violation]]:
    """The SMTP server, ``smtp://host:port`` and the like, stripped ("" : the environment's); a user
    may be in it, never a password."""
    text = (text or "").strip()
    if not text:
        return None, []
    example = "smtp+starttls://mail.example.org:587"
    parts, problems = _parsed_url(field, text, SMTP_URL_MAX_CHARS, SMTP_SCHEMES, example)
    if parts is None:
        return None, problems
    if parts.password is not None:
        problems.append(Violation(field, f"keep the password in {SMTP_PASSWORD_VARIABLE}, not in the stored settings"))
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        problems.append(Violation(field, f"must be only a server and port, as in {example} (no path or query)"))
    return (None, problems) if problems else (text, [])


def check_webhook_url(field: str, text: str | None) -> tuple[str | None, list[Violation]]:
    """The webhook's http or https URL, stripped ("" : the environment's), with no user or password."""
    text = (text or "").strip()
    if not text:
        return None, []
    example = "https://gateway.example.org/itb"
    parts, problems = _parsed_url(field, text, WEBHOOK_URL_MAX_CHARS, WEBHOOK_SCHEMES, example)
    if parts is not None and (parts.username is not None or parts.password is not None):
        problems.append(Violation(field, f"must not hold a user or password: the secret is {WEBHOOK_SECRET_VARIABLE}"))
    return (None, problems) if problems else (text, [])


def _parsed_url(
    field: str, text: str, max_chars: int, schemes: Sequence[str], example: str
) -> tuple[SplitResult | None, list[Violation]]:
    """``text`` split (None with the problems when it is not a URL of ``schemes`` with a server)."""
    if len(text) > max_chars:
        return None, [Violation(field, f"must be at most {max_chars} characters")]
    if not text.isprintable() or any(ch.isspace() for ch in text):
        return None, [Violation(field, "must not contain spaces or control characters")]
    try:
        parts: SplitResult | None = urlsplit(text)
    except ValueError:  # an unclosed [ of an IPv6 address, say
        parts = None
    if parts is None or parts.scheme not in schemes or not parts.hostname:
        starts = [f"{scheme}://" for scheme in schemes]
        starts_with = f"{', '.join(starts[:-1])} or {starts[-1]}"
        return None, [Violation(field, f"must be a URL starting {starts_with} with a server, as in {example}")]
    if not _has_valid_port(parts):
        return None, [Violation(field, "the port must be a number from 1 to 65535")]
    return parts, []


def _has_valid_port(parts: SplitResult) -> bool:
    """No port (the scheme's own), or one from 1 to 65535."""
    try:
        return parts.port != 0
    except ValueError:  # not a number, or beyond 65535
        return False


def check_smtp_user(field: str, text: str | None) -> tuple[str | None, list[Violation]]:
    """The SMTP login, stripped ("" : the environment's)."""
    text = (text or "").strip()
    if not text:
        return None, []
    if len(text) > SMTP_USER_MAX_CHARS or not text.isprintable():
        return None, [Violation(field, f"must be at most {SMTP_USER_MAX_CHARS} printable characters")]
    return text, []


def check_notify_from(field: str, text: str | None) -> tuple[str | None, list[Violation]]:
    """The sender, "Name <a@b.org>" or "a@b.org", stripped ("" : the environment's)."""
    text = (text or "").strip()
    if not text:
        return None, []
    address = parseaddr(text)[1]
    one_address = text == address or text.endswith(f"<{address}>")  # not a list, nothing after it
    if len(text) <= NOTIFY_FROM_MAX_CHARS and text.isprintable() and one_address and EMAIL_PATTERN.fullmatch(address):
        return text, []
    forms = "name@example.org or Clinic name <name@example.org>"
    return None, [Violation(field, f"must be an email address ({forms}), at most {NOTIFY_FROM_MAX_CHARS} characters")]


def checked_settings(
    *,
    name: str | None = None,
    day_phone: str | None = None,
    after_hours_phone: str | None = None,
    clinic_days: Sequence[str] | None = None,
    closed_days: Sequence[str] | None = None,
    refill_margin_days: int | None = None,
    stale_margin_days: int | None = None,
    smtp_url: str | None = None,
    smtp_user: str | None = None,
    notify_from: str | None = None,
    webhook_url: str | None = None,
) -> ClinicSettings:
    """The settings as typed, checked: every broken rule is raised at once (``InvalidInput``)."""
    checks = {
        "name": check_name("name", name),
        "day_phone": check_phone("day_phone", day_phone),
        "after_hours_phone": check_phone("after_hours_phone", after_hours_phone),
        "clinic_days": check_clinic_days("clinic_days", clinic_days),
        "closed_days": check_closed_days("closed_days", closed_days),
        "refill_margin_days": check_days("refill_margin_days", refill_margin_days, REFILL_MARGIN_RANGE_DAYS),
        "stale_margin_days": check_days("stale_margin_days", stale_margin_days, STALE_MARGIN_RANGE_DAYS),
        "smtp_url": check_smtp_url("smtp_url", smtp_url),
        "smtp_user": check_smtp_user("smtp_user", smtp_user),
        "notify_from": check_notify_from("notify_from", notify_from),
        "webhook_url": check_webhook_url("webhook_url", webhook_url),
    }
    problems = [v for _, found in checks.values() for v in found]
    if problems:
        raise InvalidInput(problems)
    return ClinicSettings(**{k: value for k, (value, _) in checks.items()})  # type: ignore[arg-type]


__all__ = [
    "CLOSED_DAYS_MAX",
    "CONTACT_SETTINGS",
    "EMAIL_PATTERN",
    "MESSAGE_ENVIRONMENT",
    "MESSAGE_SETTINGS",
    "NAME_MAX_CHARS",
    "NOTIFY_FROM_MAX_CHARS",
    "PHONE_CHARACTERS",
    "PHONE_LENGTH_CHARS",
    "PHONE_MIN_DIGITS",
    "REFILL_MARGIN_RANGE_DAYS",
    "SMTP_PASSWORD_VARIABLE",
    "SMTP_SCHEMES",
    "SMTP_URL_MAX_CHARS",
    "SMTP_USER_MAX_CHARS",
    "STALE_MARGIN_RANGE_DAYS",
    "TEXT_SETTINGS",
    "WEBHOOK_SCHEMES",
    "WEBHOOK_SECRET_VARIABLE",
    "WEBHOOK_URL_MAX_CHARS",
    "WEEKDAY_NAMES",
    "ClinicContacts",
    "ClinicSettings",
    "check_clinic_days",
    "check_closed_days",
    "check_days",
    "check_name",
    "check_notify_from",
    "check_phone",
    "check_smtp_url",
    "check_smtp_user",
    "check_webhook_url",
    "checked_settings",
    "weekday_names",
    "weekdays_of",
]
