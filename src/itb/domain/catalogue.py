"""The device catalogue: the pump products a clinic records, by the codes the import uses.

Each product names its kind (peristaltic, valve-gated, constant-flow), its reservoir sizes, and
the simulator's generic model that behaves like it (``itb.domain.devices``: tubing volume,
catheter mL/cm, alarm defaults, accuracy, battery, MRI behaviour), with its source. Codes are
those of ``shared/spec/clinic-import.md``: at least ``synchromed-ii``, ``prometra-ii`` and
``constant-flow``. Pure data: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from itb.domain.devices import PERISTALTIC, VALVE_GATED, DeviceModel


class PumpKind(StrEnum):
    PERISTALTIC = "peristaltic"  # programmable, a motor and a rotor
    VALVE_GATED = "valve-gated"  # programmable, constant pressure through valves
    CONSTANT_FLOW = "constant-flow"  # gas-driven through a flow restrictor: no electronics


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

    @property
    def programmable(self) -> bool:
        return self.kind is not PumpKind.CONSTANT_FLOW

    def size_allowed(self, capacity_ml: float) -> bool:
        if self.reservoir_sizes_ml:
            return any(abs(capacity_ml - s) < 1e-9 for s in self.reservoir_sizes_ml)
        lo, hi = self.size_range_ml
        return lo <= capacity_ml <= hi


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
            "domain.md, The pump: peristaltic, 20 or 40 mL, labelled ±14.5 %; shared/spec/clinic-import.md",
        ),
        DeviceProduct(
            "prometra-ii",
            "Prometra II",
            PumpKind.VALVE_GATED,
            (20.0, 40.0),
            (20.0, 40.0),
            VALVE_GATED,
            "domain.md, The pump: Prometra II 20 mL (REF 13827) and 40 mL (REF 16827); shared/spec/clinic-import.md",
        ),
        DeviceProduct(
            "constant-flow",
            "constant-flow pump",
            PumpKind.CONSTANT_FLOW,
            (),
            (5.0, 100.0),
            None,
            "domain.md, The pump: gas-driven through a flow restrictor, no battery, no electronics; "
            "shared/spec/clinic-import.md: any size 5-100 mL (the products' own sizes and flows: unverified)",
        ),
    )
}


def product(code: str) -> DeviceProduct | None:
    """The catalogue's product of that code, or None."""
    return CATALOGUE.get(code)


__all__ = ["CATALOGUE", "DeviceProduct", "PumpKind", "product"]
