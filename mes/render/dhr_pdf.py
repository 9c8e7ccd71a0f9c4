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
            splitInRow=1,
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


def _title_block(k: _Kit, d: dict[str, Any]) -> list[Flowable]:
    site = d.get("site") or {}
    lot = d.get("lot") or {}
    routing = d.get("routing") or {}
    head = d.get("chain_head") or {}
    company = _txt(site.get("manufacturer"))
    site_line = " · ".join(
        x for x in (_txt(site.get("name")), _txt(site.get("address")), _txt(site.get("country")))
    )
    out: list[Flowable] = [
        k.para(f"<b>{_p(company)}</b>", k.kv_val),
        k.para(_p(site_line), k.note),
        k.spacer(4),
        k.para("Device History Record", k.title),
        k.para(
            _p("21 CFR 820.184 · ISO 13485:2016 §7.5.1 · lot ")
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
                ("Lot status", _txt(lot.get("status"))),
                ("Generated at", _ts(d.get("generated_at"), utc_suffix=True)),
            ],
            key_width=0.2,
        ),
        k.spacer(8),
    ]
    hash_text = _txt(head.get("hash"))
    box = [
        k.para(
            f"<b>AUDIT CHAIN HEAD</b> — event #{_p(_txt(head.get('seq')))}"
            " at the time this record was generated",
            k.kv_val,
        ),
        k.spacer(3),
        k.para(_p(hash_text), k.hash_big),
        k.spacer(3),
        k.para(f"Compare with <b>{_p(VERIFY_CMD)}</b>", k.kv_val),
    ]
    out.append(
        k.boxed(
            box,
            border=k.colors.HexColor("#24292f"),
            background=k.colors.HexColor("#f3f5f8"),
        )
    )
    return out


def _summary(k: _Kit, d: dict[str, Any]) -> list[Flowable]:
    lot = d.get("lot") or {}
    routing = d.get("routing") or {}
    out: list[Flowable] = [k.h1("1  Summary")]
    qty_cols = [
        Col("Planned", 1, align="CENTER"),
        Col("Manufactured", 1, align="CENTER"),
        Col("Scrapped", 1, align="CENTER"),
        Col("Released", 1, align="CENTER"),
        Col("Shipped", 1, align="CENTER"),
    ]
    out.append(
        k.table(
            qty_cols,
            [
                [
                    _num(lot.get("qty_planned")),
                    _num(lot.get("qty_manufactured")),
                    _num(lot.get("qty_scrapped")),
                    _num(lot.get("qty_released")),
                    _num(lot.get("qty_shipped")),
                ]
            ],
            zebra=False,
        )
    )
    out.append(k.spacer(6))
    out.append(
        k.kv(
            [
                ("Status", _txt(lot.get("status"))),
                ("Serialized", _txt(lot.get("serialized"))),
                ("GTIN", _txt(lot.get("gtin"))),
                ("Created", _ts(lot.get("created_at"), utc_suffix=True)),
                ("Completed", _ts(lot.get("completed_at"), utc_suffix=True)),
                ("Released", _ts(lot.get("released_at"), utc_suffix=True)),
                ("Units", str(len(d.get("units") or []))),
            ],
            key_width=0.2,
        )
    )
    out.append(k.h2("Routing"))
    out.append(
        k.kv(
            [
                ("Part", _txt(routing.get("part"))),
                ("Version", _txt(routing.get("version"))),
                ("Routing sha256", _txt(routing.get("sha256"))),
                ("Approval", _sig_line(routing.get("approval"))),
            ],
            key_width=0.2,
        )
    )
    ops = routing.get("operations") or []
    out.append(k.spacer(4))
    if ops:
        out.append(
            k.table(
                [Col("Op", 0.6, align="RIGHT"), Col("Operation", 3), Col("Station type", 2)],
                [
                    [_txt(o.get("op")), _txt(o.get("name")), _txt(o.get("station_type"))]
                    for o in ops
                ],
            )
        )
    else:
        out.append(k.none_recorded())
    return out


