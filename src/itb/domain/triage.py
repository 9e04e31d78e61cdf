"""Triage of what a family reports: which concern, how urgent, and what to do, in plain words.

Conservative by design: when a rule is in doubt it takes the higher urgency, and the result is the
highest urgency any rule reached. Every rule names its source, in the code and in ``Triage.reasons``:

- ``seed``: the hospital's answers to families (``shared/seeds/000_194dcc6e4385b48e.txt``);
- ``domain.md``: the project's domain notes (``shared/domain.md``), from device manuals and the drug label;
- the drug labels themselves, by document and section: *Lioresal Intrathecal (baclofen injection)
  prescribing information* (``OVERDOSAGE``; the boxed warning; ``WARNINGS``) and *Gablofen (baclofen
  injection) prescribing information* (``17 Patient Counseling Information``);
- ``conservative default``: this module's own choice where the sources do not decide, always upwards.

Symptom codes are the ones the family form sends (``itb.web.family.SYMPTOM_CHOICES``; a test checks that
every one of them is mapped here) plus a few finer ones (``high_fever``, ``hard_to_wake``, the alarm's tone,
...) that other callers may send. An unknown code is never ignored: it asks the family to call the clinic.

The words are for a parent, not a dosing advice: the dose is the clinic's job. Pure: no I/O, and nothing
imported from the rest of ``itb`` (the alarm names below mirror ``itb.domain.alarms``; a test checks them).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum, StrEnum

from itb.domain.errors import InvalidInput, bound_violation
from itb.domain.formatting import quantity


class Concern(StrEnum):
    WITHDRAWAL = "possible withdrawal"
    OVERDOSE = "possible overdose"
    INFECTION = "possible infection"
    CSF_LEAK = "possible spinal fluid leak"
    COMMON = "common, usually temporary side effect"
    PUMP = "pump problem"


class Urgency(IntEnum):
    NEXT_VISIT = 0
    CALL_TODAY = 1
    EMERGENCY = 2

    @property
    def label(self) -> str:
        return _URGENCY_LABELS[self]


_URGENCY_LABELS = {
    Urgency.NEXT_VISIT: "mention at the next visit",
    Urgency.CALL_TODAY: "call the clinic today",
    Urgency.EMERGENCY: "emergency: come to the hospital now / call emergency services",
}


# ----------------------------------------------------------------------------- sources
SEED = "seed"
DOMAIN = "domain.md"
CONSERVATIVE = "conservative default"
#: the drug labels, as the reasons name them (document, then section)
LIORESAL = "Lioresal Intrathecal label"
GABLOFEN = "Gablofen label"

_SRC_WITHDRAWAL = f"{DOMAIN}: withdrawal signs; {SEED}: withdrawal symptoms"
_SRC_WITHDRAWAL_SEVERE = f"{DOMAIN}: withdrawal progresses to high fever, rigidity, death"
_SRC_WITHDRAWAL_RISK = f"{DOMAIN}: highest withdrawal risk (T6 or above, cannot communicate, earlier withdrawal)"
_SRC_NO_DRUG = f"{SEED}: pump runs low or out → withdrawal, hospital; {DOMAIN}: critical alarm = drug no longer flowing"
_SRC_OVERDOSE = f"{DOMAIN}: overdose signs; {SEED}: too much baclofen"
_SRC_OVERDOSE_CAUSE = f"{DOMAIN}: pocket fill, over-infusion, bridge bolus after a concentration change"
_SRC_INFECTION = f"{SEED}: infection is a complication; {DOMAIN}: infection 5-10 % per procedure"
_SRC_CSF = f"{DOMAIN}: CSF leak 5-25 % (headache worse sitting up)"
_SRC_COMMON = f"{SEED}: most common side effects, usually temporary"
_SRC_ALARM = f"{SEED}: alarm → come right away"
_SRC_ALARM_TONES = f"{DOMAIN}: single tone = non-critical (low reservoir, ERI); two tones = drug no longer flowing"
_SRC_DISCREPANCY = f"{DOMAIN}: a refill discrepancy must be investigated"
_SRC_UNKNOWN = f"{CONSERVATIVE}: an unmatched report is never ignored"
_SRC_EARLY_OVERDOSE = (
    f"{LIORESAL}, OVERDOSAGE: drowsiness, lightheadedness, dizziness, somnolence, rostral progression of hypotonia; "
    f"watch especially during dose titration; {DOMAIN}: pocket fill, bridge bolus"
)
_SRC_BREATHING = (
    f"{LIORESAL}, OVERDOSAGE: respiratory depression, seizures, loss of consciousness progressing to coma; "
    f"{GABLOFEN}, 17 Patient Counseling Information: slow or shallow breathing, seizures, loss of consciousness, coma"
    " - brought immediately to a hospital"
)
_SRC_EARLY_WITHDRAWAL_AT_RISK = (
    f"{LIORESAL}, boxed warning: special attention to patients at risk (spinal cord injuries at T-6 or above, "
    "communication difficulties, history of withdrawal symptoms); "
    f"{GABLOFEN}, 17 Patient Counseling Information: early symptoms of withdrawal - brought immediately to a hospital"
)


# ----------------------------------------------------------------------------- settings
@dataclass(frozen=True, slots=True)
class TriageSettings:
    """The numbers and choices a clinic may change. Windows are in days; ``None`` in a context is 'not recent'."""

    #: fever this many days after pump surgery also raises infection (clinic setting, unverified; surgical-site
    #: infection surveillance for implants commonly looks back 90 days)
    infection_window_days: float = 90.0
    #: overdose signs this many days after a dose increase are blamed on it and raised to an emergency
    #: (domain.md: a rate change is fully felt at 24-48 h; rounded up, unverified)
    overdose_window_after_increase_days: float = 3.0
    #: overdose signs this many days after a refill: a possible pocket fill or wrong concentration
    #: (domain.md: pocket fill is a known cause of overdose; window unverified)
    overdose_window_after_refill_days: float = 3.0
    #: overdose signs this many days after a bolus (single, bridge or priming) are blamed on it (domain.md: a
    #: bolus peaks at about 4 h and lasts 4-8 h; a day covers it, unverified)
    overdose_window_after_bolus_days: float = 1.0
    #: the seed's own rule: every alarm, even a single tone, is an emergency. Off by default, where the device
    #: manuals (domain.md) tell a single tone (call today) from two tones (emergency).
    every_alarm_is_emergency: bool = False
    #: alarm names whose sound is two tones (mirrors itb.domain.alarms; domain.md: critical alarms)
    critical_alarm_names: frozenset[str] = frozenset(
        {
            "empty_reservoir",
            "end_of_service",
            "motor_stall",
            "safety_valve_closed",
            "critical_memory_error",
            "low_battery_reset",
        }
    )
    #: alarm names whose sound is a single tone (mirrors itb.domain.alarms); any other name counts as critical
    non_critical_alarm_names: frozenset[str] = frozenset({"low_reservoir", "elective_replacement_indicator"})


DEFAULT_TRIAGE = TriageSettings()


# ----------------------------------------------------------------------------- inputs and result
@dataclass(frozen=True, slots=True)
class PumpContext:
    """What the clinic's records say about the pump, at the time of the report.

    ``reservoir_near_empty``: the low-reservoir alarm is within 7 days, or reached. ``high_risk``: injury at
    T6 or above, cannot communicate, or an earlier withdrawal (domain.md). ``days_since_*``: ``None`` when
    unknown or never. ``unreviewed_discrepancy``: a refill discrepancy nobody has investigated yet.
    """

    reservoir_near_empty: bool = False
    reservoir_empty: bool = False
    active_alarms: tuple[str, ...] = ()
    critical_alarm: bool = False
    days_since_refill: float | None = None
    days_since_dose_increase: float | None = None
    days_since_bolus: float | None = None
    concentration_changed_recently: bool = False
    eri_reached: bool = False
    end_of_service: bool = False
    unreviewed_discrepancy: bool = False
    days_since_surgery: float | None = None
    high_risk: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "active_alarms", tuple(self.active_alarms))
        violations = [
            v
            for name in ("days_since_refill", "days_since_dose_increase", "days_since_bolus", "days_since_surgery")
            if (v := bound_violation(name, getattr(self, name), minimum=0)) is not None
        ]
        if violations:
            raise InvalidInput(violations)


NO_PUMP_CONCERN = PumpContext()


@dataclass(frozen=True, slots=True)
class Triage:
    urgency: Urgency
    concerns: tuple[Concern, ...]  # the most urgent first
    reasons: tuple[str, ...]  # each ends with its source in [brackets]
    instruction: str  # plain words for the family


# ----------------------------------------------------------------------------- symptom codes
#: Early withdrawal signs. Lioresal Intrathecal label, WARNINGS: "Early symptoms of baclofen withdrawal may
#: include return of baseline spasticity, pruritus, hypotension, and paresthesias" (as the label is quoted; no
#: stored copy of that section was read here); Gablofen label, 17 Patient Counseling Information: "increased
#: spasticity, itching, and tingling of extremities" (read). Fever and heavy
#: sweating are the seed's and domain.md's ("itching, blood pressure changes, sudden increase in stiffness, a
#: lot of sweating"); ``feeling_faint`` is the form's "blood pressure low or going up and down".
EARLY_WITHDRAWAL_SIGNS = frozenset(
    {"itching", "stiffness_returning", "feeling_faint", "tingling", "fever", "heavy_sweating"}
)
#: Advanced withdrawal signs, each alone an emergency. Lioresal Intrathecal label, boxed warning: abrupt
#: discontinuation "has resulted in sequelae that include high fever, altered mental status, exaggerated
#: rebound spasticity, and muscle rigidity" (``confusion`` is the form's "altered mental status").
ADVANCED_WITHDRAWAL_SIGNS = frozenset({"high_fever", "rigidity", "confusion"})
WITHDRAWAL_SIGNS = EARLY_WITHDRAWAL_SIGNS | ADVANCED_WITHDRAWAL_SIGNS
#: Any sign of breathing or consciousness failing is an emergency, whatever the pump's state. Lioresal
#: Intrathecal label, OVERDOSAGE: "respiratory depression, ... seizures, ... loss of consciousness progressing to
#: coma of up to 72 hr. duration"; Gablofen label, 17 Patient Counseling Information: "slow or shallow breathing,
#: seizures, loss of muscle tone, loss of consciousness, and coma ... brought immediately to a hospital".
BREATHING_OR_CONSCIOUSNESS_SIGNS = frozenset(
    {"breathing_slow", "breathing_shallow", "respiratory_depression", "seizure", "hard_to_wake", "unresponsive", "coma"}
)
# ``very_sleepy`` is an emergency too: the form's words are "Very sleepy, hard to wake", and hard to wake is one.
OVERDOSE_EMERGENCY_SIGNS = BREATHING_OR_CONSCIOUSNESS_SIGNS | {"very_sleepy"}
OVERDOSE_SIGNS = frozenset({"dizzy", "floppy_muscles"}) | OVERDOSE_EMERGENCY_SIGNS
# Common side effects that can also be the first signs of an overdose after a recent change (domain.md).
MILD_OVERDOSE_SIGNS = frozenset({"sleepy", "nausea_vomiting"})
#: Early overdose signs: within an overdose window (after a dose increase, a refill, a concentration change or
#: a bolus: ``TriageSettings``) each is a possible overdose, at least "call today". Lioresal Intrathecal label,
#: OVERDOSAGE: "Drowsiness, lightheadedness, dizziness, somnolence, ... rostral progression of hypotonia"
#: (``floppy_muscles``), watched for "especially during the initial screening and dose-titration phase";
#: nausea and vomiting: Lioresal Intrathecal's most common side effects, and domain.md's "first signs".
EARLY_OVERDOSE_SIGNS = MILD_OVERDOSE_SIGNS | {"dizzy", "floppy_muscles"}
INFECTION_SIGNS = frozenset({"wound_problem"})  # seed: infection; family form: red, swollen or leaking
CSF_LEAK_SIGNS = frozenset({"headache_sitting_up"})  # domain.md: CSF leak
# Seed: "loose muscles, nausea, vomiting, sleepiness, headache, and dizziness. These are usually temporary";
# seed: oral baclofen makes children "sleepy, groggy, and constipated". ``sleepy`` is the mild kind.
COMMON_SIGNS = frozenset({"nausea_vomiting", "sleepy", "constipation", "headache"})
# The pump beeping. The family form does not ask the tone, so ``pump_beeping`` is taken as the worse one.
BEEP_UNKNOWN_TONE = "pump_beeping"
BEEP_TWO_TONES = "pump_beeping_two_tones"
BEEP_SINGLE_TONE = "pump_beeping_single_tone"
PUMP_SIGNS = frozenset({BEEP_UNKNOWN_TONE, BEEP_TWO_TONES, BEEP_SINGLE_TONE})
# Mapped on purpose to "we could not match this: call the clinic".
OTHER = "other"

SYMPTOM_CODES: frozenset[str] = (
    WITHDRAWAL_SIGNS | OVERDOSE_SIGNS | INFECTION_SIGNS | CSF_LEAK_SIGNS | COMMON_SIGNS | PUMP_SIGNS | {OTHER}
)


# ----------------------------------------------------------------------------- a family's own words
#: Words in a family's note and the sign each names (the same codes as the form's boxes). Matching is
#: conservative: a named sign counts even when negated ("not breathing slowly" still asks "breathing_slow"),
#: because a note is never allowed to lower the urgency of what it says.
TEXT_SIGNS: tuple[tuple[str, str], ...] = (
    (r"itch", "itching"),
    (r"faint|light.?headed|blood pressure", "feeling_faint"),
    (r"tingl|pins and needles", "tingling"),
    (r"high (fever|temperature)|very hot|burning up", "high_fever"),
    (r"fever|temperature", "fever"),
    (r"confus|disoriented|not making sense|agitated", "confusion"),
    (r"stiff|spasm|tight muscles|tone (is )?(back|worse|up)", "stiffness_returning"),
    (r"sweat", "heavy_sweating"),
    (r"rigid", "rigidity"),
    (r"breath", "breathing_slow"),
    (r"shallow", "breathing_shallow"),
    (r"respirat", "respiratory_depression"),
    (r"seizure|convuls|\bfits?\b", "seizure"),
    (r"hard to wake|can'?n?o?t wake|won'?t wake|not waking|unconscious|unresponsive|passed out", "hard_to_wake"),
    (r"unresponsive|not respond|won'?t respond|does ?n[o']t respond", "unresponsive"),
    (r"\bcoma", "coma"),
    (r"very (sleepy|drowsy)|keeps falling asleep", "very_sleepy"),
    (r"sleepy|drows|groggy|tired", "sleepy"),
    (r"dizz|light.?headed", "dizzy"),
    (r"floppy|limp|weak", "floppy_muscles"),
    (r"nause|vomit|throw(ing)? up|threw up|sick to", "nausea_vomiting"),
    (r"constipat", "constipation"),
    (r"headache.*(sit|stand|upright)|(sit|stand|upright).*headache", "headache_sitting_up"),
    (r"headache", "headache"),
    (r"two tones|double beep", BEEP_TWO_TONES),
    (r"beep|alarm", BEEP_UNKNOWN_TONE),
    (r"\bred\b|redness|swollen|swelling|leak|\bpus\b|wound|incision|oozing", "wound_problem"),
)


def codes_in_text(text: str) -> frozenset[str]:
    """The signs a family's note names, as symptom codes (see ``TEXT_SIGNS``)."""
    words = text.lower()
    return frozenset(code for pattern, code in TEXT_SIGNS if re.search(pattern, words))


