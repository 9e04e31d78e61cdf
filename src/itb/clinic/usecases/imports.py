"""Importing an existing clinic (``shared/spec/clinic-import.md``): all rows or none.

Every row is judged first (:func:`itb.contracts.clinic_import.parse_clinic_csv`), then against
the record (a known patient whose names or birth date differ, a serial registered to another
patient, a patient with another pump implanted). Any error: nothing is stored and every error is
reported. Otherwise, in one transaction: the patients (matched by ``patient_ref``), their pumps
as **vendor-programmed** pumps (the clinic records what their programmer did and never sends them
a command), the programming session at ``session_at`` with its warnings, the booked refill and
the audit entries. A row already recorded (same patient, pump and session) is ``unchanged``.
A dry run judges everything the same way and stores nothing.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import StaleDataError

from itb.adapters.db import models as m
from itb.clinic.derived import earliest_alarm_at, last_reading_state, program_of
from itb.clinic.usecases.base import Actor, AuditBatch, require, row_json
from itb.clinic.usecases.dry_runs import transaction_or_dry_run
from itb.clinic.usecases.implants import PumpRegistration
from itb.clinic.usecases.refills import RefillUseCases
from itb.contracts.clinic_import import ImportRow, RowError, judge_pump_cells, parse_clinic_csv, program_cell
from itb.contracts.forecast import program_json
from itb.domain.forecast import ReservoirState, forecast_reservoir
from itb.domain.program import DosingProgram
from itb.domain.reading import estimate_reservoir_ml
from itb.domain.scheduling import refill_booking_date


class ImportInvalid(Exception):
    """The file (or the record) breaks the contract: every error, nothing stored."""

    def __init__(self, errors: list[RowError]) -> None:
        self.errors = errors
        super().__init__("; ".join(map(str, errors)))


@dataclass
class ImportReport:
    dry_run: bool
    created: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(("patients", "pumps", "sessions", "appointments"), 0)
    )
    unchanged: int = 0
    rows: list[dict[str, Any]] = field(default_factory=list)

    def json(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "created": self.created,
            "unchanged": self.unchanged,
            "rows": self.rows,
            "errors": [],
        }


def patient_ref(patient: m.Patient) -> str:
    """The clinic's reference; a patient registered in ITB without one is ``P<id>``."""
    return patient.patient_ref or f"P{patient.id}"


def _when(at: datetime | None) -> str | None:
    return None if at is None else at.replace(microsecond=0).isoformat()


