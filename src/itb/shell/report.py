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
