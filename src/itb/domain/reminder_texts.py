"""Every message's words, in one place, by language (English now), ready for translation.

A text is a subject and a plain-text body with ``{named}`` fields (``text_for`` fills them). A
family's text speaks to the family (short sentences, what to do, the clinic's numbers); a staff
text speaks to staff and names the patient's record. A translation adds a language key with the
same text names; a language not known falls back to English.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from string import Formatter


@dataclass(frozen=True, slots=True)
class Text:
    subject: str
    body: str


_NOT_A_DEVICE = "ITB clinic software: for education, planning and research, not a certified medical device."

TEXTS: dict[str, dict[str, Text]] = {
    "en": {
        "visit_reminder_ahead": Text(
            "Reminder: {child}'s {kind} visit on {when}",
            "Hello {name},\n\n"
            "{child} has a {kind} visit at {clinic} on {when}.\n"
            "Pump refill visits must never be missed: when the pump runs empty, the medicine stops, "
            "and stopping baclofen suddenly is dangerous.\n"
            "If you cannot come, call {clinic} on {day_phone} today to move the visit.\n"
            "The visit is attached to this message for your calendar.\n",
        ),
        "visit_reminder_day": Text(
            "Today: {child}'s {kind} visit at {when}",
            "Hello {name},\n\n"
            "{child}'s {kind} visit at {clinic} is today, {when}.\n"
            "If you cannot come, call {clinic} on {day_phone} now, so the visit can be moved "
            "before the pump runs low.\n",
        ),
        "missed_refill_family": Text(
            "{child}'s refill visit was missed: call the clinic today",
            "Hello {name},\n\n"
            "{child}'s pump refill visit on {when} has not happened.\n"
            "Call {clinic} today on {day_phone} (after hours: {after_hours_phone}) to book a new visit. "
            "Do not wait: if the pump runs empty, the medicine stops.\n"
            "If {child} has signs of too little medicine (itching, fever, stiffness coming back, confusion), "
            "call the clinic now; if the signs are strong, call emergency services.\n",
        ),
        "visit_reminder_ahead_self": Text(
            "Reminder: your {kind} visit on {when}",
            "Hello {name},\n\n"
            "You have a {kind} visit at {clinic} on {when}.\n"
            "Pump refill visits must never be missed: when the pump runs empty, the medicine stops, "
            "and stopping baclofen suddenly is dangerous.\n"
            "If you cannot come, call {clinic} on {day_phone} today to move the visit.\n"
            "The visit is attached to this message for your calendar.\n",
        ),
        "visit_reminder_day_self": Text(
            "Today: your {kind} visit at {when}",
            "Hello {name},\n\n"
            "Your {kind} visit at {clinic} is today, {when}.\n"
            "If you cannot come, call {clinic} on {day_phone} now, so the visit can be moved "
            "before the pump runs low.\n",
        ),
        "missed_refill_family_self": Text(
            "Your refill visit was missed: call the clinic today",
            "Hello {name},\n\n"
            "Your pump refill visit on {when} has not happened.\n"
            "Call {clinic} today on {day_phone} (after hours: {after_hours_phone}) to book a new visit. "
            "Do not wait: if the pump runs empty, the medicine stops.\n"
            "If you have signs of too little medicine (itching, fever, stiffness coming back, confusion), "
            "call the clinic now; if the signs are strong, call emergency services.\n",
        ),
        "missed_refill_staff": Text(
            "Missed refill: {child} (patient {patient_id})",
            "The refill visit of {child} (patient {patient_id}) on {when} has not happened and no refill is "
            "recorded. Call the family today and rebook before the earliest plausible alarm.\n",
        ),
        "alarm_no_refill": Text(
            "No refill booked before the alarm: {child} (patient {patient_id})",
            "{child} (patient {patient_id}): {detail}\n"
            "Book a refill before the earliest plausible low-reservoir alarm.\n",
        ),
        "emergency_report": Text(
            "EMERGENCY report from the family of {child} (patient {patient_id})",
            "The family of {child} (patient {patient_id}) reported symptoms triaged as an emergency: {detail}\n"
            "The family was told to go to the hospital / call emergency services. Call them now.\n",
        ),
        "eri_reached": Text(
            "Replacement indicator reached: {child} (patient {patient_id})",
            "{child} (patient {patient_id}): {detail}\nThe pump stops about 90 days after ERI: book the replacement.\n",
        ),
        "vendor_stale": Text(
            "No session recorded for too long: {child} (patient {patient_id})",
            "{child} (patient {patient_id}): {detail}\n"
            "Record the pump's latest session from the vendor's programmer.\n",
        ),
        "staff_digest": Text(
            "ITB worklist {day}: {urgent} urgent, {soon} soon",
            "The worklist's urgent and soon items on {day}:\n\n{lines}\n",
        ),
    }
}


def text_for(language: str, name: str, values: Mapping[str, object]) -> Text:
    """The text ``name`` in ``language`` (else English), its fields filled, the disclaimer last."""
    text = TEXTS.get(language, TEXTS["en"]).get(name) or TEXTS["en"][name]
    return Text(text.subject.format_map(values), text.body.format_map(values) + "\n" + _NOT_A_DEVICE + "\n")


def fields_of(name: str) -> set[str]:
    """The named fields a text uses (a translation must use no other)."""
    text = TEXTS["en"][name]
    return {f for part in (text.subject, text.body) for _, f, _, _ in Formatter().parse(part) if f}


__all__ = ["TEXTS", "Text", "fields_of", "text_for"]