# ----------------------------------------------------------------------------- instructions (seed's words)
_EMERGENCY_WORDS = (
    "This is an emergency. Bring your child to the hospital right away. "
    "If your child is hard to wake, breathes slowly, has a seizure, or has a high fever with very stiff "
    "muscles, call emergency services now."
)
_NOT_FLOWING_WORDS = "The pump may have stopped giving medicine. "
_CALL_TODAY_WORDS = (
    "Call the clinic today. Do not wait for the next visit. "
    "If your child gets worse, shows other signs of too little or too much medicine, or the pump beeps with "
    "two tones, bring your child to the hospital right away."
)
_UNMATCHED_WORDS = "We could not match all of what you told us to a known sign, so please talk to the clinic. "
_NEXT_VISIT_WORDS = (
    "This is usually temporary. Tell the clinic at the next visit. "
    "If it gets worse, or new signs appear, call the clinic."
)
_NOTHING_WORDS = "No warning sign was reported. Keep every clinic visit, and call the clinic if you are worried."


# ----------------------------------------------------------------------------- the rules
@dataclass(frozen=True, slots=True)
class _Finding:
    concern: Concern | None  # None: nothing matched
    urgency: Urgency
    reason: str  # what, then its source in [brackets]


def _f(concern: Concern | None, urgency: Urgency, what: str, source: str) -> _Finding:
    return _Finding(concern, urgency, f"{what} [{source}]")


