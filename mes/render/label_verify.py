"""Read printed labels back like a scanner: rasterise the PDF (pypdfium2), decode (zxing-cpp)."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mes.domain.gs1 import data_to_hri
from mes.errors import InvalidInput


@dataclass(frozen=True)
class PageCheck:
    page: int  # 1-based
    found: bool
    symbology_identifier: str = ""  # "]d2" for GS1 DataMatrix
    content_type_gs1: bool = False
    data: str = ""  # raw, "\x1d" between fields, as a scanner sends it (without "]d2")
    udi_hri: str = ""  # the same data as "(01)…" ("" when it does not parse)

    @property
    def ok(self) -> bool:
        return self.found and self.symbology_identifier == "]d2" and self.content_type_gs1 \
            and bool(self.udi_hri)


def _open(pdf: bytes | Path) -> Any:
    import pypdfium2 as pdfium

    data = pdf.read_bytes() if isinstance(pdf, Path) else pdf
    try:
        return pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        raise InvalidInput(f"not a readable PDF: {exc}", field="pdf") from None


def verify_pdf(pdf: bytes | Path, dpi: int = 300,
               region_mm: tuple[float, float, float, float] | None = None,
               on_page: Callable[[int, int], None] | None = None) -> list[PageCheck]:
    """Decode each page like a scanner. `region_mm` (x, y, w, h from the top-left, the
    symbol's box with its quiet zone) rasterises only that part: at the printer's own
    resolution that is what the printer will make of the symbol, at a fraction of the cost
    of the whole page. `on_page(done, total)` after each page (a progress bar)."""
    import zxingcpp

    doc = _open(pdf)
    out: list[PageCheck] = []
    try:
        for i in range(len(doc)):
            page = doc[i]
            crop = (0.0, 0.0, 0.0, 0.0)
            if region_mm is not None:
                pt = 72 / 25.4
                x, y, w, h = region_mm
                pw, ph = page.get_size()
                crop = (max(0.0, x * pt), max(0.0, ph - (y + h) * pt),
                        max(0.0, pw - (x + w) * pt), max(0.0, y * pt))
            image = page.render(scale=dpi / 72, grayscale=True, crop=crop).to_pil()
            found = zxingcpp.read_barcodes(
                image, formats=zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.DataMatrix),
                text_mode=zxingcpp.TextMode.Plain,  # keep GS separators, no "(AI)"
            )
            if not found:
                out.append(PageCheck(page=i + 1, found=False))
                if on_page is not None:
                    on_page(i + 1, len(doc))
                continue
            b = found[0]
            try:
                hri = data_to_hri(b.text)
            except InvalidInput:
                hri = ""
            out.append(PageCheck(
                page=i + 1, found=True, symbology_identifier=b.symbology_identifier,
                content_type_gs1=b.content_type == zxingcpp.ContentType.GS1,
                data=b.text, udi_hri=hri,
            ))
            if on_page is not None:
                on_page(i + 1, len(doc))
    finally:
        doc.close()
    return out


def preview_png(pdf_bytes: bytes, page: int = 0, dpi: int = 300) -> bytes:
    """One page as PNG (for `mes label preview`); page is 0-based."""
    doc = _open(pdf_bytes)
    try:
        if not 0 <= page < len(doc):
            raise InvalidInput(f"page {page + 1} does not exist (the PDF has {len(doc)})",
                               field="page")
        image = doc[page].render(scale=dpi / 72).to_pil()
        buf = io.BytesIO()
        image.save(buf, format="PNG")
        return buf.getvalue()
    finally:
        doc.close()
