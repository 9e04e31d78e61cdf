"""Tardieu assessments entered through the API and shown on the chart (SQLite and PostgreSQL).

Sources: the Tardieu scale's scoring sheet (grades 0-5, "5 Joint is immovable"), as reproduced in
the physiobase.com thread "Measuring spasticity"; Gracies et al., Front. Neurol. 2023;14:1108535,
"Brief history" (angles from each muscle's zero position); Choi et al., Gait Posture 2018;64:255
(R2 - R1, the dynamic component); shared/domain.md, "Scales used in clinic".
"""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from test_pages_security import sign_in

from itb.adapters.db import models as m


def test_tardieu_entry_accepts_quality_5_and_signed_angles_and_stores_r2_minus_r1(client, child):
    """The published scale's 0-5 and angles short of neutral are accepted where assessments are entered."""
    doctor = client("clinician")
    body = {
        "kind": "tardieu",
        "data": {
            "soleus": {"quality": 5, "r1_deg": -15, "r2_deg": -15},
            "gastrocnemius": {"quality": 2, "r1_deg": -10, "r2_deg": 5},
        },
    }
    answer = doctor.post(f"/api/patients/{child.id}/assessments", json=body)
    assert answer.status_code == 201, answer.text
    assert answer.json()["data"] == {
        "soleus": {"quality": 5, "r1_deg": -15, "r2_deg": -15, "dynamic_component_deg": 0},
        "gastrocnemius": {"quality": 2, "r1_deg": -10, "r2_deg": 5, "dynamic_component_deg": 15},
    }
    listed = doctor.get(f"/api/patients/{child.id}/assessments").json()
    assert [a["data"]["gastrocnemius"]["dynamic_component_deg"] for a in listed if a["kind"] == "tardieu"] == [15]


def test_tardieu_entry_refuses_bad_values_naming_the_muscle_and_field(client, child, db):
    """Quality above 5, an angle beyond half a turn, a reversed R1/R2: 422, each naming data.<muscle>.<field>;
    nothing is stored."""
    doctor = client("clinician")
    before = db.snapshot()
    for data, loc in (
        ({"soleus": {"quality": 6, "r1_deg": -10, "r2_deg": 5}}, ["data", "soleus", "quality"]),
        ({"soleus": {"quality": 2, "r1_deg": -190, "r2_deg": 5}}, ["data", "soleus", "r1_deg"]),
        ({"soleus": {"quality": 2, "r1_deg": 10, "r2_deg": -5}}, ["data", "soleus", "r1_deg"]),
        ({"soleus": {"quality": 2, "r1_deg": "ten", "r2_deg": 5}}, ["data", "soleus", "r1_deg"]),
    ):
        answer = doctor.post(f"/api/patients/{child.id}/assessments", json={"kind": "tardieu", "data": data})
        assert answer.status_code == 422, answer.text
        assert loc in [d["loc"] for d in answer.json()["detail"]], answer.text
    assert db.snapshot() == before
    assert db.count(m.Assessment) == 0


def test_tardieu_chart_shows_the_dynamic_component(app, client, child, passwords):
    """The chart lists each Tardieu measurement with R2 - R1 computed from the signed angles."""
    doctor = client("clinician")
    body = {"kind": "tardieu", "data": {"hamstrings": {"quality": 2, "r1_deg": -70, "r2_deg": -50}}}
    assert doctor.post(f"/api/patients/{child.id}/assessments", json=body).status_code == 201
    with TestClient(app) as browser:
        login = sign_in(browser, "clinician", passwords["clinician"])
        assert login.status_code == 303
        page = browser.get(f"/patients/{child.id}").text
    section = page[page.index('id="tardieu-h"') :]
    row = re.search(r"<td>hamstrings</td>(.*?)</tr>", section).group(1)  # type: ignore[union-attr]
    assert re.findall(r"<td>([^<]*)</td>", row) == ["2", "-70°", "-50°", "20°"]
    assert "5 joint immobile" in section
