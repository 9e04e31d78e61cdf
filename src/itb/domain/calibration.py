"""Per-pump flow calibration: how fast this pump really runs, learned from its refills.

The pump only *counts* the volume it was programmed to give. At each refill the nurse
withdraws and measures what is left, so each refill interval tells the pump's real flow
ratio::

    ratio = (volume filled - volume withdrawn) / (volume filled - volume the pump expected)

(1.10: the pump gave 10 % more than it counted, and empties earlier than it says). A pump
starts from its device's prior (mean: the accuracy measured in patients; the labelled
tolerance at the stated confidence, so that a new pump is planned as if it might run at the
edge of its label) and each refill narrows it (a Kalman filter on a ratio that may drift
slowly: a random walk between refills). Booking then uses the **earliest plausible**
low-reservoir alarm: the instant the *real* reservoir may reach the alarm volume if the pump
runs at the upper bound of its learned ratio (or the pump's own alarm, when that comes
first). Sources: ``shared/domain.md`` ("The pump": peristaltic pump labelled ±14.5 %,
measured +1 % to +2.5 % per refill; valve-gated about 97 %, required 85-115 %; "Refills": a
fixed margin does not cover a pump that runs fast within its tolerance: the margin must grow
with the interval and the pump's own record). Pure: no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, fields, replace
from datetime import datetime
from statistics import NormalDist

from itb.domain.catalogue import PumpKind, kind_of
from itb.domain.devices import DAYS_PER_YEAR, MODELS, PERISTALTIC, DeviceModel
from itb.domain.errors import InvalidInput, Violation, bound_violation
from itb.domain.forecast import Forecast, ReservoirState, forecast_reservoir
from itb.domain.program import DosingProgram


@dataclass(frozen=True, slots=True)
class FlowSettings:
    """Every flow-calibration rule a clinic may change, with its source (``docs/parameters.md``)."""

    #: one-sided confidence of the earliest plausible dates (clinic setting: 97.5 %, z = 1.96)
    confidence: float = 0.975
    #: standard deviation of a measured withdrawal, mL (unverified: syringe reading and what
    #: stays in the needle and the reservoir's dead space)
    withdrawal_sd_ml: float = 0.2
    #: how much the true ratio varies from one refill interval to the next, sd (domain.md: the
    #: measured error spreads over +1 % to +2.5 % from refill to refill)
    interval_sd: float = 0.01
    #: slow drift of the true ratio (random walk), sd per year (unverified: rotor wear, a
    #: catheter that narrows)
    drift_sd_per_year: float = 0.02
    #: flag a pump whose learned ratio is this far from 1 (clinic setting: 5 %, twice the
    #: measured +1 % to +2.5 % and well inside the labelled 14.5 %: look before it reaches it)
    drift_flag_fraction: float = 0.05
    #: refill intervals in which the pump counted less than this are not used (the measurement's
    #: error would dominate), mL
    min_counted_ml: float = 1.0
    #: an interval whose ratio is further than this from 1 is not the pump's flow but a pocket
    #: fill, a leak, a blocked catheter or a measurement slip, and is not learned from (twice the
    #: peristaltic pump's labelled 14.5 %, rounded; its refill is flagged for a discrepancy review)
    outlier_fraction: float = 0.30
    #: a constant-flow pump's flow tolerance, planned at this edge until its refills teach its own
    #: flow (unverified: no source read gives a constant-flow product's accuracy; its flow also rises
    #: with fever, heat and altitude, domain.md; taken as wide as the programmable pumps' labels)
    constant_flow_tolerance: float = 0.15

    def __post_init__(self) -> None:
        problems: list[Violation] = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "confidence":
                if not (isinstance(value, int | float) and 0.5 <= value < 1):
                    problems.append(Violation("flow.confidence", f"must be in [0.5, 1), got {value!r}"))
                continue
            bad = bound_violation(f"flow.{f.name}", value, minimum=0, required=True)
            if bad:
                problems.append(bad)
        if problems:
            raise InvalidInput(problems)

    @property
    def z(self) -> float:
        return NormalDist().inv_cdf(self.confidence)


DEFAULT_FLOW = FlowSettings()


@dataclass(frozen=True, slots=True)
class FlowObservation:
    """One refill interval: what the pump counted against what really left the reservoir."""

    #: the refill that ended the interval
    at: datetime
    #: what the pump counted it pumped since the fill before (fill minus its expected residual)
    counted_ml: float
    #: what really left (fill minus the measured withdrawal)
    delivered_ml: float

    @property
    def ratio(self) -> float:
        return self.delivered_ml / self.counted_ml


def observation(at: datetime, fill_ml: float, expected_ml: float, withdrawn_ml: float) -> FlowObservation:
    """The interval ended by a refill: ``fill_ml`` was in the reservoir after the fill before it."""
    return FlowObservation(at, fill_ml - expected_ml, fill_ml - withdrawn_ml)


@dataclass(frozen=True, slots=True)
class FlowEstimate:
    """A pump's flow ratio (real / counted): mean and standard deviation, as of ``at``."""

    ratio: float
    sd: float
    observations: int
    at: datetime | None = None

    def upper(self, settings: FlowSettings = DEFAULT_FLOW, days_ahead: float = 0.0) -> float:
        """The highest plausible ratio over the next interval, at ``settings.confidence``.

        The spread of one interval and the drift over ``days_ahead`` are added to what is known.
        """
        years = max(days_ahead, 0.0) / DAYS_PER_YEAR
        var = self.sd**2 + settings.interval_sd**2 + settings.drift_sd_per_year**2 * years
        return self.ratio + settings.z * math.sqrt(var)


