"""NCRs (hold, disposition, close), lot release and shipping: the happy path and refusals."""

from __future__ import annotations

import json

from tests.quality.helpers import DEV, ENC, assert_unchanged, new_lot, routing, run_ops, sql


def _unit(ws, serial: str) -> dict:
    return dict(zip(("status", "on_hold", "hold_reason", "rework_op"), sql(
        ws, "SELECT status, on_hold, hold_reason, rework_op FROM units WHERE serial = ?",
        (serial,))[0], strict=True))


def _lot(ws, lot: str) -> dict:
    cols = ("status", "on_hold", "qty_scrapped", "qty_released", "qty_shipped", "released_at")
    return dict(zip(cols, sql(ws, f"SELECT {', '.join(cols)} FROM lots WHERE id = ?",
                              (lot,))[0], strict=True))


def test_ncr_blocks_release_until_dispositioned_and_closed(built) -> None:
    ws, sc = built
    sn1, sn2, sn3 = sc.devices
    # Ship before release: refused, nothing changed.
    before = ws.dump()
    r = ws.mes("ship", sc.dev_lot, "--to", "CHU Ibn Rochd, Casablanca", "--ref",
               "BL-2026-0412", user="youssef")
    assert r.code == 4 and "release" in r.err, r
    assert_unchanged(ws, before)

    out = json.loads(ws.ok("ncr", "open", sc.dev_lot, "--description", "scratched window",
                           "--units", f"{sn2}", "--json", user="fatima").out)
    ncr = out["id"]
    assert ncr == "NCR-0001" and out["units"] == [sn2] and out["held"] == [sn2]
    assert _unit(ws, sn2)["on_hold"] == 1 and _unit(ws, sn2)["hold_reason"] == ncr

    # Release with an open NCR: refused, nothing changed.
    before = ws.dump()
    r = ws.mes("lot", "release", sc.dev_lot, user="youssef")
    assert r.code == 4 and ncr in r.err, r
    assert_unchanged(ws, before)

    # An operator may not disposition (exit 6): only the denial is audited.
    r = ws.mes("ncr", "disposition", ncr, "--action", "use-as-is", "--justification", "ok",
               user="fatima")
    assert r.code == 6, r
    after = ws.dump()
    assert [x for x in after if x not in before and "auth.denied" not in x] == []
    # Use-as-is without a justification: invalid input, nothing changed.
    before = ws.dump()
    assert ws.mes("ncr", "disposition", ncr, "--action", "use-as-is", user="youssef").code == 5
    assert ws.mes("ncr", "disposition", ncr, "--action", "return-to-supplier",
                  "--justification", "x", user="youssef").code == 4
    assert ws.mes("ncr", "close", ncr, user="youssef").code == 4  # not dispositioned yet
    assert_unchanged(ws, before)
    # Wrong password at signing (session user re-enters it): exit 6, only the failed login.
    ws.ok("login", "youssef", "--password-stdin", stdin="youssef-pass-1\n")
    before = ws.dump()
    r = ws.mes("--password-stdin", "ncr", "disposition", ncr, "--action", "use-as-is",
               "--justification", "cosmetic only", stdin="wrong-password\n")
    assert r.code == 6 and "wrong password" in r.err, r
    changed = [x for x in ws.dump() if x not in before]
    assert len(changed) == 2 and any("user.login_failed" in x for x in changed), changed
    assert sql(ws, "SELECT status FROM ncrs WHERE id = ?", (ncr,)) == [("open",)]
    ws.ok("logout")

    ws.ok("ncr", "disposition", ncr, "--action", "use-as-is", "--justification",
          "cosmetic scratch outside the optical window", user="youssef")
    assert _unit(ws, sn2)["on_hold"] == 1  # still held until the NCR closes
    ws.ok("ncr", "close", ncr, user="youssef")
    assert _unit(ws, sn2)["on_hold"] == 0 and _unit(ws, sn2)["hold_reason"] is None
    show = json.loads(ws.ok("ncr", "show", ncr, "--json", user="fatima").out)
    assert show["status"] == "closed" and show["action"] == "use-as-is"
    assert [s["meaning"] for s in show["signatures"]] == ["dispositioned", "closed"]
    assert ws.ok("ncr", "list", "--open", "--json", user="fatima").out.strip() == "[]"
    assert "NCR-0001" in ws.ok("ncr", "list", "--csv", user="fatima").out

    ws.ok("dhr", "review", sc.dev_lot, user="youssef")
    r = ws.ok("lot", "release", sc.dev_lot, "--json", user="youssef")
    rel = json.loads(r.out)
    assert rel["qty_released"] == 3 and rel["signed_by"] == "Youssef Benali"
    lot = _lot(ws, sc.dev_lot)
    assert lot["status"] == "released" and lot["qty_released"] == 3 and lot["released_at"]
    assert {_unit(ws, s)["status"] for s in sc.devices} == {"released"}
    assert sql(ws, "SELECT meaning FROM signatures WHERE record_type = 'lot' AND record_id = ?",
               (sc.dev_lot,)) == [("released",)]
    assert ws.mes("lot", "release", sc.dev_lot, user="youssef").code == 4  # already

    # Partial shipment, then the rest: the lot is shipped when every released unit is.
    ws.ok("ship", sc.dev_lot, "--to", "CHU Ibn Rochd, Casablanca", "--ref", "BL-2026-0412",
          "--units", sn1, user="tarik")
    assert _lot(ws, sc.dev_lot)["status"] == "released"
    assert ws.mes("ship", sc.dev_lot, "--to", "X", "--ref", "Y", "--units", sn1,
                  user="tarik").code == 4  # already shipped
    assert ws.mes("ship", sc.dev_lot, "--to", "X", "--ref", "Y", user="fatima").code == 6
    out = json.loads(ws.ok("ship", sc.dev_lot, "--to", "Clinique Al Amal, Rabat", "--ref",
                           "BL-2026-0413", "--json", user="youssef").out)
    assert out["serials"] == [sn2, sn3] and out["lot_status"] == "shipped"
    lot = _lot(ws, sc.dev_lot)
    assert lot["status"] == "shipped" and lot["qty_shipped"] == 3
    rows = sql(ws, "SELECT consignee, ref, qty, serials, username FROM shipments ORDER BY id")
    assert rows[0] == ("CHU Ibn Rochd, Casablanca", "BL-2026-0412", 1, json.dumps([sn1]),
                       "tarik")
    # Forward trace names the consignee of each shipped device.
    fwd = json.loads(ws.ok("trace", "forward", sc.shared_reel, "--finished", "--json",
                           user="youssef").out)
    dest = {x["id"]: x["consignee"] for x in fwd["items"] if x["kind"] == "unit"}
    assert dest == {sn1: "CHU Ibn Rochd, Casablanca", sn3: "Clinique Al Amal, Rabat"}


