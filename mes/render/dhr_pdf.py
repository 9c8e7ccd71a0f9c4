"""Device History Record as a PDF (21 CFR 820.184, ISO 13485:2016 §7.5.1).

`render_dhr_pdf(dhr)` turns the DHR dict assembled by the service layer into an
A4 portrait PDF meant to be read, printed and filed by a person. The audit chain
head (DESIGN §5) is printed in the title block, in the closing statement and, in
short form, on every page footer, so a rewritten chain is caught against paper.

reportlab is imported inside the functions: importing this module stays cheap,
so command modules may import it eagerly without slowing the operator path.

Tables are laid out with known column widths and precomputed row heights: the
platypus Table then splits across pages without re-measuring every remaining row
at each page break (which is quadratic and takes tens of seconds for a lot of
200 units × 12 steps).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.platypus import Flowable

DASH = "—"
VERIFY_CMD = "mes audit verify --anchor <hash>"
NOT_CAPTURED = "not captured"
# Up to this many units, section 3 prints one table per unit; above, a single
# table with a serial column.
PER_UNIT_TABLES_MAX = 5

_MM = 72.0 / 25.4
_MARGIN_X = 15 * _MM
_MARGIN_TOP = 20 * _MM
_MARGIN_BOTTOM = 18 * _MM
_PAD_X = 3.0
_PAD_Y = 2.0
_MAX_ROW = 400.0  # taller rows are measured by reportlab and split inside the row

_ARABIC = re.compile("[\u0600-\u06ff\u0750-\u077f\u08a0-\u08ff\ufb50-\ufdff\ufe70-\ufeff]")
_SERIAL_NUM = re.compile(r"^(.*?)(\d+)$")


# --------------------------------------------------------------------------- text helpers


def _shape(text: str) -> str:
    """Arabic needs joining forms and visual order: reportlab does neither without harfbuzz."""
    if not _ARABIC.search(text):
        return text
    import arabic_reshaper
    from bidi import get_display

    return "\n".join(str(get_display(arabic_reshaper.reshape(line))) for line in text.split("\n"))


def _txt(value: Any) -> str:
    """Plain printable text of a JSON value; missing / None / empty as an em dash."""
    if value is None or value == "" or value == []:
        return DASH
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return _num(value)
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return _shape(str(value))


def _num(value: Any, digits: int = 3) -> str:
    if value is None:
        return DASH
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        return f"{value:.{digits}f}".rstrip("0").rstrip(".")
    return _txt(value)


def _pct(value: Any) -> str:
    if value is None:
        return DASH
    try:
        return f"{float(value):.1f} %"
    except (TypeError, ValueError):
        return _txt(value)


def _parse_ts(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        ts = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return ts.astimezone(UTC)


def _ts(value: Any, *, utc_suffix: bool = False) -> str:
    """ISO-8601 time as 'YYYY-MM-DD HH:MM:SS' in UTC (unparseable text printed as is)."""
    ts = _parse_ts(value)
    if ts is None:
        return _txt(value)
    out = ts.strftime("%Y-%m-%d %H:%M:%S")
    return out + " UTC" if utc_suffix else out


def _span(start: Any, end: Any) -> str:
    """Start and end of a step on two lines; the end date is omitted when it is the same day."""
    s, e = _parse_ts(start), _parse_ts(end)
    first = _ts(start)
    if end is None:
        return f"{first}\n→ {DASH}"
    if s is not None and e is not None and s.date() == e.date():
        return f"{first}\n→ {e.strftime('%H:%M:%S')}"
    return f"{first}\n→ {_ts(end)}"


def _short(h: Any, n: int = 12) -> str:
    if not h:
        return DASH
    h = str(h)
    return h if len(h) <= n else h[:n] + "…"


def _kv(data: Any) -> str:
    if not data:
        return DASH
    if not isinstance(data, dict):
        return _txt(data)
    parts = []
    for k, v in data.items():
        if isinstance(v, float):
            vs = _num(v, 6)
        elif isinstance(v, str):
            vs = _shape(v)
        elif v is None:
            vs = DASH
        else:
            vs = json.dumps(v, ensure_ascii=False, sort_keys=True)
        parts.append(f"{k}={vs}")
    return ", ".join(parts)


def _serials(items: Iterable[Any]) -> str:
    """Compress runs of consecutive serials: SN-000001 … SN-000048 (48)."""
    names = [str(x) for x in items if x is not None]
    if not names:
        return DASH
    out: list[str] = []
    i = 0
    while i < len(names):
        m = _SERIAL_NUM.match(names[i])
        j = i
        if m:
            prefix, digits = m.group(1), m.group(2)
            n = int(digits)
            while j + 1 < len(names):
                m2 = _SERIAL_NUM.match(names[j + 1])
                if not (
                    m2
                    and m2.group(1) == prefix
                    and len(m2.group(2)) == len(digits)
                    and int(m2.group(2)) == n + (j + 1 - i)
                ):
                    break
                j += 1
        if j - i >= 2:
            out.append(f"{names[i]} … {names[j]} ({j - i + 1})")
        else:
            out.extend(names[i : j + 1])
        i = j + 1
    return ", ".join(out)


def _hash2(value: Any) -> str:
    """A sha256 on two lines of 32 hex digits (fits a HASH2 column)."""
    h = _txt(value)
    return h[:32] + "\n" + h[32:] if len(h) == 64 else h


_AI = re.compile(r"\(\d{2,4}\)[^(]*")


def _refdes(value: Any) -> str:
    """'C1,C2,C3' → 'C1, C2, C3' so that the cell wraps between designators."""
    return ", ".join(x.strip() for x in str(value).split(",") if x.strip()) or DASH


def _sig_line(sig: Any) -> str:
    if not isinstance(sig, dict):
        return DASH
    return (
        f"{_txt(sig.get('full_name'))} ({_txt(sig.get('username'))}) · "
        f"{_txt(sig.get('meaning'))} · {_txt(sig.get('local_time'))}"
    )


def _p(text: str) -> str:
    """Paragraph markup for plain text: escape XML, keep line breaks.

    (xml.sax.saxutils.escape would import urllib.request: 25 ms at import time.)
    """
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("\n", "<br/>")


# --------------------------------------------------------------------------- layout kit


# Width of a column holding 'YYYY-MM-DD HH:MM:SS' at the table font, padding included.
TS = 83.0
# Width of a column holding half a sha256 (32 hex) at the small font, padding included.
HASH2 = 132.0


@dataclass(frozen=True)
class Col:
    header: str
    width: float  # relative weight, shares the width left after the fixed columns
    small: bool = False  # hashes, UIDs: smaller font
    align: str = "LEFT"
    fixed: float | None = None  # absolute width in points


class _Kit:
    """Fonts, styles and the table builder, shared by the section builders."""

    def __init__(self) -> None:
        from reportlab.lib import colors
        from reportlab.lib.enums import TA_LEFT
        from reportlab.lib.pagesizes import A4
        from reportlab.lib.styles import ParagraphStyle
        from reportlab.pdfbase.pdfmetrics import stringWidth

        from mes.render.pdf_fonts import register_fonts

        self.regular, self.bold = register_fonts()
        self.colors = colors
        self.page_w, self.page_h = A4
        self.frame_w = self.page_w - 2 * _MARGIN_X
        self.string_width = stringWidth
        self.rule = colors.HexColor("#9aa5b1")
        self.head_bg = colors.HexColor("#e4e9ef")
        self.zebra = colors.HexColor("#f6f8fa")
        self.ink = colors.HexColor("#1b1f24")
        self.muted = colors.HexColor("#57606a")

        def style(name: str, size: float, leading: float, **kw: Any) -> ParagraphStyle:
            kw.setdefault("fontName", self.regular)
            kw.setdefault("textColor", self.ink)
            return ParagraphStyle(name, fontSize=size, leading=leading, alignment=TA_LEFT, **kw)

        self.body = style("body", 9, 12, spaceAfter=4)
        self.note = style("note", 8, 10.5, textColor=self.muted, spaceAfter=4)
        self.s_h1 = style(
            "h1", 13, 16, fontName=self.bold, spaceBefore=10, spaceAfter=5, keepWithNext=1
        )
        self.s_h2 = style(
            "h2", 10, 13, fontName=self.bold, spaceBefore=7, spaceAfter=3, keepWithNext=1
        )
        self.title = style("title", 22, 26, fontName=self.bold, spaceAfter=2)
        self.subtitle = style("subtitle", 9, 12, textColor=self.muted, spaceAfter=8)
        self.cell = style("cell", 7.5, 9.5)
        self.cell_small = style("cell_small", 6.5, 8.2)
        self.cell_head = style("cell_head", 7.5, 9.5, fontName=self.bold)
        self.kv_key = style("kv_key", 8.5, 11, fontName=self.bold, textColor=self.muted)
        self.kv_val = style("kv_val", 8.5, 11)
        self.hash_big = style("hash_big", 10.5, 14, fontName=self.bold)

    # -- flowables

    def para(self, text: str, st: ParagraphStyle | None = None) -> Flowable:
        from reportlab.platypus import Paragraph

        return Paragraph(text, st or self.body)

    def h1(self, text: str) -> Flowable:
        return self.para(_p(text), self.s_h1)

    def h2(self, text: str) -> Flowable:
        return self.para(_p(text), self.s_h2)

    def none_recorded(self) -> Flowable:
        return self.para("none recorded", self.note)

    def table(
        self,
        cols: Sequence[Col],
        rows: Sequence[Sequence[str]],
        *,
        zebra: bool = True,
        extra_style: Sequence[tuple[Any, ...]] = (),
    ) -> Flowable:
        """A table with a repeated header row, wrapped cells and precomputed row heights.

        A cell that fits on one line is a plain string (cheap); anything longer
        becomes a Paragraph that wraps (long words such as hashes are split).
        """
        from reportlab.platypus import Paragraph, Table, TableStyle

        widths = self.col_widths(cols)
        inner = [w - 2 * _PAD_X for w in widths]

        data: list[list[Any]] = []
        heights: list[float] = []
        # small text starts a little lower, so its first baseline lines up with its neighbours'
        small_nudge = self.cell.fontSize - self.cell_small.fontSize

        head_row: list[Any] = []
        h = self.cell_head.leading
        for c, iw in zip(cols, inner, strict=True):
            if self.string_width(c.header, self.bold, self.cell_head.fontSize) <= iw:
                head_row.append(c.header)
            else:
                para = Paragraph(_p(c.header), self.cell_head)
                h = max(h, para.wrap(iw, 10_000)[1])
                head_row.append(para)
        data.append(head_row)
        heights.append(h + 2 * _PAD_Y)

        for row in rows:
            out: list[Any] = []
            h = self.cell.leading
            for text, c, iw in zip(row, cols, inner, strict=True):
                st = self.cell_small if c.small else self.cell
                nudge = small_nudge if c.small else 0.0
                lines = text.split("\n")
                if all(self.string_width(ln, self.regular, st.fontSize) <= iw for ln in lines):
                    out.append(text)  # plain string: no Paragraph parse, no wrapping
                    h = max(h, st.leading * len(lines) + nudge)
                else:
                    para = Paragraph(_p(text), st)
                    h = max(h, para.wrap(iw, 10_000)[1] + nudge)
                    out.append(para)
            data.append(out)
            heights.append(h + 2 * _PAD_Y)

        cmds: list[tuple[Any, ...]] = [
            ("FONTNAME", (0, 0), (-1, 0), self.bold),
            ("FONTNAME", (0, 1), (-1, -1), self.regular),
            ("FONTSIZE", (0, 0), (-1, -1), self.cell.fontSize),
            ("LEADING", (0, 0), (-1, -1), self.cell.leading),
            ("TEXTCOLOR", (0, 0), (-1, -1), self.ink),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("LEFTPADDING", (0, 0), (-1, -1), _PAD_X),
            ("RIGHTPADDING", (0, 0), (-1, -1), _PAD_X),
            ("TOPPADDING", (0, 0), (-1, -1), _PAD_Y),
            ("BOTTOMPADDING", (0, 0), (-1, -1), _PAD_Y),
            ("BACKGROUND", (0, 0), (-1, 0), self.head_bg),
            ("LINEBELOW", (0, 0), (-1, 0), 0.8, self.rule),
            ("LINEBELOW", (0, 1), (-1, -1), 0.25, self.rule),
            ("BOX", (0, 0), (-1, -1), 0.6, self.rule),
        ]
        for i, c in enumerate(cols):
            if c.small:
                cmds.append(("FONTSIZE", (i, 1), (i, -1), self.cell_small.fontSize))
                cmds.append(("LEADING", (i, 1), (i, -1), self.cell_small.leading))
                cmds.append(("TOPPADDING", (i, 1), (i, -1), _PAD_Y + small_nudge))
            if c.align != "LEFT":
                cmds.append(("ALIGN", (i, 0), (i, -1), c.align))
        if zebra and len(data) > 3:
            cmds.append(("ROWBACKGROUNDS", (0, 1), (-1, -1), [None, self.zebra]))
        cmds.extend(extra_style)
        t = Table(
            data,
            colWidths=widths,
            rowHeights=[h if h < _MAX_ROW else None for h in heights],
            splitInRow=0,  # a row is never split across pages
            repeatRows=1,
            hAlign="LEFT",
            style=TableStyle(cmds),
        )
        return t

    def col_widths(self, cols: Sequence[Col]) -> list[float]:
        free = self.frame_w - sum(c.fixed for c in cols if c.fixed is not None)
        total = sum(c.width for c in cols if c.fixed is None) or 1.0
        return [c.fixed if c.fixed is not None else free * c.width / total for c in cols]

    def wrap_hri(self, text: str, width: float) -> str:
        """Break a GS1 element string between AIs '(01)…(21)…' rather than inside a value."""
        parts = _AI.findall(text)
        if "".join(parts) != text:
            return text
        lines: list[str] = []
        for part in parts:
            cand = lines[-1] + part if lines else part
            fits = self.string_width(cand, self.regular, self.cell.fontSize) <= width
            if lines and fits:
                lines[-1] = cand
            else:
                lines.append(part)
        return "\n".join(lines)

    def kv(self, pairs: Sequence[tuple[str, str]], key_width: float = 0.28) -> Flowable:
        """Key / value list as a borderless two-column table (values wrap)."""
        from reportlab.platypus import Table, TableStyle

        kw = self.frame_w * key_width
        data = [[self.para(_p(k), self.kv_key), self.para(_p(v), self.kv_val)] for k, v in pairs]
        t = Table(data, colWidths=[kw, self.frame_w - kw], hAlign="LEFT")
        t.setStyle(
            TableStyle(
                [
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                    ("LEFTPADDING", (0, 0), (-1, -1), 0),
                    ("RIGHTPADDING", (0, 0), (-1, -1), 6),
                    ("TOPPADDING", (0, 0), (-1, -1), 1),
                    ("BOTTOMPADDING", (0, 0), (-1, -1), 1),
                ]
            )
        )
        return t

    def boxed(self, flowables: list[Flowable], *, border: Any, background: Any) -> Flowable:
        from reportlab.platypus import Table, TableStyle

        t = Table([[flowables]], colWidths=[self.frame_w], hAlign="LEFT")
        t.setStyle(
            TableStyle(
                [
                    ("BOX", (0, 0), (-1, -1), 1.2, border),
                    ("BACKGROUND", (0, 0), (-1, -1), background),
                    ("LEFTPADDING", (0, 0), (-1, -1), 8),
                    ("RIGHTPADDING", (0, 0), (-1, -1), 8),
                    ("TOPPADDING", (0, 0), (-1, -1), 6),
                    ("BOTTOMPADDING", (0, 0), (-1, -1), 6),
                ]
            )
        )
        return t

    def spacer(self, h: float = 6) -> Flowable:
        from reportlab.platypus import Spacer

        return Spacer(1, h)


# --------------------------------------------------------------------------- sections

# A cell never holds more than this (the full text is in dhr.json): rows stay shorter
# than a page, so no table ever has to split inside a row.
_CELL_MAX = 900


def _cut(text: str, n: int = _CELL_MAX) -> str:
    return text if len(text) <= n else text[: n - 40] + " … (full text in dhr.json)"


def _limits(v: dict[str, Any]) -> str:
    lo, hi = v.get("min"), v.get("max")
    if lo is None and hi is None:
        return "no limits in routing" if v.get("in_routing") else "not in routing"
    if lo is None:
        return f"≤ {_num(hi)}"
    if hi is None:
        return f"≥ {_num(lo)}"
    return f"{_num(lo)} … {_num(hi)}"


def _title_block(k: _Kit, d: dict[str, Any]) -> list[Flowable]:
    site = d.get("site") or {}
    lot = d.get("lot") or {}
    routing = d.get("routing") or {}
    head = d.get("chain_head") or {}
    rec = d.get("record") or {}
    company = _txt(site.get("manufacturer"))
    site_line = " · ".join(
        x for x in (_txt(site.get("name")), _txt(site.get("address")), _txt(site.get("country")))
    )
    status = _txt(rec.get("status"))
    if rec.get("version"):
        status = f"{status}, version {rec['version']}"
    # issue 20: where the lot's steps were done, when that is not only the lot's own site
    steps_at = site.get("steps_at") or []
    if [s.get("id") for s in steps_at] not in ([], [site.get("id")]):
        site_line += " · steps done at " + ", ".join(
            f"{_txt(s.get('id'))} {_txt(s.get('name'))} ({_txt(s.get('company'))}, "
            f"{_txt(s.get('country'))}): {_txt(s.get('steps'))}" for s in steps_at)
    out: list[Flowable] = [
        k.para(f"<b>{_p(company)}</b>", k.kv_val),
        k.para(_p(site_line), k.note),
        k.spacer(4),
        k.para("Device History Record", k.title),
        k.para(
            _p("21 CFR 820.184 · ISO 13485:2016 §7.5.1 · review by exception · lot ")
            + f"<b>{_p(_txt(lot.get('id')))}</b>",
            k.subtitle,
        ),
        k.kv(
            [
                ("Lot", _txt(lot.get("id"))),
                ("Part", f"{_txt(lot.get('part_number'))} — {_txt(lot.get('part_name'))}"),
                (
                    "Routing",
                    f"{_txt(routing.get('part'))} version {_txt(routing.get('version'))}"
                    f" (sha256 {_short(routing.get('sha256'), 16)})",
                ),
                ("Lot status", _txt((d.get("state") or {}).get("status"))),
                ("Record", status),
                ("Record sha256", _txt(rec.get("sha256"))),
                ("Generated at", f"{_ts(d.get('generated_at'), utc_suffix=True)} · site time "
                                 f"{_txt(d.get('site_time'))}"),
                ("Program", f"mes {_txt(d.get('mes_version'))}"),
                ("Exceptions", str(len(d.get("exceptions") or []))),
            ],
            key_width=0.2,
        ),
        k.spacer(8),
    ]
    box = [
        k.para(
            f"<b>AUDIT CHAIN HEAD</b> — event #{_p(_txt(head.get('seq')))}"
            " at the time this record was generated",
            k.kv_val,
        ),
        k.spacer(3),
        k.para(_p(_txt(head.get("hash"))), k.hash_big),
        k.spacer(3),
        k.para(f"Compare with <b>{_p(VERIFY_CMD)}</b>", k.kv_val),
    ]
    out.append(
        k.boxed(box, border=k.colors.HexColor("#24292f"), background=k.colors.HexColor("#f3f5f8"))
    )
    return out


def _summary(k: _Kit, d: dict[str, Any]) -> list[Flowable]:
    lot = d.get("lot") or {}
    state = d.get("state") or {}
    out: list[Flowable] = [k.h1("1  Summary")]
    cols = [Col(h, 1, align="CENTER") for h in
            ("Planned", "Manufactured", "Scrapped", "Released", "Shipped", "Exceptions")]
    row = [_num(lot.get("qty_planned")), _num(lot.get("qty_manufactured")),
           _num(lot.get("qty_scrapped")), _num(state.get("qty_released")),
           _num(state.get("qty_shipped")), str(len(d.get("exceptions") or []))]
    out.append(k.table(cols, [row], zebra=False))
    out.append(k.spacer(6))
    by = state.get("units_by_status") or {}
    out.append(
        k.kv(
            [
                ("Status", _txt(state.get("status"))
                 + (f" — ON HOLD: {_txt(state.get('hold_reason'))}" if state.get("on_hold")
                    else "")),
                ("Serialized", _txt(lot.get("serialized"))),
                ("GTIN / REF", f"{_txt(lot.get('gtin'))} / {_txt(lot.get('ref'))}"),
                ("Created", f"{_ts(lot.get('created_at'), utc_suffix=True)} by "
                            f"{_txt(lot.get('created_by'))}"),
                ("Completed", _ts(lot.get("completed_at"), utc_suffix=True)),
                ("Released", _ts(state.get("released_at"), utc_suffix=True)),
                ("Units", f"{_txt(lot.get('units'))}"
                 + (" (" + ", ".join(f"{n} {s}" for s, n in by.items()) + ")" if by else "")),
            ],
            key_width=0.2,
        )
    )
    return out


def _signatures(k: _Kit, d: dict[str, Any]) -> list[Flowable]:
    out: list[Flowable] = [k.h1("2  Review, release and signatures")]
    rec = d.get("record") or {}
    out.append(
        k.para(
            _p(
                "A review signs the sha256 of this record's data (canonical JSON of every "
                "section except generation time, lot state and signatures): "
                f"{_txt(rec.get('sha256'))}. Release regenerates it and requires the same hash."
            ),
            k.note,
        )
    )
    sigs = d.get("signatures") or []
    if not sigs:
        return [*out, k.none_recorded()]
    rows = [
        [
            f"{_txt(s.get('full_name'))}\n({_txt(s.get('username'))})",
            _txt(s.get("meaning")),
            f"{_txt(s.get('local_time'))}\n{_ts(s.get('signed_at_utc'))} UTC",
            f"{_txt(s.get('record_type'))} {_txt(s.get('record_id'))}",
            _hash2(s.get("record_sha256")),
        ]
        for s in sigs
    ]
    out.append(
        k.table(
            [
                Col("Signed by", 2.0),
                Col("Meaning", 1.1),
                Col("Local date/time", 2.0),
                Col("Record", 1.6),
                Col("Signed record sha256", 0, small=True, fixed=HASH2),
            ],
            rows,
        )
    )
    return out


def _routing(k: _Kit, d: dict[str, Any]) -> list[Flowable]:
    routing = d.get("routing") or {}
    out: list[Flowable] = [k.h1("3  Routing")]
    out.append(
        k.kv(
            [
                ("Part / version", f"{_txt(routing.get('part'))} version "
                                   f"{_txt(routing.get('version'))}"),
                ("Routing sha256", _txt(routing.get("sha256"))),
                ("Approval", _sig_line(routing.get("approval"))),
            ],
            key_width=0.2,
        )
    )
    return out


def _operations(k: _Kit, d: dict[str, Any]) -> list[Flowable]:
    out: list[Flowable] = [k.h1("4  Operations and acceptance records")]
    ops = d.get("operations") or (d.get("routing") or {}).get("operations") or []
    if not ops:
        return [*out, k.none_recorded()]
    out.append(
        k.table(
            [
                Col("Op", 0, align="RIGHT", fixed=28),
                Col("Operation", 3),
                Col("n", 0.7, align="RIGHT"),
                Col("Passed", 0.8, align="RIGHT"),
                Col("Failed", 0.8, align="RIGHT"),
                Col("Reworked", 0.9, align="RIGHT"),
                Col("In process", 0.9, align="RIGHT"),
            ],
            [
                [_txt(o.get("op")), _txt(o.get("name")), _num(o.get("n")),
                 _num(o.get("passed")), _num(o.get("failed")), _num(o.get("reworked")),
                 _num(o.get("in_process"))]
                for o in ops
            ],
        )
    )
    rows: list[list[str]] = []
    spans: list[tuple[Any, ...]] = []
    for o in ops:
        for v in o.get("values") or []:
            if "observed_min" in v:
                obs = [_num(v.get("observed_min")), _num(v.get("observed_mean")),
                       _num(v.get("observed_max")), _num(v.get("out_of_limits"))]
            else:
                shown = ", ".join(str(x) for x in v.get("distinct") or []) or DASH
                more = (v.get("distinct_count") or 0) - len(v.get("distinct") or [])
                obs = [_cut("values: " + shown + (f" (+{more})" if more > 0 else ""), 200),
                       "", "", ""]
                spans.append(("SPAN", (5, len(rows) + 1), (8, len(rows) + 1)))
                spans.append(("ALIGN", (5, len(rows) + 1), (8, len(rows) + 1), "LEFT"))
            rows.append([_txt(o.get("op")), _txt(v.get("name")),
                         _txt(v.get("unit")) if v.get("unit") else NOT_CAPTURED,
                         _limits(v), _num(v.get("n")), *obs])
    out.append(k.h2("Captured values: limits and observed min / mean / max"))
    if not rows:
        return [*out, k.none_recorded()]
    out.append(
        k.table(
            [
                Col("Op", 0, align="RIGHT", fixed=28),
                Col("Value", 2.4),
                Col("Unit", 0.8),
                Col("Limits", 1.3),
                Col("n", 0.6, align="RIGHT"),
                Col("Min", 0.9, align="RIGHT"),
                Col("Mean", 0.9, align="RIGHT"),
                Col("Max", 0.9, align="RIGHT"),
                Col("Out", 0.5, align="RIGHT"),
            ],
            rows,
            extra_style=spans,
        )
    )
    return out





def _materials(k: _Kit, d: dict[str, Any]) -> list[Flowable]:
    out: list[Flowable] = [k.h1("5  Materials and subassemblies")]
    mats = d.get("materials") or []
    if mats:
        out.append(k.para("One row per material lot and operation, totalled over the lot "
                          "(Units: how many items it went into).", k.note))
        rows = []
        for m in mats:
            refdes = m.get("refdes")
            part = _txt(m.get("part_number"))
            if refdes and refdes != NOT_CAPTURED:
                part += f"\nrefdes {_cut(_refdes(refdes), 300)}"
            rows.append([
                f"{_txt(m.get('id'))} @{_txt(m.get('op'))}",
                part,
                _txt(m.get("mpn")),
                _txt(m.get("supplier")),
                _txt(m.get("supplier_lot")),
                _txt(m.get("date_code")),
                _txt(m.get("origin")),
                _txt(m.get("cert")),
                _num(m.get("qty")),
                _num(m.get("units")),
            ])
        out.append(
            k.table(
                [
                    Col("Material lot @op", 0, fixed=62),
                    Col("Part", 1.45),
                    Col("MPN", 1.3, small=True),
                    Col("Supplier", 1.2, small=True),
                    Col("Supplier lot", 1.05),
                    Col("Date code", 0, fixed=34),
                    Col("Origin", 0, fixed=30),
                    Col("CoC", 1.0, small=True),
                    Col("Total qty", 0, align="RIGHT", fixed=40),
                    Col("Units", 0, align="RIGHT", fixed=32),
                ],
                rows,
            )
        )
        out.append(k.para("Part names, expiry and each unit's consumption: dhr.json "
                          "(materials, consumptions). Refdes printed where captured.", k.note))
    else:
        out.append(k.none_recorded())
    comps = d.get("components") or []
    out.append(k.h2("Subassemblies consumed"))
    if not comps:
        return [*out, k.none_recorded()]
    out.append(
        k.table(
            [
                Col("Lot", 1.3),
                Col("Part", 1.8),
                Col("Kind", 0.7),
                Col("Op", 0.5, align="RIGHT"),
                Col("Items", 0.7, align="RIGHT"),
                Col("Into units", 0.8, align="RIGHT"),
                Col("Qty", 0.7, align="RIGHT"),
            ],
            [
                [_txt(c.get("lot")), _txt(c.get("part_number")), _txt(c.get("kind")),
                 _txt(c.get("op")), _num(c.get("items")), _num(c.get("into")),
                 _num(c.get("qty"))]
                for c in comps
            ],
        )
    )
    return out


def _equipment(k: _Kit, d: dict[str, Any]) -> list[Flowable]:
    out: list[Flowable] = [k.h1("6  Equipment")]
    eq = d.get("equipment") or []
    if not eq:
        return [*out, k.none_recorded()]
    out.append(k.para("Calibration due date in force when the station was first and last used "
                      "for this lot (from the stations' audit events).", k.note))
    out.append(
        k.table(
            [
                Col("Station", 1.1),
                Col("Type", 1.2),
                Col("Steps", 0.6, align="RIGHT"),
                Col("First use (UTC)", 0, fixed=TS),
                Col("Last use (UTC)", 0, fixed=TS),
                Col("Cal. due at first use", 1.1),
                Col("Cal. due at last use", 1.1),
                Col("Uses past due", 0.8, align="RIGHT"),
            ],
            [
                [_txt(e.get("station")), _txt(e.get("type")), _num(e.get("steps")),
                 _ts(e.get("first_use")), _ts(e.get("last_use")),
                 _txt(e.get("calibration_due_at_first_use")),
                 _txt(e.get("calibration_due_at_last_use")),
                 _num(e.get("uses_past_calibration"))]
                for e in eq
            ],
        )
    )
    return out


def _firmware(k: _Kit, d: dict[str, Any]) -> list[Flowable]:
    out: list[Flowable] = [k.h1("7  Firmware")]
    fw = d.get("firmware") or []
    if not fw:
        return [*out, k.none_recorded()]
    out.append(
        k.table(
            [
                Col("Image", 1.5),
                Col("Version", 0.8),
                Col("Image sha256", 0, small=True, fixed=HASH2),
                Col("Units verified", 0.9, align="RIGHT"),
                Col("Attempts", 0.8, align="RIGHT"),
                Col("Failed verifies", 0.9, align="RIGHT"),
            ],
            [
                [_txt(f.get("image")), _txt(f.get("version")), _hash2(f.get("sha256")),
                 _num(f.get("units")), _num(f.get("attempts")), _num(f.get("failed_verifies"))]
                for f in fw
            ],
        )
    )
    return out


def _labeling(k: _Kit, d: dict[str, Any]) -> list[Flowable]:
    out: list[Flowable] = [k.h1("8  Labeling reconciliation")]
    lab = d.get("labeling") or {}
    stocks, temps = lab.get("stocks") or [], lab.get("templates") or []
    if not stocks and not temps:
        return [*out, k.none_recorded()]
    out.append(k.h2("Label stock issued (consumed) against labels printed"))
    if stocks:
        out.append(
            k.table(
                [
                    Col("Stock", 1.3),
                    Col("Material lots", 2.2),
                    Col("Issued", 0.7, align="RIGHT"),
                    Col("Printed", 0.7, align="RIGHT"),
                    Col("Unaccounted", 0.9, align="RIGHT"),
                ],
                [
                    [_txt(s.get("stock")), _cut(", ".join(s.get("material_lots") or []) or DASH,
                                                300),
                     _num(s.get("issued")), _num(s.get("printed")), _num(s.get("unaccounted"))]
                    for s in stocks
                ],
            )
        )
    else:
        out.append(k.none_recorded())
    out.append(k.h2("Labels per template and revision"))
    if not temps:
        return [*out, k.none_recorded()]
    out.append(
        k.table(
            [
                Col("Template", 1.4),
                Col("Rev", 0.4, align="RIGHT"),
                Col("Stock", 1.0),
                Col("Items", 0.6, align="RIGHT"),
                Col("Printed", 0.7, align="RIGHT"),
                Col("Verified", 0.7, align="RIGHT"),
                Col("Reprinted", 0.75, align="RIGHT"),
                Col("Voided", 0.65, align="RIGHT"),
                Col("Reprint reasons", 2.0),
            ],
            [
                [_txt(t.get("template")), _txt(t.get("revision")), _txt(t.get("stock")),
                 _num(t.get("items")), _num(t.get("printed")), _num(t.get("verified")),
                 _num(t.get("reprinted")), _num(t.get("voided")),
                 _cut("; ".join(t.get("reasons") or []) or DASH, 300)]
                for t in temps
            ],
        )
    )
    return out


def _exceptions(k: _Kit, d: dict[str, Any]) -> list[Flowable]:
    out: list[Flowable] = [k.h1("9  Exceptions")]
    ex = d.get("exceptions") or []
    if not ex:
        return [*out, k.para("No exceptions recorded: no failure, rework, NCR, hold, "
                             "concession, reprint, out-of-window shot or refusal.", k.kv_val),
                *_spc_charts(k, d)]
    out.append(k.para(f"{len(ex)} exceptions: each failure, rework, NCR (including those of "
                      "subassemblies and material lots), hold, concession, reprint, "
                      "out-of-window shot count and refusal on the lot's items.", k.note))
    out.append(
        k.table(
            [
                Col("When (UTC)", 0, fixed=TS),
                Col("Kind", 1.1),
                Col("Item", 1.1),
                Col("Op", 0, align="RIGHT", fixed=26),
                Col("What", 4.0),
                Col("Ref", 0.9),
            ],
            [
                [_ts(e.get("at")), _txt(e.get("kind")), _txt(e.get("item")), _txt(e.get("op")),
                 _cut(_txt(e.get("what"))), _txt(e.get("ref"))]
                for e in ex
            ],
        )
    )
    return [*out, *_spc_charts(k, d)]


def _spc_charts(k: _Kit, d: dict[str, Any]) -> list[Flowable]:
    """The control charts of the lot's characteristics, as vector drawings (issue 16)."""
    charts = d.get("_charts") or []
    if not charts:
        return []
    from mes.render.dhr_charts import flowables

    return flowables(k, charts, "9.1  SPC control charts of this lot")


