"""What a patient's chart shows: the records, the plots, and the therapy plans made from them."""

from __future__ import annotations

from datetime import timedelta
from itertools import pairwise
from typing import Any

from itb.clinic import views
from itb.clinic.derived import earliest_alarm_at, learned_flow, program_of
from itb.clinic.services import Actor, Clinic
from itb.domain.calibration import drift
from itb.domain.management import management_for
from itb.domain.reading import age_years_on
from itb.web import family


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
        learned = learned_flow(pump, history, clinic.config.flow)
        svgs["reservoir"] = plots.reservoir_forecast_svg(
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
    svgs["dose"] = plots.dose_history_svg([(v.at, v.daily_dose_mcg) for v in versions], until=now)
    svgs["tone"] = plots.tone_trend_svg(
        [(a.at, a.data) for a in assessments if a.kind == "mas"] + [(t.at, t.mas_before) for t in screenings],
        [(a.at, a.data["t_score"]) for a in assessments if a.kind == "gas"] or None,
    )
    therapy = therapy_plans(clinic, patient, pump, versions, assessments, screenings, reports, now)
    return {
        **therapy,
        "patient": patient,
        "pump": pump,
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
        "status_words": family.plain_pump_status(
            (last or {}).get("state", "running") if pump else "none",
            (last or {}).get("active_alarms", []),
            None
            if pump is None or earliest_alarm_at(pump) is None
            else (earliest_alarm_at(pump) - now) / timedelta(days=1),  # type: ignore[operator]
            next_refill.date() if next_refill else None,
            today=now.date(),
        ),
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
