"""What a patient's chart shows: the records, the plots, and the therapy plans made from them."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import date, timedelta
from itertools import pairwise
from typing import Any
from urllib.parse import urlencode

from itb.clinic import views
from itb.clinic.derived import LearnedFlow, earliest_alarm_at, is_constant_flow, learned_flow, program_of
from itb.clinic.services import Actor, Clinic
from itb.domain import constant_flow as cf
from itb.domain import formatting as fmt
from itb.domain.alarms import ALARMS, Priority
from itb.domain.calibration import FlowSettings, drift
from itb.domain.catalogue import product
from itb.domain.errors import InvalidInput, Violation
from itb.domain.limits import DRUG_PRODUCTS
from itb.domain.management import management_for
from itb.domain.reading import age_years_on
from itb.domain.units import Dimension, parse_quantity
from itb.web import family
from itb.web.plot_cache import DERIVED, PLOTS

log = logging.getLogger(__name__)

#: The dilution planner's entries (query parameters of the chart): name -> (label, dimension, example).
PLANNER_FIELDS: dict[str, tuple[str, Dimension, str]] = {
    "target_dose": ("Target daily dose", Dimension.RATE, "e.g. 450 mcg/day or 0.45 mg/day"),
    "stock": ("Stock concentration", Dimension.CONCENTRATION, "e.g. 2000 mcg/mL or 2 mg/mL"),
    "total_ml": ("Total volume to fill", Dimension.VOLUME, "e.g. 35 mL"),
}
#: The planner's entry each rule of ``itb.domain.constant_flow`` is about, and what the rule
#: speaks of (the target concentration comes from the target dose, so its rules are the dose's).
PLANNER_FIELD_OF: dict[str, tuple[str, str]] = {
    "target_daily_dose_mcg": ("target_dose", ""),
    "target_concentration": ("target_dose", "the concentration it needs "),
    "stock_concentration": ("stock", ""),
    "total_volume_ml": ("total_ml", ""),
    "flow": ("flow", ""),
}
PLANNER_LABELS = {**{name: label for name, (label, _, _) in PLANNER_FIELDS.items()}, "flow": "The pump's flow"}
#: The longest entry the planner reads (a quantity with its unit is far shorter).
PLANNER_MAX_CHARS = 40


def chart_context(clinic: Clinic, actor: Actor, patient_id: int) -> dict:
    """Everything the patient chart (and the family page) shows, read from the records."""
    from itb.web import plots

    records = views.chart(clinic, actor, patient_id)
    patient, pump, appointments = records.patient, records.pump, records.appointments
    assessments, screenings, versions = records.assessments, records.screenings, records.versions
    reports, last = records.reports, records.last_status
    now = clinic.clock()
    next_refill = next(
        (a.at for a in appointments if a.kind == "refill" and a.status == "booked" and a.at >= now), None
    )
    svgs: dict[str, str] = {}
    program = learned = None
    if pump is not None:
        program = program_of(pump)
        history = sorted((r.at, r.expected_ml, r.withdrawn_ml, r.added_ml) for r in records.refills)
        learned = flow_of(pump, history, clinic.config.flow)
        svgs["reservoir"] = drawn(
            "Reservoir forecast",
            plots.reservoir_forecast_svg,
            at=pump.reading_at,
            reservoir_ml=pump.reading_reservoir_ml,
            concentration_mcg_per_ml=pump.concentration_mcg_per_ml,
            program=program,
            low_reservoir_alarm_ml=pump.low_reservoir_alarm_ml,
            empty_ml=pump.empty_ml,
            alarm_at=pump.low_reservoir_alarm_at,
            empty_at=pump.empty_at,
            next_refill_at=next_refill,
            fast_ratio=learned.upper,
            fill_ml=learned.fill_ml,
        )
    # the dose line runs to "now", given to the minute: the plot's content key changes once a minute
    # (under a pixel of its ~610 px axis once the dose history is over ~10 h long)
    to_minute = now.replace(second=0, microsecond=0)
    doses = [(v.at, v.daily_dose_mcg) for v in versions]
    svgs["dose"] = drawn("Daily dose", plots.dose_history_svg, doses, until=to_minute)
    svgs["tone"] = drawn(
        "Tone and goals",
        plots.tone_trend_svg,
        [(a.at, a.data) for a in assessments if a.kind == "mas"] + [(t.at, t.mas_before) for t in screenings],
        [(a.at, a.data["t_score"]) for a in assessments if a.kind == "gas"] or None,
    )
    therapy = therapy_plans(clinic, patient, pump, versions, assessments, screenings, reports, now)
    fixed_flow = pump is not None and is_constant_flow(pump)
    return {
        **therapy,
        "patient": patient,
        "pump": pump,
        "fixed_flow": fixed_flow,
        # the constant-flow card and its dilution planner: for the clinic's staff only
        "constant_flow": constant_flow_card(pump) if fixed_flow and actor.role != "caregiver" else None,
        "program": program,
        "appointments": appointments,
        "assessments": assessments,
        "screenings": screenings,
        "refills": records.refills,
        "events": records.events,
        "versions": versions,
        "svgs": svgs,
        "learned": learned,
        "flow_drift": learned and learned.estimate.observations and drift(learned.estimate, clinic.config.flow),
        "now": now,
        "next_refill": next_refill,
        "reports": reports,
        # the labels' overdose / withdrawal management, per report: for the clinic's staff only, never a family
        "management": {}
        if actor.role == "caregiver"
        else {r.id: management_for(r.triage.get("concerns", ())) for r in reports if r.triage},
        "record_changes": records.record_changes,
        "status_title": "In plain words" if actor.role == "caregiver" else "Status summary",
        "status_words": (family.plain_pump_status if actor.role == "caregiver" else staff_pump_status)(
            (last or {}).get("state", "running") if pump else "none",
            (last or {}).get("active_alarms", []),
            None
            if pump is None or earliest_alarm_at(pump) is None
            else (earliest_alarm_at(pump) - now) / timedelta(days=1),  # type: ignore[operator]
            next_refill.date() if next_refill else None,
            today=now.date(),
        ),
    }


#: The pump's columns :func:`itb.clinic.derived.learned_flow` reads: with the refills and the
#: settings, the content key of its result (a change of any of them computes it again at once).
FLOW_COLUMNS = (
    "model",
    "implant_fill_ml",
    "reading_at",
    "reservoir_capacity_ml",
    "reading_reservoir_ml",
    "concentration_mcg_per_ml",
    "low_reservoir_alarm_ml",
    "empty_ml",
    "program",
    "low_reservoir_alarm_at",
)


def flow_of(pump: views.Pump, history: list[tuple], settings: FlowSettings) -> LearnedFlow:
    """``learned_flow(pump, history, settings)``, computed once per content (:data:`DERIVED`)."""
    return DERIVED.get(learned_flow_from, {name: getattr(pump, name) for name in FLOW_COLUMNS}, history, settings)


def learned_flow_from(columns: dict[str, Any], history: list[tuple], settings: FlowSettings) -> LearnedFlow:
    """:func:`itb.clinic.derived.learned_flow` of a pump with these columns (:data:`FLOW_COLUMNS`)."""
    return learned_flow(views.Pump(**columns), history, settings)


def drawn(title: str, draw: Callable[..., str], *args: Any, **kwargs: Any) -> str:
    """``draw(*args, **kwargs)``, rendered once per change of its content (:data:`PLOTS`), or,
    when the stored records cannot be drawn, a small SVG that says so: one plot that fails never
    takes the chart (or the family page) down."""
    try:
        return PLOTS.svg(draw, *args, **kwargs)
    except Exception as exc:  # any failure of one plot: the rest of the page is still shown
        from itb.web import plots

        log.exception("the %s plot could not be drawn", title)
        why = f"This plot could not be drawn from the stored records ({type(exc).__name__})."
        return plots.no_data_svg(title, why, shown="could not be drawn from the stored records")


#: What a stopped pump's state means, for the clinic's staff (the family reads ``family._STOPPED_WHY``).
_NOT_INFUSING = {
    "end_of_service": "end of service (battery exhausted)",
    "motor_stall": "motor stall",
    "safety_valve_closed": "safety valve closed",
    "stopped_empty": "reservoir empty",
    "empty_reservoir": "reservoir empty",
    "critical_memory_error": "critical memory error",
    "low_battery_reset": "low-battery reset (minimal flow only)",
}


def staff_pump_status(
    state: str,
    active_alarms: list[str],
    days_until_alarm: float | None,
    next_refill: date | None,
    *,
    today: date,
) -> str:
    """The pump's status for the clinic's staff, in clinical words with ISO dates (the same
    arguments as :func:`itb.web.family.plain_pump_status`, which speaks to the family).
    ``days_until_alarm`` counts to the earliest plausible low-reservoir alarm (refills are booked from it)."""
    stopped = [_NOT_INFUSING[x] for x in (state, *active_alarms) if x in _NOT_INFUSING]
    critical = [a for a in active_alarms if a in ALARMS and ALARMS[a].priority is Priority.CRITICAL]
    if stopped or critical:
        why = ", ".join(dict.fromkeys(stopped or [ALARMS[a].meaning for a in critical]))
        return f"Not infusing: {why}. Withdrawal risk: contact the family now and assess the pump urgently."
    if state == "none":
        return "No pump recorded."
    if state != "running":
        return f"Pump state not known ({state}): interrogate the pump."
    refill = f"next refill booked {fmt.day(next_refill)}" if next_refill else "no refill booked"
    alarm_day = None if days_until_alarm is None else today + timedelta(days=days_until_alarm)
    parts = ["Running"]
    if "low_reservoir" in active_alarms:
        parts.append("the low-reservoir alarm is sounding: refill now")
    elif alarm_day is not None and days_until_alarm <= 0:  # type: ignore[operator]
        parts.append(f"the earliest plausible low-reservoir alarm passed on {fmt.day(alarm_day)}: refill now")
    elif alarm_day is not None:
        in_days = fmt.quantity(days_until_alarm, "days")  # type: ignore[arg-type]
        parts.append(f"earliest plausible low-reservoir alarm {fmt.day(alarm_day)} (in {in_days})")
    if "elective_replacement_indicator" in active_alarms:
        parts.append("elective replacement indicator: plan the replacement")
    parts.append(refill)
    words = "; ".join(parts) + "."
    if alarm_day is not None and next_refill is not None and next_refill > alarm_day > today:
        words += " The booked refill is after the expected alarm: book an earlier one."
    return words


def constant_flow_card(pump: Any) -> dict[str, Any]:
    """What the chart says about a constant-flow pump: its fixed flow, the dose it gives at the
    current concentration, the conditions that change its flow, and the dilution planner."""
    conc = pump.concentration_mcg_per_ml
    flow = program_of(pump).daily_volume_ml(conc) if conc > 0 else None
    found = product(pump.model)
    return {
        "product": found.name if found else pump.model,
        "flow_ml_per_day": flow,
        "daily_dose_mcg": cf.daily_dose_mcg(conc, flow) if flow is not None else pump.daily_dose_mcg,
        "concentration_mcg_per_ml": conc,
        "conditions": cf.flow_conditions(),
        "fields": PLANNER_FIELDS,
        "resolution_ml": cf.SYRINGE_RESOLUTION_ML,
        "stocks": sorted({s for p in DRUG_PRODUCTS for s in p.concentrations_mcg_per_ml}),
        "plan": lambda params: plan_dilution(pump, flow, params),
    }


def plan_dilution(pump: Any, flow_ml_per_day: float | None, params: Mapping[str, str]) -> dict[str, Any]:
    """The dilution planner from the chart's query parameters: the entries as typed (the total
    defaults to the reservoir's capacity), and either the plan or every error by its entry.

    Nothing is recorded: the plan only prefills a refill session, whose review is the dose change.
    """
    form = {name: str(params.get(name, "")).strip() for name in PLANNER_FIELDS}
    out: dict[str, Any] = {"form": form, "result": None, "errors": [], "invalid": {}}
    if not any(form.values()):  # the chart as first opened: an empty planner
        out["form"]["total_ml"] = f"{pump.reservoir_capacity_ml:g} mL"
        return out
    try:
        out["result"] = _plan(pump, flow_ml_per_day, form)
    except InvalidInput as exc:
        invalid: dict[str, list[str]] = {}
        for v in exc.violations:
            name, subject = PLANNER_FIELD_OF.get(v.field, (v.field, ""))
            label = PLANNER_LABELS.get(name, v.field.replace("_", " "))
            rule = subject + v.rule
            invalid.setdefault(name, []).append(rule)
            out["errors"].append({"code": name, "severity": "refuse", "message": f"{label}: {rule}"})
        out["invalid"] = {k: "; ".join(rules) for k, rules in invalid.items()}
    return out


def _plan(pump: Any, flow: float | None, form: dict[str, str]) -> dict[str, Any]:
    if flow is None:
        raise InvalidInput(
            [Violation("flow", "is unknown: the pump holds no drug (0 mcg/mL), so its flow is not on record")]
        )
    values: dict[str, float] = {}
    found: list[Violation] = []
    for name, (_label, dimension, _example) in PLANNER_FIELDS.items():
        text = form[name] or (f"{pump.reservoir_capacity_ml:g}" if name == "total_ml" else "")
        if not text:
            found.append(Violation(name, "is required"))
            continue
        if len(text) > PLANNER_MAX_CHARS:
            found.append(Violation(name, f"must be at most {PLANNER_MAX_CHARS} characters"))
            continue
        try:
            values[name] = parse_quantity(text, dimension, name).value
        except InvalidInput as exc:
            found += exc.violations
    if found:
        if "stock" in values and "total_ml" in values:  # their own rules too, all at once
            try:
                cf.dilution(
                    values["stock"], values["stock"], values["total_ml"], capacity_ml=pump.reservoir_capacity_ml
                )
            except InvalidInput as exc:
                found += [v for v in exc.violations if v.field in ("stock_concentration", "total_volume_ml")]
        raise InvalidInput(found)
    target = cf.concentration_for_dose(values["target_dose"], flow)
    mix = cf.dilution(
        target, values["stock"], values["total_ml"], flow_ml_per_day=flow, capacity_ml=pump.reservoir_capacity_ml
    )
    actual = mix.actual_concentration_mcg_per_ml
    query = {"kind": "refill", "concentration_mcg_per_ml": f"{actual:.6g} mcg/mL", "added_ml": f"{mix.total_ml:g} mL"}
    return {
        "flow_ml_per_day": flow,
        "target_dose_mcg": values["target_dose"],
        "target_concentration": target,
        "stock_concentration": values["stock"],
        "stock_ml": mix.stock_ml,
        "diluent_ml": mix.diluent_ml,
        "total_ml": mix.total_ml,
        "actual_concentration": actual,
        "actual_dose_mcg": mix.actual_daily_dose_mcg,
        "deviation_fraction": mix.deviation_fraction,
        "change_fraction": (mix.actual_daily_dose_mcg or 0.0) / pump.daily_dose_mcg - 1
        if pump.daily_dose_mcg
        else None,
        "session_url": f"/pumps/{pump.id}/session?{urlencode({**query, 'planned': '1'})}",
    }


def therapy_plans(clinic, patient, pump, versions, assessments, screenings, reports, now) -> dict:  # type: ignore[no-untyped-def]
    """The titration proposal (while titrating) and the replacement plan, from the records."""
    from itb.domain.devices import MODELS
    from itb.domain.limits import DoseHistory, Origin, PatientContext
    from itb.domain.replacement import replacement_plan
    from itb.domain.scales import mean_mas, parse_mas
    from itb.domain.titration import increases_without_response, propose_next_dose

    out: dict[str, Any] = {"proposal": None, "replacement": None, "size": None}
    if pump is None:
        from itb.domain.pump_size import advise_size
        from itb.domain.screening import starting_daily_dose_mcg

        responded = [t for t in screenings if t.responded]
        if responded:
            start = starting_daily_dose_mcg(responded[0].dose_mcg, responded[0].effect_hours or 0)
            # Plan for the middle of the usual maintenance range (drug label, LimitSettings), never
            # less than the starting dose: the pump must last the years after titration.
            lim = clinic.config.limits
            age = age_years_on(patient.birth_date, now.date())
            group = "child" if age < lim.child_below_age_years else patient.origin
            low = getattr(lim, f"maintenance_{group}_min_mcg_per_day")
            high = getattr(lim, f"maintenance_{group}_max_mcg_per_day")
            expected = max(start, (low + high) / 2)
            out["size"] = (
                expected,
                advise_size(
                    expected,
                    (500.0, 1000.0, 2000.0),
                    90.0,
                    margin_days=clinic.config.booking.refill_margin_days,
                    stability_days=clinic.config.booking.max_refill_interval_days,
                ),
            )
        return out
    model = MODELS.get(pump.model)
    if model is not None:  # a constant-flow pump has no battery to replace
        out["replacement"] = replacement_plan(
            model,
            pump.implanted_at,
            daily_volume_ml=pump.daily_dose_mcg / pump.concentration_mcg_per_ml,
            now=now,
            concentration_mcg_per_ml=pump.concentration_mcg_per_ml,
            eri_at=pump.eri_at,
            catheter_length_cm=pump.catheter_length_cm,
        )
    if patient.phase == "titrating":
        scored = [
            (a.at, mean_mas([parse_mas(g, "grade") for g in a.data.values()])) for a in assessments if a.kind == "mas"
        ]
        tone = [mean for _, mean in scored]
        goals = [a.data["t_score"] for a in assessments if a.kind == "gas"]
        increases = [v.at for prev, v in pairwise(versions) if v.daily_dose_mcg > prev.daily_dose_mcg]
        age = age_years_on(patient.birth_date, now.date())
        out["proposal"] = propose_next_dose(
            pump.daily_dose_mcg,
            PatientContext(Origin(patient.origin), age, pump.implanted_at),
            DoseHistory(last_increase_at=increases[-1] if increases else None),
            now,
            tone_trend=tone,
            goals_t=goals[-1] if goals else None,
            side_effects=any((r.urgency or 0) >= 1 for r in reports if (now - r.at).days <= 14),
            increases_without_response=increases_without_response(
                [(v.at, v.daily_dose_mcg) for v in versions if v.pump_id == pump.id], scored
            ),
        )
    return out
