"""The clinic's charts (``itb.web.plots``): accessible SVG text, and an exact reservoir curve.

The reservoir curve must agree with the exact forecast (``itb.domain.forecast``): it starts at
the reservoir volume and reaches the empty level at the forecast's ``empty_at``.
"""

from __future__ import annotations

import threading
import time
import xml.etree.ElementTree as ET
from bisect import bisect_left
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest

from itb.domain.forecast import ReservoirState, forecast_reservoir
from itb.domain.program import BolusKind, DailyBolus, DosingProgram, OneTimeBolus, Step
from itb.web import plots
from itb.web.plot_cache import PlotCache, content_key

SVG = "{http://www.w3.org/2000/svg}"
AT = datetime(2026, 3, 2, 9, 15, 30)

FLEXIBLE = DosingProgram(
    steps=(Step(0, 300.0), Step(7 * 60, 450.0), Step(22 * 60, 250.0)),
    daily_boluses=(DailyBolus(23 * 60, 40.0, 120),),  # runs across midnight
)
WITH_BRIDGE = DosingProgram(
    steps=FLEXIBLE.steps,
    daily_boluses=FLEXIBLE.daily_boluses,
    one_time_boluses=(OneTimeBolus(AT + timedelta(hours=2), 150.0, 90, BolusKind.BRIDGE),),
)


def state(reservoir_ml: float = 18.0, **changes: float) -> ReservoirState:
    values = {
        "at": AT,
        "reservoir_capacity_ml": 20.0,
        "reservoir_ml": reservoir_ml,
        "concentration_mcg_per_ml": 500.0,
        "low_reservoir_alarm_ml": 2.0,
        "empty_ml": 0.5,
    } | changes
    return ReservoirState(**values)


def reservoir_svg(s: ReservoirState, program: DosingProgram, **extra) -> str:
    f = forecast_reservoir(s, program)
    kwargs = {
        "at": s.at,
        "reservoir_ml": s.reservoir_ml,
        "concentration_mcg_per_ml": s.concentration_mcg_per_ml,
        "program": program,
        "low_reservoir_alarm_ml": s.low_reservoir_alarm_ml,
        "empty_ml": s.empty_ml,
        "alarm_at": f.low_reservoir_alarm_at,
        "empty_at": f.empty_at,
        "next_refill_at": None,
    } | extra
    return plots.reservoir_forecast_svg(**kwargs)


def parsed(svg: str) -> ET.Element:
    root = ET.fromstring(svg)  # well-formed XML, or this raises
    assert root.tag == f"{SVG}svg"
    assert root.get("role") == "img"
    assert root.get("aria-label")
    assert root[0].tag == f"{SVG}title" and root[0].text == root.get("aria-label")
    assert root[1].tag == f"{SVG}desc" and root[1].text
    assert root.get("aria-describedby") == root[1].get("id")
    return root


def texts(root: ET.Element) -> list[str]:
    """The visible text (``svg.fonttype = "none"`` keeps it as <text>)."""
    return [t.strip() for el in root.iter(f"{SVG}text") if (t := "".join(el.itertext()))]


def volume_at(points: list[tuple[datetime, float]], when: datetime) -> float:
    """Linear interpolation on the curve (exact: the curve is piecewise linear with these corners)."""
    times = [t for t, _ in points]
    i = bisect_left(times, when)
    if times[i] == when:
        return points[i][1]
    (t0, v0), (t1, v1) = points[i - 1], points[i]
    return v0 + (v1 - v0) * ((when - t0) / (t1 - t0))


# -- the reservoir -------------------------------------------------------------------------


@pytest.mark.parametrize("program", [FLEXIBLE, WITH_BRIDGE, DosingProgram.simple_continuous(400.0)])
def test_reservoir_curve_starts_full_and_is_empty_at_the_forecast_empty_instant(program: DosingProgram) -> None:
    s = state()
    f = forecast_reservoir(s, program)
    assert f.empty_at is not None
    points = plots.reservoir_points(
        at=s.at,
        reservoir_ml=s.reservoir_ml,
        concentration_mcg_per_ml=s.concentration_mcg_per_ml,
        program=program,
        empty_ml=s.empty_ml,
        until=f.empty_at + timedelta(days=3),
    )
    assert points[0] == (s.at, s.reservoir_ml)
    assert [t for t, _ in points] == sorted(t for t, _ in points)
    # reaches empty at empty_at (to the second, as the forecast truncates), not before, and stays there
    assert volume_at(points, f.empty_at + timedelta(seconds=1)) == pytest.approx(s.empty_ml, abs=1e-12)
    assert volume_at(points, f.empty_at - timedelta(seconds=1)) > s.empty_ml
    assert all(v == s.empty_ml for t, v in points if t > f.empty_at + timedelta(seconds=1))
    assert all(v > s.empty_ml for t, v in points if t < f.empty_at - timedelta(seconds=1))
    # and crosses the alarm level at the forecast's alarm instant
    alarm = f.low_reservoir_alarm_at
    assert volume_at(points, alarm) == pytest.approx(s.low_reservoir_alarm_ml, abs=1e-3)
    assert volume_at(points, alarm - timedelta(minutes=1)) > s.low_reservoir_alarm_ml
    # never increases
    assert all(b[1] <= a[1] + 1e-12 for a, b in pairwise(points))


