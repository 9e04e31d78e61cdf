"""What to do before and after an MRI scan, by how the pump reacts to the magnet.

Source: ``shared/domain.md``, "The pump" (MRI rows) and the seed ("an MRI can stop the pump's
motor, so the pump must be checked after"):

- *peristaltic pump* (SynchroMed II-like): the magnet stalls the motor and infusion stops for the
  scan; it should resume after, but a 2-24 h delay has been reported; the stall is logged and may
  sound the critical alarm; the clinic interrogates the pump afterwards to confirm recovery; never
  program "stopped" before an MRI.
- *valve-gated pump* (Prometra II-like): empty the reservoir and set the dose to zero before the
  scan; a flow-activated safety valve shuts after about 10 uL of unexpected flow and stays shut
  until reset.

The device manuals add (each rule below is a named constant with its document and section):

- ``SYNCHROMED_II_MRI`` and ``PROMETRA_II_MRI``: the field strengths each pump's MRI labelling
  covers. A planned scan's field strength (``field_strength_t``, optional) outside them is a warning
  naming the manual's condition; a missing one is a reminder to check the scanner against the manual.
  Medtronic's 2008 device correction for SynchroMed II said ">1.5 T not established"; its current MRI
  guidelines (2020) cover 1.5 T and 3.0 T horizontal closed-bore scanners, and those are followed here.
- ``VALVE_GATED_DRUG_FREE_DECISION``: for the valve-gated pump (reservoir emptied, dose zero, valve shut
  until reset) the physician decides before the scan whether the patient can go without the drug until
  the reset; if not, an alternative route must be planned.
- ``PERISTALTIC_DRUG_FREE_DECISION``: the same decision for the motor-stall pump, for the scan's length.

The plan is a checklist in words for the clinic; the dose is not changed here. Pure: nothing is
imported from the rest of ``itb``; any object with the attributes of ``MriDevice`` will do (e.g.
``itb.domain.devices.DeviceModel``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from itb.domain.errors import InvalidInput, Violation, bound_violation

#: ``MriBehaviour`` values of ``itb.domain.devices`` (a test checks that they match)
MOTOR_STALL = "motor_stall"
SAFETY_VALVE = "safety_valve"

_WITHDRAWAL_SIGNS = "itching without rash, fever, return of stiffness, heavy sweating, confusion"


@dataclass(frozen=True, slots=True)
class MriFieldCondition:
    """The static field strengths (and the scanner kind) a pump's MRI labelling covers, from its manual."""

    device: str
    #: the nominal static field strengths the manual names, in tesla
    field_strengths_t: tuple[float, ...]
    #: the kind of scanner the manual names ("" when it names none)
    scanner: str
    #: the manual's further limits, in words (SAR, spatial gradient): checked by the MRI team, not here
    other_limits: str
    #: the manual: document, then section
    source: str

    def describe(self) -> str:
        """The condition in words, e.g. "SynchroMed II ... is MR Conditional at 1.5 T or 3 T only (...)"."""
        fields = " or ".join(f"{t:g} T" for t in self.field_strengths_t)
        kind = f", {self.scanner} scanners" if self.scanner else ""
        return f"{self.device} is MR Conditional at {fields} only{kind}; {self.other_limits} ({self.source})"


#: SynchroMed II: Medtronic, "MRI guidelines for Medtronic implantable infusion systems 8637 8472" (2020-05-01),
#: section "MRI information for Model 8637-20 and 8637-40 SynchroMed II pumps": MR Conditional in 1.5 T and 3.0 T
#: horizontal closed-bore scanners, within the manual's SAR (Normal Operating Mode) and spatial-gradient limits.
#: (Medtronic's August 2008 Urgent Medical Device Correction said: no MRI in scanners above 1.5 T; superseded.)
#: Only the 2020 guideline's title and contents page could be read while writing this: check the field strengths
#: and the SAR and spatial-gradient numbers against the current guideline (a clinic may pass its own conditions).
SYNCHROMED_II_MRI = MriFieldCondition(
    device="SynchroMed II (Model 8637)",
    field_strengths_t=(1.5, 3.0),
    scanner="horizontal closed-bore",
    other_limits="keep within the manual's SAR (Normal Operating Mode) and spatial-gradient limits",
    source="Medtronic, MRI guidelines for Medtronic implantable infusion systems 8637 8472, 2020-05-01, "
    "'MRI information for Model 8637-20 and 8637-40 SynchroMed II pumps'",
)
#: Prometra II: Flowonix, "Prometra 20 mL (REF 11827), Prometra II 20 mL (REF 13827) and Prometra II 40 mL
#: (REF 16827) Programmable Pumps Magnetic Resonance Imaging (MRI) Safety Information", PL-21604-02 (January
#: 2020), "Scanning parameters": "The MRI device has a static magnetic field of 1.5 Tesla" and "a maximum spatial
#: gradient field of 2,000 Gauss/cm (20 T/m) at 1.5 Tesla", with the pump emptied and set to 0.0 mg/day.
PROMETRA_II_MRI = MriFieldCondition(
    device="Prometra II (REF 13827, 16827)",
    field_strengths_t=(1.5,),
    scanner="",
    other_limits="maximum spatial gradient field 2,000 gauss/cm (20 T/m) at 1.5 T, and the manual's SAR limit; "
    "the pump emptied and programmed to 0.0 mg/day",
    source="Flowonix, Prometra and Prometra II Programmable Pumps MRI Safety Information, PL-21604-02, "
    "January 2020, 'Scanning parameters'",
)
#: The field conditions by MRI behaviour (the device models are "like" these pumps; a clinic may pass its own).
MRI_FIELD_CONDITIONS: dict[str, MriFieldCondition] = {MOTOR_STALL: SYNCHROMED_II_MRI, SAFETY_VALVE: PROMETRA_II_MRI}
#: A scanner matches a labelled field strength within this many tesla (clinic setting, unverified: scanners are
#: sold by nominal field; some "3 T" systems run at 2.89 T).
FIELD_STRENGTH_MATCH_T = 0.15
#: Field strengths above this are refused as input errors (the strongest human MRI scanners are 11.7 T).
MAX_FIELD_STRENGTH_T = 12.0

