"""Trace back / forward and recall scope over a small plant with one reel shared by two
PCBA lots (A, B) and not used by a third (C)."""

from __future__ import annotations

import csv
import io
import json

from tests.quality.helpers import assert_unchanged, sql


def test_forward_trace_of_shared_reel_reaches_exactly_its_devices(built) -> None:
    ws, sc = built
    lot_a, (pb1, pb2) = sc.pcba["A"]
    lot_b, (pb3, pb4) = sc.pcba["B"]
    lot_c, (pb5, _pb6) = sc.pcba["C"]
    sn1, sn2, sn3 = sc.devices  # boards PB1 (A), PB5 (C), PB3 (B)

    finished = json.loads(ws.ok("trace", "forward", sc.shared_reel, "--finished", "--json",
                                user="youssef").out)
    assert {x["id"] for x in finished["items"] if x["kind"] == "unit"} == {sn1, sn3}
    assert all(x["part_kind"] == "device" for x in finished["items"])

    full = json.loads(ws.ok("trace", "forward", sc.shared_reel, "--json", user="youssef").out)
    units = {x["id"]: x for x in full["items"] if x["kind"] == "unit"}
    lots = {x["id"]: x for x in full["items"] if x["kind"] == "lot"}
    assert set(units) == {pb1, pb2, pb3, pb4, sn1, sn3}
    assert units[pb1]["status"] == "consumed" and units[pb1]["consumed_into"] == sn1
    assert units[pb2]["status"] == "completed"
    assert set(lots) == {lot_a, lot_b, sc.dev_lot}
    assert not lots[sc.dev_lot]["direct"]  # reached through some of its units only
    assert sn2 not in units and pb5 not in units and lot_c not in lots

    # CSV: a header and one line per item.
    rows = list(csv.DictReader(io.StringIO(ws.ok("trace", "forward", sc.shared_reel, "--csv",
                                                 user="youssef").out)))
    assert {r["id"] for r in rows} == set(units) | set(lots)

    # The other reel: lot C and the devices built with its boards only.
    other = json.loads(ws.ok("trace", "forward", sc.other_reel, "--finished", "--json",
                             user="youssef").out)
    assert {x["id"] for x in other["items"] if x["kind"] == "unit"} == {sn2}

    # From a serialized lot: everything made from any of its units.
    from_a = json.loads(ws.ok("trace", "forward", lot_a, "--finished", "--json",
                              user="youssef").out)
    assert [x["id"] for x in from_a["items"] if x["kind"] == "unit"] == [sn1]

    # Resin goes into the (non-serialized) enclosure lot, which went into every device.
    resin = sql(ws, "SELECT id FROM material_lots WHERE part = 'RESIN-PC2458'")[0][0]
    out = json.loads(ws.ok("trace", "forward", resin, "--finished", "--json",
                           user="youssef").out)
    assert {x["id"] for x in out["items"] if x["kind"] == "unit"} == {sn1, sn2, sn3}
    # --depth 1 stops at the enclosure lot.
    out = json.loads(ws.ok("trace", "forward", resin, "--depth", "1", "--json",
                           user="youssef").out)
    assert [x["id"] for x in out["items"]] == [sc.enc_lot]


def test_backward_trace_lists_materials_with_supplier_data(built) -> None:
    ws, sc = built
    sn1, sn2, _ = sc.devices
    back = json.loads(ws.ok("trace", "back", sn1, "--json", user="fatima").out)
    by_child = {e["child"]: e for e in back["edges"]}
    reel = by_child[sc.shared_reel]
    assert reel["parent"] == sc.board_of[sn1] and reel["op"] == 30
    assert reel["station"] == "PNP-1" and reel["supplier_lot"] == "MUR-7731-A"
    assert reel["date_code"] == "2544" and reel["qty"] == 14
    assert by_child[sc.board_of[sn1]]["kind"] == "unit"
    assert by_child[sc.enc_lot]["kind"] == "lot"
    assert by_child["FW-OXI@1.4.2"]["kind"] == "firmware"
    assert any(e["kind"] == "material" and e["part"] == "RESIN-PC2458" for e in back["edges"])
    assert back["flashes"][0]["serial"] == sc.board_of[sn1]
    # The tree nests the board's materials under the board.
    board = next(c for c in back["tree"]["children"] if c["id"] == sc.board_of[sn1])
    assert sc.shared_reel in {c["id"] for c in board["children"]}

    back2 = json.loads(ws.ok("trace", "back", sn2, "--json", user="fatima").out)
    assert sc.shared_reel not in {e["child"] for e in back2["edges"]}
    assert sc.other_reel in {e["child"] for e in back2["edges"]}

    # --depth 1: only what went into the device itself.
    shallow = json.loads(ws.ok("trace", "back", sn1, "--depth", "1", "--json",
                               user="fatima").out)
    assert {e["parent"] for e in shallow["edges"]} == {sn1}

    # A lot: all its units; the human form is a tree; CSV has the supplier lot.
    tree = ws.ok("trace", "back", sc.dev_lot, user="fatima").out
    assert sc.dev_lot in tree and sc.shared_reel in tree and "MUR-7731-A" in tree
    rows = list(csv.DictReader(io.StringIO(
        ws.ok("trace", "back", sn1, "--csv", user="fatima").out)))
    assert any(r["child"] == sc.shared_reel and r["supplier_lot"] == "MUR-7731-A"
               for r in rows)
    # Unknown item: not found; a material cannot be traced back.
    assert ws.mes("trace", "back", "SN-999999", user="fatima").code == 3
    assert ws.mes("trace", "back", sc.shared_reel, user="fatima").code == 4


