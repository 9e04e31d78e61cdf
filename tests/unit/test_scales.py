"""Clinical scales (``itb.domain.scales``): Modified Ashworth, Tardieu, GMFCS, Goal Attainment Scaling.

Sources: ``shared/domain.md``, "Scales used in clinic" (1+ is its own grade; Tardieu 0-5 with signed
angles, sources at the Tardieu section; the GAS T score with ρ = 0.3) and "The drug label rules"
(a positive screening is a drop of at least 1 point in the average Modified Ashworth score of the
tested muscles).
"""

from __future__ import annotations

import math

import pytest

from itb.domain.errors import InvalidInput
from itb.domain.scales import (
    GAS_RHO,
    GMFCS,
    MAS,
    MAS_RESPONSE_MIN_DROP,
    MAX_ANGLE_DEG,
    MIN_ANGLE_DEG,
    TARDIEU_QUALITY,
    Goal,
    Tardieu,
    assessment_record,
    gas_t_score,
    mas_response,
    mean_mas,
    parse_gmfcs,
    parse_mas,
)


def fields_of(error: InvalidInput) -> list[str]:
    return [v.field for v in error.violations]


# -- Modified Ashworth Scale -------------------------------------------------------------------


def test_mas_grades_and_their_text() -> None:
    assert [g.value for g in MAS] == ["0", "1", "1+", "2", "3", "4"]


def test_mas_ordinal_puts_one_plus_between_one_and_two() -> None:
    assert [g.ordinal for g in MAS] == [0, 1, 2, 3, 4, 5]
    assert MAS.ONE.ordinal < MAS.ONE_PLUS.ordinal < MAS.TWO.ordinal


def test_mas_grades_compare_in_clinical_order() -> None:
    assert MAS.ONE < MAS.ONE_PLUS < MAS.TWO < MAS.THREE < MAS.FOUR
    assert MAS.FOUR > MAS.ZERO and MAS.TWO >= MAS.TWO and MAS.ONE_PLUS <= MAS.ONE_PLUS
    assert sorted([MAS.FOUR, MAS.ONE_PLUS, MAS.ZERO, MAS.TWO, MAS.ONE, MAS.THREE]) == list(MAS)
    assert max([MAS.ONE, MAS.ONE_PLUS]) is MAS.ONE_PLUS


def test_mas_compared_with_something_else_is_not_a_grade_comparison() -> None:
    with pytest.raises(TypeError):
        _ = MAS.ONE < 2  # type: ignore[operator]


def test_mas_points_are_the_averaging_convention() -> None:
    assert [g.points for g in MAS] == [0.0, 1.0, 1.5, 2.0, 3.0, 4.0]


def test_mas_stores_as_its_text() -> None:
    assert str(MAS.ONE_PLUS) == "1+"
    assert MAS("1+") is MAS.ONE_PLUS
    assert MAS.ONE_PLUS == "1+"


@pytest.mark.parametrize(
    ("value", "grade"),
    [
        ("0", MAS.ZERO),
        ("1", MAS.ONE),
        ("1+", MAS.ONE_PLUS),
        (" 1+ ", MAS.ONE_PLUS),
        ("2", MAS.TWO),
        ("3", MAS.THREE),
        ("4", MAS.FOUR),
        (0, MAS.ZERO),
        (1, MAS.ONE),
        (4, MAS.FOUR),
        (MAS.ONE_PLUS, MAS.ONE_PLUS),
    ],
)
def test_parse_mas_accepts_grades(value: object, grade: MAS) -> None:
    assert parse_mas(value, "mas.elbow_flexors") is grade


@pytest.mark.parametrize("value", [1.5, "1.5", 5, "5", -1, 2.0, True, None, "", "1++", "+1", "one", "2+", [1]])
def test_parse_mas_refuses_anything_else_naming_the_field(value: object) -> None:
    with pytest.raises(InvalidInput) as e:
        parse_mas(value, "mas.elbow_flexors")
    assert fields_of(e.value) == ["mas.elbow_flexors"]
    message = str(e.value)
    assert message.startswith("mas.elbow_flexors: must be a Modified Ashworth grade: 0, 1, 1+, 2, 3 or 4")
    assert "not 1.5" in message
    assert repr(value) in message