def test_rework_unit_must_pass_again_before_release(built) -> None:
    ws, sc = built
    _sn1, sn2, _sn3 = sc.devices
    ws.ok("ncr", "open", sn2, "--description", "SpO2 reading drifts", user="fatima")
    assert _unit(ws, sn2)["hold_reason"] == "NCR-0001"
    # On hold: no step can be recorded on it.
    dev = routing(ws, DEV)
    assert ws.mes("step", "complete", sn2, "--op", 20, "--station", "FT-1",
                  user="fatima").code == 4
    assert ws.mes("ncr", "disposition", "NCR-0001", "--action", "rework",
                  user="youssef").code == 5  # rework needs --op
    assert ws.mes("ncr", "disposition", "NCR-0001", "--action", "rework", "--op", 15,
                  user="youssef").code == 3  # no such op
    ws.ok("ncr", "disposition", "NCR-0001", "--action", "rework", "--op", 20,
          "--justification", "replace sensor flex", user="youssef")
    assert _unit(ws, sn2)["status"] == "in_process" and _unit(ws, sn2)["rework_op"] == 20
    assert _lot(ws, sc.dev_lot)["status"] == "in_process"
    ws.ok("ncr", "close", "NCR-0001", user="youssef")
    assert _unit(ws, sn2)["on_hold"] == 0

    r = ws.mes("lot", "release", sc.dev_lot, user="youssef")
    assert r.code == 4 and sn2 in r.err and "op 20" in r.err, r
    # Op 10 still counts (before the rework op); ops 20.. must pass again, in order.
    assert ws.mes("step", "complete", sn2, "--op", 30, "--station", "LBL-1", "--result",
                  "pass", user="fatima").code == 4
    run_ops(ws, DEV, sn2, [sn2], from_op=20)
    attempts = sql(ws, "SELECT attempt FROM steps WHERE serial = ? AND op = 20 ORDER BY id",
                   (sn2,))
    assert attempts == [(1,), (2,)] and dev["operations"][1]["op"] == 20
    assert _unit(ws, sn2)["status"] == "completed"
    assert _lot(ws, sc.dev_lot)["status"] == "completed"
    ws.ok("dhr", "review", sc.dev_lot, user="youssef")
    ws.ok("lot", "release", sc.dev_lot, user="youssef")
    assert _lot(ws, sc.dev_lot)["qty_released"] == 3


