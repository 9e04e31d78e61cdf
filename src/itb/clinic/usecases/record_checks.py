"""Record checks: a clinician settles what the record and its pump disagree on.

A pump whose state went backwards is believed again only when a clinician has checked it and says
so; a change found in the pump's log with no record stays on the worklist until a clinician says
what it was. Both are audited with the clinician's note.
"""

from __future__ import annotations

from sqlalchemy import select

from itb.adapters.db import models as m
from itb.clinic.ports import ChangeStatus
from itb.clinic.usecases.base import Actor, Conflict, NotFound, require, row_json
from itb.clinic.usecases.pumps import PumpUseCases, check_text
from itb.contracts import bounds
from itb.domain.errors import InvalidInput, Violation

#: Longest note kept with a clinician's check.
NOTE_MAX = bounds.NOTE_MAX


def required_note(note: str, what: str) -> str:
    """The clinician's note, stripped; InvalidInput naming ``note`` when it is empty or not text."""
    errs = check_text("note", note, NOTE_MAX, multiline=True)
    if not note.strip():
        errs.append(Violation("note", what))
    if errs:
        raise InvalidInput(errs)
    return note.strip()


class RecordCheckUseCases(PumpUseCases):
    def resolve_regression(self, actor: Actor, pump_id: int, *, expected_version: int, note: str) -> m.Pump:
        """A clinician accepts the pump's state as it is now, after checking what went backwards.

        The events the clinic had stored beyond the pump's log are removed from the events table
        (they stay in full in the audit entry), so the pump's next events can be stored.
        """
        require(actor, "admin", "clinician")
        note = required_note(note, "say what was checked and why the pump's state is accepted")
        with self._holding(pump_id):
            with self.sessions() as s:
                pump = self.pump(s, actor, pump_id, expected_version)
                if pump.regressed_at is None:
                    raise Conflict(f"pump {pump_id}: its state has not gone backwards, there is nothing to resolve")
            with self.gateway.connect(pump_id) as connection:
                reading = self._read(connection)
            with self.transaction() as s:
                pump = self.pump(s, actor, pump_id, expected_version)
                before = row_json(pump)
                dropped = list(
                    s.execute(
                        select(m.PumpEvent).where(m.PumpEvent.pump_id == pump_id, m.PumpEvent.seq > reading.log_size)
                    ).scalars()
                )
                removed = [row_json(e) for e in dropped]
                for e in dropped:
                    s.delete(e)
                pump.regressed_at = pump.regression_detail = None
                pump.log_seen = reading.log_size
                pump.program_version = min(pump.program_version, reading.program_version)
                s.flush()
                after = {**row_json(pump), "note": note, "events_removed": removed}
                self._audit(s, actor, "resolve_regression", "pump", pump.id, before=before, after=after)
            self._settle(actor, pump_id, reading, {}, None)
        return self._fresh(pump_id)

    def review_unrecorded_change(self, actor: Actor, change_id: int, note: str) -> m.PumpChange:
        """A clinician has looked into a change found in the pump's log with no record, and says what it was."""
        require(actor, "admin", "clinician")
        note = required_note(note, "say what the change was and what was done about it")
        with self.transaction() as s:
            change = s.get(m.PumpChange, change_id)
            if change is None:
                raise NotFound(f"pump change {change_id}: not found")
            self.pump(s, actor, change.pump_id)
            if change.status != ChangeStatus.UNRECORDED.value or change.reviewed_by is not None:
                raise Conflict(f"pump change {change_id} is not an unrecorded change waiting for review")
            before = row_json(change)
            change.reviewed_by = actor.username
            change.detail = f"{change.detail} Reviewed: {note}"
            self._audit(
                s, actor, "review_unrecorded_change", "pump", change.pump_id, before=before, after=row_json(change)
            )
            return change
