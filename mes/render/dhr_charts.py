"""The SPC control charts of a lot in its DHR PDF (issue 16), as vector drawings.

Each chart comes as the SVG that `mes spc chart --svg` draws (matplotlib, text as paths,
no dates): svglib turns it into a reportlab Drawing, so the PDF holds the chart's lines
and glyphs as path operators, not a bitmap, and stays reproducible (same data, same
bytes). svglib is imported here only, when a DHR with charts is rendered.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any


def chart_drawing(svg: bytes, width: float) -> Any:
    """The SVG as a reportlab Drawing scaled to `width` points (aspect kept)."""
    from svglib.svglib import svg2rlg

    drawing = svg2rlg(io.BytesIO(svg))
    if drawing is None:
        raise ValueError("chart SVG could not be read")
    scale = width / drawing.width
    drawing.width, drawing.height = drawing.width * scale, drawing.height * scale
    drawing.scale(scale, scale)
    drawing.hAlign = "LEFT"
    return drawing


def caption(chart: dict[str, Any]) -> str:
    """What the chart is judged against, in words a reviewer can check on the picture."""
    lim = chart.get("limits")
    if not lim:
        judged = "no approved control limits (phase-I data, not judged)"
    else:
        judged = (f"control limits v{lim.get('version')}: CL {lim.get('center'):.4g}"
                  + (f", UCL {lim['ucl']:.4g}" if lim.get("ucl") is not None else "")
                  + (f", LCL {lim['lcl']:.4g}" if lim.get("lcl") is not None else ""))
    n, pts = chart.get("signals", 0), chart.get("points", 0)
    signals = ("no out-of-control signal" if not n else
               f"{n} out-of-control signal{'' if n == 1 else 's'}, listed in the exceptions")
    return f"{pts} subgroup{'' if pts == 1 else 's'} of this lot; {judged}; {signals}."


def flowables(k: Any, charts: Sequence[dict[str, Any]], heading: str) -> list[Any]:
    """Heading, then per chart: its title, the vector drawing, its caption, kept together."""
    from reportlab.platypus import KeepTogether

    if not charts:
        return []
    out: list[Any] = []
    for i, c in enumerate(charts):  # the heading stays with the first chart
        out.append(KeepTogether([*([k.h2(heading)] if i == 0 else []),
                                 k.para(_esc(c["title"]), k.kv_key),
                                 chart_drawing(c["data"], k.frame_w),
                                 k.para(_esc(caption(c)), k.note)]))
    return out


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
