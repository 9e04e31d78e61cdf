"""Patients brought in from the hospital's list (its FHIR Patient resources): all or none.

A patient is matched by the clinic's identifier (``patient_ref``): one already in the record is
left as it is (a name or birth date that differs is a warning, for a person to correct), one not
yet in it is registered as the registration form would (the same rules, audited as
``register_patient``). Every row is judged before anything is stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import select

from itb.adapters.db import models as m
from itb.clinic.usecases.base import Actor, ClinicBase, require
from itb.contracts.bounds import NAME_MAX, birth_date_violation, text_violation
from itb.domain.errors import InvalidInput, Violation
from itb.domain.limits import Origin

#: the longest clinic identifier (the column's size)
PATIENT_REF_MAX = 64


@dataclass(frozen=True)
class PatientRow:
    """One patient as the hospital's list gives them (``where``: the place in the input, for errors)."""

    where: str
    patient_ref: str
    name: str
    birth_date: date | None
    origin: str | None


@dataclass
class PatientImportReport:
    created: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    dry_run: bool = False

    def json(self) -> dict:
        return {
            "created": self.created,
            "unchanged": self.unchanged,
            "warnings": self.warnings,
            "dry_run": self.dry_run,
        }


def row_violations(row: PatientRow, today: date) -> list[Violation]:
    """The registration's rules, each violation named by the row's place and the field."""
    found = [
        text_violation(f"{row.where}.identifier", row.patient_ref, max_length=PATIENT_REF_MAX, required=True),
        text_violation(f"{row.where}.name", row.name, max_length=NAME_MAX, required=True),
        birth_date_violation(f"{row.where}.birthDate", row.birth_date, today),
    ]
    if row.birth_date is None:
        found.append(Violation(f"{row.where}.birthDate", "is required (the dose limits depend on the age)"))
    if row.origin not in tuple(Origin):
        found.append(
            Violation(
                f"{row.where}.origin",
                f"must be one of {', '.join(Origin)} (the spasticity-origin extension, or --origin for all)",
            )
        )
    return [v for v in found if v is not None]


class PatientImportUseCases(ClinicBase):
    def import_patients(self, actor: Actor, rows: list[PatientRow], dry_run: bool = False) -> PatientImportReport:
        """Register the patients not yet in the record, in one transaction (``dry_run``: judge, store nothing).
        Raises ``InvalidInput`` naming each bad row's field, storing nothing."""
        require(actor, "admin", "clinician", "nurse")
        today = self.clock().date()
        errs = [v for row in rows for v in row_violations(row, today)]
        seen: dict[str, str] = {}
        for row in rows:
            if row.patient_ref in seen:
                errs.append(
                    Violation(
                        f"{row.where}.identifier", f"{row.patient_ref} is given twice (also {seen[row.patient_ref]})"
                    )
                )
            seen.setdefault(row.patient_ref, row.where)
        if errs:
            raise InvalidInput(errs)
        report = PatientImportReport(dry_run=dry_run)
        with self.transaction() as s:
            refs = [row.patient_ref for row in rows]
            known = {
                p.patient_ref: p for p in s.execute(select(m.Patient).where(m.Patient.patient_ref.in_(refs))).scalars()
            }
            for row in rows:
                existing = known.get(row.patient_ref)
                if existing is not None:
                    report.unchanged.append(row.patient_ref)
                    if existing.name != row.name or existing.birth_date != row.birth_date:
                        report.warnings.append(
                            f"{row.patient_ref}: the record has {existing.name}, born {existing.birth_date}; "
                            f"the list says {row.name}, born {row.birth_date} (not changed: correct it by hand)"
                        )
                    continue
                report.created.append(row.patient_ref)
                if not dry_run:
                    patient = m.Patient(
                        created_at=self.clock(), name=row.name, patient_ref=row.patient_ref,
                        birth_date=row.birth_date, origin=row.origin,
                    )  # fmt: skip
                    self._add_audited(s, actor, "register_patient", "patient", patient)
            if dry_run:
                s.rollback()
        return report


__all__ = ["PatientImportReport", "PatientImportUseCases", "PatientRow", "row_violations"]
