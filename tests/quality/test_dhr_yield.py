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
    # Released, then shipped: version 1 was frozen at release, the shipment makes version 2.
    lots = ws.path / "lots" / sc.dev_lot
    pdf, js, annex = lots / "dhr-v2.pdf", lots / "dhr-v2.json", lots / "dhr-v2-units.csv"
    assert r.out.split() == [str(pdf), str(js), str(annex)]
    assert (lots / "dhr.pdf").exists() and (lots / "dhr.json").exists()  # v1 kept
    assert not [p for p in lots.iterdir() if p.name.endswith(".tmp")]
    dhr = json.loads(js.read_text())
    assert dhr["chain_head"]["hash"] in {h for (h,) in sql(ws, "SELECT hash FROM audit")}
    assert dhr["record"]["version"] == 2
    assert dhr["record"]["changes"]["sections"] == ["shipments", "state"]
    assert [e["action"] for e in dhr["record"]["changes"]["events"]] == ["ship"]
    assert dhr["state"]["qty_released"] == 3 and dhr["state"]["qty_shipped"] == 3
    assert dhr["lot"]["gtin"] == "06111234500014"
    assert dhr["routing"]["approval"]["meaning"] == "approved"
    assert {s["meaning"] for s in dhr["signatures"]} == {"reviewed", "released"}
    assert [n["id"] for n in dhr["ncrs"]] == ["NCR-0001"]
    assert [s["meaning"] for s in dhr["ncrs"][0]["signatures"]] == ["dispositioned", "closed"]
    kinds = {e["kind"] for e in dhr["exceptions"]}
    assert {"NCR", "concession", "hold"} <= kinds
    assert dhr["shipments"][0]["serials"] == sc.devices
    # labelled (the labeling op needs it), without an origin claim: no decision was made
    assert dhr["origin"] is None and [x["item"] for x in dhr["labels"]] == sc.devices
    # The genealogy down each unit: the shared reel with its supplier data, into the board.
    reel = [m for m in dhr["consumptions"] if m["id"] == sc.shared_reel]
    assert {m["into"] for m in reel} == {sc.board_of[sc.devices[0]],
                                         sc.board_of[sc.devices[2]]}
    assert reel[0]["supplier_lot"] == "MUR-7731-A" and reel[0]["supplier"] == "Acme Components"
    # ... and consolidated: one row per material lot, with the number of items it went into.
    row = next(m for m in dhr["materials"] if m["id"] == sc.shared_reel)
    assert row["units"] == 2 and row["qty"] == sum(m["qty"] for m in reel)
    assert row["mpn"] == "not captured" and row["cert"] == "not captured"
    comps = {(c["id"], c["into"]) for c in dhr["consumptions"]}
    assert (sc.board_of[sc.devices[1]], sc.devices[1]) in comps
    assert (sc.enc_lot, sc.devices[1]) in comps
    assert {f["serial"] for f in dhr["flashes"]} == {sc.board_of[s] for s in sc.devices}
    assert [(f["image"], f["units"]) for f in dhr["firmware"]] == [("FW-OXI@1.4.2", 3)]
    assert {s["user_name"] for s in dhr["steps"]} == {"Fatima Zahra Alaoui"}
    # The MCU UID of each device is its board's.
    uids = {u["serial"]: (u["mcu_uid"], u["mcu_uid_via"]) for u in dhr["units"]}
    board_uid = dict(sql(ws, "SELECT serial, mcu_uid FROM units WHERE mcu_uid IS NOT NULL"))
    for sn in sc.devices:
        assert uids[sn] == (board_uid[sc.board_of[sn]], sc.board_of[sn])
    # Every captured value of the routing with its limits and observed min/mean/max.
    ft = next(o for o in dhr["operations"] if o["op"] == 20)
    spo2 = next(v for v in ft["values"] if v["name"] == "spo2_error_pct")
    assert (spo2["min"], spo2["max"], spo2["unit"], spo2["n"]) == (0, 2, "%", 3)
    assert spo2["observed_min"] <= spo2["observed_mean"] <= spo2["observed_max"]
    assert ft["n"] == 3 and ft["passed"] == 3 and ft["failed"] == 0
    assert {e["station"] for e in dhr["equipment"]} >= {"ASM-1", "FT-1"}
    assert all(e["calibration_due_at_last_use"] for e in dhr["equipment"])
    # The CSV annex: one row per unit.
    table = list(csv.DictReader(io.StringIO(annex.read_text())))
    assert [t["serial"] for t in table] == sc.devices and "op20.spo2_error_pct" in table[0]

    text = _pdf_text(pdf)
    for needle in (sc.dev_lot, dhr["chain_head"]["hash"], "YoussefBenali", "MUR-7731-A", "NCR-0001",
                   "CHUIbnRochd", "Exceptions", "0…2", "notcaptured", "mes0.1.0"):
        assert needle in text, needle
    meta = pypdf.PdfReader(str(pdf)).metadata
    assert meta.title == f"Device History Record {sc.dev_lot}"
    assert meta.author == "OxiMaroc SA"
    assert meta.creation_date.year == 2026  # the injected clock, not 2000-01-01

    # Unchanged records: nothing new is written; --json prints the dict; --out elsewhere.
    r = ws.ok("dhr", sc.dev_lot, user="youssef")
    assert r.out.split()[0] == str(pdf) and not (lots / "dhr-v3.pdf").exists()
    out_dir = ws.path / "export"
    r = ws.ok("dhr", sc.dev_lot, "--out", out_dir, "--json", "--units", user="youssef")
    printed = json.loads(r.out)
    assert printed["lot"]["id"] == sc.dev_lot
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
