"""A one-compartment model of baclofen in the spinal fluid (CSF), with an effect compartment.

For education and planning only: it shows *shapes* (how fast a level rises after a rate change,
how fast it falls when the pump runs dry), not a patient's real levels.

Model
-----
The pump infuses at ``R(t)`` mcg/day, piecewise constant (a ``DailyProfile``). The drug mixes in
one CSF compartment of volume ``V`` and leaves it with clearance ``CL``::

    dC/dt = R(t)/V - k C,        k = ln 2 / t_half,        V = CL t_half / ln 2 (so k = CL / V)

On a segment of constant rate ``R`` this has the exact solution::

    C(t) = C_inf + (C_0 - C_inf) e^{-k t},      C_inf = R / CL

so ``concentration_curve`` computes every value from the start of its segment by this formula,
never by small time steps, and a 10-year curve is as exact as a 1-hour one.

Units: ``R`` mcg/day and ``CL`` mL/h give ``R / (24 CL)`` mcg/mL, i.e. ``1000 R / (24 CL)`` ng/mL.
Example by hand: 480 mcg/day at 30 mL/h is 20 mcg/h / 30 mL/h = 0.667 mcg/mL = 666.7 ng/mL.
A bolus of ``D`` mcg given at once raises ``C`` by ``1000 D / V`` ng/mL.

Effect compartment
------------------
The effect lags the CSF level (domain.md, "Pharmacology": after a change of continuous infusion
the effect is first seen at 6-8 h and full at 24-48 h). A standard effect compartment follows the
CSF level with its own rate ``ke0 = ln 2 / effect_delay_h``::

    dCe/dt = ke0 (C - Ce)

whose exact solution on a segment is, with ``d = ke0 - k``::

    Ce(t) = C_inf + (Ce_0 - C_inf) e^{-ke0 t} + (C_0 - C_inf) ke0 (e^{-k t} - e^{-ke0 t}) / d

(``(C_0 - C_inf) ke0 t e^{-k t}`` when ``d = 0``). ``effect_delay_h = 8`` is chosen so that, with
the CSF half-life of 5 h, the effect reaches 10 % of a step change at about 5 h, 18 % at 7 h
("first seen 6-8 h") and 90 % at about 37 h (the middle of "full at 24-48 h"). Limitation: one
effect compartment cannot also match the label's bolus timing (peak at about 4 h); with these
settings a bolus's effect peaks at about 9 h. The model is calibrated on continuous infusion,
which is what the pump does.

Every number is a field of ``CsfSettings``, with its source; a clinic or a teacher may change them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

import numpy as np

from itb.domain.errors import InvalidInput, Violation, bound_violation
from itb.domain.profile import DailyProfile
from itb.domain.program import SECONDS_PER_DAY

SECONDS_PER_HOUR = 3600.0
#: (mcg/day) / (mL/h) -> ng/mL: 1000 ng per mcg, 24 h per day
NG_PER_ML_PER_MCG_PER_DAY_PER_ML_PER_H = 1000.0 / 24.0


@dataclass(frozen=True, slots=True)
class CsfSettings:
    """The model's parameters, each with its source (``shared/domain.md``, "Pharmacology")."""

    #: CSF elimination half-life (domain.md: 0.9-5 h, "about 5 h often quoted")
    half_life_h: float = 5.0
    #: CSF clearance (domain.md: 13-80 mL/h)
    clearance_ml_per_h: float = 30.0
    #: half-life of the effect compartment's equilibration (this module's choice: effect 90 % of a
    #: step change at about 37 h, domain.md "full at 24-48 h"; see the module's docstring)
    effect_delay_h: float = 8.0
    #: fraction of an oral dose that acts like the same dose given intrathecally (domain.md and the
    #: seed: the pump gives "about 1/100 of the oral dose"); orientation only, not a conversion rule
    oral_bioavailability_to_csf: float = 0.01

    def __post_init__(self) -> None:
        found = [
            bound_violation("csf.half_life_h", self.half_life_h, minimum=0, strict=True, required=True),
            bound_violation("csf.clearance_ml_per_h", self.clearance_ml_per_h, minimum=0, strict=True, required=True),
            bound_violation("csf.effect_delay_h", self.effect_delay_h, minimum=0, strict=True, required=True),
            bound_violation(
                "csf.oral_bioavailability_to_csf",
                self.oral_bioavailability_to_csf,
                minimum=0,
                strict=True,
                maximum=1,
                required=True,
            ),
        ]
        problems = [v for v in found if v]
        if problems:
            raise InvalidInput(problems)

    @property
    def volume_ml(self) -> float:
        """Volume of distribution ``V = CL t_half / ln 2`` (216 mL with the defaults)."""
        return self.clearance_ml_per_h * self.half_life_h / math.log(2)

    @property
    def k_per_s(self) -> float:
        """Elimination rate constant ``ln 2 / t_half`` per second."""
        return math.log(2) / (self.half_life_h * SECONDS_PER_HOUR)

    @property
    def ke0_per_s(self) -> float:
        """Effect-compartment rate constant ``ln 2 / effect_delay_h`` per second."""
        return math.log(2) / (self.effect_delay_h * SECONDS_PER_HOUR)

    @property
    def time_constant_h(self) -> float:
        """``1 / k`` = ``V / CL``: a step change is ``1 - 1/e`` (63 %) of the way after this long."""
        return self.half_life_h / math.log(2)


