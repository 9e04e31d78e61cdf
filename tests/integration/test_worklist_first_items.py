"""The first items of the worklist, built from the pumps in the list's order a batch at a time
(``itb.clinic.worklist_first.first_items``: what the page and ``GET /api/worklist?limit=N`` ask for), are
the whole list's first items, item for item: for random clinics (many pumps empty at the same
instant, patients with two pumps or none, family reports of every urgency, record problems, passed
alarms), at several dates, for every N, each urgency, reasons, names and a caregiver's view, on
SQLite and PostgreSQL.
"""

from __future__ import annotations

import random
import re
from datetime import datetime, timedelta

from sqlalchemy import insert
from sqlalchemy.orm import Session, sessionmaker

from itb.adapters.db import models as m
from itb.clinic import worklist_first
from itb.clinic.worklist import worklist
from itb.clinic.worklist_first import first_items
from itb.domain.scheduling import DEFAULT_BOOKING
from itb.domain.worklist import Reason, Wanted, WorkItem

TODAY = datetime(2026, 11, 23, 9, 0)
NAMES = ["Ana Berg", "ana berg", "Ben Costa", "Émile Dubois", "Mia Novak", "Noah Hansen", "Olga Moreau"]


def random_clinic(sessions: sessionmaker[Session], rng: random.Random, patients: int = 45) -> None:
    """A clinic of random rows, each column near a rule's edge; a few empty instants, so many pumps tie."""
    instants = [TODAY + timedelta(days=d, hours=h) for d, h in ((-3, 0), (2, 5), (6, 23), (9, 0), (25, 1), (40, 0))]
    rows: dict[type, list[dict]] = {m.Patient: [], m.Pump: [], m.Appointment: [], m.SymptomReport: []}
    rows.update({m.Refill: [], m.PumpChange: [], m.PumpSession: []})
    pump_id = 0
    for patient_id in range(1, patients + 1):
        rows[m.Patient].append(
            dict(
                id=patient_id,
                name=rng.choice(NAMES),
                birth_date=TODAY.date() - timedelta(days=3000),
                origin="cerebral",
                injury_t6_or_above=rng.random() < 0.3,
                phase=rng.choice(["maintenance", "maintenance", "titrating", "screening"]),
                created_at=TODAY - timedelta(days=400),
            )
        )
        for _ in range(rng.choice([0, 1, 1, 1, 1, 2])):
            pump_id += 1
            rows[m.Pump].append(random_pump(rng, pump_id, patient_id, instants) | edge(pump_id))
            if rng.random() < 0.08:
                rows[m.Refill].append(
                    dict(pump_id=pump_id, at=TODAY - timedelta(days=20), expected_ml=10.0, withdrawn_ml=8.0)
                    | dict(discrepancy_ml=2.0, added_ml=20.0, concentration_mcg_per_ml=500.0, by="nurse", flagged=True)
                )
            if rng.random() < 0.06 or pump_id % 13 == 0:
                rows[m.PumpChange].append(
                    dict(pump_id=pump_id, key=f"k{pump_id}", command="refill", payload={}, status="pending")
                    | dict(requested_at=TODAY - timedelta(days=1), requested_by="nurse")
                )
            if rng.random() < 0.06:
                rows[m.PumpSession].append(
                    dict(pump_id=pump_id, at=TODAY - timedelta(days=5), kind="refill", data={}, by="nurse")
                    | dict(warnings=["the vendor's alarm date differs"])
                )
        for _ in range(rng.randint(0, 3)):
            at = TODAY + timedelta(days=rng.uniform(-60, 60))
            kind = rng.choice(["refill", "refill", "titration", "mri_check", "replacement"])
            status = rng.choice(["booked", "booked", "done", "missed", "cancelled"])
            rows[m.Appointment].append(dict(patient_id=patient_id, kind=kind, status=status, at=at, by="nurse"))
        if rng.random() < 0.2:
            urgency = rng.choice([None, 0, 1, 2, 2])
            rows[m.SymptomReport].append(
                dict(patient_id=patient_id, at=TODAY - timedelta(days=rng.randint(0, 9)), by="mum", symptoms=["fever"])
                | dict(note=None, urgency=urgency, reviewed_by=rng.choice([None, None, "dr"]))
            )
    with sessions.begin() as s:
        for model, values in rows.items():
            if values:
                s.execute(insert(model), values)


def random_pump(rng: random.Random, pump_id: int, patient_id: int, instants: list[datetime]) -> dict:
    empty = rng.choice([*instants, None])
    plausible = None if rng.random() < 0.6 else rng.choice([*instants, None])
    alarm = None if empty is None else empty - timedelta(days=rng.choice([1, 4, 12]))
    vendor = rng.random() < 0.15
    return dict(
        id=pump_id,
        patient_id=patient_id,
        model="SynchroMed II",
        serial=f"S{pump_id}",
        reservoir_capacity_ml=20.0,
        implanted_at=TODAY - timedelta(days=rng.randint(10, 900)),
        catheter_length_cm=50.0,
        catheter_volume_ml=0.1,
        status="explanted" if rng.random() < 0.05 else "implanted",
        reading_at=TODAY - timedelta(days=rng.randint(1, 250 if vendor else 60)),
        reading_reservoir_ml=10.0,
        concentration_mcg_per_ml=500.0,
        program={},
        daily_dose_mcg=100.0,
        low_reservoir_alarm_at=alarm,
        empty_at=empty,
        plausible_empty_at=plausible,
        plausible_alarm_at=None if plausible is None else plausible - timedelta(days=3),
        eri_at=TODAY + timedelta(days=rng.choice([-10, 50, 120, 900])),
        eri_reached=rng.random() < 0.05,
        regression_detail="reservoir 12.0 -> 14.5 ml" if rng.random() < 0.05 else None,
        connection="vendor" if vendor else "telemetry",
        flow_ratio=rng.choice([None, 1.0, 1.3]),
        flow_refills=rng.choice([0, 3]),
    )


