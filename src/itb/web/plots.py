"""Charts for the clinic's pages, as accessible SVG text (server-rendered, no JavaScript).

Pure functions: plain data in, an ``<svg>`` element as ``str`` out (no XML declaration, so it can
be inlined in HTML). Every chart carries a ``<title>`` and a ``<desc>`` (with ``role="img"``,
``aria-label`` and ``aria-describedby``) that says in words what the chart shows; its text stays
text (``svg.fonttype = "none"``), so it is searchable and read by screen readers. Dates are
written ``YYYY-MM-DD``; every axis label gives its unit.

Matplotlib's object API is used (``Figure``, no pyplot): no global figure state, safe in a
threaded server. Two SVG settings are set once at import: text as text, and a fixed hash salt
so that the same data gives the same SVG (ids inside it do not change between requests).

- :func:`reservoir_forecast_svg`: the estimated reservoir volume (mL) until a bit after empty,
  computed exactly from the program (:func:`reservoir_points`), with the low-reservoir alarm
  level, the alarm date, the next booked refill and the time after empty.
- :func:`dose_history_svg`: the daily dose (mcg/day) as steps, increases marked as titration steps.
- :func:`tone_trend_svg`: the Modified Ashworth grade per muscle group over time (0, 1, 1+, 2,
  3, 4 as categories) and the GAS T-score on a second axis.
"""

from __future__ import annotations

import hashlib
import io
import math
import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from itertools import pairwise
from xml.sax.saxutils import escape, quoteattr

import matplotlib
import matplotlib.dates as mdates
from matplotlib.figure import Figure
from matplotlib.transforms import blended_transform_factory

from itb.domain.csf import (
    DEFAULT_CSF,
    CsfSettings,
    intrathecal_equivalent_mcg_per_day,
    periodic_steady_state,
    run_dry_curve,
)
from itb.domain.errors import InvalidInput
from itb.domain.profile import DailyProfile
from itb.domain.program import SECONDS_PER_DAY, DosingProgram
from itb.domain.scales import MAS, parse_mas

matplotlib.rcParams["svg.fonttype"] = "none"  # text stays text: accessible and searchable
matplotlib.rcParams["svg.hashsalt"] = "itb-plots"  # the same data gives the same SVG
#: text is plain text: a stored name such as ``$\frac{$`` is drawn as typed, never parsed as mathtext
matplotlib.rcParams["text.parse_math"] = False

#: Figure size in inches; at 100 px per inch the SVG is 720 x 300 px (a tablet's width).
FIG_INCHES = (7.2, 3.0)
PX_PER_INCH = 100
#: Default horizon when the reservoir never empties.
NEVER_EMPTY_HORIZON_DAYS = 180.0
#: Longest default horizon (a very low dose can take years to empty a reservoir).
MAX_HORIZON_DAYS = 730.0
#: Points of the reservoir curve: uniform samples, plus every change of slope when there are few.
CURVE_SAMPLES = 400
MAX_EXACT_BREAKPOINTS = 2000
DATE = "%Y-%m-%d"
#: Width of a character of an 8 pt label, in inches (a little over DejaVu Sans's average).
LABEL_CHAR_IN = 0.075
NO_DATA = "no data yet"

# Okabe-Ito colours: distinguishable with the common colour-vision deficiencies.
BLUE, ORANGE, GREEN, VERMILLION, SKY, PURPLE, YELLOW, BLACK = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#D55E00",
    "#56B4E9",
    "#CC79A7",
    "#F0E442",
    "#000000",
)
SERIES_COLOURS = (BLUE, VERMILLION, GREEN, PURPLE, ORANGE, SKY, BLACK, "#8C564B")
SERIES_MARKERS = ("o", "s", "^", "D", "v", "P", "X")  # 7 markers, 8 colours: 56 distinct pairs
MAS_LABELS = tuple(g.value for g in MAS)  # "0", "1", "1+", "2", "3", "4" at ordinals 0..5


# -- the reservoir -----------------------------------------------------------------------------


