"""What the drug labels tell a clinician to do for an intrathecal baclofen overdose or withdrawal.

For the clinic's staff only: a triaged symptom report that points at an overdose or a withdrawal shows the
matching steps on the staff's view of the report (and in the API's report JSON). Families never see this:
they get the triage's plain "call the clinic" / "emergency" words (``itb.domain.triage``), not treatment.

Every step and every list of signs carries its citations (document, section). The wording is the labels'
own, cut to the step; where a stored public copy of the text was read while writing this module, the
citation says where (``checked_copy``). A citation without one is the label's wording as the label is widely
quoted, not re-read here: the clinic must check it against the current label before relying on it (the page
says so next to it). Labels change: the Lioresal Intrathecal label once suggested physostigmine for an
overdose and a later revision replaced it with CSF withdrawal by lumbar puncture; both are kept, the earlier
one marked as such, so nobody mistakes it for the current advice.

Documents:

- *Lioresal Intrathecal (baclofen injection) prescribing information* (US; Saol Therapeutics / Amneal,
  earlier Novartis / Medtronic): boxed warning; WARNINGS; OVERDOSAGE.
- *Gablofen (baclofen injection) prescribing information* (US; Piramal Critical Care): 17 Patient Counseling
  Information.
- *Medtronic ITB Therapy emergency procedures* (healthcare professionals' page) and Coffey RJ et al., Abrupt
  withdrawal from intrathecal baclofen: recognition and management of a potentially life-threatening
  syndrome, Arch Phys Med Rehabil 2002;83:735-41 (the expert panel the label's withdrawal wording follows).

Pure: no I/O; only ``itb.domain`` is imported.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from itb.domain.triage import Concern

LIORESAL_PI = "Lioresal Intrathecal (baclofen injection) prescribing information"
GABLOFEN_PI = "Gablofen (baclofen injection) prescribing information"
MEDTRONIC_EMERGENCY = "Medtronic ITB Therapy, emergency procedures (healthcare professionals)"
COFFEY_2002 = "Coffey RJ et al., Arch Phys Med Rehabil 2002;83:735-41 (abrupt withdrawal from ITB)"

#: Stored public copies the wording was checked against while this module was written.
_LIORESAL_OVERDOSAGE_CURRENT = "http://www.druglib.com/druginfo/lioresal/interactions_overdosage_contraindications/"
_LIORESAL_OVERDOSAGE_EARLIER = (
    "http://www.druglib.com/druginfo/lioresal-intrathecal/interactions_overdosage_contraindications/"
)
_LIORESAL_BOXED = "https://lioresal.com/hcp/dosing-and-administration/"
_LIORESAL_BOXED_AT_RISK = "https://studylib.net/doc/9691848/management-of-severe-spasticity"
_LIORESAL_PATIENT_SAFETY = "https://lioresal.com/lioresal-intrathecal/safety"
_GABLOFEN_17 = "http://www.rxlist.com/gablofen-drug/medication-guide.htm"
_MEDTRONIC = (
    "https://medtronic.com/ph-en/healthcare-professionals/therapies-procedures/neurological/"
    "intrathecal-baclofen-therapy/education-training/emergency-procedures.html"
)
_COFFEY = "https://metajournal.com/articles/261766"


@dataclass(frozen=True, slots=True)
class Citation:
    document: str
    section: str
    #: where a stored public copy of this wording was read; None: check it against the current document
    checked_copy: str | None = None

    @property
    def text(self) -> str:
        return f"{self.document}, {self.section}"

    def as_json(self) -> dict[str, str | None]:
        return {"document": self.document, "section": self.section, "checked_copy": self.checked_copy}


@dataclass(frozen=True, slots=True)
class Step:
    """One thing the labels say to do (or, for ``signs``, to look for), with its citations."""

    text: str
    citations: tuple[Citation, ...]
    #: a caveat shown with the step (e.g. "earlier label revision only")
    note: str = ""

    def as_json(self) -> dict[str, object]:
        return {"text": self.text, "note": self.note, "citations": [c.as_json() for c in self.citations]}


@dataclass(frozen=True, slots=True)
class Management:
    """The labels' management of one concern: the signs to look for, then the steps in order."""

    concern: Concern
    title: str
    signs: tuple[Step, ...]
    steps: tuple[Step, ...]

    def as_json(self) -> dict[str, object]:
        return {
            "concern": str(self.concern),
            "title": self.title,
            "signs": [s.as_json() for s in self.signs],
            "steps": [s.as_json() for s in self.steps],
        }