def test_mean_mas_counts_one_plus_as_one_and_a_half() -> None:
    assert mean_mas([MAS.ONE_PLUS]) == 1.5
    assert mean_mas([MAS.ONE, MAS.ONE_PLUS, MAS.TWO]) == 1.5
    assert mean_mas(["3", 4, MAS.ZERO, "1+"]) == pytest.approx(8.5 / 4)


def test_mean_mas_accepts_a_generator() -> None:
    assert mean_mas(g for g in (MAS.FOUR, MAS.TWO)) == 3.0


def test_mean_mas_reports_every_bad_grade_by_index() -> None:
    with pytest.raises(InvalidInput) as e:
        mean_mas(["1", 1.5, "2", "5"], field="mas")
    assert fields_of(e.value) == ["mas[1]", "mas[3]"]


def test_mean_mas_of_nothing_is_refused() -> None:
    with pytest.raises(InvalidInput) as e:
        mean_mas([])
    assert str(e.value) == "grades: needs at least one grade"


def test_screening_response_threshold_follows_domain_md() -> None:
    assert MAS_RESPONSE_MIN_DROP == 1.0


def test_mas_response_positive_at_exactly_one_point() -> None:
    # before: 3, 2, 1+ -> 6.5/3; after: 2, 1+, 0 -> 3.5/3; drop exactly 1 (not exact in floating point)
    assert mas_response(["3", "2", "1+"], ["2", "1+", "0"]) is True
    assert mas_response(["3", "2", "1+"], ["2", "1+", "1"]) is False  # drop 2/3


def test_mas_response_negative_just_below_one_point() -> None:
    # before: 3, 2 -> 2.5; after: 2, 1+ -> 1.75; drop 0.75
    assert mas_response(["3", "2"], ["2", "1+"]) is False


def test_mas_response_one_plus_to_zero_is_a_drop_of_one_and_a_half() -> None:
    assert mas_response(["1+"], ["0"]) is True
    assert mas_response(["1+"], ["1"]) is False


def test_mas_response_worsening_is_negative() -> None:
    assert mas_response(["1"], ["3"]) is False


def test_mas_response_with_a_custom_drop() -> None:
    assert mas_response(["3", "2"], ["2", "1+"], min_drop=0.75) is True
    assert mas_response(["3", "2"], ["2", "1+"], min_drop=0.8) is False


def test_mas_response_needs_the_same_muscles() -> None:
    with pytest.raises(InvalidInput) as e:
        mas_response(["3", "2"], ["1"])
    assert fields_of(e.value) == ["after"]
    assert str(e.value) == "after: must grade the same muscles as before (2), got 1"


def test_mas_response_reports_bad_grades_on_both_sides_and_the_drop() -> None:
    with pytest.raises(InvalidInput) as e:
        mas_response(["3", 1.5], ["x"], min_drop=0)
    assert fields_of(e.value) == ["before[1]", "after[0]", "min_drop"]


def test_mas_response_of_nothing_is_refused() -> None:
    with pytest.raises(InvalidInput) as e:
        mas_response([], [])
    assert fields_of(e.value) == ["before", "after"]


# -- Tardieu -----------------------------------------------------------------------------------
# Sources: the Tardieu scale's scoring sheet (grades 0-5, "5 Joint is immovable"; a hamstrings
# example scored at -70 deg of knee extension), as reproduced in the physiobase.com thread
# "Measuring spasticity"; Gracies et al., Front. Neurol. 2023;14:1108535, "Brief history" (angles
# from each muscle's zero, its position of minimal stretch); Boyd and Graham 1999 (R1, R2); Choi et
# al., Gait Posture 2018;64:255 and Ansari et al., Brain Inj. 2008;22:1007 (R2 - R1, the dynamic
# component); shared/domain.md, "Scales used in clinic".


