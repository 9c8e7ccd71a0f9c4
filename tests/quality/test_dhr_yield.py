"""Device History Record files and the yield report."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest

from tests.quality.helpers import ENC, new_lot, routing, run_ops, sql

pypdf = pytest.importorskip("pypdf")


def _pdf_text(path) -> str:
    reader = pypdf.PdfReader(str(path))
    return re.sub(r"\s+", "", "".join(p.extract_text() or "" for p in reader.pages))


def test_dhr_pdf_and_json_of_a_released_shipped_lot(built) -> None:
    ws, sc = built
    ws.ok("ncr", "open", sc.dev_lot, "--description", "label smudged", "--units",
          sc.devices[0], user="fatima")
    ws.ok("ncr", "disposition", "NCR-0001", "--action", "use-as-is", "--justification",
          "legible after cleaning", user="youssef")
    ws.ok("ncr", "close", "NCR-0001", user="youssef")
    ws.ok("dhr", "review", sc.dev_lot, user="youssef")
    ws.ok("lot", "release", sc.dev_lot, user="youssef")
    ws.ok("ship", sc.dev_lot, "--to", "CHU Ibn Rochd, Casablanca", "--ref", "BL-2026-0412",
          user="youssef")

    r = ws.ok("dhr", sc.dev_lot, user="youssef")
    pdf = ws.path / "lots" / sc.dev_lot / "dhr.pdf"
    js = ws.path / "lots" / sc.dev_lot / "dhr.json"
    assert r.out.split() == [str(pdf), str(js)]
    assert not [p for p in pdf.parent.iterdir() if p.name.endswith(".tmp")]
    head = sql(ws, "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")[0]
    dhr = json.loads(js.read_text())
    assert dhr["chain_head"] == {"seq": head[0], "hash": head[1]}
    assert dhr["lot"]["qty_released"] == 3 and dhr["lot"]["qty_shipped"] == 3
    assert dhr["lot"]["gtin"] == "06111234500014"
    assert dhr["routing"]["approval"]["meaning"] == "approved"
    assert {s["meaning"] for s in dhr["signatures"]} == {"released"}
    assert [n["id"] for n in dhr["ncrs"]] == ["NCR-0001"]
    assert [s["meaning"] for s in dhr["ncrs"][0]["signatures"]] == ["dispositioned", "closed"]
    assert dhr["shipments"][0]["serials"] == sc.devices
    assert dhr["origin"] is None and dhr["labels"] == []
    # The genealogy down each unit: the shared reel with its supplier data, into the board.
    reel = [m for m in dhr["materials"] if m["id"] == sc.shared_reel]
    assert {m["into"] for m in reel} == {sc.board_of[sc.devices[0]],
                                         sc.board_of[sc.devices[2]]}
    assert reel[0]["supplier_lot"] == "MUR-7731-A" and reel[0]["supplier"] == "Acme Components"
    comps = {(c["id"], c["into"]) for c in dhr["components"]}
    assert (sc.board_of[sc.devices[1]], sc.devices[1]) in comps
    assert (sc.enc_lot, sc.devices[1]) in comps
    assert {f["serial"] for f in dhr["firmware"]} == {sc.board_of[s] for s in sc.devices}
    assert {s["user_name"] for s in dhr["steps"]} == {"Fatima Zahra Alaoui"}

    text = _pdf_text(pdf)
    for needle in (sc.dev_lot, head[1], "YoussefBenali", "MUR-7731-A", "NCR-0001",
                   "CHUIbnRochd"):
        assert needle in text, needle

    # --json prints the dict; --out writes elsewhere.
    out_dir = ws.path / "export"
    r = ws.ok("dhr", sc.dev_lot, "--out", out_dir, "--json", user="youssef")
    printed = json.loads(r.out)
    assert printed["lot"]["id"] == sc.dev_lot and (out_dir / "dhr.pdf").exists()
    assert json.loads((out_dir / "dhr.json").read_text())["lot"]["id"] == sc.dev_lot
    assert ws.mes("dhr", "L9999-9999", user="youssef").code == 3


def test_yield_report_first_pass_scrap_cycle_times(built) -> None:
    ws, _sc = built
    enc, _ = new_lot(ws, ENC, 4)
    op10 = routing(ws, ENC)["operations"][0]
    # First attempt fails (out of limits: lot on hold), quality reworks it, second passes.
    r = ws.ok("step", "complete", enc, "--op", 10, "--station", "DRY-1", "--result", "pass",
              "--data", "temp_c=150", "--data", "time_h=3", "--data", "dew_point_c=-45",
              user="fatima")
    assert r.out.startswith("FAIL")
    ws.ok("ncr", "open", enc, "--description", "dryer overheated", user="fatima")
    ws.ok("ncr", "disposition", "NCR-0001", "--action", "scrap", "--qty", 1,
          "--justification", "yellowed granulate", user="youssef")
    ws.ok("ncr", "close", "NCR-0001", user="youssef")
    run_ops(ws, ENC, enc, [], to_op=20)
    assert op10["op"] == 10

    rows = json.loads(ws.ok("report", "yield", "--part", ENC, "--json", user="youssef").out)
    by_op = {r["op"]: r for r in rows}
    assert by_op[10]["first_attempts"] == 2 and by_op[10]["first_pass"] == 1
    assert by_op[10]["fpy_pct"] == 50.0 and by_op[10]["attempts"] == 3
    assert by_op[10]["failed"] == 1 and by_op[20]["fpy_pct"] == 100.0
    assert by_op[10]["part_scrapped"] == 1 and by_op[10]["part_lots_in_process"] == 1
    assert by_op[10]["mean_cycle_s"] is not None and by_op[10]["median_cycle_s"] is not None
    assert {r["part"] for r in rows} == {ENC}

    table = list(csv.DictReader(io.StringIO(ws.ok("report", "yield", "--csv",
                                                  user="youssef").out)))
    assert {"PCBA-OXI-100", "ENC-OXI-100", "DEV-OXI-100"} <= {r["part"] for r in table}
    assert all(r["fpy_pct"] == "100.0" for r in table if r["part"] == "PCBA-OXI-100")
    assert json.loads(ws.ok("report", "yield", "--since", "2999-01-01", "--json",
                            user="youssef").out) == []
    assert ws.mes("report", "yield", "--since", "yesterday", user="youssef").code == 5
