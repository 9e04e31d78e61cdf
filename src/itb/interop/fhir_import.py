"""The hospital's Patient resources (a Bundle, or one Patient) as patients to register.

Each Patient is checked with ``fhir.resources`` first (a resource that is not valid FHIR is an
error naming its entry). The clinic's identifier is the one under ``system`` (default: ITB's own,
as the export writes it; else the hospital's medical record number, type ``MR``); a Patient with
neither cannot be matched and is an error, never registered twice. The spasticity's origin is not a
FHIR element: it comes from ITB's extension, else from ``origin`` given for all.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import orjson
from pydantic import ValidationError

from itb.clinic.usecases.patient_import import PatientRow
from itb.domain.errors import InvalidInput, Violation
from itb.interop.fhir_codes import ORIGIN_EXTENSION, PATIENT_REF

#: the identifier type of a hospital's medical record number (HL7 v2 table 0203, ``IDENTIFIER_TYPE``)
MEDICAL_RECORD_NUMBER = "MR"


def _reference(patient: dict[str, Any], system: str) -> str | None:
    identifiers = patient.get("identifier") or []
    for ident in identifiers:
        if ident.get("system") == system and ident.get("value"):
            return str(ident["value"])
    for ident in identifiers:
        codes = [c.get("code") for c in (ident.get("type") or {}).get("coding") or []]
        if MEDICAL_RECORD_NUMBER in codes and ident.get("value"):
            return str(ident["value"])
    return None


def _name(patient: dict[str, Any]) -> str:
    names = patient.get("name") or []
    usual = next((n for n in names if n.get("use") in ("usual", "official")), names[0] if names else {})
    if usual.get("text"):
        return str(usual["text"]).strip()
    return " ".join([*usual.get("given", []), usual.get("family", "")]).strip()


def _origin(patient: dict[str, Any], default: str | None) -> str | None:
    for ext in patient.get("extension") or []:
        if ext.get("url") == ORIGIN_EXTENSION:
            return str(ext.get("valueCode"))
    return default


def _patients(document: Any) -> list[tuple[str, Any]]:
    if isinstance(document, dict) and document.get("resourceType") == "Patient":
        return [("Patient", document)]
    if isinstance(document, dict) and document.get("resourceType") == "Bundle":
        entries = document.get("entry") or []
        found = []
        for i, entry in enumerate(entries if isinstance(entries, list) else []):
            resource = entry.get("resource") if isinstance(entry, dict) else None
            if isinstance(resource, dict) and resource.get("resourceType") == "Patient":
                found.append((f"entry[{i}].resource", resource))
        return found
    raise InvalidInput([Violation("resourceType", "must be a Bundle or a Patient")])


def patient_rows(raw: bytes, system: str = PATIENT_REF, origin: str | None = None) -> list[PatientRow]:
    """The Patients of a FHIR JSON document as rows to import (raises ``InvalidInput`` for every
    Patient that is not valid FHIR or cannot be matched, naming where it is)."""
    from fhir.resources.R4B.patient import Patient

    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput([Violation("file", f"not JSON ({exc})")]) from None
    errs: list[Violation] = []
    rows = []
    for where, resource in _patients(document):
        try:
            checked = Patient.model_validate(resource).model_dump(mode="json", exclude_none=True)
        except ValidationError as exc:
            for e in exc.errors()[:10]:
                path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in e["loc"])
                errs.append(Violation(where + path, f"not valid FHIR: {e['msg']}"))
            continue
        ref = _reference(checked, system)
        if ref is None:
            errs.append(Violation(f"{where}.identifier", f"needs an identifier of system {system} or of type MR"))
            continue
        born = checked.get("birthDate")
        rows.append(
            PatientRow(
                where=where,
                patient_ref=ref,
                name=_name(checked),
                birth_date=date.fromisoformat(born) if isinstance(born, str) and len(born) == 10 else None,
                origin=_origin(checked, origin),
            )
        )
    if errs:
        raise InvalidInput(errs)
    return rows


__all__ = ["MEDICAL_RECORD_NUMBER", "patient_rows"]