def test_reservoir_curve_is_exact_between_its_points() -> None:
    """Every change of slope is a point, so the line through the points is the volume itself."""
    s = state(reservoir_ml=6.0)
    points = plots.reservoir_points(
        at=s.at,
        reservoir_ml=s.reservoir_ml,
        concentration_mcg_per_ml=s.concentration_mcg_per_ml,
        program=WITH_BRIDGE,
        empty_ml=s.empty_ml,
        until=s.at + timedelta(days=10),
    )
    for hours in (1, 2.5, 3.4, 14, 23.5, 30, 47.9):
        when = s.at + timedelta(hours=hours)
        exact = plots.reservoir_points(
            at=s.at,
            reservoir_ml=s.reservoir_ml,
            concentration_mcg_per_ml=s.concentration_mcg_per_ml,
            program=WITH_BRIDGE,
            empty_ml=s.empty_ml,
            until=when,
        )[-1][1]
        assert volume_at(points, when) == pytest.approx(exact, abs=1e-9)


def test_reservoir_svg_has_title_desc_units_alarm_line_and_dates() -> None:
    s = state()
    f = forecast_reservoir(s, FLEXIBLE)
    refill = f.low_reservoir_alarm_at - timedelta(days=4)
    root = parsed(reservoir_svg(s, FLEXIBLE, next_refill_at=refill))
    shown = texts(root)
    assert "Reservoir volume (mL)" in shown
    assert "Date (YYYY-MM-DD)" in shown
    assert "low-reservoir alarm 2 mL" in shown
    assert f"alarm {f.low_reservoir_alarm_at:%Y-%m-%d}" in shown
    assert f"refill booked {refill:%Y-%m-%d}" in shown
    assert f"empty {f.empty_at:%Y-%m-%d}" in shown
    assert any(len(t) == 10 and t[4] == t[7] == "-" and t[:4].isdigit() for t in shown)  # tick dates
    desc = root[1].text
    assert f"{f.low_reservoir_alarm_at:%Y-%m-%d}" in desc and f"{refill:%Y-%m-%d}" in desc
    assert root.get("width") == "720" and root.get("height") == "300"


def test_reservoir_that_never_empties_shows_180_days() -> None:
    s = state()
    nothing = DosingProgram.simple_continuous(0.0)
    root = parsed(reservoir_svg(s, nothing))
    assert "does not empty" in root[1].text
    assert f"{AT + timedelta(days=180):%Y-%m-%d}" in root[1].text
    assert "low-reservoir alarm 2 mL" in texts(root)


def test_reservoir_already_below_the_alarm_and_aware_datetimes() -> None:
    s = state(reservoir_ml=1.5)
    f = forecast_reservoir(s, FLEXIBLE)
    svg = reservoir_svg(
        s,
        FLEXIBLE,
        at=AT.replace(tzinfo=UTC),
        next_refill_at=(AT + timedelta(days=1)).replace(tzinfo=UTC),
    )
    assert f.low_reservoir_alarm_at == AT
    assert "refill booked 2026-03-03" in texts(parsed(svg))


def test_reservoir_without_a_concentration_says_no_data() -> None:
    svg = reservoir_svg(state(), FLEXIBLE, concentration_mcg_per_ml=0.0)
    assert "no data yet" in texts(parsed(svg))


# -- the dose ------------------------------------------------------------------------------

CHANGES = [
    (datetime(2025, 9, 1, 10), 100.0),
    (datetime(2025, 9, 15, 10), 125.0),
    (datetime(2025, 10, 20, 11), 150.0),
    (datetime(2025, 12, 1, 9), 135.0),
    (datetime(2026, 1, 12, 9), 162.0),
]


def test_dose_history_is_a_step_line_with_titration_marks() -> None:
    root = parsed(plots.dose_history_svg(list(reversed(CHANGES)), until=datetime(2026, 3, 2)))
    shown = texts(root)
    assert "Daily dose (mcg/day)" in shown
    assert "Date (YYYY-MM-DD)" in shown
    assert {"+25%", "+20%"} <= set(shown)
    assert "-10%" not in shown and "−10%" not in shown  # a decrease is not a titration step
    assert any(t.startswith("2025-") for t in shown) and any(t.startswith("2026-") for t in shown)
    desc = root[1].text
    assert "from 100 to 162 mcg/day" in desc and "3 increases" in desc and "2025-09-15 +25%" in desc


