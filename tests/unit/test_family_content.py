"""The words families read: complete, safe (no dosing advice), plain, and honest about what this software is."""

from __future__ import annotations

import re
from dataclasses import FrozenInstanceError
from datetime import date
from pathlib import Path

import pytest

from itb.domain.alarms import ALARMS, Priority
from itb.web import family
from itb.web.family import ALARM_SOUNDS, FAQ, SYMPTOM_CHOICES, TOO_LITTLE_SIGNS, TOO_MUCH_SIGNS, plain_pump_status

#: a copy of ``shared/seeds/000_194dcc6e4385b48e.txt`` (tests/data/shared-examples/README.md)
SEED = Path(__file__).resolve().parents[1] / "data" / "shared-examples" / "000_194dcc6e4385b48e.txt"


def all_texts() -> list[str]:
    texts = [family.DISCLAIMER, family.NOT_FLOWING, family.TOO_LITTLE_NOTE, family.TOO_MUCH_NOTE]
    texts += [t for a in ALARM_SOUNDS for t in (a.sound, a.meaning, a.what_to_do)]
    texts += [str(s) for s in TOO_LITTLE_SIGNS + TOO_MUCH_SIGNS]
    texts += [t for f in FAQ for t in (f.question, f.answer)]
    texts += [label for _, label in SYMPTOM_CHOICES]
    texts += [t for g in family.constant_flow_guidance() for t in (g.title, g.text)]
    return texts


# ----------------------------------------------------------------------------- alarms
def test_every_alarm_kind_has_exactly_one_sound() -> None:
    names = [a.name for a in ALARM_SOUNDS]
    assert sorted(names) == sorted(ALARMS)
    assert len(names) == len(set(names))


@pytest.mark.parametrize("kind", list(ALARMS.values()), ids=list(ALARMS))
def test_critical_alarms_are_emergencies_that_say_the_medicine_stopped(kind) -> None:
    sound = family.ALARM_SOUNDS_BY_NAME[kind.name]
    text = f"{sound.meaning} {sound.what_to_do}".lower()
    if kind.priority is Priority.CRITICAL:
        assert sound.emergency
        assert sound.sound == "two tones"
        assert "no longer flowing" in text
        assert "this is an emergency" in text
        assert "call the clinic now" in text
        assert "call emergency services" in text
        assert "withdrawal" in text
    else:
        assert not sound.emergency
        assert sound.sound == "single tone, about every hour"
        assert "no longer flowing" not in text
        assert "call the clinic today" in text


def test_alarm_sounds_are_frozen() -> None:
    with pytest.raises(FrozenInstanceError):
        ALARM_SOUNDS[0].emergency = True  # type: ignore[misc]


# ----------------------------------------------------------------------------- warning signs
def test_withdrawal_signs_cover_the_early_signs() -> None:
    words = " ".join(str(s) for s in TOO_LITTLE_SIGNS).lower()
    for needle in ("itching", "rash", "blood pressure", "faint", "tingling", "fever", "confus", "stiff", "sweat"):
        assert needle in words, needle


def test_overdose_signs_cover_the_label_signs() -> None:
    words = " ".join(str(s) for s in TOO_MUCH_SIGNS).lower()
    for needle in ("sleepy", "dizzy", "breathing", "shallow", "seizure", "floppy", "wake"):
        assert needle in words, needle


def test_every_sign_says_how_urgent_it_is() -> None:
    for sign in TOO_LITTLE_SIGNS + TOO_MUCH_SIGNS:
        assert sign.urgency in ("call the clinic now.", "call emergency services now.")
        assert sign.emergency == ("emergency services" in sign.urgency)
        assert str(sign).endswith(sign.urgency)


def test_breathing_seizure_and_hard_to_wake_mean_emergency_services() -> None:
    emergencies = " ".join(s.text for s in TOO_MUCH_SIGNS if s.emergency).lower()
    for needle in ("breath", "seizure", "wake"):
        assert needle in emergencies


# ----------------------------------------------------------------------------- FAQ
def test_faq_covers_the_seed_topics() -> None:
    topics = {f.topic for f in FAQ}
    assert len(topics) >= 12
    for needed in (
        "what_it_is",
        "how_it_works",
        "the_operation",
        "why_the_pump",
        "goals",
        "screening_test",
        "time_to_help",
        "clinic_visits",
        "refills",
        "missed_appointment",
        "alarm",
        "mri",
        "battery_replacement",
        "side_effects",
        "complications",
        "withdrawal",
        "overdose",
        "when_to_call",
        "travel",
        "about_this_website",
    ):
        assert needed in topics, needed
    assert list(dict.fromkeys(f.topic for f in FAQ)) == family.FAQ_TOPICS


def test_faq_items_are_well_formed() -> None:
    questions = [f.question for f in FAQ]
    assert len(questions) == len(set(questions))
    for f in FAQ:
        assert f.question.endswith("?")
        assert f.answer.strip() and f.answer == f.answer.strip()
        assert re.fullmatch(r"[a-z_]+", f.topic)
        assert f.source in ("seed", "domain", "seed+domain")


def test_key_facts_from_the_seed_are_there() -> None:
    answers = {f.topic: " ".join(g.answer for g in FAQ if g.topic == f.topic).lower() for f in FAQ}
    assert "2 to 3 weeks" in answers["clinic_visits"]
    assert "every month" in answers["refills"] and "6 months" in answers["refills"]
    assert "no operation" in answers["refills"] and "numbing cream" in answers["refills"]
    assert "4 to 7 years" in answers["battery_replacement"]
    assert "check the pump" in answers["mri"]
    assert "very sick" in answers["missed_appointment"]
    assert "lumbar puncture" in answers["screening_test"] and "physical therapist" in answers["screening_test"]
    assert "20 ml" in answers["the_operation"] and "40 ml" in answers["the_operation"]