def reservoir_points(
    *,
    at: datetime,
    reservoir_ml: float,
    concentration_mcg_per_ml: float,
    program: DosingProgram,
    empty_ml: float,
    until: datetime,
    extra_times: Sequence[datetime] = (),
) -> list[tuple[datetime, float]]:
    """The estimated reservoir volume (mL) from ``at`` to ``until``, as the corners of a line.

    Exact: the volume is ``reservoir - delivered / concentration``, the delivered dose being the
    integral of the program's rate (steps and daily boluses through :class:`DailyProfile`, plus
    the one-time boluses after ``at``), held at ``empty_ml`` once reached. That curve is piecewise
    linear: every change of slope is a point when there are at most ``MAX_EXACT_BREAKPOINTS``
    of them (otherwise ``CURVE_SAMPLES`` uniform samples, finer than a screen shows), and the
    instant the reservoir reaches ``empty_ml`` is always a point. ``extra_times`` adds points.
    """
    at = _naive(at)
    until = max(_naive(until), at)
    curve = _Delivery(at, program)
    start_ml = reservoir_ml
    floor_ml = min(empty_ml, reservoir_ml)
    span = (until - at).total_seconds()
    times = {0.0, span}
    times.update(span * i / CURVE_SAMPLES for i in range(1, CURVE_SAMPLES))
    times.update(x for x in ((_naive(t) - at).total_seconds() for t in extra_times) if 0 <= x <= span)
    breaks = curve.breakpoints(span)
    if breaks is not None:
        times.update(breaks)
    empty_s = curve.time_to_deliver((reservoir_ml - floor_ml) * concentration_mcg_per_ml)
    if empty_s is not None and empty_s <= span:
        times.add(empty_s)
    points = []
    for s in sorted(times):
        if empty_s is not None and s >= empty_s:
            volume = floor_ml
        else:
            volume = max(start_ml - curve.delivered(s) / concentration_mcg_per_ml, floor_ml)
        points.append((at + timedelta(seconds=s), volume))
    return points


class _Delivery:
    """The dose delivered from ``at`` (mcg) by a program, ``s`` seconds later: exact."""

    def __init__(self, at: datetime, program: DosingProgram) -> None:
        self.day0 = datetime(at.year, at.month, at.day)
        self.t0 = (at - self.day0).total_seconds()
        self.profile = DailyProfile.from_program(program)
        self.base = self.profile.delivered_by(self.t0)
        # One-time boluses as windows [start, end) in seconds after ``at``, at mcg per second.
        self.windows = []
        for b in program.one_time_boluses:
            start = (_naive(b.at) - at).total_seconds()
            length = b.duration_minutes * 60
            if b.dose_mcg > 0 and length > 0 and start + length > 0:
                self.windows.append((start, start + length, b.dose_mcg / length))

    def delivered(self, s: float) -> float:
        total = self.profile.delivered_by(self.t0 + s) - self.base
        for a, e, rate in self.windows:
            overlap = min(e, s) - max(a, 0.0)
            if overlap > 0:
                total += rate * overlap
        return total

    def breakpoints(self, span: float) -> list[float] | None:
        """Every instant in ``[0, span]`` where the delivery rate may change; None if too many."""
        out = [x for a, e, _ in self.windows for x in (a, e) if 0 <= x <= span]
        starts = self.profile.starts_s
        days = (self.t0 + span) / SECONDS_PER_DAY - self.t0 // SECONDS_PER_DAY + 1
        if days * len(starts) > MAX_EXACT_BREAKPOINTS:
            return None
        k = math.floor(self.t0 / SECONDS_PER_DAY)
        while True:
            for x in starts:
                s = k * SECONDS_PER_DAY + x - self.t0
                if s > span:
                    return out
                if s >= 0:
                    out.append(s)
            k += 1

    def time_to_deliver(self, amount_mcg: float) -> float | None:
        """Seconds after ``at`` by which ``amount_mcg`` has been delivered; None if never."""
        if amount_mcg <= 0:
            return 0.0
        # Past the last one-time bolus, the periodic profile answers exactly.
        last = max((e for _, e, _ in self.windows), default=0.0)
        if self.delivered(last) < amount_mcg:
            rest = amount_mcg - self.delivered(last)
            t = self.profile.time_to_deliver(self.t0 + last, rest)
            return None if t is None else t - self.t0
        # Within the boluses: bisection on the (monotone, continuous) delivered dose.
        lo, hi = 0.0, last
        for _ in range(80):
            mid = (lo + hi) / 2
            if self.delivered(mid) >= amount_mcg:
                hi = mid
            else:
                lo = mid
            if hi - lo < 1e-4:
                break
        return hi