class ImportUseCases(RefillUseCases):
    def import_clinic(self, actor: Actor, text: str, *, dry_run: bool = False) -> ImportReport:
        """Import the CSV ``text``; raises :class:`ImportInvalid` with every error, storing nothing."""
        require(actor, "admin", "clinician")
        rows, errors = parse_clinic_csv(text, self.clock().date(), self.config.limits)
        if errors:
            raise ImportInvalid(errors)
        report = ImportReport(dry_run)
        with transaction_or_dry_run(self, dry_run) as s:
            found: list[RowError] = []
            claimed: dict[int, list[str]] = {}
            for start in range(0, len(rows), _CHUNK):
                plans = self._judge_rows(s, rows[start : start + _CHUNK], claimed)
                found += [e for plan in plans for e in plan.errors]
                if not found:  # after an error nothing is stored: the rest is only judged
                    self._store_rows(s, actor, plans, report)
                s.flush()
                s.expunge_all()  # a chunk's records are written: keep the session's work per chunk, not per file
            if found:
                raise ImportInvalid(found)
        return report

    def register_vendor_pump(
        self, actor: Actor, patient_id: int, cells: dict[str, str], program: DosingProgram | None,
        acknowledged: tuple[str, ...] = (),
    ) -> m.Pump:  # fmt: skip
        """A pump programmed on the vendor's programmer, as it stood after its last session: the
        import's columns and rules for one pump of a patient already recorded (``cells``: the
        pump's columns as text, ``program`` already parsed). Errors name the column (raises
        :class:`ImportInvalid`); limits its program breaks are warnings, never refusals."""
        return self._register_vendor(actor, patient_id, cells, program, acknowledged, dry_run=False).pump

    def preview_vendor_pump(
        self, actor: Actor, patient_id: int, cells: dict[str, str], program: DosingProgram | None,
        acknowledged: tuple[str, ...] = (),
    ) -> PumpRegistration:  # fmt: skip
        """The dry run of :meth:`register_vendor_pump`: the same rules, record, warnings and booked
        refill, then undone (nothing stored, nothing audited)."""
        return self._register_vendor(actor, patient_id, cells, program, acknowledged, dry_run=True)

    def _register_vendor(
        self, actor: Actor, patient_id: int, cells: dict[str, str], program: DosingProgram | None,
        acknowledged: tuple[str, ...], dry_run: bool,
    ) -> PumpRegistration:  # fmt: skip
        require(actor, "admin", "clinician")
        with transaction_or_dry_run(self, dry_run) as s:
            patient = self.patient(s, actor, patient_id)
            given, _, family = patient.name.rpartition(" ")
            cells = {
                **cells, "patient_ref": patient_ref(patient), "family_name": family,
                "given_name": given or family, "birth_date": patient.birth_date.isoformat(), "origin": patient.origin,
            }  # fmt: skip
            row, errors = judge_pump_cells(cells, self.clock().date(), self.config.limits, program, acknowledged)
            if row is None:
                raise ImportInvalid(errors)
            errors = self._conflicts(s, row, patient)
            if errors:
                raise ImportInvalid(errors)
            pump = self._import_pump(s, actor, patient, row)
            session = m.PumpSession(
                pump_id=pump.id, at=row.values["session_at"], kind="registration", data=_session_data(row),
                warnings=row.warnings, by=actor.username,
            )  # fmt: skip
            self._add_audited(s, actor, "register_session", "pump", session, entity_id=pump.id)
            booked = self._import_booking(s, actor, pump, row.values["next_refill_on"])
        return PumpRegistration(
            pump, row.assessment, acknowledged, dry_run, refuses=False, warnings=row.warnings, session=session,
            booked=booked,
        )  # fmt: skip

    def review_session(self, actor: Actor, session_id: int) -> m.PumpSession:
        """A clinician has looked at a recorded session's warnings: they leave the worklist."""
        session: m.PumpSession = self._mark_reviewed(
            actor, m.PumpSession, session_id, "pump session", "review_session", "pump"
        )
        return session

    def _judge_rows(self, s: Session, rows: list[ImportRow], claimed: dict[int, list[str]]) -> list[_Plan]:
        """Each row against the record as it stood before the import (the rows of one file never
        touch each other's patient or pump: ``patient_ref`` and ``pump_serial`` are unique in it),
        read in a few queries for all ``rows``. ``claimed``: the serials of the pumps earlier rows
        add to a patient already recorded (``P1`` and ``P01`` are one patient)."""
        patients = self._patients_of(s, {row.values["patient_ref"] for row in rows})
        serials = {row.values["pump_serial"] for row in rows}
        pumps = {p.serial: p for p in s.scalars(select(m.Pump).where(m.Pump.serial.in_(serials)))}
        imported = self._import_sessions(s, [p.id for p in pumps.values()], [row.values["session_at"] for row in rows])
        plans = []
        for row in rows:
            v = row.values
            patient, pump = patients.get(v["patient_ref"]), pumps.get(v["pump_serial"])
            plan = _Plan(row, patient, pump, "new" if pump is None else "update")
            plans.append(plan)
            also = () if patient is None else claimed.get(patient.id, ())
            plan.errors = _conflicts(row, patient, pump, also)
            if plan.errors:
                plan.kind = "error"
            elif pump is not None and self._recorded(pump, row, (pump.id, v["session_at"]) in imported):
                plan.kind = "unchanged"
            elif pump is not None and (pump.connection != "vendor" or v["session_at"] <= pump.reading_at):
                since = pump.reading_at.isoformat(" ", "minutes")
                why = "ITB talks to this pump: its record comes from the pump" if pump.connection != "vendor" else (
                    f"the record holds a later session ({since}): record sessions on the pump, never overwritten"
                )  # fmt: skip
                plan.kind = "error"
                plan.errors = [
                    RowError(row.row, "session_at", f"differs from the record of {v['pump_serial']!r}: {why}")
                ]
            elif pump is None and patient is not None:
                claimed.setdefault(patient.id, []).append(v["pump_serial"])
        return plans

    def _store_rows(self, s: Session, actor: Actor, plans: list[_Plan], report: ImportReport) -> None:
        """The records of valid rows, in a few flushes for all of them; each row's audit entries as
        one after the other would give them (its patient, its pump or new state, its session, its
        booking), row after row."""
        todo = [p for p in plans if p.kind in ("new", "update")]
        for p in todo:
            v = p.row.values
            if p.patient is None:
                p.patient = m.Patient(
                    name=f"{v['given_name']} {v['family_name']}", patient_ref=v["patient_ref"],
                    birth_date=v["birth_date"], origin=v["origin"], phase="maintenance", created_at=self.clock(),
                )  # fmt: skip
                self._add_audited(s, actor, "import_patient", "patient", p.patient, batch=p.audit)
                report.created["patients"] += 1
        _taken(s, todo)  # the patients' ids
        for p in todo:
            if p.kind == "new":
                p.pump = self._vendor_pump(p.patient, p.row)  # type: ignore[arg-type]
                self._add_audited(s, actor, "import_pump", "pump", p.pump, batch=p.audit)
        _taken(s, todo)  # the pumps' ids, and each new pump as stored
        self._calibrate_new(s, [p.pump for p in todo if p.kind == "new" and p.pump is not None])
        for p in todo:
            pump, v = p.pump, p.row.values
            assert pump is not None
            if p.kind == "new":
                s.add(_first_version(actor, pump, p.row))
                report.created["pumps"] += 1
            else:
                self._import_session_state(s, actor, pump, p.row, batch=p.audit)
            session = m.PumpSession(
                pump_id=pump.id, at=v["session_at"], kind="import", data=_session_data(p.row),
                warnings=p.row.warnings, by=actor.username,
            )  # fmt: skip
            self._add_audited(s, actor, "import_session", "pump", session, entity_id=pump.id, batch=p.audit)
            report.created["sessions"] += 1
        _taken(s, todo)
        for p in todo:
            assert p.pump is not None
            p.booked = self._import_booking(s, actor, p.pump, p.row.values["next_refill_on"], batch=p.audit)
            report.created["appointments"] += 1
        self._audit_batched(s, [p.audit for p in todo])
        for p in plans:
            if p.kind == "unchanged":
                report.unchanged += 1
                self._report_row(report, p.row, p.patient, p.pump, "unchanged", None)
            elif p.kind != "error":
                status = "valid" if report.dry_run else "created"
                self._report_row(
                    report, p.row, p.patient, p.pump, status, None if p.booked is None else p.booked.at.date()
                )

    def _patients_of(self, s: Session, refs: set[str]) -> dict[str, m.Patient]:
        """The patients of those clinic references (with their pumps); ``P<id>`` is a patient ITB
        registered without one."""
        found = {
            p.patient_ref: p
            for p in s.scalars(
                select(m.Patient).where(m.Patient.patient_ref.in_(refs)).options(selectinload(m.Patient.pumps))
            )
        }
        own: dict[int, list[str]] = {}
        for ref in refs - found.keys():
            if match := re.fullmatch(r"P(\d{1,18})", ref):
                own.setdefault(int(match[1]), []).append(ref)
        if own:
            query = select(m.Patient).where(m.Patient.id.in_(own)).options(selectinload(m.Patient.pumps))
            for patient in s.scalars(query):
                if patient.patient_ref is None:
                    found.update(dict.fromkeys(own[patient.id], patient))
        return found  # type: ignore[return-value]

    def _import_sessions(self, s: Session, pump_ids: list[int], ats: list[datetime]) -> set[tuple[int, datetime]]:
        """(pump, instant) of the import sessions of those pumps at those instants."""
        if not pump_ids:
            return set()
        query = select(m.PumpSession.pump_id, m.PumpSession.at).where(
            m.PumpSession.pump_id.in_(pump_ids), m.PumpSession.kind == "import", m.PumpSession.at.in_(set(ats))
        )
        return {(pump_id, at) for pump_id, at in s.execute(query)}

    def _recorded(self, pump: m.Pump, row: ImportRow, imported: bool) -> bool:
        """The row is what the record already says: its import session (``imported``), or the same
        state at its ``session_at`` (an export of this clinic, imported again)."""
        v = row.values
        if imported:
            return True
        if v["session_at"] < pump.reading_at:
            return False
        program = program_of(pump)
        at_row = estimate_reservoir_ml(last_reading_state(pump), program, v["session_at"])
        return (
            math.isclose(at_row, v["reservoir_ml"], abs_tol=1e-6)
            and math.isclose(pump.concentration_mcg_per_ml, v["concentration_mcg_per_ml"])
            and math.isclose(pump.low_reservoir_alarm_ml, v["low_reservoir_alarm_ml"])
            and program_cell(program) == program_cell(row.program)
        )

    def _import_session_state(
        self, s: Session, actor: Actor, pump: m.Pump, row: ImportRow, batch: AuditBatch | None = None
    ) -> None:
        """A later session of a vendor pump already recorded: its state, as a recorded session's
        (its audit entry kept in ``batch`` when given)."""
        v = row.values
        if program_cell(row.program) != program_cell(program_of(pump)):
            self._new_program_version(s, actor, pump, row.program, v["session_at"])
        pump.low_reservoir_alarm_ml = v["low_reservoir_alarm_ml"]
        before = row_json(pump)
        self._new_state(s, pump, v["session_at"], v["reservoir_ml"], v["concentration_mcg_per_ml"], row.program)
        if batch is None:
            self._audit(s, actor, "import_state", "pump", pump.id, before=before, after=row_json(pump))
        else:
            batch.add(self.clock(), actor, "import_state", "pump", pump.id, before=before, after=row_json(pump))

    def _new_program_version(
        self, s: Session, actor: Actor, pump: m.Pump, program: DosingProgram, at: datetime
    ) -> None:
        """The program a vendor pump was set to, as the record's next version."""
        pump.program_version += 1
        s.add(m.ProgramVersion(pump_id=pump.id, version=pump.program_version, program=program_json(program),
                               daily_dose_mcg=program.daily_dose_mcg, at=at, by=actor.username))  # fmt: skip
        pump.last_program_change_at = at

    def _new_state(
        self, s: Session, pump: m.Pump, at: datetime, reservoir: float, conc: float, program: DosingProgram
    ) -> None:
        """The pump's last reading is now this session's state; its forecast and learned flow follow."""
        state = ReservoirState(
            at, pump.reservoir_capacity_ml, reservoir, conc, pump.low_reservoir_alarm_ml, pump.empty_ml
        )
        forecast = forecast_reservoir(state, program)
        pump.reading_at, pump.reading_reservoir_ml, pump.concentration_mcg_per_ml = at, reservoir, conc
        pump.program, pump.daily_dose_mcg = program_json(program), program.daily_dose_mcg
        pump.low_reservoir_alarm_at, pump.empty_at = forecast.low_reservoir_alarm_at, forecast.empty_at
        pump.last_interrogation_at = at
        self._calibrate(s, pump)

    def _conflicts(self, s: Session, row: ImportRow, patient: m.Patient | None) -> list[RowError]:
        """What the record forbids: never a silent overwrite of a patient, never a pump twice."""
        pump = s.execute(select(m.Pump).where(m.Pump.serial == row.values["pump_serial"])).scalar_one_or_none()
        return _conflicts(row, patient, pump)

    def _import_pump(self, s: Session, actor: Actor, patient: m.Patient, row: ImportRow) -> m.Pump:
        pump = self._vendor_pump(patient, row)
        self._add_audited(s, actor, "import_pump", "pump", pump)
        s.add(_first_version(actor, pump, row))
        self._calibrate(s, pump, refills=[])  # a new record: no refill yet
        return pump

    def _vendor_pump(self, patient: m.Patient, row: ImportRow) -> m.Pump:
        """The new record of the row's pump (not stored yet; ``patient`` is)."""
        v, f = row.values, row.forecast
        model = row.product.model
        tubing = model.internal_tubing_ml if model else 0.0
        per_cm = model.catheter_ml_per_cm if model else 0.0
        length = v["catheter_length_cm"] or (model.typical_catheter_length_cm if model else 0.0)
        pump = m.Pump(
            patient_id=patient.id, model=model.name if model else row.product.code, serial=v["pump_serial"],
            connection="vendor",
            reservoir_capacity_ml=v["reservoir_capacity_ml"], low_reservoir_alarm_ml=v["low_reservoir_alarm_ml"],
            implanted_at=datetime.combine(v["implanted_on"], datetime.min.time()), catheter_length_cm=length,
            catheter_volume_ml=tubing + length * per_cm, reading_at=v["session_at"],
            reading_reservoir_ml=v["reservoir_ml"],
            implant_fill_ml=v["reservoir_ml"], concentration_mcg_per_ml=v["concentration_mcg_per_ml"],
            program=program_json(row.program), daily_dose_mcg=row.program.daily_dose_mcg,
            last_refill_at=v["session_at"], low_reservoir_alarm_at=f.low_reservoir_alarm_at, empty_at=f.empty_at,
            titrating=False,
        )  # fmt: skip
        return pump

    def _calibrate_new(self, s: Session, pumps: list[m.Pump]) -> None:
        """The learned flow of new pumps (stored and audited as they were stored; no refill yet),
        written as the flush of each would write it (an update of its version), in one statement
        for all: the flush then has nothing left to write for them."""
        changed = []
        for pump in pumps:
            before = [getattr(pump, key) for key in _LEARNED]
            self._calibrate(s, pump, refills=[])
            if [getattr(pump, key) for key in _LEARNED] != before:
                changed.append(pump)
        if not changed:
            return
        statement = (
            update(m.Pump)
            .where(m.Pump.id == bindparam("_id"), m.Pump.version == bindparam("_version"))
            .values({key: bindparam(f"_{key}") for key in _LEARNED} | {"version": bindparam("_next")})
        )
        params = [
            {"_id": p.id, "_version": p.version, "_next": p.version + 1} | {f"_{k}": getattr(p, k) for k in _LEARNED}
            for p in changed
        ]
        result = s.connection().execute(statement, params)
        if result.rowcount != len(params):
            raise StaleDataError(f"{len(params)} new pumps to update, {result.rowcount} matched")
        for pump in changed:
            for key in _LEARNED:
                set_committed_value(pump, key, getattr(pump, key))
            set_committed_value(pump, "version", pump.version + 1)

    def _import_booking(
        self, s: Session, actor: Actor, pump: m.Pump, day: date | None, batch: AuditBatch | None = None
    ) -> m.Appointment:
        """``next_refill_on`` as given, else the clinic's rule from the earliest plausible alarm (a new
        pump has no booking to replace)."""
        if day is not None:
            note = "booked before the import (next_refill_on)"
            return self._add_booking(s, actor, pump, "refill", day, note, batch=batch)
        now = self.clock()
        alarm = earliest_alarm_at(pump)
        booking = self.config.booking
        day = refill_booking_date(now.date(), pump.reading_at.date(), alarm, self.config.calendar, booking)
        return self._add_booking(
            s, actor, pump, "refill", day, "booked by the clinic's rule at the import", batch=batch
        )

    def _report_row(
        self, report: ImportReport, row: ImportRow, patient: m.Patient | None, pump: m.Pump | None, status: str,
        next_refill: date | None,
    ) -> None:  # fmt: skip
        v, f = row.values, row.forecast
        dry = report.dry_run
        report.rows.append(
            {
                "row": row.row, "patient_ref": v["patient_ref"], "pump_serial": v["pump_serial"],
                "patient_id": None if dry or patient is None else patient.id,
                "pump_id": None if dry or pump is None else pump.id, "status": status,
                "daily_dose_mcg": f.daily_dose_mcg, "daily_volume_ml": f.daily_volume_ml,
                "low_reservoir_alarm_at": _when(f.low_reservoir_alarm_at), "empty_at": _when(f.empty_at),
                "next_refill_on": None if next_refill is None else next_refill.isoformat(), "warnings": row.warnings,
            }
        )  # fmt: skip


