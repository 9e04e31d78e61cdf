"""``itb simulate --plot FILE.svg|png``: the run drawn over time.

Top: the reservoir (mL), what the pump counts (dashed) and what is really there (solid), the
low-reservoir alarm line, refills, MRI scans and the alarms the pump sounded. Bottom: the
programmed daily dose (mcg/day) as steps, with the one-time boluses marked. Dates YYYY-MM-DD,
every axis with its unit, Okabe-Ito colours (as ``itb.web.plots``), matplotlib's object API
(``Figure``, no pyplot). An SVG keeps its text as text and carries a ``<title>``.

The curves come from running the scenario again and reading the pump every step of the way
(:func:`sample_run`); the markers come from the events of the run itself (the JSON's), so the
plot and the printed timeline show the same instants. The JSON output is not touched.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.dates as mdates
from matplotlib.figure import Figure

from itb.domain.formatting import day, quantity
from itb.pump.simulator import Scenario, apply, new_pump

matplotlib.rcParams["text.parse_math"] = False  # labels are plain text, never mathtext

#: Reservoir readings along the run (more where actions are: each one is read before and after).
SAMPLES = 800
FORMATS = ("svg", "png")
FIG_INCHES = (9.6, 5.6)
DPI = 110

BLUE, ORANGE, GREEN, VERMILLION, SKY, PURPLE, BLACK = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#D55E00",
    "#56B4E9",
    "#CC79A7",
    "#000000",
)
_CRITICAL = frozenset(
    {
        "empty_reservoir_alarm",
        "motor_stall",
        "safety_valve_closed",
        "end_of_service",
        "critical_memory_error",
        "low_battery_reset",
    }
)
_NON_CRITICAL = frozenset({"low_reservoir_alarm", "elective_replacement_indicator"})
_ALARM_LABELS = {
    "low_reservoir_alarm": "low reservoir",
    "empty_reservoir_alarm": "empty reservoir",
    "motor_stall": "motor stall",
    "safety_valve_closed": "valve shut",
    "elective_replacement_indicator": "ERI",
    "end_of_service": "end of service",
    "critical_memory_error": "memory error",
    "low_battery_reset": "battery reset",
    "drug_exhausted": "really empty",
}


class PlotError(ValueError):
    """The plot's file cannot be written (its message names --plot and the rule)."""


@dataclass(frozen=True, slots=True)
class Samples:
    times: list[datetime]
    real_ml: list[float]
    counted_ml: list[float]
    dose_mcg_per_day: list[float]


def sample_run(scenario: Scenario, samples: int = SAMPLES) -> Samples:
    """Run ``scenario`` again, reading the pump at ``samples`` even instants and around every action."""
    pump = new_pump(scenario)
    span = (scenario.until - scenario.start).total_seconds()
    grid = [scenario.start + timedelta(seconds=span * i / samples) for i in range(samples + 1)]
    out = Samples([], [], [], [])

    def read() -> None:
        out.times.append(pump.day0 + timedelta(seconds=pump.t))
        out.real_ml.append(pump.real_ml)
        out.counted_ml.append(pump.est_ml)
        out.dose_mcg_per_day.append(pump.program.daily_dose_mcg)  # as programmed (a stall is an alarm above)

    def until(at: datetime) -> None:
        while grid and grid[0] <= at:
            pump.advance_to(pump.t_of(grid.pop(0)))
            read()
        pump.advance_to(pump.t_of(at))
        read()

    read()
    for action in sorted(scenario.actions, key=lambda a: a.at):
        until(action.at)
        apply(pump, action)
        read()
    until(scenario.until)
    return Samples(*_sorted(out))


def _sorted(s: Samples) -> tuple[list, list, list, list]:
    rows = sorted(zip(s.times, s.real_ml, s.counted_ml, s.dose_mcg_per_day, strict=True), key=lambda r: r[0])
    return tuple(list(col) for col in zip(*rows, strict=True)) if rows else ([], [], [], [])  # type: ignore[return-value]