def reservoir_forecast_svg(
    *,
    at: datetime,
    reservoir_ml: float,
    concentration_mcg_per_ml: float,
    program: DosingProgram,
    low_reservoir_alarm_ml: float,
    empty_ml: float,
    alarm_at: datetime | None,
    empty_at: datetime | None,
    next_refill_at: datetime | None,
    horizon_days: float | None = None,
    fast_ratio: float | None = None,
    fill_ml: float | None = None,
) -> str:
    """The estimated reservoir volume (mL) from ``at`` until a bit after empty.

    With ``fast_ratio`` (the pump's learned flow at its upper bound, real / counted) and
    ``fill_ml`` (its last fill), the band between what the pump counts and what may really be
    left if it runs that fast is shaded (the real reservoir is ``fill - ratio x counted``).

    The horizon, unless given, runs to a margin after the later of ``empty_at`` and
    ``next_refill_at``, or ``NEVER_EMPTY_HORIZON_DAYS`` when neither is known. The low-reservoir
    alarm level is a dashed line, the alarm date and the next booked refill are marked, and the
    time after empty is shaded.
    """
    title = "Reservoir forecast"
    if not (concentration_mcg_per_ml and concentration_mcg_per_ml > 0) or not program.steps:
        return no_data_svg(title, "No reservoir forecast: the pump's concentration or program is not known.")
    at = _naive(at)
    alarm_at, empty_at, next_refill_at = (
        None if t is None else _naive(t) for t in (alarm_at, empty_at, next_refill_at)
    )
    until = at + timedelta(days=horizon_days or _horizon_days(at, empty_at, next_refill_at))
    marks = [t for t in (alarm_at, empty_at, next_refill_at) if t is not None and at <= t <= until]
    points = reservoir_points(
        at=at,
        reservoir_ml=reservoir_ml,
        concentration_mcg_per_ml=concentration_mcg_per_ml,
        program=program,
        empty_ml=empty_ml,
        until=until,
        extra_times=marks,
    )
    if empty_at is None:  # not given: where the curve reaches empty, if it does
        empty_at = next((t for t, v in points if v <= min(empty_ml, reservoir_ml)), None)

    fig, ax = _figure()
    xs = mdates.date2num([t for t, _ in points])
    ax.plot(xs, [v for _, v in points], color=BLUE, linewidth=2, label="estimated volume")
    fast_empty = None
    if fast_ratio is not None and fast_ratio > 1 and fill_ml is not None:
        real_now = reservoir_ml - (fast_ratio - 1) * max(fill_ml - reservoir_ml, 0.0)
        fast = [max(real_now - fast_ratio * (reservoir_ml - v), 0.0) for _, v in points]
        ax.fill_between(xs, fast, [v for _, v in points], color=BLUE, alpha=0.15, linewidth=0)
        ax.plot(xs, fast, color=BLUE, linewidth=1, linestyle="--")
        fast_empty = next((t for (t, _), v in zip(points, fast) if v <= 0), None)
    alarm_text = f"low-reservoir alarm {low_reservoir_alarm_ml:g} mL"
    ax.axhline(low_reservoir_alarm_ml, color=ORANGE, linestyle="--", linewidth=1.5)
    ax.text(
        0.01,
        low_reservoir_alarm_ml,
        alarm_text,
        transform=blended_transform_factory(ax.transAxes, ax.transData),
        color="#8a5a00",
        fontsize=8,
        va="bottom",
    )
    if empty_at is not None and empty_at <= until:
        ax.axvspan(mdates.date2num(empty_at), mdates.date2num(until), color=VERMILLION, alpha=0.12, linewidth=0)
    labels = []
    if alarm_at is not None and at <= alarm_at <= until:
        labels.append((alarm_at, f"alarm {alarm_at:{DATE}}", ORANGE, "--"))
    if empty_at is not None and at <= empty_at <= until:
        labels.append((empty_at, f"empty {empty_at:{DATE}}", VERMILLION, ":"))
    if next_refill_at is not None and at <= next_refill_at <= until:
        labels.append((next_refill_at, f"refill booked {next_refill_at:{DATE}}", GREEN, "-"))
    _vertical_marks(ax, labels, at, until)
    top = max(reservoir_ml, low_reservoir_alarm_ml, empty_ml) * 1.12 or 1.0
    ax.set_ylim(min(0.0, empty_ml), top)
    ax.set_xlim(mdates.date2num(at), mdates.date2num(until))
    ax.set_ylabel("Reservoir volume (mL)")
    _date_axis(ax)

    daily_ml = program.daily_dose_mcg / concentration_mcg_per_ml
    parts = [
        f"Estimated reservoir volume from {at:%Y-%m-%d %H:%M} to {until:{DATE}}: "
        f"{reservoir_ml:g} mL of {concentration_mcg_per_ml:g} mcg/mL, "
        f"{program.daily_dose_mcg:.4g} mcg/day ({daily_ml:.3g} mL/day).",
        f"The low-reservoir alarm sounds at {low_reservoir_alarm_ml:g} mL"
        + (f", on {alarm_at:{DATE}}." if alarm_at else ", a level the reservoir does not reach."),
        f"Empty ({empty_ml:g} mL) on {empty_at:{DATE}}." if empty_at else "The reservoir does not empty.",
    ]
    if empty_at is not None and empty_at > until:
        parts.append("Empty is after the end of the chart.")
    if fast_ratio is not None and fast_ratio > 1 and fill_ml is not None:
        parts.append(
            f"Shaded: what may really be left if the pump gives {fast_ratio - 1:.1%} more than it counts "
            "(its learned flow at the upper bound)" + (f", empty by {fast_empty:{DATE}}." if fast_empty else ".")
        )
    parts.append(f"Next refill booked on {next_refill_at:{DATE}}." if next_refill_at else "No refill is booked.")
    if next_refill_at and alarm_at and next_refill_at > alarm_at:
        parts.append("The refill is booked after the alarm date.")
    return _finish(fig, title, " ".join(parts))


