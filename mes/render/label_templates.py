"""Label templates: YAML files that place field boxes on an exact label stock.

Coordinates are millimetres from the TOP-LEFT corner of the stock, y pointing down (as a
person measures a label with a ruler); the PDF renderer converts to reportlab's bottom-left.

A template is refused at load time (ValidationFailed, file:line: field: message) when a box
leaves the stock, two boxes overlap, a font is below 4.5 pt, the longest allowed content
would not fit its box, or the DataMatrix module / symbol does not fit. "Longest allowed
content" is ``limits`` (defaults below, a small template may lower them; the renderer refuses
content longer than its template allows) written in the widest glyph of the character set:
an identifier that passes is guaranteed to print without clipping.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from functools import cache, lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from mes.domain.gs1 import Udi, format_data, parse_element_string
from mes.errors import InvalidInput, NotFound, Problem, ValidationFailed
from mes.render.label_content import ORIGIN_TEXTS_MA, LabelContent

FONT = "IBMPlexSansArabic"
FONT_BOLD = "IBMPlexSansArabic-Bold"
PT_PER_MM = 72 / 25.4
LINE_FACTOR = 1.18  # line pitch / font size
MIN_FONT_PT = 4.5
MIN_MODULE_MM, MAX_MODULE_MM = 0.254, 0.990  # GS1 healthcare X-dimension range

DEFAULT_LIMITS = {
    "product_name": 40, "ref": 20, "lot": 20, "serial": 20, "fw_version": 20,
    "manufacturer_name": 40, "manufacturer_address": 80, "quantity_digits": 6,
    # issue 17: device name and key text per language, the EU representative and importer
    "label_name": 40, "label_text": 120, "eu_party": 80,
}
KINDS = ("unit", "shipper")
# field -> ISO 15223-1 symbol drawn before the text (None: plain text)
FIELDS: dict[str, str | None] = {
    "product_name": None, "ref": "REF", "lot": "LOT", "serial": "SN",
    "mfg_date": "mfg", "expiry": "use_by", "manufacturer": "manufacturer",
    "origin": "country", "quantity": None, "hri": None, "footer": None,
    "md": "MD", "udi": "UDI", "datamatrix": None,
    # issue 17: the device's name and key text in English, French, Arabic; ISO 15223-1
    # symbols from the catalog (consult IFU 5.4.3, temperature limits 5.3.7, keep dry
    # 5.3.4); the EU market's CE mark with the notified body, 5.1.2 and 5.1.8
    "text_en": None, "text_fr": None, "text_ar": None, "symbols": None,
    "ce": "CE", "eu_rep": "EC REP", "importer": "importer",
}
SYMBOL_ONLY = frozenset({"md", "udi"})
DRAWN_ONLY = frozenset({"symbols"})  # symbols drawn from the content, no text lines
EU_FIELDS = ("ce", "eu_rep", "importer")
REQUIRED = {"unit": {"datamatrix", "hri", "lot", "serial", "udi"},
            "shipper": {"datamatrix", "hri", "lot", "quantity", "udi"}}


@dataclass(frozen=True)
class Box:
    field: str
    x: float
    y: float
    w: float
    h: float
    font_size: float = 7.0
    lines: int = 1
    bold: bool = False
    line: int | None = None  # line in the YAML file, for messages


@dataclass(frozen=True)
class Template:
    name: str
    version: int
    kind: str
    width_mm: float
    height_mm: float
    dpi: int
    module_dots: int
    boxes: tuple[Box, ...]
    limits: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_LIMITS))
    path: str = ""

    @property
    def module_mm(self) -> float:
        return self.module_dots * 25.4 / self.dpi

    def box(self, name: str) -> Box | None:
        return next((b for b in self.boxes if b.field == name), None)


# ---- fonts and text -------------------------------------------------------------------------

@cache
def register_fonts() -> tuple[str, str]:
    """Register IBM Plex Sans Arabic (Latin + Arabic glyphs) with reportlab, once."""
    import fontpkg_ibm_plex_sans_arabic as plex
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    files = Path(plex.ROOT) / "files"
    pdfmetrics.registerFont(TTFont(FONT, str(files / "IBMPlexSansArabic-Regular.ttf")))
    pdfmetrics.registerFont(TTFont(FONT_BOLD, str(files / "IBMPlexSansArabic-Bold.ttf")))
    return FONT, FONT_BOLD


@lru_cache(maxsize=16384)  # pure; a batch measures the same texts on every label
def text_width_mm(text: str, size: float, bold: bool = False) -> float:
    from reportlab.pdfbase import pdfmetrics

    register_fonts()
    return pdfmetrics.stringWidth(text, FONT_BOLD if bold else FONT, size) / PT_PER_MM


# drawn (visual) Arabic line -> its logical text, for the PDF's text layer (issue 17)
LOGICAL: dict[str, str] = {}


@lru_cache(maxsize=4096)  # pure; the origin claim is reshaped once per batch, not per label
def visual(text: str) -> str:
    """Arabic for drawing: joined letter forms (reshaper), then right-to-left order (bidi)."""
    if not any("\u0600" <= c <= "\u06ff" for c in text):
        return text
    import arabic_reshaper
    from bidi import get_display

    drawn = str(get_display(arabic_reshaper.reshape(text)))
    LOGICAL[drawn] = text
    return drawn


def is_arabic_drawn(s: str) -> bool:
    return any("\ufb50" <= ch <= "\ufeff" for ch in s)


def wrap(text: str, width_mm: float, size: float, bold: bool = False) -> list[str]:
    lines: list[str] = []
    cur = ""
    for word in text.split():
        cand = f"{cur} {word}" if cur else word
        if cur and text_width_mm(cand, size, bold) > width_mm:
            lines.append(cur)
            cur = word
        else:
            cur = cand
    return [*lines, cur] if cur else lines


def hri_lines(hri: str, width_mm: float, size: float) -> list[str]:
    """HRI broken only between element strings, so no "(AI)value" is ever split."""
    elements = parse_element_string(hri)
    lines: list[str] = []
    cur = ""
    for ai, value in elements.items():
        piece = f"({ai}){value}"
        if cur and text_width_mm(cur + piece, size) > width_mm:
            lines.append(cur)
            cur = piece
        else:
            cur += piece
    return [*lines, cur] if cur else lines


def iso_date(d: date | None) -> str:
    return d.isoformat() if d else ""


def symbol_width_mm(symbol: str | None, h: float) -> float:
    """Width of the ISO symbol drawn in a box of height h (0 when the field has none)."""
    if symbol is None:
        return 0.0
    if symbol == "CE":
        return h * 1.45
    if symbol.isupper():  # boxed letters: REF, LOT, SN, MD, UDI, EC REP
        return max(h * 1.25, text_width_mm(symbol, h * PT_PER_MM * 0.55, True) + h * 0.45)
    return h * (1.15 if symbol in ("manufacturer", "mfg", "country", "importer") else 0.75)


# width of each storage/IFU symbol, x the box height; gap between them
STORAGE_WIDTH = {"ifu": 1.0, "temperature": 2.2, "keep_dry": 1.0}
STORAGE_GAP = 0.25


def storage_symbols(c: LabelContent) -> list[str]:
    """The ISO 15223-1 symbols the catalog asks for, in print order."""
    out = ["ifu"] if c.consult_ifu else []
    if c.temp_min_c is not None or c.temp_max_c is not None:
        out.append("temperature")
    if c.keep_dry:
        out.append("keep_dry")
    return out


def celsius(v: float | None) -> str:
    return "" if v is None else f"{v:g} °C"


def symbol_height_mm(box: Box) -> float:
    # a multi-line block gets a symbol about two text lines high, not the whole box
    if box.lines == 1:
        return box.h
    return min(box.h, 2.2 * box.font_size * LINE_FACTOR / PT_PER_MM)


def box_lines(box: Box, c: LabelContent, t: Template) -> list[tuple[str, bool]]:
    """The text lines a box prints (already in visual order), with bold flags."""
    sym = symbol_width_mm(FIELDS.get(box.field), symbol_height_mm(box))
    width = box.w - sym - (0.8 if sym else 0)
    f, size = box.field, box.font_size
    if f == "product_name":
        return [(s, True) for s in wrap(c.product_name, width, size, True)]
    if f == "manufacturer":
        name = [(s, True) for s in wrap(c.manufacturer_name, width, size, True)]
        rest = wrap(c.manufacturer_address, width, size) if box.lines > len(name) else []
        return name + [(s, False) for s in rest]
    if f == "origin":
        if not c.origin_claim:
            return []
        texts = [c.origin_texts.get(k, "") for k in ("en", "fr", "ar")]
        if box.lines >= 3:
            return [(visual(s), False) for s in texts]
        return [(visual(" · ".join(texts)), False)]
    if f == "hri":
        return [(s, False) for s in hri_lines(c.udi_hri, box.w, size)]
    if f.startswith("text_"):
        name_text = c.texts.get(f.removeprefix("text_"))
        if name_text is None:
            return []
        name = [(visual(s), True) for s in wrap(name_text[0], width, size, True)]
        rest = wrap(name_text[1], width, size) if name_text[1] else []
        return name + [(visual(s), False) for s in rest]
    if f == "ce":
        return [(c.notified_body, True)] if c.notified_body else []
    if f in ("eu_rep", "importer"):
        party = c.authorised_rep if f == "eu_rep" else c.importer
        return [(s, False) for s in wrap(party or "", width, size)]
    if f == "footer":
        reprint = "   REPRINT" if c.is_reprint else ""
        return [(f"{t.name} v{c.template_version}{reprint}", False)]
    value = {
        "ref": c.ref, "lot": c.lot, "serial": c.serial or "",
        "mfg_date": iso_date(c.mfg_date), "expiry": iso_date(c.expiry),
        "quantity": f"QTY {c.quantity}" if c.quantity is not None else "",
    }.get(f)
    return [(value, box.bold)] if value else []


def text_area_mm(box: Box) -> float:
    sym = symbol_width_mm(FIELDS.get(box.field), symbol_height_mm(box))
    return box.w - sym - (0.8 if sym else 0)


def check_content(c: LabelContent, t: Template) -> None:
    """Refuse content the template was not sized for (it would be clipped)."""
    lim = t.limits
    for name, value in (
        ("product_name", c.product_name), ("ref", c.ref), ("lot", c.lot),
        ("serial", c.serial), ("manufacturer_name", c.manufacturer_name),
        ("manufacturer_address", c.manufacturer_address),
        *((f"label_name ({lang})", nt[0]) for lang, nt in c.texts.items()),
        *((f"label_text ({lang})", nt[1]) for lang, nt in c.texts.items()),
        ("eu_party", c.authorised_rep), ("eu_party", c.importer),
    ):
        key = name.split(" ")[0]
        if value is not None and len(value) > lim.get(key, DEFAULT_LIMITS[key]):
            raise InvalidInput(
                f"{name} {value!r} is longer than the {lim[key]} characters template "
                f"{t.name} is laid out for: use a larger label", field=key)
    if c.quantity is not None and len(str(c.quantity)) > lim["quantity_digits"]:
        raise InvalidInput(f"quantity {c.quantity} too large for {t.name}", field="quantity")
    fw = parse_element_string(c.udi_data).get("8012")
    if fw is not None and len(fw) > lim["fw_version"]:
        raise InvalidInput(f"firmware version {fw!r} does not fit template {t.name}",
                           field="fw_version")
    for box in t.boxes:
        lines = box_lines(box, c, t)
        if len(lines) > box.lines or any(
            text_width_mm(s, box.font_size, b) > text_area_mm(box) + 0.01 for s, b in lines
        ):
            raise InvalidInput(f"{box.field} does not fit its box on template {t.name}",
                               field=box.field)


# ---- DataMatrix -----------------------------------------------------------------------------

def datamatrix_marks(udi_data: str) -> tuple[tuple[tuple[int, int, int, int], ...], int]:
    """Dark rectangles (x, y, w, h in modules, y down) and the symbol size, no quiet zone.

    FNC1 first, then FNC1 after every variable-length field but the last (pyStrich's gs1()).
    """
    from pystrich.datamatrix import DataMatrixData, DataMatrixEncoder
    from pystrich.gs1 import GS1Fixed, GS1Variable

    from mes.domain.gs1 import AIS

    elements = parse_element_string(udi_data)
    fields = [
        (GS1Fixed if AIS[ai][0] is not None else GS1Variable)(ai, v) for ai, v in elements.items()
    ]
    enc = DataMatrixEncoder(DataMatrixData.gs1(*fields), quiet_zone=0)
    marks = enc.get_rect_marks()
    return marks.marks, marks.width


def worst_case_udi(t: Template) -> Udi:
    lim = t.limits
    d = date(2026, 12, 31)
    if t.kind == "shipper":
        return Udi("09506000134352", lot="W" * lim["lot"], mfg_date=d, expiry=d,
                   count=10 ** lim["quantity_digits"] - 1)
    fw = "W" * lim["fw_version"] if lim["fw_version"] else None
    return Udi("09506000134352", lot="W" * lim["lot"], serial="W" * lim["serial"],
               mfg_date=d, expiry=d, fw_version=fw)


def worst_case_content(t: Template) -> LabelContent:
    lim = t.limits
    udi = worst_case_udi(t)

    def free(n: int) -> str:  # words of average lowercase width
        return ("Mnnnnnnn " * n)[:n].strip()

    wide = "W"  # widest glyph of [0-9A-Z-] in IBM Plex Sans
    return LabelContent(
        product_name=free(lim["product_name"]), ref=wide * lim["ref"],
        manufacturer_name=free(lim["manufacturer_name"]),
        manufacturer_address=free(lim["manufacturer_address"]),
        mfg_date=date(2026, 12, 31), expiry=date(2026, 12, 31), lot=udi.lot or "",
        serial=udi.serial, udi_hri=udi.hri(), udi_data=format_data(udi.elements()),
        quantity=udi.count, origin_claim=True, origin_texts=dict(ORIGIN_TEXTS_MA),
        template_version=99, is_reprint=True,
        texts={lang: (free(lim["label_name"]), free(lim["label_text"]))
               for lang in ("en", "fr", "ar")},
        consult_ifu=True, temp_min_c=-20, temp_max_c=40, keep_dry=True, notified_body="9999",
        authorised_rep=free(lim["eu_party"]), importer=free(lim["eu_party"]),
    )


# ---- loading --------------------------------------------------------------------------------

class _LineLoader(yaml.SafeLoader):
    """Remember each mapping's line so problems can say file:line."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict[str, Any]:
    mapping = loader.construct_mapping(node, deep=True)
    mapping["__line__"] = node.start_mark.line + 1
    return mapping  # type: ignore[return-value]


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _num(d: dict[str, Any], key: str, problems: list[Problem], f: str, where: str) -> float:
    v = d.get(key)
    if isinstance(v, bool) or not isinstance(v, int | float):
        problems.append(Problem(f, d.get("__line__"), f"{where}.{key}", "number required"))
        return 0.0
    return float(v)


def parse_template(text: str, path: str) -> Template:
    """Build and check a template; every problem found is reported at once."""
    try:
        raw = yaml.load(text, Loader=_LineLoader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ValidationFailed(
            [Problem(path, mark.line + 1 if mark else None, "yaml", str(exc))]) from None
    if not isinstance(raw, dict):
        raise ValidationFailed([Problem(path, 1, "template", "a YAML mapping is required")])
    p: list[Problem] = []
    top = raw.get("__line__")

    def bad(line: int | None, fld: str, msg: str) -> None:
        p.append(Problem(path, line, fld, msg))

    name = raw.get("name")
    if not isinstance(name, str) or not name:
        bad(top, "name", "a template name is required")
    version = raw.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        bad(top, "version", "an integer >= 1 is required")
    kind = raw.get("kind")
    if kind not in KINDS:
        bad(top, "kind", f"must be one of {', '.join(KINDS)}")
    dpi = raw.get("dpi")
    if dpi not in (203, 300):
        bad(top, "dpi", "must be 203 or 300 (the printer's resolution)")
    dots = raw.get("module_dots")
    if not isinstance(dots, int) or isinstance(dots, bool) or dots < 1:
        bad(top, "module_dots", "a whole number of printer dots is required")
    stock = raw.get("stock") if isinstance(raw.get("stock"), dict) else {}
    if not stock:
        bad(top, "stock", "stock: {width_mm, height_mm} is required")
    sw = _num(stock, "width_mm", p, path, "stock") if stock else 0.0
    sh = _num(stock, "height_mm", p, path, "stock") if stock else 0.0
    limits = dict(DEFAULT_LIMITS)
    for k, v in (raw.get("limits") or {}).items():
        if k == "__line__":
            continue
        if k not in DEFAULT_LIMITS or not isinstance(v, int) or v < 0 or v > DEFAULT_LIMITS[k]:
            bad(raw["limits"].get("__line__"), f"limits.{k}",
                f"unknown limit or not 0..{DEFAULT_LIMITS.get(k, '?')}")
        else:
            limits[k] = v
    boxes: list[Box] = []
    for i, b in enumerate(raw.get("boxes") or []):
        if not isinstance(b, dict):
            bad(top, f"boxes[{i}]", "a mapping is required")
            continue
        line = b.get("__line__")
        fld = b.get("field")
        if fld not in FIELDS:
            bad(line, f"boxes[{i}].field", f"unknown field {fld!r}")
            continue
        boxes.append(Box(
            field=fld, x=_num(b, "x", p, path, fld), y=_num(b, "y", p, path, fld),
            w=_num(b, "w", p, path, fld), h=_num(b, "h", p, path, fld),
            font_size=float(b.get("font_size", 7.0)), lines=int(b.get("lines", 1)),
            bold=bool(b.get("bold", False)), line=line,
        ))
    if p:
        raise ValidationFailed(p)
    assert isinstance(name, str) and isinstance(version, int) and isinstance(kind, str)
    assert isinstance(dpi, int) and isinstance(dots, int)
    t = Template(name, version, kind, sw, sh, dpi, dots, tuple(boxes), limits, path)
    _check_geometry(t, p)
    if p:
        raise ValidationFailed(p)
    return t


def _check_geometry(t: Template, p: list[Problem]) -> None:
    def bad(box: Box | None, fld: str, msg: str) -> None:
        p.append(Problem(t.path, box.line if box else None, fld, msg))

    fields = [b.field for b in t.boxes]
    for missing in sorted(REQUIRED[t.kind] - set(fields)):
        bad(None, missing, f"a {t.kind} label needs a '{missing}' box")
    for f in {f for f in fields if fields.count(f) > 1}:
        bad(t.box(f), f, "appears in more than one box")
    for b in t.boxes:
        if b.w <= 0 or b.h <= 0 or b.x < 0 or b.y < 0 or b.x + b.w > t.width_mm + 1e-6 \
                or b.y + b.h > t.height_mm + 1e-6:
            bad(b, b.field, f"box ({b.x}, {b.y}, {b.w}x{b.h} mm) falls outside the "
                            f"{t.width_mm:g}x{t.height_mm:g} mm stock")
        if b.font_size < MIN_FONT_PT and b.field not in ("datamatrix", *SYMBOL_ONLY):
            bad(b, b.field, f"font {b.font_size} pt is below {MIN_FONT_PT} pt: unreadable")
    for i, a in enumerate(t.boxes):
        for b in t.boxes[i + 1:]:
            if a.x < b.x + b.w and b.x < a.x + a.w and a.y < b.y + b.h and b.y < a.y + a.h:
                bad(b, b.field, f"box overlaps box '{a.field}' (line {a.line})")
    if p:
        return
    module = t.module_mm
    dm = t.box("datamatrix")
    if not MIN_MODULE_MM <= module <= MAX_MODULE_MM:
        bad(dm, "module_dots", f"module {module:.3f} mm ({t.module_dots} dots at {t.dpi} dpi) "
                               f"is outside {MIN_MODULE_MM}-{MAX_MODULE_MM} mm")
    elif dm is not None:
        udi = worst_case_udi(t)
        _, n = datamatrix_marks(udi.data())
        need = (n + 2) * module  # one module of quiet zone each side
        if need > min(dm.w, dm.h) + 1e-6:
            bad(dm, "datamatrix", f"the largest symbol ({n}x{n} modules, {need:.1f} mm with "
                                  f"quiet zone) does not fit a {dm.w}x{dm.h} mm box")
    sym = t.box("symbols")
    need = sym.h * (sum(STORAGE_WIDTH.values()) + STORAGE_GAP * 2) if sym else 0.0
    if sym is not None and need > sym.w + 1e-6:
        bad(sym, "symbols", f"the IFU, temperature and keep-dry symbols need {need:.1f} mm "
                            f"at {sym.h:g} mm high; the box is {sym.w:g} mm wide")
    content = worst_case_content(t)
    for b in t.boxes:
        if b.field in ("datamatrix", *SYMBOL_ONLY, *DRAWN_ONLY):
            continue
        lines = box_lines(b, content, t)
        area = text_area_mm(b)
        widest = max((text_width_mm(s, b.font_size, bold) for s, bold in lines), default=0)
        height = len(lines) * b.font_size * LINE_FACTOR / PT_PER_MM
        if len(lines) > b.lines or widest > area + 1e-6 or height > b.h + 1e-6:
            bad(b, b.field, f"the longest content needs {len(lines)} line(s), "
                            f"{widest:.1f} x {height:.1f} mm; the box gives {b.lines} line(s), "
                            f"{area:.1f} x {b.h:g} mm")


def _dirs(search_dirs: list[Path]) -> list[Path]:
    """Workspace dirs first (they override), the packaged templates last."""
    return [*search_dirs, Path(str(resources.files("mes") / "data" / "labels"))]


def load_template(name: str, search_dirs: list[Path]) -> Template:
    for d in _dirs(search_dirs):
        f = d / f"{name}.yaml"
        if f.is_file():
            return parse_template(f.read_text(encoding="utf-8"), str(f))
    raise NotFound(f"label template {name!r} not found: see `mes label templates`",
                   field="template")


def list_templates(search_dirs: list[Path]) -> list[Template]:
    seen: dict[str, Template] = {}
    for d in _dirs(search_dirs):
        for f in sorted(d.glob("*.yaml")) if d.is_dir() else []:
            if f.stem not in seen:
                seen[f.stem] = parse_template(f.read_text(encoding="utf-8"), str(f))
    return sorted(seen.values(), key=lambda t: t.name)
