"""Logistic labels (issue 19): one page of 100 x 150 mm per SSCC-identified package.

A GS1 logistic label: the sender, what is inside (in words), then the GS1 DataMatrix with
(00) SSCC, and for homogeneous content (02) GTIN + (37) count, (17) use-by and (10) lot,
with the HRI in parentheses and the SSCC printed large. Vector modules, 4 dots at 203 dpi.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from mes.domain.gs1 import format_data, format_hri, parse_element_string
from mes.errors import InvalidInput
from mes.render.label_templates import (
    FONT,
    FONT_BOLD,
    PT_PER_MM,
    datamatrix_marks,
    register_fonts,
)

WIDTH_MM, HEIGHT_MM = 100.0, 150.0
DPI = 203
MODULE_MM = 4 * 25.4 / DPI  # 0.500 mm: 4 printer dots
SYMBOL_REGION_MM = (3.0, 60.0, 36.0, 56.0)  # x, y, w, h: the symbol and its quiet zone


@dataclass(frozen=True)
class LogisticContent:
    sscc: str
    elements: dict[str, str]  # AI -> value, in print order
    level: str  # box, case, pallet
    sender_name: str
    sender_address: str
    product_name: str | None  # None: mixed content
    ref: str | None
    count: int  # units inside, at any depth
    packages: int  # direct contents (units or packages)
    lot: str | None
    expiry: str | None  # YYYY-MM-DD
    is_reprint: bool = False

    @property
    def hri(self) -> str:
        return format_hri(self.elements)

    @property
    def data(self) -> str:
        return format_data(self.elements)


def render_logistic_pdf(labels: list[LogisticContent]) -> bytes:
    from reportlab.pdfgen.canvas import Canvas

    if not labels:
        raise InvalidInput("no labels to render", field="labels")
    register_fonts()
    buf = io.BytesIO()
    canvas = Canvas(buf, pagesize=(WIDTH_MM * PT_PER_MM, HEIGHT_MM * PT_PER_MM),
                    invariant=True, pageCompression=1, initialFontName=FONT,
                    initialFontSize=7)
    canvas.setTitle("logistic labels")
    canvas.setCreator("mes")
    for c in labels:
        if parse_element_string(c.data) != c.elements or c.elements.get("00") != c.sscc:
            raise InvalidInput("the logistic label's data and SSCC differ", field="sscc")
        _draw(canvas, c)
        canvas.showPage()
    canvas.save()
    return buf.getvalue()


def _draw(cv: object, c: LogisticContent) -> None:
    from reportlab.pdfgen.canvas import Canvas

    assert isinstance(cv, Canvas)

    def text(s: str, x: float, y: float, size: float, bold: bool = False) -> None:
        cv.setFont(FONT_BOLD if bold else FONT, size)
        cv.drawString(x * PT_PER_MM, (HEIGHT_MM - y) * PT_PER_MM, s)

    def rule(y: float) -> None:
        cv.setLineWidth(0.3 * PT_PER_MM)
        cv.line(5 * PT_PER_MM, (HEIGHT_MM - y) * PT_PER_MM, 95 * PT_PER_MM,
                (HEIGHT_MM - y) * PT_PER_MM)

    text("FROM", 5, 8, 7)
    text(c.sender_name[:48], 5, 14, 11, True)
    text(c.sender_address[:64], 5, 19, 8)
    rule(23)
    text(f"{c.level.upper()}  ·  {c.count} units" + (
        f" in {c.packages} packages" if c.packages != c.count else ""), 5, 31, 13, True)
    y = 38.0
    if c.product_name:
        text(c.product_name[:52], 5, y, 9)
        y += 5
    if c.ref:
        text(f"REF {c.ref}", 5, y, 9)
        y += 5
    text(f"LOT {c.lot}" if c.lot else "LOT mixed", 5, y, 10, True)
    if c.expiry:
        text(f"USE BY {c.expiry}", 52, y, 10, True)
    rule(58)
    # the symbol: quiet zone of one module inside its box at (5, 62)
    marks, _size = datamatrix_marks(c.data)
    m = MODULE_MM
    x0, y0 = 5 + m, 62 + m
    path = cv.beginPath()
    for mx, my, mw, mh in marks:
        path.rect((x0 + mx * m) * PT_PER_MM, (HEIGHT_MM - (y0 + (my + mh) * m)) * PT_PER_MM,
                  mw * m * PT_PER_MM, mh * m * PT_PER_MM)
    cv.drawPath(path, stroke=0, fill=1)
    hri = c.hri
    lines, line = [], ""
    for part in ("(" + p for p in hri.split("(") if p):  # one AI per piece, wrapped
        if len(line) + len(part) > 30:
            lines.append(line)
            line = ""
        line += part
    lines.append(line)
    for i, s in enumerate(lines):
        text(s, 40, 68 + i * 5, 9)
    rule(118)
    text("SSCC", 5, 125, 8)
    s = c.sscc
    text(f"(00) {s[0]} {s[1:17]} {s[17]}", 5, 134, 16, True)
    if c.is_reprint:
        text("REPRINT", 75, 145, 9, True)