def _ncrs(k: _Kit, d: dict[str, Any]) -> list[Flowable]:
    out: list[Flowable] = [k.h1("10  Nonconformances")]
    ncrs = d.get("ncrs") or []
    if not ncrs:
        return [*out, k.none_recorded()]
    rows = []
    for n in ncrs:
        sigs = "\n".join(_sig_line(s) for s in n.get("signatures") or []) or DASH
        units = n.get("units") or []
        rows.append([
            f"{_txt(n.get('id'))}\n{_txt(n.get('status'))}",
            f"{_txt(n.get('on', 'lot'))}\n{_txt(n.get('item'))}",
            _cut(_txt(n.get("description")) + (f"\nunits: {_serials(units)}" if units else "")),
            _cut(_txt(n.get("action")) + (f" from op {n['rework_op']}" if n.get("rework_op")
                                           else "")
                 + (f"\n{_txt(n.get('justification'))}" if n.get("justification") else ""),
                 500),
            _cut(sigs, 500),
        ])
    out.append(
        k.table(
            [Col("NCR", 0.9), Col("On", 1.1), Col("Description", 2.4), Col("Disposition", 1.8),
             Col("Signatures", 2.4)],
            rows,
        )
    )
    return out


def _origin(k: _Kit, d: dict[str, Any]) -> list[Flowable]:
    out: list[Flowable] = [k.h1("11  Origin decision (Made in Morocco)")]
    o = d.get("origin")
    permitted = bool(isinstance(o, dict) and o.get("positive") is True)
    verdict = "PERMITTED" if permitted else "NOT PERMITTED"
    color = k.colors.HexColor("#1a7f37") if permitted else k.colors.HexColor("#cf222e")
    bg = k.colors.HexColor("#eef8f0") if permitted else k.colors.HexColor("#fdf0f0")
    line = f"<b>Made in Morocco claim: {verdict}</b>"
    if not isinstance(o, dict):
        box = [
            k.para(line, k.hash_big),
            k.para("No origin decision is recorded for this lot.", k.kv_val),
        ]
        return [*out, k.boxed(box, border=color, background=bg)]
    box = [
        k.para(line, k.hash_big),
        k.para(
            _p(
                f"Local value {_pct(o.get('local_pct'))} of unit cost; threshold "
                f"{_pct(o.get('threshold_pct'))} ({_txt(o.get('rule_name'))}, "
                f"rule version {_txt(o.get('rule_version'))})."
            ),
            k.kv_val,
        ),
    ]
    out.append(k.boxed(box, border=color, background=bg))
    out.append(k.spacer(6))
    ws = o.get("worksheet") or {}
    out.append(
        k.kv(
            [
                ("Rule", f"{_txt(o.get('rule_name'))} (version {_txt(o.get('rule_version'))})"),
                ("Threshold", _pct(o.get("threshold_pct"))),
                ("Local value share", _pct(o.get("local_pct"))),
                ("Unit cost", _num(ws.get("unit_cost"), 2)),
                ("Local value", _num(ws.get("local_value"), 2)),
                ("Claim text", _txt(o.get("claim"))),
                ("Decided at", _ts(o.get("decided_at"), utc_suffix=True)),
            ],
            key_width=0.2,
        )
    )
    out.append(k.h2("Worksheet: value lines"))
    lines = ws.get("lines") or []
    if lines:
        out.append(
            k.table(
                [
                    Col("Item", 3),
                    Col("Kind", 1.2),
                    Col("Origin", 0.7),
                    Col("Value", 0.9, align="RIGHT"),
                    Col("Local", 0.6),
                ],
                [
                    [
                        _txt(li.get("item")),
                        _txt(li.get("kind")),
                        _txt(li.get("origin")),
                        _num(li.get("value"), 2),
                        _txt(li.get("local")),
                    ]
                    for li in lines
                ],
            )
        )
    else:
        out.append(k.none_recorded())
    out.append(k.h2("Worksheet: origin-conferring operations"))
    cops = ws.get("conferring_ops") or []
    if cops:
        out.append(
            k.table(
                [
                    Col("Op", 0.5, align="RIGHT"),
                    Col("Operation", 3),
                    Col("Site country", 1),
                    Col("Performed", 1),
                ],
                [
                    [
                        _txt(c.get("op")),
                        _txt(c.get("name")),
                        _txt(c.get("site_country")),
                        _txt(c.get("performed")),
                    ]
                    for c in cops
                ],
            )
        )
    else:
        out.append(k.none_recorded())
    return out