DEFAULT_CSF = CsfSettings()


class Bolus(NamedTuple):
    """A one-time bolus on top of the profile: at once (``duration_s = 0``) or over a duration."""

    at_s: float
    dose_mcg: float
    duration_s: float = 0.0


class Site(StrEnum):
    """Which level a question is about."""

    #: the drug level in the spinal fluid
    CSF = "csf"
    #: the effect compartment (what the patient feels, delayed)
    EFFECT = "effect"


class CsfCurve(NamedTuple):
    """Both levels on one time grid. At an instantaneous bolus the time appears twice: before, then after."""

    times_s: np.ndarray
    csf_ng_per_ml: np.ndarray
    effect_ng_per_ml: np.ndarray


# ----------------------------------------------------------------------------- simple answers
def steady_state_ng_per_ml(rate_mcg_per_day: float, settings: CsfSettings = DEFAULT_CSF) -> float:
    """The level a constant rate settles at: ``rate / clearance`` (in ng/mL)."""
    return rate_mcg_per_day * NG_PER_ML_PER_MCG_PER_DAY_PER_ML_PER_H / settings.clearance_ml_per_h


def bolus_jump_ng_per_ml(dose_mcg: float, settings: CsfSettings = DEFAULT_CSF) -> float:
    """The rise of the CSF level from a bolus given at once: ``dose / V``."""
    return dose_mcg * 1000.0 / settings.volume_ml


def time_to_fraction(after_change: Site | str, fraction: float, settings: CsfSettings = DEFAULT_CSF) -> float:
    """Hours after a step change of rate until ``after_change``'s level is ``fraction`` of the way
    from the old steady state to the new one (e.g. 0.9 for "90 % of the new steady state").

    For the CSF: ``-ln(1 - fraction) / k``, independent of the rates (one time constant gives
    ``1 - 1/e``). For the effect: the exact step response of the effect compartment, solved by
    bisection. Up or down, the fraction of the way takes the same time (the model is linear).
    """
    if not 0 <= fraction < 1:
        raise InvalidInput([Violation("fraction", f"must be >= 0 and < 1, got {fraction!r}")])
    site = Site(after_change)
    k = settings.k_per_s
    if site is Site.CSF:
        return -math.log1p(-fraction) / k / SECONDS_PER_HOUR

    def reached(t: float) -> float:
        # step response from 0 to 1: both compartments start at 0, C_inf = 1
        _, e = _advance(0.0, 0.0, 1.0, t, k, settings.ke0_per_s)
        return e

    lo, hi = 0.0, SECONDS_PER_HOUR
    while reached(hi) < fraction:
        lo, hi = hi, hi * 2
    for _ in range(200):
        mid = (lo + hi) / 2
        if reached(mid) < fraction:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-6:
            break
    return hi / SECONDS_PER_HOUR