def _within(days: float | None, window: float) -> bool:
    return days is not None and days <= window


def _critical_alarms(pump: PumpContext, settings: TriageSettings) -> list[str]:
    """Active alarms that sound two tones; a name the settings do not know counts as critical (conservative)."""
    return [a for a in pump.active_alarms if a not in settings.non_critical_alarm_names]


def _not_flowing(pump: PumpContext, settings: TriageSettings) -> bool:
    """The drug is no longer flowing (domain.md: critical alarm; empty reservoir; end of service)."""
    return pump.reservoir_empty or pump.end_of_service or pump.critical_alarm or bool(_critical_alarms(pump, settings))


def _no_drug_reasons(pump: PumpContext, settings: TriageSettings) -> list[str]:
    """Why the pump may be giving no (or the wrong) drug: each one turns withdrawal signs into an emergency."""
    why = []
    if pump.reservoir_empty:
        why.append("the reservoir is empty")
    if pump.critical_alarm or _critical_alarms(pump, settings):
        why.append("a critical (two-tone) alarm is active")
    if pump.end_of_service:
        why.append("the pump has reached end of service")
    if pump.reservoir_near_empty or "low_reservoir" in pump.active_alarms:
        why.append("the reservoir is near empty (the pump only counts: it may already be dry)")
    if pump.concentration_changed_recently:
        why.append("the concentration changed recently")
    if pump.unreviewed_discrepancy:
        why.append("a refill discrepancy is not yet investigated")
    return why