def test_dose_history_without_marks_and_with_a_single_program() -> None:
    shown = texts(parsed(plots.dose_history_svg(CHANGES, until=datetime(2026, 3, 2), titration_marks=False)))
    assert "+25%" not in shown
    one = parsed(plots.dose_history_svg(CHANGES[:1], until=CHANGES[0][0]))
    assert "Daily dose (mcg/day)" in texts(one)


# -- tone ----------------------------------------------------------------------------------

MAS_VISITS = [
    (datetime(2025, 6, 3, 10), {"hip_adductors": "3", "hamstrings": "2", "gastrocnemius": "4"}),
    (datetime(2025, 9, 1, 10), {"hip_adductors": "2", "hamstrings": "1+", "gastrocnemius": "3"}),
    (datetime(2025, 12, 1, 10), {"hip_adductors": "1+", "hamstrings": "1", "gastrocnemius": "2", "elbow": "1.5"}),
]


def test_tone_trend_has_the_six_grades_as_categories_and_a_legend() -> None:
    root = parsed(plots.tone_trend_svg(MAS_VISITS))
    shown = texts(root)
    assert {"0", "1", "1+", "2", "3", "4"} <= set(shown)
    assert "MAS grade (0–4, ordinal)" in shown
    assert "Date (YYYY-MM-DD)" in shown
    assert {"hip adductors", "hamstrings", "gastrocnemius"} <= set(shown)
    assert "elbow" not in shown  # "1.5" is not a grade
    assert "hamstrings 1 (2025-12-01)" in root[1].text


def test_tone_trend_with_gas_t_scores_on_a_second_axis() -> None:
    goals = [(datetime(2025, 6, 3), 38.5), (datetime(2025, 12, 1), 54.2)]
    root = parsed(plots.tone_trend_svg(MAS_VISITS, goals))
    shown = texts(root)
    assert "GAS T-score (T units; 50 = expected)" in shown
    assert "GAS T-score" in shown
    assert "54.2 (2025-12-01)" in root[1].text
    assert "GAS T-score" in texts(parsed(plots.tone_trend_svg([], goals)))


# -- empty inputs, speed -------------------------------------------------------------------


@pytest.mark.parametrize(
    "svg",
    [
        lambda: plots.dose_history_svg([], until=AT),
        lambda: plots.tone_trend_svg([]),
        lambda: plots.tone_trend_svg([(AT, {"hamstrings": "five"})], []),
        lambda: plots.no_data_svg("Anything"),
    ],
)
def test_empty_inputs_give_a_small_no_data_svg(svg) -> None:
    root = parsed(svg())
    assert "no data yet" in texts(root)
    assert int(root.get("height")) < 150


def test_the_same_data_gives_the_same_svg() -> None:
    assert plots.tone_trend_svg(MAS_VISITS) == plots.tone_trend_svg(MAS_VISITS)


# -- rendered once per change of what a plot shows (itb.web.plot_cache) ------------------------

RESERVOIR_ARGS = {
    "at": AT,
    "reservoir_ml": 18.0,
    "concentration_mcg_per_ml": 500.0,
    "program": FLEXIBLE,
    "low_reservoir_alarm_ml": 2.0,
    "empty_ml": 0.0,
    "alarm_at": AT + timedelta(days=20),
    "empty_at": AT + timedelta(days=24),
    "next_refill_at": AT + timedelta(days=14),
    "fast_ratio": 1.1,
    "fill_ml": 20.0,
}


class Spy:
    """A drawing function named ``name`` that counts its calls: ``draw``'s SVG, or else a text of
    ``size`` characters that differs at each call."""

    def __init__(self, draw=None, size: int = 0, name: str = "spy") -> None:  # type: ignore[no-untyped-def]
        self.__qualname__ = name  # the cache names a function by its module and qualified name
        self.calls = 0
        self.draw = draw
        self.size = size

    def __call__(self, *args, **kwargs) -> str:  # type: ignore[no-untyped-def]
        self.calls += 1
        if self.draw is not None:
            return self.draw(*args, **kwargs)
        return f"<svg>{self.calls}</svg>".ljust(self.size, " ")


