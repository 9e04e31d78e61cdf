"""The status card: staff read "Status summary" in clinical words, the family "In plain words"."""

from __future__ import annotations

from test_pages_security import browser


def test_the_staff_chart_status_card_speaks_to_staff_and_the_family_page_to_the_family(app, passwords, child, pump):
    chart = browser(app, "clinician", passwords).get(f"/patients/{child.id}").text
    assert "<h2>Status summary</h2>" in chart and "In plain words" not in chart
    card = chart.split("Status summary")[1][:400]
    assert "earliest plausible low-reservoir alarm" in card and "your child" not in card
    family = browser(app, "caregiver", passwords).get("/family").text
    assert "The pump is working" in family
