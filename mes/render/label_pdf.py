"""Labels as PDF: one label per page, page = the exact stock, fonts embedded, vector symbols.

The GS1 DataMatrix is drawn as filled rectangles from pyStrich's module matrix (not
reportlab's ECC200DataMatrix, which is fixed-size, has no FNC1 and pads a NUL: DESIGN §6).
ISO 15223-1 symbols are drawn as paths, so they print sharp at any resolution.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from mes.domain.gs1 import parse_element_string
from mes.errors import InvalidInput
from mes.render.gs1_check import check_element_string
from mes.render.label_content import LabelContent
from mes.render.label_templates import (
    FIELDS,
    FONT,
    FONT_BOLD,
    LINE_FACTOR,
    LOGICAL,
    PT_PER_MM,
    STORAGE_GAP,
    SYMBOL_ONLY,
    Box,
    Template,
    box_lines,
    check_content,
    datamatrix_marks,
    is_arabic_drawn,
    register_fonts,
    storage_symbols,
    symbol_height_mm,
    symbol_width_mm,
    text_width_mm,
)

if TYPE_CHECKING:
    from reportlab.pdfgen.canvas import Canvas

__all__ = ["LabelContent", "check_label", "render_label_pdf"]


def check_label(c: LabelContent, t: Template) -> None:
    """Everything that must hold before a label is printed; raises InvalidInput."""
    check_element_string(c.udi_hri)
    if parse_element_string(c.udi_data) != parse_element_string(c.udi_hri):
        raise InvalidInput("the printed HRI and the DataMatrix data differ", field="udi")
    el = parse_element_string(c.udi_hri)
    # DESIGN §6: the UDI-PI carries every production identifier printed on the label.
    printed = {"10": c.lot, "21": c.serial,
               "11": c.mfg_date.strftime("%y%m%d"),
               "17": c.expiry.strftime("%y%m%d") if c.expiry else None}
    for ai, value in printed.items():
        if value is not None and el.get(ai) != value and not (
            ai == "17" and el.get(ai, "")[:4] == value[:4] and el.get(ai, "").endswith("00")
        ):
            raise InvalidInput(f"AI ({ai}) in the UDI is {el.get(ai)!r} but the label prints "
                               f"{value!r}", field="udi")
    check_content(c, t)


class _Page:
    def __init__(self, canvas: Canvas, t: Template) -> None:
        self.c, self.t = canvas, t

    # top-left millimetres -> reportlab points
    def px(self, x: float) -> float:
        return x * PT_PER_MM

    def py(self, y: float) -> float:
        return (self.t.height_mm - y) * PT_PER_MM

    def poly(self, pts: list[tuple[float, float]], x: float, y: float, w: float, h: float,
             fill: bool) -> None:
        """Polygon in unit coordinates (0..1, y up) scaled into the box (x, y top-left, mm)."""
        p = self.c.beginPath()
        for i, (u, v) in enumerate(pts):
            (p.moveTo if i == 0 else p.lineTo)(self.px(x + u * w), self.py(y + h - v * h))
        p.close()
        self.c.drawPath(p, stroke=1, fill=1 if fill else 0)

    def text(self, s: str, x: float, baseline_y: float, size: float, bold: bool = False,
             anchor: str = "left") -> None:
        font = FONT_BOLD if bold else FONT
        self.c.setFont(font, size)
        draw = {"left": self.c.drawString, "center": self.c.drawCentredString,
                "right": self.c.drawRightString}[anchor]
        draw(self.px(x), self.py(baseline_y), s)
        if is_arabic_drawn(s):
            self._logical_layer(s, x, baseline_y, size, font, anchor)

    def _logical_layer(self, s: str, x: float, baseline_y: float, size: float, font: str,
                       anchor: str) -> None:
        """Arabic is drawn as joined letter forms in visual order; text extractors (pypdf)
        give those presentation forms back. An invisible copy in base letters over the same
        spot (render mode 3) makes the logical text searchable: extractors put visual
        right-to-left runs back in logical order, so the copy is written in visual order."""
        from bidi import get_display

        logical = LOGICAL.get(s)
        if logical is None:
            return
        hidden = str(get_display(logical))
        width = text_width_mm(s, size, font == FONT_BOLD)
        left = {"left": x, "center": x - width / 2, "right": x - width}[anchor]
        self.c.saveState()  # the render mode outlives the text object: keep it local
        t = self.c.beginText(self.px(left), self.py(baseline_y))
        t.setTextRenderMode(3)
        t.setFont(font, size)
        hidden_w = text_width_mm(hidden, size, font == FONT_BOLD)
        if hidden_w > 0:  # the same extent as the drawn run, so a selection covers both
            t.setHorizScale(100 * width / hidden_w)
        t.textOut(hidden)
        self.c.drawText(t)
        self.c.restoreState()

    # ---- ISO 15223-1 symbols ----------------------------------------------------------------

    # factory outline: walls, saw-tooth roof, chimney (unit square, y up)
    _FACTORY: ClassVar[list[tuple[float, float]]] = [
        (0, 0), (0, 0.55), (0.2, 0.75), (0.2, 0.55), (0.4, 0.75), (0.4, 0.55),
        (0.6, 0.75), (0.6, 0.55), (0.7, 0.55), (0.7, 1.0), (0.86, 1.0), (0.86, 0.55),
        (1.0, 0.55), (1.0, 0),
    ]

    def symbol(self, kind: str, x: float, y: float, h: float, country: str = "") -> float:
        """Draw symbol ``kind`` with its top-left at (x, y), height h mm; return its width."""
        w = symbol_width_mm(kind, h)
        self.c.setLineWidth(max(0.15, h * 0.05) * PT_PER_MM)
        self.c.setLineJoin(1)
        if kind == "CE":
            from mes.render.label_symbols import ce_mark

            ce_mark(self, x, y + h * 0.1, h * 0.8)
        elif kind == "importer":
            from mes.render.label_symbols import importer

            importer(self, x, y + h * 0.05, w, h * 0.9)
        elif kind.isupper():  # REF, LOT, SN, MD, UDI, EC REP: letters in a rectangle
            inset = h * 0.06
            self.c.rect(self.px(x + inset), self.py(y + h - inset), (w - 2 * inset) * PT_PER_MM,
                        (h - 2 * inset) * PT_PER_MM, stroke=1, fill=0)
            size = h * PT_PER_MM * 0.55
            self.text(kind, x + w / 2, y + h / 2 + size * 0.36 / PT_PER_MM, size, True, "center")
        elif kind in ("manufacturer", "mfg", "country"):
            # 5.1.1 filled factory; 5.1.3 and 5.1.11 outlined (5.1.11 with the country code)
            self.poly(self._FACTORY, x, y + h * 0.04, w, h * 0.92, fill=kind == "manufacturer")
            if kind == "country" and country:
                size = h * PT_PER_MM * 0.36
                self.text(country, x + w * 0.5, y + h * 0.9, size, True, "center")
        elif kind == "use_by":  # 5.1.4 hourglass
            hw = w * 0.86
            hx = x + (w - hw) / 2
            self.poly([(0.1, 1), (0.9, 1), (0.5, 0.5)], hx, y + h * 0.08, hw, h * 0.84, False)
            self.poly([(0.1, 0), (0.9, 0), (0.5, 0.5)], hx, y + h * 0.08, hw, h * 0.84, False)
            self.poly([(0.22, 0.06), (0.78, 0.06), (0.5, 0.34)], hx, y + h * 0.08, hw,
                      h * 0.84, True)
            self.c.line(self.px(hx), self.py(y + h * 0.08), self.px(hx + hw), self.py(y + h * 0.08))
            self.c.line(self.px(hx), self.py(y + h * 0.92), self.px(hx + hw), self.py(y + h * 0.92))
        return w

    # ---- boxes ------------------------------------------------------------------------------

    def storage(self, box: Box, c: LabelContent) -> None:
        """IFU, temperature limits, keep dry: the symbols the catalog asks for, in a row."""
        from mes.render import label_symbols as sym

        x = box.x
        for kind in storage_symbols(c):
            if kind == "ifu":
                sym.ifu(self, x, box.y, box.h)
            elif kind == "temperature":
                sym.temperature(self, x, box.y, box.h, c.temp_min_c, c.temp_max_c)
            else:
                sym.keep_dry(self, x, box.y, box.h)
            x += sym.symbol_width(kind, box.h) + box.h * STORAGE_GAP

    def datamatrix(self, box: Box, data: str) -> None:
        marks, _ = datamatrix_marks(data)
        m = self.t.module_mm
        # one module of quiet zone inside the box, symbol at its top-left
        x0, y0 = box.x + m, box.y + m
        # One path for the whole symbol: one fill operator instead of one per module run.
        path = self.c.beginPath()
        for mx, my, mw, mh in marks:
            path.rect(self.px(x0 + mx * m), self.py(y0 + (my + mh) * m),
                      mw * m * PT_PER_MM, mh * m * PT_PER_MM)
        self.c.drawPath(path, stroke=0, fill=1)

    def text_box(self, box: Box, content: LabelContent,
                 lines: list[tuple[str, bool]] | None = None) -> None:
        kind = FIELDS.get(box.field)
        lines = box_lines(box, content, self.t) if lines is None else lines
        if not lines and box.field == "origin" and content.country_code:
            # 5.1.11 states where the device was made, claim or not (issue 17)
            sh = symbol_height_mm(box)
            self.symbol("country", box.x, box.y + (box.h - sh) / 2, sh, content.country_code)
            return
        if not lines:
            return
        tx = box.x
        if kind is not None:
            sh = symbol_height_mm(box)
            sy = box.y + (box.h - sh) / 2
            tx += self.symbol(kind, box.x, sy, sh, content.country_code) + 0.8
        size = box.font_size
        lh = size * LINE_FACTOR / PT_PER_MM
        top = box.y + (box.h - lh * len(lines)) / 2
        widest = max(text_width_mm(s, size, b) for s, b in lines)
        for i, (s, bold) in enumerate(lines):
            base = top + (i + 0.5) * lh + size * 0.33 / PT_PER_MM
            if box.field == "origin" and s != content.origin_texts.get("en") and \
                    is_arabic_drawn(s):
                # Arabic reads right-to-left: align it to the right edge of the block
                self.text(s, tx + widest, base, size, bold, "right")
            elif box.field == "text_ar":
                self.text(s, box.x + box.w, base, size, bold, "right")
            elif box.field == "footer" and s.endswith("REPRINT"):
                head = s.removesuffix("REPRINT").rstrip()
                self.text(head, tx, base, size)
                self.text("REPRINT", box.x + box.w, base, size * 1.25, True, "right")
            else:
                self.text(s, tx, base, size, bold or box.field == "product_name")

    def draw(self, content: LabelContent, forms: dict[tuple[Any, ...], str]) -> None:
        """What is the same on every label of a batch (symbols, product, manufacturer, the
        origin claim) is drawn once into a form and placed by reference on each page."""
        for i, box in enumerate(self.t.boxes):
            if box.field == "datamatrix":
                self.datamatrix(box, content.udi_data)
                continue
            if box.field == "symbols":
                self.storage(box, content)
                continue
            if box.field in SYMBOL_ONLY:
                key: tuple[Any, ...] = (i, box.field)
                lines = None
            else:
                lines = box_lines(box, content, self.t)
                key = (i, box.field, tuple(lines), content.country_code)
            name = forms.get(key)
            if name is None:
                name = forms[key] = f"F{len(forms)}"
                self.c.beginForm(name)
                if box.field in SYMBOL_ONLY:
                    self.symbol(FIELDS[box.field] or "", box.x, box.y, box.h)
                else:
                    self.text_box(box, content, lines)
                self.c.endForm()
            self.c.doForm(name)


def render_label_pdf(labels: list[LabelContent], template: Template,
                     on_page: Callable[[int], None] | None = None) -> bytes:
    """One page per label, page size exactly the template's stock; checks each label first.
    `on_page(n)` after each page drawn (a progress bar)."""
    from reportlab.pdfgen.canvas import Canvas

    if not labels:
        raise InvalidInput("no labels to render", field="labels")
    for label in labels:
        check_label(label, template)
    register_fonts()
    buf = io.BytesIO()
    size = (template.width_mm * PT_PER_MM, template.height_mm * PT_PER_MM)
    # initialFontName: otherwise every page references a non-embedded Helvetica
    canvas = Canvas(buf, pagesize=size, invariant=True, pageCompression=1,
                    initialFontName=FONT, initialFontSize=7)
    canvas.setTitle(f"labels {template.name} v{template.version}")
    canvas.setCreator("mes")
    forms: dict[tuple[Any, ...], str] = {}
    for n, label in enumerate(labels, 1):
        _Page(canvas, template).draw(label, forms)
        canvas.showPage()
        if on_page is not None:
            on_page(n)
    canvas.save()
    return buf.getvalue()