#: Valve-gated pump: Flowonix, Prometra MRI Safety Information (PL-21604-02), "General": "Prior to initiating the
#: MRI procedure, the physician must determine if the patient can safely be deprived of medication ... If
#: medication is needed, then alternate means of drug delivery ... should be employed" and "IF SUSPENDING
#: INTRATHECAL DRUG THERAPY, ALTERNATIVE DRUG THERAPY ADMINISTRATION ROUTES (E.G., ORAL OR INTRAVENOUS) MAY BE
#: NECESSARY"; Lioresal Intrathecal prescribing information, WARNINGS: oral baclofen alone should not be relied
#: upon to halt an intrathecal baclofen withdrawal. Here the drug-free time runs until the valve is reset.
VALVE_GATED_DRUG_FREE_DECISION = (
    "The physician decides, before the reservoir is emptied, whether the patient can go without baclofen "
    "until the safety valve is reset and the pump refilled and reprogrammed; if not, an alternative route must "
    "be planned and in place for that time (e.g. oral or enteral baclofen, or a temporary intrathecal route), "
    "remembering that oral baclofen alone may not stop an intrathecal baclofen withdrawal (Prometra MRI Safety "
    "Information, General; Lioresal Intrathecal label, WARNINGS)."
)
#: Peristaltic pump: Medtronic, SynchroMed II MRI information (Urgent Medical Device Correction, August 2008):
#: "Prior to MRI, the implanting or follow-up physician should determine if the patient can safely be deprived
#: of drug delivery. If the patient cannot be safely deprived of drug delivery, alternative delivery methods for
#: the drug can be utilized during the time required for the MRI scan."
PERISTALTIC_DRUG_FREE_DECISION = (
    "The physician decides before the scan whether the patient can safely go without drug delivery while the "
    "motor is stalled; if not, plan an alternative delivery method for the scan (Medtronic, SynchroMed II MRI "
    "information)."
)


class MriDevice(Protocol):
    """What the MRI plan needs to know about a pump model."""

    @property
    def name(self) -> str: ...

    @property
    def mri(self) -> str: ...

    @property
    def safety_valve_closure_ml(self) -> float: ...


@dataclass(frozen=True, slots=True)
class MriPlan:
    """Steps in order, before and after the scan, and what to watch for."""

    before: tuple[str, ...]
    after: tuple[str, ...]
    #: the pump must be interrogated after the scan (true for every pump in ``domain.md``)
    check_needed: bool
    warnings: tuple[str, ...]
    #: the planned scanner's field strength (None: not given)
    field_strength_t: float | None = None
    #: "within", "outside" or "unknown" (no field strength given) the manual's field condition
    field_check: str = "unknown"
    #: the manual's field condition in words, with its source
    field_condition: str = ""


def mri_plan(
    model: MriDevice,
    reservoir_ml: float,
    daily_dose_mcg: float,
    field_strength_t: float | None = None,
    *,
    conditions: dict[str, MriFieldCondition] = MRI_FIELD_CONDITIONS,
    match_t: float = FIELD_STRENGTH_MATCH_T,
) -> MriPlan:
    """The checklist around an MRI for ``model``, holding ``reservoir_ml`` and giving ``daily_dose_mcg``, on a
    scanner of ``field_strength_t`` tesla (None: not known yet, and the plan reminds to check it)."""
    problems = [
        v
        for v in (
            bound_violation("reservoir_ml", reservoir_ml, minimum=0, required=True),
            bound_violation("daily_dose_mcg", daily_dose_mcg, minimum=0, required=True),
            bound_violation("field_strength_t", field_strength_t, minimum=0, strict=True, maximum=MAX_FIELD_STRENGTH_T),
        )
        if v
    ]
    behaviour = str(model.mri)
    if behaviour not in (MOTOR_STALL, SAFETY_VALVE):
        problems.append(Violation("model.mri", f"unknown MRI behaviour {behaviour!r}: ask the manufacturer"))
    if problems:
        raise InvalidInput(problems)
    hourly = daily_dose_mcg / 24
    if behaviour == SAFETY_VALVE:
        plan = _valve_gated(model, reservoir_ml, daily_dose_mcg, hourly)
    else:
        plan = _peristaltic(reservoir_ml, daily_dose_mcg, hourly)
    condition = conditions.get(behaviour)
    return plan if condition is None else _with_field_check(plan, condition, field_strength_t, match_t)


