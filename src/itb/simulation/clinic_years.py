"""A simulated clinic over years: does the morning worklist warn before any pump runs dry?

N patients, one implanted pump each (:class:`~itb.pump.engine.ImplantedPump`, event-driven:
every pump is advanced to 09:00 of each clinic day and of the last day, never stepped minute by
minute; its events keep their exact times). The clinic sees patients on its open days
(:class:`~itb.domain.scheduling.ClinicCalendar`):

- **Pumps.** A realistic program (100-800 mcg/day; simple continuous, flexible day/night steps
  or daily boluses), a 20 or 40 mL reservoir, 500/1000/2000 mcg/mL (a concentration that lasts
  at least ``MIN_DAYS_PER_FILL`` days at the starting dose), a ``flow_error`` drawn from the
  model's measured range (``FLOW_ERROR_RANGES``), a battery implanted up to 3 years ago. Some
  patients are titrated in year 1: a dose change every 14-21 days, a few times.
- **The clinic's knowledge.** What the pump *counts* (its estimated reservoir) at the last visit,
  turned into the exact forecast (:func:`~itb.domain.forecast.forecast_many`). The real
  reservoir drains ``1 + flow_error`` times faster; the clinic never sees it until a refill.
- **Refills.** After each refill (and after each program change) the next refill is booked by
  :func:`~itb.domain.scheduling.refill_booking_date` from the forecast. Each booked refill is
  missed with probability ``missed_probability``. At a refill the real residual is withdrawn and
  the reservoir filled to capacity; the pump is replaced at that visit (new battery) when the
  elective replacement indicator is due within ``BookingSettings.eri_warning_days``.
- **The worklist.** Every clinic morning :func:`~itb.domain.worklist.build_worklist` runs over all
  pumps' :class:`~itb.domain.worklist.PumpSituation` (stored forecast, bookings, missed refills
  since the last refill). A pump listed for a reservoir reason (``RESERVOIR_REASONS``) whose
  forecast alarm or empty reservoir is within ``urgent_days`` is called and rebooked for the next
  clinic day (which can be missed too); one listed with no refill booked, or booked after its
  alarm, further off is booked by ``refill_booking_date``.

- **Reminders and escalation** (``run_clinic_years(reminders=True)``, or a
  :class:`~itb.domain.reminders.NotifySettings`). Two effects:

  1. *The assumption.* Each booked refill is missed with probability ``missed_probability *
     NotifySettings.reminder_miss_factor`` instead of ``missed_probability``. This is a planning
     assumption, not a result of the simulation: the factor (0.5 by default) and its source are
     the comment on ``NotifySettings.reminder_miss_factor`` in ``itb.domain.reminders`` (a
     Cochrane review of text-message reminders, rounded conservatively; not measured for ITB
     clinics). Titration visits are never missed in this simulation (with or without
     reminders), so the factor only changes refills.
  2. *The count.* The messages are not modelled but planned by the real
     :func:`~itb.domain.reminders.plan` on simulated :class:`~itb.domain.reminders.Facts` and
     counted as the outbox stores them (:class:`~itb.simulation.clinic_outbox.OutboxCounter`):
     once per ``Message.key``, sent when :func:`~itb.domain.reminders.delivery` lets them go
     (quiet hours, the daily cap; put off otherwise), suppressed when no longer planned at a
     later pass. Every patient has two caregiver contacts (email), the clinic one on-call staff
     contact who also gets the digest.
     The server runs a pass every 5 minutes (``itb.shell.notify_schedule``); the simulation runs
     one at the instants where something can become due, which gives the same set of keys:

     - every day at ``morning_at`` (07:30): every reminder window starts then (the morning of
       the visit, 7 and 2 days before; a 09:00 visit's morning reminder is due from
       ``min(07:30, 09:00 - morning_lead)``), and the digest is due from then;
     - every clinic day at the visit hour + ``missed_after`` (11:00), after the day's visits and
       bookings (all made at 09:00): the current window of each visit booked or moved today, and
       the refills missed today (given to ``plan()`` with status ``"missed"``, as the clinic
       records them); the alerts of the morning's worklist, built from its items exactly as
       ``itb.clinic.usecases.notify`` does (``Rule.ALARM_NO_REFILL`` for a pump with no refill
       booked, or booked after the alarm, with the alarm within ``refill_margin_days``, keyed by
       the pump and its last fill; ``Rule.ERI_REACHED`` keyed by the pump): the server's passes
       between the worklist and the clinic acting on it see them. Such a condition only arises
       or ends by the clinic's actions or by time passing, so a pump the server would alert on
       over a weekend is still on the next clinic morning's list: the same key, a day or two
       later.

     Each pass gives ``plan()`` the visits within its horizon only (booked in the next
     ``max(reminder_days_before) + 1`` days, missed within ``missed_window + missed_after``), as
     the use case's query does; ``plan()`` is per visit and per alert, so that is the same plan.
     The digest's lines are those of the last worklist (its count, one a day per digest contact,
     does not depend on them). Not simulated: emergency symptom reports and vendor-programmed
     pumps (no such messages).

Recorded: every *dry episode* (the real reservoir ran dry, ``drug_exhausted``, or the pump
stopped at its estimated empty level, whichever came first in a refill cycle, until the next
refill), whether the pump had been on the worklist in that cycle before it (any reason, and for a
reservoir reason) and how many days before; the same for the pump's low-reservoir alarms.
Deterministic by seed.
"""

