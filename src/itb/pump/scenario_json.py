"""The ``itb simulate`` contract (``shared/spec/simulate.md``): scenario in, outcome out."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from itb.contracts.forecast import BOLUS_KINDS, parse_program
from itb.contracts.jsonfields import check_keys, join, local_datetime
from itb.domain.devices import MODELS, DeviceModel, MriBehaviour
from itb.domain.errors import InvalidInput, Violation, bound_violation
from itb.domain.numerics import at_second
from itb.domain.program import MAX_BOLUS_DURATION_MINUTES, MIN_BOLUS_DURATION_MINUTES
from itb.pump.engine import Event, PumpSetup
from itb.pump.simulator import (
    Action,
    Bolus,
    BolusCancel,
    ClearAlarms,
    Interrogate,
    Mri,
    Outcome,
    ProgramChange,
    Refill,
    Scenario,
    ValveReset,
)

SCENARIO_FIELDS = frozenset(
    {"start", "until", "pump", "reservoir_ml", "concentration_mcg_per_ml", "program", "flow_error", "actions"}
)
SCENARIO_REQUIRED = ("start", "until", "pump", "reservoir_ml", "concentration_mcg_per_ml", "program")
PUMP_FIELDS = frozenset(
    {
        "model",
        "reservoir_capacity_ml",
        "implanted_at",
        "low_reservoir_alarm_ml",
        "empty_ml",
        "catheter_volume_ml",
        "mri_recovery_delay_minutes",
    }
)
PUMP_REQUIRED = ("model", "reservoir_capacity_ml")
#: Flow error bounds: a pump cannot deliver less than nothing; above +100 % is not a pump.
FLOW_ERROR_MIN, FLOW_ERROR_MAX = -1.0, 1.0
#: Longest MRI session accepted, minutes.
MAX_MRI_MINUTES = 24 * 60


def _num(obj: dict, key: str, path: str, errs: list[Violation], **bounds: Any) -> Any:
    """The value if it is a valid number within ``bounds`` (see ``bound_violation``), else None."""
    value = obj.get(key)
    bad = bound_violation(join(path, key), value, **bounds)
    if bad:
        errs.append(bad)
        return None
    return value


# --------------------------------------------------------------------------- actions
def _refill(item: dict, where: str, at: datetime, ctx: _Context, errs: list[Violation]) -> Action | None:
    added = _num(item, "added_ml", where, errs, minimum=0, strict=True)
    conc = _num(item, "concentration_mcg_per_ml", where, errs, minimum=0, strict=True)
    if added is not None and ctx.capacity_ml is not None and added > ctx.capacity_ml:
        errs.append(
            Violation(
                f"{where}.added_ml",
                f"would overfill the reservoir: {added:g} mL is more than its {ctx.capacity_ml:g} mL capacity",
            )
        )
        return None
    return None if added is None or conc is None else Refill(at, added, conc)


def _program(item: dict, where: str, at: datetime, ctx: _Context, errs: list[Violation]) -> Action | None:
    n = len(errs)
    program = parse_program(item.get("program"), f"{where}.program", errs)
    return ProgramChange(at, program) if len(errs) == n else None


def _bolus(item: dict, where: str, at: datetime, ctx: _Context, errs: list[Violation]) -> Action | None:
    dose = _num(item, "dose_mcg", where, errs, minimum=0, strict=True)
    minutes = _num(
        item, "duration_minutes", where, errs, minimum=MIN_BOLUS_DURATION_MINUTES, maximum=MAX_BOLUS_DURATION_MINUTES
    )
    kind = item.get("kind", "single")
    if type(kind) is not str or kind not in BOLUS_KINDS:
        errs.append(Violation(f"{where}.kind", f"must be one of {', '.join(sorted(BOLUS_KINDS))}"))
        return None
    return None if dose is None or minutes is None else Bolus(at, dose, minutes, kind)


def _mri(item: dict, where: str, at: datetime, ctx: _Context, errs: list[Violation]) -> Action | None:
    minutes = _num(item, "duration_minutes", where, errs, minimum=0, strict=True, maximum=MAX_MRI_MINUTES)
    delay = _num(item, "recovery_delay_minutes", where, errs, minimum=0)
    return None if minutes is None else Mri(at, minutes, delay)


def _valve_reset(item: dict, where: str, at: datetime, ctx: _Context, errs: list[Violation]) -> Action | None:
    if ctx.model is not None and ctx.model.mri is not MriBehaviour.SAFETY_VALVE:
        errs.append(Violation(f"{where}.type", f"valve_reset needs a valve-gated pump, not {ctx.model.name}"))
        return None
    return ValveReset(at)


def _plain(cls: type) -> Callable[..., Action]:
    return lambda item, where, at, ctx, errs: cls(at)


ACTIONS: dict[str, tuple[frozenset[str], tuple[str, ...], Callable[..., Action | None]]] = {
    "refill": (frozenset({"added_ml", "concentration_mcg_per_ml"}), ("added_ml", "concentration_mcg_per_ml"), _refill),
    "program": (frozenset({"program"}), ("program",), _program),
    "bolus": (frozenset({"dose_mcg", "duration_minutes", "kind"}), ("dose_mcg", "duration_minutes"), _bolus),
    "bolus_cancel": (frozenset(), (), _plain(BolusCancel)),
    "mri": (frozenset({"duration_minutes", "recovery_delay_minutes"}), ("duration_minutes",), _mri),
    "interrogate": (frozenset(), (), _plain(Interrogate)),
    "clear_alarms": (frozenset(), (), _plain(ClearAlarms)),
    "valve_reset": (frozenset(), (), _valve_reset),
}


class _Context:
    """What action rules need to know of the rest of the scenario."""

    def __init__(
        self, start: datetime | None, until: datetime | None, model: DeviceModel | None, capacity_ml: float | None
    ) -> None:
        self.start, self.until, self.model, self.capacity_ml = start, until, model, capacity_ml


def parse_actions(raw: object, ctx: _Context, errs: list[Violation]) -> list[Action]:
    if raw is None:
        return []
    if type(raw) is not list:
        errs.append(Violation("actions", "must be a list"))
        return []
    actions = []
    for i, item in enumerate(raw):
        where = f"actions[{i}]"
        if type(item) is not dict:
            errs.append(Violation(where, "must be an object"))
            continue
        kind = item.get("type")
        if type(kind) is not str or kind not in ACTIONS:
            errs.append(Violation(f"{where}.type", f"unknown action type; one of {', '.join(ACTIONS)}"))
            continue
        fields, required, build = ACTIONS[kind]
        check_keys(item, where, fields | {"at", "type"}, ("at", *required), errs)
        at = local_datetime(item, "at", where, errs)
        if at is not None and ctx.start is not None and ctx.until is not None and not ctx.start <= at <= ctx.until:
            errs.append(Violation(f"{where}.at", "must be within [start, until]"))
            continue
        action = build(item, where, at, ctx, errs)
        if action is not None and at is not None:
            actions.append(action)
    return actions


# --------------------------------------------------------------------------- scenario
def parse_pump(raw: object, start: datetime | None, errs: list[Violation]) -> tuple[PumpSetup | None, Any]:
    """The pump's setup and its implant date (``start`` when not given)."""
    if type(raw) is not dict:
        if raw is not None:
            errs.append(Violation("pump", "must be an object"))
        return None, None
    n = len(errs)
    check_keys(raw, "pump", PUMP_FIELDS, PUMP_REQUIRED, errs)
    name = raw.get("model")
    model = MODELS.get(name) if type(name) is str else None
    if model is None and raw.get("model") is not None:
        errs.append(Violation("pump.model", f"must be one of {', '.join(MODELS)}"))
    cap: Any = raw.get("reservoir_capacity_ml")  # any JSON value: its type is checked below
    sizes = model.reservoir_sizes_ml if model else (20.0, 40.0)
    if cap is not None and (type(cap) not in (int, float) or cap not in sizes):
        errs.append(Violation("pump.reservoir_capacity_ml", f"must be one of {', '.join(f'{s:g}' for s in sizes)}"))
    low_default = model.default_low_reservoir_alarm_ml if model else 2.0
    low = _num(raw, "low_reservoir_alarm_ml", "pump", errs, minimum=0)
    low = low_default if raw.get("low_reservoir_alarm_ml") is None else low
    empty = _num(raw, "empty_ml", "pump", errs, minimum=0)
    empty = 0.0 if raw.get("empty_ml") is None else empty
    if low is not None and type(cap) in (int, float) and low > cap:
        errs.append(Violation("pump.low_reservoir_alarm_ml", "must not exceed the reservoir capacity"))
    if empty is not None and low is not None and empty > low:
        errs.append(Violation("pump.empty_ml", "must not exceed low_reservoir_alarm_ml"))
    catheter = _num(raw, "catheter_volume_ml", "pump", errs, minimum=0, maximum=5)
    delay = _num(raw, "mri_recovery_delay_minutes", "pump", errs, minimum=0)
    implanted = local_datetime(raw, "implanted_at", "pump", errs) if raw.get("implanted_at") is not None else start
    if implanted is not None and start is not None and implanted > start:
        errs.append(Violation("pump.implanted_at", "must not be after start"))
    if len(errs) > n or model is None:
        return None, implanted
    return (
        PumpSetup(
            model=model,
            reservoir_capacity_ml=float(cap),  # type: ignore[arg-type]
            low_reservoir_alarm_ml=low,  # type: ignore[arg-type]
            empty_ml=empty,  # type: ignore[arg-type]
            catheter_volume_ml=model.typical_catheter_volume_ml if catheter is None else catheter,
            mri_recovery_delay_minutes=0.0 if delay is None else delay,
        ),
        implanted,
    )