def _distribution(k: _Kit, d: dict[str, Any]) -> list[Flowable]:
    out: list[Flowable] = [k.h1("12  Distribution")]
    ships = d.get("shipments") or []
    if not ships:
        return [*out, k.none_recorded()]
    rows = [
        [
            _txt(s.get("consignee")),
            _txt(s.get("ref")),
            _num(s.get("qty")),
            _cut(_serials(s.get("serials") or [])),
            f"{_ts(s.get('shipped_at'))}\n{_txt(s.get('user'))}",
        ]
        for s in ships
    ]
    out.append(
        k.table(
            [
                Col("Consignee", 2),
                Col("Reference", 1.1),
                Col("Qty", 0, align="RIGHT", fixed=32),
                Col("Serials", 2.6),
                Col("Shipped (UTC) / by", 0, fixed=TS),
            ],
            rows,
        )
    )
    return out




def _versions(k: _Kit, d: dict[str, Any]) -> list[Flowable]:
    rec = d.get("record") or {}
    earlier = d.get("versions") or []
    changes = rec.get("changes")
    if not earlier and not changes:
        return []
    out: list[Flowable] = [k.h1("13  Versions of this record")]
    if earlier:
        out.append(
            k.table(
                [Col("Version", 0.6, align="RIGHT"), Col("File", 1.2),
                 Col("Written (UTC)", 0, fixed=TS), Col("By", 0.8),
                 Col("PDF sha256", 0, small=True, fixed=HASH2)],
                [[_txt(v.get("version")), _txt(v.get("pdf")), _ts(v.get("written_at")),
                  _txt(v.get("by")), _hash2(v.get("pdf_sha256"))] for v in earlier],
            )
        )
    if isinstance(changes, dict):
        out.append(k.h2(f"What changed since version {_txt(changes.get('since_version'))}, "
                        "and why"))
        out.append(k.kv([("Sections changed", ", ".join(changes.get("sections") or []) or DASH),
                         ("Reason given", _txt(changes.get("reason")))], key_width=0.2))
        evs = changes.get("events") or []
        if evs:
            out.append(
                k.table(
                    [Col("Event", 0.6, align="RIGHT"), Col("When (UTC)", 0, fixed=TS),
                     Col("Action", 1.3), Col("Item", 1.2), Col("By", 0.8), Col("Reason", 2.2)],
                    [[f"#{_txt(e.get('seq'))}", _ts(e.get("at")), _txt(e.get("action")),
                      _txt(e.get("item")), _txt(e.get("user")), _cut(_txt(e.get("reason")), 300)]
                     for e in evs],
                )
            )
    return out