from __future__ import annotations

import itertools
import random
import statistics
from collections.abc import Iterable
from dataclasses import replace
from datetime import date, datetime, time, timedelta

from itb.domain.devices import DAYS_PER_YEAR, PERISTALTIC, VALVE_GATED, DeviceModel
from itb.domain.forecast import ReservoirState, forecast_many
from itb.domain.program import SECONDS_PER_DAY, DailyBolus, DosingProgram, Step
from itb.domain.reminders import (
    DEFAULT_NOTIFY,
    Alert,
    DigestLine,
    NotifySettings,
    Visit,
    visit_horizon,
    worklist_alerts,
)
from itb.domain.scheduling import (
    DEFAULT_BOOKING,
    DEFAULT_CALENDAR,
    BookingSettings,
    ClinicCalendar,
    refill_booking_date,
)
from itb.domain.worklist import PumpSituation, Reason, WorkItem, build_worklist
from itb.pump.engine import ImplantedPump, PumpSetup
from itb.simulation.clinic_outbox import OutboxCounter, caregivers
from itb.simulation.clinic_years_report import ClinicYearsReport, DryEpisode, days_between

#: The first simulated day (a Monday); pumps are advanced to 09:00 of each clinic day (and the last day).
START = date(2027, 1, 4)
CLINIC_HOUR = time(9, 0)
DAY = timedelta(days=1)

#: Worklist reasons about the reservoir: the ones that make the clinic call the patient.
RESERVOIR_REASONS = frozenset({Reason.ALARM_BEFORE_REFILL, Reason.NO_REFILL_BOOKED, Reason.OVERDUE, Reason.MISSED})
#: measured flow error per model, as fractions (models.py: peristaltic +1 % to +2.5 %, valve-gated about 97 %)
FLOW_ERROR_RANGES: dict[str, tuple[float, float]] = {
    PERISTALTIC.name: (0.010, 0.025),
    VALVE_GATED.name: (-0.045, -0.015),
}
CONCENTRATIONS = (500.0, 1000.0, 2000.0)
#: the clinic picks a concentration whose full reservoir lasts at least this long at the starting dose
MIN_DAYS_PER_FILL = 30.0
DOSE_RANGE_MCG = (100.0, 800.0)
#: titration never takes the daily dose outside this range
TITRATION_DOSE_LIMITS_MCG = (50.0, 1500.0)