def _days(value: float | None) -> str:
    """A number of days with its unit (itb.domain.formatting), e.g. "3 days"."""
    return quantity(value, "days") if value is not None else "some days"


def _overdose_causes(pump: PumpContext, settings: TriageSettings) -> list[str]:
    """Recent events that can give too much drug: each one turns overdose signs into an emergency."""
    why = []
    if _within(pump.days_since_dose_increase, settings.overdose_window_after_increase_days):
        why.append(f"the dose went up {_days(pump.days_since_dose_increase)} ago")
    if _within(pump.days_since_bolus, settings.overdose_window_after_bolus_days):
        why.append(f"a bolus was given {_days(pump.days_since_bolus)} ago")
    if _within(pump.days_since_refill, settings.overdose_window_after_refill_days):
        why.append(f"the pump was refilled {_days(pump.days_since_refill)} ago (possible pocket fill)")
    if pump.concentration_changed_recently:
        why.append("the concentration changed recently (bridge bolus)")
    if pump.unreviewed_discrepancy:
        why.append("a refill discrepancy is not yet investigated (possible over-infusion or pocket fill)")
    return why


def _withdrawal(codes: set[str], pump: PumpContext, settings: TriageSettings) -> list[_Finding]:
    signs = sorted(codes & WITHDRAWAL_SIGNS)
    if not signs:
        return []
    c, now = Concern.WITHDRAWAL, Urgency.EMERGENCY
    found = [_f(c, Urgency.CALL_TODAY, f"withdrawal signs: {', '.join(signs)}", _SRC_WITHDRAWAL)]
    if severe := sorted(codes & ADVANCED_WITHDRAWAL_SIGNS):
        found.append(_f(c, now, f"severe withdrawal signs: {', '.join(severe)}", _SRC_WITHDRAWAL_SEVERE))
    if {"fever", "stiffness_returning"} <= codes:
        # The form cannot say how high the fever or how stiff: read fever with stiffness as the severe kind.
        found.append(_f(c, now, "fever with stiffness coming back", f"{_SRC_WITHDRAWAL_SEVERE}; {CONSERVATIVE}"))
    found += [_f(c, now, f"withdrawal signs while {why}", _SRC_NO_DRUG) for why in _no_drug_reasons(pump, settings)]
    if pump.high_risk:
        # EARLY_WITHDRAWAL_SIGNS in a patient at risk: an emergency (the advanced ones are one for everybody).
        early = sorted(codes & EARLY_WITHDRAWAL_SIGNS)
        what = f"early withdrawal signs ({', '.join(early)})" if early else "withdrawal signs"
        found.append(
            _f(c, now, f"{what} in a high-risk patient", f"{_SRC_WITHDRAWAL_RISK}; {_SRC_EARLY_WITHDRAWAL_AT_RISK}")
        )
    return found


