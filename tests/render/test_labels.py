"""Label templates, PDF/ZPL rendering, and reading the printed symbol back (DESIGN §6-7)."""

from __future__ import annotations

import io
import unicodedata
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from mes.domain.gs1 import Udi
from mes.errors import InvalidInput, ValidationFailed
from mes.render.gs1_check import check_element_string
from mes.render.label_content import LabelContent
from mes.render.label_pdf import render_label_pdf
from mes.render.label_templates import list_templates, load_template, parse_template
from mes.render.label_verify import preview_png, verify_pdf
from mes.render.label_zpl import render_label_zpl

pypdf = pytest.importorskip("pypdf")

UDI = Udi("09506000134352", lot="L2611-0003", serial="SN-000123",
          mfg_date=date(2026, 1, 15), expiry=date(2031, 1, 31))


def content(udi: Udi = UDI, **kw: object) -> LabelContent:
    base = LabelContent(
        product_name="CardioPatch ECG CP-200", ref="CP-200-EU",
        manufacturer_name="Atlas MedTech SARL",
        manufacturer_address="Zone Franche, Lot 12, 90000 Tanger, Maroc",
        mfg_date=udi.mfg_date or date(2026, 1, 15), expiry=udi.expiry, lot=udi.lot or "",
        serial=udi.serial, quantity=udi.count, udi_hri=udi.hri(), udi_data=udi.data(),
        origin_claim=True,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def page_text(pdf: bytes, page: int = 0) -> str:
    return pypdf.PdfReader(io.BytesIO(pdf)).pages[page].extract_text()


def test_shipped_templates_load() -> None:
    names = {t.name for t in list_templates([])}
    assert {"udi-100x50", "udi-50x25", "shipper-100x150"} <= names


@pytest.mark.parametrize(("name", "size"), [("udi-100x50", (100, 50)), ("udi-50x25", (50, 25))])
def test_unit_label_pdf_reads_back(name: str, size: tuple[int, int]) -> None:
    t = load_template(name, [])
    pdf = render_label_pdf([content(), content(replace(UDI, serial="SN-000124"))], t)
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == 2  # one label per page
    box = reader.pages[0].mediabox
    assert (round(float(box.width) * 25.4 / 72, 2), round(float(box.height) * 25.4 / 72, 2)) \
        == size
    checks = verify_pdf(pdf)
    assert [c.page for c in checks] == [1, 2]
    for c, serial in zip(checks, ["SN-000123", "SN-000124"], strict=True):
        assert c.found and c.ok
        assert c.symbology_identifier == "]d2"
        assert c.content_type_gs1
        assert c.data == replace(UDI, serial=serial).data()
        assert c.udi_hri == replace(UDI, serial=serial).hri()


def test_fonts_embedded_and_texts_printed() -> None:
    pdf = render_label_pdf([content()], load_template("udi-100x50", []))
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    fonts = reader.pages[0]["/Resources"]["/Font"]
    for ref in fonts.values():
        font = ref.get_object()
        assert font["/Subtype"] == "/TrueType"
        assert "/FontFile2" in font["/FontDescriptor"].get_object()  # program embedded
    text = page_text(pdf)
    assert "Made in Morocco" in text
    assert "Fabriqué au Maroc" in unicodedata.normalize("NFC", text)
    assert "(01)09506000134352(11)260115(17)310131(10)L2611-0003" in text
    assert "2026-01-15" in text and "2031-01-31" in text
    # The Arabic is drawn shaped (presentation forms) in visual order. Extraction returns the
    # presentation forms (NFKC folds them back to the base letters) and, depending on the
    # extractor's own bidi handling, visual or logical order: accept either, nothing else.
    arabic = "صنع في المغرب"
    lines = [unicodedata.normalize("NFKC", line).strip() for line in text.splitlines()]
    assert any(line in (arabic, arabic[::-1]) for line in lines), lines
    # and it was shaped: the page holds presentation forms, not the isolated base letters
    assert any("\ufe70" <= ch <= "\ufeff" for ch in text)


def test_no_origin_claim_no_origin_text() -> None:
    pdf = render_label_pdf([content(origin_claim=False)], load_template("udi-100x50", []))
    text = page_text(pdf)
    assert "Made in" not in text and "Fabriqué" not in text
    # issue 17: the country-of-manufacture symbol (5.1.11) states where it was made, claim
    # or not; only the "Made in Morocco" texts need the positive origin decision
    assert "MA" in text.split()
    assert "Atlas MedTech SARL" in text


def test_reprint_and_template_version_printed() -> None:
    pdf = render_label_pdf([content(is_reprint=True, template_version=3)],
                           load_template("udi-50x25", []))
    text = page_text(pdf)
    assert "REPRINT" in text and "udi-50x25 v3" in text


def test_shipper_label_carries_lot_udi_with_count() -> None:
    lot = Udi("09506000134352", lot="L2611-0003", mfg_date=date(2026, 1, 15),
              expiry=date(2031, 1, 31), count=50)
    pdf = render_label_pdf([content(lot, serial=None)], load_template("shipper-100x150", []))
    [check] = verify_pdf(pdf, dpi=200)
    assert check.ok and check.udi_hri == lot.hri()
    assert "QTY 50" in page_text(pdf)


def test_content_longer_than_template_allows_is_refused() -> None:
    long_lot = replace(UDI, lot="L2611-000300001")
    with pytest.raises(InvalidInput) as exc:
        render_label_pdf([content(long_lot)], load_template("udi-50x25", []))
    assert exc.value.field == "lot"
    render_label_pdf([content(long_lot)], load_template("udi-100x50", []))  # big label fits


def test_label_whose_text_differs_from_udi_is_refused() -> None:
    with pytest.raises(InvalidInput) as exc:
        render_label_pdf([content(lot="L9999-0001")], load_template("udi-100x50", []))
    assert exc.value.field == "udi"


def test_biip_check_names_the_field() -> None:
    check_element_string(UDI.hri())
    with pytest.raises(InvalidInput) as exc:
        check_element_string("(01)09506000134353(10)L1")
    assert exc.value.field == "gtin" and "AI (01)" in str(exc.value)
    with pytest.raises(InvalidInput):
        check_element_string("(01)09506000134352(17)261301")


def test_zpl() -> None:
    zpl = render_label_zpl([content()], load_template("udi-100x50", [])).decode()
    assert zpl.startswith("^XA") and zpl.rstrip().endswith("^XZ")
    assert "^CI28" in zpl
    assert "^BXN,5,200,,,,_^FD_10109506000134352112601151731013110L2611-0003_121SN-000123^FS" \
        in zpl
    assert "Fabriqué au Maroc" in zpl and "CP-200-EU" in zpl


def test_preview_png() -> None:
    png = preview_png(render_label_pdf([content()], load_template("udi-50x25", [])), dpi=100)
    assert png.startswith(b"\x89PNG")


# ---- template refusals ----------------------------------------------------------------------

GOOD = (Path(__file__).parents[2] / "mes/data/labels/udi-100x50.yaml").read_text()


def refused(text: str) -> list[str]:
    with pytest.raises(ValidationFailed) as exc:
        parse_template(text, "bad.yaml")
    return [str(p) for p in exc.value.problems]


def test_module_too_small_is_refused() -> None:
    problems = refused(GOOD.replace("module_dots: 5", "module_dots: 2"))  # 0.169 mm
    assert any("module_dots" in p and "outside 0.254" in p for p in problems)


def test_box_outside_stock_is_refused_with_line() -> None:
    problems = refused(GOOD.replace("{field: footer,       x: 3,",
                                    "{field: footer,       x: 30,"))
    [p] = problems
    line = next(i for i, s in enumerate(GOOD.splitlines(), 1) if "field: footer" in s)
    assert p.startswith(f"bad.yaml:{line}: footer:") and "outside the 100x50 mm stock" in p


def test_text_overflow_is_refused() -> None:
    problems = refused(GOOD.replace("{field: lot,          x: 3,    y: 15.6, w: 66,",
                                    "{field: lot,          x: 3,    y: 15.6, w: 40,"))
    assert any(": lot: the longest content" in p for p in problems)


def test_symbol_too_big_for_its_box_is_refused() -> None:
    problems = refused(GOOD.replace("w: 17.5, h: 17.5", "w: 14, h: 14"))
    assert any("datamatrix" in p and "does not fit" in p for p in problems)


def test_workspace_template_overrides_packaged(tmp_path: Path) -> None:
    (tmp_path / "udi-100x50.yaml").write_text(GOOD.replace("version: 1", "version: 7"))
    assert load_template("udi-100x50", [tmp_path]).version == 7
    assert load_template("udi-50x25", [tmp_path]).version == 1
