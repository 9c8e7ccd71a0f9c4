"""What one printed label says: plain data, filled in by the label service."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

ORIGIN_TEXTS_MA = {"en": "Made in Morocco", "fr": "Fabriqué au Maroc", "ar": "صنع في المغرب"}


@dataclass(frozen=True)
class LabelContent:
    product_name: str
    ref: str
    manufacturer_name: str
    manufacturer_address: str
    mfg_date: date
    lot: str
    udi_hri: str  # "(01)…(11)…": printed next to the symbol
    udi_data: str  # raw, GS-separated: what the DataMatrix carries (FNC1 added by the renderer)
    expiry: date | None = None
    serial: str | None = None  # None on lot/shipper labels
    quantity: int | None = None  # shipper labels
    origin_claim: bool = False  # computed by the origin rules (DESIGN §8), never typed
    origin_texts: dict[str, str] = field(default_factory=lambda: dict(ORIGIN_TEXTS_MA))
    country_code: str = "MA"
    template_version: int = 1
    is_reprint: bool = False
    # issue 17: content fit for the market, from the part's catalog `labeling:`
    texts: dict[str, tuple[str, str]] = field(default_factory=dict)  # lang -> (name, text)
    consult_ifu: bool = False  # ISO 15223-1 5.4.3
    temp_min_c: float | None = None  # 5.3.7
    temp_max_c: float | None = None
    keep_dry: bool = False  # 5.3.4
    notified_body: str | None = None  # CE mark with the notified body's number (EU)
    authorised_rep: str | None = None  # 5.1.2
    importer: str | None = None  # 5.1.8
