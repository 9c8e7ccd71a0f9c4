"""Incoming material: receive (typed, scanned), release/reject signed, consumption interlocks."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from mes import clock
from tests.conftest import Workspace
from tests.foundation.helpers import (
    assert_only_denied,
    assert_unchanged,
    audit_actions,
    complete_args,
    new_lot,
    receive,
    sql,
)

GS = "\x1d"
SUPPLIER_GTIN = "09506000134352"  # GS1's example GTIN, valid check digit


def material(ws: Workspace, mid: str) -> dict:
    return dict(json.loads(ws.ok("material", "show", mid, "--json").out))


def test_receive_typed(plant: Workspace) -> None:
    r = plant.ok("material", "receive", "PCB-OXI-100", "--qty", 600, "--supplier",
                 "Shenzhen PCB Co", "--supplier-lot", "SZ2544-17", "--mpn", "OXI100-C",
                 "--date-code", "2544", "--expiry", "2030-06-30", "--origin", "cn",
                 "--unit-cost", "4.05", "--cert", "CoC-88123", user="fatima")
    assert r.out.strip() == "OK R-000001 PCB-OXI-100 × 600 received: quarantine"
    m = material(plant, "R-000001")
    assert (m["supplier_lot"], m["mpn"], m["date_code"], m["expiry"], m["origin"],
            m["unit_cost"], m["cert"]) == ("SZ2544-17", "OXI100-C", "2544", "2030-06-30", "CN",
                                           4.05, "CoC-88123")
    assert m["remaining"] == 600 and m["status"] == "quarantine" and m["received_by"] == "fatima"
    # Catalog defaults fill what is not typed.
    mid = receive(plant, "RES-10K-0402", 10000, release=False)
    assert (material(plant, mid)["origin"], material(plant, mid)["unit_cost"]) == ("CN", 0.008)
    assert audit_actions(plant).count("material.receive") == 2


def test_receive_without_inspection_is_released(plant: Workspace) -> None:
    mid = receive(plant, "LBL-50X25", 2000, release=False)
    assert material(plant, mid)["status"] == "released"


@pytest.mark.parametrize("args,code,words", [
    (["PCB-OXI-100"], 5, "--qty"),
    (["PCB-OXI-100", "--qty", "-3"], 5, "--qty"),
    (["PCB-OXI-100", "--qty", "5", "--origin", "China"], 5, "--origin"),
    (["PCB-OXI-100", "--qty", "5", "--expiry", "31/12/2030"], 5, "--expiry"),
    (["PCB-OXI-100", "--qty", "5", "--id", "reel 1/2"], 5, "material id"),
    (["PCB-OXI-100", "--qty", "5", "--unit-cost", "-1"], 5, "--unit-cost"),
    (["PCB-OXI-100", "--qty", "5", "--unit-cost", "inf"], 5, "--unit-cost"),
    (["PCB-OXI-100", "--qty", "nan"], 5, "--qty"),
    (["PCB-OXI-100", "--qty", "5", "--date-code", "25\x0044"], 5, "--date-code"),
    (["PCB-OXI-100", "--qty", "5", "--supplier", "x" * 201], 5, "--supplier"),
    (["NOPE-1", "--qty", "5"], 3, "unknown part"),
    (["PCBA-OXI-100", "--qty", "5"], 4, "made here"),
])
def test_receive_refusals(plant: Workspace, args: list[str], code: int, words: str) -> None:
    before = plant.dump()
    r = plant.mes("material", "receive", *args, user="fatima")
    assert r.code == code, r
    assert r.err.startswith("mes: ") and words in r.err
    assert_unchanged(plant, before)


def test_receive_scanned_gs1_data(plant: Workspace) -> None:
    scan = f"]d201{SUPPLIER_GTIN}17301231" + f"10ABC123{GS}21REEL-0001"
    r = plant.ok("material", "receive", "--part", "CAP-100N-0402", "--qty", 10000, "--scan",
                 scan, user="fatima")
    assert "OK REEL-0001 CAP-100N-0402" in r.out
    m = material(plant, "REEL-0001")
    assert (m["gtin"], m["supplier_lot"], m["expiry"]) == (SUPPLIER_GTIN, "ABC123", "2030-12-31")


def test_receive_scanned_hri_and_overrides(plant: Workspace) -> None:
    scan = f"(01){SUPPLIER_GTIN}(17)300200(10)abc/7(21)reel-0002"
    plant.ok("material", "receive", "CAP-1U-0402", "--qty", 5000, "--scan", scan,
             "--supplier", "Murata", user="fatima")
    m = material(plant, "REEL-0002")  # our id is upper case, the supplier's lot is kept as is
    assert (m["supplier_lot"], m["expiry"], m["supplier"]) == ("abc/7", "2030-02-28", "Murata")
    scan = f"]d201{SUPPLIER_GTIN}10LOT-9"
    plant.ok("material", "receive", "CAP-1U-0402", "--qty", 5000, "--scan", scan,
             "--id", "MY-REEL", "--expiry", "2031-01-01", user="fatima")
    m = material(plant, "MY-REEL")
    assert m["supplier_lot"] == "LOT-9" and m["expiry"] == "2031-01-01"


@pytest.mark.parametrize("scan,field", [
    (f"]d201{SUPPLIER_GTIN[:-1]}3", "gtin"),
    (f"]d201{SUPPLIER_GTIN}17301331", "expiry"),
    (f"]d201{SUPPLIER_GTIN}10{'X' * 21}", "lot"),
    (f"]d201{SUPPLIER_GTIN}99ABC", "ai"),
    ("]d210ABC", "gtin"),
    (f"(01){SUPPLIER_GTIN}(21)a b", "serial"),
])
def test_malformed_scan_names_the_field(plant: Workspace, scan: str, field: str) -> None:
    before = plant.dump()
    r = plant.mes("material", "receive", "CAP-1U-0402", "--qty", 1, "--scan", scan,
                  user="fatima")
    assert r.code == 5, r
    assert r.err.startswith(f"mes: --scan: {field}: "), r
    assert len(r.err.strip().splitlines()) == 1
    assert_unchanged(plant, before)


def test_release_and_reject_are_signed(plant: Workspace) -> None:
    a = receive(plant, "PCB-OXI-100", 10, release=False)
    b = receive(plant, "PCB-OXI-100", 10, release=False)
    before = plant.dump()
    r = plant.mes("material", "release", a, user="fatima")
    assert r.code == 6, r
    assert_only_denied(plant, before)
    before = plant.dump()
    assert plant.mes("--user", "youssef", "--password-stdin", "material", "release", a,
                     stdin="wrong-password\n").code == 6
    assert material(plant, a)["status"] == "quarantine"
    assert plant.mes("material", "reject", b, "--reason", " ", user="youssef").code == 5
    assert plant.mes("material", "release", "R-999999", user="youssef").code == 3
    plant.ok("material", "release", a, user="youssef")
    plant.ok("material", "reject", b, "--reason", "warped panels", user="youssef")
    ma, mb = material(plant, a), material(plant, b)
    assert ma["status"] == "released" and mb["status"] == "rejected"
    assert [s["meaning"] for s in ma["signatures"]] == ["released"]
    assert [s["meaning"] for s in mb["signatures"]] == ["rejected"]
    assert ma["signatures"][0]["full_name"] == "Youssef Benali"
    # Only quarantined material is dispositioned.
    before = plant.dump()
    assert plant.mes("material", "release", b, user="youssef").code == 4
    assert plant.mes("material", "reject", a, "--reason", "x", user="youssef").code == 4
    assert_unchanged(plant, before)
    rows = json.loads(plant.ok("material", "list", "--status", "rejected", "--json").out)
    assert [r["id"] for r in rows] == [b]
    assert plant.ok("material", "list", "--csv").out.startswith("id,part,status,on_hold,")


# -- consumption -----------------------------------------------------------------------------

def _paste(plant: Workspace, qty: float = 100, *extra: object, release: bool = True) -> str:
    return receive(plant, "PASTE-SAC305", qty, *extra, release=release)


def test_consume_by_scan_decrements_exactly(plant: Workspace) -> None:
    paste = _paste(plant, 100)
    lot, [u1, u2] = new_lot(plant)
    plant.ok(*complete_args(plant, lot, 10), "--consume", paste, user="fatima")
    assert material(plant, paste)["remaining"] == pytest.approx(100 - 0.7)
    _lot2, [u3, _] = new_lot(plant)
    plant.ok(*complete_args(plant, u3, 10), "--consume", f"{paste.lower()}:2.5", user="fatima")
    m = material(plant, paste)
    assert m["remaining"] == pytest.approx(100 - 0.7 - 2.5)
    assert [(c["into_item"], c["qty"]) for c in m["consumed"]] == [
        (u1, pytest.approx(0.35)), (u2, pytest.approx(0.35)), (u3, 2.5)]


def test_consume_exact_remaining_then_empty(plant: Workspace) -> None:
    paste = _paste(plant, 0.7)
    lot, _ = new_lot(plant)
    plant.ok(*complete_args(plant, lot, 10), "--consume", paste, user="fatima")
    assert material(plant, paste)["remaining"] == 0
    _, [u] = new_lot(plant, qty=1)
    before = plant.dump()
    r = plant.mes(*complete_args(plant, u, 10), "--consume", paste, user="fatima")
    assert r.code == 4 and "0 left" in r.err
    assert_unchanged(plant, before)


def _hold(plant: Workspace, mid: str) -> None:
    plant.ok("lot", "hold", mid, "--reason", "supplier notice", user="youssef")


def _expire(plant: Workspace) -> str:
    """Released paste whose use-by date has since passed (expired material is never
    released, so the date moves, as time would move it)."""
    mid = _paste(plant, 100, "--expiry", "2026-12-31")
    sql(plant, "UPDATE material_lots SET expiry = '2020-01-31' WHERE id = ?", (mid,))
    return mid


CONSUME_REFUSALS = {
    "quarantined": (lambda p: _paste(p, 100, release=False), "quarantine"),
    "expired": (_expire, "expired on 2020-01-31"),
    "on hold": (lambda p: (lambda m: (_hold(p, m), m)[1])(_paste(p)), "on hold"),
    "rejected": (lambda p: (lambda m: (p.ok("material", "reject", m, "--reason", "x",
                                            user="youssef"), m)[1])(
        _paste(p, 100, release=False)), "rejected"),
    "wrong part": (lambda p: receive(p, "PCB-OXI-100", 100), "consumes PASTE-SAC305"),
    "too little left": (lambda p: _paste(p, 0.5), "0.5 left, 0.7 needed"),
}


@pytest.mark.parametrize("case", list(CONSUME_REFUSALS))
def test_consume_refused(plant: Workspace, case: str) -> None:
    make, words = CONSUME_REFUSALS[case]
    mid = make(plant)
    lot, _ = new_lot(plant)
    before = plant.dump()
    r = plant.mes(*complete_args(plant, lot, 10), "--consume", mid, user="fatima")
    assert r.code == 4, r
    assert r.err.startswith("mes: ") and words in r.err, r
    assert_unchanged(plant, before)


@pytest.mark.parametrize("case", ["quarantined", "expired", "on hold", "rejected"])
def test_station_load_refused(plant: Workspace, case: str) -> None:
    make, _ = CONSUME_REFUSALS[case]
    mid = make(plant)
    before = plant.dump()
    r = plant.mes("station", "load", "PRN-1", mid, "--slot", "P1", user="fatima")
    assert r.code == 4, r
    assert r.err.startswith("mes: ")
    assert_unchanged(plant, before)


def test_station_load_refusals_not_found_and_authority(plant: Workspace) -> None:
    paste = _paste(plant)
    before = plant.dump()
    assert plant.mes("station", "load", "PRN-9", paste, "--slot", "P1", user="fatima").code == 3
    assert plant.mes("station", "load", "PRN-1", "R-999999", "--slot", "P1",
                     user="fatima").code == 3
    assert_unchanged(plant, before)
    r = plant.mes("station", "load", "PRN-1", paste, "--slot", "P1", user="youssef")
    assert r.code == 6
    assert_only_denied(plant, before)


def test_consume_from_station_load(plant: Workspace) -> None:
    a = _paste(plant, 100)
    plant.ok("station", "load", "PRN-1", a, "--slot", "P1", user="fatima")
    show = json.loads(plant.ok("station", "show", "PRN-1", "--json").out)
    assert [(x["slot"], x["material"]) for x in show["loaded"]] == [("P1", a)]
    lot, _ = new_lot(plant)
    plant.ok(*complete_args(plant, lot, 10), user="fatima")
    assert material(plant, a)["remaining"] == pytest.approx(99.3)
    consumed = json.loads(plant.ok("lot", "show", lot, "--json").out)["consumed"]
    assert {(c["item"], c["feeder"]) for c in consumed} == {(a, "P1")}
    # Loading another jar on the same slot replaces the first one.
    b = _paste(plant, 50)
    plant.ok("station", "load", "PRN-1", b, "--slot", "P1", "--replace",
             user="fatima")
    lot2, _ = new_lot(plant)
    plant.ok(*complete_args(plant, lot2, 10), user="fatima")
    assert material(plant, a)["remaining"] == pytest.approx(99.3)
    assert material(plant, b)["remaining"] == pytest.approx(49.3)


def test_loaded_material_put_on_hold_is_refused(plant: Workspace) -> None:
    a = _paste(plant, 100)
    plant.ok("station", "load", "PRN-1", a, "--slot", "P1", user="fatima")
    _hold(plant, a)
    lot, _ = new_lot(plant)
    before = plant.dump()
    r = plant.mes(*complete_args(plant, lot, 10), user="fatima")
    assert r.code == 4 and "on hold" in r.err, r
    assert_unchanged(plant, before)
    plant.ok("lot", "unhold", a, "--reason", "notice withdrawn", user="youssef")
    plant.ok(*complete_args(plant, lot, 10), user="fatima")


def test_loaded_material_that_expires_is_refused(plant: Workspace) -> None:
    soon = (clock.now() + timedelta(days=30)).date().isoformat()
    a = _paste(plant, 100, "--expiry", soon)
    plant.ok("station", "load", "PRN-1", a, "--slot", "P1", user="fatima")
    lot, _ = new_lot(plant)
    later = clock.now() + timedelta(days=31)
    with clock.use_clock(lambda: later):
        before = plant.dump()
        r = plant.mes(*complete_args(plant, lot, 10), user="fatima")
        assert r.code == 4 and f"expired on {soon}" in r.err, r
        assert_unchanged(plant, before)


def test_loaded_material_too_little_left(plant: Workspace) -> None:
    a = _paste(plant, 0.5)
    plant.ok("station", "load", "PRN-1", a, "--slot", "P1", user="fatima")
    lot, _ = new_lot(plant)
    before = plant.dump()
    r = plant.mes(*complete_args(plant, lot, 10), user="fatima")
    assert r.code == 4 and "0.5 left, 0.7 needed" in r.err, r
    assert_unchanged(plant, before)


def test_wrong_part_loaded(plant: Workspace) -> None:
    pcb = receive(plant, "PCB-OXI-100", 100)
    plant.ok("station", "load", "PRN-1", pcb, "--slot", "P1", user="fatima")
    lot, _ = new_lot(plant)
    before = plant.dump()
    r = plant.mes(*complete_args(plant, lot, 10), user="fatima")
    assert r.code == 4 and "consumes PASTE-SAC305" in r.err, r
    assert_unchanged(plant, before)


@pytest.mark.parametrize("arg", ["R-000001:abc", "R-000001:-1", "R-000001:0", "R-000001:nan"])
def test_bad_consume_quantity(plant: Workspace, arg: str) -> None:
    _paste(plant)
    lot, _ = new_lot(plant)
    before = plant.dump()
    r = plant.mes(*complete_args(plant, lot, 10), "--consume", arg, user="fatima")
    assert r.code == 5, r
    assert_unchanged(plant, before)


def test_loading_on_an_occupied_slot_names_what_it_displaces_and_needs_replace(
        plant: Workspace) -> None:
    ws = plant
    first, second = receive(ws, "PASTE-SAC305", 100), receive(ws, "PASTE-SAC305", 50)
    ws.ok("station", "load", "PRN-1", first, "--slot", "P1", user="fatima")
    before = ws.dump()
    r = ws.mes("station", "load", "PRN-1", second, "--slot", "P1", user="fatima")
    assert r.code == 4, r
    assert r.err == (f"mes: PRN-1 slot P1 holds {first} (PASTE-SAC305, 100 left): loading "
                     f"{second} would take it off: add --replace to do so\n"), r.err
    assert_unchanged(ws, before)
    r = ws.mes("station", "load", "PRN-1", first, "--slot", "P1", user="fatima")
    assert r.code == 4 and "already loaded on PRN-1 slot P1" in r.err, r
    r = ws.ok("station", "load", "PRN-1", second, "--slot", "P1", "--replace", user="fatima")
    assert r.out.strip() == f"OK {second} (PASTE-SAC305) loaded on PRN-1 slot P1, replacing {first}"
    loaded = json.loads(ws.ok("station", "show", "PRN-1", "--json").out)["loaded"]
    assert [x["material"] for x in loaded] == [second]


def test_release_several_lots_with_one_signing(plant: Workspace) -> None:
    ws = plant
    ids = [receive(ws, "CAP-100N-0402", 100, release=False) for _ in range(3)]
    done = receive(ws, "CAP-100N-0402", 100)
    before = ws.dump()
    r = ws.mes("material", "release", *ids, done, user="youssef")
    assert r.code == 4 and f"{done} is released" in r.err, r
    assert_unchanged(ws, before)
    r = ws.mes("material", "release", *ids, user="fatima")
    assert r.code == 6, r
    assert_only_denied(ws, before)
    events = len(audit_actions(ws))
    r = ws.ok("material", "release", *ids, user="youssef")  # one password line on stdin
    assert r.out.splitlines() == [f"{i} released" for i in ids]
    assert audit_actions(ws)[events:] == ["material.release", "signature"] * 3
    for i in ids:
        shown = json.loads(ws.ok("material", "show", i, "--json").out)
        assert shown["status"] == "released"
        assert [s["meaning"] for s in shown["signatures"]] == ["released"]