def field_check(condition: MriFieldCondition, field_strength_t: float | None, match_t: float) -> str:
    """Whether a scanner of ``field_strength_t`` tesla is "within" or "outside" ``condition`` ("unknown": None)."""
    if field_strength_t is None:
        return "unknown"
    within = any(abs(field_strength_t - t) <= match_t for t in condition.field_strengths_t)
    return "within" if within else "outside"


def _with_field_check(
    plan: MriPlan, condition: MriFieldCondition, field_strength_t: float | None, match_t: float
) -> MriPlan:
    check = field_check(condition, field_strength_t, match_t)
    described = condition.describe()
    before = (f"Check the scanner against the pump's MRI conditions: {described}.", *plan.before)
    warnings = list(plan.warnings)
    if check == "unknown":
        warnings.insert(
            0,
            "The scanner's field strength is not given: check the scanner against the manual before the scan "
            f"({described}).",
        )
    elif check == "outside":
        warnings.insert(
            0,
            f"The planned scanner ({field_strength_t:g} T) is outside the manual's MRI conditions: {described}. "
            "Do not scan on it: book a scanner within the conditions.",
        )
    return MriPlan(before, plan.after, plan.check_needed, tuple(warnings), field_strength_t, check, described)


def _valve_gated(model: MriDevice, reservoir_ml: float, dose: float, hourly: float) -> MriPlan:
    valve_ul = model.safety_valve_closure_ml * 1000
    before = (
        "Interrogate the pump; note the program, the concentration and the reservoir volume, to restore them after.",
        "Record the physician's decision: can the patient go without baclofen until the valve is reset? If not, "
        "put the alternative route in place before the reservoir is emptied.",
        f"Empty the reservoir: withdraw all the drug (about {reservoir_ml:g} mL expected) and record the volume "
        "withdrawn.",
        "Program the dose to zero (0 mcg/day).",
        "Scan only once the reservoir is empty and the dose is zero (domain.md: required before an MRI for this pump).",
    )
    after = (
        f"Reset the safety valve with the programmer: it shuts after about {valve_ul:g} uL of unexpected flow and "
        "stays shut until reset; no drug flows while it is shut.",
        "Refill the reservoir with fresh drug (never past its size).",
        f"Reprogram the prescribed dose ({dose:g} mcg/day) and check it on the programmer's printout.",
        "Interrogate the pump to confirm the valve is open and the program is running.",
    )
    warnings = []
    if dose > 0:
        warnings.append(
            f"No baclofen is given from emptying the reservoir until the pump is refilled and reprogrammed "
            f"({hourly:.3g} mcg missed each hour at {dose:g} mcg/day): keep this time short and watch for "
            f"withdrawal signs ({_WITHDRAWAL_SIGNS})."
        )
        warnings.append(VALVE_GATED_DRUG_FREE_DECISION)
    warnings.append("Book the refill and reprogramming right after the scan, before the patient goes home.")
    return MriPlan(before, after, True, tuple(warnings))


def _peristaltic(reservoir_ml: float, dose: float, hourly: float) -> MriPlan:
    before = (
        f"Interrogate the pump; note the program and the reservoir volume ({reservoir_ml:g} mL expected).",
        "Do NOT program the pump to 'stopped' before the scan: leave the program as it is (domain.md: never "
        "program 'stopped' before an MRI).",
        "Tell the MRI team that the magnet stalls the pump's motor: infusion stops for the scan, the stall is "
        "logged, and the pump may sound its critical (two-tone) alarm.",
    )
    after = (
        "Interrogate the pump after the scan to confirm the motor has recovered and the infusion has resumed.",
        "If it has not recovered yet, interrogate again later: recovery 2-24 h after the scan has been reported; "
        "until it recovers no drug flows, so keep the patient under watch and call the ITB team.",
        "Once the motor runs, clear the alarm and note the motor stall from the pump's log in the record.",
    )
    warnings = [
        "A critical (two-tone) alarm after the scan means drug is not flowing: interrogate the pump at once.",
    ]
    if dose > 0:
        warnings.insert(
            0,
            f"Infusion stops for the scan and may take up to 24 h to resume: {hourly:.3g} mcg is missed for each "
            f"hour without flow at {dose:g} mcg/day; watch for withdrawal signs ({_WITHDRAWAL_SIGNS}) until the "
            "pump is confirmed running.",
        )
        warnings.insert(1, PERISTALTIC_DRUG_FREE_DECISION)
    return MriPlan(before, after, True, tuple(warnings))
