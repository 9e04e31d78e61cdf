"""Who is told what, and when: the reminder and escalation rules, quiet hours and the daily cap.

Pure: the use case (``itb.clinic.usecases.notify``) gathers the facts (visits, the worklist's
alerts, the contacts), :func:`plan` turns them into the messages due *now*, each under one key
``(rule, event, contact, channel)`` that the outbox stores once, and :func:`delivery` says when a
message may go (quiet hours, the daily cap; never later for an emergency). A message that is no
longer in the plan when it would be sent (the visit was moved, the report reviewed, its window
passed) is suppressed, not sent late. Every number is a field of :class:`NotifySettings` with its
reason; ``docs/parameters.md`` lists them.

Sources: the seed (refill appointments must never be missed; an alarm is an emergency) and the
Lioresal Intrathecal label's boxed warning (refill scheduling and pump alarms prevent withdrawal),
``shared/domain.md`` "Refills".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from enum import StrEnum

from itb.domain.reminder_texts import TEXTS, Text, text_for
from itb.domain.worklist import Reason, WorkItem


class Rule(StrEnum):
    """Why a message is sent (the outbox's ``rule``)."""

    VISIT_REMINDER = "visit_reminder"  # the family: 7 days, 2 days and the morning of a visit
    MISSED_REFILL = "missed_refill"  # a refill visit missed: the family and the on-call staff, the same day
    ALARM_NO_REFILL = "alarm_no_refill"  # low-reservoir alarm within the margin, no refill booked: staff
    EMERGENCY_REPORT = "emergency_report"  # a family's report triaged "emergency": staff at once
    ERI_REACHED = "eri_reached"  # the pump reports its elective replacement indicator: staff
    VENDOR_STALE = "vendor_stale"  # a vendor-programmed pump with no session for too long: staff
    STAFF_DIGEST = "staff_digest"  # the morning digest of the worklist's urgent and soon items


class Channel(StrEnum):
    EMAIL = "email"  # SMTP, to the contact's address
    WEBHOOK = "webhook"  # a signed JSON POST to the clinic's gateway (SMS, push), with the contact's phone


@dataclass(frozen=True, slots=True)
class NotifySettings:
    """The rules' numbers (clinic settings; docs/parameters.md gives each reason)."""

    #: family reminders this many days before a visit, besides the morning of it. A week ahead
    #: leaves time to rebook; two days ahead catches what a week ahead was forgotten (the issue's
    #: rule; the seed: refill appointments must never be missed)
    reminder_days_before: tuple[int, ...] = (7, 2)
    #: the visits families are reminded of: refills (the pump runs dry without them) and titration
    #: visits (a dose change is judged 2-3 weeks later)
    reminded_kinds: tuple[str, ...] = ("refill", "titration")
    #: the morning reminder and the staff digest go at this local time
    morning_at: time = time(7, 30)
    #: the morning reminder goes no later than this long before the visit (an early visit)
    morning_lead: timedelta = timedelta(hours=1)
    #: a booked refill this long past its time with no refill recorded counts as missed
    missed_after: timedelta = timedelta(hours=2)
    #: a missed refill is told to the family and on-call staff while this young (then the worklist holds it)
    missed_window: timedelta = timedelta(days=1)
    #: no message but an emergency in these local hours (start, end): no alarm fatigue at night
    quiet_hours: tuple[time, time] = (time(21, 0), time(7, 0))
    #: at most this many messages a family's contact gets in one day, emergencies apart (no alarm
    #: fatigue). Staff contacts are not capped: one on call must hear of every pump at risk (the
    #: clinic simulation showed a capped alarm alert waiting overnight, then no longer due)
    daily_cap: int = 4
    #: rules that ignore quiet hours and the cap: a child may be in withdrawal now
    urgent_rules: tuple[Rule, ...] = (Rule.EMERGENCY_REPORT, Rule.MISSED_REFILL)
    #: a failed send is tried again after base * 2**(attempts-1), at most the ceiling, this many times
    retry_base: timedelta = timedelta(minutes=2)
    retry_ceiling: timedelta = timedelta(hours=1)
    max_attempts: int = 12
    #: a message claimed for sending and not settled within this time is claimed again (a crash mid-send)
    claim_timeout: timedelta = timedelta(minutes=5)
    #: planning assumption (the clinic simulation only): reminders multiply the chance a family
    #: misses a visit by this. Text-message reminders raised attendance (risk ratio 1.14, 95 % CI
    #: 1.03-1.26) in the Cochrane review of Gurol-Urganci et al. 2013 (CD007458); with 80 %
    #: attendance that is about 9 % missed instead of 20 %, so 0.5 is a round, conservative figure
    #: for a clinic that reminds by several channels. Not measured for ITB clinics.
    reminder_miss_factor: float = 0.5


DEFAULT_NOTIFY = NotifySettings()


@dataclass(frozen=True, slots=True)
class Recipient:
    """A contact: a caregiver of one patient (``patient_id``) or staff (None)."""

    contact_id: int
    name: str
    email: str | None = None
    phone: str | None = None
    channels: tuple[Channel, ...] = (Channel.EMAIL,)
    language: str = "en"
    opted_out: bool = False
    patient_id: int | None = None
    on_call: bool = False
    digest: bool = False
    #: how the contact is related to the patient; ``self``: an adult patient, spoken to as "you"
    relation: str | None = None

    def text(self, name: str, values: dict[str, object]) -> Text:
        """The text ``name`` in the contact's language, in the patient's own words when it is them."""
        own = f"{name}_self"
        return text_for(self.language, own if self.relation == "self" and own in TEXTS["en"] else name, values)

    def addresses(self) -> list[tuple[Channel, str]]:
        """Where the contact is reached: each chosen channel with an address (none when opted out)."""
        if self.opted_out:
            return []
        known = {Channel.EMAIL: self.email, Channel.WEBHOOK: self.phone or self.email}
        return [(c, known[c]) for c in self.channels if known.get(c)]  # type: ignore[misc]


@dataclass(frozen=True, slots=True)
class Visit:
    """A booked (or missed) visit of a patient."""

    appointment_id: int
    patient_id: int
    patient_name: str
    kind: str
    at: datetime
    status: str  # booked, missed


@dataclass(frozen=True, slots=True)
class Alert:
    """Something staff must hear of (from the worklist): ``event`` names it once."""

    rule: Rule
    event: str
    patient_id: int
    patient_name: str
    detail: str


@dataclass(frozen=True, slots=True)
class DigestLine:
    patient_name: str
    urgency: int  # 0 urgent, 1 soon
    detail: str


@dataclass(frozen=True, slots=True)
class Facts:
    """What the plan is made from, as of ``now`` (the clinic's local time)."""

    now: datetime
    visits: tuple[Visit, ...] = ()
    alerts: tuple[Alert, ...] = ()
    families: dict[int, tuple[Recipient, ...]] = field(default_factory=dict)
    staff: tuple[Recipient, ...] = ()
    digest: tuple[DigestLine, ...] = ()
    day_phone: str | None = None
    after_hours_phone: str | None = None
    clinic_name: str | None = None


@dataclass(frozen=True, slots=True)
class Message:
    """One message due: stored once under :attr:`key`."""

    rule: Rule
    event: str
    contact_id: int
    channel: Channel
    address: str
    patient_id: int | None
    subject: str
    body: str
    #: the visit it is about (its ``.ics`` is attached)
    appointment_id: int | None = None

    @property
    def key(self) -> tuple[str, str, int, str]:
        return (str(self.rule), self.event, self.contact_id, str(self.channel))


def _iso(at: datetime | None) -> str:
    return "none" if at is None else at.isoformat(timespec="minutes")


def worklist_alerts(
    item: WorkItem, refill_margin_days: float, last_fill: datetime | None, last_session: datetime | None
) -> list[Alert]:
    """The staff alerts of one worklist item (a pump): no refill booked before an alarm within the
    margin (once per refill cycle: keyed by the pump's last fill), ERI reached (once per pump), a
    stale vendor pump (once per last session)."""
    if item.pump_id is None:
        return []
    said = dict(zip(item.reasons, item.details, strict=True))
    refill = [said[r] for r in (Reason.ALARM_BEFORE_REFILL, Reason.NO_REFILL_BOOKED) if r in said]
    pump, out = f"pump:{item.pump_id}", []
    if refill and item.days_until_alarm is not None and item.days_until_alarm <= refill_margin_days:
        out.append(Alert(Rule.ALARM_NO_REFILL, f"{pump}:fill:{_iso(last_fill)}", item.patient_id, item.patient_name,
                         " ".join(refill)))  # fmt: skip
    for reason, rule, event in (
        (Reason.ERI_REACHED, Rule.ERI_REACHED, f"{pump}:eri"),
        (Reason.STALE, Rule.VENDOR_STALE, f"{pump}:stale:{_iso(last_session)}"),
    ):
        if reason in said:
            out.append(Alert(rule, event, item.patient_id, item.patient_name, said[reason]))
    return out


def visit_horizon(now: datetime, settings: NotifySettings = DEFAULT_NOTIFY) -> tuple[datetime, datetime]:
    """The visits a pass must give :func:`plan`: from this far back (a refill just missed) to this
    far ahead (the earliest reminder, a day to spare)."""
    ahead = now + timedelta(days=max((*settings.reminder_days_before, 0)) + 1)
    return now - settings.missed_window - settings.missed_after, ahead


def reminder_windows(visit: Visit, settings: NotifySettings) -> list[tuple[str, datetime, datetime]]:
    """Each reminder of a visit: its name (``7d``, ``2d``, ``day``), from when it is due, until when.

    A reminder is due from its day's morning until the next one is due (the last until the visit),
    so a visit booked five days ahead gets its 7-day reminder at once and no two come together."""
    morning = min(datetime.combine(visit.at.date(), settings.morning_at), visit.at - settings.morning_lead)
    starts = [
        (f"{d}d", datetime.combine(visit.at.date() - timedelta(days=d), settings.morning_at))
        for d in sorted(settings.reminder_days_before, reverse=True)
        if d > 0
    ]
    starts.append(("day", morning))
    ends = [s for _, s in starts[1:]] + [visit.at]
    return [(name, start, end) for (name, start), end in zip(starts, ends, strict=True) if start < end]


def _visit_event(visit: Visit, name: str) -> str:
    # the visit's time is part of the event: a moved visit is reminded of again, at its new time
    return f"appointment:{visit.appointment_id}:{visit.at.isoformat(timespec='minutes')}:{name}"


def _missed(visit: Visit, now: datetime, settings: NotifySettings) -> bool:
    if visit.kind != "refill":
        return False
    passed = now - visit.at
    late = visit.status == "missed" or (visit.status == "booked" and passed >= settings.missed_after)
    return late and timedelta(0) <= passed <= settings.missed_window + settings.missed_after


def _to(
    recipients: tuple[Recipient, ...], rule: Rule, event: str, text: Text, patient_id: int | None,
    appointment_id: int | None = None,
) -> list[Message]:  # fmt: skip
    return [
        Message(rule, event, r.contact_id, channel, address, patient_id, text.subject, text.body, appointment_id)
        for r in recipients
        for channel, address in r.addresses()
    ]


def _words(facts: Facts, **values: object) -> dict[str, object]:
    return {
        "clinic": facts.clinic_name or "the clinic",
        "day_phone": facts.day_phone or "the clinic's day number",
        "after_hours_phone": facts.after_hours_phone or "the clinic's after-hours number",
        **values,
    }


def _visit_messages(facts: Facts, settings: NotifySettings) -> list[Message]:
    out: list[Message] = []
    on_call = tuple(r for r in facts.staff if r.on_call)
    for visit in facts.visits:
        family = facts.families.get(visit.patient_id, ())
        when = visit.at.strftime("%A %Y-%m-%d at %H:%M")
        if visit.status == "booked" and visit.kind in settings.reminded_kinds:
            for name, start, end in reminder_windows(visit, settings):
                if start <= facts.now < end:
                    for r in family:
                        words = _words(facts, child=visit.patient_name, kind=visit.kind, when=when, name=r.name)
                        text = r.text(f"visit_reminder_{'day' if name == 'day' else 'ahead'}", words)
                        out += _to((r,), Rule.VISIT_REMINDER, _visit_event(visit, name), text, visit.patient_id,
                                   visit.appointment_id)  # fmt: skip
        if _missed(visit, facts.now, settings):
            event = f"appointment:{visit.appointment_id}:missed"
            for r in family:
                words = _words(facts, child=visit.patient_name, when=when, name=r.name)
                out += _to((r,), Rule.MISSED_REFILL, event, r.text("missed_refill_family", words), visit.patient_id)
            words = _words(facts, child=visit.patient_name, when=when, patient_id=visit.patient_id)
            for r in on_call:
                out += _to((r,), Rule.MISSED_REFILL, event, r.text("missed_refill_staff", words), visit.patient_id)
    return out


def _alert_messages(facts: Facts) -> list[Message]:
    on_call = tuple(r for r in facts.staff if r.on_call)
    out: list[Message] = []
    for alert in facts.alerts:
        words = _words(facts, child=alert.patient_name, detail=alert.detail, patient_id=alert.patient_id)
        for r in on_call:
            out += _to((r,), alert.rule, alert.event, r.text(str(alert.rule), words), alert.patient_id)
    return out


def _digest_messages(facts: Facts, settings: NotifySettings) -> list[Message]:
    day = facts.now.date()
    if facts.now < datetime.combine(day, settings.morning_at):
        return []
    lines = "\n".join(
        f"- {'URGENT' if line.urgency == 0 else 'soon'}: {line.patient_name}: {line.detail}"
        for line in sorted(facts.digest, key=lambda d: (d.urgency, d.patient_name))
    )
    urgent, soon = sum(d.urgency == 0 for d in facts.digest), sum(d.urgency == 1 for d in facts.digest)
    words = _words(facts, day=day.isoformat(), urgent=urgent, soon=soon, lines=lines or "- nothing urgent or soon")
    event = f"digest:{day.isoformat()}"
    out: list[Message] = []
    for r in (r for r in facts.staff if r.digest):
        out += _to((r,), Rule.STAFF_DIGEST, event, r.text("staff_digest", words), None)
    return out


def plan(facts: Facts, settings: NotifySettings = DEFAULT_NOTIFY) -> list[Message]:
    """Every message due now, each once (by its key), in a stable order."""
    messages = _visit_messages(facts, settings) + _alert_messages(facts) + _digest_messages(facts, settings)
    unique = {msg.key: msg for msg in messages}
    return [unique[k] for k in sorted(unique)]


# ---------------------------------------------------------------------------- when it may go
@dataclass(frozen=True, slots=True)
class Delivery:
    """Send now (``at`` None), or not before ``at``."""

    at: datetime | None = None
    reason: str = ""


def in_quiet_hours(moment: time, settings: NotifySettings) -> bool:
    start, end = settings.quiet_hours
    return (start <= moment or moment < end) if start > end else start <= moment < end


def _quiet_end(now: datetime, settings: NotifySettings) -> datetime:
    end = datetime.combine(now.date(), settings.quiet_hours[1])
    return end if end > now else end + timedelta(days=1)


def delivery(
    rule: Rule, now: datetime, sent_today: int, settings: NotifySettings = DEFAULT_NOTIFY, *, staff: bool = False
) -> Delivery:
    """When a message of ``rule`` may go to a contact (``staff``: a staff contact, never capped)
    who had ``sent_today`` messages today."""
    if rule in settings.urgent_rules:
        return Delivery()
    if in_quiet_hours(now.time(), settings):
        return Delivery(_quiet_end(now, settings), "quiet hours")
    if not staff and sent_today >= settings.daily_cap:
        tomorrow = datetime.combine(now.date() + timedelta(days=1), settings.quiet_hours[1])
        return Delivery(tomorrow, f"daily cap of {settings.daily_cap} messages reached")
    return Delivery()


def retry_at(now: datetime, attempts: int, settings: NotifySettings = DEFAULT_NOTIFY) -> datetime | None:
    """When a send that failed for the ``attempts``-th time is tried again (None: given up)."""
    if attempts >= settings.max_attempts:
        return None
    wait = min(settings.retry_base * 2 ** max(attempts - 1, 0), settings.retry_ceiling)
    return now + wait


__all__ = [
    "DEFAULT_NOTIFY",
    "Alert",
    "Channel",
    "Delivery",
    "DigestLine",
    "Facts",
    "Message",
    "NotifySettings",
    "Recipient",
    "Rule",
    "Visit",
    "delivery",
    "in_quiet_hours",
    "plan",
    "reminder_windows",
    "retry_at",
    "visit_horizon",
    "worklist_alerts",
]