def _signatures(k: _Kit, d: dict[str, Any]) -> list[Flowable]:
    out: list[Flowable] = [k.h1("2  Signatures")]
    sigs = d.get("signatures") or []
    if not sigs:
        return [*out, k.none_recorded()]
    out.append(
        k.para(
            "Electronic signatures (21 CFR 11.50): printed name, meaning, local date and time "
            "with the signer's UTC offset, and the sha256 of the signed record.",
            k.note,
        )
    )
    rows = [
        [
            f"{_txt(s.get('full_name'))}\n({_txt(s.get('username'))})",
            _txt(s.get("meaning")),
            f"{_txt(s.get('local_time'))}\n{_ts(s.get('signed_at_utc'))} UTC",
            f"{_txt(s.get('record_type'))} {_txt(s.get('record_id'))}",
            _short(s.get("record_sha256"), 16),
        ]
        for s in sigs
    ]
    out.append(
        k.table(
            [
                Col("Signed by", 2.2),
                Col("Meaning", 1.3),
                Col("Local date/time", 2.2),
                Col("Record", 1.8),
                Col("Record sha256", 1.7, small=True),
            ],
            rows,
        )
    )
    return out


_STEP_COLS_BASE = [
    Col("Op", 0, align="RIGHT", fixed=24),
    Col("Operation", 1.55),
    Col("Station", 0.95),
    Col("Operator", 0.85),
    Col("Start → end (UTC)", 0, fixed=TS),
    Col("Result", 0, fixed=44),
    Col("Data", 2.9),
]
_RESULT_COL = 5


def _step_row(s: dict[str, Any]) -> list[str]:
    status = _txt(s.get("status"))
    result = s.get("result")
    res = status if result is None or str(result) in status else f"{status} ({result})"
    attempt = s.get("attempt")
    if isinstance(attempt, int) and attempt > 1:
        res += f"\nattempt {attempt}"
    return [
        _txt(s.get("op")),
        _txt(s.get("op_name")),
        _txt(s.get("station")),
        _txt(s.get("user")),
        _span(s.get("started_at"), s.get("completed_at")),
        res,
        _kv(s.get("data")),
    ]


def _operations(k: _Kit, d: dict[str, Any]) -> list[Flowable]:
    from reportlab.platypus import KeepTogether

    out: list[Flowable] = [k.h1("3  Operations per unit")]
    steps: list[dict[str, Any]] = list(d.get("steps") or [])
    units: list[dict[str, Any]] = list(d.get("units") or [])
    lot_id = _txt((d.get("lot") or {}).get("id"))

    # Operators: printed names once, usernames in the tables.
    operators: dict[str, str] = {}
    for s in steps:
        u = s.get("user")
        if u is not None and str(u) not in operators:
            operators[str(u)] = _txt(s.get("user_name"))
    if operators:
        out.append(
            k.para(
                "<b>Operators:</b> "
                + "; ".join(f"{_p(u)} = {_p(n)}" for u, n in sorted(operators.items())),
                k.note,
            )
        )

    if units:
        unit_rows = [
            [_txt(u.get("serial")), _txt(u.get("status")), _txt(u.get("mcu_uid"))] for u in units
        ]
        out.append(k.h2(f"Units ({len(units)})"))
        if len(units) > 12:
            # two units side by side, read left to right: halves the pages of a large lot
            left, right = unit_rows[0::2], unit_rows[1::2]
            right += [["", "", ""]] * (len(left) - len(right))
            out.append(
                k.table(
                    [
                        Col("Serial", 1.1),
                        Col("Status", 0.9),
                        Col("MCU UID", 1.5, small=True),
                        Col("Serial", 1.1),
                        Col("Status", 0.9),
                        Col("MCU UID", 1.5, small=True),
                    ],
                    [a + b for a, b in zip(left, right, strict=True)],
                    extra_style=[("LINEAFTER", (2, 0), (2, -1), 0.8, k.rule)],
                )
            )
        else:
            out.append(
                k.table(
                    [Col("Serial", 1.2), Col("Status", 1), Col("MCU UID", 2.5, small=True)],
                    unit_rows,
                )
            )

    if not steps:
        return [*out, k.h2("Steps"), k.none_recorded()]

    # Group by unit, in the order of the units list, lot-level steps first.
    order = {str(u.get("serial")): i for i, u in enumerate(units)}
    groups: dict[str | None, list[dict[str, Any]]] = {}
    for s in steps:
        serial = s.get("serial")
        groups.setdefault(None if serial is None else str(serial), []).append(s)

    def group_key(key: str | None) -> tuple[int, int, str]:
        if key is None:
            return (0, 0, "")
        return (1, order.get(key, len(order)), key)

    keys = sorted(groups, key=group_key)
    serial_keys = [x for x in keys if x is not None]

    if len(serial_keys) <= PER_UNIT_TABLES_MAX:
        for key in keys:
            title = f"Lot-level operations ({lot_id})" if key is None else f"Unit {key}"
            rows = [_step_row(s) for s in groups[key]]
            table = k.table(_STEP_COLS_BASE, rows, extra_style=_failed_style(k, rows, 0))
            n = len(rows)
            out.append(KeepTogether([k.h2(f"{title} — {n} step{'s' if n != 1 else ''}"), table]))
        return out

    out.append(k.h2(f"Steps ({len(steps)}), grouped by unit"))
    rows = []
    for key in keys:
        for s in groups[key]:
            rows.append([f"{lot_id} (lot)" if key is None else key, *_step_row(s)])
    out.append(
        k.table(
            [Col("Unit", 0, fixed=58), *_STEP_COLS_BASE],
            rows,
            extra_style=_failed_style(k, rows, 1),
        )
    )
    return out


