"""Sites in one database (issue 20): the origin decision uses the site where each
origin-conferring step was done. The same product, its enclosure moulded at the home site
(MA): assembled at a second Moroccan site it is local, assembled at a French site it is
not, and the labels follow the decision."""

from __future__ import annotations

import json

from tests.conftest import Workspace, sql
from tests.labels.test_label_print import labels_rows, receive
from tests.labels.test_label_print import shop as shop  # the fixture

MA2 = ["site", "add", "MA-2", "--name", "Usine Tanger", "--company", "OxiBoards SARL",
       "--address", "Tanger Automotive City", "--country", "MA", "--gln", "6111234000026"]
FR1 = ["site", "add", "FR-1", "--name", "Atelier Lyon", "--company", "OxiFrance SAS",
       "--address", "Lyon", "--country", "FR"]


def two_sites(ws: Workspace) -> None:
    ws.ok(*MA2, user="amina")
    ws.ok(*FR1, user="amina")
    ws.ok("station", "add", "ASM-2", "--type", "assembly", "--site", "MA-2",
          "--calibration-due", "2099-12-31", user="tarik")
    ws.ok("station", "add", "ASM-FR", "--type", "assembly", "--site", "FR-1",
          "--calibration-due", "2099-12-31", user="tarik")


def device_assembled_at(ws: Workspace, station: str) -> str:
    """A DEV-T lot of two: enclosure moulded at IMM-1 (home site, MA), assembled at
    `station`, tested at FT-1, origin decided by quality."""
    resin = receive(ws, "RESIN-T", 10, "DE", 50)
    board = receive(ws, "BOARD-T", 10, "CN", 20)
    screw = receive(ws, "SCREW-T", 100, "CN", 1)
    enc = ws.ok("lot", "create", "ENC-T", "--qty", 2, user="fatima").out.split()[0]
    ws.ok("step", "complete", enc, "--op", 10, "--station", "IMM-1", "--consume", resin,
          user="fatima")
    lot = ws.ok("lot", "create", "DEV-T", "--qty", 2, user="fatima").out.split()[0]
    ws.ok("step", "complete", lot, "--op", 10, "--station", station, "--consume", enc,
          "--consume", board, "--consume", screw, user="fatima")
    ws.ok("step", "complete", lot, "--op", 20, "--station", "FT-1", "--result", "pass",
          user="fatima")
    ws.ok("origin", lot, user="youssef")
    return lot


def test_assembled_at_another_moroccan_site_is_local_abroad_is_not(shop: Workspace) -> None:
    two_sites(shop)
    local = device_assembled_at(shop, "ASM-2")
    abroad = device_assembled_at(shop, "ASM-FR")
    # each step records its station's site
    assert sql(shop, "SELECT DISTINCT site_id FROM steps WHERE lot_id = ? AND op = 10",
               (local,)) == [("MA-2",)]
    assert sql(shop, "SELECT DISTINCT site_id FROM steps WHERE lot_id = ? AND op = 10",
               (abroad,)) == [("FR-1",)]
    ok = json.loads(shop.ok("origin", local, "--json", user="youssef").out)
    no = json.loads(shop.ok("origin", abroad, "--json", user="youssef").out)
    assert ok["positive"] is True, ok
    assert no["positive"] is False
    assert any("FR" in r and "Final assembly" in r for r in no["reasons"]), no
    conferring = {(c["part"], c["op"]): c["site_country"]
                  for c in ok["conferring_ops"]}
    assert conferring == {("DEV-T", 10): "MA", ("ENC-T", 10): "MA"}
    # labels follow: the local lot claims the origin, the other cannot
    shop.ok("label", "print", local, user="fatima")
    assert shop.mes("label", "print", abroad, user="fatima").code == 4
    shop.ok("label", "print", abroad, "--no-origin-claim", user="fatima")
    by_lot = {r["lot_id"]: r for r in labels_rows(shop)}
    assert by_lot[local]["origin_decision"] is not None
    assert by_lot[abroad]["origin_decision"] is None
    assert {r["site_id"] for r in labels_rows(shop)} == {"SITE-1"}
    shop.ok("audit", "verify", "--reconcile", user="youssef")
