"""The labels' management of an overdose and a withdrawal (``itb.domain.management``), for the clinic's staff.

Sources: Lioresal Intrathecal (baclofen injection) prescribing information (OVERDOSAGE; boxed warning; WARNINGS),
Gablofen (baclofen injection) prescribing information (17 Patient Counseling Information), Medtronic's ITB
emergency procedures and Coffey et al. 2002 (the withdrawal panel).
"""

from __future__ import annotations

import ast
from pathlib import Path

import itb.domain.management as management_module
from itb.domain.management import (
    GABLOFEN_PI,
    LIORESAL_PI,
    MANAGEMENT,
    OVERDOSE_MANAGEMENT,
    WITHDRAWAL_MANAGEMENT,
    management_for,
    management_json,
)
from itb.domain.triage import Concern, triage


def texts(steps) -> list[str]:
    return [s.text for s in steps]


def index_of(steps, words: str) -> int:
    return next(i for i, s in enumerate(steps) if words in s.text)


def test_domain_module_imports_nothing_outside_the_domain() -> None:
    tree = ast.parse(Path(management_module.__file__).read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not {m for m in imported if m and m.startswith("itb.") and not m.startswith("itb.domain")}


def test_overdose_management() -> None:
    """``OVERDOSE_MANAGEMENT``: the label's signs and steps, in its order: no specific antidote; remove the
    residual solution from the pump as soon as possible; intubate for respiratory depression until the drug is
    eliminated; consider withdrawing 30-40 mL of CSF by lumbar puncture if not contraindicated. Physostigmine is
    only in an earlier revision, and says so.

    Source: Lioresal Intrathecal prescribing information, OVERDOSAGE ("Treatment Suggestions for Overdose";
    the current and an earlier revision); Gablofen prescribing information, 17 Patient Counseling Information
    ("possible emptying of the pump").
    """
    steps = OVERDOSE_MANAGEMENT.steps
    assert OVERDOSE_MANAGEMENT.concern is Concern.OVERDOSE
    assert steps[0].text.startswith("There is no specific antidote")
    pump = index_of(steps, "Residual baclofen solution should be removed from the pump as soon as possible")
    airway = index_of(steps, "Patients with respiratory depression should be intubated if necessary")
    csf = index_of(steps, "withdrawing 30-40 mL of CSF")
    assert pump < airway < csf
    assert "If lumbar puncture is not contraindicated" in steps[csf].text
    physostigmine = steps[index_of(steps, "physostigmine")]
    assert "seizures and bradycardia" in physostigmine.text
    assert physostigmine.note.startswith("Earlier label revision only")
    assert all(c.section.endswith("(earlier revision)") for c in physostigmine.citations)
    assert {c.section for c in steps[csf].citations} == {"OVERDOSAGE, Treatment Suggestions for Overdose"}
    signs = " ".join(texts(OVERDOSE_MANAGEMENT.signs))
    for sign in ("respiratory depression", "hypothermia", "seizures", "rostral progression of hypotonia", "72 hr"):
        assert sign in signs
    assert "slow or shallow breathing" in signs  # Gablofen, 17
    assert GABLOFEN_PI in {c.document for s in OVERDOSE_MANAGEMENT.signs for c in s.citations}


def test_withdrawal_management() -> None:
    """``WITHDRAWAL_MANAGEMENT``: an emergency (emergency room or intensive care); find the cause (pump,
    catheter, missed refill); restore intrathecal baclofen at or near the previous dose as soon as possible;
    while that is delayed, GABA-ergic drugs (oral or enteral baclofen, or benzodiazepines); oral baclofen alone
    is not relied upon; intensive care for the advanced signs. The signs: early and advanced, and who is at risk.

    Source: Lioresal Intrathecal prescribing information, boxed warning and WARNINGS (abrupt discontinuation);
    Gablofen prescribing information, 17 Patient Counseling Information; Medtronic ITB emergency procedures;
    Coffey et al. 2002.
    """
    steps = WITHDRAWAL_MANAGEMENT.steps
    assert WITHDRAWAL_MANAGEMENT.concern is Concern.WITHDRAWAL
    assert "medical emergency" in steps[0].text and "intensive-care" in steps[0].text
    restore = index_of(steps, "Restore intrathecal baclofen at or near the same dosage as before therapy interruption")
    delayed = index_of(steps, "If restoration of intrathecal delivery is delayed")
    assert restore < delayed
    assert "oral or enteral baclofen" in steps[delayed].text and "benzodiazepines" in steps[delayed].text
    assert index_of(steps, "Oral or enteral baclofen alone should not be relied upon") > delayed
    assert "intensive care" in steps[-1].text
    signs = texts(WITHDRAWAL_MANAGEMENT.signs)
    early = next(s for s in signs if s.startswith("Early:"))
    for sign in ("return of baseline spasticity", "pruritus", "hypotension", "paresthesias"):
        assert sign in early
    advanced = next(s for s in signs if s.startswith("Advanced:"))
    for sign in ("high fever", "altered mental status", "muscle rigidity", "rhabdomyolysis"):
        assert sign in advanced
    assert any("T-6 or above" in s for s in signs)


def test_every_step_and_sign_names_its_document_and_section() -> None:
    """Every step and every list of signs has at least one citation (document and section); the label's own
    sections name the label, and a citation with no checked copy says so on the page (``checked_copy`` None)."""
    for m in MANAGEMENT.values():
        for step in (*m.signs, *m.steps):
            assert step.citations, step.text
            for c in step.citations:
                assert c.document and c.section
                assert c.text == f"{c.document}, {c.section}"
    cited = {c.document for m in MANAGEMENT.values() for s in m.steps for c in s.citations}
    assert LIORESAL_PI in cited


def test_management_for_a_triage_that_points_at_an_overdose_or_a_withdrawal() -> None:
    """Only an overdose or a withdrawal concern has a management; stored triages name concerns by their words."""
    assert management_for([]) == ()
    assert management_for([Concern.INFECTION, Concern.PUMP, "made up"]) == ()
    assert management_for(["possible withdrawal", Concern.OVERDOSE, "possible withdrawal"]) == (
        WITHDRAWAL_MANAGEMENT,
        OVERDOSE_MANAGEMENT,
    )
    result = triage(["breathing_slow", "itching"])
    assert management_for(result.concerns) == (OVERDOSE_MANAGEMENT, WITHDRAWAL_MANAGEMENT)
    (as_json,) = management_json(["possible overdose"])
    assert as_json["concern"] == "possible overdose"
    first = as_json["steps"][1]  # type: ignore[index]
    assert first["citations"][0]["document"] == LIORESAL_PI
    assert first["citations"][0]["section"] == "OVERDOSAGE, Treatment Suggestions for Overdose"
