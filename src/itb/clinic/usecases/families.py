"""Families: what they see at home and tell the clinic (symptom reports, triaged on arrival)."""

from __future__ import annotations

from itb.adapters.db import models as m
from itb.clinic.triage_context import pump_context
from itb.clinic.usecases.base import Actor, ClinicBase
from itb.domain.errors import InvalidInput, Violation
from itb.domain.triage import OTHER, SYMPTOM_CODES, codes_in_text, triage


class FamilyUseCases(ClinicBase):
    def report_symptoms(self, actor: Actor, patient_id: int, symptoms: list[str], note: str = "") -> m.SymptomReport:
        """A family (or staff) reports symptoms seen at home; the clinic sees them on the chart."""
        errs = [Violation("symptoms", f"unknown symptom {x!r}") for x in symptoms if x not in SYMPTOM_CODES]
        if not symptoms and not note.strip():
            errs.append(Violation("symptoms", "choose at least one symptom or describe what you see"))
        if len(note) > 2000:
            errs.append(Violation("note", "must be at most 2000 characters"))
        if errs:
            raise InvalidInput(errs)
        # The note's own words count as the signs they name; what was ticked is never lowered by them.
        from_note = codes_in_text(note) - set(symptoms)
        codes = set(symptoms) | from_note or {OTHER}
        with self.transaction() as s:
            patient = self.patient(s, actor, patient_id)
            result = triage(sorted(codes), pump_context(s, patient, self.clock()))
            report = m.SymptomReport(
                patient_id=patient.id,
                at=self.clock(),
                by=actor.username,
                symptoms=list(symptoms),
                note=note.strip() or None,
                urgency=int(result.urgency),
                triage={
                    "urgency": result.urgency.label,
                    "concerns": [str(c) for c in result.concerns],
                    "reasons": list(result.reasons),
                    "instruction": result.instruction,
                    "from_note": sorted(from_note),
                },
            )
            self._add_audited(s, actor, "report_symptoms", "patient", report, entity_id=patient.id)
            return report
