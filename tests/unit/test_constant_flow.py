"""Constant-flow pumps: the catalogue's products, the dose through the concentration, the dilution
to a syringe's 0.1 mL, and the documented conditions that change the flow (itb.domain.constant_flow)."""

from __future__ import annotations

import pytest

from itb.domain import constant_flow as cf
from itb.domain.catalogue import CATALOGUE, PumpKind, constant_flow_products, kind_of, product
from itb.domain.constant_flow import (
    FlowDirection,
    concentration_for_dose,
    daily_dose_mcg,
    dilution,
    flow_conditions,
    to_syringe,
)
from itb.domain.devices import PERISTALTIC, VALVE_GATED
from itb.domain.errors import InvalidInput
from itb.web import family


def fields_of(exc: pytest.ExceptionInfo[InvalidInput]) -> list[str]:
    return [v.field for v in exc.value.violations]


# ----------------------------------------------------------------------------- the catalogue
def test_catalogue_keeps_the_import_codes() -> None:
    """shared/spec/clinic-import.md: at least synchromed-ii, prometra-ii and constant-flow, as before."""
    assert list(CATALOGUE)[:3] == ["synchromed-ii", "prometra-ii", "constant-flow"]
    generic = product("constant-flow")
    assert generic is not None and generic.kind is PumpKind.CONSTANT_FLOW
    assert generic.size_range_ml == (5.0, 100.0) and generic.model is None and not generic.programmable
    assert generic.size_allowed(35.0) and not generic.size_allowed(120.0)
    assert product("synchromed-ii").model is PERISTALTIC  # type: ignore[union-attr]
    assert product("prometra-ii").model is VALVE_GATED  # type: ignore[union-attr]
    assert product("no-such-pump") is None


def test_catalogue_programmable_products_take_their_models_facts() -> None:
    sm, pm = product("synchromed-ii"), product("prometra-ii")
    assert sm is not None and pm is not None
    assert (sm.internal_tubing_ml, sm.catheter_ml_per_cm) == (0.19, 0.0026)
    assert (pm.internal_tubing_ml, pm.catheter_ml_per_cm) == (0.05, 0.0026)
    assert sm.default_low_reservoir_alarm_ml == pm.default_low_reservoir_alarm_ml == 2.0
    assert sm.labelled_flow_tolerance == 0.145 and pm.labelled_flow_tolerance == 0.15
    assert sm.battery_years == (4.0, 7.0) and pm.battery_years == (10.0, None)
    assert "internal_tubing_ml" in sm.unverified  # devices.py marks it unverified


def test_catalogue_product_codes_per_size() -> None:
    sm, pm = product("synchromed-ii"), product("prometra-ii")
    assert sm is not None and pm is not None
    assert (sm.code_for_size(20.0), sm.code_for_size(40.0)) == ("8637-20", "8637-40")
    assert (pm.code_for_size(20.0), pm.code_for_size(40.0)) == ("13827", "16827")
    assert sm.code_for_size(30.0) is None
    assert all(c.source for p in CATALOGUE.values() for c in p.product_codes)


def test_catalogue_constant_flow_products_have_sources() -> None:
    products = constant_flow_products()
    assert [p.code for p in products] == ["constant-flow", "codman-3000", "archimedes"]
    for p in products:
        assert p.source and p.mri_rule
        assert not p.has_battery and p.battery_years is None
        assert p.default_low_reservoir_alarm_ml is None  # no electronics: no alarm
        # no source read gives their sizes or flows: empty, and said so
        assert p.reservoir_sizes_ml == () and p.nominal_flows_ml_per_day == ()
        assert "nominal_flows_ml_per_day" in p.unverified and "reservoir_sizes_ml" in p.unverified
        assert "unverified" in p.source and "unverified" in p.mri_rule
    assert "CODMAN 3000" in product("codman-3000").source  # type: ignore[union-attr]
    assert "ARCHIMEDES" in product("archimedes").source  # type: ignore[union-attr]


def test_catalogue_flow_allowed_without_known_flows() -> None:
    p = product("codman-3000")
    assert p is not None
    assert p.flow_allowed(0.5) and not p.flow_allowed(0.0) and not p.flow_allowed(-1.0)


