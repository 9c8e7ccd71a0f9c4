"""Charts (PNG, SVG, PDF; reproducible), `mes spc report`, the DHR's signals and charts,
and `mes report efficiency`."""

from __future__ import annotations

import csv
import io
import json

import pytest

from tests.conftest import Workspace
from tests.process.helpers import PCBA, lot_at
from tests.spc.helpers import alternating, approved_limits


@pytest.fixture
def charted(plant: Workspace) -> tuple[Workspace, str]:
    """REFLOW-PEAK with approved limits, a lot of 4 boards, the 3rd out of control."""
    ws = plant
    approved_limits(ws, "REFLOW-PEAK", alternating(242, 0.5, 20))
    lot, serials = lot_at(ws, PCBA, 40, 4)
    for s, peak in zip(serials[:3], (242, 242.4, 246), strict=True):
        ws.ok("step", "complete", s, "--op", 40, "--station", "REFLOW-1", "--result", "pass",
              "--data", f"peak_temp_c={peak}", "--data", "tal_s=60", "--data",
              "conveyor_speed_cm_min=80", user="fatima")
    return ws, lot


def test_chart_files_are_drawn_and_reproducible(charted: tuple[Workspace, str]) -> None:
    ws, lot = charted
    for fmt, magic in (("svg", b"<?xml"), ("pdf", b"%PDF"), ("png", b"\x89PNG")):
        out = ws.path / f"peak.{fmt}"
        d = json.loads(ws.ok("spc", "chart", "REFLOW-PEAK", f"--{fmt}", "--lot", lot, "--out",
                             out, "--json").out)
        first = out.read_bytes()
        assert first.startswith(magic) and d["points"] == 3 and d["signals"] >= 1
        ws.ok("spc", "chart", "REFLOW-PEAK", f"--{fmt}", "--lot", lot, "--out", out)
        assert out.read_bytes() == first  # same data, same bytes
    svg = (ws.path / "peak.svg").read_text()
    assert "<dc:date>" not in svg and "2026" not in svg
    pdf = (ws.path / "peak.pdf").read_bytes()
    assert b"CreationDate" not in pdf and b"ModDate" not in pdf


def test_chart_refusals(charted: tuple[Workspace, str]) -> None:
    ws, _lot = charted
    r = ws.mes("spc", "chart", "REFLOW-PEAK")
    assert r.code == 5 and "--png" in r.err
    r = ws.mes("spc", "chart", "NOPE", "--svg")
    assert r.code == 3 and "REFLOW-PEAK" in r.err
    r = ws.mes("spc", "chart", "REFLOW-PEAK", "--svg", "--station", "AOI-1")
    assert r.code == 4 and "nothing to draw" in r.err


def test_report_lists_signals_and_capability(charted: tuple[Workspace, str]) -> None:
    ws, lot = charted
    rep = json.loads(ws.ok("spc", "report", "--json").out)
    peak = next(c for c in rep["characteristics"] if c["id"] == "REFLOW-PEAK")
    assert peak["observations"] == 3 and peak["out_of_spec"] == 0
    assert {s["rule"] for s in peak["signals"]} == {"WE1", "WE1 (spread)"}
    assert all(s["lot"] == lot and s["ncr"] for s in peak["signals"])
    cap = peak["capability"]["all"]
    assert cap["n"] == 3 and cap["cpk"]["lower"] < cap["cpk"]["value"] < cap["cpk"]["upper"]
    rows = list(csv.DictReader(io.StringIO(ws.ok("spc", "report", "REFLOW-PEAK", "--by", "lot",
                                                 "--csv").out)))
    assert [(r["group"], r["signals"]) for r in rows] == [(lot, "2")]
    assert ws.mes("spc", "report", "--by", "shift").code == 5
    human = ws.ok("spc", "report").out
    assert "REFLOW-PEAK" in human and "WE1" in human and "out-of-control" in human
    listed = json.loads(ws.ok("spc", "list", "--json").out)
    assert {c["id"]: c["limits_version"] for c in listed} == {
        "AOI-DEFECTS": None, "ICT-3V3": None, "MOLD-CUSHION": None, "REFLOW-PEAK": 1}
    assert "REFLOW-PEAK" in ws.ok("spc", "limits", "show", "REFLOW-PEAK").out


