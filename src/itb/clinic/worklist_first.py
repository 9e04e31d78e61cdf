"""The first items of the worklist, built from only the pumps that can be among them.

The page and ``GET /api/worklist?limit=N`` ask for the first items only: the pumps are read in the
list's order from an index (the earliest empty instant), a batch at a time, and only those are
built (with :func:`itb.clinic.worklist.situations`), so what they cost follows what they show, not
the size of the clinic. The result is always the whole list's first items (``Wanted.of``).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from itb.adapters.db import models as m
from itb.clinic.worklist import RECORD_STATUSES, only_ids, situations, worklist
from itb.domain.calibration import DEFAULT_FLOW, FlowSettings
from itb.domain.scheduling import BookingSettings
from itb.domain.worklist import Reason, Wanted, WorkItem, build_worklist, empty_within, settled

#: From this many items asked for on, the whole list of the pumps at risk costs less than batches.
WHOLE_LIST_FROM = 5_000
#: The first batch has this many pumps per item asked for (a third or more of them are at risk and
#: listed, the soonest empty most often); each next batch is twice the last.
PUMPS_PER_ITEM = 3
#: The first batch when all items of an urgency are asked for.
FIRST_BATCH = 500
#: A clinic (or a caregiver's view) of at most this many first batches of implanted pumps: the
#: batches would read most of them, and the whole list of the pumps at risk costs less.
SMALL_CLINIC_BATCHES = 4


def first_items(
    session: Session,
    now: datetime,
    settings: BookingSettings,
    wanted: Wanted,
    patient_ids: set[int] | None = None,
    flow: FlowSettings = DEFAULT_FLOW,
) -> list[WorkItem]:
    """``wanted.of(worklist(...))``, building only the pumps that can be among those items: the
    patients with an unreviewed report (few: an emergency report comes first), then the other
    implanted pumps in the list's order, soonest empty first, a batch at a time, until the items
    asked for are certain (:func:`itb.domain.worklist.settled`). With ``max_urgency`` the pumps
    empty later than it allows are read only if their record or passed alarm makes them urgent."""
    if wanted.reason and wanted.reason not in {str(r) for r in Reason}:
        return []
    if (wanted.limit is None and wanted.max_urgency is None) or (wanted.limit or 0) >= WHOLE_LIST_FROM:
        return wanted.of(worklist(session, now, settings, patient_ids, flow))
    db = session.connection()
    ids = _named(db, wanted.name, patient_ids)
    if ids is not None and not ids:
        return []
    since = now - timedelta(days=settings.missed_follow_up_days)

    def build(pumps: set[int], patients: set[int]) -> list[WorkItem]:
        if not patients:
            return []
        found = situations(session, now, patients, since, flow, (pumps, patients))
        return [i for i in build_worklist(found, now, settings) if wanted.keeps(i)]

    size = FIRST_BATCH if wanted.limit is None else math.ceil(PUMPS_PER_ITEM * wanted.limit)
    implanted = select(func.count()).select_from(m.Pump).where(m.Pump.status == "implanted")
    if (db.execute(only_ids(implanted, m.Pump.patient_id, ids, db)).scalar() or 0) <= SMALL_CLINIC_BATCHES * size:
        return wanted.of(worklist(session, now, settings, patient_ids, flow))
    reporters, pumps = _reported(db, ids)
    patients = set(reporters)  # built with the first batch
    items: list[WorkItem] = []
    for rows, unbuilt_from in _in_order(db, now, settings, wanted.max_urgency, ids, size):
        for pump, patient, _ in rows:
            if patient not in reporters:
                pumps.add(pump)
                patients.add(patient)
        items += build(pumps, patients)
        pumps, patients = set(), set()
        done = settled(items, now, unbuilt_from)
        if wanted.limit is not None and len(done) >= wanted.limit:
            return done[: wanted.limit]
    return wanted.of(settled(items, now, None))


def _reported(db: Connection, ids: set[int] | None) -> tuple[set[int], set[int]]:
    """The patients (of ``ids``) with an unreviewed symptom report, and their implanted pumps."""
    implanted = (m.Pump.patient_id == m.SymptomReport.patient_id) & (m.Pump.status == "implanted")
    unreviewed = (
        select(m.SymptomReport.patient_id, m.Pump.id)
        .outerjoin(m.Pump, implanted)
        .where(m.SymptomReport.reviewed_by.is_(None))
    )
    rows = db.execute(only_ids(unreviewed, m.SymptomReport.patient_id, ids, db)).all()
    return {patient for patient, _ in rows}, {pump for _, pump in rows if pump is not None}


def _named(db: Connection, name: str | None, patient_ids: set[int] | None) -> set[int] | None:
    """The patients (of ``patient_ids``) whose name contains ``name`` in any case (None: no name asked)."""
    if not name:
        return patient_ids
    rows = db.execute(only_ids(select(m.Patient.id, m.Patient.name), m.Patient.id, patient_ids, db))
    return {patient for patient, patient_name in rows if name.lower() in patient_name.lower()}


#: Later than any instant a pump is empty at.
_NEVER = datetime(9999, 12, 31)


def _in_order(
    db: Connection, now: datetime, settings: BookingSettings, max_urgency: int | None, ids: set[int] | None, size: int
) -> Iterator[tuple[list[Any], datetime | None]]:
    """The implanted pumps (of patients ``ids``) soonest empty first: batches of ``size`` or more,
    doubling, each with all the pumps tied with its last (its rows: pump, patient, instant), and
    the instant every pump not given yet is empty after. Last, the pumps with no empty instant (or,
    with ``max_urgency``, those empty later that may be urgent) and None: every pump is given."""
    earliest = m.PUMP_EARLIEST_EMPTY
    pumps = only_ids(
        select(m.Pump.id, m.Pump.patient_id, earliest).where(m.Pump.status == "implanted"), m.Pump.patient_id, ids, db
    )
    within = None if max_urgency is None else empty_within(max_urgency, settings)
    until = None if within is None else now + timedelta(days=within + 1)  # a day's slack: the rules decide
    after: datetime | None = None
    while True:
        batch = pumps.where(earliest.is_not(None))
        if after is not None:
            batch = batch.where(earliest > after)
        if until is not None:
            batch = batch.where(earliest <= until)
        # up to the size-th pump's instant, ties included (all that is left when fewer remain)
        last = batch.with_only_columns(earliest).order_by(earliest).offset(size - 1).limit(1).scalar_subquery()
        rows: list[Any] = list(db.execute(batch.where(earliest <= func.coalesce(last, _NEVER))))
        if len(rows) < size:
            break
        after = max(instant for _, _, instant in rows)
        yield rows, after
        size *= 2
    rest = earliest.is_(None) if until is None else (earliest.is_(None) | (earliest > until)) & _may_be_urgent(now)
    yield rows + list(db.execute(pumps.where(rest))), None


def _may_be_urgent(now: datetime) -> ColumnElement[bool]:
    """A pump whose record needs checking or whose alarm has passed (urgent whenever it is empty)."""
    changes = select(m.PumpChange.pump_id).where(
        m.PumpChange.status.in_(RECORD_STATUSES), m.PumpChange.reviewed_by.is_(None)
    )
    passed = now + timedelta(days=1)  # a day's slack: the rules decide
    return or_(
        m.Pump.regression_detail.is_not(None),
        m.Pump.id.in_(changes),
        m.Pump.low_reservoir_alarm_at <= passed,
        m.Pump.plausible_alarm_at <= passed,
    )
