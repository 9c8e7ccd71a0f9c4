"""Quality records that are right (issue 11 item 8): subassembly NCRs in the device's record,
use-as-is concessions, written-off material, and read commands that check the password."""

from __future__ import annotations

import json

from tests.quality.helpers import (
    PCBA,
    STATION_OF_TYPE,
    new_lot,
    op_args,
    receive,
    routing,
    run_ops,
    sql,
)


def _ncr(ws, item: str, description: str, *extra: object) -> str:
    out = ws.ok("ncr", "open", item, "--description", description, *extra, "--json",
                user="fatima").out
    return str(json.loads(out)["id"])


def _use_as_is(ws, ncr: str, why: str = "cosmetic only, function verified") -> None:
    ws.ok("ncr", "disposition", ncr, "--action", "use-as-is", "--justification", why,
          user="youssef")
    ws.ok("ncr", "close", ncr, user="youssef")


def test_device_dhr_and_trace_back_show_subassembly_ncrs_and_holds(built) -> None:
    ws, sc = built
    lot_a, boards_a = sc.pcba["A"]
    ncr_a = _ncr(ws, lot_a, "solder balls near U1")  # whole PCBA lot A
    _use_as_is(ws, ncr_a)
    ncr_reel = _ncr(ws, sc.shared_reel, "reel label smudged")
    _use_as_is(ws, ncr_reel, "supplier CoC matches the reel")
    dhr = json.loads(ws.ok("dhr", sc.dev_lot, "--json", user="youssef").out)
    assert {(n["id"], n["on"]) for n in dhr["ncrs"]} == {(ncr_a, "subassembly"),
                                                         (ncr_reel, "material")}
    sub = dhr["subassembly_quality"]
    by_id = {n["id"]: n for n in sub["ncrs"]}
    assert set(by_id) == {ncr_a, ncr_reel}
    assert by_id[ncr_a]["item"] == lot_a and by_id[ncr_a]["units"] == [boards_a[0]]
    assert by_id[ncr_a]["action"] == "use-as-is" and by_id[ncr_a]["concession"]
    assert by_id[ncr_reel]["kind"] == "material"
    assert set(sub["concessions"]) == {ncr_a, ncr_reel}
    held = {(h["item"], h["action"]) for h in sub["holds"]}
    assert (lot_a, "hold.ncr") in held and (lot_a, "unhold.ncr") in held
    assert json.loads((ws.path / "lots" / sc.dev_lot / "dhr.json").read_text())[
        "subassembly_quality"] == sub
    # trace back of the device built from board A0 lists lot A's NCR; the one from C0 not.
    first, second = sc.devices[0], sc.devices[1]
    assert sc.board_of[first] == boards_a[0]
    back = json.loads(ws.ok("trace", "back", first, "--json", user="youssef").out)
    assert {n["id"] for n in back["quality"]["ncrs"]} == {ncr_a, ncr_reel}
    other = json.loads(ws.ok("trace", "back", second, "--json", user="youssef").out)
    assert ncr_a not in {n["id"] for n in other["quality"]["ncrs"]}
    text = ws.ok("trace", "back", first, user="youssef").out
    assert f"{ncr_a} on {lot_a} {boards_a[0]}" in text and "(concession)" in text


def test_use_as_is_lets_the_unit_continue_where_it_stood(built) -> None:
    ws, _sc = built
    lot, (serial,) = new_lot(ws, PCBA, 1)
    run_ops(ws, PCBA, lot, [serial], to_op=60)
    ict = next(o for o in routing(ws, PCBA)["operations"] if o["op"] == 60)
    args = [a if a != "rail_3v3_v=3.3" else "rail_3v3_v=3.5" for a in op_args(ws, serial, ict)]
    assert "rail_3v3_v=3.5" in args
    r = ws.mes(*args, user="fatima")
    assert r.code == 0 and "FAIL" in r.out.upper(), r
    ncr = _ncr(ws, serial, "3V3 rail 6 % high, within the regulator's rating")
    _use_as_is(ws, ncr, "engineering: rail margin accepted for this board")
    steps = sql(ws, "SELECT op, status, result, source FROM steps WHERE serial = ? AND op = 60 "
                "ORDER BY id", (serial,))
    assert steps == [(60, "failed", "pass", None), (60, "passed", "use-as-is", f"ncr:{ncr}")]
    # The unit goes on to flashing: op 60 is not asked again (rework would ask it).
    ws.ok("flash", serial, "--station", STATION_OF_TYPE["flash"], "--image", "FW-OXI@1.4.2",
          "--mcu-uid", "3A00000000000000000000FF", "--verify", "pass", user="fatima")
    assert sql(ws, "SELECT status FROM units WHERE serial = ?", (serial,)) == [("completed",)]
    ws.ok("audit", "verify", "--reconcile", user="youssef")


def test_scrap_and_return_to_supplier_leave_nothing_on_the_material(built) -> None:
    ws, _sc = built
    for action in ("scrap", "return-to-supplier"):
        mid = receive(ws, "RES-10K-0402", 5000, f"SL-{action[:6].upper()}")
        ncr = _ncr(ws, mid, "wrong tolerance printed on the reel")
        ws.ok("ncr", "disposition", ncr, "--action", action, "--justification", "x",
              user="youssef")
        ws.ok("ncr", "close", ncr, user="youssef")
        shown = json.loads(ws.ok("material", "show", mid, "--json", user="fatima").out)
        assert shown["status"] == "rejected" and shown["remaining"] == 0, shown
    ws.ok("audit", "verify", "--reconcile", user="youssef")


def test_read_with_a_wrong_password_is_refused(built) -> None:
    ws, sc = built
    reads = [("lot", "show", sc.dev_lot, "--json"), ("trace", "back", sc.devices[0]),
             ("ncr", "list")]
    for argv in reads:
        before = ws.dump()
        r = ws.mes("--user", "youssef", "--password-stdin", *argv, stdin="not-his\n")
        assert r.code == 6 and "wrong password" in r.err and r.out == "", r
        assert len(r.err.splitlines()) == 1 and r.err.startswith("mes: "), r
        new = [x for x in ws.dump() if x not in before]
        # only the failed attempt is recorded (counted on the user, audited)
        assert len(new) == 2 and any("user.login_failed" in x for x in new), new
        assert any(x.startswith('INSERT INTO "users"') and "'youssef'" in x for x in new), new
    assert ws.ok(*reads[0], user="youssef").out  # the right password still reads
