"""Stored text reaches the plots as plain text, and a record that cannot be drawn never takes a
page down (issue 14, item 8); on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from test_pages_security import browser

from itb.web import plots


def test_a_muscle_name_with_mathtext_is_drawn_as_plain_text(app, clinic, users, passwords, child):
    clinic.record_assessment(
        users["clinician"], child.id, "mas", {r"$\frac{$": "2"}, clinic.clock() - timedelta(days=1)
    )
    for role, path in (("clinician", f"/patients/{child.id}"), ("caregiver", "/family")):
        answer = browser(app, role, passwords).get(path)
        assert answer.status_code == 200, role
    svg = plots.tone_trend_svg([(clinic.clock(), {r"$\frac{$": "2", "$x^2$ hip": "1+"})])
    assert r"$\frac{$" in svg and "$x^2$ hip" in svg  # the labels exactly as typed


def test_a_plot_that_cannot_be_drawn_says_so_and_the_chart_stays_up(app, passwords, child, pump, monkeypatch):
    def broken(*_args, **_kwargs):
        raise OverflowError("date value out of range")

    for name in ("dose_history_svg", "reservoir_forecast_svg", "csf_run_dry_svg"):
        monkeypatch.setattr(plots, name, broken)
    for role, path, still in (("clinician", f"/patients/{child.id}", "Refills"), ("caregiver", "/family", "alarm")):
        answer = browser(app, role, passwords).get(path)
        assert answer.status_code == 200 and "could not be drawn from the stored records" in answer.text, role
        assert still in answer.text  # the rest of the page is there