def plot_format(path: str) -> str:
    """``svg`` or ``png`` from the file's name; anything else is refused."""
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in FORMATS:
        raise PlotError(f"--plot: the file must end in .svg or .png, got {path!r}")
    return suffix


def timeline_figure(scenario: Scenario, data: dict[str, Any]) -> Figure:
    """The figure of a run (``data``: the run's JSON object, ``outcome_json``)."""
    s = sample_run(scenario)
    x = mdates.date2num(s.times)
    events = [e for e in data["events"] if e.get("at") is not None]
    fig = Figure(figsize=FIG_INCHES, dpi=DPI)
    grid = fig.add_gridspec(2, 1, height_ratios=(3, 1.3), hspace=0.08, left=0.08, right=0.75, top=0.9, bottom=0.1)
    ax = fig.add_subplot(grid[0])
    dose_ax = fig.add_subplot(grid[1], sharex=ax)
    for a in (ax, dose_ax):
        a.grid(True, color="#e3e6ec", linewidth=0.8)
        a.set_axisbelow(True)
        a.tick_params(labelsize=8)
        for side in ("top", "right"):
            a.spines[side].set_visible(False)
    setup = scenario.setup
    fig.suptitle(
        f"Simulated pump, {day(scenario.start)} to {day(scenario.until)}: {setup.model.description}, "
        f"{quantity(setup.reservoir_capacity_ml, 'mL')}",
        fontsize=10,
        x=0.08,
        ha="left",
    )

    # -- the reservoir
    ax.plot(x, s.real_ml, color=BLUE, linewidth=1.8, label="reservoir, really (mL)")
    ax.plot(x, s.counted_ml, color=ORANGE, linewidth=1.5, linestyle="--", label="reservoir, the pump's count (mL)")
    ax.axhline(setup.low_reservoir_alarm_ml, color=VERMILLION, linewidth=1, linestyle=":")
    ax.annotate(
        f"low-reservoir alarm {quantity(setup.low_reservoir_alarm_ml, 'mL')}",
        (1.0, setup.low_reservoir_alarm_ml),
        xycoords=("axes fraction", "data"),
        xytext=(4, 0),
        textcoords="offset points",
        fontsize=7.5,
        color=VERMILLION,
        va="center",
    )
    ax.set_ylabel("Reservoir (mL)", fontsize=9)
    ax.set_ylim(bottom=0, top=setup.reservoir_capacity_ml * 1.12)
    top = setup.reservoir_capacity_ml * 1.1

    refills = [e for e in events if e["type"] == "refill"]
    for i, e in enumerate(refills):
        ax.axvline(e["at"], color=GREEN, linewidth=1, alpha=0.8, label="refill" if i == 0 else None)
    mris = [e for e in events if e["type"] == "mri_scan"]
    for i, e in enumerate(mris):
        end = e["at"] + timedelta(minutes=float(e.get("duration_minutes") or 0))
        ax.axvspan(e["at"], max(end, e["at"] + timedelta(hours=6)), color=PURPLE, alpha=0.35, lw=0)
        ax.axvline(e["at"], color=PURPLE, linewidth=1.2, label="MRI scan" if i == 0 else None)
        ax.annotate("MRI", (e["at"], top), fontsize=7.5, color=PURPLE, ha="center", va="bottom")

    seen: set[str] = set()
    counted = dict(zip(s.times, s.counted_ml, strict=True))
    real = dict(zip(s.times, s.real_ml, strict=True))
    close = timedelta(seconds=(scenario.until - scenario.start).total_seconds() * 0.05)
    labelled: list[tuple[datetime, float]] = []
    row = setup.reservoir_capacity_ml * 0.07  # one label's height, in mL
    for e in events:
        kind = e["type"]
        if kind not in _CRITICAL and kind not in _NON_CRITICAL and kind != "drug_exhausted":
            continue
        at = e["at"]
        y = e.get("pump_estimated_reservoir_ml")
        if y is None:  # the pump's alarms at its count; the body's "really empty" on the real curve
            y = _nearest(real if kind == "drug_exhausted" else counted, at)
        near = [h for t, h in labelled if abs(t - at) < close]  # labels close in time go one above another
        label_y = max([y + row, *(h + row for h in near)])
        labelled.append((at, label_y))
        critical = kind in _CRITICAL or kind == "drug_exhausted"
        group = "critical alarm, or really empty" if critical else "alarm (single tone)"
        ax.plot(
            [at],
            [y],
            marker="X" if critical else "v",
            markersize=9,
            color=VERMILLION if critical else BLACK,
            linestyle="none",
            label=None if group in seen else group,
            zorder=5,
        )
        seen.add(group)
        ax.annotate(
            _ALARM_LABELS.get(kind, kind.replace("_", " ")),
            (at, y),
            xytext=(at, label_y),
            textcoords="data",
            fontsize=7,
            color=VERMILLION if critical else BLACK,
            arrowprops={"arrowstyle": "-", "color": "#8a8f99", "linewidth": 0.6, "shrinkB": 5},
            bbox={"boxstyle": "square,pad=0.1", "facecolor": "white", "edgecolor": "none", "alpha": 0.85},
        )
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7.5, frameon=False)
    ax.tick_params(labelbottom=False)

    # -- the dose
    dose_ax.step(x, s.dose_mcg_per_day, where="post", color=BLACK, linewidth=1.4, label="daily dose (mcg/day)")
    boluses = [e for e in events if e["type"] == "bolus_started"]
    for i, e in enumerate(boluses):
        dose_ax.axvline(e["at"], color=SKY, linewidth=1.2, label="bolus" if i == 0 else None)
        dose_ax.annotate(
            f"{e.get('kind', '')} bolus {quantity(e['dose_mcg'], 'mcg')}".strip(),
            (e["at"], 0.0),
            xycoords=("data", "axes fraction"),
            xytext=(3, 3),
            textcoords="offset points",
            fontsize=7,
            color="#1f5f86",
        )
    dose_ax.set_ylabel("Daily dose\n(mcg/day)", fontsize=9)
    dose_ax.set_ylim(bottom=0, top=max([*s.dose_mcg_per_day, 1.0]) * 1.2)
    dose_ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7.5, frameon=False)
    dose_ax.set_xlim(float(mdates.date2num(scenario.start)), float(mdates.date2num(scenario.until)))
    locator = mdates.AutoDateLocator(minticks=3, maxticks=9)
    dose_ax.xaxis.set_major_locator(locator)
    dose_ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m-%d"))
    dose_ax.set_xlabel("Date (YYYY-MM-DD)", fontsize=9)
    return fig


def _nearest(level: dict[datetime, float], at: datetime) -> float:
    return level[min(level, key=lambda t: abs((t - at).total_seconds()))] if level else 0.0


def write_plot(scenario: Scenario, data: dict[str, Any], path: str) -> None:
    """Draw the run into ``path`` (``.svg`` or ``.png``)."""
    fmt = plot_format(path)
    fig = timeline_figure(scenario, data)
    title = f"Simulated ITB pump run {day(scenario.start)} to {day(scenario.until)}"
    metadata: dict[str, Any] = {"Title": title}
    if fmt == "svg":
        metadata |= {"Date": None, "Creator": None}
    try:
        with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "itb-simulate"}):
            fig.savefig(path, format=fmt, metadata=metadata)
    except OSError as exc:
        raise PlotError(f"--plot: cannot write {path} ({exc.strerror or exc.__class__.__name__})") from None


__all__ = ["PlotError", "plot_format", "sample_run", "timeline_figure", "write_plot"]
