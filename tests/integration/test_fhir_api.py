"""The FHIR R4 API (/fhir) on a small demo clinic: every resource valid, the CapabilityStatement
true to the routes, the REST API's roles, and the record's values as the record holds them now."""

from __future__ import annotations

import warnings
from datetime import datetime, timedelta

import pytest

from itb.clinic.services import SYSTEM
from itb.interop.fhir_bundle import RESOURCE_TYPES, validated
from itb.interop.fhir_codes import FHIR_JSON, ITB, LOINC, MODIFIED_ASHWORTH, PAIN_SEVERITY, SNOMED
from itb.shell.clinic_setup import open_clinic
from itb.simulation.demo_clinic import DEMO_USERS, fill_demo_clinic
from itb.web.app import create_app

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

TODAY = datetime(2026, 3, 2, 8, 0)
PASSWORDS = {name: password for name, _role, password in DEMO_USERS}
ASSESSMENTS = (
    ("mas", {"hip_adductors": "1+", "hamstrings": "2"}),
    ("tardieu", {"gastrocnemius": {"quality": 2, "r1_deg": -10, "r2_deg": 15}}),
    ("gmfcs", {"level": 4}),
    ("pain", {"score": 3, "during": "stretching"}),
    ("gas", {"goals": [{"description": "sitting balance", "weight": 1, "score": 0}]}),
)


@pytest.fixture(scope="module")
def fhir(tmp_path_factory):  # type: ignore[no-untyped-def]
    clinic, engine = open_clinic(str(tmp_path_factory.mktemp("fhir") / "c.db"))
    fill_demo_clinic(clinic, patients=8, today=TODAY)
    clinic.clock = lambda: TODAY
    for kind, data in ASSESSMENTS:  # the demo records none: one of each scale, on the first patient
        clinic.record_assessment(SYSTEM, 1, kind, data, at=TODAY - timedelta(days=1))
    client = TestClient(create_app(clinic, "fhir-test-secret-" + "x" * 32))

    def as_user(name: str) -> dict[str, str]:
        token = client.post("/api/auth/token", data={"username": name, "password": PASSWORDS[name]}).json()
        return {"Authorization": f"Bearer {token['access_token']}"}

    users = {name: as_user(name) for name in ("admin", "clinician", "parent1")}
    yield clinic, client, users
    engine.dispose()


def everything(client, headers, pid):  # type: ignore[no-untyped-def]
    answer = client.get(f"/fhir/Patient/{pid}/$everything", headers=headers)
    assert answer.status_code == 200 and answer.headers["content-type"] == FHIR_JSON
    return [e["resource"] for e in answer.json()["entry"]]


def patient_ids(client, headers):  # type: ignore[no-untyped-def]
    return [e["resource"]["id"] for e in client.get("/fhir/Patient", headers=headers).json()["entry"]]


def test_every_resource_validates_and_round_trips(fhir) -> None:  # type: ignore[no-untyped-def]
    _clinic, client, users = fhir
    seen = set()
    for pid in patient_ids(client, users["admin"]):
        for resource in everything(client, users["admin"], pid):
            assert validated(resource) == resource, resource["id"]
            seen.add(resource["resourceType"])
    assert seen == set(RESOURCE_TYPES)


def test_capability_statement_lists_exactly_the_routes(fhir) -> None:  # type: ignore[no-untyped-def]
    _clinic, client, _users = fhir
    statement = client.get("/fhir/metadata").json()
    assert validated(statement) == statement and statement["fhirVersion"] == "4.0.1"
    stated = {("GET", "/fhir/metadata")}
    for r in statement["rest"][0]["resource"]:
        codes = {i["code"] for i in r["interaction"]}
        assert codes == {"read", "search-type"}
        stated |= {("GET", f"/fhir/{r['type']}"), ("GET", f"/fhir/{r['type']}/{{rid}}")}
        stated |= {("GET", f"/fhir/{r['type']}/{{rid}}/${o['name']}") for o in r.get("operation", [])}
    routes = {
        (method, route.path)
        for route in client.app.routes
        if getattr(route, "path", "").startswith("/fhir")
        for method in route.methods
    }
    assert routes == stated