def test_tardieu_quality_is_the_published_scale_0_to_5() -> None:
    """Scoring sheet (physiobase.com, "Measuring spasticity", "Scoring"): 0 no resistance ... 5 joint
    immovable; domain.md: "0-5 in the published scale (some forms stop at 4)"."""
    assert sorted(TARDIEU_QUALITY) == [0, 1, 2, 3, 4, 5]
    assert [Tardieu(x, 10, 40).quality for x in range(6)] == [0, 1, 2, 3, 4, 5]
    assert Tardieu(5, 20, 20).reaction == "joint immobile"
    assert "no resistance" in TARDIEU_QUALITY[0]
    assert "no clear catch" in TARDIEU_QUALITY[1]
    assert "catch at a precise angle" in TARDIEU_QUALITY[2] and "release" in TARDIEU_QUALITY[2]
    assert "fatigable clonus" in TARDIEU_QUALITY[3] and "less than 10 s" in TARDIEU_QUALITY[3]
    assert "infatigable clonus" in TARDIEU_QUALITY[4] and "more than 10 s" in TARDIEU_QUALITY[4]
    for bad in (6, -1, 2.0, True, "3", None):
        with pytest.raises(InvalidInput) as e:
            Tardieu(bad, 10, 40)  # type: ignore[arg-type]
        assert fields_of(e.value) == ["tardieu.quality"]
        assert "0 to 5" in str(e.value)


def test_tardieu_angles_are_signed_from_the_joint_zero_position() -> None:
    """Gracies et al. 2023, "Brief history": angles are measured from each muscle's zero, its position
    of minimal stretch; the scoring sheet's hamstrings example is scored at -70 deg of extension;
    domain.md: R1 and R2 "may be negative (short of neutral)"."""
    ankle = Tardieu(2, r1_deg=-10, r2_deg=5)  # catch at 10 deg of plantar flexion, dorsiflexes to +5 deg
    assert (ankle.r1_deg, ankle.r2_deg) == (-10, 5)
    knee = Tardieu(2, r1_deg=-70, r2_deg=-50)  # the sheet's hamstrings example
    assert knee.dynamic_component_deg == 20
    assert Tardieu(4, MIN_ANGLE_DEG, MAX_ANGLE_DEG).dynamic_component_deg == 360
    assert (MIN_ANGLE_DEG, MAX_ANGLE_DEG) == (-180.0, 180.0)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"r1_deg": -180.5}, "tardieu.r1_deg"),
        ({"r2_deg": 180.5}, "tardieu.r2_deg"),
        ({"r2_deg": 1000}, "tardieu.r2_deg"),
        ({"r2_deg": float("nan")}, "tardieu.r2_deg"),
        ({"r2_deg": float("inf")}, "tardieu.r2_deg"),
        ({"r1_deg": float("-inf")}, "tardieu.r1_deg"),
        ({"r1_deg": "70"}, "tardieu.r1_deg"),
        ({"r1_deg": None}, "tardieu.r1_deg"),
        ({"r1_deg": True}, "tardieu.r1_deg"),
    ],
)
def test_tardieu_angles_beyond_half_a_turn_or_not_numbers_are_refused_naming_the_field(
    kwargs: dict[str, object], field: str
) -> None:
    """A goniometer read from the zero position turns at most 180 deg either way (MIN_ANGLE_DEG,
    MAX_ANGLE_DEG); a value that is not a finite number is not an angle."""
    values: dict[str, object] = {"quality": 2, "r1_deg": -10, "r2_deg": 5, **kwargs}
    with pytest.raises(InvalidInput) as e:
        Tardieu(**values)  # type: ignore[arg-type]
    assert fields_of(e.value) == [field]
    assert "from -180 to 180 degrees from the joint's zero position" in str(e.value)


def test_tardieu_r1_is_within_r2_on_the_signed_scale() -> None:
    """The fast stretch is stopped by the catch within the range the slow stretch reaches (R1 = angle
    of catch, R2 = passive range: Boyd and Graham 1999; Choi et al. 2018): with angles signed in the
    direction of the stretch, R1 <= R2, negative angles included; R1 = R2 is no dynamic part."""
    assert Tardieu(2, -30, -30).dynamic_component_deg == 0
    assert Tardieu(5, -15, -15).dynamic_component_deg == 0  # a joint that does not move
    with pytest.raises(InvalidInput, match=r"tardieu.r1_deg: must be <= R2 .*got R1 120 > R2 90"):
        Tardieu(1, 120, 90)
    with pytest.raises(InvalidInput, match=r"got R1 -5 > R2 -20"):
        Tardieu(2, -5, -20)  # catch at -5 deg cannot lie beyond a range that ends at -20 deg


