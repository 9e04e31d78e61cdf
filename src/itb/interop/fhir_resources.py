"""One patient's records as FHIR R4 resources (JSON objects), made when they are read.

Each resource's id starts with its patient's id (``7-pump-3``: pump 3 of patient 7), so a read
by id finds the patient first and their roles apply. Times carry the clinic's time zone.
:func:`patient_resources` gives them all; every one validates with ``fhir.resources``
(:func:`itb.interop.fhir_bundle.validated`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from itb.adapters.db import models as m
from itb.clinic.calendar_file import VISIT_MINUTES
from itb.clinic.fhir_records import PatientRecords
from itb.contracts.forecast import parse_program
from itb.domain.program import DosingProgram
from itb.interop import fhir_codes as c
from itb.interop.fhir_made import Made
from itb.interop.fhir_observations import observations


def patient_resource(made: Made) -> dict[str, Any]:
    p = made.records.patient
    out: dict[str, Any] = {
        "resourceType": "Patient",
        "id": str(p.id),
        "active": p.phase != "ended",
        "name": [{"text": p.name}],
        "birthDate": p.birth_date.isoformat(),
        "extension": [{"url": c.ORIGIN_EXTENSION, "valueCode": p.origin}],
    }
    if p.patient_ref:
        record_number = c.concept((c.IDENTIFIER_TYPE, "MR", "Medical record number"))
        out["identifier"] = [{"use": "usual", "type": record_number, "system": c.PATIENT_REF, "value": p.patient_ref}]
    return out


def device_resource(made: Made, pump: m.Pump) -> dict[str, Any]:
    """The pump, with the US Core Implantable Device profile's elements the record has (type,
    patient, serial number; no UDI is recorded)."""
    return {
        "resourceType": "Device",
        "id": made.id("pump", pump.id),
        "meta": {"profile": [c.US_CORE_IMPLANTABLE_DEVICE]},
        "identifier": [{"system": c.PUMP_SERIAL, "value": pump.serial}],
        "status": "active" if pump.status == "implanted" else "inactive",
        "serialNumber": pump.serial,
        "deviceName": [{"name": pump.model, "type": "model-name"}],
        "modelNumber": pump.model,
        "type": c.itb_concept("itb-pump"),
        "patient": made.subject(),
        "property": [
            _property("reservoir capacity", pump.reservoir_capacity_ml, "mL"),
            _property("low-reservoir alarm volume", pump.low_reservoir_alarm_ml, "mL"),
            _property("catheter length", pump.catheter_length_cm, "cm"),
        ],
    }


def _property(name: str, value: float, unit: str) -> dict[str, Any]:
    return {"type": {"text": name}, "valueQuantity": [c.quantity(value, unit, unit)]}


def device_use(made: Made, pump: m.Pump) -> dict[str, Any]:
    """The pump–patient link: implanted from ``implanted_at`` to ``explanted_at``."""
    timing: dict[str, Any] = {"start": made.when(pump.implanted_at)}
    if pump.explanted_at is not None:
        timing["end"] = made.when(pump.explanted_at)
    return {
        "resourceType": "DeviceUseStatement",
        "id": made.id("use", pump.id),
        "status": "active" if pump.status == "implanted" else "completed",
        "subject": made.subject(),
        "device": made.device(pump.id),
        "timingPeriod": timing,
        "recordedOn": made.when(pump.implanted_at),
    }


def _hhmm(minute: int) -> str:
    return f"{minute // 60 % 24:02d}:{minute % 60:02d}:00"


def dosage(program: DosingProgram) -> list[dict[str, Any]]:
    """The program as dosage instructions: each step a rate from its start to the next step's (a
    flexible program's steps as times of day), each daily bolus a dose at its time over its minutes."""
    route = c.concept(c.INTRATHECAL)
    out: list[dict[str, Any]] = []
    steps = program.steps
    for i, step in enumerate(steps):
        end = steps[i + 1].start_minute if i + 1 < len(steps) else 1440 + steps[0].start_minute
        out.append(
            {
                "sequence": i + 1,
                "text": f"{step.rate_mcg_per_day:g} mcg/day from {_hhmm(step.start_minute)[:5]}",
                "timing": {
                    "repeat": {
                        "frequency": 1,
                        "period": 1,
                        "periodUnit": "d",
                        "timeOfDay": [_hhmm(step.start_minute)],
                        "duration": end - step.start_minute,
                        "durationUnit": "min",
                    }
                },
                "route": route,
                "doseAndRate": [{"rateQuantity": c.quantity(step.rate_mcg_per_day, "mcg/day", "ug/d")}],
            }
        )
    for j, bolus in enumerate(program.daily_boluses):
        out.append(
            {
                "sequence": len(steps) + j + 1,
                "text": f"bolus {bolus.dose_mcg:g} mcg over {bolus.duration_minutes:g} min"
                f" at {_hhmm(bolus.start_minute)[:5]}",
                "timing": {
                    "repeat": {
                        "frequency": 1,
                        "period": 1,
                        "periodUnit": "d",
                        "timeOfDay": [_hhmm(bolus.start_minute)],
                        "duration": bolus.duration_minutes,
                        "durationUnit": "min",
                    }
                },
                "route": route,
                "doseAndRate": [{"doseQuantity": c.quantity(bolus.dose_mcg, "mcg", "ug")}],
            }
        )
    return out


