"""The family's emergency letter and wallet card, for one patient: HTML for the browser's print,
and PDF (fpdf2, as :mod:`itb.web.print_pages` makes its prints).

- ``/patients/{id}/emergency-letter`` (``.pdf`` beside it): the child, the pump, the drug and its
  concentration, the daily dose, the low-reservoir alarm the clinic plans from, what each alarm
  sound means, the signs of too little and too much baclofen, "Never stop baclofen abruptly", and
  the clinic's day and after-hours numbers.
- ``/patients/{id}/wallet-card`` (``.pdf`` beside it): the same in brief, on a card of credit-card
  size (85.6 × 54 mm). The PDF is an A4 page with two such cards drawn at their true size inside
  dashed cut lines (print at 100 %, cut out): a home printer prints A4 as it is, where a card-sized
  page would be scaled up to fit the paper.

Both are derived from the record on every request (:func:`itb.clinic.emergency_card.emergency_record`),
never stored: after a program change the next print shows the new dose. The words families read
are :mod:`itb.web.family`'s (alarm sounds, warning signs), each "call the clinic" with the
clinic's numbers. A caregiver reaches their own child's only; any other id is "not found".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from itb.clinic.emergency_card import EmergencyPump, EmergencyRecord, emergency_record
from itb.domain import formatting
from itb.domain.clinic_settings import ClinicContacts
from itb.domain.reading import age_years_on
from itb.web import family
from itb.web.page_context import PageContext
from itb.web.page_params import PageId
from itb.web.pdf_style import new_pdf
from itb.web.print_pages import DISCLAIMER, FIXED_FLOW, program_words, when_words

TITLE = "Emergency letter: intrathecal baclofen pump"
NEVER_STOP = "Never stop baclofen abruptly."
NEVER_STOP_WHY = (
    "The pump gives baclofen into the spinal fluid all day, every day. If it stops or runs out, or its "
    "tube is blocked or broken, the medicine stops suddenly and withdrawal follows. Do not stop the pump "
    "or let it run out, even for a scan or an operation, unless the pump clinic plans it."
)
#: where the clinic has set no number: a line to write it on
BLANK = "not set in ITB: write it here ________________"
CARD_TITLE = "INTRATHECAL BACLOFEN PUMP"
CARD_CALL = "For signs of too little or too much baclofen: call the clinic now."
CARD_CALL_BEEPS = "If the pump beeps, or for signs of too little or too much baclofen: call the clinic now."
#: the wallet card's size (ISO/IEC 7810 ID-1), in mm
CARD_W_MM, CARD_H_MM = 85.6, 54.0
REGENERATED = (
    "Made from the clinic's record on {at}. It is made again from the record each time it is opened: "
    "print a new one after every change of dose or pump."
)


@dataclass(frozen=True)
class AlarmSection:
    """What the letter says of the pump's alarms: each sound and what to do (a programmable pump), or
    why none is listed (``words``: no pump, or a constant-flow pump that cannot beep, with what its
    family should know of it: ``guidance``)."""

    title: str
    sounds: list[family.AlarmSound]
    words: str = ""
    guidance: list[family.GuidanceSection] = field(default_factory=list)


@dataclass(frozen=True)
class Letter:
    """What the letter and the card say, each line a label and its value with units.
    ``no_pump``: why the pump section is left out ("" when it is shown)."""

    record: EmergencyRecord
    child: list[tuple[str, str]]
    pump: list[tuple[str, str]]
    no_pump: str
    alarms: AlarmSection
    contacts: list[tuple[str, str]]
    card: list[tuple[str, str]]

    @property
    def made(self) -> str:
        return REGENERATED.format(at=when_words(self.record.at))

    @property
    def card_call(self) -> str:
        """When to call, on the card (a pump that cannot beep: the signs only)."""
        pump = self.record.pump
        return CARD_CALL_BEEPS if pump is not None and pump.has_alarm else CARD_CALL


def _dose(value: float, unit: str) -> str:
    return formatting.quantity(value, unit, grouping=True)


def child_lines(r: EmergencyRecord) -> list[tuple[str, str]]:
    p = r.patient
    age = int(age_years_on(p.birth_date, r.at.date()))
    lines = [("Name", p.name), ("Born", f"{formatting.day(p.birth_date)} ({age} years)")]
    if r.withdrawal_risks:
        lines.append(("Highest risk of severe withdrawal", "; ".join(r.withdrawal_risks)))
    return lines


def _alarm_words(pump: EmergencyPump, r: EmergencyRecord) -> tuple[str, str]:
    label = "Low-reservoir alarm (earliest)" if pump.has_alarm else "Runs low (earliest; it has no alarm)"
    at = pump.low_reservoir_alarm_at
    if at is None:
        return label, "not known: ask the clinic"
    words = f"{when_words(at)} ({family.plain_date(at.date())})"
    return label, words + (": already passed, call the clinic today" if at <= r.at else "")


def pump_lines(r: EmergencyRecord) -> list[tuple[str, str]]:
    pump = r.pump
    if pump is None:
        return []
    b = pump.brief
    program = FIXED_FLOW if b.constant_flow else program_words(pump.program)
    visit = r.next_visit
    steps = (pump.program or {}).get("steps", ())
    one_rate = not b.constant_flow and len(steps) == 1 and not (pump.program or {}).get("boluses")
    return [
        ("Pump", f"{b.model}, {b.reservoir_capacity_ml:g} mL reservoir, serial {b.serial}"),
        ("Implanted", formatting.day(pump.implanted_at)),
        ("Drug", f"baclofen, intrathecal, {_dose(b.concentration_mcg_per_ml, 'mcg/mL')}"),
        ("Daily dose", _dose(pump.daily_dose_mcg, "mcg/day") + (", one rate all day" if one_rate else "")),
        *([] if one_rate else [("Program", program)]),
        _alarm_words(pump, r),
        ("Next visit", f"{when_words(visit.at)} ({visit.kind.replace('_', ' ')})" if visit else "none booked"),
    ]


def contact_lines(c: ClinicContacts) -> list[tuple[str, str]]:
    return [
        ("Clinic", c.name or "the pump clinic"),
        ("Day", c.day_phone or BLANK),
        ("After hours", c.after_hours_phone or BLANK),
        ("Emergency", "call emergency services"),
    ]


def card_lines(r: EmergencyRecord) -> list[tuple[str, str]]:
    """The card's lines: the child, the pump, the drug, the dose, the clinic's numbers (a line to
    write a number on where none is set)."""
    p, pump, c = r.patient, r.pump, r.contacts
    what = [("Pump", "none implanted")]
    if pump is not None:
        what = [
            ("Pump", f"{pump.brief.model}, serial {pump.brief.serial}"),
            ("Drug", f"baclofen {_dose(pump.brief.concentration_mcg_per_ml, 'mcg/mL')}, intrathecal"),
            ("Daily dose", _dose(pump.daily_dose_mcg, "mcg/day")),
        ]
    return [
        ("Name", f"{p.name}, born {formatting.day(p.birth_date)}"),
        *what,
        ("After hours", c.after_hours_phone or "_" * 22),
        ("Clinic (day)", c.day_phone or "_" * 22),
    ]


def alarm_section(r: EmergencyRecord) -> AlarmSection:
    if r.pump is None:
        return AlarmSection("Pump alarms", [], "No pump is implanted, so there is no pump alarm.")
    if not r.pump.has_alarm:
        overview, *guidance = family.pump_guidance(r.pump.brief.model)
        return AlarmSection(overview.title, [], overview.text, guidance)
    return AlarmSection("What the pump's sounds mean", list(family.ALARM_SOUNDS))


def letter_of(r: EmergencyRecord) -> Letter:
    """The letter and card of the record as read now."""
    no_pump = "" if r.pump else "No pump is implanted for this child now: this letter has no pump section."
    return Letter(r, child_lines(r), pump_lines(r), no_pump, alarm_section(r), contact_lines(r.contacts), card_lines(r))


def plain(text: str, contacts: ClinicContacts) -> str:
    """``text`` with the clinic's numbers after each "call the clinic", as plain text (the PDF's)."""
    return family.with_clinic_numbers(text, contacts).striptags()


# ----------------------------------------------------------------------------- the PDFs
class PdfWriter:
    """An fpdf2 document in the prints' style: DejaVu Sans when installed, else Helvetica (latin-1)."""

    def __init__(self) -> None:
        self.doc = new_pdf()
        self.pdf, self.font = self.doc.pdf, self.doc.font

    def text(self, value: str) -> str:
        return self.doc.text(value)

    def para(self, words: str, size: float = 10, style: str = "", height: float = 5) -> None:
        self.pdf.set_font(self.font, style, size)
        self.pdf.multi_cell(0, height, self.text(words), align="L", new_x="LMARGIN", new_y="NEXT")

    def heading(self, words: str) -> None:
        self.pdf.ln(2)
        self.para(words, 12.5, "B", 6.5)

    def lines(self, pairs: list[tuple[str, str]], width: float = 55, bold: tuple[str, ...] = ()) -> None:
        """Each pair a label and its value; the values of the labels in ``bold`` in bold."""
        pdf = self.pdf
        for label, value in pairs:
            y = pdf.get_y()
            pdf.set_font(self.font, "B", 10)
            label_lines = pdf.multi_cell(width - 2, 5.5, self.text(label), dry_run=True, output="LINES")
            rows = len(cast(list[str], label_lines))
            pdf.multi_cell(width - 2, 5.5, self.text(label), align="L", new_x="RIGHT", new_y="TOP")
            pdf.set_x(pdf.l_margin + width)
            pdf.set_font(self.font, "B" if label in bold else "", 10)
            pdf.multi_cell(0, 5.5, self.text(value), align="L", new_x="LMARGIN", new_y="NEXT")
            pdf.set_y(max(pdf.get_y(), y + rows * 5.5))

    def bullets(self, items: list[str]) -> None:
        self.pdf.set_font(self.font, "", 10)
        bullet = "-" if self.doc.latin else "•"
        for item in items:
            self.pdf.multi_cell(0, 4.6, self.text(f"{bullet}  {item}"), align="L", new_x="LMARGIN", new_y="NEXT")

    def output(self) -> bytes:
        return bytes(self.pdf.output())


