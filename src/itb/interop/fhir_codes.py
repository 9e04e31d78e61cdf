"""Code systems and codes of the FHIR resources, each standard code with where it was checked.

A standard code is used only where one exists for what the record holds; the rest is coded in
ITB's own code system (:data:`ITB`), with its display, so a receiving system can map it.
"""

from __future__ import annotations

from typing import Any

#: the FHIR version the resources follow: R4 (4.0.1); they are validated with the R4B models of
#: ``fhir.resources`` (R4B changed none of the elements used here)
FHIR_VERSION = "4.0.1"
#: the media type of every answer under /fhir
FHIR_JSON = "application/fhir+json"

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
FLAG_CATEGORY = "http://terminology.hl7.org/CodeSystem/flag-category"
AUDIT_EVENT_TYPE = "http://terminology.hl7.org/CodeSystem/audit-event-type"
IDENTIFIER_TYPE = "http://terminology.hl7.org/CodeSystem/v2-0203"
PROVENANCE_PARTICIPANT = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
#: ITB's own code system (what no standard code names: the pump's forecast, the refill's discrepancy, …)
ITB = "urn:itb:fhir:CodeSystem:itb"
#: the system of the clinic's own patient identifier (``patient_ref``) and of a pump's serial number
PATIENT_REF = "urn:itb:fhir:NamingSystem:patient-ref"
PUMP_SERIAL = "urn:itb:fhir:NamingSystem:pump-serial"
#: the extension that carries what ITB needs of a patient and FHIR's Patient has no element for
ORIGIN_EXTENSION = "urn:itb:fhir:StructureDefinition:spasticity-origin"
US_CORE_IMPLANTABLE_DEVICE = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-implantable-device"

# Standard codes (checked against published value sets and terminology tables):
#: SNOMED CT 387342009 "Baclofen (substance)"
BACLOFEN = (SNOMED, "387342009", "Baclofen (substance)")
#: SNOMED CT 72607000 "Intrathecal route (qualifier value)"
INTRATHECAL = (SNOMED, "72607000", "Intrathecal route")
#: SNOMED CT 765771006 "Modified Ashworth Scale (assessment scale)"
MODIFIED_ASHWORTH = (SNOMED, "765771006", "Modified Ashworth Scale")
#: LOINC 72514-3 "Pain severity - 0-10 verbal numeric rating [Score] - Reported"
PAIN_SEVERITY = (LOINC, "72514-3", "Pain severity - 0-10 verbal numeric rating [Score] - Reported")

#: ITB's own codes: code -> display
ITB_CODES: dict[str, str] = {
    "itb-pump": "Implanted intrathecal drug pump",
    "reservoir-volume-read": "Pump reservoir volume at the last reading",
    "reservoir-volume-estimated": "Pump reservoir volume now, estimated from the last reading",
    "low-reservoir-alarm-forecast": "Forecast instant of the pump's low-reservoir alarm",
    "reservoir-empty-forecast": "Forecast instant the pump's reservoir is empty",
    "refill-discrepancy": "Refill discrepancy: withdrawn minus expected reservoir volume",
    "tardieu": "Modified Tardieu Scale",
    "gmfcs": "Gross Motor Function Classification System level",
    "gas-t-score": "Goal Attainment Scaling T-score",
    "screening-trial": "Intrathecal baclofen screening trial",
    "symptom-report": "Family's symptom report",
    "implant": "Implantation of intrathecal drug pump",
    "explant": "Removal of intrathecal drug pump",
    "replacement": "Replacement of intrathecal drug pump",
    "refill": "Refill of intrathecal drug pump reservoir",
    "mri-check": "Pump check after MRI",
    "refill-administration": "Baclofen placed into the pump's reservoir",
    "bolus": "Intrathecal baclofen bolus",
    "program": "Intrathecal baclofen dosing program",
    "high-risk": "Intrathecal baclofen: never stop abruptly (withdrawal can be life-threatening)",
    "record-change": "Change to the ITB record",
}


def coding(system: str, code: str, display: str) -> dict[str, Any]:
    return {"system": system, "code": code, "display": display}


def concept(code: tuple[str, str, str], text: str | None = None) -> dict[str, Any]:
    """A CodeableConcept of one standard code (``text``: the record's own words, default the display)."""
    return {"coding": [coding(*code)], "text": text or code[2]}


def itb_concept(code: str, text: str | None = None) -> dict[str, Any]:
    """A CodeableConcept in ITB's own code system."""
    return {"coding": [coding(ITB, code, ITB_CODES[code])], "text": text or ITB_CODES[code]}


def quantity(value: float, unit: str, ucum: str) -> dict[str, Any]:
    """A Quantity with its UCUM code (``mL``, ``ug``, ``ug/d``, ``ug/mL``, ``d``, …)."""
    return {"value": round(float(value), 6), "unit": unit, "system": UCUM, "code": ucum}


__all__ = [
    "BACLOFEN",
    "FHIR_JSON",
    "FHIR_VERSION",
    "INTRATHECAL",
    "ITB",
    "ITB_CODES",
    "MODIFIED_ASHWORTH",
    "PAIN_SEVERITY",
    "PATIENT_REF",
    "PUMP_SERIAL",
    "coding",
    "concept",
    "itb_concept",
    "quantity",
]