def test_dhr_lists_the_signals_and_the_charts_are_vector(charted: tuple[Workspace, str]
                                                         ) -> None:
    ws, lot = charted
    ws.ok("dhr", lot, "--json")
    dhr = json.loads((ws.path / "lots" / lot / "dhr.json").read_text())
    assert [s["rule"] for s in dhr["spc_signals"]] == ["WE1", "WE1 (spread)"]
    assert [e["what"].split(":")[0] for e in dhr["exceptions"] if e["kind"] == "out of control"
            ] == ["REFLOW-PEAK WE1", "REFLOW-PEAK WE1 (spread)"]
    from mes.services.context import Context
    from mes.services.spc import lot_charts

    ctx = Context(workspace=ws.path, db=str(ws.db))
    try:
        charts = lot_charts(ctx, lot)
    finally:
        ctx.close()
    assert [c["characteristic"] for c in charts] == ["REFLOW-PEAK"]
    assert charts[0]["data"].startswith(b"%PDF") and charts[0]["format"] == "pdf"
    assert charts[0]["points"] == 3 and charts[0]["signals"] == 2
    assert charts[0]["limits"]["version"] == 1


def test_dhr_pdf_embeds_the_chart_as_vector_paths(charted: tuple[Workspace, str]) -> None:
    import re

    from pypdf import PdfReader

    ws, lot = charted
    ws.ok("dhr", lot)
    pdf = PdfReader(ws.path / "lots" / lot / "dhr.pdf")
    texts = [p.extract_text() for p in pdf.pages]
    at = next(i for i, t in enumerate(texts) if "SPC control charts of this lot" in t)
    page = pdf.pages[at]
    # the caption states what the picture is judged against; the signals stay exceptions
    assert "REFLOW-PEAK" in texts[at] and "UCL" in texts[at] and "2 out-of-control" in texts[at]
    assert "REFLOW-PEAK WE1" in "".join(texts)
    # no bitmap anywhere in the record: the chart is drawn, not pasted
    for p in pdf.pages:
        xobjects = (p.get("/Resources") or {}).get("/XObject") or {}
        assert not [n for n, x in xobjects.items() if x.get_object().get("/Subtype") == "/Image"]
    content = page.get_contents().get_data()
    plain = PdfReader(ws.path / "lots" / lot / "dhr.pdf").pages[0].get_contents().get_data()
    def path_ops(stream: bytes) -> int:  # moveto, lineto, curveto, rectangle
        return len(re.findall(rb"\d (?:m|l|c|re)\s", stream))

    assert path_ops(content) > 1000 > path_ops(plain)  # lines, curves, glyphs as paths


def test_dhr_pdf_with_charts_is_reproducible(charted: tuple[Workspace, str]) -> None:
    from mes.render.dhr_pdf import render_dhr_pdf
    from mes.services.context import Context
    from mes.services.dhr import build_dhr
    from mes.services.spc import lot_charts

    ws, lot = charted
    ctx = Context(workspace=ws.path, db=str(ws.db))
    try:
        d = build_dhr(ctx, lot)
        first = render_dhr_pdf({**d, "_charts": lot_charts(ctx, lot, "svg")})
        again = render_dhr_pdf({**d, "_charts": lot_charts(ctx, lot, "svg")})
    finally:
        ctx.close()
    assert first == again and len(first) > len(render_dhr_pdf(d))


def test_efficiency_report(charted: tuple[Workspace, str]) -> None:
    ws, _lot = charted
    charts = ws.path / "eff"
    d = json.loads(ws.ok("report", "efficiency", "--json", "--charts", charts, "--format",
                         "svg").out)
    reflow = next(r for r in d["fpy"] if r["op"] == 40)
    assert reflow["first_attempts"] == 3 and reflow["fpy_pct"] == 100.0
    causes = {c["cause"]: c["count"] for c in d["pareto"]}
    assert causes["SPC: REFLOW-PEAK WE1"] == 2  # x and moving range
    assert any(c.startswith("NCR: SPC signal REFLOW-PEAK") for c in causes)
    station = next(s for s in d["stations"] if s["station"] == "REFLOW-1")
    assert station["quality_pct"] == 100.0 and station["oee_pct"] is None
    assert sorted(p.name for p in charts.iterdir()) == ["fpy.svg", "pareto.svg"]
    assert ws.mes("report", "efficiency", "--period", "hour").code == 5
    table = ws.ok("report", "efficiency").out
    assert "Pareto" in table and "REFLOW-1" in table


