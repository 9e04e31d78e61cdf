"""One patient's observations: the pump's reservoir and forecast, each refill's discrepancy, the
assessments (Modified Ashworth and Tardieu per muscle group, GMFCS, pain, GAS) and screening trials.

The reservoir now is estimated when read, from the last reading and the program
(:func:`itb.clinic.derived.estimated_reservoir_ml`); the forecast is the one made from that
reading, with its band: the pump's own count and the earliest plausible instant its learned flow
gives (the clinic plans from the earlier).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from itb.adapters.db import models as m
from itb.clinic.derived import estimated_reservoir_ml
from itb.interop import fhir_codes as c
from itb.interop.fhir_made import Made

_EXAM = c.concept((c.OBSERVATION_CATEGORY, "exam", "Exam"))
_SURVEY = c.concept((c.OBSERVATION_CATEGORY, "survey", "Survey"))
_NOT_REACHED = {
    "coding": [
        c.coding("http://terminology.hl7.org/CodeSystem/data-absent-reason", "not-applicable", "Not Applicable")
    ],
    "text": "not reached: the program does not empty the reservoir",
}


def _observation(made: Made, rid: str, code: dict, at: datetime, **elements: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": rid,
        "status": "final",
        "code": code,
        "subject": made.subject(),
        "effectiveDateTime": made.when(at),
        **elements,
    }


def _ml(value: float) -> dict[str, Any]:
    return c.quantity(value, "mL", "mL")


def pump_observations(made: Made, pump: m.Pump) -> list[dict[str, Any]]:
    """The last reading's volume; for an implanted pump the volume now and the forecast's two instants."""
    device = made.device(pump.id)
    out = [
        _observation(made, made.id("reservoir-read", pump.id), c.itb_concept("reservoir-volume-read"),
                     pump.reading_at, valueQuantity=_ml(pump.reading_reservoir_ml), device=device)
    ]  # fmt: skip
    if pump.status != "implanted":
        return out
    now = made.records.now
    out.append(
        _observation(made, made.id("reservoir-now", pump.id), c.itb_concept("reservoir-volume-estimated"), now,
                     valueQuantity=_ml(estimated_reservoir_ml(pump, now)), device=device,
                     method={"text": "estimated from the last reading and the program run forward"})
    )  # fmt: skip
    for kind, own, plausible in (
        ("low-reservoir-alarm-forecast", pump.low_reservoir_alarm_at, pump.plausible_alarm_at),
        ("reservoir-empty-forecast", pump.empty_at, pump.plausible_empty_at),
    ):
        out.append(_forecast(made, pump, kind, own, plausible))
    return out


def _forecast(made: Made, pump: m.Pump, kind: str, own: datetime | None, plausible: datetime | None) -> dict:
    value: dict[str, Any] = {"valueDateTime": made.when(own)} if own else {"dataAbsentReason": _NOT_REACHED}
    components = [
        {"code": {"text": "the pump's own count"}, **value},
    ]
    if plausible is not None:
        components.append({"code": {"text": "earliest plausible (the pump's learned flow)"},
                           "valueDateTime": made.when(plausible)})  # fmt: skip
    return _observation(made, made.id(kind, pump.id), c.itb_concept(kind), pump.reading_at,
                        device=made.device(pump.id), component=components, **value,
                        note=[{"text": "forecast from the reading of " + made.when(pump.reading_at)}])  # fmt: skip


def refill_observations(made: Made) -> list[dict[str, Any]]:
    """Each refill's discrepancy (withdrawn minus expected), abnormal when the refill was flagged."""
    out = []
    for f in made.records.refills:
        extra: dict[str, Any] = {}
        if f.flagged:
            extra["interpretation"] = [c.concept((c.INTERPRETATION, "A", "Abnormal"), "flagged for review")]
            reviewed = f"reviewed by {f.reviewed_by}" if f.reviewed_by else "not yet reviewed"
            extra["note"] = [{"text": f"Flagged: {reviewed}."}]
        obs = _observation(made, made.id("discrepancy", f.id), c.itb_concept("refill-discrepancy"), f.at,
                           valueQuantity=_ml(f.discrepancy_ml), device=made.device(f.pump_id), **extra)  # fmt: skip
        out.append(made.author(f"refill-{f.id}", obs, f.by, f.at))
    return out