def _units_appendix(k: _Kit, d: dict[str, Any]) -> list[Flowable]:
    from reportlab.platypus import PageBreak

    units = d.get("units") or []
    out: list[Flowable] = [PageBreak(), k.h1("Appendix A  Units")]
    if not units:
        return [*out, k.none_recorded()]
    out.append(
        k.table(
            [Col("Serial", 1.0), Col("Outcome", 0.8), Col("Subassemblies", 1.2),
             Col("MCU UID", 1.7, small=True), Col("Firmware", 1.2), Col("Steps", 0.5,
                                                                      align="RIGHT"),
             Col("Failed ops", 0.7)],
            [[_txt(u.get("serial")), _txt(u.get("outcome"))
              + (" (hold)" if u.get("on_hold") else ""),
              _cut(", ".join(u.get("subassemblies") or []) or DASH, 200),
              _txt(u.get("mcu_uid")), _txt(u.get("firmware")), _num(u.get("steps")),
              ", ".join(str(x) for x in u.get("failed_ops") or []) or DASH] for u in units],
        )
    )
    return out


def _instructions(k: _Kit, d: dict[str, Any]) -> list[Flowable]:
    """Work instruction revisions in force for the lot's steps (issue 18); absent when the
    lot's operations had none."""
    wis = d.get("instructions") or []
    if not wis:
        return []
    return [
        k.h1("Work instructions"),
        k.para("The approved revision each operation followed when its steps were recorded, "
               "and who recorded them (each trained on that revision).", k.note),
        k.table(
            [
                Col("Op", 0.4, align="RIGHT"),
                Col("Document", 1.1),
                Col("Rev", 0.4),
                Col("Title", 1.6),
                Col("Approved by", 1.1),
                Col("Approved (UTC)", 0, fixed=TS),
                Col("Steps", 0.5, align="RIGHT"),
                Col("Operators", 1.4),
            ],
            [[_num(w.get("op")), _txt(w.get("document")), _txt(w.get("revision")),
              _cut(_txt(w.get("title")), 120), _txt(w.get("approved_by")),
              _ts(w.get("approved_at")), _num(w.get("steps")),
              _cut(", ".join(w.get("operators") or []) or DASH, 200)] for w in wis],
        ),
        k.para("File sha256: " + "; ".join(
            f"{_txt(w.get('document'))} rev {_txt(w.get('revision'))} "
            f"{_short(w.get('sha256'), 16)}" for w in wis), k.note),
    ]