# ----------------------------------------------------------------------------- citations
_OVERDOSAGE = Citation(LIORESAL_PI, "OVERDOSAGE", _LIORESAL_OVERDOSAGE_CURRENT)
_OVERDOSAGE_TREATMENT = Citation(
    LIORESAL_PI, "OVERDOSAGE, Treatment Suggestions for Overdose", _LIORESAL_OVERDOSAGE_CURRENT
)
_OVERDOSAGE_TREATMENT_EARLIER = Citation(
    LIORESAL_PI, "OVERDOSAGE, Treatment Suggestions for Overdose (earlier revision)", _LIORESAL_OVERDOSAGE_EARLIER
)
_GABLOFEN_COUNSELING = Citation(GABLOFEN_PI, "17 Patient Counseling Information", _GABLOFEN_17)
_BOXED = Citation(LIORESAL_PI, "boxed warning", _LIORESAL_BOXED)
_BOXED_AT_RISK = Citation(LIORESAL_PI, "boxed warning (patients at risk)", _LIORESAL_BOXED_AT_RISK)
_WARNINGS_WITHDRAWAL = Citation(LIORESAL_PI, "WARNINGS, abrupt discontinuation (withdrawal)")
_LIORESAL_PATIENTS = Citation(
    "Lioresal Intrathecal patient safety page (lioresal.com)", "signs", _LIORESAL_PATIENT_SAFETY
)
_MEDTRONIC_WITHDRAWAL = Citation(MEDTRONIC_EMERGENCY, "withdrawal", _MEDTRONIC)
_COFFEY_RESULTS = Citation(COFFEY_2002, "abstract, results", _COFFEY)

# ----------------------------------------------------------------------------- overdose
#: The labels' overdose signs (Lioresal Intrathecal, OVERDOSAGE; Gablofen, 17 Patient Counseling Information).
OVERDOSE_SIGNS = (
    Step(
        "Drowsiness, lightheadedness, dizziness, somnolence, respiratory depression, hypothermia, seizures, rostral "
        "progression of hypotonia and loss of consciousness progressing to coma of up to 72 hr. duration.",
        (_OVERDOSAGE,),
    ),
    Step(
        "Watch especially during the initial screening and dose-titration phase, and on reintroduction after a "
        "period of interruption in therapy. Symptoms have followed a 25 mcg intrathecal bolus in a sensitive adult.",
        (_OVERDOSAGE,),
    ),
    Step(
        "Overdose may occur suddenly or insidiously: confusion, drowsiness, lightheadedness, dizziness, slow or "
        "shallow breathing, seizures, loss of muscle tone, loss of consciousness, and coma.",
        (_GABLOFEN_COUNSELING,),
    ),
)

#: The label's steps for an overdose, in order (Lioresal Intrathecal, OVERDOSAGE, Treatment Suggestions).
OVERDOSE_STEPS = (
    Step(
        "There is no specific antidote for treating overdoses of intrathecal baclofen; the following steps should "
        "ordinarily be undertaken.",
        (_OVERDOSAGE_TREATMENT,),
    ),
    Step(
        "Residual baclofen solution should be removed from the pump as soon as possible (bring the patient to "
        "hospital for assessment and possible emptying of the pump).",
        (_OVERDOSAGE_TREATMENT, _GABLOFEN_COUNSELING),
    ),
    Step(
        "Patients with respiratory depression should be intubated if necessary, until the drug is eliminated.",
        (_OVERDOSAGE_TREATMENT,),
    ),
    Step(
        "If lumbar puncture is not contraindicated, consideration should be given to withdrawing 30-40 mL of CSF "
        "to reduce CSF baclofen concentration.",
        (_OVERDOSAGE_TREATMENT,),
    ),
    Step(
        "Physostigmine: anecdotal reports suggest that intravenous physostigmine may reverse central side effects, "
        "notably drowsiness and respiratory depression; caution is advised because its use has been associated "
        "with the induction of seizures and bradycardia.",
        (_OVERDOSAGE_TREATMENT_EARLIER,),
        note="Earlier label revision only: the current Lioresal Intrathecal label no longer lists physostigmine "
        "(it gives CSF withdrawal instead). Shown for reference, not as a current step.",
    ),
)

OVERDOSE_MANAGEMENT = Management(
    Concern.OVERDOSE, "Possible overdose: the label's management", OVERDOSE_SIGNS, OVERDOSE_STEPS
)

