"""What the programmer shows people: the pump as a clinician reads it, reviews, outcomes."""

from __future__ import annotations

from collections.abc import Iterable

from rich.console import Console
from rich.table import Table

from itb.domain.limits import Assessment
from itb.programmer.record import Entry, Status
from itb.programmer.workflows import BolusReview, ProgramOutcome, ProgramReview, PumpView, RefillOutcome, RefillPlan


def _when(value: object) -> str:
    if value is None:
        return "never (nothing is delivered)"
    return str(value).replace("T", " ")


def print_view(console: Console, view: PumpView) -> None:
    s = view.status
    t = Table(title=f"Pump interrogated at {_when(s['pump_time'])} (pump clock)", show_header=False)
    t.add_column(style="bold")
    t.add_column()
    therapy = s["therapy"]
    t.add_row("patient", f"{therapy['patient_id']}: {therapy['origin']} origin, {therapy['age_years']:g} years")
    t.add_row("pump", f"{s['model']}, {s['reservoir_capacity_ml']:g} mL; state {s['state'].replace('_', ' ')}")
    t.add_row("program", f"version {s['program_version']}: {s['daily_dose_mcg']:.4g} mcg/day")
    for i, step in enumerate(view.block.program.steps):
        t.add_row(
            "" if i else "steps",
            f"{step.start_minute // 60:02d}:{step.start_minute % 60:02d}  {step.rate_mcg_per_day:g} mcg/day",
        )
    t.add_row("reservoir", f"{s['reservoir_ml']:.3f} mL (the pump's count) at {s['concentration_mcg_per_ml']:g} mcg/mL")
    t.add_row("low-reservoir alarm", _when(view.forecast.low_reservoir_alarm_at))
    t.add_row("empty", _when(view.forecast.empty_at))
    eri = "reached" if s["eri_reached"] else f"expected {_when(s['eri_at'])}"
    t.add_row("battery (ERI)", eri + (f"; stops {_when(s['end_of_service_at'])}" if s["end_of_service_at"] else ""))
    alarms = ", ".join(a.replace("_", " ") for a in s["active_alarms"]) or "none"
    sounding = ", ".join(s["sounding_alarms"])
    t.add_row("alarms", alarms + (f" (sounding: {sounding})" if sounding else ""))
    console.print(t)


def print_assessment(console: Console, assessment: Assessment, acknowledged: Iterable[str] = ()) -> None:
    acknowledged = set(acknowledged)
    for f in assessment.refusals:
        console.print(f"[bold red]REFUSED[/] ({f.code}): {f.message}")
    for f in assessment.confirmations:
        mark = "[green]acknowledged[/]" if f.code in acknowledged else "[yellow]NEEDS CONFIRMATION[/]"
        console.print(f"{mark} ({f.code}): {f.message}")
        if f.code not in acknowledged:
            console.print(f"    to go ahead, add: --confirm {f.code}")


def print_program_review(console: Console, review: ProgramReview, acknowledged: Iterable[str] = ()) -> None:
    t = Table(title="Program change: review old against new")
    t.add_column("")
    t.add_column(f"now (version {review.view.program_version})")
    t.add_column("proposed")
    for row in review.rows():
        t.add_row(*row)
    console.print(t)
    print_assessment(console, review.assessment, acknowledged)


def print_entry(console: Console, entry: Entry) -> None:
    colour = {Status.APPLIED: "green", Status.NOT_APPLIED: "yellow", Status.REFUSED: "red"}.get(entry.status, "red")
    detail = f": {entry.detail}" if entry.detail else ""
    console.print(f"[{colour}]{entry.command} {entry.status}[/]{detail} (key {entry.key}, {entry.attempts} attempt(s))")


def print_program_outcome(console: Console, outcome: ProgramOutcome) -> None:
    print_entry(console, outcome.entry)
    if outcome.entry.status is Status.APPLIED:
        check = "[green]verified: read back, same program[/]" if outcome.verified else "[red]NOT verified[/]"
        console.print(f"pump now runs program version {outcome.version}; {check}")


def print_refill_plan(console: Console, plan: RefillPlan, acknowledged: Iterable[str] = ()) -> None:
    s = plan.view.status
    t = Table(title="Refill", show_header=False)
    t.add_column(style="bold")
    t.add_column()
    t.add_row("expected in the reservoir", f"{s['reservoir_ml']:.2f} mL (the pump's count)")
    t.add_row("withdrawn (measured)", f"{plan.withdrawn_ml:g} mL")
    t.add_row("added", f"{plan.added_ml:g} mL at {plan.concentration_mcg_per_ml:g} mcg/mL")
    if plan.bridge is not None:
        t.add_row(
            "bridge bolus",
            f"{plan.bridge.dose_mcg:.4g} mcg over {plan.bridge.duration_minutes:.0f} min "
            f"(clears {plan.bridge.dead_volume_ml:.3f} mL of old drug from the tubing and catheter)",
        )
    if plan.decrease is not None:
        d = plan.decrease
        t.add_row(
            "weaker drug",
            f"left as it is: {d.factor:.3g}x the dose for {d.overshoot_hours:.3g} h (+{d.overshoot_mcg:.4g} mcg); "
            f"aspirate {d.dead_volume_ml:.3g} mL through the catheter access port, or program "
            f"{d.temporary_daily_dose_mcg:.4g} mcg/day for {d.temporary_hours:.3g} h, then {d.daily_dose_mcg:.4g}",
        )
    t.add_row("new low-reservoir alarm", _when(plan.low_reservoir_alarm_at))
    if plan.earliest_alarm_at is not None:
        t.add_row("earliest plausible alarm", _when(plan.earliest_alarm_at))
    t.add_row("book the next refill by", _when(plan.next_refill_at))
    console.print(t)
    print_assessment(console, plan.assessment, acknowledged)


def print_refill_outcome(console: Console, outcome: RefillOutcome) -> None:
    print_entry(console, outcome.refill)
    if outcome.bridge is not None:
        print_entry(console, outcome.bridge)


def print_bolus_review(console: Console, review: BolusReview, acknowledged: Iterable[str] = ()) -> None:
    console.print(f"{review.kind} bolus: {review.dose_mcg:.4g} mcg over {review.duration_minutes:g} min")
    print_assessment(console, review.assessment, acknowledged)


def print_log(console: Console, events: list[dict]) -> None:
    t = Table(title="Pump event log")
    for name in ("#", "at (pump clock)", "event", "details"):
        t.add_column(name)
    for e in events:
        details = ", ".join(f"{k}={v}" for k, v in e.items() if k not in ("seq", "at", "type"))
        t.add_row(str(e["seq"]), _when(e["at"]), e["type"].replace("_", " "), details)
    console.print(t)