def test_tardieu_dynamic_component_is_r2_minus_r1() -> None:
    """R2 - R1 is the dynamic component of spasticity (Choi et al., Gait Posture 2018; Ansari et al.,
    Brain Inj. 2008), computed from the signed angles."""
    assert Tardieu(quality=2, r1_deg=70, r2_deg=150).spasticity_angle == 80
    assert Tardieu(2, -10, 5).dynamic_component_deg == 15
    assert Tardieu(3, -40, 0).dynamic_component_deg == 40
    assert Tardieu(2, -10, 5).record() == {"quality": 2, "r1_deg": -10, "r2_deg": 5, "dynamic_component_deg": 15}


def test_tardieu_reports_every_problem_at_once() -> None:
    with pytest.raises(InvalidInput) as e:
        Tardieu(9, -181, 200)
    assert fields_of(e.value) == ["tardieu.quality", "tardieu.r1_deg", "tardieu.r2_deg"]


def test_tardieu_assessment_record_stores_the_published_scale_with_the_dynamic_component() -> None:
    """The form assessments are entered in (API ``POST /api/patients/{id}/assessments``): quality 0-5
    and signed angles accepted, R2 - R1 stored with them (Choi et al. 2018; domain.md)."""
    stored = assessment_record(
        "tardieu",
        {
            "soleus": {"quality": 5, "r1_deg": -10, "r2_deg": -10},
            "hamstrings": {"quality": 2, "r1_deg": -70, "r2_deg": -50},
        },
    )
    assert stored == {
        "soleus": {"quality": 5, "r1_deg": -10, "r2_deg": -10, "dynamic_component_deg": 0},
        "hamstrings": {"quality": 2, "r1_deg": -70, "r2_deg": -50, "dynamic_component_deg": 20},
    }
    again = assessment_record("tardieu", {"hamstrings": stored["hamstrings"]})  # a stored record reads back
    assert again == {"hamstrings": stored["hamstrings"]}


def test_tardieu_assessment_record_names_the_muscle_and_field_of_each_problem() -> None:
    with pytest.raises(InvalidInput) as e:
        assessment_record(
            "tardieu",
            {
                "soleus": {"quality": 6, "r1_deg": float("nan"), "r2_deg": 5},
                "hamstrings": {"quality": 2, "r1": -70, "r2_deg": -50},
                "elbow": 3,
            },
        )
    assert fields_of(e.value) == [
        "data.soleus.quality",
        "data.soleus.r1_deg",
        "data.hamstrings.r1",
        "data.hamstrings.r1_deg",
        "data.elbow",
    ]
    message = str(e.value)
    assert "data.hamstrings.r1_deg: is required" in message
    assert "data.hamstrings.r1: unknown field" in message
    with pytest.raises(InvalidInput, match=r"^data: measure at least one muscle group$"):
        assessment_record("tardieu", {})


# -- GMFCS -------------------------------------------------------------------------------------


def test_gmfcs_levels() -> None:
    assert [(g.roman, int(g)) for g in GMFCS] == [("I", 1), ("II", 2), ("III", 3), ("IV", 4), ("V", 5)]
    assert GMFCS.I < GMFCS.V


@pytest.mark.parametrize(
    ("value", "level"),
    [
        ("I", GMFCS.I),
        ("II", GMFCS.II),
        ("III", GMFCS.III),
        ("IV", GMFCS.IV),
        ("V", GMFCS.V),
        ("iv", GMFCS.IV),
        (" iii ", GMFCS.III),
        (1, GMFCS.I),
        (5, GMFCS.V),
        ("3", GMFCS.III),
        (GMFCS.II, GMFCS.II),
    ],
)
def test_parse_gmfcs_accepts_roman_and_numbers(value: object, level: GMFCS) -> None:
    assert parse_gmfcs(value, "gmfcs") is level


@pytest.mark.parametrize("value", [0, 6, "VI", "IIII", "", 2.0, True, None, "level II"])
def test_parse_gmfcs_refuses_anything_else_naming_the_field(value: object) -> None:
    with pytest.raises(InvalidInput) as e:
        parse_gmfcs(value, "patient.gmfcs")
    assert fields_of(e.value) == ["patient.gmfcs"]
    assert str(e.value).startswith("patient.gmfcs: must be a GMFCS level: I, II, III, IV or V (or 1 to 5), got ")