def _extra_sections(k: _Kit, d: dict[str, Any]) -> list[Flowable]:
    """Sections added to the dict that this renderer has no layout for: printed as
    key / value lists (tables for lists of flat records), so nothing present is dropped."""
    out: list[Flowable] = []
    for key in sorted(k for k in set(d) - KNOWN_KEYS if not k.startswith("_")):
        value = d[key]
        if value in (None, [], {}):
            continue
        out.append(k.h1(key.replace("_", " ").capitalize()))
        if isinstance(value, list) and all(isinstance(x, dict) for x in value):
            cols = list(dict.fromkeys(c for x in value for c in x))[:8]
            out.append(k.table([Col(c.replace("_", " "), 1) for c in cols],
                               [[_cut(_txt(x.get(c)), 300) for c in cols] for x in value]))
        elif isinstance(value, dict):
            out.append(k.kv([(str(kk), _cut(_txt(v), 600)) for kk, v in value.items()],
                            key_width=0.25))
        else:
            out.append(k.para(_p(_cut(_txt(value))), k.kv_val))
    return out


# Keys of the DHR dict that have a section here or are detail for dhr.json only.
KNOWN_KEYS = frozenset({
    "generated_at", "site_time", "mes_version", "chain_head", "record", "versions", "site",
    "lot", "state", "routing", "operations", "materials", "components", "equipment",
    "firmware", "labeling", "ncrs", "shots", "events", "origin", "units", "steps",
    "consumptions", "flashes", "labels", "shipments", "signatures", "exceptions",
    "_no_closing", "instructions",
})


