"""One pass of the outbox: decide what is due, store it once, send what may go, record what became of it.

1. **Plan** (``itb.domain.reminders.plan``) from the facts as they are now: the visits ahead and
   just missed, the worklist's alerts, the unreviewed emergency reports, the contacts.
2. **Queue**: each message due is inserted under its key (rule, event, contact, channel) *if it
   is not there yet* (``uq_outbox_once``, an insert that does nothing on conflict): a rerun, a
   restart or a second server process never queues it twice. A message still waiting that is no
   longer in the plan (the visit was moved, the report reviewed, the contact opted out, its
   window passed) is suppressed, never sent late.
3. **Send**: each message due is claimed (``sending``, until ``claimed_until``) in a transaction
   of its own, then sent, then recorded ``sent``, or ``pending`` again with its error and the next
   attempt (backoff), or ``failed`` when the attempts allowed are spent. Quiet hours and the
   contact's daily cap move a message's next attempt (emergencies go at once).

One pass runs at a time across every server process (a database lock). A crash between a
server taking a message and its record leaves it ``sending``; it is claimed again after the
claim's time and sent again under the same ``Message-ID``, so the receiver can tell: that instant
is the only way a message goes twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from itb.adapters.db import models as m
from itb.clinic.calendar_file import ics_calendar
from itb.clinic.ports import Busy, Outgoing, Sender, SendFailed
from itb.clinic.usecases.base import Actor, ClinicBase, require
from itb.clinic.usecases.calendar import FeedVisit
from itb.clinic.worklist import worklist
from itb.domain.reminders import (
    Alert,
    Channel,
    DigestLine,
    Facts,
    Message,
    NotifySettings,
    Recipient,
    Rule,
    Visit,
    delivery,
    plan,
    retry_at,
    visit_horizon,
    worklist_alerts,
)
from itb.domain.worklist import WorkItem

#: the lock that lets one pass run at a time (a pump lock's key no pump has: pump ids are positive)
PASS_LOCK = -15
#: an unreviewed report triaged at this urgency is an emergency (itb.domain.triage.Urgency.EMERGENCY)
EMERGENCY_URGENCY = 2
_WAITING = ("pending", "sending")


@dataclass
class NotifyReport:
    """What one pass did (or, dry, would do)."""

    at: datetime
    dry_run: bool = False
    busy: bool = False
    queued: list[dict[str, Any]] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    deferred: list[dict[str, Any]] = field(default_factory=list)
    suppressed: list[dict[str, Any]] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {k: len(getattr(self, k)) for k in ("queued", "sent", "failed", "deferred", "suppressed")}


def _brief(msg: Message | m.OutboxMessage, **more: Any) -> dict[str, Any]:
    return {"rule": str(msg.rule), "event": msg.event, "contact_id": msg.contact_id, "channel": str(msg.channel),
            "address": msg.address, "subject": msg.subject, **more}  # fmt: skip


class NotifyUseCases(ClinicBase):
    def notify_run(
        self, actor: Actor, *, dry_run: bool = False, retry_now: bool = False,
        senders: Mapping[str, Sender] | None = None,
    ) -> NotifyReport:  # fmt: skip
        """One pass (an admin's, or the server's own): see the module's text. ``retry_now``: the
        messages that failed are tried now, not at their next attempt (a channel was repaired),
        and those given up are tried once more, if still due. ``senders``: the channels to use
        (default: the clinic's, as configured now)."""
        require(actor, "admin")
        report = NotifyReport(at=self.clock(), dry_run=dry_run)
        try:
            with self.locks.hold(PASS_LOCK, wait_s=0):
                due = plan(self._facts(report.at), self.config.notify)
                if dry_run:
                    self._preview(due, report)
                else:
                    self._queue(due, report, retry_now)
                    self._send_due(self.senders() if senders is None else senders, report)
        except Busy:
            report.busy = True
        return report

    # ------------------------------------------------------------------ the facts
    def _facts(self, now: datetime) -> Facts:
        contacts = self.settings_cache.current().contacts
        settings = self.config.notify
        with self.sessions() as s:
            live = s.execute(select(m.Contact).where(m.Contact.removed_at.is_(None))).scalars()
            people = [_recipient(c) for c in live]
            families: dict[int, tuple[Recipient, ...]] = {}
            for r in people:
                if r.patient_id is not None:
                    families[r.patient_id] = (*families.get(r.patient_id, ()), r)
            items = worklist(s, now, self.config.booking, flow=self.config.flow)
            return Facts(
                now=now, visits=tuple(_visits(s, now, settings)), alerts=tuple(self._alerts(s, items)),
                families=families, staff=tuple(r for r in people if r.patient_id is None),
                digest=tuple(DigestLine(i.patient_name, i.urgency, " ".join(i.details)) for i in items
                             if i.urgency < 2),
                day_phone=contacts.day_phone, after_hours_phone=contacts.after_hours_phone, clinic_name=contacts.name,
            )  # fmt: skip

    def _alerts(self, s: Session, items: list[WorkItem]) -> list[Alert]:
        margin = self.config.booking.refill_margin_days
        pumps = {i.pump_id for i in items if i.pump_id is not None}
        p = m.Pump
        rows = s.execute(select(p.id, p.last_refill_at, p.implanted_at, p.reading_at).where(p.id.in_(pumps)))
        cycles = {pid: (last_refill or implanted, reading) for pid, last_refill, implanted, reading in rows}
        out: list[Alert] = []
        for item in items:
            if item.pump_id is not None:
                fill, reading = cycles[item.pump_id]
                out += worklist_alerts(item, margin, fill, reading)
        reports = s.execute(
            select(m.SymptomReport, m.Patient.name)
            .join(m.Patient, m.Patient.id == m.SymptomReport.patient_id)
            .where(m.SymptomReport.urgency == EMERGENCY_URGENCY, m.SymptomReport.reviewed_by.is_(None))
        )
        for report, name in reports:
            note = f" ({report.note})" if report.note else ""
            detail = f"reported {_iso(report.at)}: {', '.join(report.symptoms)}{note}"
            out.append(Alert(Rule.EMERGENCY_REPORT, f"symptom_report:{report.id}", report.patient_id, name, detail))
        return out

    # ------------------------------------------------------------------ queue
    def _preview(self, due: list[Message], report: NotifyReport) -> None:
        """What a pass would do now: the new messages, and of those and the waiting ones due, which
        would go and which would wait (quiet hours, the daily cap)."""
        now, settings = report.at, self.config.notify
        with self.sessions() as s:
            have = _stored_keys(s, due)
            new = [msg for msg in due if msg.key not in have]
            report.queued = [_brief(msg) for msg in new]
            o = m.OutboxMessage
            waiting = s.execute(select(o).where(o.status.in_(_WAITING), o.next_attempt_at <= now)).scalars()
            candidates = [(Rule(r.rule), r.contact_id, _brief(r, id=r.id)) for r in waiting]
            candidates += [(msg.rule, msg.contact_id, _brief(msg)) for msg in new]
            staff = set(s.execute(select(m.Contact.id).where(m.Contact.patient_id.is_(None))).scalars())
            counts: dict[int, int] = {}
            for rule, contact_id, brief in candidates:
                sent = counts.setdefault(contact_id, _sent_today(s, contact_id, now))
                when = delivery(rule, now, sent, settings, staff=contact_id in staff)
                if when.at is None:
                    counts[contact_id] += rule not in settings.urgent_rules
                    report.sent.append(brief)  # would be sent now
                else:
                    report.deferred.append({**brief, "until": when.at.isoformat(), "reason": when.reason})

    def _queue(self, due: list[Message], report: NotifyReport, retry_now: bool = False) -> None:
        now, keys = report.at, {msg.key for msg in due}
        with self.transaction() as s:
            if retry_now:
                o = m.OutboxMessage
                again = (o.status == "failed") | (o.status == "pending") & o.last_error.is_not(None)
                s.execute(update(o).where(again).values(status="pending", next_attempt_at=now))
            have = _stored_keys(s, due)
            for msg in due:
                if msg.key in have:
                    continue
                stored = cast(CursorResult[Any], s.execute(_insert_once(s, self._row(s, msg, now)))).rowcount
                if stored:
                    report.queued.append(_brief(msg))
            waiting = s.execute(select(m.OutboxMessage).where(m.OutboxMessage.status == "pending")).scalars()
            for row in waiting:
                if (row.rule, row.event, row.contact_id, row.channel) not in keys:
                    row.status, row.detail = "suppressed", "no longer due when it could be sent"
                    report.suppressed.append(_brief(row, id=row.id))

    def _row(self, s: Session, msg: Message, now: datetime) -> dict[str, Any]:
        ics = None
        if msg.appointment_id is not None:
            visit = s.get(m.Appointment, msg.appointment_id)
            patient = s.get(m.Patient, msg.patient_id)
            assert visit is not None and patient is not None
            feed = [FeedVisit(visit.id, visit.kind, visit.status, visit.at)]
            ics = ics_calendar(patient.name, self.config.time_zone, feed, now).decode("utf-8")
        return {
            "rule": str(msg.rule), "event": msg.event, "contact_id": msg.contact_id, "channel": str(msg.channel),
            "address": msg.address, "patient_id": msg.patient_id, "appointment_id": msg.appointment_id,
            "subject": msg.subject[:300], "body": msg.body, "ics": ics,
            "urgent": msg.rule in self.config.notify.urgent_rules, "status": "pending", "attempts": 0,
            "next_attempt_at": now, "created_at": now,
        }  # fmt: skip

    # ------------------------------------------------------------------ send
    def _send_due(self, senders: Mapping[str, Sender], report: NotifyReport) -> None:
        now = report.at
        with self.sessions() as s:
            ids = list(
                s.execute(
                    select(m.OutboxMessage.id)
                    .where(
                        (m.OutboxMessage.status == "pending") & (m.OutboxMessage.next_attempt_at <= now)
                        | (m.OutboxMessage.status == "sending") & (m.OutboxMessage.claimed_until < now)
                    )
                    .order_by(m.OutboxMessage.urgent.desc(), m.OutboxMessage.id)
                ).scalars()
            )
        for outbox_id in ids:
            outgoing = self._claim(outbox_id, report)
            if outgoing is not None:
                self._deliver(outbox_id, outgoing, senders, report)

    def _claim(self, outbox_id: int, report: NotifyReport) -> Outgoing | None:
        """The message, claimed for this pass (None: deferred, or claimed by another meanwhile)."""
        now, settings = report.at, self.config.notify
        with self.transaction() as s:
            row = s.get(m.OutboxMessage, outbox_id)
            if row is None or row.status not in _WAITING:
                return None
            if row.status == "sending" and row.claimed_until is not None and row.claimed_until >= now:
                return None  # another pass holds it
            contact = s.get(m.Contact, row.contact_id)
            staff = contact is not None and contact.patient_id is None
            when = delivery(Rule(row.rule), now, _sent_today(s, row.contact_id, now), settings, staff=staff)
            if when.at is not None:
                row.status, row.next_attempt_at, row.detail = "pending", when.at, when.reason
                report.deferred.append(_brief(row, id=row.id, until=when.at.isoformat(), reason=when.reason))
                return None
            claimed = cast(CursorResult[Any], s.execute(
                update(m.OutboxMessage)
                .where(m.OutboxMessage.id == outbox_id, m.OutboxMessage.status == row.status,
                       m.OutboxMessage.attempts == row.attempts)
                .values(status="sending", claimed_until=now + settings.claim_timeout, attempts=row.attempts + 1)
            )).rowcount  # fmt: skip
            if claimed != 1:
                return None
            return Outgoing(
                message_id=f"<itb-outbox-{row.id}@itb>", channel=row.channel, address=row.address,
                recipient_name=contact.name if contact else "", subject=row.subject, body=row.body, rule=row.rule,
                event=row.event, ics=row.ics.encode("utf-8") if row.ics else None,
            )  # fmt: skip

    def _deliver(self, outbox_id: int, outgoing: Outgoing, senders: Mapping[str, Sender], report: NotifyReport) -> None:
        error = None
        try:
            sender = senders.get(outgoing.channel)
            if sender is None:
                raise SendFailed(f"no {outgoing.channel} channel is configured")
            sender.send(outgoing)
        except SendFailed as failed:
            error = str(failed)[:500] or type(failed).__name__
        except Exception as bug:  # a channel's own bug: the message is kept, with the bug's words
            error = f"the {outgoing.channel} channel failed: {type(bug).__name__}: {bug}"[:500]
        now = self.clock()
        with self.transaction() as s:
            row = s.get(m.OutboxMessage, outbox_id)
            assert row is not None
            row.claimed_until = None
            if error is None:
                row.status, row.sent_at, row.last_error = "sent", now, None
                report.sent.append(_brief(row, id=row.id))
                return
            again = retry_at(now, row.attempts, self.config.notify)
            row.last_error = error
            row.status, row.next_attempt_at = ("failed", row.next_attempt_at) if again is None else ("pending", again)
            report.failed.append(_brief(row, id=row.id, error=error, retry_at=again.isoformat() if again else None))


# ---------------------------------------------------------------------------- helpers
def _iso(at: datetime | None) -> str:
    return "none" if at is None else at.isoformat(timespec="minutes")


def _alert(rule: Rule, event: str, item: WorkItem, detail: str) -> Alert:
    return Alert(rule, event, item.patient_id, item.patient_name, detail)


def _recipient(c: m.Contact) -> Recipient:
    return Recipient(
        contact_id=c.id, name=c.name, email=c.email, phone=c.phone,
        channels=tuple(Channel(x) for x in c.channels if x in Channel.__members__.values()), language=c.language,
        opted_out=c.opted_out, patient_id=c.patient_id, on_call=c.on_call, digest=c.digest, relation=c.relation,
    )  # fmt: skip


def _visits(s: Session, now: datetime, settings: NotifySettings) -> list[Visit]:
    """Visits that may be reminded of (booked, ahead) or missed (just passed)."""
    behind, ahead = visit_horizon(now, settings)
    rows = s.execute(
        select(m.Appointment, m.Patient.name)
        .join(m.Patient, m.Patient.id == m.Appointment.patient_id)
        .where(m.Appointment.status.in_(("booked", "missed")), m.Appointment.at >= behind, m.Appointment.at <= ahead)
        .order_by(m.Appointment.at, m.Appointment.id)
    )
    return [Visit(a.id, a.patient_id, name, a.kind, a.at, a.status) for a, name in rows]


def _stored_keys(s: Session, due: list[Message]) -> set[tuple[str, str, int, str]]:
    events = {msg.event for msg in due}
    if not events:
        return set()
    o = m.OutboxMessage
    rows = s.execute(select(o.rule, o.event, o.contact_id, o.channel).where(o.event.in_(events)))
    return {(r, e, c, ch) for r, e, c, ch in rows}


def _insert_once(s: Session, values: dict[str, Any]) -> Any:
    """An insert that does nothing when the message is stored already (by another pass)."""
    dialect = postgresql if s.get_bind().dialect.name == "postgresql" else sqlite
    return (
        dialect.insert(m.OutboxMessage)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["rule", "event", "contact_id", "channel"])
    )


def _sent_today(s: Session, contact_id: int, now: datetime) -> int:
    """Messages (emergencies apart) the contact was sent today."""
    start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    o = m.OutboxMessage
    query = select(func.count()).where(
        o.contact_id == contact_id, o.status == "sent", o.sent_at >= start, o.urgent.is_(False)
    )
    return int(s.execute(query).scalar_one())


__all__ = ["EMERGENCY_URGENCY", "PASS_LOCK", "NotifyReport", "NotifyUseCases"]
