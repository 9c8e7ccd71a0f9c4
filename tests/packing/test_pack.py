"""mes pack / unpack / container show / ship by SSCC, through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

from mes.domain.gs1 import gtin_check_digit
from tests.conftest import assert_unchanged, sql
from tests.packing.conftest import PREFIX, small_boxes

GTIN = "06111234500014"


def _pack(ws, *args):
    return json.loads(ws.ok("pack", *args, "--json", user="fatima").out)


def test_sscc_is_extension_prefix_serial_check_and_label_decodes(packable) -> None:
    from mes.render.label_verify import verify_pdf

    ws, sc = packable
    d = _pack(ws, *sc.devices, "--close")
    sscc = d["sscc"]
    assert d["level"] == "box" and d["status"] == "closed" and d["count"] == 3
    assert len(sscc) == 18 and sscc[0] == "0" and sscc[1:8] == PREFIX
    assert sscc[-1] == gtin_check_digit(sscc[:17])
    # homogeneous, one lot: (02)+(37), lot and use-by
    el = d["element_string"]
    assert el.startswith(f"(00){sscc}(02){GTIN}(17)") and el.endswith(f"(10){sc.dev_lot}(37)3")
    pages = verify_pdf(Path(ws.path / d["label"]))
    assert len(pages) == 1 and pages[0].symbology_identifier == "]d2"
    assert pages[0].udi_hri == el
    row = sql(ws, "SELECT element_string, template FROM labels WHERE item_id = ?", (sscc,))
    assert row == [(el, "logistic-100x150")]
    # a second container never gets the same SSCC
    ws.ok("unpack", sscc, "--reason", "wrong box size", user="youssef")
    d2 = _pack(ws, sc.devices[0])
    assert d2["sscc"] != sscc and d2["status"] == "open"
    assert int(d2["sscc"][8:17]) == int(sscc[8:17]) + 1


def test_refusals_change_nothing(packable) -> None:
    ws, sc = packable
    ws.ok("config", "set", "gs1.company_prefix", PREFIX, user="amina")
    before = ws.dump()
    r = ws.mes("pack", sc.devices[0], user="omar")
    assert r.code == 6, r
    before = ws.dump()
    # a PCBA unit is consumed, not released
    board = sc.board_of[sc.devices[0]]
    r = ws.mes("pack", board, user="fatima")
    assert r.code == 4 and "consumed" in r.err, r
    assert_unchanged(ws, before)
    ws.ok("lot", "hold", sc.dev_lot, "--reason", "deviation DEV-9", user="youssef")
    before = ws.dump()
    r = ws.mes("pack", sc.devices[0], user="fatima")
    assert r.code == 4 and "on hold" in r.err, r
    assert_unchanged(ws, before)


def test_unreleased_or_unlabelled_unit_refused(built) -> None:
    ws, sc = built
    ws.ok("config", "set", "gs1.company_prefix", PREFIX, user="amina")
    before = ws.dump()
    r = ws.mes("pack", sc.devices[0], user="fatima")
    assert r.code == 4 and "only released units" in r.err, r
    assert_unchanged(ws, before)
    ws.ok("dhr", "review", sc.dev_lot, user="youssef")
    ws.ok("lot", "release", sc.dev_lot, user="youssef")
    # the labelling op now requires a verified label, so a released unit without one is a
    # state no command reaches: its label voided directly stands for it
    sql(ws, "UPDATE labels SET voided_at = '2026-11-02', void_reason = 'test' "
            "WHERE item_id = ?", (sc.devices[0],))
    before = ws.dump()
    r = ws.mes("pack", sc.devices[0], user="fatima")
    assert r.code == 4 and "has no label" in r.err, r
    assert_unchanged(ws, before)


def test_no_prefix_refused(built) -> None:
    ws, sc = built  # labelled by run_ops before their labelling op
    ws.ok("dhr", "review", sc.dev_lot, user="youssef")
    ws.ok("lot", "release", sc.dev_lot, user="youssef")
    before = ws.dump()
    r = ws.mes("pack", sc.devices[0], user="fatima")
    assert r.code == 4 and "gs1.company_prefix" in r.err, r
    assert_unchanged(ws, before)
    bad = ws.mes("config", "set", "gs1.company_prefix", "12AB", user="amina")
    assert bad.code == 5, bad


def test_one_container_at_a_time_capacity_and_hierarchy(packable, tmp_path) -> None:
    ws, sc = packable
    small_boxes(ws, tmp_path, box=2, case=2)
    a, b, c = sc.devices
    box1 = _pack(ws, a, b)  # full: closed and labelled
    assert box1["status"] == "closed" and box1["label"]
    before = ws.dump()
    r = ws.mes("pack", a, user="fatima")
    assert r.code == 4 and f"already in container {box1['sscc']}" in r.err, r
    r = ws.mes("pack", c, "--into", box1["sscc"], user="fatima")
    assert r.code == 4 and "closed" in r.err, r
    assert_unchanged(ws, before)
    box2 = _pack(ws, c)
    r = ws.mes("pack", a, "--into", box2["sscc"], user="fatima")
    assert r.code == 4 and "already in container" in r.err
    closed = _pack(ws, "--into", box2["sscc"], "--close")
    assert closed["status"] == "closed" and closed["element_string"].endswith("(37)1")
    case = _pack(ws, box1["sscc"], box2["sscc"])
    assert case["level"] == "case" and case["status"] == "closed" and case["count"] == 2
    assert case["element_string"].endswith(f"(10){sc.dev_lot}(37)3")  # 3 devices inside
    shown = json.loads(ws.ok("container", "show", case["sscc"], "--json", user="fatima").out)
    assert shown["unit_count"] == 3 and shown["lots"] == [sc.dev_lot]
    assert [x["id"] for x in shown["contents"]] == [box1["sscc"], box2["sscc"]]
    # a box inside a case is unpacked only after the case
    r = ws.mes("unpack", box1["sscc"], "--reason", "x", user="youssef")
    assert r.code == 4 and "inside" in r.err
    # trace: a unit's packages, an SSCC's contents
    back = json.loads(ws.ok("trace", "back", a, "--json", user="youssef").out)
    assert [x["sscc"] for x in back["containers"]] == [box1["sscc"], case["sscc"]]
    tree = json.loads(ws.ok("trace", "back", case["sscc"], "--json", user="youssef").out)
    assert sorted(tree["units"]) == sorted(sc.devices)
    assert [ch["id"] for ch in tree["tree"]["children"]] == [box1["sscc"], box2["sscc"]]


def test_unpack_signed_voids_label_and_reopens(packable) -> None:
    ws, sc = packable
    box = _pack(ws, *sc.devices, "--close")
    before = ws.dump()
    r = ws.mes("unpack", box["sscc"], "--reason", "", user="youssef")
    assert r.code == 5, r
    r = ws.mes("unpack", box["sscc"], "--reason", "damaged", user="fatima")
    assert r.code == 6, r  # operators do not unpack; one auth.denied event
    after = ws.dump()
    assert len(after) == len(before) + 1 and "auth.denied" in "".join(after)
    d = json.loads(ws.ok("unpack", box["sscc"], sc.devices[0], "--reason", "dented unit",
                         "--json", user="youssef").out)
    assert d["status"] == "open" and d["count"] == 2 and d["labels_voided"] == 1
    assert sql(ws, "SELECT void_reason FROM labels WHERE item_id = ?", (box["sscc"],)) == [
        ("unpacked: dented unit",)]
    assert sql(ws, "SELECT meaning FROM signatures WHERE record_id = ?", (box["sscc"],)) == [
        ("unpacked",)]
    again = _pack(ws, "--into", box["sscc"], "--close")
    assert again["element_string"].endswith("(37)2")
    assert sql(ws, "SELECT reprint, reason FROM labels WHERE item_id = ? ORDER BY id",
               (box["sscc"],)) == [(0, None), (1, "repacked")]
    # the unit taken out can go into another box
    assert _pack(ws, sc.devices[0])["status"] == "open"
    # what these commands wrote is covered by the audit trail (issue 13)
    packable[0].ok("audit", "verify", "--reconcile")


def test_ship_by_sscc_and_loose_unit_refused(packable) -> None:
    ws, sc = packable
    box = _pack(ws, *sc.devices[:2], "--close")
    before = ws.dump()
    r = ws.mes("ship", sc.dev_lot, "--to", "CHU Ibn Rochd", "--ref", "BL-1", user="tarik")
    assert r.code == 4 and "ship the package by its SSCC" in r.err, r
    open_box = _pack(ws, sc.devices[2])
    before = ws.dump()
    r = ws.mes("ship", open_box["sscc"], "--to", "CHU", "--ref", "BL-1", user="tarik")
    assert r.code == 4 and "only closed containers ship" in r.err, r
    r = ws.mes("ship", box["sscc"], "--to", "CHU", "--ref", "BL-1", "--to-gln",
               "6111234000003", user="tarik")
    assert r.code == 5 and "check digit" in r.err, r
    assert_unchanged(ws, before)
    d = json.loads(ws.ok("ship", f"(00){box['sscc']}", "--to", "CHU Ibn Rochd", "--ref",
                         "BL-2026-0412", "--to-gln", "6111234000019", "--json",
                         user="tarik").out)
    assert d["qty"] == 2 and d["containers"] == [box["sscc"]]
    assert sql(ws, "SELECT status FROM units WHERE serial IN (?, ?)", tuple(sc.devices[:2])) \
        == [("shipped",), ("shipped",)]
    assert sql(ws, "SELECT status FROM containers WHERE sscc = ?", (box["sscc"],)) == [
        ("shipped",)]
    # recall from the lot names the carton; the DHR lists containers per shipment
    scope = json.loads(ws.ok("recall", sc.shared_reel, "--reason", "notice 7", "--json",
                             user="youssef").out)
    assert box["sscc"] in scope["containers"]
    res = ws.ok("dhr", sc.dev_lot, "--json", user="youssef").out
    dhr = json.loads(res)
    assert dhr["shipments"][0]["containers"] == [box["sscc"]]
    assert {c["sscc"] for c in dhr["containers"]} == {box["sscc"], open_box["sscc"]}
    r = ws.mes("unpack", box["sscc"], "--reason", "x", user="youssef")
    assert r.code == 4 and "shipped" in r.err
    # what these commands wrote is covered by the audit trail (issue 13)
    packable[0].ok("audit", "verify", "--reconcile")