def _closing(k: _Kit, d: dict[str, Any]) -> list[Flowable]:
    from reportlab.platypus import KeepTogether

    head = d.get("chain_head") or {}
    lot = d.get("lot") or {}
    text = (
        f"<b>Closing statement.</b> This Device History Record for lot "
        f"<b>{_p(_txt(lot.get('id')))}</b> was generated from the plant's mes records at "
        f"{_p(_ts(d.get('generated_at'), utc_suffix=True))}, when the audit trail ended at "
        f"event <b>#{_p(_txt(head.get('seq')))}</b> with chain head hash "
        f"<b>{_p(_txt(head.get('hash')))}</b>. Compare with <b>{_p(VERIFY_CMD)}</b>: any "
        "later rewrite of the records above breaks the chain before this hash."
    )
    box = k.boxed([k.para(text, k.kv_val), k.para(_seal_text(d.get("seal")), k.kv_val)],
                  border=k.colors.HexColor("#24292f"), background=k.colors.HexColor("#f3f5f8"))
    return [k.spacer(8), KeepTogether([_PageMark("closing"), box])]


def _seal_text(seal: dict[str, Any] | None) -> str:
    """The seal this record relies on (issue 13 item 2): the chain head signed with the
    site key, in the journal outside the database."""
    if not seal:
        return "<b>Seal.</b> none: the audit trail was empty when this record was generated."
    return (f"<b>Seal.</b> Chain head event <b>#{_p(_txt(seal.get('seq')))}</b>, hash "
            f"<b>{_p(_txt(seal.get('hash')))}</b>, sealed at "
            f"{_p(_ts(seal.get('at'), utc_suffix=True))} with the site key "
            f"<b>{_p(_txt(seal.get('key')))}</b> (Ed25519), in the seal journal outside the "
            "database: <b>mes audit verify</b> checks the chain against it.")


