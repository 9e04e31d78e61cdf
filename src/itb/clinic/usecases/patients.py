"""Patients: registration, caregivers, the phase of care, screening trials and assessments."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from itb.adapters.db import models as m
from itb.clinic.usecases.base import Actor, ClinicBase, check_note, require, row_json
from itb.contracts.bounds import (
    NAME_MAX,
    assessment_violations,
    birth_date_violation,
    event_violation,
    json_violations,
    raise_violations,
    text_violation,
    violations,
)
from itb.domain.errors import InvalidInput, Violation

PHASES = ("screening", "titrating", "maintenance", "ended")
#: what :meth:`PatientUseCases.edit_patient` may change (the birth date and the origin are the registration's)
EDITABLE = ("name", "weight_kg", "gmfcs", "injury_t6_or_above", "cannot_communicate", "earlier_withdrawal")


class PatientUseCases(ClinicBase):
    def register_patient(self, actor: Actor, **fields: Any) -> m.Patient:
        require(actor, "admin", "clinician", "nurse")
        raise_violations(
            text_violation("name", fields.get("name"), max_length=NAME_MAX, required=True),
            birth_date_violation("birth_date", fields.get("birth_date"), self.clock().date()),
        )
        with self.transaction() as s:
            patient = m.Patient(created_at=self.clock(), **fields)
            self._add_audited(s, actor, "register_patient", "patient", patient)
            return patient

    def edit_patient(self, actor: Actor, patient_id: int, **changes: Any) -> m.Patient:
        """Correct a patient's name, weight, GMFCS level or risk flags (the fields given; the
        registration's rules are the API's). Audited with the record before and after."""
        require(actor, "admin", "clinician", "nurse")
        errs = [Violation(name, "cannot be changed here") for name in changes if name not in EDITABLE]
        if not changes:
            errs.append(Violation("body", f"give at least one of {', '.join(EDITABLE)}"))
        if "name" in changes:
            errs += violations(text_violation("name", changes["name"], max_length=NAME_MAX, required=True))
        if errs:
            raise InvalidInput(errs)
        with self.transaction() as s:
            patient = self.patient(s, actor, patient_id)
            before = row_json(patient)
            for name, value in changes.items():
                setattr(patient, name, value)
            self._audit(s, actor, "edit_patient", "patient", patient.id, before=before, after=row_json(patient))
            return patient

    def link_caregiver(self, actor: Actor, patient_id: int, user_id: int, relation: str = "parent") -> None:
        with self.transaction() as s:
            self.link_caregiver_in(s, actor, patient_id, user_id, relation)

    def link_caregiver_in(
        self, s: Session, actor: Actor, patient_id: int, user_id: int, relation: str = "parent"
    ) -> None:
        """:meth:`link_caregiver` inside the caller's transaction ``s`` (e.g. with the user's
        creation: both or neither)."""
        require(actor, "admin", "clinician")
        self.patient(s, actor, patient_id)
        user = s.get(m.User, user_id)
        if user is None or user.role != "caregiver":
            raise InvalidInput([Violation("user_id", "must be a caregiver's user id")])
        if s.get(m.CaregiverLink, (user_id, patient_id)) is not None:
            raise InvalidInput([Violation("user_id", "is already linked to this patient")])
        link = m.CaregiverLink(user_id=user_id, patient_id=patient_id, relation=relation)
        s.add(link)
        self._audit(s, actor, "link_caregiver", "patient", patient_id, after=row_json(link))

    def set_phase(self, actor: Actor, patient_id: int, phase: str) -> m.Patient:
        """Move a patient to another phase of care (e.g. titration done: ``maintenance``).

        Without it a patient stays "titrating" for ever after the implant, and the worklist asks
        for titration visits long after the right dose was reached.
        """
        require(actor, "admin", "clinician")
        if phase not in PHASES:
            raise InvalidInput([Violation("phase", f"must be one of {', '.join(PHASES)}")])
        with self.transaction() as s:
            patient = self.patient(s, actor, patient_id)
            before = row_json(patient)
            patient.phase = phase
            self._audit(s, actor, "set_phase", "patient", patient.id, before=before, after=row_json(patient))
            return patient

    def record_screening(
        self,
        actor: Actor,
        patient_id: int,
        *,
        dose_mcg: float,
        mas_before: dict[str, str],
        mas_after: dict[str, str],
        effect_hours: float | None = None,
        at: datetime | None = None,
        assessed_after_hours: float | None = None,
        caregiver_feedback: str | None = None,
        side_effects: str | None = None,
    ) -> m.ScreeningTrial:
        from itb.domain.scales import mas_response, parse_mas
        from itb.domain.screening import check_trial_entry

        require(actor, "admin", "clinician")
        errs: list[Violation] = check_trial_entry(dose_mcg, effect_hours, assessed_after_hours)
        errs += check_note("side_effects", side_effects) + check_note("caregiver_feedback", caregiver_feedback)
        errs += json_violations("mas_before", mas_before) + json_violations("mas_after", mas_after)
        errs += violations(event_violation("at", at, self.clock().date()))
        if errs:
            raise InvalidInput(errs)
        before: dict[str, Any] = {}
        after: dict[str, Any] = {}
        for name, grades, out in (("mas_before", mas_before, before), ("mas_after", mas_after, after)):
            for muscle, grade in grades.items():
                try:
                    out[muscle] = parse_mas(grade, f"{name}.{muscle}")
                except InvalidInput as exc:
                    errs.extend(exc.violations)
        if set(mas_before) != set(mas_after):
            errs.append(Violation("mas_after", "must grade the same muscle groups as mas_before"))
        if not mas_before:
            errs.append(Violation("mas_before", "at least one muscle group is required"))
        if errs:
            raise InvalidInput(errs)
        responded = mas_response(list(before.values()), [after[k] for k in before])
        with self.transaction() as s:
            patient = self.patient(s, actor, patient_id)
            trial = m.ScreeningTrial(
                patient_id=patient.id,
                at=at or self.clock(),
                dose_mcg=dose_mcg,
                mas_before={k: str(v) for k, v in before.items()},
                mas_after={k: str(v) for k, v in after.items()},
                responded=responded,
                effect_hours=effect_hours,
                by=actor.username,
                assessed_after_hours=assessed_after_hours,
                caregiver_feedback=caregiver_feedback,
                side_effects=(side_effects or "").strip() or None,
            )
            self._add_audited(s, actor, "record_screening", "patient", trial, entity_id=patient.id)
            return trial

    def record_assessment(
        self, actor: Actor, patient_id: int, kind: str, data: dict, at: datetime | None = None
    ) -> m.Assessment:
        """A clinical assessment: ``mas`` {muscle: grade}, ``tardieu`` {muscle: {quality, r1_deg, r2_deg}},
        ``gmfcs`` {level}, or ``gas`` {goals: [{description, weight, score}]} (its T-score is stored)."""
        from itb.domain.scales import assessment_record

        require(actor, "admin", "clinician")
        raise_violations(assessment_violations(kind, data), event_violation("at", at, self.clock().date()))
        stored = assessment_record(kind, data)
        with self.transaction() as s:
            patient = self.patient(s, actor, patient_id)
            assessment = m.Assessment(
                patient_id=patient.id, at=at or self.clock(), kind=kind, data=stored, by=actor.username
            )
            if kind == "gmfcs":
                patient.gmfcs = stored["level"]
            self._add_audited(s, actor, "record_assessment", "patient", assessment, entity_id=patient.id)
            return assessment