# ----------------------------------------------------------------------------- withdrawal
#: The labels' withdrawal signs, early then advanced.
WITHDRAWAL_SIGNS = (
    Step(
        "Early: return of baseline spasticity, pruritus, hypotension, and paresthesias.",
        (_WARNINGS_WITHDRAWAL,),
    ),
    Step(
        "Early (as families are told): increased spasticity, itching, and tingling of extremities; an increase in "
        "spasticity, itching, low blood pressure, lightheadedness, tingling.",
        (_GABLOFEN_COUNSELING, _LIORESAL_PATIENTS),
    ),
    Step(
        "Advanced: high fever, altered mental status, exaggerated rebound spasticity, and muscle rigidity, that in "
        "rare cases has advanced to rhabdomyolysis, multiple organ-system failure and death.",
        (_BOXED,),
    ),
    Step(
        "Advanced withdrawal may resemble autonomic dysreflexia, infection (sepsis), malignant hyperthermia, "
        "neuroleptic-malignant syndrome, or other conditions associated with a hypermetabolic state or widespread "
        "rhabdomyolysis.",
        (_WARNINGS_WITHDRAWAL, _MEDTRONIC_WITHDRAWAL),
    ),
    Step(
        "Highest risk: spinal cord injuries at T-6 or above, communication difficulties, history of withdrawal "
        "symptoms from oral or intrathecal baclofen.",
        (_BOXED_AT_RISK,),
    ),
)

#: The labels' steps for a withdrawal, in order.
WITHDRAWAL_STEPS = (
    Step(
        "Treat suspected withdrawal as a medical emergency: rapid, accurate diagnosis and treatment in an "
        "emergency-room or intensive-care setting.",
        (_WARNINGS_WITHDRAWAL, _MEDTRONIC_WITHDRAWAL),
    ),
    Step(
        "Find the cause: most often a delivery problem with the catheter or the pump, or failure to refill the "
        "pump on schedule (interrogate the pump; check the reservoir, the alarms and the program).",
        (_GABLOFEN_COUNSELING,),
    ),
    Step(
        "Restore intrathecal baclofen at or near the same dosage as before therapy interruption, as soon as possible.",
        (_WARNINGS_WITHDRAWAL, _COFFEY_RESULTS),
    ),
    Step(
        "If restoration of intrathecal delivery is delayed: GABA-ergic agonist drugs such as oral or enteral "
        "baclofen, or oral, enteral, or intravenous benzodiazepines, may prevent potentially fatal sequelae.",
        (_WARNINGS_WITHDRAWAL, _COFFEY_RESULTS),
    ),
    Step(
        "Oral or enteral baclofen alone should not be relied upon to halt the progression of intrathecal baclofen "
        "withdrawal.",
        (_WARNINGS_WITHDRAWAL,),
    ),
    Step(
        "Advanced signs (high fever, altered mental status, rigidity, rhabdomyolysis): intensive care, with "
        "supportive measures until intrathecal delivery is restored.",
        (_BOXED, _COFFEY_RESULTS),
    ),
)

WITHDRAWAL_MANAGEMENT = Management(
    Concern.WITHDRAWAL, "Possible withdrawal: the label's management", WITHDRAWAL_SIGNS, WITHDRAWAL_STEPS
)

#: The concerns with a management, in the order they are shown.
MANAGEMENT: dict[Concern, Management] = {
    Concern.OVERDOSE: OVERDOSE_MANAGEMENT,
    Concern.WITHDRAWAL: WITHDRAWAL_MANAGEMENT,
}


def management_for(concerns: Iterable[Concern | str]) -> tuple[Management, ...]:
    """The management of each concern of a triage that has one (overdose, withdrawal), in the triage's order.

    ``concerns``: ``Concern`` values or their words as a stored triage holds them ("possible overdose");
    anything else is skipped.
    """
    by_word = {str(c): c for c in MANAGEMENT}
    found: list[Management] = []
    for concern in concerns:
        known = by_word.get(str(concern))
        if known is not None and MANAGEMENT[known] not in found:
            found.append(MANAGEMENT[known])
    return tuple(found)


def management_json(concerns: Iterable[Concern | str]) -> list[dict[str, object]]:
    """``management_for`` as plain JSON (the API's symptom report field ``management``)."""
    return [m.as_json() for m in management_for(concerns)]
