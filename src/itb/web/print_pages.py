"""Printable records: a refill's summary and a vendor session's report, as HTML for the browser's
print and as a one-page PDF, for the clinic's staff.

- ``/refills/{id}/print`` and ``/pump-sessions/{id}/print`` (``.pdf`` beside each).

What they say is the clinic's own read of the record (:mod:`itb.clinic.record_views`, as the API
answers it), each line a label and its value with units.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from itb.clinic import record_views
from itb.clinic.record_views import NextVisit, RefillRecord, SessionRecord
from itb.web.page_context import STAFF, PageContext
from itb.web.page_params import PageId
from itb.web.pdf_style import new_pdf
from itb.web.vendor_pages import FIELDS, RECORDED_LABELS

DISCLAIMER = "For education, planning and research. Not a certified medical device."
#: a constant-flow pump's program, as its records say it
FIXED_FLOW = "fixed flow: the dose changes only with the concentration"


@dataclass(frozen=True)
class PrintRecord:
    """What a printed refill or session says: each line a label and its value, with units."""

    title: str
    patient: Any
    pump: Any
    lines: list[tuple[str, str]]
    at: datetime
    by: str


def dose_words(value: float | None, unit: str = "mcg/day") -> str:
    return "—" if value is None else f"{value:,.4g} {unit}"


def when_words(value: datetime | None) -> str:
    return "—" if value is None else value.strftime("%Y-%m-%d %H:%M")


def program_words(program: dict | None) -> str:
    """A program (``forecast.md``'s form) in words: its steps from their start, then its boluses."""
    if not program or not program.get("steps"):
        return "—"
    steps = program["steps"]
    if len(steps) == 1 and not program.get("boluses"):
        return f"{dose_words(steps[0]['rate_mcg_per_day'])}, all day"
    words = [f"from {s['start']} {dose_words(s['rate_mcg_per_day'])}" for s in steps]
    words += [
        f"bolus {b['start']} {dose_words(b['dose_mcg'], 'mcg')} over {b['duration_minutes']:g} min"
        for b in program.get("boluses", ())
    ]
    return "; ".join(words)


def _visit_words(visit: NextVisit | None) -> str:
    return f"{when_words(visit.at)} ({visit.kind.replace('_', ' ')})" if visit else "none booked"


def _pump_words(pump: record_views.PumpBrief, vendor: str = "") -> str:
    return f"{pump.model}, {pump.reservoir_capacity_ml:g} mL, serial {pump.serial}{vendor}"


def refill_print(r: RefillRecord) -> PrintRecord:
    """A refill's printed summary."""
    product = f"{r.product}, " if r.product else ""
    lines = [
        ("Pump", _pump_words(r.pump)),
        ("Drug", f"baclofen {product}{dose_words(r.concentration_mcg_per_ml, 'mcg/mL')}"),
        ("Lot", r.lot or "not recorded"),
        ("Expected in the pump", f"{r.expected_ml:.2f} mL"),
        ("Withdrawn", f"{r.withdrawn_ml:.2f} mL (difference {r.discrepancy_ml:+.2f} mL)"),
        ("Added", f"{r.added_ml:.2f} mL"),
    ]
    if r.flagged:
        lines.append(("Discrepancy", f"reviewed by {r.reviewed_by}" if r.reviewed_by else "to be reviewed"))
    if r.bridge_bolus_mcg:
        lines.append(("Bridge bolus", dose_words(r.bridge_bolus_mcg, "mcg")))
    lines += [
        ("Program", program_words(r.program)),
        ("Low-reservoir alarm", when_words(r.low_reservoir_alarm_at) if r.latest else "see the later refill"),
        ("Next visit", _visit_words(r.next_visit)),
        ("Refilled by", r.by),
    ]
    return PrintRecord("Refill", r.patient, r.pump, lines, r.at, r.by)


def session_print(r: SessionRecord) -> PrintRecord:
    """A vendor session's printed report."""
    kind = RECORDED_LABELS.get(r.kind, r.kind)
    product = f"{r.product}, " if r.product else ""
    conc = r.concentration_mcg_per_ml
    lines = [
        ("Pump", _pump_words(r.pump, " (vendor's programmer)")),
        ("Session", f"{kind}, {when_words(r.at)}"),
        ("Drug", f"baclofen {product}{dose_words(conc, 'mcg/mL')}" if conc is not None else "—"),
        ("Lot", r.lot or "not recorded"),
    ]
    if r.itb_expected_ml is not None:
        lines.append(("ITB's expected residual", f"{r.itb_expected_ml:.2f} mL"))
    for name in ("vendor_expected_ml", "withdrawn_ml", "added_ml", "reservoir_ml", "low_reservoir_alarm_ml"):
        if (volume := getattr(r, name)) is not None:
            lines.append((FIELDS[name].label, f"{volume:.2f} mL"))
    if r.dose_mcg is not None:
        lines.append((FIELDS["dose_mcg"].label, dose_words(r.dose_mcg, "mcg")))
    lines.append(("Program", FIXED_FLOW if r.pump.constant_flow else program_words(r.program)))
    alarm = when_words(r.low_reservoir_alarm_at) if r.latest else "see the later session"
    lines.append(("Low-reservoir alarm (ITB)", alarm))
    if r.vendor_alarm_at:
        lines.append(("Alarm date the vendor printed", when_words(r.vendor_alarm_at)))
    lines += [("Warning", w.partition(": ")[2] or w) for w in r.warnings]
    if r.warnings:
        lines.append(("Warnings reviewed", f"by {r.reviewed_by}" if r.reviewed_by else "not yet"))
    lines += [("Next visit", _visit_words(r.next_visit)), ("Recorded by", r.by)]
    return PrintRecord(f"{kind} session", r.patient, r.pump, lines, r.at, r.by)


def pdf_of(record: PrintRecord, disclaimer: str) -> bytes:
    """The record as a one-page PDF (fpdf2): DejaVu Sans when installed (any name), else Helvetica."""
    doc = new_pdf()
    pdf, font, text = doc.pdf, doc.font, doc.text

    pdf.set_font(font, "B", 16)
    pdf.cell(0, 10, text(record.title), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(font, "", 11)
    p = record.patient
    pdf.multi_cell(
        0, 6, text(f"{p.name} · born {p.birth_date.isoformat()} · {p.origin} origin"), new_x="LMARGIN", new_y="NEXT"
    )
    pdf.ln(2)
    width = 62
    for label, value in record.lines:
        pdf.set_font(font, "B", 10)
        y = pdf.get_y()
        pdf.multi_cell(width, 6, text(label), new_x="RIGHT", new_y="TOP")
        pdf.set_font(font, "", 10)
        pdf.multi_cell(0, 6, text(value), new_x="LMARGIN", new_y="NEXT")
        pdf.set_y(max(pdf.get_y(), y + 6))
    pdf.ln(6)
    pdf.set_font(font, "", 8)
    pdf.multi_cell(0, 4, text(disclaimer), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def install_print_pages(router: APIRouter, page: PageContext) -> None:
    """Add the printed refill and session (HTML and PDF) to ``router``."""
    clinic = page.clinic

    def printed(request: Request, record: PrintRecord, pdf_url: str) -> HTMLResponse:
        actor, token = page.session(request)
        return page.render(
            request, "print_record.html", actor, token, record=record, pdf_url=pdf_url, patient=record.patient,
            pump=record.pump, printed_at=clinic.clock(),
        )  # fmt: skip

    def as_pdf(record: PrintRecord, name: str) -> Response:
        return Response(
            pdf_of(record, DISCLAIMER),
            media_type="application/pdf",
            headers={"Content-Disposition": f'inline; filename="{name}.pdf"'},
        )

    def refill_of(request: Request, refill_id: int) -> PrintRecord:
        actor, _ = page.staff(request, STAFF, "a printed refill")
        return refill_print(record_views.refill_record(clinic, actor, refill_id))

    def session_of(request: Request, session_id: int) -> PrintRecord:
        actor, _ = page.staff(request, STAFF, "a printed session report")
        return session_print(record_views.session_record(clinic, actor, session_id))

    @router.get("/refills/{refill_id}/print", response_class=HTMLResponse)
    def refill_page(request: Request, refill_id: PageId) -> HTMLResponse:
        return printed(request, refill_of(request, refill_id), f"/refills/{refill_id}/print.pdf")

    @router.get("/refills/{refill_id}/print.pdf")
    def refill_pdf(request: Request, refill_id: PageId) -> Response:
        return as_pdf(refill_of(request, refill_id), f"refill-{refill_id}")

    @router.get("/pump-sessions/{session_id}/print", response_class=HTMLResponse)
    def session_page(request: Request, session_id: PageId) -> HTMLResponse:
        return printed(request, session_of(request, session_id), f"/pump-sessions/{session_id}/print.pdf")

    @router.get("/pump-sessions/{session_id}/print.pdf")
    def session_pdf(request: Request, session_id: PageId) -> Response:
        return as_pdf(session_of(request, session_id), f"session-{session_id}")


__all__ = [
    "DISCLAIMER",
    "PrintRecord",
    "dose_words",
    "install_print_pages",
    "pdf_of",
    "program_words",
    "refill_print",
    "session_print",
    "when_words",
]