def edge(pump_id: int) -> dict:
    """Every seventh pump: urgent while empty late or never (its record, its passed alarm); every
    thirteenth: a change not settled, and no empty instant."""
    late = TODAY + timedelta(days=40)
    if pump_id % 13 == 0:
        return dict(empty_at=None, plausible_empty_at=None, low_reservoir_alarm_at=None, plausible_alarm_at=None)
    return [
        {},
        dict(regression_detail="reservoir 12.0 -> 14.5 ml", empty_at=None, plausible_empty_at=None),
        dict(empty_at=late, low_reservoir_alarm_at=TODAY - timedelta(hours=1), plausible_empty_at=None),
        dict(plausible_empty_at=late, plausible_alarm_at=TODAY - timedelta(minutes=5)),
    ][(pump_id // 7) % 4 if pump_id % 7 == 0 else 0]


def asks(rng: random.Random, full: list[WorkItem]) -> list[Wanted]:
    """Every N (and all) of the whole list; for each urgency, all and random N; then random reasons,
    names and urgencies."""
    limits = range(1, len(full) + 2)
    wanted = [Wanted(limit=n) for n in limits]
    wanted += [Wanted(n, u) for u in (0, 1, 2) for n in [None, *rng.sample(limits, k=3)]]
    present = sorted({str(r) for i in full for r in i.reasons})
    for _ in range(8):
        reason = rng.choice([None, *present, str(Reason.STALE)])
        name = rng.choice([None, "ana", "É", "noah hansen", "zz"])
        wanted.append(Wanted(rng.choice([1, 2, 5, 20, None]), rng.choice([None, 0, 1]), reason, name))
    return wanted


def test_the_first_items_are_the_whole_lists_first_items(sessions, monkeypatch):  # type: ignore[no-untyped-def]
    """In batches, however small the clinic (a small one is otherwise built whole), one pump per
    item asked for: many batches."""
    monkeypatch.setattr(worklist_first, "SMALL_CLINIC_BATCHES", 0)
    monkeypatch.setattr(worklist_first, "PUMPS_PER_ITEM", 1)
    rng = random.Random(16)
    random_clinic(sessions, rng)
    caregiver = set(rng.sample(range(1, 46), k=9))
    for now, ids in ((TODAY, None), (TODAY + timedelta(days=8, hours=3), None), (TODAY, caregiver)):
        with sessions() as s:
            full = worklist(s, now, DEFAULT_BOOKING, ids, select_at_risk=False)
            if ids is None:  # a long list, with an emergency report and items at every urgency
                assert len(full) >= 30 and any(i.report_urgency == 2 for i in full)
                assert {i.urgency for i in full} == {0, 1, 2}
            for wanted in asks(rng, full):
                assert first_items(s, now, DEFAULT_BOOKING, wanted, ids) == wanted.of(full), (now, wanted)


def test_the_page_and_the_api_show_the_whole_lists_first_rows_and_offer_more(app, clinic, client, passwords, clock):  # type: ignore[no-untyped-def]
    """The page builds its rows only (and says more are on the list, with the link to them); its
    reason filter offers every reason; ``?limit=`` and ``?max_urgency=`` answer the whole list's items."""
    from test_pages_security import browser

    random_clinic(clinic.sessions, random.Random(5))
    clock.set(TODAY)
    with clinic.sessions() as s:
        full = worklist(s, TODAY, clinic.config.booking, flow=clinic.config.flow)
    nurse = browser(app, "nurse", passwords)
    page = nurse.get("/worklist", params={"show": 4}).text
    shown = re.findall(r'<tr class="u\d" data-urgency="\d">\s*<td><a href="/patients/(\d+)"', page)
    assert [int(p) for p in shown] == [i.patient_id for i in full[:4]]
    assert 'href="/worklist?show=204"' in page and "Show all" in page
    assert all(f'<option value="{r}"' in page for r in Reason)
    every = nurse.get("/worklist", params={"show": len(full)}).text
    assert "Show all" not in every and f"{len(full)} on the list, all shown" in every
    api = [i["pump_id"] for i in client("nurse").get("/api/worklist", params={"limit": 5}).json()]
    assert api == [i.pump_id for i in full[:5]]
    urgent = client("nurse").get("/api/worklist", params={"max_urgency": 0}).json()
    assert [i["pump_id"] for i in urgent] == [i.pump_id for i in full if i.urgency == 0]