# -- Goal Attainment Scaling -------------------------------------------------------------------


def test_gas_rho_follows_domain_md() -> None:
    assert GAS_RHO == 0.3


def test_gas_all_goals_met_as_expected_is_50() -> None:
    goals = [Goal("easier dressing", 1, 0), Goal("less pain from spasms", 2, 0), Goal("looser hamstrings", 3, 0)]
    assert gas_t_score(goals) == 50


@pytest.mark.parametrize(("score", "t"), [(-2, 30), (-1, 40), (0, 50), (1, 60), (2, 70)])
def test_gas_single_goal_is_50_plus_10x_whatever_the_weight(score: int, t: float) -> None:
    assert gas_t_score([Goal("sit in the wheelchair", 3.5, score)]) == pytest.approx(t)


def test_gas_hand_checked_equal_weights() -> None:
    # Σwx = 1 + 2 = 3; Σw² = 2; (Σw)² = 4; 0.7·2 + 0.3·4 = 2.6; T = 50 + 30/√2.6 = 68.6052...
    goals = [Goal("easier diaper changes", 1, 1), Goal("fewer night spasms", 1, 2)]
    assert gas_t_score(goals) == pytest.approx(50 + 30 / math.sqrt(2.6))
    assert gas_t_score(goals) == pytest.approx(68.6052, abs=1e-4)


def test_gas_hand_checked_weighted_goals() -> None:
    # Σwx = 2·1 + 1·(−1) + 3·0 = 1; Σw² = 4 + 1 + 9 = 14; Σw = 6 -> 36
    # 0.7·14 + 0.3·36 = 9.8 + 10.8 = 20.6; T = 50 + 10/√20.6 = 52.2033...
    goals = [Goal("walk 10 m with a walker", 2, 1), Goal("less pain", 1, -1), Goal("easier dressing", 3, 0)]
    assert gas_t_score(goals) == pytest.approx(52.2033, abs=1e-4)


def test_gas_rho_zero() -> None:
    # ρ = 0: T = 50 + 10·Σwx/√Σw² = 50 + 10·2/√2
    goals = [Goal("a", 1, 1), Goal("b", 1, 1)]
    assert gas_t_score(goals, rho=0) == pytest.approx(50 + 20 / math.sqrt(2))


def test_gas_accepts_a_generator() -> None:
    assert gas_t_score(Goal(str(i), 1, 0) for i in range(3)) == 50


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"weight": 0}, "goal.weight"),
        ({"weight": -1}, "goal.weight"),
        ({"weight": float("inf")}, "goal.weight"),
        ({"weight": "2"}, "goal.weight"),
        ({"score": 3}, "goal.score"),
        ({"score": -3}, "goal.score"),
        ({"score": 1.0}, "goal.score"),
        ({"score": True}, "goal.score"),
        ({"description": "  "}, "goal.description"),
        ({"description": None}, "goal.description"),
    ],
)
def test_goal_refuses_bad_values_naming_the_field(kwargs: dict[str, object], field: str) -> None:
    values: dict[str, object] = {"description": "easier care", "weight": 1, "score": 0, **kwargs}
    with pytest.raises(InvalidInput) as e:
        Goal(**values)  # type: ignore[arg-type]
    assert fields_of(e.value) == [field]


def test_goal_weight_may_be_fractional() -> None:
    assert Goal("easier care", 0.5, -2).weight == 0.5


def test_gas_without_goals_is_refused() -> None:
    with pytest.raises(InvalidInput) as e:
        gas_t_score([])
    assert str(e.value) == "goals: needs at least one goal"


@pytest.mark.parametrize("rho", [-0.1, 1, 1.5, float("nan"), "0.3"])
def test_gas_refuses_a_bad_rho(rho: object) -> None:
    with pytest.raises(InvalidInput) as e:
        gas_t_score([Goal("a", 1, 0)], rho=rho)  # type: ignore[arg-type]
    assert fields_of(e.value) == ["rho"]


def test_gas_refuses_something_that_is_not_a_goal() -> None:
    with pytest.raises(InvalidInput) as e:
        gas_t_score([Goal("a", 1, 0), ("b", 1, 1)])  # type: ignore[list-item]
    assert fields_of(e.value) == ["goals[1]"]