def _failed_style(k: _Kit, rows: Sequence[Sequence[str]], shift: int) -> list[tuple[Any, ...]]:
    """Failed steps' result in red (row 0 is the header)."""
    red = k.colors.HexColor("#cf222e")
    col = _RESULT_COL + shift
    return [
        ("TEXTCOLOR", (col, i), (col, i), red)
        for i, r in enumerate(rows, start=1)
        if r[col].startswith("failed")
    ]


def _materials(k: _Kit, d: dict[str, Any]) -> list[Flowable]:
    out: list[Flowable] = [k.h1("4  Materials and genealogy"), k.h2("Materials consumed")]
    mats = d.get("materials") or []
    if mats:
        rows = [
            [
                f"{_txt(m.get('id'))}\n{_txt(m.get('part_number'))}\n{_txt(m.get('part_name'))}",
                f"{_txt(m.get('supplier'))}\nlot {_txt(m.get('supplier_lot'))}"
                f"\nMPN {_txt(m.get('mpn'))}",
                f"DC {_txt(m.get('date_code'))}\nexp. {_txt(m.get('expiry'))}",
                _txt(m.get("origin")),
                _num(m.get("qty")),
                f"op {_txt(m.get('op'))} · {_txt(m.get('station'))}\n{_ts(m.get('at'))}",
                f"{_txt(m.get('into'))}"
                + (f"\n{_refdes(m.get('refdes'))}" if m.get("refdes") else ""),
            ]
            for m in mats
        ]
        out.append(
            k.table(
                [
                    Col("Material lot / part", 1.6),
                    Col("Supplier / supplier lot / MPN", 1.6),
                    Col("Date code / expiry", 0, fixed=62),
                    Col("Origin", 0, fixed=34),
                    Col("Qty", 0, align="RIGHT", fixed=36),
                    Col("Consumed (UTC)", 0, fixed=TS),
                    Col("Into / refdes", 1.0),
                ],
                rows,
            )
        )
    else:
        out.append(k.none_recorded())

    out.append(k.h2("Components and subassemblies"))
    comps = d.get("components") or []
    if comps:
        rows = [
            [
                _txt(c.get("id")),
                _txt(c.get("kind")),
                _txt(c.get("part_number")),
                _txt(c.get("lot")),
                _txt(c.get("into")),
                _txt(c.get("op")),
                _ts(c.get("at")),
            ]
            for c in comps
        ]
        out.append(
            k.table(
                [
                    Col("Component", 1.3),
                    Col("Kind", 0.6),
                    Col("Part number", 1.5),
                    Col("From lot", 1.2),
                    Col("Into", 1.2),
                    Col("Op", 0, align="RIGHT", fixed=30),
                    Col("At (UTC)", 0, fixed=TS),
                ],
                rows,
            )
        )
    else:
        out.append(k.none_recorded())
    return out


