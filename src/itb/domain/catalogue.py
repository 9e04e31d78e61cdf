"""The device catalogue: the pump products a clinic records, by the codes the import uses.

Each product names its kind (peristaltic, valve-gated, constant-flow), its reservoir sizes, and
the simulator's generic model that behaves like it (``itb.domain.devices``), with its source.
Codes are those of ``shared/spec/clinic-import.md``: at least ``synchromed-ii``, ``prometra-ii``
and ``constant-flow``; the real constant-flow products are extra codes that behave, everywhere
the generic ``constant-flow`` code does, as a pump with no electronics. Pure data: no I/O.

Every number is the source's or None. The device facts a product holds (tubing volume, catheter
mL/cm, alarm default, accuracy) are copied from its generic model where it has one, so the
catalogue and the simulator never disagree; ``unverified`` names the fields whose value no
document read for this project confirms (the constant-flow products' sizes and nominal flows
were not found in any document read: they are empty, not guessed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TypedDict

from itb.domain.devices import PERISTALTIC, VALVE_GATED, DeviceModel


class PumpKind(StrEnum):
    PERISTALTIC = "peristaltic"  # programmable, a motor and a rotor
    VALVE_GATED = "valve-gated"  # programmable, constant pressure through valves
    CONSTANT_FLOW = "constant-flow"  # gas-driven through a flow restrictor: no electronics


@dataclass(frozen=True, slots=True)
class ProductCode:
    """A manufacturer's model or REF number, and the reservoir size it is sold in (None: all)."""

    ref: str
    reservoir_ml: float | None
    source: str


@dataclass(frozen=True, slots=True)
class DeviceProduct:
    code: str
    name: str
    kind: PumpKind
    #: the sizes sold (mL); empty when any size in ``size_range_ml`` is allowed
    reservoir_sizes_ml: tuple[float, ...]
    size_range_ml: tuple[float, float]
    #: the generic model whose parameters it takes (None: no electronics to simulate)
    model: DeviceModel | None
    source: str
    manufacturer: str = ""
    #: the maker's model / REF numbers, one per size where the source gives them
    product_codes: tuple[ProductCode, ...] = ()
    #: a constant-flow pump's factory-set flows (mL/day) it is sold with; empty where no source
    #: read gives them (any flow > 0 is then accepted, as the import contract does)
    nominal_flows_ml_per_day: tuple[float, ...] = ()
    #: volume of the pump's internal tubing (mL), or None where no source gives it
    internal_tubing_ml: float | None = None
    #: catheter volume per cm of implanted catheter (mL/cm), or None
    catheter_ml_per_cm: float | None = None
    #: the low-reservoir alarm's usual setting (mL); None: the pump has no alarm (or none known)
    default_low_reservoir_alarm_ml: float | None = None
    #: labelled accuracy, as a fraction of the programmed (or nominal) volume, or None
    labelled_flow_tolerance: float | None = None
    has_battery: bool = True
    #: (shortest, longest) years of battery life; longest None for "N+ years"; None: no battery
    battery_years: tuple[float, float | None] | None = None
    #: what an MRI needs, in one line (the full checklist: ``itb.domain.mri``)
    mri_rule: str = ""
    #: names of the fields above whose values are not confirmed by a document read
    unverified: tuple[str, ...] = field(default=())

    @property
    def programmable(self) -> bool:
        return self.kind is not PumpKind.CONSTANT_FLOW

    def size_allowed(self, capacity_ml: float) -> bool:
        if self.reservoir_sizes_ml:
            return any(abs(capacity_ml - s) < 1e-9 for s in self.reservoir_sizes_ml)
        lo, hi = self.size_range_ml
        return lo <= capacity_ml <= hi

    def flow_allowed(self, flow_ml_per_day: float) -> bool:
        """A constant-flow pump's flow is one it is sold with (any flow > 0 when none is known)."""
        if flow_ml_per_day <= 0:
            return False
        if not self.nominal_flows_ml_per_day:
            return True
        return any(abs(flow_ml_per_day - f) < 1e-9 for f in self.nominal_flows_ml_per_day)

    def code_for_size(self, capacity_ml: float) -> str | None:
        """The maker's model / REF number for that reservoir size, if the source gives one."""
        for c in self.product_codes:
            if c.reservoir_ml is None or abs(c.reservoir_ml - capacity_ml) < 1e-9:
                return c.ref
        return None