def _routing_with_ideal(ws: Workspace, text: str) -> None:
    """PCBA-OXI-100 again with `text` after reflow's conversion cost, loaded and approved."""
    from pathlib import Path

    src = Path(__file__).resolve().parents[2] / "routings" / "pcba-oxi-100.yaml"
    yaml_text = src.read_text(encoding="utf-8")
    anchor = "      conversion_cost: 2.50\n"
    assert yaml_text.count(anchor) == 1
    path = ws.path / "pcba-ideal.yaml"
    path.write_text(yaml_text.replace(anchor, anchor + text), encoding="utf-8")
    out = ws.ok("routing", "load", path, user="tarik").out
    assert "v2: draft" in out, out
    ws.ok("routing", "approve", PCBA, "--version", 2, user="youssef")


def test_efficiency_performance_from_ideal_cycle(plant: Workspace) -> None:
    from tests.conftest import sql

    ws = plant
    _routing_with_ideal(ws, "      ideal_cycle_s: 20\n")
    lot, serials = lot_at(ws, PCBA, 40, 2)
    for s in serials:
        ws.ok("step", "start", s, "--op", 40, "--station", "REFLOW-1", user="fatima")
        ws.ok("step", "complete", s, "--op", 40, "--station", "REFLOW-1", "--result", "pass",
              "--data", "peak_temp_c=242", "--data", "tal_s=60", "--data",
              "conveyor_speed_cm_min=80", user="fatima")
    d = json.loads(ws.ok("report", "efficiency", "--json").out)
    reflow = next(s for s in d["stations"] if s["station"] == "REFLOW-1")
    # the expected figure from the recorded start and completion times
    from datetime import datetime

    run = sum((datetime.fromisoformat(b) - datetime.fromisoformat(a)).total_seconds()
              for a, b in sql(ws, "SELECT started_at, completed_at FROM steps WHERE op = 40 "
                                  "AND lot_id = ?", (lot,)))
    assert run > 0
    assert reflow["performance_pct"] == round(100.0 * 20 * 2 / run, 2)
    assert reflow["performance_basis"].endswith("over 2 of 2 steps")
    assert reflow["performance_x_quality_pct"] == round(reflow["performance_pct"], 2)
    assert reflow["availability_pct"] is None and "not recorded" in reflow["availability"]
    assert reflow["oee_pct"] is None
    # a station whose operations declare no ideal cycle says so
    printer = next(s for s in d["stations"] if s["station"] == "PRN-1")
    assert printer["performance_pct"] is None
    assert "no ideal_cycle_s" in printer["performance_basis"]
    human = ws.ok("report", "efficiency")
    assert "availability: not recorded" in human.err + human.out
    assert "performance at PRN-1: no ideal_cycle_s" in human.err + human.out


def test_ideal_cycle_must_be_a_positive_number(plant: Workspace) -> None:
    from pathlib import Path

    ws = plant
    src = Path(__file__).resolve().parents[2] / "routings" / "pcba-oxi-100.yaml"
    anchor = "      conversion_cost: 2.50\n"
    for bad, says in (("0", "must be greater than 0"), ('"fast"', "ideal_cycle_s")):
        path = ws.path / "bad.yaml"
        path.write_text(src.read_text(encoding="utf-8").replace(
            anchor, f"{anchor}      ideal_cycle_s: {bad}\n"), encoding="utf-8")
        r = ws.mes("routing", "validate", path)
        assert r.code == 5 and "ideal_cycle_s" in r.err and says in r.err, r
        assert ws.mes("routing", "load", path, user="tarik").code == 5