def _firmware(k: _Kit, d: dict[str, Any]) -> list[Flowable]:
    out: list[Flowable] = [k.h1("5  Firmware")]
    fw = d.get("firmware") or []
    if not fw:
        return [*out, k.none_recorded()]
    rows = [
        [
            f"{_txt(f.get('image'))}\nv{_txt(f.get('version'))}",
            _hash2(f.get("sha256")),
            f"{_txt(f.get('serial'))}\n{_txt(f.get('mcu_uid'))}",
            _txt(f.get("station")),
            _txt(f.get("attempts")),
            _txt(f.get("verify")),
            _ts(f.get("at")),
        ]
        for f in fw
    ]
    out.append(
        k.table(
            [
                Col("Image", 1.2),
                Col("Image sha256", 0, small=True, fixed=HASH2),
                Col("Flashed into / MCU UID", 0, small=True, fixed=110),
                Col("Station", 0.8),
                Col("Attempts", 0, align="RIGHT", fixed=40),
                Col("Verify", 0, fixed=32),
                Col("At (UTC)", 0, fixed=TS),
            ],
            rows,
        )
    )
    return out


def _ncrs(k: _Kit, d: dict[str, Any]) -> list[Flowable]:
    out: list[Flowable] = [k.h1("6  Nonconformances")]
    ncrs = d.get("ncrs") or []
    if not ncrs:
        return [*out, k.none_recorded()]
    rows = []
    for n in ncrs:
        sigs = n.get("signatures") or []
        rows.append(
            [
                f"{_txt(n.get('id'))}\n{_txt(n.get('status'))}",
                _serials(n.get("units") or []),
                _txt(n.get("description")),
                f"{_txt(n.get('action'))}\n{_txt(n.get('justification'))}",
                f"{_ts(n.get('opened_at'))}\n{_txt(n.get('opened_by'))}",
                "\n".join(_sig_line(s) for s in sigs) if sigs else DASH,
            ]
        )
    out.append(
        k.table(
            [
                Col("NCR / status", 0.95),
                Col("Units", 1.1),
                Col("Description", 1.9),
                Col("Disposition / justification", 1.9),
                Col("Opened (UTC) / by", 0, fixed=TS),
                Col("Signatures", 1.9),
            ],
            rows,
        )
    )
    return out


def _labels(k: _Kit, d: dict[str, Any]) -> list[Flowable]:
    out: list[Flowable] = [k.h1("7  Labeling (21 CFR 820.184(e))")]
    labels = d.get("labels") or []
    if not labels:
        return [*out, k.none_recorded()]
    cols = [
        Col("Item", 1.0),
        Col("Template", 0.9),
        Col("UDI element string", 2.2),
        Col("Content sha256 / file", 0, small=True, fixed=HASH2),
        Col("Printed (UTC) / by", 0, fixed=TS),
        Col("Print", 0.85),
    ]
    hri_width = k.col_widths(cols)[2] - 2 * _PAD_X
    rows = []
    for lb in labels:
        reprint = lb.get("reprint") or 0
        rp = "original" if not reprint else f"reprint {reprint}\n{_txt(lb.get('reason'))}"
        rows.append(
            [
                _txt(lb.get("item")),
                f"{_txt(lb.get('template'))}\nv{_txt(lb.get('template_version'))}",
                k.wrap_hri(_txt(lb.get("element_string")), hri_width),
                f"{_hash2(lb.get('content_sha256'))}\n{_txt(lb.get('file'))}",
                f"{_ts(lb.get('printed_at'))}\n{_txt(lb.get('user'))}",
                rp,
            ]
        )
    out.append(k.table(cols, rows))
    return out