def _never_stop_box(w: PdfWriter) -> None:
    pdf = w.pdf
    pdf.set_draw_color(179, 38, 30)
    pdf.set_line_width(0.8)
    top = pdf.get_y()
    pdf.ln(2)
    w.para(NEVER_STOP, 16, "B", 8)
    w.para(NEVER_STOP_WHY, 10)
    pdf.ln(2)
    pdf.rect(pdf.l_margin - 2, top, pdf.epw + 4, pdf.get_y() - top)
    pdf.set_line_width(0.2)
    pdf.set_draw_color(0, 0, 0)


def _sounds_table(w: PdfWriter, section: AlarmSection, contacts: ClinicContacts) -> None:
    from fpdf.fonts import FontFace

    w.pdf.set_font(w.font, "", 9)
    bold, urgent = FontFace(emphasis="BOLD"), FontFace(fill_color=(253, 236, 234))
    with w.pdf.table(
        col_widths=(22, 44, 54), headings_style=bold, line_height=4.4, text_align="LEFT", padding=(0.8, 1.2)
    ) as table:
        table.row([w.text(h) for h in ("Sound", "What it means", "What to do")])
        for a in section.sounds:
            row = table.row(style=urgent if a.emergency else None)
            for cell in (a.sound, a.meaning, plain(a.what_to_do, contacts)):
                row.cell(w.text(cell))