def _horizon_days(at: datetime, empty_at: datetime | None, next_refill_at: datetime | None) -> float:
    ends = [t for t in (empty_at, next_refill_at) if t is not None and t > at]
    if not ends:
        return NEVER_EMPTY_HORIZON_DAYS
    days = (max(ends) - at) / timedelta(days=1)
    return min(days + max(3.0, 0.1 * days), MAX_HORIZON_DAYS)


def _vertical_marks(ax, marks: list[tuple[datetime, str, str, str]], start: datetime, end: datetime) -> None:
    """Vertical lines with their labels at the top, each label on the highest free row."""
    span = (end - start).total_seconds() or 1.0
    trans = blended_transform_factory(ax.transData, ax.transAxes)
    axes_in = ax.get_position().width * ax.figure.get_figwidth()
    rows: list[list[tuple[float, float]]] = []  # the extents (axes fraction) of the labels on each row
    for when, text, colour, style in sorted(marks, key=lambda m: m[0]):
        x = mdates.date2num(when)
        ax.axvline(x, color=colour, linestyle=style, linewidth=1.2)
        frac = (when - start).total_seconds() / span
        width = (len(text) + 2) * LABEL_CHAR_IN / axes_in
        right = frac + width > 1.0  # no room on the right of the line: the label goes on its left
        extent = (frac - width, frac) if right else (frac, frac + width)
        row = next(
            (i for i, used in enumerate(rows) if all(extent[1] < a or extent[0] > b for a, b in used)), len(rows)
        )
        if row == len(rows):
            rows.append([])
        rows[row].append(extent)
        ax.text(
            x,
            0.97 - 0.09 * row,
            f"{text} " if right else f" {text}",
            transform=trans,
            ha="right" if right else "left",
            va="top",
            fontsize=8,
            color="#222222",
            bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.9, "pad": 1},
        )


# -- the dose ----------------------------------------------------------------------------------