#: Rows judged and stored together: each query reads (and each flush writes) this many at once.
_CHUNK = 500


@dataclass
class _Plan:
    """A row as judged against the record: ``kind`` is new, update (a later session of a vendor
    pump), unchanged or error (``errors``); the records it has, and the audit entries it makes."""

    row: ImportRow
    patient: m.Patient | None
    pump: m.Pump | None
    kind: str
    errors: list[RowError] = field(default_factory=list)
    booked: m.Appointment | None = None
    audit: AuditBatch = field(default_factory=AuditBatch)


#: The columns of a pump's learned flow (:meth:`itb.clinic.usecases.pumps.PumpUseCases._calibrate`).
_LEARNED = ("flow_ratio", "flow_ratio_sd", "flow_refills", "plausible_alarm_at", "plausible_empty_at")


def _first_version(actor: Actor, pump: m.Pump, row: ImportRow) -> m.ProgramVersion:
    """A new pump's program as the record's first version."""
    return m.ProgramVersion(
        pump_id=pump.id, version=1, program=pump.program, daily_dose_mcg=pump.daily_dose_mcg,
        at=row.values["session_at"], by=actor.username,
    )  # fmt: skip


def _taken(s: Session, plans: list[_Plan]) -> None:
    """Flush, and take the audit entries of the records just stored as they stand."""
    s.flush()
    for plan in plans:
        plan.audit.taken()


