"""The quality report's plots: bars per period, as accessible SVG for the page and PNG for the PDF.

Each plot is drawn by :mod:`itb.web.plots`' figure helpers (imported when a plot is drawn: the
module loads matplotlib), with a title and a description that says every bar's value in words.

- :func:`refills_plot`: refills per period, with the late refills, near misses and dry episodes beside them.
- :func:`discrepancies_plot`: discrepancies over the threshold per period, reviewed and not reviewed, stacked.
- :func:`triage_plot`: the families' symptom reports per period by the urgency of their triage, stacked.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from itb.domain.quality import TRIAGE_NAMES, Figures

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: the triage urgencies in words, in the order they are stacked
TRIAGE_WORDS = {
    "next_visit": "next visit (0)",
    "call_today": "call today (1)",
    "emergency": "emergency (2)",
    "untriaged": "no triage",
}


@dataclass(frozen=True)
class Series:
    label: str
    values: list[float]
    colour: str


@dataclass(frozen=True)
class BarPlot:
    """What one plot shows: the periods, its series (side by side, or stacked), its words."""

    title: str
    unit: str
    periods: list[str]
    series: list[Series]
    stacked: bool

    def desc(self) -> str:
        parts = [
            f"{p}: " + ", ".join(f"{s.label} {s.values[i]:g}" for s in self.series) for i, p in enumerate(self.periods)
        ]
        return f"{self.title}, {self.unit}, per period. " + "; ".join(parts) + "."

    def empty(self) -> bool:
        return not self.periods or not any(v for s in self.series for v in s.values)


def _periods(rows: Sequence[Figures]) -> list[Figures]:
    return [f for f in rows if f.period.label != "total"]


def refills_plot(rows: Sequence[Figures]) -> BarPlot:
    from itb.web.plots import BLUE, ORANGE, PURPLE, VERMILLION

    shown = _periods(rows)
    series = [
        Series("refills", [f.refills for f in shown], BLUE),
        Series("late", [f.refills_late for f in shown], ORANGE),
        Series("near misses", [f.near_misses for f in shown], PURPLE),
        Series("dry episodes", [f.dry_episodes for f in shown], VERMILLION),
    ]
    return BarPlot("Refills, late refills, near misses and dry episodes", "count", [f.period.label for f in shown],
                   series, stacked=False)  # fmt: skip


def discrepancies_plot(rows: Sequence[Figures]) -> BarPlot:
    from itb.web.plots import ORANGE, SKY

    shown = _periods(rows)
    series = [
        Series("reviewed", [f.discrepancies_reviewed for f in shown], SKY),
        Series("not reviewed", [f.discrepancies_not_reviewed for f in shown], ORANGE),
    ]
    return BarPlot("Refill discrepancies over the threshold", "count", [f.period.label for f in shown], series,
                   stacked=True)  # fmt: skip


def triage_plot(rows: Sequence[Figures]) -> BarPlot:
    from itb.web.plots import BLACK, GREEN, ORANGE, VERMILLION

    shown = _periods(rows)
    colours = dict(zip(TRIAGE_NAMES.values(), (GREEN, ORANGE, VERMILLION, BLACK)))
    series = [
        Series(TRIAGE_WORDS[name], [f.triage.get(name, 0) for f in shown], colours[name])
        for name in TRIAGE_NAMES.values()
    ]
    return BarPlot("Families' symptom reports by triage urgency", "count", [f.period.label for f in shown], series,
                   stacked=True)  # fmt: skip


def _figure(plot: BarPlot) -> Figure:
    from itb.web import plots

    fig, ax = plots._figure()
    xs = list(range(len(plot.periods)))
    width = 0.8 if plot.stacked else 0.8 / len(plot.series)
    bottom = [0.0] * len(xs)
    for n, s in enumerate(plot.series):
        if plot.stacked:
            ax.bar(xs, s.values, width, bottom=bottom, label=s.label, color=s.colour)
            bottom = [b + v for b, v in zip(bottom, s.values)]
        else:
            offset = (n - (len(plot.series) - 1) / 2) * width
            ax.bar([x + offset for x in xs], s.values, width, label=s.label, color=s.colour)
    turned = len(xs) > 8  # long labels side by side would overlap: turned, with room below
    ax.set_xticks(xs, plot.periods, rotation=45 if turned else 0, ha="right" if turned else "center")
    if turned:
        fig.subplots_adjust(bottom=0.30)
    ax.set_ylabel(f"{plot.unit.capitalize()} per period")
    ax.set_xlabel("Period")
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.legend(loc="upper left", fontsize=8, frameon=False, ncols=len(plot.series))
    top = max(bottom) if plot.stacked else max((v for s in plot.series for v in s.values), default=0)
    ax.set_ylim(0, max(top * 1.3, 1))
    return fig


def plot_svg(plot: BarPlot) -> str:
    """The plot as an ``<svg>`` element with its title and description (or a "no data" panel)."""
    from itb.web import plots

    if plot.empty():
        return plots.no_data_svg(plot.title, f"{plot.title}: none in the periods shown.", shown="none in these periods")
    return plots._finish(_figure(plot), plot.title, plot.desc())


def plot_png(plot: BarPlot) -> bytes:
    """The plot as a PNG (for the PDF)."""
    buf = io.BytesIO()
    _figure(plot).savefig(buf, format="png", dpi=150)
    return buf.getvalue()


__all__ = ["BarPlot", "discrepancies_plot", "plot_png", "plot_svg", "refills_plot", "triage_plot"]
