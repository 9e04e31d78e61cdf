"""The clinic quality report (``/reports/quality``, ``.csv``, ``.pdf``) and a patient's complications
(``/patients/{id}/complications``), for the clinic's staff (a caregiver finds no such page: 404).

``/reports/quality?from=YYYY-MM-DD&to=YYYY-MM-DD&by=month|quarter``: a table of every figure per
period and the whole range, and three plots (refills with late, near-miss and dry ones;
discrepancies reviewed or not; symptom reports by triage urgency). The CSV is one row per period
(and the total), one column per figure (:data:`itb.domain.quality.COLUMNS`, documented in
``docs/parameters.md``); the PDF has the table and the refills plot. The figures are the domain's
(:mod:`itb.domain.quality`), read by :func:`itb.clinic.quality.quality_report`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from itb.clinic.quality import quality_report, settings_of
from itb.clinic.services import Actor
from itb.contracts.bounds import MAX_ID, MIN_ID
from itb.domain.errors import InvalidInput, Violation
from itb.domain.quality import COLUMNS, COMPLICATION_KINDS, Figures, Grouping, row
from itb.web.form_fields import DAY, field_errors
from itb.web.page_context import STAFF, PageContext
from itb.web.page_params import PageId
from itb.web.pdf_style import new_pdf
from itb.web.print_pages import DISCLAIMER
from itb.web.quality_plots import TRIAGE_WORDS, discrepancies_plot, plot_png, plot_svg, refills_plot, triage_plot

#: the report's default range: the last 12 months to today
DEFAULT_MONTHS = 12
#: the PDF's table: at most this many periods side by side (A4 landscape), then another table
PDF_PERIODS_PER_TABLE = 10

#: each figure in words, as the table's rows say it (the CSV's columns, in order, but period and dates)
FIGURE_WORDS: dict[str, str] = {
    "pumps_in_service": "Pumps in service",
    "pump_years": "Pump-years",
    "implants": "Pumps implanted",
    "refills": "Refills",
    "refills_late": "Late refills (after the alarm or the booked day)",
    "refills_after_booked_day": "… of them after the booked day",
    "near_misses": "Near misses (alarm reached before the refill)",
    "dry_episodes": "Dry episodes (reservoir empty at the refill)",
    "dry_per_100_pump_years": "Dry episodes per 100 pump-years",
    "visits_missed": "Visits missed",
    "visits_overdue": "Visits overdue (still booked, time passed)",
    "discrepancies": "Refill discrepancies over the threshold",
    "discrepancies_reviewed": "… reviewed",
    "discrepancies_not_reviewed": "… not reviewed",
    "discrepancies_more_than_expected": "… more withdrawn than expected",
    "discrepancy_causes": "… their recorded causes",
    "complications": "Complications",
    **{f"complications_{k}": f"… {words}" for k, words in COMPLICATION_KINDS.items()},
    "replacements": "Pump replacements",
    "eri_replacements": "… at the battery's end (ERI)",
    "explants": "Pumps explanted",
    **{f"triage_{k}": f"Symptom reports: {words}" for k, words in TRIAGE_WORDS.items()},
}


def _day(field: str, text: str | None, default: date, errs: list[Violation]) -> date:
    if not text:
        return default
    try:
        if not DAY.fullmatch(text):
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        errs.append(Violation(field, f"{text[:20]!r} is not a date: write it YYYY-MM-DD"))
        return default


def report_range(first: str | None, last: str | None, by: str | None, today: date) -> tuple[date, date, Grouping]:
    """The report's range and grouping as asked (``from``, ``to``, ``by``); unset: the 12 months to
    today, by month. Bad input is a 422 naming the field."""
    errs: list[Violation] = []
    default_first = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
    for _ in range(DEFAULT_MONTHS - 2):
        default_first = (default_first - timedelta(days=1)).replace(day=1)
    to = _day("to", last, today, errs)
    start = _day("from", first, default_first, errs)
    grouping = Grouping.MONTH
    if by:
        try:
            grouping = Grouping(by)
        except ValueError:
            errs.append(Violation("by", "must be month or quarter"))
    if errs:
        raise InvalidInput(errs)
    return start, to, grouping


def cell(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def table_rows(rows: Sequence[Figures]) -> list[tuple[str, str, list[str]]]:
    """The table, one row per figure (its column, its words, its value per period and the total)."""
    values = [row(f) for f in rows]
    return [(name, words, [cell(v[name]) or "—" for v in values]) for name, words in FIGURE_WORDS.items()]


def csv_text(rows: Sequence[Figures]) -> str:
    """One row per period, then the total; one column per figure (:data:`COLUMNS`)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(COLUMNS), lineterminator="\n")
    writer.writeheader()
    for f in rows:
        writer.writerow({k: "" if v is None else v for k, v in row(f).items()})
    return out.getvalue()


