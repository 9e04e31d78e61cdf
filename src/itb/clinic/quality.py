"""The clinic quality report's reads: the records of a date range, in seven queries whatever their
number (the refills and the appointments of the range, and before it each pump's last refill and
the refill bookings since it, grouped by pump), handed to :mod:`itb.domain.quality`.

The staff's (a caregiver finds no such report: "not found"). The range is whole days, ``first``
to ``last`` inclusive, at most :data:`MAX_RANGE_DAYS`; the report's instant (for overdue visits)
is the clinic's clock.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from itb.adapters.db import models as m
from itb.clinic.usecases.base import Actor, ClinicBase, NotFound
from itb.contracts.bounds import event_violation
from itb.domain import quality as q
from itb.domain.errors import InvalidInput, Violation

#: the longest range one report covers: ten years (a pump's life and more), 120 months
MAX_RANGE_DAYS = 3653
STAFF = ("admin", "clinician", "nurse")


def range_errors(first: date, last: date, today: date) -> list[Violation]:
    """Both days within the record's window around today (``itb.contracts.bounds``), ``to`` not
    before ``from``, at most :data:`MAX_RANGE_DAYS` apart."""
    errs = [v for v in (event_violation("from", first, today), event_violation("to", last, today)) if v]
    if errs:
        return errs
    if last < first:
        return [Violation("to", f"must be on or after from ({first.isoformat()})")]
    earliest = last - timedelta(days=MAX_RANGE_DAYS - 1)
    if first < earliest:
        return [Violation("from", f"must be on or after {earliest.isoformat()}: a report covers at most ten years")]
    return []


def settings_of(clinic: ClinicBase) -> q.QualitySettings:
    """The report's settings with the clinic's own refill threshold and ERI warning."""
    config = clinic.config
    return replace(q.DEFAULT_QUALITY, refill=config.refill, eri_replacement_days=float(config.booking.eri_warning_days))


def _in_range(start: datetime, end: datetime, gap: timedelta) -> Any:
    """The pumps implanted at some time of the range, and those explanted shortly before it (replaced in it)."""
    return (m.Pump.implanted_at < end) & or_(m.Pump.explanted_at.is_(None), m.Pump.explanted_at >= start - gap)


def _pumps(s: Session, start: datetime, end: datetime, gap: timedelta) -> list[q.PumpFacts]:
    rows = s.execute(select(m.Pump).where(_in_range(start, end, gap))).scalars()
    return [
        q.PumpFacts(
            p.id, p.patient_id, p.implanted_at, p.explanted_at, p.reservoir_capacity_ml, p.low_reservoir_alarm_ml,
            p.empty_ml, p.eri_at, p.eri_reached,
        )
        for p in rows
    ]  # fmt: skip


def _last_before(start: datetime) -> Any:
    """Each pump's last refill before ``start`` (grouped): the previous refill of its first in the range."""
    return (
        select(m.Refill.pump_id, func.max(m.Refill.at).label("at"))
        .where(m.Refill.at < start)
        .group_by(m.Refill.pump_id)
        .subquery()
    )


def _refills(s: Session, start: datetime, end: datetime) -> list[q.RefillFacts]:
    """The refills of the range, and each pump's last one before it."""
    r = m.Refill
    columns = (r.id, r.pump_id, r.at, r.expected_ml, r.withdrawn_ml, r.reviewed_by.is_not(None))
    inside = s.execute(select(*columns).where(r.at >= start, r.at < end)).all()
    last = _last_before(start)
    before = s.execute(select(*columns).join(last, (r.pump_id == last.c.pump_id) & (r.at == last.c.at))).all()
    return [q.RefillFacts(x[0], x[1], x[2], x[3], x[4], bool(x[5])) for x in [*before, *inside]]


_VISIT = (m.Appointment.id, m.Appointment.patient_id, m.Appointment.pump_id, m.Appointment.kind,
          m.Appointment.status, m.Appointment.at)  # fmt: skip


def _visits(s: Session, start: datetime, end: datetime, gap: timedelta) -> list[q.VisitFacts]:
    """Every appointment of the range, and the refill bookings before it that a refill of the range
    may have kept: of each pump (or its patient, no pump named), since the pump's last refill before
    the range (or its implant)."""
    a = m.Appointment
    inside = s.execute(select(*_VISIT).where(a.at >= start, a.at < end)).all()
    last = _last_before(start)
    since = (
        select(m.Pump.id, m.Pump.patient_id, func.coalesce(last.c.at, m.Pump.implanted_at).label("since"))
        .outerjoin(last, last.c.pump_id == m.Pump.id)
        .where(_in_range(start, end, gap))
        .subquery()
    )
    of_pump = (a.pump_id == since.c.id) | (a.pump_id.is_(None) & (a.patient_id == since.c.patient_id))
    earlier = s.execute(
        select(*_VISIT).distinct().join(since, of_pump).where(a.kind == "refill", a.at < start, a.at >= since.c.since)
    ).all()
    return [q.VisitFacts(*v) for v in [*earlier, *inside]]


def _complications(s: Session, start: datetime, end: datetime) -> list[q.ComplicationFacts]:
    """The range's complications, and those recorded against its refills (their discrepancies' causes)."""
    c = m.Complication
    refills = select(m.Refill.id).where(m.Refill.at >= start, m.Refill.at < end)
    query = select(c.id, c.patient_id, c.kind, c.at, c.refill_id).where(
        or_((c.at >= start) & (c.at < end), c.refill_id.in_(refills))
    )
    return [q.ComplicationFacts(*r) for r in s.execute(query).all()]


def _triage(s: Session, start: datetime, end: datetime) -> list[q.TriageFacts]:
    r = m.SymptomReport
    query = select(r.at, r.urgency).where(r.at >= start, r.at < end)
    return [q.TriageFacts(*row) for row in s.execute(query).all()]


def read_records(s: Session, first: date, last: date, settings: q.QualitySettings) -> q.Records:
    """The records the report of ``first`` to ``last`` needs, in seven queries whatever their number."""
    start, end = datetime.combine(first, time.min), datetime.combine(last + timedelta(days=1), time.min)
    gap = timedelta(days=settings.replacement_gap_days)
    return q.Records(
        _pumps(s, start, end, gap), _refills(s, start, end), _visits(s, start, end, gap),
        _complications(s, start, end), _triage(s, start, end),
    )  # fmt: skip


def quality_report(clinic: ClinicBase, actor: Actor, first: date, last: date, grouping: q.Grouping) -> list[q.Figures]:
    """Each month's or quarter's figures from ``first`` to ``last``, then the whole range's ("total")."""
    if actor.role not in STAFF:
        raise NotFound("report not found")
    errs = range_errors(first, last, clinic.clock().date())
    if errs:
        raise InvalidInput(errs)
    settings = settings_of(clinic)
    with clinic.sessions() as s:
        records = read_records(s, first, last, settings)
    return q.report(first, last, grouping, records, clinic.clock(), settings)


__all__ = ["MAX_RANGE_DAYS", "quality_report", "range_errors", "read_records", "settings_of"]