def dose_history_svg(changes: list[tuple[datetime, float]], *, until: datetime, titration_marks: bool = True) -> str:
    """The daily dose (mcg/day) as a step line, from each program change (date, dose) to ``until``.

    Increases are titration steps: marked, with the % change, when ``titration_marks``.
    """
    title = "Daily dose history"
    rows = sorted(
        ((_naive(t), float(d)) for t, d in changes if t is not None and d is not None and math.isfinite(d)),
        key=lambda r: r[0],
    )
    if not rows:
        return no_data_svg(title, "No dose history: no program has been recorded yet.")
    until = max(_naive(until), rows[-1][0])
    end = until if until > rows[0][0] else rows[0][0] + timedelta(days=1)
    xs = [t for t, _ in rows] + [end]
    ys = [d for _, d in rows] + [rows[-1][1]]

    fig, ax = _figure()
    ax.step(mdates.date2num(xs), ys, where="post", color=BLUE, linewidth=2)
    increases = [(t, d, prev) for (_, prev), (t, d) in pairwise(rows) if d > prev]
    if titration_marks and increases:
        ax.plot(
            mdates.date2num([t for t, _, _ in increases]),
            [d for _, d, _ in increases],
            linestyle="none",
            marker="^",
            markersize=6,
            color=VERMILLION,
            label="titration step (increase)",
        )
        for n, (t, d, prev) in enumerate(increases):
            ax.annotate(
                _percent(d, prev),
                (mdates.date2num(t), d),
                xytext=(0, 5 + 8 * (n % 2)),
                textcoords="offset points",
                ha="center",
                fontsize=7,
                color="#7a3000",
            )
        ax.legend(loc="lower right", fontsize=8, frameon=False)
    top = max(ys)
    ax.set_ylim(0, top * 1.2 if top > 0 else 1.0)
    ax.set_xlim(mdates.date2num(rows[0][0]), mdates.date2num(end))
    ax.set_ylabel("Daily dose (mcg/day)")
    _date_axis(ax)

    first, last = rows[0], rows[-1]
    desc = (
        f"Daily dose from {first[0]:{DATE}} to {until:{DATE}}: {len(rows)} program "
        f"{'change' if len(rows) == 1 else 'changes'}, from {first[1]:g} to {last[1]:g} mcg/day "
        f"(current since {last[0]:{DATE}}). {len(increases)} "
        f"{'increase' if len(increases) == 1 else 'increases'} (titration steps)"
    )
    if increases:
        desc += ": " + ", ".join(f"{t:{DATE}} {_percent(d, p)} to {d:g} mcg/day" for t, d, p in increases)
    return _finish(fig, title, desc + ".")


def _percent(new: float, old: float) -> str:
    return f"+{(new - old) / old * 100:.0f}%" if old > 0 else "start"


# -- tone --------------------------------------------------------------------------------------


def tone_trend_svg(
    assessments: list[tuple[datetime, dict[str, str]]],
    goals: list[tuple[datetime, float]] | None = None,
) -> str:
    """The Modified Ashworth grade of each muscle group over time, and the GAS T-score if given.

    The grades are categories 0, 1, 1+, 2, 3, 4 (1+ is its own grade, not 1.5), one line per
    muscle group, nudged apart a little so that equal grades stay visible; the GAS T-score is on
    the right-hand axis. Grades that are not MAS grades are left out.
    """
    title = "Muscle tone (Modified Ashworth) over time"
    series: dict[str, list[tuple[datetime, MAS]]] = {}
    for when, grades in sorted((a for a in assessments if a[0] is not None), key=lambda a: _naive(a[0])):
        for muscle, value in (grades or {}).items():
            try:
                grade = parse_mas(value, str(muscle))
            except InvalidInput:
                continue
            series.setdefault(str(muscle), []).append((_naive(when), grade))
    gas = sorted(
        ((_naive(t), float(v)) for t, v in goals or () if t is not None and v is not None and math.isfinite(v)),
        key=lambda g: g[0],
    )
    if not series and not gas:
        return no_data_svg(title, "No muscle tone assessments yet.")

    fig, ax = _figure(right=0.70 if gas else 0.76)
    times = [t for s in series.values() for t, _ in s] + [t for t, _ in gas]
    start, end = min(times), max(times)
    if end - start < timedelta(days=2):
        start, end = start - timedelta(days=1), end + timedelta(days=1)
    pad = (end - start) * 0.04
    names = sorted(series)
    handles = []
    for i, name in enumerate(names):
        nudge = (i - (len(names) - 1) / 2) * min(0.08, 0.4 / max(len(names), 1))
        pts = series[name]
        (line,) = ax.plot(
            mdates.date2num([t for t, _ in pts]),
            [g.ordinal + nudge for _, g in pts],
            color=SERIES_COLOURS[i % len(SERIES_COLOURS)],
            marker=SERIES_MARKERS[i % len(SERIES_MARKERS)],
            markersize=5,
            linewidth=1.5,
            label=name.replace("_", " "),
        )
        handles.append(line)
    ax.set_ylim(-0.5, len(MAS_LABELS) - 0.5)
    ax.set_yticks(range(len(MAS_LABELS)), MAS_LABELS)
    ax.set_ylabel("MAS grade (0–4, ordinal)")
    ax.set_xlim(mdates.date2num(start - pad), mdates.date2num(end + pad))
    _date_axis(ax)
    if gas:
        gx = ax.twinx()
        (line,) = gx.plot(
            mdates.date2num([t for t, _ in gas]),
            [v for _, v in gas],
            color=BLACK,
            linestyle="--",
            marker="s",
            markersize=5,
            linewidth=1.2,
            label="GAS T-score",
        )
        values = [v for _, v in gas] + [50.0]
        gx.set_ylim(min(20.0, min(values) - 5), max(80.0, max(values) + 5))
        gx.set_ylabel("GAS T-score (T units; 50 = expected)")
        gx.tick_params(labelsize=8)
        handles.append(line)
    ax.legend(
        handles=handles,
        loc="upper left",
        bbox_to_anchor=(1.13 if gas else 1.01, 1.0),
        fontsize=8,
        frameon=False,
        ncol=1 if len(handles) <= 11 else 2,
    )

    parts = []
    if series:
        dates = sorted({t for s in series.values() for t, _ in s})
        latest = ", ".join(f"{n.replace('_', ' ')} {series[n][-1][1].value} ({series[n][-1][0]:{DATE}})" for n in names)
        parts.append(
            f"Modified Ashworth grades (0, 1, 1+, 2, 3, 4) of {len(names)} muscle "
            f"{'group' if len(names) == 1 else 'groups'} at {len(dates)} "
            f"{'assessment' if len(dates) == 1 else 'assessments'} from {dates[0]:{DATE}} to {dates[-1]:{DATE}}. "
            f"Latest: {latest}."
        )
    else:
        parts.append("No Modified Ashworth grades yet.")
    if gas:
        parts.append(
            f"GAS T-score at {len(gas)} {'review' if len(gas) == 1 else 'reviews'}: "
            + ", ".join(f"{v:.1f} ({t:{DATE}})" for t, v in gas)
            + " (50 = goals met as expected)."
        )
    return _finish(fig, title, " ".join(parts))