def test_scrap_units_and_non_serialized_quantity(built) -> None:
    ws, sc = built
    _sn1, _sn2, sn3 = sc.devices
    ws.ok("ncr", "open", sc.dev_lot, "--description", "cracked housing", "--units",
          f"{sn3}", user="fatima")
    ws.ok("ncr", "disposition", "NCR-0001", "--action", "scrap", "--justification",
          "crack through the battery door", user="youssef")
    assert _unit(ws, sn3)["status"] == "scrapped"
    assert _lot(ws, sc.dev_lot)["qty_scrapped"] == 1
    # Scrapped is final: a new NCR cannot take it.
    assert ws.mes("ncr", "open", sc.dev_lot, "--description", "x", "--units", sn3,
                  user="fatima").code == 4
    ws.ok("ncr", "close", "NCR-0001", user="youssef")
    ws.ok("dhr", "review", sc.dev_lot, user="youssef")
    rel = json.loads(ws.ok("lot", "release", sc.dev_lot, "--json", user="youssef").out)
    assert rel["qty_released"] == 2 and rel["qty_scrapped"] == 1
    assert _unit(ws, sn3)["status"] == "scrapped"

    # A non-serialized lot: the whole lot is held; scrap needs --qty.
    enc, _ = new_lot(ws, ENC, 8)
    run_ops(ws, ENC, enc, [])
    ws.ok("ncr", "open", enc, "--description", "short shots", user="fatima")
    assert _lot(ws, enc)["on_hold"] == 1
    before = ws.dump()
    assert ws.mes("ncr", "disposition", "NCR-0002", "--action", "scrap",
                  user="youssef").code == 5
    assert ws.mes("ncr", "disposition", "NCR-0002", "--action", "scrap", "--qty", 9,
                  user="youssef").code == 5
    assert_unchanged(ws, before)
    ws.ok("ncr", "disposition", "NCR-0002", "--action", "scrap", "--qty", 3, user="youssef")
    assert _lot(ws, enc)["qty_scrapped"] == 3
    assert sql(ws, "SELECT remaining FROM lots WHERE id = ?", (enc,)) == [(5.0,)]
    ws.ok("ncr", "close", "NCR-0002", user="youssef")
    assert _lot(ws, enc)["on_hold"] == 0
    ws.ok("dhr", "review", enc, user="youssef")
    ws.ok("lot", "release", enc, user="youssef")
    assert _lot(ws, enc)["qty_released"] == 5


def test_material_ncr_return_to_supplier(built) -> None:
    ws, sc = built
    out = json.loads(ws.ok("ncr", "open", sc.other_reel, "--description",
                           "wrong capacitance on sample", "--json", user="tarik").out)
    assert out["kind"] == "material"
    assert sql(ws, "SELECT on_hold FROM material_lots WHERE id = ?", (sc.other_reel,)) == [(1,)]
    assert ws.mes("ncr", "disposition", out["id"], "--action", "rework", "--op", 10,
                  user="youssef").code == 4
    ws.ok("ncr", "disposition", out["id"], "--action", "return-to-supplier",
          "--justification", "supplier SCAR-2026-03", user="youssef")
    ws.ok("ncr", "close", out["id"], user="youssef")
    assert sql(ws, "SELECT status, on_hold FROM material_lots WHERE id = ?",
               (sc.other_reel,)) == [("rejected", 0)]