def test_recall_scope_then_hold_in_one_signed_transaction(built) -> None:
    ws, sc = built
    _lot_a, (_pb1, pb2) = sc.pcba["A"]
    _lot_b, (_pb3, pb4) = sc.pcba["B"]
    sn1, sn2, sn3 = sc.devices

    before = ws.dump()
    scope = json.loads(ws.ok("recall", sc.shared_reel, "--reason", "supplier notice 2026-117",
                             "--json", user="youssef").out)
    assert_unchanged(ws, before)  # the scope report changes nothing
    assert scope["counts"] == {"completed": 4, "consumed": 2}
    assert set(scope["would_hold"]) == {pb2, pb4, sn1, sn3, sc.shared_reel}

    # Only quality may recall; a refusal changes nothing but the denial audit.
    r = ws.mes("recall", sc.shared_reel, "--reason", "x", "--hold", user="fatima")
    assert r.code == 6, r
    assert sql(ws, "SELECT count(*) FROM units WHERE on_hold = 1") == [(0,)]

    r = ws.ok("recall", sc.shared_reel, "--reason", "supplier notice 2026-117", "--hold",
              user="youssef")
    assert "put on hold: 5" in r.err
    held = {s for (s,) in sql(ws, "SELECT serial FROM units WHERE on_hold = 1")}
    assert held == {pb2, pb4, sn1, sn3}
    assert sql(ws, "SELECT on_hold FROM material_lots WHERE id = ?", (sc.shared_reel,)) == [(1,)]
    # Serialized lots reached through some units are not held as a whole: SN2 stays free.
    assert sql(ws, "SELECT count(*) FROM lots WHERE on_hold = 1") == [(0,)]
    reason = sql(ws, "SELECT hold_reason FROM units WHERE serial = ?", (sn1,))[0][0]
    assert "supplier notice 2026-117" in reason and sc.shared_reel in reason
    sigs = sql(ws, "SELECT full_name, meaning, record_type, record_id FROM signatures "
                   "WHERE record_type = 'recall'")
    assert sigs == [("Youssef Benali", "held", "recall", sc.shared_reel)]
    # The held device cannot take a step; the free one is untouched.
    assert sql(ws, "SELECT on_hold FROM units WHERE serial = ?", (sn2,)) == [(0,)]
    # One transaction: the held items' audit events are consecutive, with the signature.
    actions = [a for (a,) in sql(ws, "SELECT action FROM audit ORDER BY seq DESC LIMIT 8")]
    assert actions[:2] == ["signature", "recall.hold"]
    assert actions[2:7].count("unit.hold") == 4 and "material.hold" in actions[2:7]


def test_recall_with_wrong_password_changes_nothing_but_the_failed_login(built) -> None:
    ws, sc = built
    before = ws.dump()
    r = ws.mes("--user", "youssef", "--password-stdin", "recall", sc.shared_reel,
               "--reason", "notice", "--hold", stdin="not-the-password\n")
    assert r.code == 6, r
    after = ws.dump()
    changed = [x for x in after if x not in before]
    assert changed and all("failed_logins" in x or "login_failed" in x or
                           x.startswith('INSERT INTO "audit"') or x.startswith(
                               'INSERT INTO "users"') for x in changed), changed
    assert sql(ws, "SELECT count(*) FROM units WHERE on_hold = 1") == [(0,)]
    assert sql(ws, "SELECT action FROM audit ORDER BY seq DESC LIMIT 1") == [
        ("user.login_failed",)]