def _page_mark_class() -> Any:
    from reportlab.platypus import Flowable as _F

    class PageMark(_F):
        def __init__(self, name: str) -> None:
            super().__init__()
            self.name = name
            self.width = self.height = 0

        def wrap(self, *_: Any) -> tuple[float, float]:
            return 0, 0

        def draw(self) -> None:
            _MARKS[self.name] = self.canv.getPageNumber()

    return PageMark


_MARKS: dict[str, int] = {}


def _PageMark(name: str) -> Flowable:
    return _page_mark_class()(name)


# --------------------------------------------------------------------------- page furniture


def _numbered_canvas(k: _Kit, header_left: str, header_right: str, footer_lines: list[str],
                     stamp: datetime | None) -> Any:
    """Canvas class that defers each page until the page count is known ("page x of y")
    and dates the PDF from the DHR's generation time (the injected clock), not the host's."""
    from reportlab.pdfgen.canvas import Canvas

    class NumberedCanvas(Canvas):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._saved_pages: list[dict[str, Any]] = []
            if stamp is not None:
                self._doc._timeStamp = _TimeStamp(stamp)

        def showPage(self) -> None:
            self._saved_pages.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            total = len(self._saved_pages)
            for state in self._saved_pages:
                self.__dict__.update(state)
                self._furniture(total)
                super().showPage()
            super().save()

        def _furniture(self, total: int) -> None:
            w, h = k.page_w, k.page_h
            self.saveState()
            self.setStrokeColor(k.rule)
            self.setLineWidth(0.5)
            self.setFillColor(k.muted)
            y = h - _MARGIN_TOP + 8 * _MM
            self.setFont(k.bold, 8)
            self.drawString(_MARGIN_X, y, header_left)
            self.setFont(k.regular, 8)
            self.drawRightString(w - _MARGIN_X, y, header_right)
            self.line(_MARGIN_X, y - 3, w - _MARGIN_X, y - 3)
            y = _MARGIN_BOTTOM - 7 * _MM
            self.line(_MARGIN_X, y + 9, w - _MARGIN_X, y + 9)
            self.setFont(k.regular, 7)
            for i, line in enumerate(footer_lines):
                self.drawString(_MARGIN_X, y - i * 8.5, line)
            self.setFont(k.bold, 8)
            self.drawRightString(w - _MARGIN_X, y, f"page {self._pageNumber} of {total}")
            self.restoreState()

    return NumberedCanvas


