"""Bundles of resources, the server's CapabilityStatement and OperationOutcome errors.

:data:`RESOURCE_TYPES` is what the API serves, and the CapabilityStatement is made from it (and
from the route list in ``itb.web.api.fhir``, which is made from it too), so the statement states
exactly what the server does.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from itb.interop.fhir_codes import FHIR_VERSION

#: every resource type the API and the export serve, each readable by id and searchable by patient
RESOURCE_TYPES = (
    "Patient",
    "Device",
    "DeviceUseStatement",
    "MedicationRequest",
    "MedicationAdministration",
    "Procedure",
    "Observation",
    "Appointment",
    "Flag",
    "AuditEvent",
    "Provenance",
)
#: the search parameter every type but Patient takes (Patient: ``_id`` and ``identifier``)
PATIENT_PARAM = "patient"


def validated(resource: dict[str, Any]) -> dict[str, Any]:
    """The resource checked against the FHIR model of its type (``fhir.resources``), as JSON:
    raises ``ValueError`` (pydantic's) when it is not a valid resource."""
    from fhir.resources.R4B import get_fhir_model_class

    model = get_fhir_model_class(resource["resourceType"])
    return model.model_validate(resource).model_dump(mode="json", exclude_none=True)


def bundle(kind: str, resources: Iterable[dict[str, Any]], base: str, link: str | None = None) -> dict[str, Any]:
    """A Bundle (``searchset``: a search's answer, ``collection``: an export) with each entry's full URL."""
    entries = []
    for r in resources:
        entry: dict[str, Any] = {"fullUrl": f"{base}/{r['resourceType']}/{r['id']}", "resource": r}
        if kind == "searchset":
            entry["search"] = {"mode": "match"}
        entries.append(entry)
    out: dict[str, Any] = {"resourceType": "Bundle", "type": kind}
    if kind == "searchset":
        out["total"] = len(entries)
    if link is not None:
        out["link"] = [{"relation": "self", "url": link}]
    out["entry"] = entries
    return out


def operation_outcome(code: str, text: str, severity: str = "error") -> dict[str, Any]:
    """A FHIR error answer (``code``: FHIR's issue type: not-found, invalid, security, login, …)."""
    return {"resourceType": "OperationOutcome", "issue": [{"severity": severity, "code": code, "diagnostics": text}]}


def capability_statement(base: str, now: datetime, software_version: str) -> dict[str, Any]:
    """What the server supports: JSON only, read and search by patient for every type, and
    ``Patient/{id}/$everything``; nothing is written through FHIR (the import is the CLI's)."""
    resources = []
    for kind in RESOURCE_TYPES:
        params = (
            [{"name": "_id", "type": "token"}, {"name": "identifier", "type": "token"}]
            if kind == "Patient"
            else [{"name": PATIENT_PARAM, "type": "reference"}]
        )
        entry: dict[str, Any] = {
            "type": kind,
            "interaction": [{"code": "read"}, {"code": "search-type"}],
            "searchParam": params,
        }
        if kind == "Patient":
            entry["operation"] = [
                {"name": "everything", "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything"}
            ]
        resources.append(entry)
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": now.date().isoformat(),
        "kind": "instance",
        "software": {"name": "ITB", "version": software_version},
        "implementation": {"description": "ITB clinic: read-only FHIR R4 API", "url": base},
        "fhirVersion": FHIR_VERSION,
        "format": ["json"],
        "rest": [
            {
                "mode": "server",
                "documentation": "Read-only. Sign in as for the clinic's REST API (a bearer token); a caregiver "
                "reads only their own child; AuditEvent is the admin's only.",
                "security": {"description": "OAuth2 password flow at /api/token; the same roles as the REST API."},
                "resource": resources,
            }
        ],
    }


__all__ = ["PATIENT_PARAM", "RESOURCE_TYPES", "bundle", "capability_statement", "operation_outcome", "validated"]