def _program(raw: dict[str, Any]) -> DosingProgram:
    errs: list = []
    program = parse_program(raw, "program", errs)
    if errs:  # a stored program was checked when it was stored
        raise ValueError(f"stored program does not parse: {errs}")
    return program


def medication_requests(made: Made) -> list[dict[str, Any]]:
    """Each program version of each pump; the newest of an implanted pump is active, each
    earlier one completed, and each names the one it replaced."""
    r = made.records
    pumps = {p.id: p for p in r.pumps}
    out = []
    latest = {v.pump_id: v.version for v in r.versions}
    previous: dict[int, str] = {}
    for v in r.versions:
        pump = pumps[v.pump_id]
        active = v.version == latest[v.pump_id] and pump.status == "implanted"
        request: dict[str, Any] = {
            "resourceType": "MedicationRequest",
            "id": made.id("program", v.id),
            "status": "active" if active else "completed",
            "intent": "order",
            "category": [c.itb_concept("program", f"pump program version {v.version}")],
            "medicationCodeableConcept": c.concept(c.BACLOFEN, "Baclofen, intrathecal"),
            "subject": made.subject(),
            "authoredOn": made.when(v.at),
            "requester": {"display": v.by},
            "note": [{"text": f"Pump {pump.serial}, version {v.version}: {v.daily_dose_mcg:g} mcg/day in all."}],
            "dosageInstruction": dosage(_program(v.program)),
        }
        if v.pump_id in previous:
            request["priorPrescription"] = {"reference": f"MedicationRequest/{previous[v.pump_id]}"}
        previous[v.pump_id] = request["id"]
        out.append(made.author(f"program-{v.id}", request, v.by, v.at))
    return out


def _administration(made: Made, rid: str, at: datetime, pump_id: int, kind: str, text: str, dose: dict) -> dict:
    return {
        "resourceType": "MedicationAdministration",
        "id": rid,
        "status": "completed",
        "category": c.itb_concept(kind, text),
        "medicationCodeableConcept": c.concept(c.BACLOFEN, "Baclofen, intrathecal"),
        "subject": made.subject(),
        "effectiveDateTime": made.when(at),
        "device": [made.device(pump_id)],
        "dosage": {"text": text, "route": c.concept(c.INTRATHECAL), "dose": dose},
    }


