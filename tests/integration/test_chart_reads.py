"""The chart's fast reads give what the plain reads give, and a change of the records shows at once.

``views.chart`` reads the records other than the patient and the pump as rows of their columns
(prepared selects); the chart's learned flow is kept by content (``itb.web.chart.flow_of``). Both
are compared here with the plain path: the records loaded as ORM objects, ``learned_flow`` called
on the pump itself.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from itb.adapters.db import models as m
from itb.clinic import views
from itb.clinic.derived import learned_flow
from itb.domain.program import DosingProgram
from itb.web import chart
from itb.web.plot_cache import DERIVED_WEIGHT, PlotCache


def columns(record: Any) -> dict[str, Any]:
    return {c.name: getattr(record, c.key) for c in type(record).__table__.columns}


def plain(s: Any, kind: Any, where: Any, *order: Any) -> list[dict[str, Any]]:
    return [columns(r) for r in s.execute(select(kind).where(where).order_by(*order)).scalars()]


@pytest.fixture
def recorded(clinic, users, child, pump, db, clock):  # type: ignore[no-untyped-def]
    """A chart with a record of every kind: a refill, a new program, a reading (pump events),
    scores, a screening trial, a booked visit, a family's report."""
    clinic.record_screening(
        users["clinician"], child.id, dose_mcg=50, mas_before={"hip": "3"}, mas_after={"hip": "1+"}, effect_hours=6
    )
    clinic.refill(
        users["nurse"], pump.id, withdrawn_ml=18.4, added_ml=20, concentration_mcg_per_ml=500,
        expected_version=pump.version,
    )  # fmt: skip
    clock.advance(days=1)
    version = db.get(m.Pump, pump.id).version
    clinic.change_program(users["clinician"], pump.id, DosingProgram.simple_continuous(90), expected_version=version)
    clinic.interrogate(users["nurse"], pump.id)
    clinic.record_assessment(users["clinician"], child.id, "mas", {"hip_adductors": "2"})
    clinic.record_assessment(
        users["clinician"], child.id, "gas", {"goals": [{"description": "sits alone", "weight": 1, "score": 0}]}
    )
    clinic.book(users["nurse"], child.id, kind="refill", at=datetime(2026, 11, 24, 10), pump_id=pump.id)
    clinic.report_symptoms(users["caregiver"], child.id, ["itching"], "since the refill")
    return child


def test_the_chart_rows_hold_the_columns_of_the_records_in_their_order(clinic, users, recorded, pump, sessions):
    got = views.chart(clinic, users["clinician"], recorded.id)
    with sessions() as s:
        pid, pumps = recorded.id, [pump.id]
        want = {
            "appointments": plain(
                s, m.Appointment, m.Appointment.patient_id == pid, m.Appointment.at, m.Appointment.id
            ),
            "assessments": plain(s, m.Assessment, m.Assessment.patient_id == pid, m.Assessment.at, m.Assessment.id),
            "screenings": plain(s, m.ScreeningTrial, m.ScreeningTrial.patient_id == pid, m.ScreeningTrial.at),
            "versions": plain(s, m.ProgramVersion, m.ProgramVersion.pump_id.in_(pumps), m.ProgramVersion.at),
            "refills": plain(s, m.Refill, m.Refill.pump_id.in_(pumps), m.Refill.at, m.Refill.id),
            "events": plain(
                s, m.PumpEvent, m.PumpEvent.pump_id.in_(pumps), m.PumpEvent.at.desc(), m.PumpEvent.seq.desc()
            )[: views.CHART_EVENTS],
        }
        reports = s.execute(select(m.SymptomReport).where(m.SymptomReport.patient_id == pid)).scalars().all()
        want_reports = [views._report(r) for r in reports]
    for name, rows in want.items():
        assert [r._asdict() for r in getattr(got, name)] == rows, name
        assert rows, f"the chart of this test has {name}"
    assert got.reports == want_reports and len(want_reports) == 1
    assert len(want["versions"]) == 2 and len(want["refills"]) == 1


def test_the_kept_learned_flow_is_the_one_learned_from_the_pump_itself(clinic, users, recorded, pump, sessions):
    with sessions() as s:
        record = s.get(m.Pump, pump.id)
        history = sorted(
            s.execute(select(m.Refill.at, m.Refill.expected_ml, m.Refill.withdrawn_ml, m.Refill.added_ml)).tuples()
        )
        want = learned_flow(record, history, clinic.config.flow)
        assert chart.flow_of(record, history, clinic.config.flow) == want
    assert chart.chart_context(clinic, users["clinician"], recorded.id)["learned"] == want


def test_a_refill_shows_on_the_chart_at_once(clinic, users, recorded, pump, db, sessions, monkeypatch):
    monkeypatch.setattr(chart, "DERIVED", PlotCache(weigh=lambda _value: DERIVED_WEIGHT))  # its own
    before = chart.chart_context(clinic, users["clinician"], recorded.id)
    assert chart.chart_context(clinic, users["clinician"], recorded.id)["learned"] is before["learned"]  # kept
    clinic.refill(
        users["nurse"], pump.id, withdrawn_ml=19.78, added_ml=20, concentration_mcg_per_ml=500,
        expected_version=db.get(m.Pump, pump.id).version,
    )  # fmt: skip
    after = chart.chart_context(clinic, users["clinician"], recorded.id)
    assert len(after["refills"]) == len(before["refills"]) + 1
    assert after["learned"] != before["learned"]
    with sessions() as s:  # the plain path, on the records as they are now
        history = sorted(
            s.execute(select(m.Refill.at, m.Refill.expected_ml, m.Refill.withdrawn_ml, m.Refill.added_ml)).tuples()
        )
        assert after["learned"] == learned_flow(s.get(m.Pump, pump.id), history, clinic.config.flow)
    assert after["svgs"]["reservoir"] != before["svgs"]["reservoir"]


def test_a_changed_pump_column_gives_a_new_learned_flow(clinic, recorded, pump, sessions):
    with sessions() as s:
        record = s.get(m.Pump, pump.id)
        first = chart.flow_of(record, [], clinic.config.flow)
        record.reading_reservoir_ml -= 5.0  # not written: the key is the columns as given
        record.reading_at += timedelta(hours=1)
        moved = chart.flow_of(record, [], clinic.config.flow)
        assert moved == learned_flow(record, [], clinic.config.flow) != first
