"""The MRI plan's device-manual rules (``itb.domain.mri``): the field strengths each pump's MRI labelling
covers, and who decides the time without drug.

Sources: Medtronic, MRI guidelines for Medtronic implantable infusion systems 8637 8472 (2020-05-01), "MRI
information for Model 8637-20 and 8637-40 SynchroMed II pumps", and its August 2008 Urgent Medical Device
Correction; Flowonix, Prometra and Prometra II Programmable Pumps MRI Safety Information, PL-21604-02
(January 2020), "General" and "Scanning parameters"; Lioresal Intrathecal prescribing information, WARNINGS.
"""

from __future__ import annotations

import pytest

from itb.domain.devices import PERISTALTIC, VALVE_GATED
from itb.domain.errors import InvalidInput
from itb.domain.mri import (
    FIELD_STRENGTH_MATCH_T,
    MAX_FIELD_STRENGTH_T,
    MOTOR_STALL,
    MRI_FIELD_CONDITIONS,
    PERISTALTIC_DRUG_FREE_DECISION,
    PROMETRA_II_MRI,
    SAFETY_VALVE,
    SYNCHROMED_II_MRI,
    VALVE_GATED_DRUG_FREE_DECISION,
    mri_plan,
)


@pytest.mark.parametrize(
    ("tesla", "check"),
    [(1.5, "within"), (3.0, "within"), (2.89, "within"), (0.55, "outside"), (7.0, "outside"), (2.0, "outside")],
)
def test_synchromed_ii_mri(tesla: float, check: str) -> None:
    """``SYNCHROMED_II_MRI``: the peristaltic pump is MR Conditional in 1.5 T and 3.0 T horizontal closed-bore
    scanners (within the manual's SAR limits); any other field strength is a warning naming that condition.

    Source: Medtronic, MRI guidelines for Medtronic implantable infusion systems 8637 8472 (2020-05-01), "MRI
    information for Model 8637-20 and 8637-40 SynchroMed II pumps".
    """
    assert MRI_FIELD_CONDITIONS[MOTOR_STALL] is SYNCHROMED_II_MRI
    assert SYNCHROMED_II_MRI.field_strengths_t == (1.5, 3.0)
    assert SYNCHROMED_II_MRI.scanner == "horizontal closed-bore"
    plan = mri_plan(PERISTALTIC, 15, 600, tesla)
    assert (plan.field_strength_t, plan.field_check) == (tesla, check)
    assert plan.before[0].startswith("Check the scanner against the pump's MRI conditions: SynchroMed II")
    assert "SAR" in plan.field_condition and "horizontal closed-bore" in plan.field_condition
    outside = [w for w in plan.warnings if "outside the manual's MRI conditions" in w]
    if check == "outside":
        (warning,) = outside
        assert warning.startswith(f"The planned scanner ({tesla:g} T)")
        assert "MR Conditional at 1.5 T or 3 T only" in warning
        assert "MRI guidelines for Medtronic implantable infusion systems 8637 8472" in warning
    else:
        assert outside == []


@pytest.mark.parametrize(("tesla", "check"), [(1.5, "within"), (3.0, "outside"), (1.0, "outside")])
def test_prometra_ii_mri(tesla: float, check: str) -> None:
    """``PROMETRA_II_MRI``: the valve-gated pump's MRI labelling covers a static field of 1.5 T (spatial
    gradient at most 2,000 gauss/cm, 20 T/m), emptied and at 0.0 mg/day; 3 T is outside.

    Source: Flowonix, Prometra and Prometra II MRI Safety Information, PL-21604-02 (January 2020), "Scanning
    parameters" ("The MRI device has a static magnetic field of 1.5 Tesla").
    """
    assert MRI_FIELD_CONDITIONS[SAFETY_VALVE] is PROMETRA_II_MRI
    assert PROMETRA_II_MRI.field_strengths_t == (1.5,)
    plan = mri_plan(VALVE_GATED, 12.5, 480, tesla)
    assert plan.field_check == check
    assert "20 T/m" in plan.field_condition and "PL-21604-02" in plan.field_condition
    assert any("outside" in w and "Prometra II" in w for w in plan.warnings) is (check == "outside")


