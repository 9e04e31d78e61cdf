"""``itb export fhir`` and ``itb import fhir``: the demo clinic's Bundle round-trips (its Patients
imported again create nothing new), new Patients are registered once, bad ones are named."""

from __future__ import annotations

import os
import subprocess
from datetime import datetime
from pathlib import Path

import orjson
import pytest
from sqlalchemy import select
from test_forecast_cli import itb_command

from itb.adapters.db import models as m
from itb.cli import fhir as fhir_cli
from itb.interop.fhir_bundle import validated
from itb.interop.fhir_codes import ORIGIN_EXTENSION
from itb.shell.clinic_setup import open_clinic
from itb.simulation.demo_clinic import fill_demo_clinic


def itb(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ITB_HOME": str(tmp_path)}
    return subprocess.run([*itb_command(), *args], capture_output=True, text=True, env=env, timeout=300)


def import_fhir(capsys, file: Path, db: str, origin: str | None = None) -> tuple[int, dict | str]:  # type: ignore[no-untyped-def]
    """``itb import fhir FILE --db DB --json`` in this process: (exit status, the report or stderr)."""
    try:
        fhir_cli.import_fhir(file, db, dry_run=False, origin=origin, system=None, as_json=True)
    except SystemExit as exc:
        return int(exc.code or 0), capsys.readouterr().err
    return 0, orjson.loads(capsys.readouterr().out)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):  # type: ignore[no-untyped-def]
    home = tmp_path_factory.mktemp("fhir-cli")
    clinic, engine = open_clinic(str(home / "demo.db"))
    fill_demo_clinic(clinic, patients=6, today=datetime(2026, 3, 2, 8, 0))
    engine.dispose()
    done = itb(home, "export", "fhir", str(home / "clinic.json"), "--db", str(home / "demo.db"))
    assert done.returncode == 0, done.stderr
    return home, orjson.loads((home / "clinic.json").read_bytes())


def test_export_is_a_valid_collection_bundle(exported) -> None:  # type: ignore[no-untyped-def]
    _home, bundle = exported
    assert validated(bundle) == bundle and bundle["type"] == "collection"
    kinds = {e["resource"]["resourceType"] for e in bundle["entry"]}
    assert {"Patient", "Device", "MedicationRequest", "Observation", "AuditEvent"} <= kinds
    assert all(
        e["fullUrl"].endswith(f"/{e['resource']['resourceType']}/{e['resource']['id']}") for e in bundle["entry"]
    )


def test_export_then_import_of_patients_creates_nothing_new(exported) -> None:  # type: ignore[no-untyped-def]
    home, bundle = exported
    again = itb(home, "import", "fhir", str(home / "clinic.json"), "--db", str(home / "demo.db"), "--json")
    assert again.returncode == 0, again.stderr
    report = orjson.loads(again.stdout)
    patients = sum(e["resource"]["resourceType"] == "Patient" for e in bundle["entry"])
    assert report["created"] == [] and len(report["unchanged"]) == patients and report["warnings"] == []


def test_import_registers_the_hospitals_patients_once(exported, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    home, _bundle = exported
    new_db = str(tmp_path / "new.db")
    first, created = import_fhir(capsys, home / "clinic.json", new_db)
    second, again = import_fhir(capsys, home / "clinic.json", new_db)
    assert first == second == 0, (created, again)
    assert isinstance(created, dict) and isinstance(again, dict)
    assert created["created"] and again["created"] == []
    assert sorted(again["unchanged"]) == sorted(created["created"])


def test_import_names_each_bad_patient_and_stores_nothing(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    hospital = {"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]}}
    entries = [
        {"resourceType": "Patient", "identifier": [{**hospital, "value": "H-1"}], "birthDate": "2015-02-03",
         "name": [{"given": ["Ana"], "family": "Berg"}],
         "extension": [{"url": ORIGIN_EXTENSION, "valueCode": "cerebral"}]},
        {"resourceType": "Patient", "identifier": [{**hospital, "value": "H-2"}], "birthDate": "2016-01-01",
         "name": [{"text": "Ben Costa"}]},  # no origin
        {"resourceType": "Patient", "name": [{"text": "No Number"}], "birthDate": "2016-01-01"},
    ]  # fmt: skip
    file, db = tmp_path / "list.json", str(tmp_path / "c.db")

    def write(resources: list[dict]) -> Path:
        file.write_bytes(orjson.dumps({"resourceType": "Bundle", "type": "collection",
                                       "entry": [{"resource": r} for r in resources]}))  # fmt: skip
        return file

    status, errors = import_fhir(capsys, write(entries), db)
    assert status == 2 and "entry[2].resource.identifier" in str(errors)
    status, errors = import_fhir(capsys, write(entries[:2]), db)
    assert status == 2 and "entry[1].resource.origin" in str(errors)
    status, report = import_fhir(capsys, write(entries[:2]), db, origin="spinal")
    assert status == 0 and isinstance(report, dict)
    assert report["created"] == ["H-1", "H-2"]  # nothing was stored by the refused runs
    clinic, engine = open_clinic(db)
    with clinic.sessions() as s:
        origins = {ref: origin for ref, origin in s.execute(select(m.Patient.patient_ref, m.Patient.origin))}
    engine.dispose()
    assert origins == {"H-1": "cerebral", "H-2": "spinal"}  # the extension wins over --origin