def quality_pdf(rows: Sequence[Figures], first: date, last: date, grouping: Grouping, printed_at: datetime) -> bytes:
    """The report as a PDF (fpdf2, A4 landscape): the table, periods in columns, then the refills plot."""
    doc = new_pdf("L", margin=12)
    pdf, font, text = doc.pdf, doc.font, doc.text

    pdf.set_font(font, "B", 16)
    pdf.cell(0, 9, text("Clinic quality report"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(font, "", 10)
    said = f"{first.isoformat()} to {last.isoformat()}, by {grouping.value}; printed {printed_at:%Y-%m-%d %H:%M}"
    pdf.cell(0, 6, text(said), new_x="LMARGIN", new_y="NEXT")
    table = table_rows(rows)
    labels = [f.period.label for f in rows]
    for start in range(0, len(labels), PDF_PERIODS_PER_TABLE):
        _pdf_table(pdf, font, text, table, labels, slice(start, start + PDF_PERIODS_PER_TABLE))
    pdf.add_page()
    pdf.image(io.BytesIO(plot_png(refills_plot(rows))), w=250)
    pdf.set_font(font, "", 8)
    pdf.multi_cell(0, 4, text(DISCLAIMER), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def _pdf_table(pdf, font: str, text, table, labels: list[str], part: slice) -> None:  # type: ignore[no-untyped-def]
    shown = labels[part]
    label_w = 80.0
    col_w = min(20.0, (pdf.epw - label_w) / max(len(shown), 1))
    pdf.ln(3)
    pdf.set_font(font, "B", 7)
    pdf.cell(label_w, 5, text("Figure"), border="B")
    for label in shown:
        pdf.cell(col_w, 5, text(label), border="B", align="R")
    pdf.ln()
    pdf.set_font(font, "", 7)
    for name, words, values in table:
        if name == "discrepancy_causes":
            continue  # words, not a number: the CSV and the page have them
        pdf.cell(label_w, 4.2, text(words))
        for value in values[part]:
            pdf.cell(col_w, 4.2, text(value), align="R")
        pdf.ln()


#: the range as asked: ``from``, ``to``, ``by`` (each may be unset)
AskedRange = tuple[str | None, str | None, str | None]


def range_query(
    first: Annotated[str | None, Query(alias="from", max_length=20)] = None,
    last: Annotated[str | None, Query(alias="to", max_length=20)] = None,
    by: Annotated[str | None, Query(max_length=20)] = None,
) -> AskedRange:
    """The report's query (``from``, ``to``, ``by``), read by each of its pages."""
    return first, last, by


@dataclass(frozen=True)
class Asked:
    """A report asked for: by whom, its range, and its figures."""

    actor: Actor
    token: str
    start: date
    end: date
    grouping: Grouping
    rows: list[Figures]

    @property
    def query(self) -> str:
        return f"from={self.start.isoformat()}&to={self.end.isoformat()}&by={self.grouping.value}"

    @property
    def file_name(self) -> str:
        return f"quality-{self.start.isoformat()}-{self.end.isoformat()}-{self.grouping.value}"


def install_quality_pages(router: APIRouter, page: PageContext) -> None:
    """Add the quality report (page, CSV, PDF) and the complications page to ``router``."""
    clinic = page.clinic

    def asked(request: Request, asked_range: AskedRange) -> Asked:
        actor, token = page.staff(request, STAFF, "the quality report")
        start, end, grouping = report_range(*asked_range, clinic.clock().date())
        return Asked(actor, token, start, end, grouping, quality_report(clinic, actor, start, end, grouping))

    @router.get("/reports/quality", response_class=HTMLResponse)
    def quality_page(request: Request, asked_range: Annotated[AskedRange, Depends(range_query)]) -> HTMLResponse:
        a = asked(request, asked_range)
        plots = [
            (p.title, plot_svg(p)) for p in (refills_plot(a.rows), discrepancies_plot(a.rows), triage_plot(a.rows))
        ]
        return page.render(
            request, "quality.html", a.actor, a.token, rows=a.rows, table=table_rows(a.rows), start=a.start,
            end=a.end, grouping=a.grouping.value, query=a.query, plots=plots, settings=settings_of(clinic),
        )  # fmt: skip

    @router.get("/reports/quality.csv")
    def quality_csv(request: Request, asked_range: Annotated[AskedRange, Depends(range_query)]) -> Response:
        a = asked(request, asked_range)
        return Response(
            csv_text(a.rows), media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{a.file_name}.csv"'},
        )  # fmt: skip

    @router.get("/reports/quality.pdf")
    def quality_pdf_page(request: Request, asked_range: Annotated[AskedRange, Depends(range_query)]) -> Response:
        a = asked(request, asked_range)
        return Response(
            quality_pdf(a.rows, a.start, a.end, a.grouping, clinic.clock()), media_type="application/pdf",
            headers={"Content-Disposition": f'inline; filename="{a.file_name}.pdf"'},
        )  # fmt: skip

    def complications_page(
        request: Request, patient_id: int, *, status: int = 200, form: dict | None = None,
        invalid: dict[str, str] | None = None, done: int | None = None,
    ) -> HTMLResponse:  # fmt: skip
        actor, token = page.staff(request, STAFF, "a patient's complications")
        pumps, refills = clinic.complication_choices(actor, patient_id)
        return page.render(
            request, "complications.html", actor, token, status=status, patient_id=patient_id,
            complications=clinic.patient_complications(actor, patient_id), pumps=pumps, refills=refills,
            kinds=COMPLICATION_KINDS, form=form or {"day": clinic.clock().date().isoformat(), "time": "09:00"},
            invalid=invalid or {}, done=done,
        )  # fmt: skip

    @router.get("/patients/{patient_id}/complications", response_class=HTMLResponse)
    def complications(
        request: Request, patient_id: PageId, done: Annotated[int | None, Query(ge=1)] = None
    ) -> HTMLResponse:
        return complications_page(request, patient_id, done=done)

    @router.post("/patients/{patient_id}/complications", response_class=HTMLResponse)
    def add_complication(
        request: Request,
        patient_id: PageId,
        csrf: str = Form(""),
        kind: str = Form(""),
        day: str = Form(""),
        at_time: str = Form("", alias="time"),
        pump_id: str = Form(""),
        refill_id: str = Form(""),
        notes: str = Form(""),
    ) -> Response:
        actor, token = page.staff(request, STAFF, "recording a complication")
        page.check_csrf(token, csrf)
        form = {"kind": kind, "day": day, "time": at_time, "pump_id": pump_id, "refill_id": refill_id, "notes": notes}
        try:
            at, pump, refill = _complication_form(day, at_time, pump_id, refill_id)
            made = clinic.record_complication(
                actor, patient_id, kind=kind, at=at, pump_id=pump, refill_id=refill, notes=notes.strip() or None
            )
        except InvalidInput as exc:
            return complications_page(request, patient_id, status=422, form=form, invalid=field_errors(exc))
        return RedirectResponse(f"/patients/{patient_id}/complications?done={made.id}", 303)


def _complication_form(day: str, at_time: str, pump_id: str, refill_id: str) -> tuple[datetime, int | None, int | None]:
    """The form's date and time (YYYY-MM-DD, HH:MM) and the pump and refill chosen ("": none)."""
    errs: list[Violation] = []
    at = datetime.min
    try:
        if not DAY.fullmatch(day.strip()):
            raise ValueError(day)
        at = datetime.fromisoformat(f"{day.strip()}T{at_time.strip() or '00:00'}")
    except ValueError:
        errs.append(Violation("day", "must be a date YYYY-MM-DD (and the time HH:MM)"))
    ids: list[int | None] = []
    for field, text in (("pump_id", pump_id), ("refill_id", refill_id)):
        text = text.strip()
        chosen = int(text) if text.isascii() and text.isdigit() and len(text) <= 10 else None
        if text and (chosen is None or not MIN_ID <= chosen <= MAX_ID):
            errs.append(Violation(field, "must be one of the choices"))
        ids.append(chosen)
    if errs:
        raise InvalidInput(errs)
    return at, ids[0], ids[1]


__all__ = ["FIGURE_WORDS", "csv_text", "install_quality_pages", "quality_pdf", "report_range", "table_rows"]