def _conflicts(
    row: ImportRow, patient: m.Patient | None, pump: m.Pump | None, also_implanted: Iterable[str] = ()
) -> list[RowError]:
    """What the record forbids: never a silent overwrite of a patient, never a pump twice. ``pump``:
    the pump of the row's serial, if recorded; ``also_implanted``: serials of pumps this import adds
    to the patient."""
    v, n = row.values, row.row
    errs = []
    ref = v["patient_ref"]
    given, family = v["given_name"], v["family_name"]
    if patient is not None and patient.name not in (f"{given} {family}", family if given == family else None):
        errs.append(RowError(n, "family_name", f"patient {ref!r} is recorded as {patient.name!r}: never overwritten"))
    if patient is not None and patient.birth_date != v["birth_date"]:
        born = patient.birth_date.isoformat()
        errs.append(RowError(n, "birth_date", f"patient {ref!r} is recorded as born {born}: never overwritten"))
    if pump is not None and (patient is None or pump.patient_id != patient.id):
        errs.append(RowError(n, "pump_serial", f"{v['pump_serial']!r} is registered to another patient"))
    if patient is not None:
        implanted = [other.serial for other in patient.pumps if other.status == "implanted"]
        for serial in dict.fromkeys([*implanted, *also_implanted]):  # once each: one may be both
            if serial != v["pump_serial"]:
                errs.append(RowError(n, "pump_serial", f"the patient has pump {serial!r} implanted: retire it first"))
    return errs


def _session_data(row: ImportRow) -> dict[str, Any]:
    """The session as the file gave it (dates as text), for the record."""
    return {
        k: (x.isoformat() if isinstance(x, date | datetime) else x)
        for k, x in row.values.items()
        if k not in ("program",)
    } | {"program": program_json(row.program)}


__all__ = ["ImportInvalid", "ImportReport", "ImportUseCases", "patient_ref"]
