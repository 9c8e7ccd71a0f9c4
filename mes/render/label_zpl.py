"""Labels as ZPL II for Zebra printers: same template, same text as the PDF.

Text uses the printer-resident TrueType font E:PLEXAR.TTF (IBM Plex Sans Arabic, download it
once with the printer tools) aliased as font A; ^CI28 = UTF-8. Arabic is sent already shaped
and in visual order, so the printer's advanced layout (^PA) must stay off.
The DataMatrix is ^BX quality 200 with "_" as escape character: "_1" is FNC1, first and
after each variable-length field but the last (GS1 DataMatrix).
"""

from __future__ import annotations

from mes.domain.gs1 import AIS, parse_element_string
from mes.render.label_content import LabelContent
from mes.render.label_pdf import check_label
from mes.render.label_templates import (
    FIELDS,
    LINE_FACTOR,
    PT_PER_MM,
    SYMBOL_ONLY,
    Box,
    Template,
    box_lines,
    symbol_height_mm,
    symbol_width_mm,
)

PRINTER_FONT = "E:PLEXAR.TTF"


def _fd(text: str) -> str:
    """Field data safe for ^FH: the ZPL control characters become hex escapes."""
    return "".join(f"_{ord(c):02X}" if c in "^~_" else c for c in text)


def zpl_gs1_data(udi_data: str) -> str:
    """^FD content for ^BX with escape '_': FNC1 first and after variable-length fields."""
    elements = list(parse_element_string(udi_data).items())
    out = ["_1"]
    for i, (ai, value) in enumerate(elements):
        out.append(ai + value.replace("_", "__"))
        if AIS[ai][0] is None and i < len(elements) - 1:
            out.append("_1")
    return "".join(out)


class _Zpl:
    def __init__(self, t: Template) -> None:
        self.t = t
        self.dpmm = t.dpi / 25.4
        self.out: list[str] = []

    def d(self, mm: float) -> int:
        return round(mm * self.dpmm)

    def text(self, s: str, x: float, y_top: float, size: float) -> None:
        h = max(self.d(size / PT_PER_MM), 10)
        self.out.append(f"^FO{self.d(x)},{self.d(y_top)}^AAN,{h},{h}^FH_^FD{_fd(s)}^FS")

    def rect(self, x: float, y: float, w: float, h: float, line: int) -> None:
        self.out.append(f"^FO{self.d(x)},{self.d(y)}^GB{self.d(w)},{self.d(h)},{line}^FS")

    def symbol(self, kind: str, x: float, y: float, h: float, country: str = "") -> float:
        w = symbol_width_mm(kind, h)
        line = max(1, self.d(max(0.15, h * 0.05)))
        if kind.isupper():
            self.rect(x, y, w, h, line)
            size = h * PT_PER_MM * 0.55
            self.out.append(
                f"^FO{self.d(x)},{self.d(y + (h - size / PT_PER_MM) / 2)}"
                f"^AAN,{self.d(size / PT_PER_MM)},{self.d(size / PT_PER_MM)}"
                f"^FB{self.d(w)},1,0,C^FD{kind}^FS")
        elif kind in ("manufacturer", "mfg", "country"):
            body = h * 0.45
            fill = self.d(body) if kind == "manufacturer" else line
            self.rect(x, y + h - body, w, body, fill)
            self.rect(x + w * 0.7, y, w * 0.16, h - body, line)  # chimney
            for i in range(3):  # saw-tooth roof
                self.out.append(f"^FO{self.d(x + i * w * 0.2)},{self.d(y + h * 0.3)}"
                                f"^GD{self.d(w * 0.2)},{self.d(h * 0.25)},{line},B,R^FS")
            if kind == "country" and country:
                self.text(country, x + w * 0.2, y + h - body * 0.9, body * PT_PER_MM * 0.7)
        elif kind == "use_by":
            self.rect(x, y, w, line / self.dpmm, line)
            self.rect(x, y + h - line / self.dpmm, w, line / self.dpmm, line)
            for o in ("L", "R"):
                self.out.append(f"^FO{self.d(x)},{self.d(y)}^GD{self.d(w)},{self.d(h)},"
                                f"{line},B,{o}^FS")
        return w

    def box(self, box: Box, c: LabelContent) -> None:
        if box.field == "datamatrix":
            m = self.t.module_mm
            self.out.append(f"^FO{self.d(box.x + m)},{self.d(box.y + m)}"
                            f"^BXN,{self.t.module_dots},200,,,,_"
                            f"^FD{zpl_gs1_data(c.udi_data)}^FS")
            return
        kind = FIELDS.get(box.field)
        if box.field in SYMBOL_ONLY:
            self.symbol(kind or "", box.x, box.y, box.h)
            return
        lines = box_lines(box, c, self.t)
        if not lines:
            return
        tx = box.x
        if kind is not None:
            sh = symbol_height_mm(box)
            tx += self.symbol(kind, box.x, box.y + (box.h - sh) / 2, sh, c.country_code) + 0.8
        lh = box.font_size * LINE_FACTOR / PT_PER_MM
        top = box.y + (box.h - lh * len(lines)) / 2
        for i, (s, _bold) in enumerate(lines):
            self.text(s, tx, top + i * lh + lh * 0.08, box.font_size)

    def label(self, c: LabelContent) -> str:
        t = self.t
        self.out = ["^XA", "^CI28", f"^CWA,{PRINTER_FONT}", f"^PW{self.d(t.width_mm)}",
                    f"^LL{self.d(t.height_mm)}", "^LH0,0", "^PR3"]
        for box in t.boxes:
            self.box(box, c)
        self.out.append("^XZ")
        return "\n".join(self.out) + "\n"


def render_label_zpl(labels: list[LabelContent], template: Template) -> bytes:
    """One ^XA…^XZ format per label, UTF-8."""
    for label in labels:
        check_label(label, template)
    z = _Zpl(template)
    return "".join(z.label(c) for c in labels).encode("utf-8")
