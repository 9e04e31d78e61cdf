"""Readable output for people (Rich). JSON output lives with the contracts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.console import Console
from rich.table import Table

from itb.domain.forecast import Forecast, ReservoirState

DATE_FORMAT = "%Y-%m-%d %H:%M:%S"


def _when(at: datetime | None, since: datetime) -> str:
    if at is None:
        return "never (nothing is delivered, or not before the year 10000)"
    days = (at - since).total_seconds() / 86400
    return f"{at.strftime(DATE_FORMAT)}  (in {days:.1f} days)"


def print_forecast(state: ReservoirState, result: Forecast, case_id: Any = None) -> None:
    console = Console()
    title = f"Reservoir forecast {case_id}" if case_id is not None else "Reservoir forecast"
    table = Table(title=title, show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value")
    table.add_row("known at", state.at.strftime(DATE_FORMAT))
    table.add_row(
        "reservoir",
        f"{state.reservoir_ml:g} mL of {state.reservoir_capacity_ml:g} mL at {state.concentration_mcg_per_ml:g} mcg/mL",
    )
    table.add_row("daily dose", f"{result.daily_dose_mcg:.6g} mcg/day ({result.daily_volume_ml:.4g} mL/day)")
    table.add_row(
        f"low-reservoir alarm ({state.low_reservoir_alarm_ml:g} mL)",
        _when(result.low_reservoir_alarm_at, state.at),
    )
    table.add_row(f"empty ({state.empty_ml:g} mL)", _when(result.empty_at, state.at))
    console.print(table)


_EVENT_TEXT = {
    "low_reservoir_alarm": "LOW RESERVOIR alarm (single tone, hourly): book a refill now",
    "empty_reservoir_alarm": "EMPTY RESERVOIR alarm (two-tone): drug no longer flowing - emergency",
    "drug_exhausted": "real reservoir EMPTY (the pump does not know): withdrawal risk",
    "refill": "refill",
    "program_changed": "program changed",
    "bolus_started": "bolus started",
    "bolus_completed": "bolus completed",
    "bolus_cancel": "bolus cancelled",
    "mri_scan": "MRI scan",
    "motor_stall": "MOTOR STALL alarm (two-tone): infusion stopped",
    "motor_stall_recovered": "motor recovered: infusion resumed (interrogate to confirm)",
    "safety_valve_closed": "SAFETY VALVE SHUT (two-tone): no drug flows until reset",
    "valve_reset": "safety valve reset",
    "elective_replacement_indicator": "ERI alarm (single tone): plan pump replacement",
    "end_of_service": "END OF SERVICE alarm (two-tone): the pump has stopped for good",
    "critical_memory_error": "CRITICAL MEMORY ERROR alarm (two-tone): the pump has stopped - replace it",
    "low_battery_reset": "LOW BATTERY RESET alarm (two-tone): minimum rate only - replace the pump",
    "interrogation": "interrogation",
    "alarms_cleared": "alarm tones cleared",
}


def _date(at: datetime | None) -> str:
    return at.strftime(DATE_FORMAT) if at is not None else "after the year 9999"


_HIDDEN = frozenset({"at", "type", "pump_log", "priority", "tone", "repeat_minutes"})


def _details(event: dict) -> str:
    parts = []
    for key, value in event.items():
        if key in _HIDDEN:
            continue
        if isinstance(value, list):
            value = ", ".join(value) or "none"
        elif isinstance(value, float):
            value = f"{value:.6g}"
        parts.append(f"{key.replace('_', ' ')}: {value}")
    return "; ".join(parts)


def print_timeline(scenario: Any, outcome: Any, disclaimer: str) -> None:
    """A readable timeline of a simulation, then the final state."""
    from itb.pump.scenario_json import outcome_json

    data = outcome_json(outcome)
    setup = scenario.setup
    console = Console()
    console.print(
        f"[bold]{setup.model.description}[/bold], {setup.reservoir_capacity_ml:g} mL; "
        f"{scenario.reservoir_ml:g} mL at {scenario.concentration_mcg_per_ml:g} mcg/mL; "
        f"{scenario.program.daily_dose_mcg:.6g} mcg/day; "
        f"{scenario.start.strftime(DATE_FORMAT)} to {scenario.until.strftime(DATE_FORMAT)}"
    )
    console.print(f"[dim]{disclaimer}[/dim]")
    table = Table(show_lines=False)
    table.add_column("when", no_wrap=True)
    table.add_column("event")
    table.add_column("details")
    for event in data["events"]:
        style = "bold red" if event.get("priority") == "critical" or event["type"] == "drug_exhausted" else None
        if event.get("priority") == "non-critical":
            style = "yellow"
        text = _EVENT_TEXT.get(event["type"], event["type"])
        if not event["pump_log"]:
            text += " [not in the pump's log]"
        table.add_row(_date(event["at"]), text, _details(event), style=style)
    console.print(table)
    final = data["final"]
    console.print(
        f"At {_date(final['at'])}: pump {final['state']}; reservoir {final['reservoir_ml']:.3f} mL "
        f"(pump believes {final['pump_estimated_reservoir_ml']:.3f} mL); delivered {final['delivered_mcg']:.1f} mcg; "
        f"in the catheter {final['in_transit_mcg']:.1f} mcg; ERI {_date(final['eri_at'])}; "
        f"active alarms: {', '.join(final['active_alarms']) or 'none'}"
    )