# -- shared ------------------------------------------------------------------------------------


def _naive(at: datetime) -> datetime:
    """The pump clock's reading (local time, no offset), as the forecast reads it."""
    return at if at.tzinfo is None else at.replace(tzinfo=None)


def _figure(*, right: float = 0.95):
    fig = Figure(figsize=FIG_INCHES, dpi=PX_PER_INCH)
    fig.subplots_adjust(left=0.10, right=right, bottom=0.19, top=0.95)
    ax = fig.add_subplot()
    ax.grid(True, color="#e3e6ec", linewidth=0.8)
    ax.set_axisbelow(True)
    ax.tick_params(labelsize=8)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return fig, ax


def _date_axis(ax) -> None:
    """Dates as YYYY-MM-DD, about one tick per inch of axis (a label is about 0.7 inch wide)."""
    width_in = ax.get_position().width * ax.figure.get_figwidth()
    locator = mdates.AutoDateLocator(minticks=2, maxticks=max(3, math.floor(width_in)))
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.DateFormatter(DATE))
    ax.set_xlabel("Date (YYYY-MM-DD)")


_SIZE = re.compile(r'\s(width|height)="[^"]*"')


def _finish(fig: Figure, title: str, desc: str) -> str:
    """The figure as an ``<svg>`` element with its title and description, sized in px."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    svg = buf.getvalue()
    svg = svg[svg.index("<svg") :]
    open_end = svg.index(">")
    w, h = (round(x * PX_PER_INCH) for x in fig.get_size_inches())
    tag = _SIZE.sub("", svg[:open_end])
    return _wrap(tag + f' width="{w}" height="{h}"', title, desc, svg[open_end + 1 :])


def _wrap(open_tag: str, title: str, desc: str, rest: str) -> str:
    ident = "itb-plot-" + hashlib.sha1(f"{title}\n{desc}".encode()).hexdigest()[:10]
    return (
        f'{open_tag} role="img" aria-label={quoteattr(title)} aria-describedby="{ident}-desc">\n'
        f' <title id="{ident}-title">{escape(title)}</title>\n'
        f' <desc id="{ident}-desc">{escape(desc)}</desc>{rest}'
    )


def no_data_svg(title: str, desc: str = NO_DATA, *, shown: str = NO_DATA) -> str:
    """A small SVG saying ``shown`` ("no data yet"), with its title and description."""
    w, h = FIG_INCHES[0] * PX_PER_INCH, 90
    body = (
        f'\n <rect x="0.5" y="0.5" width="{w - 1:g}" height="{h - 1}" fill="#f6f7f9" stroke="#d5dae3" rx="8"/>\n'
        f' <text x="{w / 2:g}" y="{h / 2 - 6:g}" text-anchor="middle" font-family="sans-serif" font-size="15" '
        f'font-weight="600" fill="#333">{escape(title)}</text>\n'
        f' <text x="{w / 2:g}" y="{h / 2 + 16:g}" text-anchor="middle" font-family="sans-serif" font-size="14" '
        f'fill="#555">{escape(shown)}</text>\n</svg>\n'
    )
    open_tag = f'<svg xmlns="http://www.w3.org/2000/svg" width="{w:g}" height="{h}" viewBox="0 0 {w:g} {h}"'
    return _wrap(open_tag, title, desc, body)


__all__ = [
    "dose_history_svg",
    "no_data_svg",
    "reservoir_forecast_svg",
    "reservoir_points",
    "tone_trend_svg",
]


def csf_run_dry_svg(program: DosingProgram, *, settings: CsfSettings = DEFAULT_CSF, days: float = 4.0) -> str:
    """For families: the drug in the spinal fluid on the program, then what happens if the pump
    runs dry on day 2 (the level halves every half-life; the effect follows hours later).

    From :mod:`itb.domain.csf` (one compartment plus an effect delay; settings documented there).
    """
    profile = DailyProfile.from_program(program)
    if profile.daily_mcg <= 0:
        return no_data_svg("Baclofen in the spinal fluid", "the program delivers nothing")
    c_ss, e_ss = periodic_steady_state(profile, settings)
    day = 86_400.0
    curve = run_dry_curve(profile, 0.0, 2 * day, days * day, c_ss, ce0_ng_per_ml=e_ss, settings=settings)
    hours = curve.times_s / 3600.0
    fig, ax = _figure()
    ax.plot(hours, curve.csf_ng_per_ml, color=BLUE, label="in the spinal fluid")
    ax.plot(hours, curve.effect_ng_per_ml, color=VERMILLION, linestyle="--", label="where it acts (lags behind)")
    ax.axvline(48, color=BLACK, linestyle=":", linewidth=1)
    ax.annotate("pump runs dry", (48, ax.get_ylim()[1] * 0.92), xytext=(4, 0), textcoords="offset points", fontsize=9)
    ax.set_xlabel("Hours")
    ax.set_ylabel("Baclofen (ng/mL)")
    ax.set_xlim(0, days * 24)
    ax.legend(loc="lower left", fontsize=9, frameon=False)
    half = settings.half_life_h
    desc = (
        f"On this program the level in the spinal fluid stays near {c_ss:.0f} ng/mL. If the pump runs dry, "
        f"the level halves about every {half:g} hours; the effect fades hours later, which is when withdrawal "
        "signs start. Refill visits prevent this."
    )
    return _finish(fig, "What happens if the pump runs dry", desc)


def oral_vs_intrathecal_svg(oral_mg_per_day: float = 60.0, *, settings: CsfSettings = DEFAULT_CSF) -> str:
    """For families: why the pump gives so little. Of an oral dose only a small share reaches the
    spinal fluid (``oral_bioavailability_to_csf``, a documented setting); the pump puts a dose of
    about that size right there. Orientation only, not a dosing rule."""
    reaching = intrathecal_equivalent_mcg_per_day(oral_mg_per_day, settings)
    fig, ax = _figure(right=0.97)
    labels = ["by mouth, swallowed", "by mouth, reaching the spinal fluid", "pump, into the spinal fluid"]
    values = [oral_mg_per_day * 1000.0, reaching, reaching]
    bars = ax.barh(labels, values, color=[SKY, BLUE, GREEN])
    ax.set_xscale("log")
    ax.set_xlabel("Baclofen per day (mcg, log scale)")
    for bar, value in zip(bars, values):
        ax.annotate(
            f"{value:,.0f} mcg",
            (value, bar.get_y() + bar.get_height() / 2),
            xytext=(4, 0),
            textcoords="offset points",
            va="center",
            fontsize=9,
        )
    fig.subplots_adjust(left=0.36)
    desc = (
        f"Of {oral_mg_per_day:g} mg swallowed each day, only about {reaching:,.0f} mcg reaches the spinal fluid; "
        f"the rest goes around the body and can make a child sleepy. The pump gives about that small amount "
        "right where it works."
    )
    return _finish(fig, "Medicine by mouth or by pump", desc)