def device_prior(device: DeviceModel, settings: FlowSettings = DEFAULT_FLOW) -> FlowEstimate:
    """The device's prior: centred on its measured accuracy, its labelled tolerance at the
    stated confidence (a new pump is planned as if it might run at the edge of its label)."""
    mean = 1.0 + device.typical_flow_error
    edge = 1.0 + device.labelled_flow_tolerance
    sd = max(edge - mean, 0.0) / settings.z
    # upper() adds the interval spread on top; take it out here so a new pump's upper bound is the edge
    sd = math.sqrt(max(sd**2 - settings.interval_sd**2, 0.0))
    return FlowEstimate(mean, sd, 0)


def pump_prior(model: str, settings: FlowSettings = DEFAULT_FLOW) -> FlowEstimate:
    """The prior of a pump record's ``model``: a generic model's own; a constant-flow product's
    nominal flow with ``constant_flow_tolerance``; else the peristaltic pump's (the widest label)."""
    device = MODELS.get(model)
    if device is None and kind_of(model) is PumpKind.CONSTANT_FLOW:
        device = replace(PERISTALTIC, typical_flow_error=0.0, labelled_flow_tolerance=settings.constant_flow_tolerance)
    return device_prior(device or PERISTALTIC, settings)


def usable(obs: FlowObservation, settings: FlowSettings = DEFAULT_FLOW) -> bool:
    """Whether an interval tells the pump's flow: enough counted, and a ratio a pump can have."""
    return (
        obs.counted_ml >= settings.min_counted_ml
        and math.isfinite(obs.ratio)
        and abs(obs.ratio - 1.0) <= settings.outlier_fraction
    )


def learn_flow(
    prior: FlowEstimate, history: Iterable[FlowObservation], settings: FlowSettings = DEFAULT_FLOW
) -> FlowEstimate:
    """The prior updated by each refill interval, oldest first (a Kalman filter on the ratio).

    Between two refills the ratio may drift (``drift_sd_per_year``); each observation weighs by
    its precision: the withdrawal's error over the volume counted, and the interval spread.
    Intervals that are not :func:`usable` are skipped.
    """
    mean, var, n, last = prior.ratio, prior.sd**2, prior.observations, prior.at
    for obs in sorted(history, key=lambda o: o.at):
        if not usable(obs, settings):
            continue
        if last is not None:
            years = max((obs.at - last).total_seconds(), 0.0) / (86400 * DAYS_PER_YEAR)
            var += settings.drift_sd_per_year**2 * years
        noise = (settings.withdrawal_sd_ml / obs.counted_ml) ** 2 + settings.interval_sd**2
        gain = var / (var + noise)
        mean += gain * (obs.ratio - mean)
        var *= 1 - gain
        n += 1
        last = obs.at
    return FlowEstimate(mean, math.sqrt(var), n, last)


