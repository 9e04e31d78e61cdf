"""What a simulated clinic's years report (:func:`itb.simulation.clinic_years.run_clinic_years`):
the counts of the run, each dry episode and whether the worklist warned before it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from itb.domain.program import SECONDS_PER_DAY
from itb.simulation.clinic_outbox import MessageCounts


@dataclass(frozen=True, slots=True)
class DryEpisode:
    """One refill cycle in which the patient went without drug."""

    patient_id: int
    model: str
    flow_error: float
    #: "drug_exhausted" (real reservoir dry) or "stopped_empty" (the pump's count reached empty)
    kind: str
    started_at: datetime
    #: the refill that ended it; None when still dry at the end of the simulation (counted dry to the end)
    ended_at: datetime | None
    #: the first worklist listing in the cycle before ``started_at``, any reason / a reservoir reason
    first_listed_at: datetime | None
    first_reservoir_listing_at: datetime | None
    #: refill appointments missed in the cycle
    missed_in_cycle: int

    @property
    def listed_before(self) -> bool:
        return self.first_listed_at is not None

    @property
    def lead_days(self) -> float | None:
        """Days from the first listing (any reason) to the start of the episode."""
        return days_between(self.first_listed_at, self.started_at)

    @property
    def reservoir_lead_days(self) -> float | None:
        return days_between(self.first_reservoir_listing_at, self.started_at)

    @property
    def days_dry(self) -> float | None:
        return days_between(self.started_at, self.ended_at) if self.ended_at is not None else None


@dataclass(frozen=True, slots=True)
class ClinicYearsReport:
    patients: int
    years: float
    days: int
    seed: int
    missed_probability: float
    pump_years: float
    clinic_days: int
    refills: int
    #: refill visits at which the pump was replaced (ERI due within the warning time)
    pump_replacements: int
    #: distinct refill appointments; moving one (titration, worklist) does not count again
    appointments_booked: int
    appointments_missed: int
    #: booked and not yet due at the end
    appointments_pending: int
    #: patients called from the worklist and booked for the next clinic day
    urgent_recalls: int
    #: refills booked (or moved earlier) from the worklist without urgency
    routine_worklist_bookings: int
    titration_changes: int
    #: pump-days on the worklist, and the longest morning list
    worklist_listings: int
    max_worklist_length: int
    low_reservoir_alarms: int
    #: low-reservoir alarms with no reservoir-reason listing in the cycle before them
    alarms_not_listed: int
    end_of_service_stops: int
    dry_episodes: int
    dry_drug_exhausted: int
    dry_stopped_empty: int
    #: goal zero: dry episodes with no worklist listing (any reason) in the cycle before them
    dry_not_listed: int
    #: goal zero: dry episodes with no listing for a reservoir reason in the cycle before them
    dry_not_listed_for_reservoir: int
    patients_with_dry_episode: int
    days_dry_total: float
    #: lead time (days) of the first reservoir-reason listing before a dry episode / a low-reservoir alarm
    dry_lead_days_median: float | None
    dry_lead_days_min: float | None
    alarm_lead_days_median: float | None
    alarm_lead_days_min: float | None
    #: with reminders: the factor on ``missed_probability`` (``NotifySettings.reminder_miss_factor``,
    #: an assumption) and the messages sent; None without reminders (nothing is counted)
    reminder_miss_factor: float | None = None
    messages: MessageCounts | None = None
    episodes: tuple[DryEpisode, ...] = field(repr=False, default=())

    @property
    def miss_probability_used(self) -> float:
        """The probability each booked refill was missed with in this run."""
        factor = 1.0 if self.reminder_miss_factor is None else self.reminder_miss_factor
        return self.missed_probability * factor

    def lines(self) -> list[str]:
        def d(x: float | None) -> str:
            return "-" if x is None else f"{x:.2f}"

        if self.reminder_miss_factor is None:
            missed = f"missed {self.missed_probability:.0%}, no reminders"
        else:
            missed = (
                f"missed {self.missed_probability:.0%} x {self.reminder_miss_factor:g} with reminders "
                f"= {self.miss_probability_used:.1%} (assumed: NotifySettings.reminder_miss_factor)"
            )
        return [
            f"patients {self.patients}, {self.years:g} years ({self.days} days, {self.clinic_days} clinic days), "
            f"{self.pump_years:.1f} pump-years, {missed}, seed {self.seed}",
            f"refills {self.refills} (pump replacements {self.pump_replacements}), "
            f"titration changes {self.titration_changes}",
            f"appointments booked {self.appointments_booked}, missed {self.appointments_missed}, "
            f"pending {self.appointments_pending}; urgent recalls {self.urgent_recalls}, "
            f"routine worklist bookings {self.routine_worklist_bookings}",
            f"worklist listings {self.worklist_listings} pump-days (longest morning list {self.max_worklist_length})",
            f"low-reservoir alarms {self.low_reservoir_alarms} (not listed before: {self.alarms_not_listed}), "
            f"lead days median {d(self.alarm_lead_days_median)} min {d(self.alarm_lead_days_min)}",
            f"dry episodes {self.dry_episodes} (drug exhausted {self.dry_drug_exhausted}, "
            f"stopped empty {self.dry_stopped_empty}) in {self.patients_with_dry_episode} patients, "
            f"{self.days_dry_total:.1f} days dry",
            f"dry episodes NOT preceded by a worklist listing: {self.dry_not_listed} "
            f"(by a reservoir-reason listing: {self.dry_not_listed_for_reservoir})",
            f"warning lead before dry episodes: median {d(self.dry_lead_days_median)} days, "
            f"min {d(self.dry_lead_days_min)} days",
            f"end-of-service stops {self.end_of_service_stops}",
            *self._message_lines(),
        ]

    def _message_lines(self) -> list[str]:
        m = self.messages
        if m is None:
            return []

        def per(n: int) -> str:
            return f"{n} ({n / self.pump_years:.2f})"

        return [
            f"messages sent {m.total}, {m.total / self.pump_years:.2f} per patient-year; "
            "by rule, total (per patient-year):",
            f"  family visit reminders {per(m.family_reminders)}, missed-refill alerts to family "
            f"{per(m.missed_refill_family)} and to staff {per(m.missed_refill_staff)}",
            f"  staff alarm-no-refill alerts {per(m.alarm_alerts)}, ERI reached {per(m.eri_alerts)}, "
            f"staff digest {per(m.digests)}" + (f", other {per(m.other)}" if m.other else ""),
            f"  put off by quiet hours or the daily cap {m.deferred}, suppressed (no longer due) {m.suppressed}",
        ]


def days_between(a: datetime | None, b: datetime) -> float | None:
    return None if a is None else (b - a).total_seconds() / SECONDS_PER_DAY
