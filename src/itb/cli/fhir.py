"""``itb export fhir`` and ``itb import fhir``: the record as FHIR R4 for the hospital, and the
hospital's Patient list into the record (``itb.interop``)."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import orjson

from itb.cli.common import fail

if TYPE_CHECKING:
    from itb.clinic.fhir_records import PatientRecords


def export_fhir(out: str, db: str | None, patient: int | None, base: str) -> None:
    """Write the whole clinic (or one patient) as a FHIR Bundle of type collection, every resource
    validated; one patient at a time, so a large clinic is never held whole. ``base``: the server's
    FHIR address, each entry's ``fullUrl`` (the resources' references are relative to it)."""
    from itb.clinic.fhir_records import all_patient_records, patient_records
    from itb.clinic.services import SYSTEM, NotFound
    from itb.shell.clinic_setup import open_clinic

    clinic, _engine = open_clinic(db)
    try:
        records = (
            [patient_records(clinic, SYSTEM, patient)] if patient is not None else all_patient_records(clinic, SYSTEM)
        )
    except NotFound as exc:
        fail(str(exc))
    if out == "-":
        _write_bundle(sys.stdout.buffer, records, base)
        sys.stdout.flush()
        return
    try:
        with Path(out).open("wb") as target:
            counts = _write_bundle(target, records, base)
    except OSError as exc:
        fail(f"{out}: cannot write it ({exc.__class__.__name__})")
    print(f"{sum(counts.values())} resources exported to {out}: " + ", ".join(f"{n} {k}" for k, n in counts.items()))


def _write_bundle(target: BinaryIO, records: Iterable[PatientRecords], base: str) -> dict[str, int]:
    from itb.interop.fhir_bundle import validated
    from itb.interop.fhir_resources import patient_resources

    counts: dict[str, int] = {}
    target.write(b'{"resourceType":"Bundle","type":"collection","entry":[')
    for r in records:
        for resource in patient_resources(r):
            entry = {
                "fullUrl": f"{base.rstrip('/')}/{resource['resourceType']}/{resource['id']}",
                "resource": validated(resource),
            }
            target.write((b"," if counts else b"") + b"\n" + orjson.dumps(entry))
            counts[resource["resourceType"]] = counts.get(resource["resourceType"], 0) + 1
    target.write(b"\n]}\n")
    return counts


def import_fhir(
    file: Path, db: str | None, dry_run: bool, origin: str | None, system: str | None, as_json: bool
) -> None:
    """Register the Patients of a FHIR Bundle (or one Patient) not yet in the record; all or none."""
    from itb.clinic.services import SYSTEM
    from itb.domain.errors import InvalidInput
    from itb.interop.fhir_codes import PATIENT_REF
    from itb.interop.fhir_import import patient_rows
    from itb.shell.clinic_setup import open_clinic

    try:
        raw = file.read_bytes()
    except OSError as exc:
        fail(f"{file}: cannot read it ({exc.__class__.__name__})")
    clinic, _engine = open_clinic(db)
    try:
        rows = patient_rows(raw, system or PATIENT_REF, origin)
        report = clinic.import_patients(SYSTEM, rows, dry_run=dry_run)
    except InvalidInput as exc:
        for v in exc.violations:
            print(v, file=sys.stderr)
        raise SystemExit(2) from None
    if as_json:
        sys.stdout.buffer.write(orjson.dumps(report.json()) + b"\n")
        return
    what = "would be registered (dry run, nothing stored)" if dry_run else "registered"
    print(f"{len(rows)} patients read: {len(report.created)} {what}, {len(report.unchanged)} already in the record")
    for ref in report.created:
        print(f"new: {ref}")
    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)


__all__ = ["export_fhir", "import_fhir"]