def parse_scenario(obj: object) -> Scenario:
    """A scenario; raises :class:`InvalidInput` with every violation found."""
    if type(obj) is not dict:
        raise InvalidInput([Violation("scenario", "must be a JSON object")])
    errs: list[Violation] = []
    check_keys(obj, "", SCENARIO_FIELDS, SCENARIO_REQUIRED, errs)
    start = local_datetime(obj, "start", "", errs)
    until = local_datetime(obj, "until", "", errs)
    if start is not None and until is not None and until <= start:
        errs.append(Violation("until", "must be after start"))
    setup, implanted = parse_pump(obj.get("pump"), start, errs)
    cap = setup.reservoir_capacity_ml if setup else None
    reservoir = _num(obj, "reservoir_ml", "", errs, minimum=0)
    if reservoir is not None and cap is not None and reservoir > cap:
        errs.append(Violation("reservoir_ml", f"must not exceed the reservoir capacity ({cap:g} mL)"))
    conc = _num(obj, "concentration_mcg_per_ml", "", errs, minimum=0, strict=True)
    flow_error = _num(obj, "flow_error", "", errs, minimum=FLOW_ERROR_MIN, strict=True, maximum=FLOW_ERROR_MAX)
    program = parse_program(obj["program"], "program", errs) if obj.get("program") is not None else None
    ctx = _Context(start, until, setup.model if setup else None, cap)
    actions = parse_actions(obj.get("actions"), ctx, errs)
    if errs:
        raise InvalidInput(errs)
    if flow_error is not None:
        setup = replace(setup, flow_error=float(flow_error))  # type: ignore[type-var]
    return Scenario(
        start=start,  # type: ignore[arg-type]
        until=until,  # type: ignore[arg-type]
        setup=setup,  # type: ignore[arg-type]
        implanted_at=implanted,
        reservoir_ml=reservoir,  # type: ignore[arg-type]
        concentration_mcg_per_ml=conc,  # type: ignore[arg-type]
        program=program,  # type: ignore[arg-type]
        actions=tuple(actions),
    )