def _overdose(codes: set[str], pump: PumpContext, settings: TriageSettings) -> list[_Finding]:
    c, now = Concern.OVERDOSE, Urgency.EMERGENCY
    found = []
    causes = _overdose_causes(pump, settings)
    if failing := sorted(codes & BREATHING_OR_CONSCIOUSNESS_SIGNS):
        found.append(_f(c, now, f"breathing or consciousness signs: {', '.join(failing)}", _SRC_BREATHING))
    if "very_sleepy" in codes:
        source = f"{_SRC_OVERDOSE}; family form: 'very sleepy, hard to wake'"
        found.append(_f(c, now, "severe overdose signs: very_sleepy", source))
    if signs := sorted(codes & OVERDOSE_SIGNS):
        found.append(_f(c, Urgency.CALL_TODAY, f"overdose signs: {', '.join(signs)}", _SRC_OVERDOSE))
        found += [_f(c, now, f"overdose signs and {why}", _SRC_OVERDOSE_CAUSE) for why in causes]
    if early := sorted(codes & EARLY_OVERDOSE_SIGNS):
        # EARLY_OVERDOSE_SIGNS within an overdose window: a possible overdose, never less than "call today".
        # Sleepiness or nausea alone are common side effects (seed); within days of an increase, a refill, a
        # concentration change or a bolus they may be the first signs of too much drug.
        what = " and ".join(early)
        found += [_f(c, Urgency.CALL_TODAY, f"{what}, and {why}", _SRC_EARLY_OVERDOSE) for why in causes]
    return found


