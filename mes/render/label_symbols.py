"""ISO 15223-1:2021 symbols added for the market content of a label (issue 17), as vector
paths: consult instructions for use (5.4.3), temperature limits (5.3.7), keep dry (5.3.4),
importer (5.1.8), and the CE mark (MDR Annex V proportions: two arcs of one circle size).

Each function draws into a box whose top-left is (x, y) mm, height h mm, on a page object
that converts millimetres (y down) to points (`px`, `py`) and draws text (`text`).
"""

from __future__ import annotations

import math
from typing import Any

from mes.render.label_templates import PT_PER_MM, STORAGE_WIDTH, celsius

WIDTH = STORAGE_WIDTH


def symbol_width(kind: str, h: float) -> float:
    return WIDTH[kind] * h


def _stroke(page: Any, h: float) -> None:
    page.c.setLineWidth(max(0.15, h * 0.06) * PT_PER_MM)
    page.c.setLineJoin(1)
    page.c.setLineCap(1)


def _line(page: Any, x1: float, y1: float, x2: float, y2: float) -> None:
    page.c.line(page.px(x1), page.py(y1), page.px(x2), page.py(y2))


def ifu(page: Any, x: float, y: float, h: float) -> None:
    """5.4.3: an open book with an 'i'."""
    _stroke(page, h)
    w = h
    top, bottom, mid = y + h * 0.18, y + h * 0.88, x + w / 2
    p = page.c.beginPath()
    p.moveTo(page.px(x + w * 0.04), page.py(top + h * 0.06))
    p.lineTo(page.px(mid), page.py(top + h * 0.12))
    p.lineTo(page.px(x + w * 0.96), page.py(top + h * 0.06))
    p.lineTo(page.px(x + w * 0.96), page.py(bottom - h * 0.06))
    p.lineTo(page.px(mid), page.py(bottom))
    p.lineTo(page.px(x + w * 0.04), page.py(bottom - h * 0.06))
    p.close()
    page.c.drawPath(p, stroke=1, fill=0)
    _line(page, mid, top + h * 0.12, mid, bottom)
    size = h * PT_PER_MM * 0.5
    page.text("i", x + w * 0.73, bottom - h * 0.16, size, True, "center")


def temperature(page: Any, x: float, y: float, h: float, lo: float | None,
                hi: float | None) -> None:
    """5.3.7: a thermometer standing on the lower limit line (value left, below it) and
    reaching the upper limit line (value right, above it)."""
    _stroke(page, h)
    w = WIDTH["temperature"] * h
    cx = x + w / 2
    size = max(4.5, h * PT_PER_MM * 0.3)  # never below the templates' 4.5 pt
    upper, lower = y + h * 0.3, y + h * 0.92
    bulb = h * 0.11
    page.c.roundRect(page.px(cx - h * 0.07), page.py(lower - bulb), h * 0.14 * PT_PER_MM,
                     (lower - bulb - y - h * 0.12) * PT_PER_MM, h * 0.07 * PT_PER_MM,
                     stroke=1, fill=0)
    page.c.circle(page.px(cx), page.py(lower - bulb), bulb * PT_PER_MM, stroke=1, fill=1)
    if hi is not None:
        _line(page, cx + h * 0.07, upper, x + w, upper)
        page.text(celsius(hi), x + w, upper - h * 0.06, size, False, "right")
    if lo is not None:
        _line(page, x, lower, cx - h * 0.07, lower)
        page.text(celsius(lo), x, lower - h * 0.08, size, False, "left")


def keep_dry(page: Any, x: float, y: float, h: float) -> None:
    """5.3.4: an umbrella with rain drops."""
    _stroke(page, h)
    cx, cy, r = x + h * 0.5, y + h * 0.55, h * 0.42
    p = page.c.beginPath()
    steps = 16
    for i in range(steps + 1):
        a = math.pi * i / steps
        px, py = cx - r * math.cos(a), cy - r * math.sin(a) * 0.8
        (p.moveTo if i == 0 else p.lineTo)(page.px(px), page.py(py))
    p.close()
    page.c.drawPath(p, stroke=1, fill=0)
    _line(page, cx, cy, cx, y + h * 0.9)
    hook = page.c.beginPath()
    hook.arc(page.px(cx - h * 0.16), page.py(y + h * 0.9) - h * 0.0 * PT_PER_MM,
             page.px(cx), page.py(y + h * 0.9) + h * 0.16 * PT_PER_MM, 180, 180)
    page.c.drawPath(hook, stroke=1, fill=0)
    for dx in (-0.3, 0.0, 0.3):
        _line(page, cx + dx * h, y + h * 0.0, cx + dx * h - h * 0.05, y + h * 0.08)


def importer(page: Any, x: float, y: float, w: float, h: float) -> None:
    """5.1.8: a building entered by an arrow."""
    _stroke(page, h)
    page.poly([(0.3, 0), (0.3, 0.62), (0.65, 0.95), (1.0, 0.62), (1.0, 0)], x, y, w, h, False)
    _line(page, x, y + h * 0.62, x + w * 0.6, y + h * 0.62)
    page.poly([(0.5, 0.5), (0.66, 0.38), (0.5, 0.26)], x, y, w, h, True)


def ce_mark(page: Any, x: float, y: float, h: float) -> None:
    """The CE mark: C and E drawn on circles of the same size (filled strokes)."""
    c = page.c
    lw = h * 0.19
    c.setLineWidth(lw * PT_PER_MM)
    c.setLineCap(0)
    r = (h - lw) / 2
    cy = y + h / 2
    for cx in (x + h / 2, x + h / 2 + h * 0.95):
        p = c.beginPath()
        p.arc(page.px(cx - r), page.py(cy + r), page.px(cx + r), page.py(cy - r), 90, 180)
        c.drawPath(p, stroke=1, fill=0)
    ex = x + h / 2 + h * 0.95
    _line(page, ex - r * 0.95, cy, ex + r * 0.1, cy)
    c.setLineCap(1)