def test_no_dosing_advice_anywhere() -> None:
    units = re.compile(r"\b(mcg|µg|ug|mg|microgram|milligram|mcg/ml|ml/day|per day|/day|bolus)s?\b", re.I)
    for text in all_texts():
        assert not units.search(text), text
        assert not re.search(r"\b(increase|decrease|raise|lower|change) (the |your child's )?dose\b", text, re.I), text


def test_the_seed_is_rewritten_not_copied() -> None:
    seed = re.sub(r"\s+", " ", SEED.read_text()).lower()
    seed_words = re.findall(r"[a-z']+", seed.replace("’", "'"))
    seed_runs = {" ".join(seed_words[i : i + 9]) for i in range(len(seed_words) - 8)}
    for text in all_texts():
        words = re.findall(r"[a-z']+", text.lower())
        runs = {" ".join(words[i : i + 9]) for i in range(len(words) - 8)}
        assert not runs & seed_runs, (text, runs & seed_runs)


def test_the_words_are_short_and_plain() -> None:
    for text in all_texts():
        for sentence in re.split(r"(?<=[.!?:;])\s+", text):
            assert len(sentence.split()) <= 25, sentence
    jargon = ("intrathecal", "titrat", "reservoir", "peristaltic", "catheter", "interrogat", "spasticity")
    for text in all_texts():
        for word in jargon:
            assert word not in text.lower(), (word, text)


def test_disclaimer() -> None:
    d = family.DISCLAIMER.lower()
    assert "not a medical device" in d
    assert "learning" in d or "education" in d
    assert "your own clinic's instructions" in d
    assert "emergency services" in d
    assert any(f.answer == family.DISCLAIMER for f in FAQ)


# ----------------------------------------------------------------------------- symptom form
def test_symptom_choices() -> None:
    codes = [c for c, _ in SYMPTOM_CHOICES]
    assert len(codes) == len(set(codes))
    assert all(re.fullmatch(r"[a-z_]+", c) for c in codes)
    assert all(label.strip() for _, label in SYMPTOM_CHOICES)
    for needed in (
        "itching",
        "fever",
        "stiffness_returning",
        "very_sleepy",
        "breathing_slow",
        "pump_beeping",
        "wound_problem",
        "headache_sitting_up",
    ):
        assert needed in codes
    assert codes[-1] == "other"


# ----------------------------------------------------------------------------- status in plain words
def test_status_running() -> None:
    words = plain_pump_status("running", [], 24.2, date(2026, 12, 3))
    assert words == (
        "The pump is working. Its medicine runs low in about 24 days; "
        "the next refill visit is on Thursday 3 December 2026."
    )


def test_status_running_without_a_refill_booked_or_a_forecast() -> None:
    assert "no refill visit is booked" in plain_pump_status("running", [], 10, None)
    assert "in less than a day" in plain_pump_status("running", [], 0.4, None)
    assert "in about 1 day;" in plain_pump_status("running", [], 1.2, None)
    words = plain_pump_status("running", [], None, date(2026, 12, 3))
    assert words.startswith("The pump is working.") and "3 December 2026" in words


def test_status_warns_when_the_refill_comes_too_late() -> None:
    late = plain_pump_status("running", [], 5, date(2026, 12, 20), today=date(2026, 12, 1))
    assert "book an earlier one" in late
    on_time = plain_pump_status("running", [], 30, date(2026, 12, 20), today=date(2026, 12, 1))
    assert "earlier" not in on_time


@pytest.mark.parametrize("alarms,days", [(["low_reservoir"], 2.0), ([], 0.0), ([], -3.0)])
def test_status_low(alarms: list[str], days: float) -> None:
    words = plain_pump_status("running", alarms, days, date(2026, 12, 3))
    assert words.startswith("The pump is working, but it is low on medicine: call the clinic today")
    assert "Thursday 3 December 2026" in words
    assert "no longer flowing" not in words


def test_status_battery_near_its_end() -> None:
    words = plain_pump_status("running", ["elective_replacement_indicator"], 40, date(2026, 12, 3))
    assert "battery is near its end" in words and "call the clinic today" in words


@pytest.mark.parametrize(
    "state,alarms",
    [
        ("stopped_empty", ["empty_reservoir"]),
        ("motor_stall", ["motor_stall"]),
        ("safety_valve_closed", ["safety_valve_closed"]),
        ("end_of_service", ["end_of_service"]),
        ("running", ["empty_reservoir", "low_reservoir"]),
        ("motor_stall", []),
    ],
)
def test_status_critical_leads_with_the_emergency(state: str, alarms: list[str]) -> None:
    words = plain_pump_status(state, alarms, 30, date(2026, 12, 3))
    assert words.startswith(family.NOT_FLOWING)
    assert "emergency services" in words
    assert "The pump is working" not in words
    assert len(re.findall(r"[.!?](\s|$)", words)) <= 2


@pytest.mark.parametrize("state", ["unknown", "", "stopped"])
def test_status_unknown(state: str) -> None:
    words = plain_pump_status(state, [], None, None)
    assert words.startswith("We do not know how the pump is doing")
    assert "call the clinic" in words


def test_status_no_pump() -> None:
    assert plain_pump_status("none", [], None, None) == "No pump is recorded for your child yet."
