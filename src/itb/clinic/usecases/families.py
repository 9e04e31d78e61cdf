"""Families: what they see at home and tell the clinic (symptom reports, triaged on arrival, on the
worklist until a staff member reviews them)."""

from __future__ import annotations

from itb.adapters.db import models as m
from itb.clinic.triage_context import pump_context
from itb.clinic.usecases.base import Actor, ClinicBase, Conflict, NotFound, require, row_json
from itb.contracts import bounds
from itb.contracts.bounds import SYMPTOMS_MAX, count_violation, raise_violations, text_violation, violations
from itb.domain.errors import InvalidInput, Violation
from itb.domain.triage import OTHER, SYMPTOM_CODES, codes_in_text, triage

#: The longest note a family or a reviewer writes (``itb.contracts.bounds``).
NOTE_MAX = bounds.NOTE_MAX


class FamilyUseCases(ClinicBase):
    def report_symptoms(self, actor: Actor, patient_id: int, symptoms: list[str], note: str = "") -> m.SymptomReport:
        """A family (or staff) reports symptoms seen at home; the clinic sees them on the chart."""
        raise_violations(count_violation("symptoms", symptoms, SYMPTOMS_MAX))
        errs = [Violation("symptoms", f"unknown symptom {x!r}") for x in symptoms if x not in SYMPTOM_CODES]
        if not symptoms and not note.strip():
            errs.append(Violation("symptoms", "choose at least one symptom or describe what you see"))
        errs += violations(text_violation("note", note, max_length=NOTE_MAX, multiline=True))
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

    def review_symptom_report(self, actor: Actor, report_id: int, note: str) -> m.SymptomReport:
        """A staff member (admin, clinician, nurse) has reviewed a family's report, most often by
        calling the family back: who, when and their note ("called back: ...") are stored and
        audited, and the report leaves the worklist. The note is required (what was done about
        it); a report is reviewed once (again: 409, the first review stands)."""
        require(actor, "admin", "clinician", "nurse")
        errs = []
        if not note.strip():
            errs.append(Violation("note", "say what was done (e.g. called back: ...)"))
        errs += violations(text_violation("note", note, max_length=NOTE_MAX, multiline=True))
        if errs:
            raise InvalidInput(errs)
        with self.transaction() as s:
            # locked: two staff reviewing at once, the second is told the first did (PostgreSQL)
            report = s.get(m.SymptomReport, report_id, with_for_update=True)
            if report is None:
                raise NotFound(f"symptom report {report_id}: not found")
            self.patient(s, actor, report.patient_id)
            if report.reviewed_by is not None:
                when = f" on {report.reviewed_at:%Y-%m-%d %H:%M}" if report.reviewed_at else ""
                raise Conflict(f"symptom report {report_id} was already reviewed by {report.reviewed_by}{when}")
            before = row_json(report)
            report.reviewed_by = actor.username
            report.reviewed_at = self.clock()
            report.review_note = note.strip()
            self._audit(
                s, actor, "review_symptom_report", "symptom_report", report.id, before=before, after=row_json(report)
            )
            return report