def medication_administrations(made: Made) -> list[dict[str, Any]]:
    """Refills (the drug placed into the reservoir) and boluses: from the pump's log (single,
    priming and bridge boluses) and from the vendor programmer's recorded bolus sessions."""
    out = []
    for f in made.records.refills:
        dose = c.quantity(f.added_ml * f.concentration_mcg_per_ml, "mcg", "ug")
        text = f"{f.added_ml:g} mL of {f.concentration_mcg_per_ml:g} mcg/mL into the reservoir"
        given = _administration(made, made.id("refill", f.id), f.at, f.pump_id, "refill-administration", text, dose)
        out.append(made.author(f"refill-{f.id}", given, f.by, f.at))
    for e in made.records.boluses:
        assert e.at is not None  # the read keeps only boluses with a time
        kind = str(e.fields.get("kind", "single"))
        dose_mcg = float(e.fields.get("dose_mcg", 0.0))
        text = f"{kind} bolus {dose_mcg:g} mcg over {e.fields.get('duration_minutes', 0):g} min"
        dose = c.quantity(dose_mcg, "mcg", "ug")
        out.append(_administration(made, made.id("bolus", e.id), e.at, e.pump_id, "bolus", text, dose))
    for sess in made.records.sessions:
        if sess.kind == "bolus" and "dose_mcg" in sess.data:
            dose_mcg = float(sess.data["dose_mcg"])
            text = f"bolus {dose_mcg:g} mcg (vendor programmer session)"
            rid = made.id("session-bolus", sess.id)
            given = _administration(made, rid, sess.at, sess.pump_id, "bolus", text, c.quantity(dose_mcg, "mcg", "ug"))
            out.append(made.author(f"session-{sess.id}", given, sess.by, sess.at))
    return out


def _procedure(made: Made, rid: str, code: str, at: datetime, pump_id: int | None, by: str | None = None) -> dict:
    out: dict[str, Any] = {
        "resourceType": "Procedure",
        "id": rid,
        "status": "completed",
        "code": c.itb_concept(code),
        "subject": made.subject(),
        "performedDateTime": made.when(at),
    }
    if pump_id is not None:
        out["focalDevice"] = [{"action": {"text": code}, "manipulated": made.device(pump_id)}]
    if by:
        out["performer"] = [{"actor": {"display": by}}]
    return out


def procedures(made: Made) -> list[dict[str, Any]]:
    """Implants, explants (a replacement is an explant and the next implant), refills and the
    checks after an MRI (a done ``mri_check`` visit or a recorded vendor session)."""
    r = made.records
    out = []
    for p in r.pumps:
        out.append(_procedure(made, made.id("implant", p.id), "implant", p.implanted_at, p.id))
        if p.explanted_at is not None:
            out.append(_procedure(made, made.id("explant", p.id), "explant", p.explanted_at, p.id))
            out += _replacement(made, p)
    for f in r.refills:
        out.append(
            made.author(
                f"refill-{f.id}", _procedure(made, made.id("refill", f.id), "refill", f.at, f.pump_id, f.by), f.by, f.at
            )
        )
    for a in r.appointments:
        if a.kind == "mri_check" and a.status == "done":
            out.append(_procedure(made, made.id("mri-check", a.id), "mri-check", a.at, a.pump_id, a.by))
    for sess in r.sessions:
        if sess.kind == "mri_check":
            out.append(
                _procedure(made, made.id("session-mri-check", sess.id), "mri-check", sess.at, sess.pump_id, sess.by)
            )
    return out


#: a pump implanted this soon after another was removed replaced it (one operation, recorded as two)
REPLACEMENT_WINDOW = timedelta(days=1)


def _replacement(made: Made, old: m.Pump) -> list[dict[str, Any]]:
    """The replacement of ``old``: the removal and the next pump's implant within the window."""
    assert old.explanted_at is not None
    new = [
        p for p in made.records.pumps
        if p.id != old.id and abs(p.implanted_at - old.explanted_at) <= REPLACEMENT_WINDOW
    ]  # fmt: skip
    if not new:
        return []
    done = _procedure(made, made.id("replacement", old.id), "replacement", old.explanted_at, None)
    done["focalDevice"] = [
        {"action": {"text": "removed"}, "manipulated": made.device(old.id)},
        {"action": {"text": "implanted"}, "manipulated": made.device(new[0].id)},
    ]
    return [done]