class _TimeStamp:
    """What reportlab reads for the PDF's CreationDate / ModDate (UTC)."""

    def __init__(self, ts: datetime) -> None:
        ts = ts.astimezone(UTC)
        self._dt = ts
        self.t = ts.timestamp()
        self.lt = ts.timetuple()
        self.YMDhms = tuple(self.lt)[:6]
        self.dhh = self.dmm = 0
        self.tzname = "UTC"

    @property
    def datetime(self) -> datetime:
        return self._dt


# --------------------------------------------------------------------------- entry point


def render_dhr_pdf(dhr: dict[str, Any], *, units: bool = False) -> bytes:
    """Render a Device History Record dict (shape: see the DHR service) as PDF bytes.

    The same dict gives the same bytes. `units=True` adds the per-unit appendix.
    """
    from io import BytesIO

    from reportlab.platypus import SimpleDocTemplate

    k = _Kit()
    lot = dhr.get("lot") or {}
    head = dhr.get("chain_head") or {}
    site = dhr.get("site") or {}
    lot_id = _txt(lot.get("id"))
    generated = _ts(dhr.get("generated_at"), utc_suffix=True)

    buf = BytesIO()
    doc = SimpleDocTemplate(
        buf,
        pagesize=(k.page_w, k.page_h),
        leftMargin=_MARGIN_X,
        rightMargin=_MARGIN_X,
        topMargin=_MARGIN_TOP,
        bottomMargin=_MARGIN_BOTTOM,
        title=f"Device History Record {lot_id}",
        author=_txt(site.get("manufacturer")),
        subject=f"DHR lot {lot_id}, part {_txt(lot.get('part_number'))}",
        creator=f"mes {_txt(dhr.get('mes_version'))}",
        producer=f"mes {_txt(dhr.get('mes_version'))} (reportlab)",
        keywords=f"record sha256 {_txt((dhr.get('record') or {}).get('sha256'))}",
        invariant=True,  # same input, same bytes (the date comes from the record)
    )
    story: list[Flowable] = [_PageMark("start")]
    sections = [_title_block, _summary, _signatures, _routing, _operations, _materials,
                _equipment, _firmware, _labeling, _exceptions, _ncrs, _origin, _distribution,
                _versions, _instructions, _extra_sections, _closing]
    if units:
        sections.append(_units_appendix)
    for section in sections:
        if section is _closing:
            if dhr.get("_no_closing"):
                continue
            story.append(_PageMark("before_closing"))
        story.extend(section(k, dhr))

    canvas_cls = _numbered_canvas(
        k,
        header_left=f"Device History Record · lot {lot_id}",
        header_right=f"{_txt(lot.get('part_number'))} · {_txt(site.get('name'))}",
        footer_lines=[
            f"Lot {lot_id} · generated {generated} · site time {_txt(dhr.get('site_time'))} · "
            f"mes {_txt(dhr.get('mes_version'))}",
            f"record {_short((dhr.get('record') or {}).get('sha256'), 12)} · chain head "
            f"#{_txt(head.get('seq'))} {_txt(head.get('hash'))}",
        ],
        stamp=_parse_ts(dhr.get("generated_at")),
    )
    _MARKS.clear()
    doc.build(story, canvasmaker=canvas_cls)
    if not units and _MARKS.get("closing", 0) > _MARKS.get("before_closing", 0):
        # The closing box alone on a last page: leave it out (the title block and every
        # page footer carry the same chain head) rather than print a near-empty page.
        return render_dhr_pdf({**dhr, "_no_closing": True}) if not dhr.get("_no_closing") \
            else buf.getvalue()
    return buf.getvalue()
