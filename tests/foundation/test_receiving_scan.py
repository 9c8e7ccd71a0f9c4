"""Receiving by scan (issue 11 item 7): what a supplier's GS1 label says is checked against
what is typed and what the plant knows, kept with the receipt, and used at the station."""

from __future__ import annotations

import json

import pytest

from tests.conftest import PASSWORDS, Workspace
from tests.foundation.helpers import assert_unchanged, audit_actions, new_lot, receive, sql

GS = "\x1d"
SUPPLIER_GTIN = "09506000134352"  # GS1's example GTIN, valid check digit
OUR_GTIN = "06111234500014"  # DEV-OXI-100 in routings/catalog.yaml


def material(ws: Workspace, mid: str) -> dict:
    return dict(json.loads(ws.ok("material", "show", mid, "--json").out))


def refused(ws: Workspace, code: int, *args: object) -> str:
    before = ws.dump()
    r = ws.mes(*args, user="fatima")
    assert r.code == code, r
    assert r.err.startswith("mes: ") and len(r.err.strip().splitlines()) == 1, r
    assert_unchanged(ws, before)
    return r.err


@pytest.mark.parametrize("scan", ["", GS, "   ", "\r\n", "]d2"])
def test_empty_scan_refused(plant: Workspace, scan: str) -> None:
    err = refused(plant, 5, "material", "receive", "CAP-1U-0402", "--qty", 10, "--scan", scan)
    assert "empty" in err


def test_our_own_device_gtin_is_not_a_purchased_part(plant: Workspace) -> None:
    scan = f"]d201{OUR_GTIN}10L2611-0003{GS}21SN-000001"
    err = refused(plant, 4, "material", "receive", "CAP-1U-0402", "--qty", 1, "--scan", scan)
    assert f"GTIN {OUR_GTIN} is this plant's own device DEV-OXI-100" in err


@pytest.mark.parametrize("typed,words", [
    (["--expiry", "2031-01-01"], ["--expiry 2031-01-01", "AI (17) 2030-12-31"]),
    (["--supplier-lot", "ABC124"], ["--supplier-lot ABC124", "AI (10) ABC123"]),
    (["--lot", "ABC124"], ["--supplier-lot ABC124", "AI (10) ABC123"]),
    (["--id", "REEL-0009"], ["--id REEL-0009", "AI (21) REEL-0001"]),
])
def test_typed_options_contradicting_the_scan_refused(plant: Workspace, typed: list[str],
                                                      words: list[str]) -> None:
    scan = f"]d201{SUPPLIER_GTIN}17301231" + f"10ABC123{GS}21REEL-0001"
    err = refused(plant, 5, "material", "receive", "CAP-1U-0402", "--qty", 10, "--scan", scan,
                  *typed)
    assert all(w in err for w in words), err
    # the same values typed are no contradiction
    plant.ok("material", "receive", "CAP-1U-0402", "--qty", 10, "--scan", scan, "--expiry",
             "2030-12-31", "--lot", "ABC123", "--id", "reel-0001", user="fatima")


def test_raw_scan_kept_with_the_receipt_and_its_event(plant: Workspace) -> None:
    scan = f"]C101{SUPPLIER_GTIN}17301231" + f"10ABC123{GS}21REEL-0001"
    plant.ok("material", "receive", "CAP-1U-0402", "--qty", 10, "--scan", scan, user="fatima")
    assert material(plant, "REEL-0001")["raw_scan"] == scan
    new = json.loads(sql(plant, "SELECT new FROM audit WHERE action = 'material.receive' "
                                "AND entity_id = 'REEL-0001'")[0][0])
    assert new["raw_scan"] == scan and new["gtin"] == SUPPLIER_GTIN
    typed = receive(plant, "CAP-1U-0402", 5, release=False)
    assert material(plant, typed)["raw_scan"] is None
    plant.ok("audit", "verify", "--reconcile")


