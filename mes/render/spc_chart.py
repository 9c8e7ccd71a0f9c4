"""Control charts and report charts as PNG, SVG or PDF bytes (matplotlib, Agg).

Reproducible output: no dates or tool versions in the files (fixed metadata, a fixed
SVG hash salt, text as paths), so the same data always gives the same bytes and a
chart's sha256 can be recorded. matplotlib is imported here only, lazily.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

FORMATS = ("png", "svg", "pdf")
# Rule numbers written next to the first signals; beyond that the red markers alone (text
# is what costs in a 10,000-point chart; the full list is `mes spc report`).
MAX_LABELS = 30
_METADATA = {
    "png": {"Software": None},
    "svg": {"Date": None, "Creator": None},
    "pdf": {"CreationDate": None, "ModDate": None, "Creator": "mes", "Producer": "mes"},
}
_RC = {"svg.hashsalt": "mes-spc", "svg.fonttype": "path", "pdf.compression": 6,
       "path.simplify": True, "agg.path.chunksize": 10_000}
SIGNAL = "#c0392b"
OUT_OF_SPEC = "#e67e22"


def _figure(rows: int, height: float) -> Any:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, height), dpi=100)
    # Fixed margins: a layout engine measures every text artist on every draw.
    fig.subplots_adjust(left=0.08, right=0.92, top=0.93, bottom=0.1, hspace=0.15)
    return fig, rows


def _save(fig: Any, fmt: str) -> bytes:
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    if fmt not in FORMATS:
        raise ValueError(f"format {fmt}: use png, svg or pdf")
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    with matplotlib.rc_context(_RC):  # type: ignore[arg-type]
        fig.savefig(buf, format=fmt, metadata=_METADATA[fmt])
    return buf.getvalue()


def render_control_chart(data: dict[str, Any], fmt: str) -> bytes:
    """The chart of `services.spc.chart_data`: statistic with centre line, control limits,
    zone bands (1 and 2 sigma), spec limits; signals in red with their rule; subgroups with
    a value out of spec limits marked apart (out of limit is not out of control)."""
    with _rc():
        return _control_chart(data, fmt)


def _rc() -> Any:
    import matplotlib

    return matplotlib.rc_context(_RC)  # type: ignore[arg-type]


def _control_chart(data: dict[str, Any], fmt: str) -> bytes:
    char = data["characteristic"]
    pts = data["points"]
    limits = data["limits"]
    variables = char["chart"] in ("i-mr", "xbar-r", "xbar-s")
    fig, rows = _figure(2 if variables else 1, 6.5 if variables else 4.2)
    axes = fig.subplots(rows, 1, sharex=True, squeeze=False)[:, 0]
    xs = [p["subgroup"] + 1 for p in pts]
    ys = [p["stat"] for p in pts]
    ax = axes[0]
    ax.plot(xs, ys, color="#34495e", linewidth=0.8, marker="o" if len(xs) <= 300 else None,
            markersize=3)
    title = {"i-mr": "Individuals", "xbar-r": "X̄ (subgroup mean)",
             "xbar-s": "X̄ (subgroup mean)", "p": "p (fraction defective)",
             "u": "u (defects per unit)"}[char["chart"]]
    if limits:
        _limit_lines(ax, xs, pts, limits)
    else:
        ax.text(0.01, 0.97, "no approved control limits: phase-I data, not judged",
                transform=ax.transAxes, va="top", fontsize=8, color=SIGNAL)
    if char["chart"] == "i-mr":
        for value, name in ((char["lsl"], "LSL"), (char["usl"], "USL")):
            if value is not None:
                ax.axhline(value, color=OUT_OF_SPEC, linestyle="--", linewidth=1)
                ax.annotate(f"{name} {value:g}", (1, value), xycoords=("axes fraction", "data"),
                            fontsize=7, color=OUT_OF_SPEC, ha="right", va="bottom")
    _marks(ax, xs, ys, pts)
    ax.set_title(f"{char['id']} — {char['data']} ({title}), op {char['op']} "
                 f"{char['op_name']}; rules {char['rules']} {char['use']}", fontsize=9,
                 loc="left")
    ax.set_ylabel(f"{char['data']}" + (f" [{char['unit']}]" if char.get("unit") else ""),
                  fontsize=8)
    if variables:
        _spread_panel(axes[1], xs, pts, limits, char)
    axes[-1].set_xlabel("subgroup", fontsize=8)
    for a in axes:
        a.tick_params(labelsize=7)
        a.grid(True, linewidth=0.3, alpha=0.5)
    return _save(fig, fmt)


def _limit_lines(ax: Any, xs: Sequence[float], pts: Sequence[dict[str, Any]],
                 limits: dict[str, Any]) -> None:
    center = limits["center"]
    lcl = [p["lcl"] for p in pts]
    ucl = [p["ucl"] for p in pts]
    ax.axhline(center, color="#27ae60", linewidth=1)
    if len(set(ucl)) == 1:  # constant limits (variables, equal n): bands
        sigma = (ucl[0] - center) / 3
        for k, alpha in ((2, 0.06), (1, 0.08)):
            ax.axhspan(center - k * sigma, center + k * sigma, color="#2980b9", alpha=alpha,
                       linewidth=0)
        ax.axhline(ucl[0], color=SIGNAL, linewidth=1)
        ax.axhline(lcl[0], color=SIGNAL, linewidth=1)
        labels = ((ucl[0], "UCL"), (center, "CL"), (lcl[0], "LCL"))
    else:  # limits that vary with the subgroup size (p, u)
        ax.step(xs, ucl, where="mid", color=SIGNAL, linewidth=1)
        ax.step(xs, lcl, where="mid", color=SIGNAL, linewidth=1)
        labels = ((ucl[-1], "UCL"), (center, "CL"), (lcl[-1], "LCL"))
    for value, name in labels:
        ax.annotate(f"{name} {value:.4g}", (0, value), xycoords=("axes fraction", "data"),
                    fontsize=7, color="#2c3e50", ha="left", va="bottom")


def _marks(ax: Any, xs: Sequence[float], ys: Sequence[float],
           pts: Sequence[dict[str, Any]]) -> None:
    sig = [(x, y, p["signals"]) for x, y, p in zip(xs, ys, pts, strict=True) if p["signals"]]
    if sig:
        ax.scatter([s[0] for s in sig], [s[1] for s in sig], s=22, color=SIGNAL, zorder=3,
                   label="out of control (rule)")
        for x, y, labels in sig[:MAX_LABELS]:
            ax.annotate(",".join(labels), (x, y), textcoords="offset points", xytext=(3, 4),
                        fontsize=6, color=SIGNAL)
        if len(sig) > MAX_LABELS:
            ax.text(0.99, 0.02, f"rules labelled on the first {MAX_LABELS} of {len(sig)} "
                    "signals (all: mes spc report)", transform=ax.transAxes, ha="right",
                    fontsize=6, color=SIGNAL)
    spec = [(x, y) for x, y, p in zip(xs, ys, pts, strict=True) if p["out_of_spec"]]
    if spec:
        ax.scatter([s[0] for s in spec], [s[1] for s in spec], s=40, marker="x",
                   color=OUT_OF_SPEC, zorder=4, label="value out of spec limits")
    if sig or spec:
        ax.legend(fontsize=7, loc="lower right")


def _spread_panel(ax: Any, xs: Sequence[float], pts: Sequence[dict[str, Any]],
                  limits: dict[str, Any] | None, char: dict[str, Any]) -> None:
    name = {"i-mr": "moving range", "xbar-r": "range R", "xbar-s": "std dev s"}[char["chart"]]
    sx = [x for x, p in zip(xs, pts, strict=True) if p["spread"] is not None]
    sy = [p["spread"] for p in pts if p["spread"] is not None]
    ax.plot(sx, sy, color="#34495e", linewidth=0.8, marker="o" if len(sx) <= 300 else None,
            markersize=3)
    if limits and limits.get("spread_ucl") is not None:
        ax.axhline(limits["spread_center"], color="#27ae60", linewidth=1)
        ax.axhline(limits["spread_ucl"], color=SIGNAL, linewidth=1)
        if limits.get("spread_lcl"):
            ax.axhline(limits["spread_lcl"], color=SIGNAL, linewidth=1)
        over = [(x, y) for x, y in zip(sx, sy, strict=True) if y > limits["spread_ucl"]]
        if over:
            ax.scatter([o[0] for o in over], [o[1] for o in over], s=22, color=SIGNAL,
                       zorder=3)
    ax.set_ylabel(name, fontsize=8)


# -- efficiency report charts ---------------------------------------------------------------

def render_fpy(series: dict[str, list[tuple[str, float]]], fmt: str) -> bytes:
    """First-pass yield (%) per operation over time: one line per operation."""
    with _rc():
        fig, _ = _figure(1, 4.5)
        ax = fig.subplots()
        periods = sorted({p for s in series.values() for p, _ in s})
        index = {p: i for i, p in enumerate(periods)}
        for name, values in sorted(series.items()):
            ax.plot([index[p] for p, _ in values], [v for _, v in values], marker="o",
                    markersize=3, linewidth=1, label=name)
        ax.set_xticks(range(len(periods)), periods, rotation=45, fontsize=7)
        ax.set_ylim(0, 105)
        ax.set_ylabel("first-pass yield %", fontsize=8)
        ax.set_title("First-pass yield per operation", fontsize=9, loc="left")
        ax.legend(fontsize=6, loc="lower left", ncols=2)
        ax.grid(True, linewidth=0.3, alpha=0.5)
        return _save(fig, fmt)


def render_pareto(causes: Sequence[tuple[str, int]], fmt: str) -> bytes:
    """Pareto of defect and NCR causes: bars by count, cumulative percentage line."""
    with _rc():
        fig, _ = _figure(1, 4.5)
        ax = fig.subplots()
        names = [c[0][:40] for c in causes]
        counts = [c[1] for c in causes]
        total = sum(counts) or 1
        ax.bar(range(len(counts)), counts, color="#2980b9")
        ax.set_xticks(range(len(names)), names, rotation=40, ha="right", fontsize=6)
        ax.set_ylabel("count", fontsize=8)
        cum, acc = [], 0
        for c in counts:
            acc += c
            cum.append(100 * acc / total)
        ax2 = ax.twinx()
        ax2.plot(range(len(cum)), cum, color=SIGNAL, marker="o", markersize=3, linewidth=1)
        ax2.set_ylim(0, 105)
        ax2.set_ylabel("cumulative %", fontsize=8)
        ax.set_title("Pareto of defect and NCR causes", fontsize=9, loc="left")
        return _save(fig, fmt)
