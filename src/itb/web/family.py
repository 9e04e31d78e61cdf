"""The words families read: alarm sounds, warning signs, answers to common questions, the pump's status.

Plain data, no web code. Written for a parent at home, at about a grade-6 reading level, in this
project's own words. Every statement comes from the hospital's answers to families
(``seeds/000_194dcc6e4385b48e.txt``, marked ``seed``) or from the project's domain notes
(``domain.md``, marked ``domain``); an entry's ``source`` says which. Nothing here gives dosing
advice: the dose is the clinic's job.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from markupsafe import Markup, escape

from itb.domain.alarms import ALARMS, Priority
from itb.domain.catalogue import PumpKind, kind_of
from itb.domain.clinic_settings import ClinicContacts
from itb.domain.constant_flow import FLOW_CONDITIONS

DISCLAIMER = (
    "This website is for learning only. It is not a medical device. "
    "Always follow your own clinic's instructions. "
    "In an emergency, call emergency services."
)

# The sentence every two-tone (critical) alarm and every critical status leads with.
NOT_FLOWING = (
    "The medicine is no longer flowing — this is an emergency: call the clinic now; "
    "if your child has signs of withdrawal, call emergency services."
)

SINGLE_TONE = "single tone, about every hour"
TWO_TONES = "two tones"


# ----------------------------------------------------------------------------- alarm sounds
@dataclass(frozen=True, slots=True)
class AlarmSound:
    name: str  # the alarm kind's name in itb.domain.alarms.ALARMS
    sound: str
    meaning: str
    what_to_do: str
    emergency: bool


_ANY_ALARM = "Some clinics treat every alarm as an emergency: do what your clinic tells you."

ALARM_SOUNDS: list[AlarmSound] = [
    AlarmSound(
        "low_reservoir",
        SINGLE_TONE,
        "The pump is low on medicine. It still gives medicine for now.",
        "Call the clinic today to book a refill. Do not wait for the next visit. "
        "If the medicine runs out, your child can get very sick. " + _ANY_ALARM,
        emergency=False,
    ),
    AlarmSound(
        "elective_replacement_indicator",
        SINGLE_TONE,
        "The pump's battery is near its end. The pump keeps working for about 3 more months, then it stops.",
        "Call the clinic today to plan a new pump. Do not wait for the next visit. " + _ANY_ALARM,
        emergency=False,
    ),
    AlarmSound(
        "empty_reservoir",
        TWO_TONES,
        "The pump has run out of medicine. The medicine is no longer flowing.",
        NOT_FLOWING,
        emergency=True,
    ),
    AlarmSound(
        "end_of_service",
        TWO_TONES,
        "The pump's battery has run out and the pump has stopped for good. The medicine is no longer flowing.",
        NOT_FLOWING,
        emergency=True,
    ),
    AlarmSound(
        "motor_stall",
        TWO_TONES,
        "The pump's motor has stopped. This can happen during or after an MRI. The medicine is no longer flowing.",
        NOT_FLOWING + " Call even if you think the pump may start again by itself.",
        emergency=True,
    ),
    AlarmSound(
        "safety_valve_closed",
        TWO_TONES,
        "The pump's safety valve has shut. The medicine is no longer flowing until the clinic opens it again.",
        NOT_FLOWING,
        emergency=True,
    ),
    # domain: critical alarm, "critical memory error — drug is no longer flowing"
    AlarmSound(
        "critical_memory_error",
        TWO_TONES,
        "The pump's computer has failed and the pump has stopped. The medicine is no longer flowing. "
        "It will not start again by itself: your child needs a new pump.",
        NOT_FLOWING + " Signs of too little medicine can start within hours.",
        emergency=True,
    ),
    # domain: the maker's notice on a low battery reset, a critical alarm; the flow drops to a very low level
    AlarmSound(
        "low_battery_reset",
        TWO_TONES,
        "The pump's battery has failed and the pump has reset itself. It now gives only a tiny trickle, "
        "far too little for your child, so treat it as if the medicine is no longer flowing. "
        "Your child needs a new pump.",
        NOT_FLOWING + " Signs of too little medicine can start within hours.",
        emergency=True,
    ),
]

ALARM_SOUNDS_BY_NAME: dict[str, AlarmSound] = {a.name: a for a in ALARM_SOUNDS}


# ----------------------------------------------------------------------------- warning signs
@dataclass(frozen=True, slots=True)
class Sign:
    text: str
    urgency: str
    emergency: bool  # True: call emergency services now

    def __str__(self) -> str:
        return f"{self.text} — {self.urgency}"


_CLINIC_NOW = "call the clinic now."
_EMERGENCY_NOW = "call emergency services now."

# Too little baclofen (withdrawal), early signs first. Source: seed (complications) and domain (withdrawal).
TOO_LITTLE_SIGNS: list[Sign] = [
    Sign("Itching, with no rash", _CLINIC_NOW, emergency=False),
    Sign("Blood pressure low or going up and down; your child may feel faint", _CLINIC_NOW, emergency=False),
    Sign("Tingling, like pins and needles", _CLINIC_NOW, emergency=False),
    Sign("Fever", _CLINIC_NOW, emergency=False),
    Sign("Confused, or not acting like themselves", _CLINIC_NOW, emergency=False),
    Sign("Stiffness or spasms coming back, or muscles suddenly much tighter", _CLINIC_NOW, emergency=False),
    Sign("Sweating a lot", _CLINIC_NOW, emergency=False),
    Sign("Very high fever with very stiff muscles", _EMERGENCY_NOW, emergency=True),
]

TOO_LITTLE_NOTE = (
    "Too little medicine (withdrawal) can get worse over 1 to 3 days and can be deadly. "
    "If the signs are strong, or several come together, call emergency services."
)

# Too much baclofen (overdose). Source: seed (complications) and domain (overdose).
TOO_MUCH_SIGNS: list[Sign] = [
    Sign("Very sleepy, much more than usual", _CLINIC_NOW, emergency=False),
    Sign("Dizzy", _CLINIC_NOW, emergency=False),
    Sign("Floppy muscles, much looser than usual", _CLINIC_NOW, emergency=False),
    Sign("Breathing slow or shallow, or hard to breathe", _EMERGENCY_NOW, emergency=True),
    Sign("A seizure", _EMERGENCY_NOW, emergency=True),
    Sign("Hard to wake up, or cannot be woken", _EMERGENCY_NOW, emergency=True),
]

TOO_MUCH_NOTE = "Too much medicine can stop your child breathing well. Do not wait to see if it gets better."


# ----------------------------------------------------------------------------- questions and answers
@dataclass(frozen=True, slots=True)
class FaqItem:
    question: str
    answer: str
    topic: str
    source: str = "seed"  # "seed", "domain" or "seed+domain": where each statement comes from


FAQ: list[FaqItem] = [
    FaqItem(
        "What is a baclofen pump?",
        "It is a small metal pump that sends a medicine called baclofen into the spine. "
        "Baclofen helps tight, stiff muscles relax.",
        "what_it_is",
    ),
    FaqItem(
        "How does the pump work?",
        "The spinal cord sits in a space filled with fluid. A thin tube runs from the pump to this space. "
        "The pump pushes the medicine through the tube, right into that fluid.",
        "how_it_works",
    ),
    FaqItem(
        "Where does the pump go, and how big is it?",
        "The pump is put in during an operation. It goes under the skin of the belly, near the waist. "
        "There are two pump sizes, 20 mL and 40 mL. The doctor chooses the one that suits your child.",
        "the_operation",
    ),
    FaqItem(
        "Why is this better than baclofen by mouth?",
        "Medicine taken by mouth goes all through the body first, so less of it gets where it is needed. "
        "It can also make a child sleepy, groggy and constipated, and may cause more seizures. "
        "Medicine from the pump goes straight where it is needed. It does not go into the blood, "
        "so there are fewer side effects.",
        "why_the_pump",
    ),
    FaqItem(
        "What can the pump do for my child?",
        "The goals are looser muscles and less pain from spasms. It can help stop joints from getting "
        "bent out of shape or stuck. Care can get easier, like dressing your child or changing a diaper. "
        "Your child's muscles may also work better.",
        "goals",
    ),
    FaqItem(
        "How do we know if the pump will help?",
        "First there is a test in the hospital. A needle in the lower back puts a test amount of baclofen "
        "into the spinal fluid. This is called a lumbar puncture. A physical therapist checks your child's "
        "muscles before and after. We also ask you what changes you see. If the test goes well and you "
        "want the pump, you meet a brain and spine surgeon to talk about the operation.",
        "screening_test",
        "seed+domain",
    ),
    FaqItem(
        "How soon will the pump help?",
        "It can take weeks or even months to find the right dose for your child.",
        "time_to_help",
    ),
    FaqItem(
        "How often do we come to the clinic?",
        "After the operation, you come every 2 to 3 weeks at first. At each visit the clinic uses a computer "
        "that talks to the pump by radio to set the dose. The dose goes up slowly until it is right. "
        "After that, you come for refills, and any time you are worried about the dose.",
        "clinic_visits",
        "seed+domain",
    ),
    FaqItem(
        "What if we miss an appointment?",
        "Please do not miss pump appointments. Your child could get very sick if a visit is missed, "
        "because the pump could run low or run out of medicine. If you miss one, call the clinic the same "
        "day to get a new time.",
        "missed_appointment",
    ),
    FaqItem(
        "How is the pump refilled?",
        "The clinic refills the pump. No operation is needed. The nurse cleans the skin on the belly, then "
        "puts a needle through the skin into the pump and adds medicine. A numbing cream can make the needle "
        "hurt less.",
        "refills",
    ),
    FaqItem(
        "How often does the pump need a refill?",
        "It depends on how much medicine the pump gives each day. Some children need a refill every month. "
        "Others can go up to 6 months. The pump must be refilled at least every 6 months, even if there is "
        "medicine left, because the medicine does not stay good forever. The clinic books the next refill a "
        "few days before the pump is expected to run low.",
        "refills",
        "seed+domain",
    ),
    FaqItem(
        "What happens if the pump runs low or runs out?",
        "Your child could get signs of too little medicine (withdrawal) and may need to stay in the hospital. "
        "Withdrawal can get worse over 1 to 3 days and can be deadly. That is why refill visits matter so much.",
        "refills",
        "seed+domain",
    ),
    FaqItem(
        "Does the pump know how much medicine is left?",
        "No. The pump cannot see inside itself. It counts what it has given and takes that away from what "
        "was put in at the last refill. If it has given more than it thinks, it can run out before it beeps. "
        "So keep every refill visit, even if the pump has not beeped.",
        "refills",
        "domain",
    ),
    FaqItem(
        "What does the pump alarm sound like?",
        "The pump beeps when it is low on medicine or has stopped. A single tone, about every hour, means "
        "the pump is low on medicine or its battery is near its end: call the clinic today. Two tones mean "
        "the medicine is no longer flowing. That is an emergency: call the clinic now. If your child has "
        "signs of too little medicine, call emergency services.",
        "alarm",
        "seed+domain",
    ),
    FaqItem(
        "Can my child have an MRI?",
        "Yes, but tell your pump clinic first. Plan the MRI where your pump clinic can check the pump right "
        "after. The MRI magnet can stop the pump's motor for a while, and the pump may beep. The clinic checks "
        "that the pump has started again and works as it should. Some kinds of pump must be emptied before "
        "the scan; the clinic does this.",
        "mri",
        "seed+domain",
    ),
    FaqItem(
        "Will the pump need to be replaced?",
        "Yes. Its battery lasts about 4 to 7 years. When the battery is near its end, the pump beeps with a "
        "single tone. It then works for about 3 more months and stops. The clinic plans a new pump well "
        "before that, and your child has another operation to put it in.",
        "battery_replacement",
        "seed+domain",
    ),
    FaqItem(
        "What side effects can baclofen cause?",
        "The most common ones are muscles that are too loose, feeling sick to the stomach, throwing up, "
        "sleepiness, headache and dizziness. These most often go away.",
        "side_effects",
    ),
    FaqItem(
        "What problems can happen with the pump or tube?",
        "There can be an infection. Tell the clinic if a wound or the skin over the pump gets red, swollen or "
        "leaks fluid. If the pump or tube has a problem, your child can get too little medicine or too much. "
        "Learn the signs of both on this page.",
        "complications",
    ),
    FaqItem(
        "What are the signs of too little medicine?",
        "Itching with no rash, feeling faint, tingling, fever, confusion, stiffness coming back and sweating "
        "a lot. Call the clinic now. Very high fever with very stiff muscles is an emergency: call emergency "
        "services.",
        "withdrawal",
        "seed+domain",
    ),
    FaqItem(
        "What are the signs of too much medicine?",
        "Very sleepy, dizzy or floppy: call the clinic now. Slow or shallow breathing, a seizure, or hard to "
        "wake up: call emergency services now.",
        "overdose",
        "seed+domain",
    ),
    FaqItem(
        "When should I call the clinic, and when emergency services?",
        "Call the clinic the same day for a single-tone beep, or if you are worried about the dose. "
        "Call the clinic now for two tones, or for any sign of too little or too much medicine. "
        "Call emergency services if your child is hard to wake, breathes slowly or has a seizure. "
        "Also call them for strong signs of too little medicine.",
        "when_to_call",
        "seed+domain",
    ),
    FaqItem(
        "Can we travel?",
        "Plan your trip around refill visits. Check the date of the next refill before you book, and do not "
        "miss it. Take the clinic's phone number with you, and know the alarm sounds and warning signs. "
        "The pump is made of metal: ask your clinic about airport security and what papers to carry.",
        "travel",
        "seed+domain",
    ),
    FaqItem(
        "Who else should know about the pump?",
        "Tell anyone who looks after your child, such as school, daycare or family. They should know the "
        "alarm sounds. They should know the signs of too little and too much medicine. "
        "Give them the clinic's phone number.",
        "school_and_caregivers",
        "seed+domain",
    ),
    FaqItem(
        "Is this website a medical device?",
        DISCLAIMER,
        "about_this_website",
        "domain",
    ),
]

FAQ_TOPICS: list[str] = list(dict.fromkeys(f.topic for f in FAQ))


# ----------------------------------------------------------------------------- constant-flow pumps
@dataclass(frozen=True, slots=True)
class GuidanceSection:
    """A heading and its plain words, for families whose pump is of one kind."""

    title: str
    text: str
    source: str  # "domain", or the documents named in itb.domain.constant_flow
    condition: str = ""  # the itb.domain.constant_flow condition it explains ("" for the overview)


# domain: gas-driven, no battery, no electronics; the dose changes only through the concentration.
_CONSTANT_FLOW_OVERVIEW = GuidanceSection(
    "Your child's pump gives medicine at one steady speed",
    "This kind of pump has no battery and no computer. It cannot beep, so it cannot warn you when it is low. "
    "Keep every refill visit. The clinic sets how much medicine your child gets by the strength of the "
    "medicine it puts in at a refill. Heat and air pressure can make the pump go faster or slower, so "
    "read the tips below.",
    "domain",
)

CONSTANT_FLOW_GUIDANCE: list[GuidanceSection] = [_CONSTANT_FLOW_OVERVIEW] + [
    GuidanceSection(c.title, c.family, c.source, c.name) for c in FLOW_CONDITIONS
]


def constant_flow_guidance() -> list[GuidanceSection]:
    """What a family with a constant-flow pump should know: fever, heat, altitude, flying, diving."""
    return list(CONSTANT_FLOW_GUIDANCE)


def pump_guidance(model: str | None) -> list[GuidanceSection]:
    """The extra sections for a family's pump, by what the pump record's ``model`` holds (a catalogue
    code such as ``codman-3000``, or a generic model's name such as ``peristaltic``): the constant-flow
    guidance for a constant-flow pump, nothing for a programmable or unknown one."""
    return constant_flow_guidance() if kind_of(model) is PumpKind.CONSTANT_FLOW else []


# ----------------------------------------------------------------------------- symptom report form
SYMPTOM_CHOICES: list[tuple[str, str]] = [
    ("itching", "Itching with no rash"),
    ("feeling_faint", "Feeling faint, or blood pressure low or going up and down"),
    ("tingling", "Tingling, pins and needles"),
    ("fever", "Fever"),
    ("confusion", "Confused, not acting like themselves"),
    ("stiffness_returning", "Stiffness or spasms coming back"),
    ("heavy_sweating", "Sweating a lot"),
    ("very_sleepy", "Very sleepy, hard to wake"),
    ("dizzy", "Dizzy"),
    ("floppy_muscles", "Floppy muscles, looser than usual"),
    ("breathing_slow", "Breathing slow or shallow"),
    ("seizure", "Seizure"),
    ("nausea_vomiting", "Sick to the stomach or throwing up"),
    ("pump_beeping", "The pump is beeping"),
    ("wound_problem", "A wound or the skin over the pump is red, swollen or leaking"),
    ("headache_sitting_up", "Headache that is worse when sitting up (possible spinal fluid leak)"),
    ("other", "Something else (tell us below)"),
]


# ----------------------------------------------------------------------------- the pump's status in words
_CRITICAL_STATES = {
    "end_of_service",
    "motor_stall",
    "safety_valve_closed",
    "stopped_empty",
    "critical_memory_error",
    "low_battery_reset",
}
_STOPPED_WHY = {
    "end_of_service": "The pump's battery has run out and it has stopped.",
    "motor_stall": "The pump's motor has stopped.",
    "safety_valve_closed": "The pump's safety valve has shut.",
    "stopped_empty": "The pump has run out of medicine.",
    "empty_reservoir": "The pump has run out of medicine.",
    "critical_memory_error": "The pump's computer has failed and the pump has stopped.",
    "low_battery_reset": "The pump's battery has failed and it gives only a tiny trickle.",
}
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip


def plain_date(d: date) -> str:
    """``Tuesday 3 December 2026``, the same in every locale."""
    return f"{_DAYS[d.weekday()]} {d.day} {_MONTHS[d.month - 1]} {d.year}"


def _in_days(days: float) -> str:
    if days < 1:
        return "in less than a day"
    n = round(days)
    return f"in about {n} day" + ("" if n == 1 else "s")


def plain_pump_status(
    state: str,
    active_alarms: list[str],
    days_until_alarm: float | None,
    next_refill: date | None,
    *,
    today: date | None = None,
) -> str:
    """One or two sentences a parent understands; a stopped pump leads with the emergency sentence.

    ``state`` is the pump's state (``running``, ``stopped_empty``, ``motor_stall``, ``safety_valve_closed``,
    ``critical_memory_error``, ``low_battery_reset``, ``end_of_service``), ``none`` when no pump is recorded,
    anything else when unknown.
    ``days_until_alarm``: days until the low-reservoir alarm is expected. ``today``, when given, lets the
    words warn that the booked refill comes after that day.
    """
    critical_alarms = [a for a in active_alarms if a in ALARMS and ALARMS[a].priority is Priority.CRITICAL]
    if state in _CRITICAL_STATES or critical_alarms:
        why = _STOPPED_WHY.get(state) or next((_STOPPED_WHY[a] for a in critical_alarms if a in _STOPPED_WHY), "")
        if not why and critical_alarms:
            why = ALARM_SOUNDS_BY_NAME[critical_alarms[0]].meaning.split(". ")[0] + "."
        return f"{NOT_FLOWING} {why}".strip()

    if state == "none":
        return "No pump is recorded for your child yet."
    if state != "running":
        return (
            "We do not know how the pump is doing right now. "
            "If it beeps, or your child shows signs of too little or too much medicine, call the clinic."
        )
    refill_words = (
        f"the next refill visit is on {plain_date(next_refill)}."
        if next_refill is not None
        else "no refill visit is booked: call the clinic to book one."
    )

    if "low_reservoir" in active_alarms or (days_until_alarm is not None and days_until_alarm <= 0):
        first = "The pump is working, but it is low on medicine: call the clinic today about a refill."
        if next_refill is not None:
            return f"{first} The next refill visit is on {plain_date(next_refill)}."
        return first
    if "elective_replacement_indicator" in active_alarms:
        first = "The pump is working, but its battery is near its end: call the clinic today to plan a new pump."
        return f"{first} Also, {refill_words}"

    if days_until_alarm is None:
        return f"The pump is working. For refills, {refill_words}"
    words = f"The pump is working. Its medicine runs low {_in_days(days_until_alarm)}; {refill_words}"
    if today is not None and next_refill is not None and next_refill > today + timedelta(days=days_until_alarm):
        words += " That visit is after the medicine runs low: call the clinic to book an earlier one."
    return words


# ----------------------------------------------------------------------------- the clinic's numbers
#: "call the clinic" / "Call the clinic" where the words say to phone it (not "the clinic's ...")
_CALL_THE_CLINIC = re.compile(r"\b([Cc]all the clinic)(?![\w'’])")


def tel_href(phone: str) -> str:
    """The ``tel:`` link of a number as people write it: its digits, a leading + and pauses (,)."""
    return "tel:" + "".join(ch for ch in phone if ch.isdigit() or ch in "+,")


def clinic_numbers(contacts: ClinicContacts) -> Markup | None:
    """``day: <a href="tel:...">...</a>; after hours: <a ...>...</a>``, the numbers that are set
    (None when none is: nothing is shown)."""
    numbers = [("day", contacts.day_phone), ("after hours", contacts.after_hours_phone)]
    links = [
        Markup('{}: <a href="{}">{}</a>').format(label, tel_href(phone), phone) for label, phone in numbers if phone
    ]
    return Markup("; ").join(links) if links else None


def with_clinic_numbers(text: str, contacts: ClinicContacts) -> Markup:
    """``text``, escaped, with the clinic's numbers after each "call the clinic" (as ``tel:``
    links): "call the clinic (day: +1 555 0100; after hours: +1 555 0199) now". With no number
    set, the words stay as they are."""
    numbers = clinic_numbers(contacts)
    if numbers is None:
        return escape(text)
    parts = _CALL_THE_CLINIC.split(text)  # words, "call the clinic", words, ...
    return Markup("").join(
        Markup("{} ({})").format(part, numbers) if i % 2 else escape(part) for i, part in enumerate(parts)
    )