def test_the_same_data_gives_the_cached_svg_rendered_once():
    cache, spy = PlotCache(), Spy(plots.reservoir_forecast_svg)
    first = cache.svg(spy, **RESERVOIR_ARGS)
    again = cache.svg(spy, **dict(reversed(list(RESERVOIR_ARGS.items()))))  # the same values, another order
    assert spy.calls == 1 and again == first == plots.reservoir_forecast_svg(**RESERVOIR_ARGS)
    assert cache.stats().hits == 1 and cache.stats().renders == 1


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("at", AT + timedelta(minutes=1)),
        ("reservoir_ml", 17.999),
        ("concentration_mcg_per_ml", 1000.0),
        ("program", WITH_BRIDGE),
        ("program", DosingProgram(steps=(Step(0, 300.0), Step(7 * 60, 451.0), Step(22 * 60, 250.0)))),
        ("low_reservoir_alarm_ml", 3.0),
        ("empty_ml", 0.5),
        ("alarm_at", None),
        ("empty_at", AT + timedelta(days=25)),
        ("next_refill_at", AT + timedelta(days=15)),
        ("fast_ratio", 1.1000000000000003),  # one bit apart
        ("fill_ml", 19.0),
    ],
)
def test_a_change_of_any_input_renders_a_new_plot(name, value):
    cache, spy = PlotCache(), Spy()
    before = cache.svg(spy, **RESERVOIR_ARGS)
    after = cache.svg(spy, **{**RESERVOIR_ARGS, name: value})
    assert spy.calls == 2 and after != before
    assert cache.svg(spy, **RESERVOIR_ARGS) == before and spy.calls == 2  # the first is still kept


def test_the_key_tells_apart_functions_types_and_time_zones():
    def other(*args, **kwargs) -> str:  # type: ignore[no-untyped-def]
        return ""

    base = content_key(plots.dose_history_svg, ([(AT, 100.0)],), {"until": AT})
    assert base == content_key(plots.dose_history_svg, ([(AT, 100.0)],), {"until": AT})
    assert base != content_key(other, ([(AT, 100.0)],), {"until": AT})
    assert base != content_key(plots.dose_history_svg, ([(AT, 100)],), {"until": AT})  # int, not float
    assert base != content_key(plots.dose_history_svg, ([(AT, 100.0)],), {"until": AT.replace(tzinfo=UTC)})
    assert base != content_key(plots.dose_history_svg, ((AT, 100.0),), {"until": AT})  # a tuple, not a list
    with pytest.raises(TypeError):
        content_key(plots.dose_history_svg, (object(),), {})


def test_an_argument_without_a_key_is_rendered_every_time():
    cache, spy, thing = PlotCache(), Spy(), object()
    assert cache.svg(spy, thing) != cache.svg(spy, thing)
    assert spy.calls == 2 and cache.stats().uncacheable == 2 and cache.stats().entries == 0


def test_the_byte_bound_holds_and_the_least_recently_used_goes_first():
    cache, spy = PlotCache(max_bytes=10_000), Spy(size=3_000)
    for n in range(3):
        cache.svg(spy, n)
    cache.svg(spy, 0)  # used again: now the most recent
    cache.svg(spy, 3)  # a fourth does not fit: plot 1, the least recently used, goes
    stats = cache.stats()
    assert stats.entries == 3 and stats.bytes == 9_000 <= cache.max_bytes
    calls = spy.calls
    cache.svg(spy, 0), cache.svg(spy, 2), cache.svg(spy, 3)
    assert spy.calls == calls  # kept
    cache.svg(spy, 1)
    assert spy.calls == calls + 1  # dropped, rendered again
    big = Spy(size=10_001, name="big")
    cache.svg(big, "too big"), cache.svg(big, "too big")
    assert big.calls == 2 and cache.stats().bytes <= cache.max_bytes  # larger than the bound: never kept


def test_eight_threads_asking_for_the_same_plot_render_it_once():
    cache = PlotCache()

    def slow(*args, **kwargs) -> str:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + 10
        while cache.stats().joined < 7 and time.monotonic() < deadline:  # until the 7 others wait
            time.sleep(0.001)
        return plots.reservoir_forecast_svg(*args, **kwargs)

    spy, start, got = Spy(slow), threading.Barrier(8), []

    def ask() -> None:
        start.wait()
        got.append(cache.svg(spy, **RESERVOIR_ARGS))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert spy.calls == 1 and cache.stats().joined == 7 and len(got) == 8 and len(set(got)) == 1


def test_a_failed_render_reaches_its_waiters_and_is_not_kept():
    cache, calls = PlotCache(), []

    def broken(n: int) -> str:
        calls.append(n)
        raise ValueError("cannot draw")

    for _ in range(2):
        with pytest.raises(ValueError, match="cannot draw"):
            cache.svg(broken, 1)
    assert calls == [1, 1] and cache.stats().entries == 0