def test_kind_of_a_pump_record() -> None:
    """A pump record's model is a catalogue code for a constant-flow pump, a generic model's name else."""
    assert kind_of("codman-3000") is PumpKind.CONSTANT_FLOW
    assert kind_of("constant-flow") is PumpKind.CONSTANT_FLOW
    assert kind_of("peristaltic") is PumpKind.PERISTALTIC
    assert kind_of("valve-gated") is PumpKind.VALVE_GATED
    assert kind_of("synchromed-ii") is PumpKind.PERISTALTIC
    assert kind_of("unknown") is None and kind_of(None) is None and kind_of("") is None


# ----------------------------------------------------------------------------- the dose through the concentration
def test_concentration_for_dose() -> None:
    """domain.md: the dose changes only through the concentration: 250 mcg/day at 0.5 mL/day is 500 mcg/mL."""
    assert cf.DOSE_THROUGH_CONCENTRATION_ONLY
    assert concentration_for_dose(250.0, 0.5) == 500.0
    assert concentration_for_dose(100.0, 1.0) == 100.0
    assert concentration_for_dose(0.0, 1.0) == 0.0  # a fill with no drug
    assert daily_dose_mcg(500.0, 0.5) == 250.0


def test_concentration_for_dose_refuses_no_flow_and_negative_dose() -> None:
    with pytest.raises(InvalidInput) as exc:
        concentration_for_dose(-1.0, 0.0)
    assert fields_of(exc) == ["target_daily_dose_mcg", "flow_ml_per_day"]


# ----------------------------------------------------------------------------- dilution
def test_dilution_exact() -> None:
    """500 mcg/mL in 20 mL from a 2,000 mcg/mL stock: 5.0 mL of stock and 15.0 mL of diluent."""
    d = dilution(500.0, 2000.0, 20.0, flow_ml_per_day=0.5)
    stock, diluent = d
    assert (stock, diluent) == (5.0, 15.0)
    assert d.total_ml == 20.0
    assert d.actual_concentration_mcg_per_ml == 500.0 and d.deviation_fraction == 0.0
    assert d.actual_daily_dose_mcg == 250.0


def test_dilution_rounds_to_syringe() -> None:
    """333 mcg/mL in 20 mL from 2,000: 3.33 mL of stock is drawn as 3.3 mL, giving 330 mcg/mL."""
    assert cf.SYRINGE_RESOLUTION_ML == 0.1
    d = dilution(333.0, 2000.0, 20.0, flow_ml_per_day=0.5)
    assert (d.stock_ml, d.diluent_ml) == (3.3, 16.7)
    assert d.actual_concentration_mcg_per_ml == pytest.approx(330.0)
    assert d.actual_daily_dose_mcg == pytest.approx(165.0)
    assert d.deviation_fraction == pytest.approx(-3 / 333)
    # halves round up; the total too is measured to 0.1 mL
    assert to_syringe(0.25) == 0.3 and to_syringe(0.24) == 0.2 and to_syringe(3.35) == 3.4
    e = dilution(1000.0, 2000.0, 20.04)
    assert (e.stock_ml, e.diluent_ml, e.total_ml) == (10.0, 10.0, 20.0)
    assert e.actual_daily_dose_mcg is None  # no flow given


def test_dilution_target_equal_to_stock_needs_no_diluent() -> None:
    assert tuple(dilution(2000.0, 2000.0, 20.0)) == (20.0, 0.0)


def test_dilution_refuses_target_above_stock() -> None:
    with pytest.raises(InvalidInput) as exc:
        dilution(3000.0, 2000.0, 20.0)
    assert fields_of(exc) == ["target_concentration"]
    assert "must not be above the stock (2000 mcg/mL)" in str(exc.value)