# ----------------------------------------------------------------------------- sources
_DOMAIN = "shared/domain.md, The pump"
_IMPORT = "shared/spec/clinic-import.md"
#: Medtronic, "Targeted drug delivery product advisories" (medtronic.com, healthcare
#: professionals, product performance): the 2019 retrieval names "models 8637-20 and 8637-40"
MEDTRONIC_ADVISORIES = "Medtronic, Targeted drug delivery product advisories (SynchroMed II models 8637-20, 8637-40)"
MEDTRONIC_MRI = "Medtronic MRI guidelines 8637/8472 (2020), via itb.domain.mri"
FLOWONIX_MRI = "Flowonix PL-21604-02 (2020), via itb.domain.mri"
#: J&J MedTech, "CODMAN 3000 Constant Flow Pump Patient Support" (jnjmedtech.com/en-US/codman-pumps/
#: patient-support): no battery ("warranted for life and will not require replacement due to
#: battery depletion"); body temperature warms a sealed propellant that pushes the drug through a
#: filter and a flow restrictor "at the optimal, predetermined rate that your doctor has chosen";
#: "depending upon the model", 2-3 inches across; holds "approximately one ounce of medication".
CODMAN_3000_PATIENT_SUPPORT = "J&J MedTech, CODMAN 3000 Constant Flow Pump Patient Support (jnjmedtech.com)"
#: Codman, patient FAQ (codmanpumps.com/Patient_pain_faq.asp): deep-sea and scuba diving change
#: the flow; snorkelling and swimming do not; a heating pad or hot-water bottle over the pump
#: makes it "flow slightly faster".
CODMAN_3000_FAQ = "Codman, CODMAN 3000 patient FAQ (codmanpumps.com/Patient_pain_faq.asp)"
#: Codman & Shurtleff, "ARCHIMEDES Implantable Constant-Flow Infusion Pump, User Manual", LCN
#: 200576-001/G, revised 10/11 (a transcript at vdocument.in; its specification pages were not
#: readable here); the Codman Pump Catheter (REF 60-2914) instructions: "for MedStream and
#: ARCHIMEDES pumps ... continuous intrathecal infusion ... for pain management or relief of
#: spasticity", and "improper use of implanted, constant-flow infusion pumps could result in drug
#: under- or overdose".
ARCHIMEDES_MANUAL = (
    "Codman & Shurtleff, ARCHIMEDES Implantable Constant-Flow Infusion Pump User Manual (LCN 200576-001/G, 10/11)"
)
CODMAN_CATHETER_IFU = "Codman Pump Catheter (REF 60-2914) for MedStream and ARCHIMEDES pumps, instructions (07/10)"

_CONSTANT_FLOW_MRI = "no MRI rule in the sources read: follow the pump's own manual (unverified)"
_CONSTANT_FLOW_UNVERIFIED = (
    "reservoir_sizes_ml",
    "nominal_flows_ml_per_day",
    "internal_tubing_ml",
    "catheter_ml_per_cm",
    "labelled_flow_tolerance",
    "mri_rule",
)


class _ModelFacts(TypedDict):
    internal_tubing_ml: float
    catheter_ml_per_cm: float
    default_low_reservoir_alarm_ml: float
    labelled_flow_tolerance: float


def _model_facts(model: DeviceModel) -> _ModelFacts:
    """The device facts a product takes from its generic model (one source of truth)."""
    return {
        "internal_tubing_ml": model.internal_tubing_ml,
        "catheter_ml_per_cm": model.catheter_ml_per_cm,
        "default_low_reservoir_alarm_ml": model.default_low_reservoir_alarm_ml,
        "labelled_flow_tolerance": model.labelled_flow_tolerance,
    }