#: with reminders: the clinic's one staff contact (on call, gets the digest); caregivers are 2 a patient
class _Patient:
    __slots__ = (
        "alarm",
        "base_t",
        "booked",
        "booked_id",
        "conc",
        "day0",
        "empty",
        "episode",
        "eri_at",
        "eri_reached",
        "first_listing",
        "first_reservoir_listing",
        "id",
        "last_change",
        "last_refill",
        "missed",
        "name",
        "next_titration",
        "program",
        "pump",
        "pump_id",
        "seen",
        "setup",
        "titration",
    )

    def __init__(self, pid: int, setup: PumpSetup, pump: ImplantedPump, program: DosingProgram, conc: float) -> None:
        self.id = pid
        self.name = f"Patient {pid:04d}"
        self.setup = setup
        self.pump = pump
        self.program = program
        self.conc = conc
        self.day0 = pump.day0
        self.base_t = 0.0  # the pump's t at 09:00 of the first simulated day
        self.seen = 0  # pump events already looked at
        self.last_refill = pump.day0.date()
        self.booked: date | None = None
        self.booked_id = 0  # the booked refill's appointment id (kept when it is moved)
        self.pump_id = pid  # the implanted pump's id: a replacement pump has a new one
        self.missed: list[date] = []
        self.alarm: datetime | None = None
        self.empty: datetime | None = None
        self.eri_at: datetime | None = None
        self.eri_reached = False
        #: (visit day, dose factor, appointment id), soonest last
        self.titration: list[tuple[date, float, int]] = []
        self.next_titration: date | None = None
        self.last_change: date | None = None
        self.first_listing: datetime | None = None
        self.first_reservoir_listing: datetime | None = None
        #: the open dry episode of this cycle: (kind, started_at, first listing, first reservoir listing)
        self.episode: tuple[str, datetime, datetime | None, datetime | None] | None = None

    def state(self, at: datetime) -> ReservoirState:
        """What an interrogation at ``at`` reads: the pump's own count."""
        s = self.setup
        return ReservoirState(
            at=at,
            reservoir_capacity_ml=s.reservoir_capacity_ml,
            reservoir_ml=min(max(self.pump.est_ml, 0.0), s.reservoir_capacity_ml),
            concentration_mcg_per_ml=self.conc,
            low_reservoir_alarm_ml=s.low_reservoir_alarm_ml,
            empty_ml=s.empty_ml,
        )

    def interrogate_eri(self) -> None:
        pump = self.pump
        self.eri_at = pump.day0 + timedelta(seconds=pump.eri_forecast_t())
        self.eri_reached = pump.eri_t is not None

    def situation(self) -> PumpSituation:
        return PumpSituation(
            patient_id=self.id,
            patient_name=self.name,
            pump_id=self.id,
            low_reservoir_alarm_at=self.alarm,
            empty_at=self.empty,
            next_refill_booked=self.booked,
            eri_at=self.eri_at,
            eri_reached=self.eri_reached,
            titrating=self.next_titration is not None,
            last_program_change=self.last_change,
            next_titration_booked=self.next_titration,
            mri_check_pending=False,
            unreviewed_discrepancies=0,
            missed_appointments=tuple(("refill", d) for d in self.missed),
        )


def realistic_program(rng: random.Random, dose: float) -> DosingProgram:
    """A program delivering ``dose`` mcg a day: continuous, day/night steps, or with daily boluses."""
    shape = rng.random()
    if shape < 0.6:
        return DosingProgram.simple_continuous(round(dose, 1))
    if shape < 0.85:
        # Night (22:00-07:00) lower or higher than day; 9 h night, 15 h day.
        night_factor = rng.choice((0.7, 0.8, 1.2, 1.3))
        day_rate = dose * 24 / (15 + 9 * night_factor)
        night = round(day_rate * night_factor, 1)
        return DosingProgram(steps=(Step(0, night), Step(420, round(day_rate, 1)), Step(1320, night)))
    n = rng.choice((2, 3))
    bolus_share = rng.uniform(0.15, 0.35)
    each = round(dose * bolus_share / n, 1)
    base = round(dose - each * n, 1)
    starts = (480, 1200) if n == 2 else (420, 780, 1260)
    return DosingProgram(
        steps=(Step(0, base),),
        daily_boluses=tuple(DailyBolus(s, each, rng.choice((30.0, 60.0))) for s in starts),
    )


