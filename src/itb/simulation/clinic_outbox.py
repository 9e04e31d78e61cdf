"""What the clinic's outbox would send over a simulated clinic's years, counted without a database.

:class:`OutboxCounter` runs the real :func:`~itb.domain.reminders.plan` and
:func:`~itb.domain.reminders.delivery` and stores each message once by its key, as
``itb.clinic.usecases.notify`` does; :class:`MessageCounts` is what it sent, by rule and audience.
The simulated patients' caregivers and the on-call staff are its contacts
(:func:`caregivers`, :data:`ON_CALL_STAFF`). Used by :mod:`itb.simulation.clinic_years`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from itb.domain.reminders import (
    DEFAULT_NOTIFY,
    Alert,
    DigestLine,
    Facts,
    Message,
    NotifySettings,
    Recipient,
    Rule,
    Visit,
    delivery,
    plan,
    reminder_windows,
)

STAFF_CONTACT_ID = 1
CAREGIVERS_PER_PATIENT = 2
CLINIC_NAME = "the simulated clinic"

Key = tuple[str, str, int, str]


@dataclass(frozen=True, slots=True)
class MessageCounts:
    """The messages the outbox sent over a run with reminders, each once (by key), by rule and audience."""

    family_reminders: int  # Rule.VISIT_REMINDER (refill and titration visits)
    missed_refill_family: int  # Rule.MISSED_REFILL to caregivers
    missed_refill_staff: int  # Rule.MISSED_REFILL to the on-call staff
    alarm_alerts: int  # Rule.ALARM_NO_REFILL
    eri_alerts: int  # Rule.ERI_REACHED
    digests: int  # Rule.STAFF_DIGEST
    #: any other rule (none is simulated: emergency reports, vendor-stale pumps)
    other: int
    #: messages put off at least once by quiet hours or the daily cap, and messages never sent
    #: because they were no longer planned when they could have gone
    deferred: int
    suppressed: int

    @property
    def total(self) -> int:
        return (
            self.family_reminders
            + self.missed_refill_family
            + self.missed_refill_staff
            + self.alarm_alerts
            + self.eri_alerts
            + self.digests
            + self.other
        )


def caregivers(patient_id: int, patient_name: str) -> tuple[Recipient, ...]:
    """A simulated patient's caregiver contacts (email), with ids no other contact has."""
    return tuple(
        Recipient(
            contact_id=STAFF_CONTACT_ID + 1 + CAREGIVERS_PER_PATIENT * patient_id + k,
            name=f"Caregiver {k + 1} of {patient_name}",
            email=f"caregiver{k + 1}.patient{patient_id}@family.example",
            patient_id=patient_id,
        )
        for k in range(CAREGIVERS_PER_PATIENT)
    )


ON_CALL_STAFF = Recipient(STAFF_CONTACT_ID, "On-call staff", email="on-call@clinic.example", on_call=True, digest=True)