def level_after_stop(c_at_stop_ng_per_ml: float, hours_since_stop: float, settings: CsfSettings = DEFAULT_CSF) -> float:
    """The pump ran dry (or stopped): the CSF level halves every half-life."""
    if hours_since_stop <= 0:
        return c_at_stop_ng_per_ml
    return c_at_stop_ng_per_ml * 0.5 ** (hours_since_stop / settings.half_life_h)


def hours_to_fall_to(fraction: float, settings: CsfSettings = DEFAULT_CSF) -> float:
    """Hours after a stop until the CSF level is ``fraction`` of what it was (0.5 -> one half-life)."""
    if not 0 < fraction <= 1:
        raise InvalidInput([Violation("fraction", f"must be > 0 and <= 1, got {fraction!r}")])
    return settings.half_life_h * math.log2(1 / fraction)


def intrathecal_equivalent_mcg_per_day(oral_mg_per_day: float, settings: CsfSettings = DEFAULT_CSF) -> float:
    """The intrathecal daily dose that acts about like an oral one (orientation, not a dosing rule)."""
    return oral_mg_per_day * 1000.0 * settings.oral_bioavailability_to_csf


# ----------------------------------------------------------------------------- curves
def concentration_curve(
    profile: DailyProfile,
    t0_s: float,
    t1_s: float,
    c0_ng_per_ml: float = 0.0,
    boluses: Iterable[Bolus | tuple[float, ...]] = (),
    *,
    settings: CsfSettings = DEFAULT_CSF,
    sample_s: float = 600.0,
) -> tuple[np.ndarray, np.ndarray]:
    """The CSF level from ``t0_s`` to ``t1_s`` (seconds on the profile's clock), exact at every point.

    The times are a grid every ``sample_s`` plus every rate change, bolus start and end, and ``t1_s``.
    ``boluses`` are ``Bolus`` (or ``(at_s, dose_mcg[, duration_s])`` tuples); those starting outside
    ``[t0_s, t1_s)`` are ignored (``c0_ng_per_ml`` already holds the past). An instantaneous bolus's
    time appears twice, the level before it and after it.
    """
    curve = csf_curve(profile, t0_s, t1_s, c0_ng_per_ml, boluses, settings=settings, sample_s=sample_s)
    return curve.times_s, curve.csf_ng_per_ml