def _origin(k: _Kit, d: dict[str, Any]) -> list[Flowable]:
    out: list[Flowable] = [k.h1("8  Origin decision (Made in Morocco)")]
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
    out: list[Flowable] = [k.h1("9  Distribution")]
    ships = d.get("shipments") or []
    if not ships:
        return [*out, k.none_recorded()]
    rows = [
        [
            _txt(s.get("consignee")),
            _txt(s.get("ref")),
            _num(s.get("qty")),
            _serials(s.get("serials") or []),
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


def _closing(k: _Kit, d: dict[str, Any]) -> list[Flowable]:
    from reportlab.platypus import KeepTogether

    head = d.get("chain_head") or {}
    lot = d.get("lot") or {}
    text = (
        f"This Device History Record for lot <b>{_p(_txt(lot.get('id')))}</b> was generated "
        f"from the plant's mes records at {_p(_ts(d.get('generated_at'), utc_suffix=True))}. "
        f"At that moment the audit trail ended at event "
        f"<b>#{_p(_txt(head.get('seq')))}</b> with chain head hash:"
    )
    box = [
        k.para(text, k.kv_val),
        k.spacer(3),
        k.para(_p(_txt(head.get("hash"))), k.hash_big),
        k.spacer(3),
        k.para(
            f"Compare with <b>{_p(VERIFY_CMD)}</b>: any later rewrite of the records "
            "above breaks the chain before this hash.",
            k.kv_val,
        ),
    ]
    return [
        k.spacer(10),
        KeepTogether(
            [
                k.h1("Closing statement"),
                k.boxed(
                    box,
                    border=k.colors.HexColor("#24292f"),
                    background=k.colors.HexColor("#f3f5f8"),
                ),
            ]
        ),
    ]


# --------------------------------------------------------------------------- page furniture


def _numbered_canvas(k: _Kit, header_left: str, header_right: str, footer_left: str) -> Any:
    """Canvas class that defers each page until the page count is known ("page x of y")."""
    from reportlab.pdfgen.canvas import Canvas

    class NumberedCanvas(Canvas):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._saved_pages: list[dict[str, Any]] = []

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
            # header
            y = h - _MARGIN_TOP + 8 * _MM
            self.setFont(k.bold, 8)
            self.drawString(_MARGIN_X, y, header_left)
            self.setFont(k.regular, 8)
            self.drawRightString(w - _MARGIN_X, y, header_right)
            self.line(_MARGIN_X, y - 3, w - _MARGIN_X, y - 3)
            # footer
            y = _MARGIN_BOTTOM - 9 * _MM
            self.line(_MARGIN_X, y + 9, w - _MARGIN_X, y + 9)
            self.setFont(k.regular, 7.5)
            self.drawString(_MARGIN_X, y, footer_left)
            self.setFont(k.bold, 8)
            self.drawRightString(w - _MARGIN_X, y, f"page {self._pageNumber} of {total}")
            self.restoreState()

    return NumberedCanvas


# --------------------------------------------------------------------------- entry point


def render_dhr_pdf(dhr: dict[str, Any]) -> bytes:
    """Render a Device History Record dict (shape: see the DHR service) as PDF bytes."""
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
        creator="mes",
        invariant=True,  # same input, same bytes (no creation-time ids)
    )
    story: list[Flowable] = []
    for section in (
        _title_block,
        _summary,
        _signatures,
        _operations,
        _materials,
        _firmware,
        _ncrs,
        _labels,
        _origin,
        _distribution,
        _closing,
    ):
        story.extend(section(k, dhr))

    canvas_cls = _numbered_canvas(
        k,
        header_left=f"Device History Record · lot {lot_id}",
        header_right=f"{_txt(lot.get('part_number'))} · {_txt(site.get('name'))}",
        footer_left=(
            f"Lot {lot_id} · generated {generated} · chain head "
            f"#{_txt(head.get('seq'))} {_short(head.get('hash'), 16)}"
        ),
    )
    doc.build(story, canvasmaker=canvas_cls)
    return buf.getvalue()