def _alarms(w: PdfWriter, section: AlarmSection, contacts: ClinicContacts) -> None:
    w.heading(section.title)
    if section.sounds:
        _sounds_table(w, section, contacts)
    if section.words:
        w.para(plain(section.words, contacts))
    for g in section.guidance:
        w.pdf.ln(1)
        w.para(g.title, 10, "B")
        w.para(plain(g.text, contacts))


def _signs(w: PdfWriter, title: str, signs: list[family.Sign], note: str, contacts: ClinicContacts) -> None:
    w.heading(title)
    w.bullets([plain(str(s), contacts) for s in signs])
    w.para(plain(note, contacts), 10, "B")


def letter_pdf(letter: Letter) -> bytes:
    """The letter as a PDF (A4, one or two pages)."""
    w, r = PdfWriter(), letter.record
    w.para(TITLE, 16, "B", 9)
    w.para(f"For {r.patient.name}. Show it to any doctor, nurse, paramedic, school or carer.", 10)
    w.pdf.ln(3)
    _never_stop_box(w)
    w.heading("Who to call")
    w.lines(letter.contacts, bold=("Day", "After hours"))
    w.heading("The child")
    w.lines(letter.child)
    w.heading("The pump")
    if letter.pump:
        w.lines(letter.pump)
    else:
        w.para(letter.no_pump)
    _alarms(w, letter.alarms, r.contacts)
    _signs(w, "Signs of too little baclofen (withdrawal)", family.TOO_LITTLE_SIGNS, family.TOO_LITTLE_NOTE, r.contacts)
    _signs(w, "Signs of too much baclofen (overdose)", family.TOO_MUCH_SIGNS, family.TOO_MUCH_NOTE, r.contacts)
    w.pdf.ln(3)
    if w.pdf.will_page_break(14):
        w.pdf.add_page()  # the footer's two lines stay together
    w.para(letter.made, 8, height=4)
    w.para(DISCLAIMER, 8, "B", 4)
    return w.output()


def _fitted(w: PdfWriter, text: str, width: float, style: str, size: float = 7.5, smallest: float = 5.0) -> None:
    """The font at ``size``, or smaller (down to ``smallest``) until ``text`` fits in ``width`` mm."""
    w.pdf.set_font(w.font, style, size)
    while size > smallest and w.pdf.get_string_width(text) + 2 * w.pdf.c_margin > width:
        size -= 0.25
        w.pdf.set_font(w.font, style, size)