_APPOINTMENT_STATUS = {"booked": "booked", "done": "fulfilled", "missed": "noshow", "cancelled": "cancelled"}


def appointments(made: Made) -> list[dict[str, Any]]:
    """Every visit; the booking has no end, so each lasts the calendar's visit length."""
    out = []
    for a in made.records.appointments:
        end = a.at + timedelta(minutes=VISIT_MINUTES)
        out.append(
            {
                "resourceType": "Appointment",
                "id": made.id("appointment", a.id),
                "status": _APPOINTMENT_STATUS.get(a.status, "booked"),
                "serviceType": [{"text": a.kind.replace("_", " ")}],
                "description": f"ITB clinic: {a.kind.replace('_', ' ')} visit" + (f" ({a.notes})" if a.notes else ""),
                "start": made.when(a.at),
                "end": made.when(end),
                "minutesDuration": VISIT_MINUTES,
                "participant": [{"actor": made.subject(), "status": "accepted"}],
            }
        )
    return out


def flags(made: Made) -> list[dict[str, Any]]:
    """While a pump is implanted: never stop the drug abruptly, with the patient's own risks."""
    r = made.records
    implanted = [p for p in r.pumps if p.status == "implanted"]
    if not implanted:
        return []
    p = r.patient
    risks = [
        words
        for flag, words in (
            (p.injury_t6_or_above, "spinal cord injury at T6 or above (autonomic dysreflexia)"),
            (p.cannot_communicate, "cannot tell of early withdrawal signs"),
            (p.earlier_withdrawal, "has had withdrawal before"),
        )
        if flag
    ]
    text = c.ITB_CODES["high-risk"] + (f"; high risk: {', '.join(risks)}" if risks else "")
    return [
        {
            "resourceType": "Flag",
            "id": made.id("flag", "never-stop"),
            "status": "active",
            "category": [c.concept((c.FLAG_CATEGORY, "clinical", "Clinical"))],
            "code": c.itb_concept("high-risk", text),
            "subject": made.subject(),
            "period": {"start": made.when(min(q.implanted_at for q in implanted))},
        }
    ]


def audit_events(made: Made) -> list[dict[str, Any]]:
    """The audit log's entries about this patient, their pumps and visits (the admin's only)."""
    out = []
    for e in made.records.audit:
        out.append(
            {
                "resourceType": "AuditEvent",
                "id": made.id("audit", e.id),
                "type": c.coding(c.AUDIT_EVENT_TYPE, "rest", "RESTful Operation"),
                "subtype": [c.coding(c.ITB, "record-change", e.action)],
                "action": "U" if e.before else "C",
                "recorded": made.when(e.at),
                "outcome": "0",
                "agent": [{"who": {"display": e.actor}, "requestor": True}],
                "source": {"observer": {"display": "ITB clinic"}},
                "entity": [{"what": {"display": f"{e.entity} {e.entity_id}"}, "name": e.hash}],
            }
        )
    return out


def provenances(made: Made) -> list[dict[str, Any]]:
    """Who recorded each program, refill, bolus session and assessment, and when (one Provenance
    per recorded act, naming the resources made from it)."""
    out = []
    for key, (targets, by, at) in made.authored.items():
        out.append(
            {
                "resourceType": "Provenance",
                "id": made.id("provenance", key),
                "target": [{"reference": ref} for ref in targets],
                "recorded": made.when(at),
                "agent": [
                    {
                        "type": c.concept((c.PROVENANCE_PARTICIPANT, "author", "Author")),
                        "who": {"display": by},
                    }
                ],
            }
        )
    return out


def patient_resources(records: PatientRecords) -> list[dict[str, Any]]:
    """Every resource of one patient, the Patient first."""
    made = Made(records)
    out = [patient_resource(made)]
    for pump in records.pumps:
        out += [device_resource(made, pump), device_use(made, pump)]
    out += medication_requests(made) + medication_administrations(made) + procedures(made)
    out += observations(made) + appointments(made) + flags(made) + audit_events(made)
    out += provenances(made)
    return out


__all__ = ["dosage", "patient_resources"]