def _scaled(program: DosingProgram, factor: float) -> DosingProgram:
    return DosingProgram(
        steps=tuple(Step(s.start_minute, round(s.rate_mcg_per_day * factor, 3)) for s in program.steps),
        daily_boluses=tuple(
            DailyBolus(b.start_minute, round(b.dose_mcg * factor, 3), b.duration_minutes) for b in program.daily_boluses
        ),
    )


def _titration_plan(rng: random.Random, start: date, calendar: ClinicCalendar) -> list[tuple[date, float]]:
    """Dose changes every 14-21 days in year 1 (a visit 14-19 days on, moved to an open day)."""
    visits = []
    day = calendar.on_or_after(start + timedelta(days=rng.randint(7, 150)))
    for _ in range(rng.randint(2, 6)):
        if day >= start + timedelta(days=365):
            break
        visits.append((day, rng.choice((0.85, 0.9, 1.1, 1.15, 1.2, 1.25, 1.3))))
        day = calendar.on_or_after(day + timedelta(days=rng.randint(14, 19)))
    return visits


def _new_patient(
    pid: int, rng: random.Random, start: date, calendar: ClinicCalendar, titrating_fraction: float
) -> _Patient:
    model: DeviceModel = PERISTALTIC if rng.random() < 0.7 else VALVE_GATED
    capacity = rng.choice(model.reservoir_sizes_ml)
    dose = rng.uniform(*DOSE_RANGE_MCG)
    lasting = [c for c in CONCENTRATIONS if capacity * c / dose >= MIN_DAYS_PER_FILL]
    conc = rng.choice(lasting) if lasting else CONCENTRATIONS[-1]
    program = realistic_program(rng, dose)
    setup = PumpSetup(
        model=model,
        reservoir_capacity_ml=capacity,
        low_reservoir_alarm_ml=model.default_low_reservoir_alarm_ml,
        empty_ml=0.0,
        catheter_volume_ml=model.typical_catheter_volume_ml,
        flow_error=rng.uniform(*FLOW_ERROR_RANGES[model.name]),
    )
    # The pump was last refilled some days ago, inside its refill cycle.
    cycle_days = (capacity - setup.low_reservoir_alarm_ml) * conc / program.daily_dose_mcg
    cycle_days = min(cycle_days, DEFAULT_BOOKING.max_refill_interval_days) - DEFAULT_BOOKING.refill_margin_days
    last_refill = start - timedelta(days=rng.randint(0, max(0, int(cycle_days) - 1)))
    t0 = CLINIC_HOUR.hour * 3600.0
    pump = ImplantedPump(
        setup,
        t=t0,
        implanted_t=t0 - rng.uniform(0, 3 * DAYS_PER_YEAR) * SECONDS_PER_DAY,
        reservoir_ml=capacity,
        concentration_mcg_per_ml=conc,
        program=program,
        day0=datetime.combine(last_refill, time()),
    )
    p = _Patient(pid, setup, pump, program, conc)
    p.base_t = pump.t_of(datetime.combine(start, CLINIC_HOUR))
    p.interrogate_eri()
    if rng.random() < titrating_fraction:
        p.titration = [(day, factor, 0) for day, factor in _titration_plan(rng, start, calendar)[::-1]]
    return p