def _card(w: PdfWriter, letter: Letter, x: float, y: float) -> None:
    """One card at (x, y), 85.6 × 54 mm inside a dashed cut line."""
    pdf, pad = w.pdf, 3.0
    inner = CARD_W_MM - 2 * pad
    pdf.set_dash_pattern(dash=1.5, gap=1.2)
    pdf.rect(x, y, CARD_W_MM, CARD_H_MM)
    pdf.set_dash_pattern()
    pdf.set_xy(x + pad, y + pad)
    pdf.set_font(w.font, "B", 9)
    pdf.cell(inner, 5, w.text(CARD_TITLE), new_x="LEFT", new_y="NEXT")
    for label, value in letter.card:
        pdf.set_font(w.font, "B", 7)
        pdf.cell(20, 3.9, w.text(label), new_x="RIGHT", new_y="TOP")
        _fitted(w, w.text(value), inner - 20, "B" if label in ("Name", "After hours") else "")
        pdf.cell(inner - 20, 3.9, w.text(value), new_x="LEFT", new_y="NEXT")
        pdf.set_x(x + pad)
    pdf.set_xy(x + pad, pdf.get_y() + 0.8)
    pdf.set_fill_color(179, 38, 30)
    pdf.set_text_color(255, 255, 255)
    pdf.set_font(w.font, "B", 9)
    pdf.cell(inner, 6.5, w.text(NEVER_STOP.upper()), align="C", fill=True, new_x="LEFT", new_y="NEXT")
    pdf.set_text_color(0, 0, 0)
    pdf.set_font(w.font, "", 6)
    pdf.multi_cell(inner, 2.8, w.text(letter.card_call), align="L", new_x="LEFT", new_y="NEXT")
    pdf.set_xy(x + pad, y + CARD_H_MM - pad - 4.6)
    pdf.set_font(w.font, "", 4.8)
    made = f"Made with ITB {formatting.day(letter.record.at)}. {DISCLAIMER}"
    pdf.multi_cell(inner, 2.3, w.text(made), align="L")


def card_pdf(letter: Letter) -> bytes:
    """Two wallet cards on an A4 page, each at its true size inside cut lines."""
    w = PdfWriter()
    w.para("Wallet card: print at actual size (100 %), cut along the dashed lines, keep one in the wallet.", 9)
    top = w.pdf.get_y() + 4
    for k in range(2):
        _card(w, letter, w.pdf.l_margin + k * (CARD_W_MM + 8), top)
    w.pdf.set_xy(w.pdf.l_margin, top + CARD_H_MM + 6)
    w.para(letter.made, 8, height=4)
    return w.output()


# ----------------------------------------------------------------------------- the routes
def install_emergency_pages(router: APIRouter, page: PageContext) -> None:
    """Add the emergency letter and the wallet card (HTML and PDF) to ``router``."""
    clinic = page.clinic

    def shown(request: Request, template: str, patient_id: int) -> HTMLResponse:
        actor, token = page.session(request)
        letter = letter_of(emergency_record(clinic, actor, patient_id))
        back = "/family" if actor.role == "caregiver" else f"/patients/{patient_id}"
        return page.render(
            request, template, actor, token, letter=letter, family=family, back=back, never_stop=NEVER_STOP,
            never_stop_why=NEVER_STOP_WHY, blank=BLANK, disclaimer=DISCLAIMER, card_title=CARD_TITLE,
        )  # fmt: skip

    def as_pdf(request: Request, patient_id: int, make: Any, name: str) -> Response:
        actor, _ = page.session(request)
        return Response(
            make(letter_of(emergency_record(clinic, actor, patient_id))),
            media_type="application/pdf",
            headers={"Content-Disposition": f'inline; filename="{name}-{patient_id}.pdf"'},
        )

    @router.get("/patients/{patient_id}/emergency-letter", response_class=HTMLResponse)
    def letter_page(request: Request, patient_id: PageId) -> HTMLResponse:
        return shown(request, "emergency_letter.html", patient_id)

    @router.get("/patients/{patient_id}/emergency-letter.pdf")
    def letter_file(request: Request, patient_id: PageId) -> Response:
        return as_pdf(request, patient_id, letter_pdf, "emergency-letter")

    @router.get("/patients/{patient_id}/wallet-card", response_class=HTMLResponse)
    def card_page(request: Request, patient_id: PageId) -> HTMLResponse:
        return shown(request, "wallet_card.html", patient_id)

    @router.get("/patients/{patient_id}/wallet-card.pdf")
    def card_file(request: Request, patient_id: PageId) -> Response:
        return as_pdf(request, patient_id, card_pdf, "wallet-card")


__all__ = [
    "BLANK",
    "CARD_H_MM",
    "CARD_W_MM",
    "NEVER_STOP",
    "NEVER_STOP_WHY",
    "Letter",
    "card_pdf",
    "install_emergency_pages",
    "letter_of",
    "letter_pdf",
]