@pytest.mark.parametrize("model", [PERISTALTIC, VALVE_GATED], ids=["peristaltic", "valve-gated"])
def test_missing_field_strength_reminds_to_check_the_scanner(model) -> None:
    """No field strength given: the plan's first warning reminds to check the scanner against the manual, and
    names the manual's condition (the same rules, ``SYNCHROMED_II_MRI`` / ``PROMETRA_II_MRI``)."""
    plan = mri_plan(model, 10, 300)
    assert (plan.field_strength_t, plan.field_check) == (None, "unknown")
    assert plan.warnings[0].startswith("The scanner's field strength is not given: check the scanner against")
    assert MRI_FIELD_CONDITIONS[str(model.mri)].source in plan.warnings[0]


def test_field_strength_match_t() -> None:
    """``FIELD_STRENGTH_MATCH_T`` (0.15 T, a clinic setting): scanners are sold by nominal field (some "3 T"
    systems run at 2.89 T); a stricter clinic passes its own."""
    assert FIELD_STRENGTH_MATCH_T == 0.15
    assert mri_plan(PERISTALTIC, 15, 600, 2.89).field_check == "within"
    assert mri_plan(PERISTALTIC, 15, 600, 2.89, match_t=0.01).field_check == "outside"


@pytest.mark.parametrize("bad", [-1, 0, float("nan"), float("inf"), 12.5, 1e308, True, "3"], ids=repr)
def test_max_field_strength_t(bad: object) -> None:
    """``MAX_FIELD_STRENGTH_T`` (12 T; the strongest human scanners are 11.7 T): a field strength must be a
    finite number above 0 and at most this; anything else is refused, naming the field."""
    assert MAX_FIELD_STRENGTH_T == 12.0
    assert mri_plan(PERISTALTIC, 15, 600, 12.0).field_check == "outside"
    with pytest.raises(InvalidInput, match="field_strength_t"):
        mri_plan(PERISTALTIC, 15, 600, bad)  # type: ignore[arg-type]


def test_valve_gated_drug_free_decision() -> None:
    """``VALVE_GATED_DRUG_FREE_DECISION``: with the reservoir emptied, the dose at zero and the valve shut until
    reset, the physician decides whether the patient can go without drug until the reset; else an alternative
    route (oral or enteral baclofen, a temporary intrathecal route) is planned; oral baclofen alone may not
    stop an intrathecal withdrawal. Shown in the plan's warnings and recorded before the reservoir is emptied.

    Source: Flowonix, Prometra MRI Safety Information, PL-21604-02 (January 2020), "General" ("the physician
    must determine if the patient can safely be deprived of medication ... alternate means of drug delivery";
    "ALTERNATIVE DRUG THERAPY ADMINISTRATION ROUTES (E.G., ORAL OR INTRAVENOUS) MAY BE NECESSARY"); Lioresal
    Intrathecal prescribing information, WARNINGS.
    """
    plan = mri_plan(VALVE_GATED, 12.5, 480, 1.5)
    assert VALVE_GATED_DRUG_FREE_DECISION in plan.warnings
    assert "until the safety valve is reset" in VALVE_GATED_DRUG_FREE_DECISION
    assert "oral or enteral baclofen, or a temporary intrathecal route" in VALVE_GATED_DRUG_FREE_DECISION
    decision = next(i for i, step in enumerate(plan.before) if step.startswith("Record the physician's decision"))
    empty = next(i for i, step in enumerate(plan.before) if step.startswith("Empty the reservoir"))
    assert decision < empty
    assert VALVE_GATED_DRUG_FREE_DECISION not in mri_plan(VALVE_GATED, 0, 0, 1.5).warnings  # no drug, no decision


def test_peristaltic_drug_free_decision() -> None:
    """``PERISTALTIC_DRUG_FREE_DECISION``: the motor stalls for the scan, so the physician decides whether the
    patient can go without drug for it; else an alternative delivery method.

    Source: Medtronic, SynchroMed II MRI information (Urgent Medical Device Correction, August 2008): "Prior to
    MRI, the implanting or follow-up physician should determine if the patient can safely be deprived of drug
    delivery."
    """
    assert PERISTALTIC_DRUG_FREE_DECISION in mri_plan(PERISTALTIC, 15, 600, 3.0).warnings
    assert PERISTALTIC_DRUG_FREE_DECISION not in mri_plan(PERISTALTIC, 15, 0, 3.0).warnings