def refill_history(
    implant_fill_ml: float | None, refills: Iterable[tuple[datetime, float, float, float]]
) -> tuple[list[FlowObservation], float | None]:
    """A pump's refill intervals and its last fill, from its refills oldest first.

    Each refill is ``(at, expected_ml, withdrawn_ml, added_ml)``; the fill before the first one
    is the implant's (None when unknown: that interval is not used). The last fill is what the
    latest refill added (or the implant fill when there was none).
    """
    observations: list[FlowObservation] = []
    fill = implant_fill_ml
    for at, expected_ml, withdrawn_ml, added_ml in refills:
        if fill is not None:
            observations.append(observation(at, fill, expected_ml, withdrawn_ml))
        fill = added_ml
    return observations, fill


def plausible_forecast(state: ReservoirState, program: DosingProgram, fill_ml: float, ratio: float) -> Forecast:
    """The forecast if the pump really gives ``ratio`` times what it counts (never later than
    the pump's own forecast: a slow pump still alarms and stops on its count).

    The real reservoir now is the fill minus ``ratio`` times what the pump counted since
    (``fill_ml - state.reservoir_ml``); draining at ``ratio`` times the programmed flow is the
    exact forecast of a reservoir whose volumes are all divided by ``ratio``.
    """
    r = max(ratio, 1.0)
    counted = max(fill_ml - state.reservoir_ml, 0.0)
    real = max(state.reservoir_ml - (r - 1.0) * counted, 0.0)
    scaled = replace(
        state,
        reservoir_capacity_ml=state.reservoir_capacity_ml / r,
        reservoir_ml=real / r,
        low_reservoir_alarm_ml=state.low_reservoir_alarm_ml / r,
        empty_ml=state.empty_ml / r,
    )
    f, nominal = forecast_reservoir(scaled, program), forecast_reservoir(state, program)
    return Forecast(
        nominal.daily_dose_mcg,
        nominal.daily_volume_ml * r,
        _earlier(f.low_reservoir_alarm_at, nominal.low_reservoir_alarm_at),
        _earlier(f.empty_at, nominal.empty_at),
    )


def _earlier(a: datetime | None, b: datetime | None) -> datetime | None:
    if b is None:  # the pump will not alarm (stopped, no program): neither will the reservoir drain
        return None
    return b if a is None else min(a, b)


def drift(estimate: FlowEstimate, settings: FlowSettings = DEFAULT_FLOW) -> str | None:
    """A sentence when the learned ratio is beyond ``drift_flag_fraction`` of 1, else None."""
    off = estimate.ratio - 1.0
    if estimate.observations == 0 or abs(off) <= settings.drift_flag_fraction:
        return None
    if off > 0:
        return (
            f"the pump gives about {off:.0%} more than it counts (learned from {estimate.observations} refills): "
            "check the pump, and ask about an injection outside the pump (pocket fill); it empties earlier"
        )
    return (
        f"the pump gives about {-off:.0%} less than it counts (learned from {estimate.observations} refills): "
        "check the catheter (blocked, kinked) and the pump's rotor; watch for withdrawal"
    )


__all__ = [
    "DEFAULT_FLOW",
    "FlowEstimate",
    "FlowObservation",
    "FlowSettings",
    "device_prior",
    "drift",
    "learn_flow",
    "observation",
    "plausible_forecast",
    "refill_history",
    "usable",
]
