"""The chart's plots are rendered once per change of what they show (``itb.web.plot_cache``).

The same records give the cached SVGs (each plot function called once); a refill, a new program
or a new assessment gives a new plot at once; "now" reaches the dose plot to the minute.
"""

from __future__ import annotations

from collections import Counter

import pytest

from itb.adapters.db import models as m
from itb.domain.program import DosingProgram
from itb.web import chart, plots
from itb.web.plot_cache import PlotCache

DRAWN = ("reservoir_forecast_svg", "dose_history_svg", "tone_trend_svg")


@pytest.fixture
def renders(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """The calls of each plot function, on a cache of this test's own."""
    calls: Counter[str] = Counter()
    monkeypatch.setattr(chart, "PLOTS", PlotCache())
    for name in DRAWN:
        draw = getattr(plots, name)

        def counted(*args, _draw=draw, _name=name, **kwargs):  # type: ignore[no-untyped-def]
            calls[_name] += 1
            return _draw(*args, **kwargs)

        counted.__qualname__ = name  # one name per plot: the cache names a function by it
        monkeypatch.setattr(plots, name, counted)
    return calls


def svgs(clinic, users, child) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return chart.chart_context(clinic, users["clinician"], child.id)["svgs"]


def test_the_same_records_give_the_cached_plots(clinic, users, child, pump, renders):
    first = svgs(clinic, users, child)
    again = svgs(clinic, users, child)
    assert again == first and set(first) == {"reservoir", "dose", "tone"}
    assert renders == {name: 1 for name in DRAWN}
    assert chart.PLOTS.stats().hits == 3


def test_a_refill_a_program_and_an_assessment_each_give_a_new_plot(clinic, users, child, pump, db, renders):
    first = svgs(clinic, users, child)
    clinic.refill(
        users["nurse"],
        pump.id,
        withdrawn_ml=18.4,
        added_ml=20,
        concentration_mcg_per_ml=500,
        expected_version=pump.version,
    )
    refilled = svgs(clinic, users, child)
    assert refilled["reservoir"] != first["reservoir"] and renders["reservoir_forecast_svg"] == 2
    assert renders["dose_history_svg"] == 1 and renders["tone_trend_svg"] == 1  # what they show did not change
    version = db.get(m.Pump, pump.id).version
    clinic.change_program(users["clinician"], pump.id, DosingProgram.simple_continuous(90), expected_version=version)
    reprogrammed = svgs(clinic, users, child)
    assert reprogrammed["dose"] != refilled["dose"] and renders["dose_history_svg"] == 2
    assert renders["reservoir_forecast_svg"] == 3  # the new rate empties the reservoir later
    clinic.record_assessment(users["clinician"], child.id, "mas", {"hip_adductors": "2"})
    assert svgs(clinic, users, child)["tone"] != reprogrammed["tone"] and renders["tone_trend_svg"] == 2


def test_now_reaches_the_dose_plot_to_the_minute(clinic, users, child, pump, clock, renders):
    assert clock().second == 0
    first = svgs(clinic, users, child)
    clock.advance(seconds=59)
    assert svgs(clinic, users, child) == first and renders["dose_history_svg"] == 1  # the same minute
    clock.advance(seconds=1)
    assert svgs(clinic, users, child)["dose"] != first["dose"] and renders["dose_history_svg"] == 2