class _Clinic:
    """The simulation's mutable state and counters."""

    def __init__(
        self,
        patients: list[_Patient],
        rng: random.Random,
        missed_probability: float,
        calendar: ClinicCalendar,
        booking: BookingSettings,
        urgent_days: float,
        notify: NotifySettings | None = None,
    ) -> None:
        self.patients = patients
        self.rng = rng
        self.missed_probability = missed_probability
        #: the probability each booked refill is missed with: with reminders, times the assumed factor
        self.miss_probability = missed_probability * (1.0 if notify is None else notify.reminder_miss_factor)
        self.notify = notify
        self.calendar = calendar
        self.booking = booking
        self.urgent_days = urgent_days
        self.counts = dict.fromkeys(
            (
                "clinic_days",
                "refills",
                "pump_replacements",
                "appointments_booked",
                "appointments_missed",
                "urgent_recalls",
                "routine_worklist_bookings",
                "titration_changes",
                "worklist_listings",
                "max_worklist_length",
                "low_reservoir_alarms",
                "alarms_not_listed",
                "end_of_service_stops",
            ),
            0,
        )
        self.alarm_leads: list[float] = []
        self.episodes: list[DryEpisode] = []
        self._appointment_ids = itertools.count(1)
        self._pump_ids = itertools.count(len(patients))
        for p in patients:
            p.titration = [(day, factor, next(self._appointment_ids)) for day, factor, _ in p.titration]
        self.titrating = [p for p in patients if p.titration]
        #: with reminders: the outbox, this morning's worklist alerts and digest, refills missed lately
        self.outbox = (
            None
            if notify is None
            else OutboxCounter({p.id: caregivers(p.id, p.name) for p in patients}, settings=notify)
        )
        self.alerts: list[Alert] = []
        self.digest: tuple[DigestLine, ...] = ()
        self.missed_visits: list[Visit] = []

    # ---------------------------------------------------------------- bookings
    def book(self, p: _Patient, day: date) -> None:
        if p.booked is None:
            self.counts["appointments_booked"] += 1
            p.booked_id = next(self._appointment_ids)
        p.booked = day

    def book_from_forecast(self, p: _Patient, today: date) -> None:
        self.book(p, refill_booking_date(today, p.last_refill, p.alarm, self.calendar, self.booking))

    # ---------------------------------------------------------------- the day
    def advance(self, day_index: int, now: datetime) -> None:
        """Every pump to ``now``; record alarms, dry episodes and stops from its new events."""
        offset = day_index * SECONDS_PER_DAY
        for p in self.patients:
            pump = p.pump
            pump.advance_to(p.base_t + offset)
            events = pump.events
            if len(events) == p.seen:
                continue
            for e in events[p.seen :]:
                kind = e.type
                if kind == "low_reservoir_alarm":
                    at = p.day0 + timedelta(seconds=e.t)
                    self.counts["low_reservoir_alarms"] += 1
                    if p.first_reservoir_listing is None:
                        self.counts["alarms_not_listed"] += 1
                    else:
                        self.alarm_leads.append(days_between(p.first_reservoir_listing, at))  # type: ignore[arg-type]
                elif kind in ("drug_exhausted", "empty_reservoir_alarm") and p.episode is None:
                    at = p.day0 + timedelta(seconds=e.t)
                    label = "drug_exhausted" if kind == "drug_exhausted" else "stopped_empty"
                    p.episode = (label, at, p.first_listing, p.first_reservoir_listing)
                elif kind == "end_of_service":
                    self.counts["end_of_service_stops"] += 1
            p.seen = len(events)

    def worklist(self, now: datetime, today: date) -> None:
        items = build_worklist((p.situation() for p in self.patients), now, self.booking)
        counts = self.counts
        counts["worklist_listings"] += len(items)
        counts["max_worklist_length"] = max(counts["max_worklist_length"], len(items))
        if self.outbox is not None:
            self.alerts = self.worklist_alerts(items)
            self.digest = tuple(
                DigestLine(i.patient_name, i.urgency, " ".join(i.details)) for i in items if i.urgency < 2
            )
        next_day = self.calendar.on_or_after(today + DAY)
        for item in items:
            p = self.patients[item.patient_id]
            if p.first_listing is None:
                p.first_listing = now
            if RESERVOIR_REASONS.isdisjoint(item.reasons):
                continue
            if p.first_reservoir_listing is None:
                p.first_reservoir_listing = now
            until = [x for x in (item.days_until_alarm, item.days_until_empty) if x is not None]
            if until and min(until) <= self.urgent_days:
                if p.booked is None or p.booked > next_day:
                    self.book(p, next_day)
                    counts["urgent_recalls"] += 1
            elif Reason.NO_REFILL_BOOKED in item.reasons or Reason.ALARM_BEFORE_REFILL in item.reasons:
                day = refill_booking_date(today + DAY, p.last_refill, p.alarm, self.calendar, self.booking)
                if p.booked is None or p.booked > day:
                    self.book(p, day)
                    counts["routine_worklist_bookings"] += 1

    def titration_visits(self, now: datetime, today: date) -> set[int]:
        """Program changes due today; the refill is rebooked from the new forecast. Returns who came."""
        changed = [p for p in self.patients if p.titration and p.titration[-1][0] == today]
        for p in changed:
            _, factor, _ = p.titration.pop()
            low, high = TITRATION_DOSE_LIMITS_MCG
            dose = p.program.daily_dose_mcg
            factor = min(max(factor, low / dose), high / dose)
            p.program = _scaled(p.program, factor)
            p.pump.set_program(p.program)
            p.last_change = today
            p.next_titration = p.titration[-1][0] if p.titration else None
            p.interrogate_eri()
            self.counts["titration_changes"] += 1
        self._forecast(changed, now)
        for p in changed:
            self.book_from_forecast(p, today)
        return {p.id for p in changed}

    def refill_visits(self, now: datetime, today: date, present: set[int]) -> None:
        refilled = []
        for p in self.patients:
            if p.booked != today:
                continue
            p.booked = None
            if p.id not in present and self.rng.random() < self.miss_probability:
                p.missed.append(today)
                self.counts["appointments_missed"] += 1
                if self.outbox is not None:
                    self.missed_visits.append(Visit(p.booked_id, p.id, p.name, "refill", now, "missed"))
                continue
            self.refill(p, now)
            refilled.append(p)
        self._forecast(refilled, now)
        for p in refilled:
            self.book_from_forecast(p, today + DAY)

    def refill(self, p: _Patient, now: datetime) -> None:
        self.close_episode(p, now)
        pump = p.pump
        if p.eri_at is not None and p.eri_at - now <= timedelta(days=self.booking.eri_warning_days):
            # Replace the pump at this visit: a new battery, filled; the program carries over.
            p.pump = ImplantedPump(
                p.setup,
                t=pump.t,
                implanted_t=pump.t,
                reservoir_ml=p.setup.reservoir_capacity_ml,
                concentration_mcg_per_ml=p.conc,
                program=p.program,
                day0=pump.day0,
            )
            p.seen = 0
            p.pump_id = next(self._pump_ids)
            self.counts["pump_replacements"] += 1
        else:
            pump.refill(p.setup.reservoir_capacity_ml, p.conc)
        p.interrogate_eri()
        p.last_refill = now.date()
        p.missed = []
        p.first_listing = p.first_reservoir_listing = None
        self.counts["refills"] += 1

    def close_episode(self, p: _Patient, ended_at: datetime | None) -> None:
        if p.episode is None:
            return
        kind, started, listed, reservoir_listed = p.episode
        self.episodes.append(
            DryEpisode(
                patient_id=p.id,
                model=p.setup.model.name,
                flow_error=p.setup.flow_error,
                kind=kind,
                started_at=started,
                ended_at=ended_at,
                first_listed_at=listed,
                first_reservoir_listing_at=reservoir_listed,
                missed_in_cycle=len(p.missed),
            )
        )
        p.episode = None

    # ---------------------------------------------------------------- reminders and escalation
    def worklist_alerts(self, items: Iterable[WorkItem]) -> list[Alert]:
        """The staff alerts of worklist items, as ``itb.clinic.usecases.notify`` makes them."""
        margin = self.booking.refill_margin_days
        out: list[Alert] = []
        for item in items:
            p = self.patients[item.patient_id]
            fill = datetime.combine(p.last_refill, CLINIC_HOUR)
            # keyed by the pump in place (a replacement is a new pump; the situation's id is the patient's)
            out += worklist_alerts(replace(item, pump_id=p.pump_id), margin, fill, None)
        return out

    def visits(self, now: datetime) -> list[Visit]:
        """The visits a pass at ``now`` gives ``plan()``: booked ones (refills, titrations) up to
        ``max(reminder_days_before) + 1`` days ahead, refills missed within ``missed_window +
        missed_after`` (the horizon of ``itb.clinic.usecases.notify``'s query)."""
        settings = self.notify or DEFAULT_NOTIFY
        behind, ahead = visit_horizon(now, settings)
        self.missed_visits = [v for v in self.missed_visits if v.at >= behind]
        out = list(self.missed_visits)
        last_day = ahead.date()
        for p in [p for p in self.patients if p.booked is not None and p.booked <= last_day]:
            at = datetime.combine(p.booked, CLINIC_HOUR)  # type: ignore[arg-type]
            if now <= at <= ahead:
                out.append(Visit(p.booked_id, p.id, p.name, "refill", at, "booked"))
        for p in [p for p in self.titrating if p.titration and p.titration[-1][0] <= last_day]:
            for day, _, appointment_id in reversed(p.titration):
                if day > last_day:
                    break
                at = datetime.combine(day, CLINIC_HOUR)
                if now <= at <= ahead:
                    out.append(Visit(appointment_id, p.id, p.name, "titration", at, "booked"))
        return out

    def morning_pass(self, today: date) -> None:
        """The pass at ``morning_at``: reminders whose window starts now, the digest; the alerts of
        pumps whose alert was put off (re-checked on a worklist of those pumps now)."""
        assert self.outbox is not None and self.notify is not None
        now = datetime.combine(today, self.notify.morning_at)
        waiting = self.outbox.waiting_alert_patients()
        alerts: list[Alert] = []
        if waiting:
            situations = (self.patients[i].situation() for i in sorted(waiting))
            alerts = self.worklist_alerts(build_worklist(situations, now, self.booking))
        self.outbox.run_pass(now, self.visits(now), alerts, self.digest)

    def after_visits_pass(self, today: date) -> None:
        """The pass at the visit hour + ``missed_after`` of a clinic day: today's missed refills,
        the current window of visits booked or moved today, the morning worklist's alerts."""
        assert self.outbox is not None and self.notify is not None
        now = datetime.combine(today, CLINIC_HOUR) + self.notify.missed_after
        self.outbox.run_pass(now, self.visits(now), self.alerts, self.digest)

    def _forecast(self, patients: list[_Patient], now: datetime) -> None:
        forecasts = forecast_many([(p.state(now), p.program) for p in patients])
        for p, f in zip(patients, forecasts):
            p.alarm, p.empty = f.low_reservoir_alarm_at, f.empty_at