def csf_curve(
    profile: DailyProfile,
    t0_s: float,
    t1_s: float,
    c0_ng_per_ml: float = 0.0,
    boluses: Iterable[Bolus | tuple[float, ...]] = (),
    *,
    ce0_ng_per_ml: float | None = None,
    stop_at_s: float | None = None,
    settings: CsfSettings = DEFAULT_CSF,
    sample_s: float = 600.0,
) -> CsfCurve:
    """Both levels (CSF and effect) on one grid; see ``concentration_curve``.

    ``ce0_ng_per_ml`` is the effect compartment's start (default: equal to ``c0_ng_per_ml``, i.e. at
    equilibrium). From ``stop_at_s`` on nothing is delivered (the pump ran dry or stopped).
    """
    c0_ng_per_ml, sample_s = float(c0_ng_per_ml), float(sample_s)
    _check_window(t0_s, t1_s, c0_ng_per_ml, sample_s)
    ce0 = c0_ng_per_ml if ce0_ng_per_ml is None else float(ce0_ng_per_ml)
    stop = math.inf if stop_at_s is None else stop_at_s
    k, ke0 = settings.k_per_s, settings.ke0_per_s
    unit = NG_PER_ML_PER_MCG_PER_DAY_PER_ML_PER_H / settings.clearance_ml_per_h

    # Every instant where the rate may change, and the jumps of instantaneous boluses.
    marks = {float(t0_s), float(t1_s)}
    if t0_s < stop < t1_s:
        marks.add(float(stop))
    first_day = math.floor(t0_s / SECONDS_PER_DAY)
    last_day = math.floor(t1_s / SECONDS_PER_DAY)
    for day in range(first_day, last_day + 1):
        base = day * SECONDS_PER_DAY
        marks.update(base + s for s in profile.starts_s if t0_s < base + s < t1_s)
    timed: list[tuple[float, float, float]] = []  # (start, end, rate mcg/day)
    jumps: dict[float, float] = {}
    for i, raw in enumerate(boluses):
        b = Bolus(*raw)
        bad = [
            v
            for v in (
                bound_violation(f"boluses[{i}].dose_mcg", float(b.dose_mcg), minimum=0),
                bound_violation(f"boluses[{i}].duration_s", float(b.duration_s), minimum=0),
            )
            if v
        ]
        if bad:
            raise InvalidInput(bad)
        if not t0_s <= b.at_s < t1_s or b.at_s >= stop:
            continue
        if b.duration_s > 0:
            end = min(b.at_s + b.duration_s, stop)
            timed.append((b.at_s, end, b.dose_mcg / b.duration_s * SECONDS_PER_DAY))
            marks.add(float(b.at_s))
            if end < t1_s:
                marks.add(float(end))
        else:
            jumps[float(b.at_s)] = jumps.get(float(b.at_s), 0.0) + bolus_jump_ng_per_ml(b.dose_mcg, settings)
            marks.add(float(b.at_s))
    bounds = np.array(sorted(marks))
    starts, ends = bounds[:-1], bounds[1:]
    n = len(starts)
    if n == 0:  # t0 == t1: one instant
        starts, ends, n = bounds, bounds, 1

    # Constant rate of each segment, read at its midpoint; the level at each segment's start.
    rates = np.empty(n)
    c_start = np.empty(n)
    e_start = np.empty(n)
    c, e = float(c0_ng_per_ml), float(ce0)
    for i in range(n):
        a, z = float(starts[i]), float(ends[i])
        mid = (a + z) / 2
        rate = 0.0 if mid >= stop else profile.rate_at(mid) + sum(r for s, f, r in timed if s <= mid < f)
        rates[i] = rate
        c += jumps.get(a, 0.0)
        c_start[i], e_start[i] = c, e
        c, e = _advance(c, e, rate * unit, z - a, k, ke0)

    # The grid, the segment boundaries and t1; each point evaluated from its own segment's start.
    count = max(1, math.ceil((t1_s - t0_s) / sample_s))
    grid = t0_s + sample_s * np.arange(count)
    times = np.unique(np.concatenate([grid[grid < t1_s], bounds]))
    seg = np.clip(np.searchsorted(starts, times, side="right") - 1, 0, n - 1)
    cs, es = _advance_many(c_start[seg], e_start[seg], rates[seg] * unit, times - starts[seg], k, ke0)

    # The level just before each instantaneous bolus.
    if jumps:
        pre_t = np.array(sorted(jumps))
        pre_seg = np.searchsorted(starts, pre_t, side="left") - 1
        before_first = pre_seg < 0
        pre_seg = np.clip(pre_seg, 0, n - 1)
        pc, pe = _advance_many(
            c_start[pre_seg], e_start[pre_seg], rates[pre_seg] * unit, pre_t - starts[pre_seg], k, ke0
        )
        pc = np.where(before_first, c0_ng_per_ml, pc)
        pe = np.where(before_first, ce0, pe)
        after = np.concatenate([np.ones(len(times)), np.zeros(len(pre_t))])  # before the jump sorts first
        times = np.concatenate([times, pre_t])
        order = np.lexsort((after, times))
        times = times[order]
        cs = np.concatenate([cs, pc])[order]
        es = np.concatenate([es, pe])[order]
    return CsfCurve(times, cs, es)


def effect_curve(
    profile: DailyProfile,
    t0_s: float,
    t1_s: float,
    c0_ng_per_ml: float = 0.0,
    boluses: Iterable[Bolus | tuple[float, ...]] = (),
    *,
    ce0_ng_per_ml: float | None = None,
    settings: CsfSettings = DEFAULT_CSF,
    sample_s: float = 600.0,
) -> tuple[np.ndarray, np.ndarray]:
    """The effect compartment's level (ng/mL of CSF at equilibrium), on the grid of ``concentration_curve``."""
    curve = csf_curve(
        profile, t0_s, t1_s, c0_ng_per_ml, boluses, ce0_ng_per_ml=ce0_ng_per_ml, settings=settings, sample_s=sample_s
    )
    return curve.times_s, curve.effect_ng_per_ml