CATALOGUE: dict[str, DeviceProduct] = {
    p.code: p
    for p in (
        DeviceProduct(
            "synchromed-ii",
            "SynchroMed II",
            PumpKind.PERISTALTIC,
            (20.0, 40.0),
            (20.0, 40.0),
            PERISTALTIC,
            f"{_DOMAIN}: peristaltic, 20 or 40 mL, labelled ±14.5 %; {_IMPORT}; model numbers: "
            f"{MEDTRONIC_ADVISORIES}; MRI: {MEDTRONIC_MRI}",
            manufacturer="Medtronic",
            product_codes=(
                ProductCode("8637-20", 20.0, MEDTRONIC_ADVISORIES),
                ProductCode("8637-40", 40.0, MEDTRONIC_ADVISORIES),
            ),
            **_model_facts(PERISTALTIC),
            battery_years=(4.0, 7.0),  # seed 4-7 years; domain.md: hard stop at 7 years
            mri_rule="the magnet stalls the motor for the scan; interrogate on completion of the scan; "
            "never program 'stopped' before an MRI; 1.5 T and 3.0 T closed bore",
            unverified=("internal_tubing_ml",),
        ),
        DeviceProduct(
            "prometra-ii",
            "Prometra II",
            PumpKind.VALVE_GATED,
            (20.0, 40.0),
            (20.0, 40.0),
            VALVE_GATED,
            f"{_DOMAIN}: Prometra II 20 mL (REF 13827) and 40 mL (REF 16827); {_IMPORT}; MRI: {FLOWONIX_MRI}",
            manufacturer="Flowonix",
            product_codes=(
                ProductCode("13827", 20.0, _DOMAIN),
                ProductCode("16827", 40.0, _DOMAIN),
            ),
            **_model_facts(VALVE_GATED),
            battery_years=(10.0, None),  # domain.md: "10+ years"
            mri_rule="empty the pump and set the dose to zero before the scan; the safety valve shuts "
            "on unexpected flow and stays shut until reset; 1.5 T only",
            unverified=("internal_tubing_ml",),
        ),
        DeviceProduct(
            "constant-flow",
            "constant-flow pump",
            PumpKind.CONSTANT_FLOW,
            (),
            (5.0, 100.0),
            None,
            f"{_DOMAIN}: gas-driven through a flow restrictor, no battery, no electronics; "
            f"{_IMPORT}: any size 5-100 mL (the products' own sizes and flows: unverified)",
            has_battery=False,
            mri_rule=_CONSTANT_FLOW_MRI,
            unverified=_CONSTANT_FLOW_UNVERIFIED,
        ),
        DeviceProduct(
            "codman-3000",
            "CODMAN 3000 Constant Flow Pump",
            PumpKind.CONSTANT_FLOW,
            (),  # "depending upon the model": the models' volumes are in no source read (unverified)
            (5.0, 100.0),  # the import contract's constant-flow range, until the sizes are known
            None,
            f"{CODMAN_3000_PATIENT_SUPPORT}: no battery, body heat drives a sealed propellant through a "
            f"flow restrictor at a rate chosen with the model, about one ounce of drug; {CODMAN_3000_FAQ}; "
            "sizes and nominal flows: not in the sources read (unverified)",
            manufacturer="Codman (J&J MedTech)",
            has_battery=False,
            mri_rule=_CONSTANT_FLOW_MRI,
            unverified=_CONSTANT_FLOW_UNVERIFIED,
        ),
        DeviceProduct(
            "archimedes",
            "ARCHIMEDES Implantable Constant-Flow Infusion Pump",
            PumpKind.CONSTANT_FLOW,
            (),
            (5.0, 100.0),
            None,
            f"{ARCHIMEDES_MANUAL}; {CODMAN_CATHETER_IFU}: constant-flow, intrathecal, for pain or spasticity; "
            "sizes and nominal flows: not readable in the copy found (unverified)",
            manufacturer="Codman & Shurtleff",
            has_battery=False,
            mri_rule=_CONSTANT_FLOW_MRI,
            unverified=_CONSTANT_FLOW_UNVERIFIED,
        ),
    )
}

#: the generic models' names (``DeviceModel.name``, what a pump record's ``model`` holds for a
#: programmable pump) by kind
_MODEL_KINDS: dict[str, PumpKind] = {
    PERISTALTIC.name: PumpKind.PERISTALTIC,
    VALVE_GATED.name: PumpKind.VALVE_GATED,
}


def product(code: str) -> DeviceProduct | None:
    """The catalogue's product of that code, or None."""
    return CATALOGUE.get(code)


def kind_of(model_or_code: str | None) -> PumpKind | None:
    """The kind of pump a record names: a catalogue code (``codman-3000``) or a generic model's
    name (``peristaltic``, as a pump record stores it); None when unknown."""
    if not model_or_code:
        return None
    known = CATALOGUE.get(model_or_code)
    if known is not None:
        return known.kind
    return _MODEL_KINDS.get(model_or_code)


def constant_flow_products() -> list[DeviceProduct]:
    """The constant-flow products, the generic one first."""
    return [p for p in CATALOGUE.values() if p.kind is PumpKind.CONSTANT_FLOW]


__all__ = [
    "CATALOGUE",
    "DeviceProduct",
    "ProductCode",
    "PumpKind",
    "constant_flow_products",
    "kind_of",
    "product",
]