def run_clinic_years(
    patients: int = 200,
    years: float = 5.0,
    missed_probability: float = 0.10,
    seed: int = 20270104,
    *,
    start: date = START,
    calendar: ClinicCalendar = DEFAULT_CALENDAR,
    booking: BookingSettings = DEFAULT_BOOKING,
    urgent_days: float = 7.0,
    titrating_fraction: float = 0.25,
    reminders: bool | NotifySettings = False,
) -> ClinicYearsReport:
    """Run the clinic day by day for ``years`` and report what happened (see the module docstring).

    ``reminders``: True (the default :class:`~itb.domain.reminders.NotifySettings`) or the settings
    to use. Then each booked refill is missed with probability ``missed_probability *
    settings.reminder_miss_factor``: that is an *assumption* (how much reminders help), taken from
    ``NotifySettings.reminder_miss_factor`` and its comment in ``itb.domain.reminders``, not
    something the simulation shows; and the messages the outbox would send are counted by running
    the real ``plan()`` and ``delivery()`` (the module docstring says at which instants). The same
    seed gives the same patients and pumps with or without reminders; the random draws of the
    missed visits then differ in outcome, so the runs diverge from the first visit missed in one
    and kept in the other. Counting draws nothing random: with a factor of 1 the run is the same as
    without reminders, but for the message counts.
    """
    if patients < 1 or years <= 0 or not 0 <= missed_probability <= 1:
        raise ValueError("patients must be >= 1, years > 0 and missed_probability in [0, 1]")
    notify = DEFAULT_NOTIFY if reminders is True else reminders or None
    if notify is not None and not 0 <= notify.reminder_miss_factor <= 1:
        raise ValueError("reminder_miss_factor must be in [0, 1]")
    rng = random.Random(seed)
    people = [_new_patient(i, rng, start, calendar, titrating_fraction) for i in range(patients)]
    clinic = _Clinic(people, rng, missed_probability, calendar, booking, urgent_days, notify)

    # The stored forecast of each pump is from its last refill; book its next refill from it.
    refill_at = [datetime.combine(p.last_refill, CLINIC_HOUR) for p in people]
    for p, f in zip(people, forecast_many([(p.state(at), p.program) for p, at in zip(people, refill_at)])):
        p.alarm, p.empty = f.low_reservoir_alarm_at, f.empty_at
        clinic.book_from_forecast(p, start)

    days = round(years * DAYS_PER_YEAR)
    for i in range(days):
        today = start + timedelta(days=i)
        now = datetime.combine(today, CLINIC_HOUR)
        if clinic.outbox is not None:
            clinic.morning_pass(today)
        is_open = calendar.is_open(today)
        if is_open or i == days - 1:
            # On a closed day nothing reads the pumps: their events (with their exact times) are
            # taken at the next clinic morning, before its worklist, which records them the same.
            clinic.advance(i, now)
        if not is_open:
            continue
        clinic.counts["clinic_days"] += 1
        clinic.worklist(now, today)
        present = clinic.titration_visits(now, today)
        clinic.refill_visits(now, today, present)
        if clinic.outbox is not None:
            clinic.after_visits_pass(today)

    for p in people:
        clinic.close_episode(p, None)
    end = datetime.combine(start + timedelta(days=days), CLINIC_HOUR)
    return _report(clinic, patients, years, days, seed, missed_probability, end)