def run_dry_curve(
    profile: DailyProfile,
    t0_s: float,
    t_stop_s: float,
    t1_s: float,
    c0_ng_per_ml: float = 0.0,
    boluses: Iterable[Bolus | tuple[float, ...]] = (),
    *,
    ce0_ng_per_ml: float | None = None,
    settings: CsfSettings = DEFAULT_CSF,
    sample_s: float = 600.0,
) -> CsfCurve:
    """The pump runs dry at ``t_stop_s``: the profile until then, nothing after (the level halves
    every half-life; the effect follows later: withdrawal signs come over hours to days)."""
    return csf_curve(
        profile,
        t0_s,
        t1_s,
        c0_ng_per_ml,
        boluses,
        ce0_ng_per_ml=ce0_ng_per_ml,
        stop_at_s=t_stop_s,
        settings=settings,
        sample_s=sample_s,
    )


def periodic_steady_state(profile: DailyProfile, settings: CsfSettings = DEFAULT_CSF) -> tuple[float, float]:
    """(CSF, effect) levels at midnight once a daily program has run for ever: the fixed point of one day.

    One day maps the state affinely, ``x_end = M x_start + b``; the periodic state solves
    ``(I - M) x = b``. Starting ``concentration_curve`` at midnight from it gives a curve that repeats daily.
    """
    k, ke0 = settings.k_per_s, settings.ke0_per_s
    unit = NG_PER_ML_PER_MCG_PER_DAY_PER_ML_PER_H / settings.clearance_ml_per_h

    def one_day(c: float, e: float, with_rates: bool) -> tuple[float, float]:
        bounds = [*profile.starts_s, SECONDS_PER_DAY]
        for a, z, r in zip(bounds[:-1], bounds[1:], profile.rates_mcg_per_day):
            c, e = _advance(c, e, r * unit if with_rates else 0.0, z - a, k, ke0)
        return c, e

    b = np.array(one_day(0.0, 0.0, True))
    m = np.column_stack([one_day(1.0, 0.0, False), one_day(0.0, 1.0, False)])
    c, e = np.linalg.solve(np.eye(2) - m, b)
    return float(c), float(e)


# ----------------------------------------------------------------------------- the exact step
def _advance(c0: float, e0: float, c_inf: float, dt: float, k: float, ke0: float) -> tuple[float, float]:
    """Exact CSF and effect levels after ``dt`` seconds at a constant rate whose steady state is ``c_inf``."""
    dc = c0 - c_inf
    ek = math.exp(-k * dt)
    d = ke0 - k
    if d == 0:
        g = dt * ek
    elif abs(d * dt) < 0.5:  # (e^{-k t} - e^{-ke0 t}) / d without cancellation when d t is small
        g = ek * -math.expm1(-d * dt) / d
    else:
        g = (ek - math.exp(-ke0 * dt)) / d
    return c_inf + dc * ek, c_inf + (e0 - c_inf) * math.exp(-ke0 * dt) + dc * ke0 * g


def _advance_many(
    c0: np.ndarray, e0: np.ndarray, c_inf: np.ndarray, dt: np.ndarray, k: float, ke0: float
) -> tuple[np.ndarray, np.ndarray]:
    """``_advance`` on arrays."""
    dc = c0 - c_inf
    ek = np.exp(-k * dt)
    ee = np.exp(-ke0 * dt)
    d = ke0 - k
    if d == 0:
        g = dt * ek
    else:
        small = np.abs(d * dt) < 0.5
        g = np.where(small, ek * -np.expm1(-d * np.where(small, dt, 0.0)) / d, (ek - ee) / d)
    return c_inf + dc * ek, c_inf + (e0 - c_inf) * ee + dc * ke0 * g


def _check_window(t0_s: float, t1_s: float, c0: float, sample_s: float) -> None:
    found = [
        bound_violation("c0_ng_per_ml", c0, minimum=0, required=True),
        bound_violation("sample_s", sample_s, minimum=0, strict=True, required=True),
    ]
    problems = [v for v in found if v]
    if not t1_s >= t0_s:
        problems.append(Violation("t1_s", f"must be >= t0_s ({t0_s!r}), got {t1_s!r}"))
    if problems:
        raise InvalidInput(problems)