@pytest.mark.parametrize("how", ["scan", "typed"])
def test_expired_material_received_in_quarantine_never_released(plant: Workspace,
                                                                how: str) -> None:
    # label stock has no incoming inspection: it would be released on receipt
    args = ["--scan", f"]d201{SUPPLIER_GTIN}17261031" + "10ROLL-7"] if how == "scan" else \
        ["--expiry", "2026-10-31"]
    r = plant.ok("material", "receive", "LBL-50X25", "--qty", 100, *args, user="fatima")
    mid = r.out.split()[1]
    assert r.out.strip().endswith("received: quarantine")
    assert r.err.startswith("warning: LBL-50X25 expired on 2026-10-31") and "cannot be " \
        "released" in r.err, r
    m = material(plant, mid)
    assert m["status"] == "quarantine" and m["expiry"] == "2026-10-31"
    before = plant.dump()
    r = plant.mes("material", "release", mid, user="youssef")
    assert r.code == 4 and f"material {mid} expired on 2026-10-31" in r.err, r
    assert r.err.startswith("mes: ") and len(r.err.strip().splitlines()) == 1
    assert_unchanged(plant, before)
    plant.ok("material", "reject", mid, "--reason", "expired on arrival", user="youssef")


# -- the station loop ------------------------------------------------------------------------

def test_station_loop_finds_the_material_from_the_suppliers_scan(plant: Workspace) -> None:
    ws = plant
    ws.ok("material", "receive", "PASTE-SAC305", "--qty", 500, "--scan",
          f"]d201{SUPPLIER_GTIN}17301231" + "10PASTE-LOT-1", user="fatima")
    paste = sql(ws, "SELECT id FROM material_lots WHERE supplier_lot = 'PASTE-LOT-1'")[0][0]
    ws.ok("material", "release", paste, user="youssef")
    ws.ok("material", "receive", "PASTE-SAC305", "--qty", 500, "--scan",
          f"]d201{SUPPLIER_GTIN}17301231" + "10PASTE-LOT-2", user="fatima")  # quarantined
    _lot, (sn1, _sn2) = new_lot(ws)
    before_loop = audit_actions(ws)
    lines = [f"(01){SUPPLIER_GTIN}(10)PASTE-LOT-9",  # never received
             "LOAD:P1", f"]d201{SUPPLIER_GTIN}17301231" + "10PASTE-LOT-2",  # not released
             f"]d201{SUPPLIER_GTIN}1730123" + "10X",  # malformed
             f"(01){SUPPLIER_GTIN}(17)301231(10)PASTE-LOT-1",  # HRI, typed at the keyboard
             sn1]
    r = ws.mes("station", "run", "PRN-1", "--no-prompt", user="fatima",
               stdin="\n".join(lines) + "\n")
    assert r.code == 0, r
    a = [x for x in r.out.splitlines() if not x.startswith("  ")]
    assert a[0].startswith("REFUSED (not-found): no material lot was received with GTIN "
                           f"{SUPPLIER_GTIN}, lot PASTE-LOT-9"), a[0]
    assert a[1] == "OK slot P1: now scan the material lot to load"
    assert a[2].startswith("REFUSED (refused): material R-") and "quarantine" in a[2], a[2]
    assert a[3].startswith("REFUSED (invalid-input):"), a[3]
    assert a[4] == f"OK {paste} (PASTE-SAC305) loaded on PRN-1 slot P1", a
    assert audit_actions(ws)[len(before_loop):] == ["station.load"]
    # several reels of one supplier lot: the one in use, or ask for our own label
    out = ws.ok("material", "receive", "PASTE-SAC305", "--qty", 500, "--scan",
                f"]d201{SUPPLIER_GTIN}17301231" + "10PASTE-LOT-1", user="fatima").out
    second = out.split()[1]
    ws.ok("material", "release", second, user="youssef")
    r = ws.mes("station", "run", "PRN-1", user="fatima",
               stdin=f"]d201{SUPPLIER_GTIN}10PASTE-LOT-1\n")
    assert f"names 2 material lots ({paste}, {second})" in r.out, r
    assert PASSWORDS  # the session-less form (--user) was used throughout


def test_station_loop_takes_our_own_label_for_its_unit(plant: Workspace) -> None:
    lot, (sn1, _sn2) = new_lot(plant, "DEV-OXI-100")
    r = plant.mes("station", "run", "ASM-1", user="fatima",
                  stdin=f"]d201{OUR_GTIN}11261102{GS}10{lot}{GS}21{sn1}\n(01){OUR_GTIN}\n")
    a = [x for x in r.out.splitlines() if not x.startswith("  ")]
    # the op's reply names the work instruction in force (issue 18) after the op
    assert a[0].startswith(f"OK {sn1} (lot {lot}) DEV-OXI-100: op 10 Final assembly"), a
    assert a[1].startswith("REFUSED (invalid-input): the scan of our GTIN"), a
