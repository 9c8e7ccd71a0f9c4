"""Register the embedded IBM Plex Sans Arabic fonts (Latin + Arabic) with reportlab.

Import this module only where a PDF is drawn: it imports reportlab (heavy).
"""

from __future__ import annotations

REGULAR = "IBMPlexSansArabic"
BOLD = "IBMPlexSansArabic-Bold"


def register_fonts() -> tuple[str, str]:
    """Register the regular and bold faces once; return their reportlab names."""
    from reportlab.lib.fonts import addMapping
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    if REGULAR not in pdfmetrics.getRegisteredFontNames():
        from fontpkg_ibm_plex_sans_arabic import ROOT

        pdfmetrics.registerFont(
            TTFont(REGULAR, str(ROOT / "files" / "IBMPlexSansArabic-Regular.ttf"))
        )
        pdfmetrics.registerFont(TTFont(BOLD, str(ROOT / "files" / "IBMPlexSansArabic-Bold.ttf")))
        # <b> in a Paragraph maps to the bold face; there is no italic face, reuse the uprights.
        addMapping(REGULAR, 0, 0, REGULAR)
        addMapping(REGULAR, 1, 0, BOLD)
        addMapping(REGULAR, 0, 1, REGULAR)
        addMapping(REGULAR, 1, 1, BOLD)
    return REGULAR, BOLD