class OutboxCounter:
    """What the outbox would send: :func:`~itb.domain.reminders.plan`'s messages at each pass,
    stored once by ``Message.key`` (a set of keys, as ``uq_outbox_once``), sent when
    :func:`~itb.domain.reminders.delivery` lets them go (quiet hours, a contact's daily cap of
    non-urgent messages; urgent rules at once), put off otherwise, and suppressed when a later
    pass no longer plans them (as ``itb.clinic.usecases.notify``). Sending always succeeds.

    With :attr:`skip_stored` (the default), a booked visit whose current reminder window was
    planned at an earlier pass, and whose messages are not waiting, is left out of the facts:
    ``plan()`` makes each visit's messages from that visit alone, under keys naming it, so this
    only leaves out keys already stored (the count is the same, see the tests), and a run of the
    five-year benchmark does not render each reminder again at every pass of its window."""

    skip_stored = True

    def __init__(
        self,
        families: dict[int, tuple[Recipient, ...]],
        staff: tuple[Recipient, ...] = (ON_CALL_STAFF,),
        settings: NotifySettings = DEFAULT_NOTIFY,
    ) -> None:
        self.families = families
        self.staff = staff
        self.settings = settings
        self._staff_ids = frozenset(r.contact_id for r in staff)
        self.stored: set[Key] = set()
        #: stored, not sent yet: the message and when it may be tried (insertion order = the outbox's ids)
        self.waiting: dict[Key, tuple[Message, datetime]] = {}
        #: (rule, to staff) -> messages sent
        self.sent: Counter[tuple[Rule, bool]] = Counter()
        self.deferred: set[Key] = set()
        self.suppressed = 0
        self._day: date | None = None
        self._sent_today: Counter[int] = Counter()  # non-urgent messages sent to each contact on self._day
        #: each booked visit's reminder windows (by appointment and time), and those already planned
        self._windows: dict[tuple[int, datetime], list[tuple[str, datetime, datetime]]] = {}
        self._planned_windows: set[tuple[int, datetime, str]] = set()

    def _current_window(self, visit: Visit, now: datetime) -> str | None:
        windows = self._windows.get((visit.appointment_id, visit.at))
        if windows is None:
            windows = self._windows[(visit.appointment_id, visit.at)] = reminder_windows(visit, self.settings)
        return next((name for name, start, end in windows if start <= now < end), None)

    def _to_plan(self, visits: Sequence[Visit], now: datetime) -> list[Visit]:
        """The visits whose messages may not all be stored yet (see :attr:`skip_stored`)."""
        waiting = {m.appointment_id for m, _ in self.waiting.values() if m.rule == Rule.VISIT_REMINDER}
        out = []
        for v in visits:
            if v.status == "booked" and v.kind in self.settings.reminded_kinds and v.at >= now:
                name = self._current_window(v, now)
                if name is None:
                    continue  # no reminder of it is due now (and it cannot be missed yet)
                seen = (v.appointment_id, v.at, name)
                if seen in self._planned_windows and v.appointment_id not in waiting:
                    continue
                self._planned_windows.add(seen)
            out.append(v)
        return out

    def run_pass(
        self,
        now: datetime,
        visits: Sequence[Visit] = (),
        alerts: Sequence[Alert] = (),
        digest: Sequence[DigestLine] = (),
    ) -> int:
        """One pass at ``now``: plan, store what is new, suppress what is no longer planned, send
        what may go. Returns the number of messages sent in this pass."""
        if self.skip_stored:
            visits = self._to_plan(visits, now)
        facts = Facts(
            now=now,
            visits=tuple(visits),
            alerts=tuple(alerts),
            families=self.families,
            staff=self.staff,
            digest=tuple(digest),
            clinic_name=CLINIC_NAME,
        )
        planned = set()
        for msg in plan(facts, self.settings):
            key = msg.key
            planned.add(key)
            if key not in self.stored:
                self.stored.add(key)
                self.waiting[key] = (msg, now)
        for key in [k for k in self.waiting if k not in planned]:
            del self.waiting[key]
            self.suppressed += 1
        if not self.waiting:
            return 0
        if now.date() != self._day:
            self._day, self._sent_today = now.date(), Counter()
        urgent = self.settings.urgent_rules
        # The outbox sends urgent messages first, then in the order they were stored.
        order = sorted(self.waiting.items(), key=lambda kv: kv[1][0].rule not in urgent)
        sent = 0
        for key, (msg, not_before) in order:
            if not_before > now:
                continue
            staff = msg.contact_id in self._staff_ids
            when = delivery(msg.rule, now, self._sent_today[msg.contact_id], self.settings, staff=staff)
            if when.at is not None:
                self.waiting[key] = (msg, when.at)
                self.deferred.add(key)
                continue
            del self.waiting[key]
            if msg.rule not in urgent:
                self._sent_today[msg.contact_id] += 1
            self.sent[(msg.rule, staff)] += 1
            sent += 1
        return sent

    def waiting_alert_patients(self) -> set[int]:
        """Patients with a worklist alert stored but not sent yet (put off by quiet hours or the cap)."""
        rules = (Rule.ALARM_NO_REFILL, Rule.ERI_REACHED)
        return {m.patient_id for m, _ in self.waiting.values() if m.rule in rules and m.patient_id is not None}

    def counts(self) -> MessageCounts:
        sent = self.sent
        known = {
            (Rule.VISIT_REMINDER, False),
            (Rule.MISSED_REFILL, False),
            (Rule.MISSED_REFILL, True),
            (Rule.ALARM_NO_REFILL, True),
            (Rule.ERI_REACHED, True),
            (Rule.STAFF_DIGEST, True),
        }
        return MessageCounts(
            family_reminders=sent[(Rule.VISIT_REMINDER, False)],
            missed_refill_family=sent[(Rule.MISSED_REFILL, False)],
            missed_refill_staff=sent[(Rule.MISSED_REFILL, True)],
            alarm_alerts=sent[(Rule.ALARM_NO_REFILL, True)],
            eri_alerts=sent[(Rule.ERI_REACHED, True)],
            digests=sent[(Rule.STAFF_DIGEST, True)],
            other=sum(n for k, n in sent.items() if k not in known),
            deferred=len(self.deferred),
            suppressed=self.suppressed,
        )


__all__ = ["MessageCounts", "OutboxCounter", "caregivers"]
