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


def mri_plan(model: MriDevice, reservoir_ml: float, daily_dose_mcg: float) -> MriPlan:
    """The checklist around an MRI for ``model``, holding ``reservoir_ml`` and giving ``daily_dose_mcg``."""
    problems = [
        v
        for v in (
            bound_violation("reservoir_ml", reservoir_ml, minimum=0, required=True),
            bound_violation("daily_dose_mcg", daily_dose_mcg, minimum=0, required=True),
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
        return _valve_gated(model, reservoir_ml, daily_dose_mcg, hourly)
    return _peristaltic(reservoir_ml, daily_dose_mcg, hourly)


def _valve_gated(model: MriDevice, reservoir_ml: float, dose: float, hourly: float) -> MriPlan:
    valve_ul = model.safety_valve_closure_ml * 1000
    before = (
        "Interrogate the pump; note the program, the concentration and the reservoir volume, to restore them after.",
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
    return MriPlan(before, after, True, tuple(warnings))