def test_dilution_refuses_volumes_and_concentrations_not_positive() -> None:
    with pytest.raises(InvalidInput) as exc:
        dilution(0.0, -5.0, 0.0)
    assert fields_of(exc) == ["target_concentration", "stock_concentration", "total_volume_ml"]
    with pytest.raises(InvalidInput) as exc:
        dilution(500.0, 2000.0, 0.04)  # rounds to 0.0 mL
    assert fields_of(exc) == ["total_volume_ml"]
    with pytest.raises(InvalidInput) as exc:
        dilution(500.0, 2000.0, 20.0, flow_ml_per_day=0.0)
    assert fields_of(exc) == ["flow_ml_per_day"]


def test_dilution_refuses_overfilling_the_pump() -> None:
    """domain.md, Refills: never overfill past the reservoir size."""
    with pytest.raises(InvalidInput) as exc:
        dilution(500.0, 2000.0, 25.0, capacity_ml=20.0)
    assert "never overfill" in str(exc.value)
    assert dilution(500.0, 2000.0, 20.0, capacity_ml=20.0).total_ml == 20.0


def test_dilution_refuses_a_target_too_weak_to_measure() -> None:
    """1 mcg/mL in 20 mL from 2,000 needs 0.01 mL of stock: less than a syringe measures."""
    with pytest.raises(InvalidInput) as exc:
        dilution(1.0, 2000.0, 20.0)
    assert fields_of(exc) == ["target_concentration"] and "too weak to measure" in str(exc.value)


# ----------------------------------------------------------------------------- what changes the flow
def test_flow_conditions_are_the_documented_ones() -> None:
    names = [c.name for c in flow_conditions()]
    assert names == ["fever", "heat_over_pump", "altitude", "flying", "diving"]
    for c in flow_conditions():
        assert c.source and c.clinician and c.family and c.title
        assert c.percent_change is None  # no source read gives a percentage
    assert cf.FLOW_CONDITIONS_BY_NAME["fever"] is cf.FEVER


def test_fever_raises_constant_flow_guidance() -> None:
    assert cf.FEVER.direction is FlowDirection.FASTER and cf.FEVER.direction_from_source
    assert "domain.md" in cf.FEVER.source and "CODMAN 3000" in cf.FEVER.source
    assert "overdose" in cf.FEVER.clinician and "withdrawal" in cf.FEVER.clinician
    assert "faster" in cf.FEVER.family and "call the clinic now" in cf.FEVER.family.lower()


def test_heat_over_the_pump_raises_the_flow() -> None:
    c = cf.HEAT_OVER_PUMP
    assert c.direction is FlowDirection.FASTER and c.direction_from_source
    assert c.threshold == cf.HOT_ENVIRONMENT_THRESHOLD_C == 38.9
    assert "heating pad" in c.family and "hot tubs" in c.family
    assert "Patient_pain_faq" in c.source and "unverified" in c.source


def test_altitude_raises_the_flow() -> None:
    assert cf.ALTITUDE.direction is FlowDirection.FASTER and cf.ALTITUDE.direction_from_source
    assert "lower ambient pressure" in cf.ALTITUDE.source
    assert "Ask the clinic before" in cf.ALTITUDE.family


def test_flying_raises_the_flow_by_inference() -> None:
    assert cf.FLYING.direction is FlowDirection.FASTER
    assert not cf.FLYING.direction_from_source and "inference" in cf.FLYING.source
    assert "before you book a flight" in cf.FLYING.family


def test_diving_changes_the_flow() -> None:
    """Codman FAQ: increased pressure affects the flow (direction inferred: slower); swimming does not."""
    assert cf.DIVING.direction is FlowDirection.SLOWER and not cf.DIVING.direction_from_source
    assert "scuba" in cf.DIVING.family and "Swimming and snorkelling are fine" in cf.DIVING.family


# ----------------------------------------------------------------------------- the family's page
def test_constant_flow_guidance_for_a_constant_flow_pump_only() -> None:
    sections = family.constant_flow_guidance()
    assert [s.condition for s in sections] == ["", "fever", "heat_over_pump", "altitude", "flying", "diving"]
    assert sections[1].text == cf.FEVER.family
    assert "no battery" in sections[0].text and "cannot beep" in sections[0].text
    assert family.pump_guidance("codman-3000") == sections
    assert family.pump_guidance("constant-flow") == sections
    assert family.pump_guidance("peristaltic") == [] and family.pump_guidance(None) == []