def _infection(codes: set[str], pump: PumpContext, settings: TriageSettings) -> list[_Finding]:
    c = Concern.INFECTION
    fever = bool(codes & {"fever", "high_fever"})
    found = []
    if "wound_problem" in codes:
        found.append(
            _f(c, Urgency.CALL_TODAY, "a wound or the skin over the pump is red, swollen or leaking", _SRC_INFECTION)
        )
        if fever:
            found.append(_f(c, Urgency.EMERGENCY, "fever with a wound problem", f"{_SRC_INFECTION}; {CONSERVATIVE}"))
    if fever and _within(pump.days_since_surgery, settings.infection_window_days):
        found.append(
            _f(
                c,
                Urgency.CALL_TODAY,
                f"fever {_days(pump.days_since_surgery)} after surgery",
                _SRC_INFECTION,
            )
        )
    return found


def _csf_leak(codes: set[str]) -> list[_Finding]:
    if not codes & CSF_LEAK_SIGNS:
        return []
    return [_f(Concern.CSF_LEAK, Urgency.CALL_TODAY, "headache worse when sitting up", _SRC_CSF)]


def _common(codes: set[str]) -> list[_Finding]:
    return [
        _f(Concern.COMMON, Urgency.NEXT_VISIT, f"{code}: usually temporary", _SRC_COMMON)
        for code in sorted(codes & COMMON_SIGNS)
    ]


def _single_tone(settings: TriageSettings) -> tuple[Urgency, str]:
    if settings.every_alarm_is_emergency:
        return Urgency.EMERGENCY, _SRC_ALARM
    return Urgency.CALL_TODAY, _SRC_ALARM_TONES


def _beeping(codes: set[str], settings: TriageSettings) -> list[_Finding]:
    c, now = Concern.PUMP, Urgency.EMERGENCY
    found = []
    if BEEP_UNKNOWN_TONE in codes:
        found.append(
            _f(c, now, "the pump is beeping (tone not known: taken as two tones)", f"{_SRC_ALARM}; {CONSERVATIVE}")
        )
    if BEEP_TWO_TONES in codes:
        found.append(
            _f(
                c,
                now,
                "the pump beeps with two tones: the medicine is no longer flowing",
                f"{_SRC_ALARM}; {_SRC_ALARM_TONES}",
            )
        )
    if BEEP_SINGLE_TONE in codes:
        urgency, source = _single_tone(settings)
        found.append(_f(c, urgency, "the pump beeps with a single tone", source))
    return found


