"""A contact as a person types it: who, how to reach them, in which language, and whether at all.

:func:`checked_contact` turns the typed fields into a :class:`ContactFields` or raises
``InvalidInput`` naming each field and the rule it broke. Each channel chosen needs its address
(email: an address; webhook, the clinic's SMS or push gateway: a phone, else the address). The
on-call and digest flags belong to staff contacts only.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from itb.domain.clinic_settings import EMAIL_PATTERN, check_name, check_phone
from itb.domain.errors import InvalidInput, Violation
from itb.domain.reminder_texts import TEXTS
from itb.domain.reminders import Channel

#: an address's longest form (RFC 5321's path limit)
EMAIL_MAX_CHARS = 254
#: no control character (C0, DEL, C1) in an address: PostgreSQL refuses NUL, and none is ever meant
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
#: how a contact is related to the child, in a word or two ("mother", "school nurse")
RELATION_MAX_CHARS = 32


@dataclass(frozen=True, slots=True)
class ContactFields:
    name: str
    relation: str | None = None
    email: str | None = None
    phone: str | None = None
    channels: tuple[Channel, ...] = (Channel.EMAIL,)
    language: str = "en"
    opted_out: bool = False
    on_call: bool = False
    digest: bool = False


def _check_email(text: str | None) -> tuple[str | None, list[Violation]]:
    text = (text or "").strip()
    if not text:
        return None, []
    if len(text) > EMAIL_MAX_CHARS or _CONTROL.search(text) or not EMAIL_PATTERN.fullmatch(text):
        return None, [Violation("email", f"must be an email address (name@example.org), at most {EMAIL_MAX_CHARS}")]
    return text, []


def _check_channels(
    names: Sequence[str], email: str | None, phone: str | None
) -> tuple[tuple[Channel, ...], list[Violation]]:
    known = {c.value for c in Channel}
    bad = [n for n in names if n not in known]
    if bad:
        return (), [Violation("channels", f"must be among {', '.join(sorted(known))}, got {', '.join(bad)}")]
    channels = tuple(dict.fromkeys(Channel(n) for n in names))
    problems = []
    if Channel.EMAIL in channels and email is None:
        problems.append(Violation("email", "is needed to send by email"))
    if Channel.WEBHOOK in channels and phone is None and email is None:
        problems.append(Violation("phone", "is needed to send by text message or push (webhook)"))
    return channels, problems


def checked_contact(
    *, name: str | None, relation: str | None = None, email: str | None = None, phone: str | None = None,
    channels: Sequence[str] = ("email",), language: str = "en", opted_out: bool = False, on_call: bool = False,
    digest: bool = False, staff: bool = False,
) -> ContactFields:  # fmt: skip
    """The contact's fields, checked (``staff``: a staff contact, which alone may be on call or read the digest)."""
    clean_name, problems = check_name("name", name)
    if clean_name is None and not problems:
        problems.append(Violation("name", "is required"))
    clean_relation = (relation or "").strip() or None
    if clean_relation is not None and (len(clean_relation) > RELATION_MAX_CHARS or not clean_relation.isprintable()):
        problems.append(Violation("relation", f"must be at most {RELATION_MAX_CHARS} printable characters"))
    clean_email, bad = _check_email(email)
    clean_phone, bad_phone = check_phone("phone", phone)
    # an address typed wrongly is said once, not again as "needed" by its channel
    chosen, bad_channels = _check_channels(channels, clean_email or (email if bad else None),
                                           clean_phone or (phone if bad_phone else None))  # fmt: skip
    problems += bad + bad_phone + bad_channels
    if language not in TEXTS:
        problems.append(Violation("language", f"must be one of {', '.join(sorted(TEXTS))}"))
    if not staff and (on_call or digest):
        problems.append(Violation("on_call" if on_call else "digest", "is for staff contacts only"))
    if problems:
        raise InvalidInput(problems)
    assert clean_name is not None
    return ContactFields(clean_name, clean_relation, clean_email, clean_phone, chosen, language, opted_out,
                         on_call, digest)  # fmt: skip


__all__ = ["EMAIL_MAX_CHARS", "RELATION_MAX_CHARS", "ContactFields", "checked_contact"]