def _median_min(values: Iterable[float | None]) -> tuple[float | None, float | None]:
    known = [v for v in values if v is not None]
    return (statistics.median(known), min(known)) if known else (None, None)


def _report(
    clinic: _Clinic, patients: int, years: float, days: int, seed: int, missed_probability: float, end: datetime
) -> ClinicYearsReport:
    episodes = tuple(sorted(clinic.episodes, key=lambda e: (e.started_at, e.patient_id)))
    dry_median, dry_min = _median_min(e.reservoir_lead_days for e in episodes)
    alarm_median, alarm_min = _median_min(clinic.alarm_leads)
    return ClinicYearsReport(
        patients=patients,
        years=years,
        days=days,
        seed=seed,
        missed_probability=missed_probability,
        pump_years=patients * days / DAYS_PER_YEAR,
        appointments_pending=sum(p.booked is not None for p in clinic.patients),
        dry_episodes=len(episodes),
        dry_drug_exhausted=sum(e.kind == "drug_exhausted" for e in episodes),
        dry_stopped_empty=sum(e.kind == "stopped_empty" for e in episodes),
        dry_not_listed=sum(not e.listed_before for e in episodes),
        dry_not_listed_for_reservoir=sum(e.first_reservoir_listing_at is None for e in episodes),
        patients_with_dry_episode=len({e.patient_id for e in episodes}),
        days_dry_total=sum(days_between(e.started_at, e.ended_at or end) or 0.0 for e in episodes),
        dry_lead_days_median=dry_median,
        dry_lead_days_min=dry_min,
        alarm_lead_days_median=alarm_median,
        alarm_lead_days_min=alarm_min,
        reminder_miss_factor=None if clinic.notify is None else clinic.notify.reminder_miss_factor,
        messages=None if clinic.outbox is None else clinic.outbox.counts(),
        episodes=episodes,
        **clinic.counts,
    )


__all__ = ["run_clinic_years"]
