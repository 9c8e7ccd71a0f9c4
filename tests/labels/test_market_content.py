"""Labels fit for their market (issue 17): name and key text per language, ISO 15223-1
storage and IFU symbols from the catalog, the EU market's CE content (refused when missing),
the country-of-manufacture symbol kept without the claim, Arabic searchable in the PDF."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pypdf
import pytest

from tests.conftest import Workspace, assert_unchanged
from tests.labels import test_label_print as lp
from tests.labels.test_label_print import build_device, shop  # noqa: F401 (fixture)

ARABIC = "صنع في المغرب"
LABELING = """    labeling:
      text:
        en: {name: OxiSense 100 pulse oximeter, text: Spot checks only.}
        fr: {name: Oxymètre OxiSense 100, text: Contrôles ponctuels uniquement.}
        ar: {name: مقياس الأكسجة, text: للفحص الفوري فقط.}
      consult_ifu: true
      storage: {min_c: -20, max_c: 50, keep_dry: true}
      markets: [MA, EU]
"""
EU = """      eu: {notified_body: "2797", authorised_rep: "EuRep GmbH, Hauptstr. 5, Berlin, DE",
           importer: "MedImport SARL, 12 rue de Lyon, Paris, FR"}
"""


def _catalog(ws: Workspace, tmp_path: Path, eu: bool) -> None:
    text = lp.CATALOG.replace("    shelf_life_days: 1825\n  - number: KITD-T",
                              "    shelf_life_days: 1825\n" + LABELING + (EU if eu else "")
                              + "  - number: KITD-T")
    assert "labeling" in text
    f = tmp_path / "catalog-market.yaml"
    f.write_text(text, encoding="utf-8")
    assert "DEV-T: updated" in ws.ok("routing", "load", f, user="tarik").out


def _pdf(ws: Workspace, d: dict) -> bytes:
    return (ws.path / d["file"]).read_bytes()


def test_eu_market_needs_its_catalog_content_and_template(
        shop: Workspace, tmp_path: Path) -> None:  # noqa: F811
    _lot, serials = build_device(shop, board_cost=20, n=1)
    _catalog(shop, tmp_path, eu=False)
    before = shop.dump()
    r = shop.mes("label", "print", serials[0], "--template", "udi-100x80", user="fatima")
    assert r.code == 4 and "labeling.eu.notified_body" in r.err, r
    assert_unchanged(shop, before)
    _catalog(shop, tmp_path, eu=True)
    before = shop.dump()
    r = shop.mes("label", "print", serials[0], user="fatima")  # udi-100x50: no CE box
    assert r.code == 4 and "has no 'ce' box" in r.err and "udi-100x80" in r.err, r
    assert_unchanged(shop, before)
    d = json.loads(shop.ok("label", "print", serials[0], "--template", "udi-100x80",
                           "--json", user="fatima").out)
    assert d["verified"]  # the DataMatrix still decodes with the recorded element string
    text = pypdf.PdfReader(io.BytesIO(_pdf(shop, d))).pages[0].extract_text()
    for words in ("Spot checks only.", "Contrôles ponctuels uniquement.", "للفحص الفوري فقط.",
                  "2797", "EC REP", "EuRep GmbH", "MedImport SARL", "50 °C", "-20 °C",
                  ARABIC):
        assert words in text, (words, text)


def test_country_symbol_stays_without_the_claim(shop: Workspace, tmp_path: Path  # noqa: F811
                                                ) -> None:
    _lot, serials = build_device(shop, board_cost=20, n=1)
    _catalog(shop, tmp_path, eu=True)
    d = json.loads(shop.ok("label", "print", serials[0], "--template", "udi-100x80",
                           "--no-origin-claim", "--json", user="fatima").out)
    text = pypdf.PdfReader(io.BytesIO(_pdf(shop, d))).pages[0].extract_text()
    assert "MA" in text.split() and "Made in Morocco" not in text and ARABIC not in text


def test_labeling_is_for_devices(tmp_path: Path, shop: Workspace) -> None:  # noqa: F811
    text = lp.CATALOG.replace("  - {number: ENC-T, name: Enclosure, kind: subassembly}",
                              "  - number: ENC-T\n    name: Enclosure\n    kind: subassembly\n"
                              "    labeling: {consult_ifu: true}")
    f = tmp_path / "bad.yaml"
    assert "labeling" in text
    f.write_text(text, encoding="utf-8")
    r = shop.mes("routing", "validate", f, user="tarik")
    assert r.code == 5 and "labeling is for devices" in r.err, r


@pytest.mark.parametrize("extractor", ["pypdf", "pdfium"])
def test_arabic_is_found_in_logical_order(shop: Workspace, extractor: str) -> None:  # noqa: F811
    _lot, serials = build_device(shop, board_cost=20, n=1)
    d = json.loads(shop.ok("label", "print", serials[0], "--json", user="fatima").out)
    assert d["origin_claim"]
    pdf = _pdf(shop, d)
    if extractor == "pypdf":
        text = pypdf.PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
    else:
        import pypdfium2

        doc = pypdfium2.PdfDocument(pdf)
        try:
            text = doc[0].get_textpage().get_text_range()
        finally:
            doc.close()
    assert ARABIC in text, text  # as written, not presentation forms, not reversed
