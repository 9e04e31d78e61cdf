"""``itb simulate``'s timeline in words: one sentence per event, every number with its unit.

Reads the same event objects as the JSON output (``itb.pump.scenario_json.outcome_json``), so the
words and the JSON never disagree; numbers and dates are written by ``itb.domain.formatting``.
An event type without its own sentence is still written in words (its fields' names without
their unit suffix, the unit after the number), never as a key dump.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from itb.domain.formatting import instant, number, percent_change, quantity

#: The alarms' names as the pump logs them, in words.
ALARM_WORDS = {
    "low_reservoir": "low reservoir",
    "empty_reservoir": "empty reservoir",
    "motor_stall": "motor stall",
    "safety_valve_closed": "safety valve shut",
    "elective_replacement_indicator": "ERI",
    "end_of_service": "end of service",
    "critical_memory_error": "critical memory error",
    "low_battery_reset": "low battery reset",
}
STATE_WORDS = {
    "running": "running",
    "end_of_service": "at end of service (stopped for good)",
    "critical_memory_error": "stopped by a critical memory error",
    "motor_stall": "stalled (no drug flows)",
    "safety_valve_closed": "with its safety valve shut (no drug flows)",
    "stopped_empty": "stopped, empty",
    "low_battery_reset": "on its minimum rate after a low battery reset",
}
#: A field's unit, from its name's suffix (for the event types without their own sentence).
_SUFFIX_UNITS = (
    ("_mcg_per_ml", "mcg/mL"),
    ("_mcg", "mcg"),
    ("_ml", "mL"),
    ("_minutes", "min"),
)
_HIDDEN = frozenset({"at", "type", "pump_log", "priority", "tone", "repeat_minutes", "message", "key"})


def _when(at: datetime | None) -> str:
    return instant(at) if at is not None else "after the year 9999"


def _alarms(names: list[str]) -> str:
    return ", ".join(ALARM_WORDS.get(n, n.replace("_", " ")) for n in names) or "none"


def _ml(value: float) -> str:
    return quantity(value, "mL")


def _tone(e: dict) -> str:
    """The alarm's tone and repeat, e.g. ``"single tone, every 60 min"``."""
    tone = e.get("tone")
    repeat = e.get("repeat_minutes")
    parts = [str(tone)] if tone else []
    if repeat:
        parts.append(f"every {quantity(repeat, 'min')}")
    return f" ({', '.join(parts)})" if parts else ""


def _message(e: dict) -> str:
    return f": {e['message']}" if e.get("message") else ""


def _interrogation(e: dict) -> str:
    est, real = e["pump_estimated_reservoir_ml"], e["reservoir_ml"]
    off = real - est
    text = f"interrogation: the pump counts {_ml(est)} in the reservoir, there really are {_ml(real)}"
    if abs(off) >= 0.005:
        text += f" ({_ml(abs(off))} {'more' if off > 0 else 'less'} than its count)"
    text += f"; {quantity(e['daily_dose_mcg'], 'mcg/day')} at {quantity(e['concentration_mcg_per_ml'], 'mcg/mL')}"
    if e.get("state") and e["state"] != "running":
        text += f"; the pump is {STATE_WORDS.get(e['state'], e['state'].replace('_', ' '))}"
    text += f"; active alarms: {_alarms(e.get('active_alarms', []))}"
    if e.get("eri_at") is not None:
        text += f"; battery ERI expected {_when(e['eri_at'])}"
    return text


def _program_changed(e: dict) -> str:
    new, old = e["daily_dose_mcg"], e["previous_daily_dose_mcg"]
    change = f" ({percent_change(new / old - 1)})" if old else ""
    steps = e.get("steps", 1)
    shape = f", {steps} steps a day" if steps > 1 else ""
    return (
        f"program changed: {number(old, 'mcg/day')} to {quantity(new, 'mcg/day')}{change}, "
        f"{quantity(e['daily_volume_ml'], 'mL/day')}{shape}"
    )


def _refill(e: dict) -> str:
    d = e["discrepancy_ml"]
    how = "as expected" if abs(d) < 0.005 else f"{_ml(abs(d))} {'more' if d > 0 else 'less'} than the pump counted"
    return (
        f"refill: withdrew {_ml(e['withdrawn_ml'])}, the pump expected {_ml(e['expected_ml'])} ({how}); "
        f"added {_ml(e['added_ml'])} of {quantity(e['concentration_mcg_per_ml'], 'mcg/mL')}"
    )


def _bolus_started(e: dict) -> str:
    return f"{e.get('kind', 'single')} bolus started: {quantity(e['dose_mcg'], 'mcg')} over {_minutes(e)}"


def _minutes(e: dict) -> str:
    minutes = e["duration_minutes"]
    return quantity(minutes / 60, "h") if minutes >= 120 else quantity(minutes, "min")


def _bolus_completed(e: dict) -> str:
    cut = " (cut short)" if e.get("cut_short") else ""
    return f"{e.get('kind', 'single')} bolus completed{cut}: {quantity(e['dose_mcg'], 'mcg')} given"


def _low_reservoir(e: dict) -> str:
    return (
        f"LOW RESERVOIR alarm{_tone(e)}: the pump counts {_ml(e['pump_estimated_reservoir_ml'])} left; "
        "book a refill now"
    )


def _motor_stall(e: dict) -> str:
    back = f"; expected to resume at {_when(e['expected_recovery_at'])}" if e.get("expected_recovery_at") else ""
    return f"MOTOR STALL alarm{_tone(e)}: infusion stopped{back}"