def _unmatched(codes: set[str]) -> list[_Finding]:
    source = f"{_SRC_UNKNOWN}: we could not match this: call the clinic"
    return [
        _f(
            None,
            Urgency.CALL_TODAY,
            "something else was reported" if code == OTHER else f"unknown report {code!r}",
            source,
        )
        for code in sorted(codes - (SYMPTOM_CODES - {OTHER}))
    ]


def _pump_alone(pump: PumpContext, settings: TriageSettings) -> list[_Finding]:
    """What the pump's state calls for, even when the family reports no symptom."""
    c, now, today = Concern.PUMP, Urgency.EMERGENCY, Urgency.CALL_TODAY
    found = []
    if pump.critical_alarm:
        found.append(_f(c, now, "a critical (two-tone) alarm is active", _SRC_ALARM))
    for name in _critical_alarms(pump, settings):
        if name in settings.critical_alarm_names:
            found.append(_f(c, now, f"alarm {name!r} is active (two tones)", _SRC_ALARM))
        else:
            found.append(
                _f(c, now, f"unknown alarm {name!r} is active: taken as critical", f"{_SRC_ALARM}; {CONSERVATIVE}")
            )
    if pump.reservoir_empty:
        found.append(_f(c, now, "the reservoir is empty: the medicine is no longer flowing", _SRC_NO_DRUG))
    if pump.end_of_service:
        found.append(_f(c, now, "the pump has reached end of service and has stopped", f"{DOMAIN}: end of service"))
    urgency, source = _single_tone(settings)
    for name in pump.active_alarms:
        if name in settings.non_critical_alarm_names:
            found.append(_f(c, urgency, f"alarm {name!r} is active (single tone)", source))
    if pump.reservoir_near_empty:
        found.append(
            _f(c, today, "the reservoir is near empty: a refill must be booked", f"{SEED}: refills are very important")
        )
    if pump.eri_reached:
        found.append(
            _f(c, today, "the battery is near its end (about 90 days left)", f"{DOMAIN}: after ERI about 90 days")
        )
    if pump.unreviewed_discrepancy:
        found.append(_f(c, today, "a refill discrepancy is not yet investigated", _SRC_DISCREPANCY))
    return found


def _instruction(urgency: Urgency, findings: list[_Finding], pump: PumpContext, settings: TriageSettings) -> str:
    if urgency is Urgency.EMERGENCY:
        return (_NOT_FLOWING_WORDS if _not_flowing(pump, settings) else "") + _EMERGENCY_WORDS
    if urgency is Urgency.CALL_TODAY:
        unmatched = any(f.concern is None for f in findings)
        return (_UNMATCHED_WORDS if unmatched else "") + _CALL_TODAY_WORDS
    return _NEXT_VISIT_WORDS if findings else _NOTHING_WORDS


def triage(
    symptoms: Iterable[str], pump: PumpContext = NO_PUMP_CONCERN, settings: TriageSettings = DEFAULT_TRIAGE
) -> Triage:
    """The urgency (the highest any rule reaches), the concerns (most urgent first), every reason, and the words.

    ``symptoms``: codes of ``SYMPTOM_CODES``; case and surrounding spaces are ignored, repeats count once, and an
    unknown code asks the family to call the clinic.
    """
    if isinstance(symptoms, str):  # one code, not its letters
        symptoms = [symptoms]
    codes = {str(s).strip().lower() for s in symptoms}
    codes.discard("")
    findings = [
        *_pump_alone(pump, settings),
        *_withdrawal(codes, pump, settings),
        *_overdose(codes, pump, settings),
        *_infection(codes, pump, settings),
        *_csf_leak(codes),
        *_beeping(codes, settings),
        *_unmatched(codes),
        *_common(codes),
    ]
    urgency = max((f.urgency for f in findings), default=Urgency.NEXT_VISIT)
    per_concern: dict[Concern, Urgency] = {}
    for f in findings:
        if f.concern is not None:
            per_concern[f.concern] = max(per_concern.get(f.concern, Urgency.NEXT_VISIT), f.urgency)
    order = list(Concern)
    concerns = tuple(sorted(per_concern, key=lambda c: (-per_concern[c], order.index(c))))
    findings.sort(key=lambda f: -f.urgency)  # stable: rule order within an urgency
    return Triage(
        urgency=urgency,
        concerns=concerns,
        reasons=tuple(dict.fromkeys(f.reason for f in findings)),
        instruction=_instruction(urgency, findings, pump, settings),
    )