def _muscle(name: str) -> dict[str, Any]:
    return {"text": name.replace("_", " ")}


def assessment_observations(made: Made, a: m.Assessment) -> list[dict[str, Any]]:
    """One observation per muscle group (MAS, Tardieu), or one for the scale (GMFCS, pain, GAS)."""
    d, out = a.data, []
    if a.kind == "mas":
        for i, (muscle, grade) in enumerate(d.items()):
            out.append(_observation(made, made.id(f"mas-{a.id}", i), c.concept(c.MODIFIED_ASHWORTH), a.at,
                                    category=[_EXAM], bodySite=_muscle(muscle), valueString=str(grade)))  # fmt: skip
    elif a.kind == "tardieu":
        for i, (muscle, t) in enumerate(d.items()):
            parts = [{"code": {"text": "quality of muscle reaction (0-5)"}, "valueInteger": int(t["quality"])}]
            for key, words in (("r1_deg", "R1 angle"), ("r2_deg", "R2 angle"),
                               ("dynamic_component_deg", "dynamic component (R2 - R1)")):  # fmt: skip
                if t.get(key) is not None:
                    parts.append({"code": {"text": words}, "valueQuantity": c.quantity(t[key], "deg", "deg")})
            out.append(_observation(made, made.id(f"tardieu-{a.id}", i), c.itb_concept("tardieu"), a.at,
                                    category=[_EXAM], bodySite=_muscle(muscle), component=parts))  # fmt: skip
    elif a.kind == "gmfcs":
        out.append(_observation(made, made.id("gmfcs", a.id), c.itb_concept("gmfcs"), a.at,
                                category=[_SURVEY], valueInteger=int(d["level"])))  # fmt: skip
    elif a.kind == "pain":
        note = {"note": [{"text": f"during: {d['during']}"}]} if d.get("during") else {}
        out.append(_observation(made, made.id("pain", a.id), c.concept(c.PAIN_SEVERITY), a.at,
                                category=[_SURVEY], valueInteger=int(d["score"]), **note))  # fmt: skip
    elif a.kind == "gas":
        goals = [{"code": {"text": str(g.get("description", ""))[:200] or f"goal {i + 1}"},
                  "valueInteger": int(g.get("score", 0))} for i, g in enumerate(d.get("goals", []))]  # fmt: skip
        out.append(_observation(made, made.id("gas", a.id), c.itb_concept("gas-t-score"), a.at, category=[_SURVEY],
                                valueQuantity={"value": round(float(d["t_score"]), 3), "unit": "T-score"},
                                component=goals))  # fmt: skip
    return [made.author(f"assessment-{a.id}", o, a.by, a.at) for o in out]


def screening_observations(made: Made, t: m.ScreeningTrial) -> dict[str, Any]:
    """A screening trial: responded or not, with its test dose and how long the effect lasted."""
    parts: list[dict[str, Any]] = [
        {"code": {"text": "test dose"}, "valueQuantity": c.quantity(t.dose_mcg, "mcg", "ug")}
    ]
    if t.effect_hours is not None:
        parts.append({"code": {"text": "effect lasted"}, "valueQuantity": c.quantity(t.effect_hours, "h", "h")})
    obs = _observation(made, made.id("screening", t.id), c.itb_concept("screening-trial"), t.at,
                       category=[_EXAM], valueBoolean=bool(t.responded), component=parts)  # fmt: skip
    return made.author(f"screening-{t.id}", obs, t.by, t.at)


def observations(made: Made) -> list[dict[str, Any]]:
    r = made.records
    out = [o for p in r.pumps for o in pump_observations(made, p)] + refill_observations(made)
    out += [o for a in r.assessments for o in assessment_observations(made, a)]
    out += [screening_observations(made, t) for t in r.screenings]
    return out


__all__ = ["observations"]