# --------------------------------------------------------------------------- outcome
def event_json(event: Event, day0: datetime) -> dict:
    """Fields named ``*_at_t`` hold times on the pump's clock; they are written as ``*_at``."""
    out: dict[str, Any] = {"at": at_second(day0, event.t), "type": event.type}
    for key, value in event.fields.items():
        if key.endswith("_at_t"):
            out[key[:-2]] = at_second(day0, value)
        else:
            out[key] = value
    out["pump_log"] = event.pump_log
    return out


def outcome_json(outcome: Outcome) -> dict:
    pump = outcome.pump
    day0 = pump.day0
    return {
        "events": [event_json(e, day0) for e in pump.events],
        "final": {
            "at": at_second(day0, pump.t),
            "reservoir_ml": round(pump.real_ml, 9),
            "pump_estimated_reservoir_ml": round(pump.est_ml, 9),
            "delivered_mcg": round(pump.delivered_mcg, 6),
            "in_transit_mcg": round(pump.catheter.content_mcg, 6),
            "eri_at": at_second(day0, pump.eri_forecast_t()),
            "state": pump.state,
            "active_alarms": pump.active_alarms(),
            "concentration_mcg_per_ml": pump.conc,
            "added_mcg": round(pump.added_mcg, 6),
            "withdrawn_mcg": round(pump.withdrawn_mcg, 6),
            "initial_mcg": round(pump.initial_mcg, 6),
        },
    }
