"""The prints' PDF style, one place for all of them (a record, the emergency letter, the quality
report): fpdf2 with DejaVu Sans when the system has it, else Helvetica, whose latin-1 text needs
the few signs the prints use spelled out."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fpdf import FPDF

#: where Debian's fonts-dejavu puts DejaVu Sans
FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
#: what Helvetica (latin-1) cannot print, as it is spelled out
_LATIN = str.maketrans({"—": "-", "–": "-", "·": "-", "≤": "<=", "≥": ">=", "×": "x", "…": "..."})


@dataclass
class PdfDocument:
    pdf: FPDF
    font: str
    latin: bool

    def text(self, value: str) -> str:
        """``value`` as the font can print it."""
        if not self.latin:
            return value
        return value.translate(_LATIN).encode("latin-1", "replace").decode("latin-1")


def new_pdf(orientation: str = "P", margin: float = 15) -> PdfDocument:
    """An A4 document with its first page, in DejaVu Sans if installed (regular and bold), else Helvetica."""
    from fpdf import FPDF

    pdf = FPDF(orientation=orientation, format="A4")  # type: ignore[arg-type]
    pdf.set_auto_page_break(True, margin=margin)
    pdf.add_page()
    regular, bold = FONT_DIR / "DejaVuSans.ttf", FONT_DIR / "DejaVuSans-Bold.ttf"
    if regular.exists() and bold.exists():
        pdf.add_font("DejaVu", "", str(regular))
        pdf.add_font("DejaVu", "B", str(bold))
        return PdfDocument(pdf, "DejaVu", latin=False)
    return PdfDocument(pdf, "Helvetica", latin=True)


__all__ = ["FONT_DIR", "PdfDocument", "new_pdf"]
