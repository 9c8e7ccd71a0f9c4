"""Planning corrections that need a signature (issue 12): a lot no step was recorded on can
be cancelled (e.g. stranded on a superseded routing) or get a new planned quantity."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import Workspace
from tests.foundation.helpers import (
    PCBA,
    assert_only_denied,
    assert_unchanged,
    audit_actions,
    complete_args,
    load_paste,
    new_lot,
    sql,
)
from tests.foundation.test_routings import modified_pcba


def test_a_lot_on_a_superseded_routing_is_cancelled_signed(plant: Workspace,
                                                           tmp_path: Path) -> None:
    ws = plant
    lot, serials = new_lot(ws, PCBA, 2)
    ws.ok("routing", "load", modified_pcba(tmp_path), user="tarik")
    ws.ok("routing", "approve", PCBA, "--version", 2, user="youssef")  # v1 superseded
    before = ws.dump()
    assert ws.mes("lot", "cancel", lot, "--reason", " ", user="youssef").code == 5
    assert_unchanged(ws, before)
    r = ws.mes("lot", "cancel", lot, "--reason", "v1 superseded", user="fatima")
    assert r.code == 6 and "may not cancel lots" in r.err, r
    assert_only_denied(ws, before)
    r = ws.ok("lot", "cancel", lot, "--reason", "v1 superseded", user="youssef")
    assert r.out.strip() == f"lot {lot} cancelled with its 2 units: v1 superseded"
    shown = json.loads(ws.ok("lot", "show", lot, "--json").out)
    assert shown["status"] == "cancelled"
    assert {u["status"] for u in shown["units"]} == {"cancelled"}
    assert [s["meaning"] for s in shown["signatures"]] == ["cancelled"]
    assert audit_actions(ws)[-4:] == ["unit.cancel", "unit.cancel", "lot.cancel", "signature"]
    r = ws.mes(*complete_args(ws, serials[0], 10), user="fatima")
    assert r.code == 4 and "cancelled" in r.err, r
    assert "records match" in ws.ok("audit", "verify", "--reconcile").out


def test_a_lot_under_way_is_not_cancelled(plant: Workspace) -> None:
    ws = plant
    load_paste(ws)
    lot, serials = new_lot(ws, PCBA, 2)
    ws.ok(*complete_args(ws, serials[0], 10), user="fatima")
    before = ws.dump()
    r = ws.mes("lot", "cancel", lot, "--reason", "x", user="youssef")
    assert r.code == 4 and "1 step record(s)" in r.err and "open an NCR" in r.err, r
    r = ws.mes("lot", "adjust", lot, "--qty", 5, "--reason", "x", user="youssef")
    assert r.code == 4, r
    assert_unchanged(ws, before)


def test_planned_quantity_adjusted_signed(plant: Workspace) -> None:
    ws = plant
    lot, serials = new_lot(ws, PCBA, 2)
    before = ws.dump()
    r = ws.mes("lot", "adjust", lot, "--qty", 1, "--reason", "order cut", user="youssef")
    assert r.code == 4 and "cannot shrink" in r.err and "mes lot cancel" in r.err, r
    assert_unchanged(ws, before)
    r = ws.ok("lot", "adjust", lot, "--qty", 4, "--reason", "order raised", user="youssef")
    lines = r.out.splitlines()
    assert lines[0] == f"lot {lot}: qty 2 → 4: order raised"
    added = lines[1:]
    assert len(added) == 2 and not set(added) & set(serials)
    assert sql(ws, "SELECT qty FROM lots WHERE id = ?", (lot,)) == [(4,)]
    assert sql(ws, "SELECT count(*) FROM units WHERE lot_id = ? AND status = 'in_process'",
               (lot,)) == [(4,)]
    assert "records match" in ws.ok("audit", "verify", "--reconcile").out