def _safety_valve(e: dict) -> str:
    flow = f" after {_ml(e['unexpected_flow_ml'])} of unexpected flow" if e.get("unexpected_flow_ml") else ""
    return f"SAFETY VALVE SHUT alarm{_tone(e)}{flow}{_message(e)}"


def _eri(e: dict) -> str:
    eos = f"; end of service expected {_when(e['end_of_service_at'])}" if e.get("end_of_service_at") else ""
    return f"ERI alarm{_tone(e)}: plan the pump's replacement{eos}"


def _low_battery(e: dict) -> str:
    return (
        f"LOW BATTERY RESET alarm{_tone(e)}: {number(e['previous_daily_dose_mcg'], 'mcg/day')} down to "
        f"{quantity(e['daily_dose_mcg'], 'mcg/day')}{_message(e)}"
    )


def _alarms_cleared(e: dict) -> str:
    return f"alarm tones silenced: {_alarms(e.get('silenced', []))}; still active: {_alarms(e.get('still_active', []))}"


SENTENCES: dict[str, Callable[[dict], str]] = {
    "interrogation": _interrogation,
    "program_changed": _program_changed,
    "refill": _refill,
    "bolus_started": _bolus_started,
    "bolus_completed": _bolus_completed,
    "bolus_cancel": lambda e: f"boluses cancelled ({e.get('cut_short', 0)} cut short)",
    "mri_scan": lambda e: f"MRI scan, {quantity(e['duration_minutes'], 'min')}",
    "low_reservoir_alarm": _low_reservoir,
    "empty_reservoir_alarm": lambda e: (
        f"EMPTY RESERVOIR alarm{_tone(e)}: the pump counts itself empty and stops: drug no longer flowing, an emergency"
    ),
    "drug_exhausted": lambda e: "the real reservoir is EMPTY (the pump does not know): withdrawal risk",
    "motor_stall": _motor_stall,
    "motor_stall_recovered": lambda e: "motor recovered: infusion resumed (interrogate to confirm)",
    "safety_valve_closed": _safety_valve,
    "valve_reset": lambda e: "safety valve reset" + (" (it was shut)" if e.get("was_closed") else ""),
    "elective_replacement_indicator": _eri,
    "end_of_service": lambda e: f"END OF SERVICE alarm{_tone(e)}: the pump has stopped for good",
    "critical_memory_error": lambda e: f"CRITICAL MEMORY ERROR alarm{_tone(e)}{_message(e)}",
    "low_battery_reset": _low_battery,
    "alarms_cleared": _alarms_cleared,
}


def _value_words(key: str, value: Any) -> str:
    if isinstance(value, bool):
        return f"{key.replace('_', ' ')}: {'yes' if value else 'no'}"
    if isinstance(value, list):
        return f"{key.replace('_', ' ')}: {', '.join(map(str, value)) or 'none'}"
    if isinstance(value, datetime):
        return f"{key.removesuffix('_at').replace('_', ' ')} at {_when(value)}"
    if isinstance(value, int | float):
        for suffix, unit in _SUFFIX_UNITS:
            if key.endswith(suffix):
                return f"{key.removesuffix(suffix).replace('_', ' ')}: {quantity(value, unit)}"
        return f"{key.replace('_', ' ')}: {number(value)}"
    return f"{key.replace('_', ' ')}: {value}"


def sentence(event: dict) -> str:
    """One event (as in the JSON output) in words, e.g. ``"refill: withdrew 9.98 mL, ..."``."""
    kind = event["type"]
    make = SENTENCES.get(kind)
    if make is not None:
        text = make(event)
    else:
        details = [_value_words(k, v) for k, v in event.items() if k not in _HIDDEN]
        text = kind.replace("_", " ") + (f": {'; '.join(details)}" if details else "")
    if not event.get("pump_log", True):
        text += " [not in the pump's log]"
    return text


def timeline_lines(scenario: Any, data: dict) -> list[str]:
    """The run in words: what was set up, one line per event (``YYYY-MM-DD HH:MM  sentence``), the end."""
    setup = scenario.setup
    lines = [
        f"{setup.model.description}, {_ml(setup.reservoir_capacity_ml)} reservoir; "
        f"starts with {_ml(scenario.reservoir_ml)} of {quantity(scenario.concentration_mcg_per_ml, 'mcg/mL')} "
        f"at {quantity(scenario.program.daily_dose_mcg, 'mcg/day')}; low-reservoir alarm at "
        f"{_ml(setup.low_reservoir_alarm_ml)}; from {_when(scenario.start)} to {_when(scenario.until)}"
    ]
    lines += [f"{_when(e['at'])}  {sentence(e)}" for e in data["events"]]
    f = data["final"]
    state = STATE_WORDS.get(f["state"], str(f["state"]).replace("_", " "))
    lines.append(
        f"At {_when(f['at'])} the pump is {state}: the reservoir really holds {_ml(f['reservoir_ml'])} "
        f"(the pump counts {_ml(f['pump_estimated_reservoir_ml'])}) of "
        f"{quantity(f['concentration_mcg_per_ml'], 'mcg/mL')}; {quantity(f['delivered_mcg'], 'mcg')} delivered "
        f"into the spinal fluid, {quantity(f['in_transit_mcg'], 'mcg')} in the tubing and catheter; battery ERI "
        f"expected {_when(f['eri_at'])}; active alarms: {_alarms(f.get('active_alarms', []))}"
    )
    return lines


__all__ = ["sentence", "timeline_lines"]