def test_caregiver_reads_only_their_child(fhir) -> None:  # type: ignore[no-untyped-def]
    _clinic, client, users = fhir
    own = patient_ids(client, users["parent1"])
    assert len(own) == 1
    other = next(pid for pid in patient_ids(client, users["clinician"]) if pid not in own)
    assert client.get(f"/fhir/Patient/{other}", headers=users["parent1"]).status_code == 404
    assert client.get(f"/fhir/Patient/{other}/$everything", headers=users["parent1"]).status_code == 404
    search = client.get(f"/fhir/Observation?patient={other}", headers=users["parent1"]).json()
    assert search["total"] == 0
    stolen = next(r["id"] for r in everything(client, users["clinician"], other) if r["resourceType"] == "Device")
    answer = client.get(f"/fhir/Device/{stolen}", headers=users["parent1"])
    assert answer.status_code == 404 and answer.json()["resourceType"] == "OperationOutcome"
    assert {r["resourceType"] for r in everything(client, users["parent1"], own[0])} >= {"Patient", "Device"}


def test_audit_events_are_the_admins_only(fhir) -> None:  # type: ignore[no-untyped-def]
    _clinic, client, users = fhir
    pid = patient_ids(client, users["admin"])[0]
    assert client.get(f"/fhir/AuditEvent?patient={pid}", headers=users["admin"]).json()["total"] > 0
    assert client.get(f"/fhir/AuditEvent?patient={pid}", headers=users["clinician"]).json()["total"] == 0


def test_errors_are_operation_outcomes(fhir) -> None:  # type: ignore[no-untyped-def]
    _clinic, client, users = fhir
    for path, status in (("/fhir/Patient", 401), ("/fhir/Device/1-pump-1", 401)):
        answer = client.get(path)
        assert answer.status_code == status and answer.json()["issue"][0]["code"] == "login"
    for path, status in (
        ("/fhir/Observation", 400),  # search by patient only
        ("/fhir/Observation/999999-pump-1", 404),
        ("/fhir/Observation/not an id", 404),
        ("/fhir/Patient/abc/$everything", 404),
    ):
        answer = client.get(path, headers=users["clinician"])
        assert answer.status_code == status and answer.headers["content-type"] == FHIR_JSON
        assert validated(answer.json())["resourceType"] == "OperationOutcome"


def test_read_by_id_is_the_search_entry(fhir) -> None:  # type: ignore[no-untyped-def]
    _clinic, client, users = fhir
    pid = patient_ids(client, users["clinician"])[0]
    for resource in everything(client, users["clinician"], pid):
        kind, rid = resource["resourceType"], resource["id"]
        assert client.get(f"/fhir/{kind}/{rid}", headers=users["clinician"]).json() == resource
    found = client.get(f"/fhir/Observation?patient=Patient/{pid}", headers=users["clinician"]).json()
    assert found["total"] == sum(
        r["resourceType"] == "Observation" for r in everything(client, users["clinician"], pid)
    )


def test_patient_search_by_identifier(fhir) -> None:  # type: ignore[no-untyped-def]
    _clinic, client, users = fhir
    patient = client.get("/fhir/Patient", headers=users["clinician"]).json()["entry"][0]["resource"]
    ref = patient["identifier"][0]
    found = client.get(f"/fhir/Patient?identifier={ref['system']}|{ref['value']}", headers=users["clinician"]).json()
    assert [e["resource"]["id"] for e in found["entry"]] == [patient["id"]]
    assert client.get("/fhir/Patient?identifier=nobody", headers=users["clinician"]).json()["total"] == 0


def test_observations_carry_standard_codes(fhir) -> None:  # type: ignore[no-untyped-def]
    _clinic, client, users = fhir
    codes = set()
    for pid in patient_ids(client, users["clinician"]):
        for r in everything(client, users["clinician"], pid):
            if r["resourceType"] == "Observation":
                codes |= {(c["system"], c["code"]) for c in r["code"]["coding"]}
    assert {(SNOMED, MODIFIED_ASHWORTH[1]), (LOINC, PAIN_SEVERITY[1])} <= codes
    assert {(ITB, code) for code in ("tardieu", "gmfcs", "gas-t-score", "refill-discrepancy")} <= codes
    assert {(ITB, code) for code in ("low-reservoir-alarm-forecast", "reservoir-empty-forecast")} <= codes


def test_reservoir_now_is_computed_when_read(fhir) -> None:  # type: ignore[no-untyped-def]
    clinic, client, users = fhir
    pump = next(
        r for pid in patient_ids(client, users["clinician"]) for r in everything(client, users["clinician"], pid)
        if r["resourceType"] == "Observation" and r["id"].split("-")[1:3] == ["reservoir", "now"]
    )  # fmt: skip
    later = TODAY + timedelta(days=3)
    clinic.clock = lambda: later
    try:
        again = client.get(f"/fhir/Observation/{pump['id']}", headers=users["clinician"]).json()
    finally:
        clinic.clock = lambda: TODAY
    assert again["valueQuantity"]["value"] < pump["valueQuantity"]["value"]
    assert again["effectiveDateTime"] > pump["effectiveDateTime"]
