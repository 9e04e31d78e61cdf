"""Triage of a family's report (``itb.domain.triage``): concern, urgency, reasons with sources, plain words.

Sources: ``shared/domain.md`` (withdrawal and overdose signs, highest-risk patients, complications, alarm
tones), the drug labels (Lioresal Intrathecal and Gablofen prescribing information: overdose signs, early
withdrawal signs, patients at risk) and the seed (``shared/seeds/000_194dcc6e4385b48e.txt``: withdrawal →
hospital; an alarm → come right away; common side effects are usually temporary). Each case pairs the pump
states that change the answer.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import itb.domain.triage as triage_module
from itb.domain.alarms import ALARMS, Priority
from itb.domain.errors import InvalidInput
from itb.domain.triage import (
    BREATHING_OR_CONSCIOUSNESS_SIGNS,
    DEFAULT_TRIAGE,
    EARLY_OVERDOSE_SIGNS,
    EARLY_WITHDRAWAL_SIGNS,
    SYMPTOM_CODES,
    Concern,
    PumpContext,
    Triage,
    TriageSettings,
    Urgency,
    triage,
)
from itb.web.family import SYMPTOM_CHOICES

CALM = PumpContext()
EMPTY = PumpContext(reservoir_empty=True)
NEAR_EMPTY = PumpContext(reservoir_near_empty=True)
CRITICAL = PumpContext(critical_alarm=True, active_alarms=("motor_stall",))
HIGH_RISK = PumpContext(high_risk=True)
JUST_INCREASED = PumpContext(days_since_dose_increase=1)
INCREASED_LONG_AGO = PumpContext(days_since_dose_increase=30)
JUST_REFILLED = PumpContext(days_since_refill=0.5)
JUST_OPERATED = PumpContext(days_since_surgery=10)

WITHDRAWAL_CODES = [
    "itching",
    "feeling_faint",
    "tingling",
    "fever",
    "confusion",
    "stiffness_returning",
    "heavy_sweating",
]


def cites(result: Triage, source: str) -> bool:
    return any(source in r for r in result.reasons)


# ----------------------------------------------------------------------------- mapping
def test_every_family_form_code_is_mapped() -> None:
    unmapped = [code for code, _ in SYMPTOM_CHOICES if code not in SYMPTOM_CODES]
    assert unmapped == []


@pytest.mark.parametrize("code", [code for code, _ in SYMPTOM_CHOICES if code != "other"])
def test_every_family_form_code_is_matched_to_a_concern(code: str) -> None:
    result = triage([code], CALM)
    assert result.concerns, code
    assert not any("could not match" in r for r in result.reasons)


def test_alarm_names_mirror_the_pump_alarms() -> None:
    critical = {name for name, a in ALARMS.items() if a.priority is Priority.CRITICAL}
    assert DEFAULT_TRIAGE.critical_alarm_names == critical
    assert DEFAULT_TRIAGE.non_critical_alarm_names == set(ALARMS) - critical


def test_domain_module_imports_nothing_outside_the_domain() -> None:
    tree = ast.parse(Path(triage_module.__file__).read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not {m for m in imported if m and m.startswith("itb.") and not m.startswith("itb.domain")}


def test_every_reason_names_its_source() -> None:
    everything = triage(
        [*sorted(SYMPTOM_CODES), "made_up"],
        PumpContext(
            reservoir_near_empty=True,
            reservoir_empty=True,
            active_alarms=("low_reservoir", "x"),
            critical_alarm=True,
            days_since_refill=0,
            days_since_dose_increase=0,
            concentration_changed_recently=True,
            eri_reached=True,
            end_of_service=True,
            unreviewed_discrepancy=True,
            days_since_surgery=0,
            high_risk=True,
        ),
    )
    assert len(everything.reasons) > 20
    for reason in everything.reasons:
        sources = ("[seed", "[domain.md", "[conservative default", "[Lioresal Intrathecal label", "[Gablofen label")
        assert reason.endswith("]") and any(s in reason for s in sources)


# ----------------------------------------------------------------------------- nothing reported
def test_no_symptom_and_a_calm_pump_is_next_visit() -> None:
    result = triage([], CALM)
    assert (result.urgency, result.concerns, result.reasons) == (Urgency.NEXT_VISIT, (), ())
    assert "No warning sign" in result.instruction


# ----------------------------------------------------------------------------- withdrawal
@pytest.mark.parametrize("code", [c for c in WITHDRAWAL_CODES if c != "confusion"])
def test_withdrawal_sign_alone_calls_the_clinic_today(code: str) -> None:
    result = triage([code], CALM)
    assert result.urgency is Urgency.CALL_TODAY
    assert result.concerns[0] is Concern.WITHDRAWAL
    assert cites(result, "domain.md: withdrawal signs")


@pytest.mark.parametrize("code", WITHDRAWAL_CODES)
@pytest.mark.parametrize(
    "pump",
    [
        EMPTY,
        NEAR_EMPTY,
        CRITICAL,
        PumpContext(critical_alarm=True),
        PumpContext(active_alarms=("empty_reservoir",)),
        PumpContext(active_alarms=("low_reservoir",)),
        PumpContext(end_of_service=True),
        PumpContext(concentration_changed_recently=True),
        PumpContext(unreviewed_discrepancy=True),
    ],
)
def test_withdrawal_with_a_pump_reason_for_no_drug_is_an_emergency(code: str, pump: PumpContext) -> None:
    result = triage([code], pump)
    assert result.urgency is Urgency.EMERGENCY
    assert Concern.WITHDRAWAL in result.concerns
    assert any("withdrawal signs while" in r for r in result.reasons)


def test_itching_with_and_without_an_empty_reservoir() -> None:
    assert triage(["itching"], CALM).urgency is Urgency.CALL_TODAY
    with_empty = triage(["itching"], EMPTY)
    assert with_empty.urgency is Urgency.EMERGENCY
    assert with_empty.concerns[:2] == (Concern.WITHDRAWAL, Concern.PUMP)
    assert with_empty.instruction.startswith("The pump may have stopped giving medicine.")
    assert "hospital right away" in with_empty.instruction


def test_withdrawal_in_a_high_risk_patient_is_an_emergency() -> None:
    assert triage(["tingling"], CALM).urgency is Urgency.CALL_TODAY
    result = triage(["tingling"], HIGH_RISK)
    assert result.urgency is Urgency.EMERGENCY
    assert cites(result, "highest withdrawal risk")


def test_high_risk_alone_without_signs_is_not_urgent() -> None:
    assert triage([], HIGH_RISK).urgency is Urgency.NEXT_VISIT


@pytest.mark.parametrize("code", ["confusion", "high_fever", "rigidity"])
def test_severe_withdrawal_sign_is_an_emergency_on_its_own(code: str) -> None:
    result = triage([code], CALM)
    assert result.urgency is Urgency.EMERGENCY
    assert cites(result, "domain.md: withdrawal progresses")


def test_fever_with_stiffness_returning_reads_as_high_fever_with_rigidity() -> None:
    assert triage(["fever"], CALM).urgency is Urgency.CALL_TODAY
    assert triage(["stiffness_returning"], CALM).urgency is Urgency.CALL_TODAY
    assert triage(["fever", "stiffness_returning"], CALM).urgency is Urgency.EMERGENCY


def test_eri_alone_does_not_make_withdrawal_an_emergency() -> None:
    # After ERI the pump still runs about 90 days (domain.md): the drug still flows.
    result = triage(["itching"], PumpContext(eri_reached=True))
    assert result.urgency is Urgency.CALL_TODAY


# ----------------------------------------------------------------------------- overdose
@pytest.mark.parametrize("code", ["breathing_slow", "seizure", "hard_to_wake", "very_sleepy"])
def test_severe_overdose_sign_is_an_emergency_with_a_calm_pump(code: str) -> None:
    result = triage([code], CALM)
    assert result.urgency is Urgency.EMERGENCY
    assert result.concerns == (Concern.OVERDOSE,)
    assert "call emergency services" in result.instruction


@pytest.mark.parametrize("code", ["dizzy", "floppy_muscles"])
def test_overdose_sign_with_and_without_a_recent_increase(code: str) -> None:
    assert triage([code], CALM).urgency is Urgency.CALL_TODAY
    assert triage([code], INCREASED_LONG_AGO).urgency is Urgency.CALL_TODAY
    result = triage([code], JUST_INCREASED)
    assert result.urgency is Urgency.EMERGENCY
    assert any("dose went up 1 days ago" in r for r in result.reasons)


@pytest.mark.parametrize(
    "pump",
    [JUST_REFILLED, PumpContext(concentration_changed_recently=True), PumpContext(unreviewed_discrepancy=True)],
)
def test_overdose_sign_after_a_refill_or_concentration_change_is_an_emergency(pump: PumpContext) -> None:
    result = triage(["dizzy"], pump)
    assert result.urgency is Urgency.EMERGENCY
    assert cites(result, "pocket fill")


def test_overdose_windows_are_clinic_settings() -> None:
    narrow = TriageSettings(overdose_window_after_increase_days=0.5)
    assert triage(["dizzy"], JUST_INCREASED, narrow).urgency is Urgency.CALL_TODAY
    wide = TriageSettings(overdose_window_after_refill_days=10)
    assert triage(["dizzy"], PumpContext(days_since_refill=7), wide).urgency is Urgency.EMERGENCY
    assert triage(["dizzy"], PumpContext(days_since_refill=7)).urgency is Urgency.CALL_TODAY


# ----------------------------------------------------------------------------- the labels' rules (one test each)
OVERDOSE_WINDOWS = {
    "a dose increase": JUST_INCREASED,
    "a refill": JUST_REFILLED,
    "a concentration change": PumpContext(concentration_changed_recently=True),
    "a bolus": PumpContext(days_since_bolus=0.2),
}


@pytest.mark.parametrize("window", sorted(OVERDOSE_WINDOWS))
@pytest.mark.parametrize("code", sorted(EARLY_OVERDOSE_SIGNS))
def test_early_overdose_signs(code: str, window: str) -> None:
    """``EARLY_OVERDOSE_SIGNS`` within an overdose window: a possible overdose, at least "call today".

    Source: Lioresal Intrathecal (baclofen injection) prescribing information, OVERDOSAGE ("Drowsiness,
    lightheadedness, dizziness, somnolence, ... rostral progression of hypotonia"; watched for "especially
    during the initial screening and dose-titration phase"); domain.md (pocket fill, bridge bolus).
    Drowsiness, dizziness, nausea and floppiness (hypotonia) all count, after an increase, a refill, a
    concentration change or a bolus; outside the windows sleepiness and nausea are common side effects.
    """
    assert {"sleepy", "dizzy", "nausea_vomiting", "floppy_muscles"} == EARLY_OVERDOSE_SIGNS
    result = triage([code], OVERDOSE_WINDOWS[window])
    assert result.urgency >= Urgency.CALL_TODAY
    assert Concern.OVERDOSE in result.concerns
    assert cites(result, "Lioresal Intrathecal label, OVERDOSAGE")
    outside = triage([code], PumpContext(days_since_dose_increase=30, days_since_refill=30, days_since_bolus=5))
    expected = Urgency.NEXT_VISIT if code in {"sleepy", "nausea_vomiting"} else Urgency.CALL_TODAY
    assert outside.urgency is expected


@pytest.mark.parametrize("pump", [CALM, INCREASED_LONG_AGO, HIGH_RISK], ids=["calm", "stable", "high risk"])
@pytest.mark.parametrize("code", sorted(BREATHING_OR_CONSCIOUSNESS_SIGNS))
def test_breathing_or_consciousness_signs(code: str, pump: PumpContext) -> None:
    """``BREATHING_OR_CONSCIOUSNESS_SIGNS``: slow or shallow breathing, respiratory depression, hard to wake,
    unresponsive, coma, a seizure: an emergency whatever the pump's state, and a family's own words count too.

    Source: Lioresal Intrathecal prescribing information, OVERDOSAGE ("respiratory depression, ... seizures,
    ... loss of consciousness progressing to coma of up to 72 hr. duration"); Gablofen (baclofen injection)
    prescribing information, 17 Patient Counseling Information ("slow or shallow breathing, seizures, ... loss
    of consciousness, and coma ... brought immediately to a hospital").
    """
    from itb.domain.triage import codes_in_text

    result = triage([code], pump)
    assert result.urgency is Urgency.EMERGENCY
    assert Concern.OVERDOSE in result.concerns
    assert cites(result, "Lioresal Intrathecal label, OVERDOSAGE: respiratory depression")
    assert "call emergency services" in result.instruction
    for words in ("breathing is shallow", "respiratory depression", "he is not responding", "she is in a coma"):
        assert codes_in_text(words) & BREATHING_OR_CONSCIOUSNESS_SIGNS, words
        assert triage(sorted(codes_in_text(words)), pump).urgency is Urgency.EMERGENCY


@pytest.mark.parametrize("code", sorted(EARLY_WITHDRAWAL_SIGNS))
def test_early_withdrawal_signs_in_a_high_risk_patient(code: str) -> None:
    """``EARLY_WITHDRAWAL_SIGNS`` (itching without rash, stiffness or spasticity coming back, fever, sweating,
    low blood pressure, tingling) in a patient at risk (injury at T6 or above, cannot communicate, an earlier
    withdrawal): an emergency; in anyone else, "call today".

    Source: Lioresal Intrathecal prescribing information, boxed warning ("Special attention should be given to
    patients at risk (e.g., spinal cord injuries at T-6 or above, communication difficulties, history of
    withdrawal symptoms from oral or intrathecal baclofen)") and WARNINGS (early symptoms: "return of baseline
    spasticity, pruritus, hypotension, and paresthesias"); Gablofen prescribing information, 17 Patient
    Counseling Information (early symptoms; "brought immediately to a hospital"); the seed (fever, sweating).
    """
    assert {
        "itching",
        "stiffness_returning",
        "fever",
        "heavy_sweating",
        "feeling_faint",
        "tingling",
    } == EARLY_WITHDRAWAL_SIGNS
    assert triage([code], CALM).urgency is Urgency.CALL_TODAY
    result = triage([code], HIGH_RISK)
    assert result.urgency is Urgency.EMERGENCY
    assert result.concerns[0] is Concern.WITHDRAWAL
    assert any(f"early withdrawal signs ({code}) in a high-risk patient" in r for r in result.reasons)
    assert cites(result, "Lioresal Intrathecal label, boxed warning")


# ----------------------------------------------------------------------------- common side effects
@pytest.mark.parametrize("code", ["nausea_vomiting", "sleepy", "constipation", "headache"])
def test_common_side_effect_alone_waits_for_the_next_visit(code: str) -> None:
    result = triage([code], CALM)
    assert (result.urgency, result.concerns) == (Urgency.NEXT_VISIT, (Concern.COMMON,))
    assert cites(result, "seed: most common side effects")
    assert "next visit" in result.instruction


def test_drowsiness_or_nausea_after_a_dose_increase_is_a_possible_overdose() -> None:
    """domain.md: drowsiness, dizziness, nausea are overdose signs, and an increase is felt fully at
    24-48 h: sleepy and nausea a day after an increase were "mention at the next visit" before (the
    clinical review's under-call); they are at least "call today" now."""
    result = triage(["sleepy", "nausea_vomiting"], JUST_INCREASED)
    assert result.urgency is Urgency.CALL_TODAY and Concern.OVERDOSE in result.concerns
    assert triage(["sleepy"], INCREASED_LONG_AGO).urgency is Urgency.NEXT_VISIT  # long after: common


def test_overdose_signs_after_a_bolus() -> None:
    """domain.md: a bolus peaks at about 4 h and lasts 4-8 h; signs within the window (a setting, 1 day)
    are blamed on it."""
    after_bolus = PumpContext(days_since_bolus=0.2)
    assert triage(["nausea_vomiting"], after_bolus).urgency is Urgency.CALL_TODAY
    assert triage(["dizzy"], after_bolus).urgency is Urgency.EMERGENCY
    assert triage(["dizzy"], PumpContext(days_since_bolus=2)).urgency is Urgency.CALL_TODAY


def test_mild_sleepiness_after_a_refill_may_be_a_pocket_fill() -> None:
    result = triage(["sleepy"], JUST_REFILLED)
    assert result.urgency is Urgency.CALL_TODAY
    assert Concern.OVERDOSE in result.concerns


def test_common_side_effect_combined_takes_the_higher_urgency() -> None:
    result = triage(["nausea_vomiting", "dizzy"], JUST_INCREASED)
    assert result.urgency is Urgency.EMERGENCY
    assert result.concerns == (Concern.OVERDOSE, Concern.COMMON)


# ----------------------------------------------------------------------------- infection and CSF leak
def test_wound_problem_calls_today_and_with_fever_is_an_emergency() -> None:
    assert triage(["wound_problem"], CALM).urgency is Urgency.CALL_TODAY
    result = triage(["wound_problem", "fever"], CALM)
    assert result.urgency is Urgency.EMERGENCY
    assert result.concerns[0] is Concern.INFECTION


def test_fever_after_surgery_adds_infection_within_the_window() -> None:
    assert Concern.INFECTION not in triage(["fever"], CALM).concerns
    assert Concern.INFECTION not in triage(["fever"], PumpContext(days_since_surgery=400)).concerns
    result = triage(["fever"], JUST_OPERATED)
    assert result.urgency is Urgency.CALL_TODAY
    assert set(result.concerns) == {Concern.WITHDRAWAL, Concern.INFECTION}
    short = TriageSettings(infection_window_days=5)
    assert Concern.INFECTION not in triage(["fever"], JUST_OPERATED, short).concerns


def test_headache_sitting_up_is_a_possible_spinal_fluid_leak() -> None:
    result = triage(["headache_sitting_up"], CALM)
    assert (result.urgency, result.concerns) == (Urgency.CALL_TODAY, (Concern.CSF_LEAK,))


# ----------------------------------------------------------------------------- the pump
def test_pump_beeping_of_unknown_tone_is_an_emergency() -> None:
    result = triage(["pump_beeping"], CALM)
    assert (result.urgency, result.concerns) == (Urgency.EMERGENCY, (Concern.PUMP,))
    assert cites(result, "seed: alarm → come right away")


def test_two_tones_are_an_emergency_and_a_single_tone_calls_today() -> None:
    assert triage(["pump_beeping_two_tones"], CALM).urgency is Urgency.EMERGENCY
    assert triage(["pump_beeping_single_tone"], CALM).urgency is Urgency.CALL_TODAY


def test_the_seed_rule_every_alarm_is_an_emergency_is_a_setting() -> None:
    seed_rule = TriageSettings(every_alarm_is_emergency=True)
    assert triage(["pump_beeping_single_tone"], CALM, seed_rule).urgency is Urgency.EMERGENCY
    low = PumpContext(active_alarms=("low_reservoir",))
    assert triage([], low).urgency is Urgency.CALL_TODAY
    assert triage([], low, seed_rule).urgency is Urgency.EMERGENCY


@pytest.mark.parametrize(
    "pump",
    [
        PumpContext(critical_alarm=True),
        PumpContext(active_alarms=("empty_reservoir",)),
        PumpContext(active_alarms=("motor_stall",)),
        PumpContext(active_alarms=("a_new_alarm_name",)),
        EMPTY,
        PumpContext(end_of_service=True),
    ],
)
def test_critical_pump_state_alone_is_an_emergency(pump: PumpContext) -> None:
    result = triage([], pump)
    assert (result.urgency, result.concerns) == (Urgency.EMERGENCY, (Concern.PUMP,))
    assert result.instruction.startswith("The pump may have stopped giving medicine.")


@pytest.mark.parametrize(
    "pump",
    [
        NEAR_EMPTY,
        PumpContext(active_alarms=("low_reservoir",)),
        PumpContext(active_alarms=("elective_replacement_indicator",)),
        PumpContext(eri_reached=True),
        PumpContext(unreviewed_discrepancy=True),
    ],
)
def test_non_critical_pump_state_alone_calls_today(pump: PumpContext) -> None:
    assert triage([], pump).urgency is Urgency.CALL_TODAY


def test_a_recent_change_alone_is_not_urgent() -> None:
    for pump in (JUST_INCREASED, JUST_REFILLED, JUST_OPERATED, PumpContext(concentration_changed_recently=True)):
        assert triage([], pump).urgency is Urgency.NEXT_VISIT


# ----------------------------------------------------------------------------- unknown reports
@pytest.mark.parametrize("codes", [["other"], ["a_new_symptom"], ["nausea_vomiting", "other"]])
def test_unmatched_report_calls_the_clinic(codes: list[str]) -> None:
    result = triage(codes, CALM)
    assert result.urgency is Urgency.CALL_TODAY
    assert any("we could not match this: call the clinic" in r for r in result.reasons)
    assert result.instruction.startswith("We could not match")


def test_codes_are_normalised_and_a_single_string_is_one_code() -> None:
    assert triage([" Itching ", "itching", ""], CALM) == triage(["itching"], CALM)
    assert triage("seizure", CALM).urgency is Urgency.EMERGENCY


# ----------------------------------------------------------------------------- input rules
@pytest.mark.parametrize("field", ["days_since_refill", "days_since_dose_increase", "days_since_surgery"])
@pytest.mark.parametrize("value", [-1, float("nan"), float("inf")])
def test_negative_or_non_finite_days_are_refused(field: str, value: float) -> None:
    with pytest.raises(InvalidInput, match=field):
        PumpContext(**{field: value})


def test_urgency_labels_and_order() -> None:
    assert Urgency.NEXT_VISIT < Urgency.CALL_TODAY < Urgency.EMERGENCY
    assert Urgency.CALL_TODAY.label == "call the clinic today"
    assert Urgency.EMERGENCY.label.startswith("emergency")


# ----------------------------------------------------------------------------- monotonicity
CODES = st.sets(st.sampled_from([*sorted(SYMPTOM_CODES), "made_up"]), max_size=3)
DAYS = st.none() | st.sampled_from([0.0, 1.0, 2.5, 3.0, 7.0, 90.0, 400.0]) | st.floats(min_value=0, max_value=400)
ALARM_NAMES = st.sampled_from([*sorted(ALARMS), "a_new_alarm_name"])
FLAGS = [f.name for f in dataclasses.fields(PumpContext) if f.type == "bool"]


@st.composite
def pumps(draw: st.DrawFn) -> PumpContext:
    """Mostly calm pumps, a few flags at a time: a state that is already an emergency proves nothing."""
    flags = draw(st.sets(st.sampled_from(FLAGS), max_size=2))
    return PumpContext(
        **dict.fromkeys(flags, True),
        active_alarms=tuple(draw(st.lists(ALARM_NAMES, max_size=1))),
        days_since_refill=draw(DAYS),
        days_since_dose_increase=draw(DAYS),
        days_since_surgery=draw(DAYS),
    )


PUMPS = pumps()
SETTINGS = st.sampled_from([DEFAULT_TRIAGE, TriageSettings(every_alarm_is_emergency=True)])


DAYS_FIELDS = [f.name for f in dataclasses.fields(PumpContext) if f.type == "float | None"]
# One step worse: a flag set, an event more recent, or one more alarm.
WORSENINGS = st.one_of(
    st.sampled_from(FLAGS).map(lambda name: (name, True)),
    st.tuples(st.sampled_from(DAYS_FIELDS), st.floats(min_value=0, max_value=400)),
    ALARM_NAMES.map(lambda name: ("active_alarms", name)),
)


def worse(pump: PumpContext, step: tuple[str, object]) -> PumpContext:
    """``pump`` made one step worse; an event only becomes more recent, never less."""
    name, value = step
    if name == "active_alarms":
        return dataclasses.replace(pump, active_alarms=tuple(dict.fromkeys((*pump.active_alarms, value))))
    old = getattr(pump, name)
    if name in DAYS_FIELDS and old is not None:
        value = min(old, value)  # type: ignore[type-var]
    return dataclasses.replace(pump, **{name: value})


def all_single_worsenings() -> list[tuple[str, object]]:
    days = [(name, d) for name in DAYS_FIELDS for d in (0.0, 1.0, 3.0, 7.0, 90.0, 400.0)]
    return [(name, True) for name in FLAGS] + days + [("active_alarms", a) for a in [*ALARMS, "a_new_alarm_name"]]


@given(CODES, CODES, PUMPS, SETTINGS)
def test_adding_a_symptom_never_lowers_the_urgency(codes, more, pump, triage_settings) -> None:
    assert triage(codes | more, pump, triage_settings).urgency >= triage(codes, pump, triage_settings).urgency


@given(CODES, PUMPS, st.lists(WORSENINGS, min_size=1, max_size=3), SETTINGS)
def test_a_worse_pump_state_never_lowers_the_urgency(codes, pump, steps, triage_settings) -> None:
    before = triage(codes, pump, triage_settings).urgency
    for step in steps:
        pump = worse(pump, step)
        after = triage(codes, pump, triage_settings).urgency
        assert after >= before, (step, pump)
        before = after


@pytest.mark.parametrize("triage_settings", [DEFAULT_TRIAGE, TriageSettings(every_alarm_is_emergency=True)])
def test_monotone_for_small_reports_and_every_single_worsening(triage_settings: TriageSettings) -> None:
    """Exhaustive where it is cheap: every pair of codes on two calm pumps, every single code on every pump one
    step from calm; each with every added code and every further single worsening."""
    codes = sorted(SYMPTOM_CODES)
    singles = [set()] + [{a} for a in codes]
    pairs = singles + [{a, b} for i, a in enumerate(codes) for b in codes[i + 1 :]]
    long_ago = PumpContext(days_since_dose_increase=10, days_since_refill=10, days_since_surgery=100)
    worsenings = all_single_worsenings()
    cases = [(CALM, pairs), (long_ago, pairs)] + [(worse(CALM, s), singles) for s in worsenings]
    urgencies: dict[tuple[frozenset[str], PumpContext], Urgency] = {}

    def urgency(report: set[str], pump: PumpContext) -> Urgency:
        """The triage's urgency, each (report, pump) judged once: the cases meet many twice."""
        key = (frozenset(report), pump)
        if key not in urgencies:
            urgencies[key] = triage(report, pump, triage_settings).urgency
        return urgencies[key]

    @functools.cache
    def worse_pumps(pump: PumpContext) -> list[PumpContext]:
        return [worse(pump, step) for step in worsenings]

    for pump, reports in cases:
        for report in reports:
            base = urgency(report, pump)
            for code in codes:
                assert urgency(report | {code}, pump) >= base, (report, pump, code)
            for step, worse_pump in zip(worsenings, worse_pumps(pump)):
                assert urgency(report, worse_pump) >= base, (report, pump, step)


@given(CODES, PUMPS, SETTINGS)
def test_urgency_is_never_below_any_concern_and_instruction_matches(codes, pump, triage_settings) -> None:
    result = triage(codes, pump, triage_settings)
    assert result.instruction
    assert len(set(result.concerns)) == len(result.concerns)
    if result.urgency is Urgency.EMERGENCY:
        assert "right away" in result.instruction
    elif result.urgency is Urgency.CALL_TODAY:
        assert "Call the clinic today" in result.instruction
    else:
        assert set(result.concerns) <= {Concern.COMMON}


def test_a_familys_note_is_matched_to_the_same_signs_as_the_boxes() -> None:
    """The clinical review: the same withdrawal signs typed as text got "call today", ticked they got
    "emergency". A note's words are read as the codes they name (conservatively: negations too)."""
    from itb.domain.triage import codes_in_text

    assert codes_in_text("Very sleepy, we cannot wake him") >= {"very_sleepy", "hard_to_wake"}
    assert codes_in_text("itchy, sweating a lot and stiff again") == {
        "itching",
        "heavy_sweating",
        "stiffness_returning",
    }
    assert codes_in_text("the scar is red and oozing") == {"wound_problem"}
    assert codes_in_text("a question about the next visit") == frozenset()
    typed = triage(sorted(codes_in_text("high temperature and very rigid")))
    ticked = triage(["high_fever", "rigidity"])
    assert typed.urgency is ticked.urgency is Urgency.EMERGENCY
