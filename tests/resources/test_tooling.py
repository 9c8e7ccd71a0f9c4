"""Tools under control: use counted by the steps, limits and maintenance at the op."""

from __future__ import annotations

import json

from mes.ingest.euromap63 import synthetic_report, write_report
from tests.conftest import Workspace, assert_unchanged, sql
from tests.foundation.helpers import complete_args, load_paste, new_lot
from tests.process.helpers import ENC, lot_at, routing


def tool(ws: Workspace, tool_id: str) -> dict:
    return dict(json.loads(ws.ok("tool", "show", tool_id, "--json").out))


def print_board(ws: Workspace, stencil: str = "ST-9"):
    lot, _ = new_lot(ws, qty=1)
    return lot, ws.mes(*complete_args(ws, lot, 10, stencil_id=stencil), user="fatima")


def test_a_stencil_is_refused_when_due_for_maintenance_or_past_its_life(plant: Workspace
                                                                         ) -> None:
    plant.ok("tool", "add", "ST-9", "--kind", "stencil", "--life", 3,
             "--maintenance-every", 2, user="tarik")
    load_paste(plant)
    for _ in range(2):
        assert print_board(plant)[1].code == 0
    assert tool(plant, "ST-9")["uses"] == 2
    lot, _ = new_lot(plant, qty=1)
    before = plant.dump()
    r = plant.mes(*complete_args(plant, lot, 10, stencil_id="ST-9"), user="fatima")
    assert r.code == 4 and "due for maintenance" in r.err and "mes tool maintain" in r.err
    assert_unchanged(plant, before)
    r = plant.mes("tool", "maintain", "ST-9", "--note", "cleaned", user="fatima")
    assert r.code == 6
    plant.ok("tool", "maintain", "ST-9", "--note", "cleaned, apertures inspected",
             user="tarik")
    assert sql(plant, "SELECT meaning FROM signatures WHERE record_type = "
               "'tool-maintenance'") == [("authored",)]
    plant.ok(*complete_args(plant, lot, 10, stencil_id="ST-9"), user="fatima")
    lot, _ = new_lot(plant, qty=1)
    before = plant.dump()
    r = plant.mes(*complete_args(plant, lot, 10, stencil_id="ST-9"), user="fatima")
    assert r.code == 4 and "past its life limit (3 of 3 uses)" in r.err
    assert_unchanged(plant, before)
    t = tool(plant, "ST-9")
    assert [u["count"] for u in t["used_in"]] == [1, 1, 1] and t["life_left"] == 0
    assert [m["uses_at"] for m in t["maintenance"]] == [2]


def test_bad_tools_are_refused_and_change_nothing(plant: Workspace) -> None:
    before = plant.dump()
    for args, code, words in [
        (["ST-1", "--kind", "stencil", "--life", 0], 5, "--life"),
        (["MX-1", "--kind", "mold", "--life", 10], 5, "--cavities"),
        (["ST-1", "--kind", "hammer", "--life", 10], 5, "--kind"),
        (["M-ENC-01", "--kind", "mold", "--life", 10, "--cavities", 4], 4, "already"),
    ]:
        r = plant.mes("tool", "add", *args, user="tarik")
        assert r.code == code and r.err.startswith("mes:") and words in r.err, r
        assert_unchanged(plant, before)
    r = plant.mes("tool", "add", "ST-1", "--kind", "stencil", "--life", 10, user="fatima")
    assert r.code == 6
    assert plant.mes("tool", "show", "NOPE").code == 3


def _report(ws: Workspace, shots: int):
    op = next(o for o in routing(ws, ENC)["operations"] if o.get("molding"))
    window = {s["euromap"]: (s["min"], s["max"]) for s in op["data"] if s.get("euromap")}
    cols, rows = synthetic_report(shots, seed=3, window=window)
    path = ws.path / f"REPORTS-{shots}.DAT"
    write_report(path, cols, rows)
    return path


def test_molding_counts_shots_and_the_mold_is_in_the_dhr(plant: Workspace) -> None:
    lot, _ = lot_at(plant, ENC, 20, 400)
    plant.ok("molding", "import", lot, "--station", "IMM-2", "--report", _report(plant, 100),
             user="fatima")
    assert tool(plant, "M-ENC-01")["uses"] == 100
    d = json.loads(plant.ok("dhr", lot, "--json", user="youssef").out)
    assert [(t["tool"], t["kind"], t["cavities"], t["count"]) for t in d["tooling"]] == \
        [("M-ENC-01", "mold", 4, 100)]


def test_a_mold_past_its_shot_life_is_refused(plant: Workspace) -> None:
    lot, _ = lot_at(plant, ENC, 20, 400)
    sql(plant, "UPDATE tools SET uses = life_limit WHERE id = 'M-ENC-01'")
    before = plant.dump()
    r = plant.mes("molding", "import", lot, "--station", "IMM-2", "--report",
                  _report(plant, 100), user="fatima")
    assert r.code == 4 and "M-ENC-01 is past its life limit" in r.err
    assert_unchanged(plant, before)


def test_a_routing_mold_must_be_registered(plant: Workspace) -> None:
    lot, _ = lot_at(plant, ENC, 20, 400)
    sql(plant, "DELETE FROM tools WHERE id = 'M-ENC-01'")
    before = plant.dump()
    r = plant.mes("molding", "import", lot, "--station", "IMM-2", "--report",
                  _report(plant, 10), user="fatima")
    assert r.code == 4 and "not registered" in r.err and "mes tool add" in r.err
    assert_unchanged(plant, before)
