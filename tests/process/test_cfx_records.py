"""IPC-CFX records that are right (issue 11 item 6): the reported part matches the reel, a
reused UniqueID is a conflict, installs never silently stand for the whole BOM line, and a
refused import says so in one line."""

from __future__ import annotations

import json

from tests.conftest import Workspace
from tests.process.helpers import PCBA, assert_unchanged, routing, sql
from tests.process.test_cfx import copy, installs_for, lot_of
from tests.process.test_cfx import pcba as pcba  # the fixture

Fixture = tuple[Workspace, list[str], dict[str, str]]


def _one_refusal_line(err: str) -> None:
    assert len(err.splitlines()) == 1 and err.startswith("mes: "), err


def test_reported_part_must_be_the_reels_part(pcba: Fixture) -> None:
    ws, _serials, materials = pcba
    replace = {**installs_for(materials), "RES-0402-10K-1%": "RES-4K7-0402"}
    path = copy(ws, "materials_installed.json", replace, target="wrong_part.json")
    before = ws.dump()
    r = ws.mes("cfx", "import", path, "--station", "PNP-1", user="fatima")
    assert r.code == 4 and "RES-4K7-0402" in r.err and "reel of RES-10K-0402" in r.err, r
    _one_refusal_line(r.err)
    assert_unchanged(ws, before)


def test_unique_id_reused_with_other_content_is_refused(pcba: Fixture) -> None:
    ws, _serials, materials = pcba
    path = copy(ws, "materials_installed.json", installs_for(materials))
    ws.ok("cfx", "import", path, "--station", "PNP-1", user="fatima")
    # The same message re-indented is the same message: skipped.
    same = ws.path / "same.json"
    same.write_text(json.dumps(json.loads(path.read_text()), indent=4))
    before = ws.dump()
    r = ws.ok("cfx", "import", same, "--station", "PNP-1", user="fatima")
    assert "already imported" in r.err
    assert_unchanged(ws, before)
    # Same UniqueID, another quantity: a conflict, not a repeat.
    doc = json.loads(path.read_text())
    doc["MessageBody"]["InstalledMaterials"][0]["QuantityInstalled"] = 2.0
    other = ws.path / "other.json"
    other.write_text(json.dumps(doc))
    r = ws.mes("cfx", "import", other, "--station", "PNP-1", user="fatima")
    assert r.code == 4 and "with other content" in r.err and doc["UniqueID"] in r.err, r
    _one_refusal_line(r.err)
    assert_unchanged(ws, before)


def test_refused_batch_prints_one_line(pcba: Fixture) -> None:
    ws, _serials, materials = pcba
    good = json.loads(copy(ws, "materials_installed.json", installs_for(materials)).read_text())
    ws.ok("cfx", "import", ws.path / "materials_installed.json", "--station", "PNP-1",
          user="fatima")
    bad = json.loads(json.dumps(good).replace(materials["RES-10K-0402"], "R-999999"))
    bad["UniqueID"] = "00000000-0000-0000-0000-000000000002"
    later = dict(good, UniqueID="00000000-0000-0000-0000-000000000003")
    batch = ws.path / "batch.json"
    batch.write_text(json.dumps([good, bad, later]))
    before = ws.dump()
    r = ws.mes("cfx", "import", batch, "--station", "PNP-1", user="fatima")
    assert r.code == 3 and "R-999999" in r.err, r
    _one_refusal_line(r.err)
    assert "1 already imported" in r.err and "1 later messages not attempted" in r.err, r
    assert_unchanged(ws, before)


def _complete_op30(ws: Workspace, scan: str) -> list[object]:
    op = next(o for o in routing(ws, PCBA)["operations"] if o["op"] == 30)
    return ["step", "complete", scan, "--op", 30, "--station", "PNP-1", "--result", "pass",
            "--data", "program_rev=R7", "--data", "feeder_setup_verified=true"] if op else []


def _on_board(ws: Workspace, serial: str, material: str) -> float:
    return float(sql(ws, "SELECT coalesce(sum(qty), 0) FROM edges WHERE parent = ? AND "
                     "child = ? AND op = 30", (serial, material))[0][0])


def test_completing_after_installs_consumes_the_rest_of_the_bom_line(pcba: Fixture) -> None:
    ws, serials, materials = pcba
    ws.ok("cfx", "import", copy(ws, "materials_installed.json", installs_for(materials)),
          "--station", "PNP-1", user="fatima")
    res, mcu = materials["RES-10K-0402"], materials["MCU-STM32L432"]
    assert _on_board(ws, serials[0], res) == 3  # the machine placed 3 of the BOM's 6
    r = ws.ok(*_complete_op30(ws, lot_of(ws)), user="fatima")
    assert (f"RES-10K-0402: the machine reported 3 installed of 6 per unit; the rest (3) "
            f"consumed from {res}") in r.err, r
    # The MCU: placed on PB-000001 by the machine (not again), PB-000002 from the tray.
    assert "MCU-STM32L432: the machine reported PB-000001 1, PB-000002 0" in r.err, r
    for sn in serials:
        assert _on_board(ws, sn, res) == 6  # the whole BOM line, said
        assert _on_board(ws, sn, mcu) == 1
    ws.ok("audit", "verify", "--reconcile", user="youssef")


def test_units_installed_differently_each_get_their_rest(pcba: Fixture) -> None:
    ws, serials, materials = pcba
    doc = json.loads(copy(ws, "materials_installed.json", installs_for(materials)).read_text())
    doc["MessageBody"]["InstalledMaterials"].pop()  # PB-000002 gets no resistor
    path = ws.path / "partial.json"
    path.write_text(json.dumps(doc))
    ws.ok("cfx", "import", path, "--station", "PNP-1", user="fatima")
    res, mcu = materials["RES-10K-0402"], materials["MCU-STM32L432"]
    left = float(sql(ws, "SELECT remaining FROM material_lots WHERE id = ?", (res,))[0][0])
    r = ws.ok(*_complete_op30(ws, lot_of(ws)), user="fatima")
    assert "the machine reported PB-000001 3, PB-000002 0 installed of 6" in r.err, r
    assert "the rest (PB-000001 3, PB-000002 6)" in r.err, r
    for sn in serials:
        assert _on_board(ws, sn, res) == 6 and _on_board(ws, sn, mcu) == 1
    assert float(sql(ws, "SELECT remaining FROM material_lots WHERE id = ?",
                     (res,))[0][0]) == left - 9
    ws.ok("audit", "verify", "--reconcile", user="youssef")


def test_no_reel_for_the_rest_is_refused(pcba: Fixture) -> None:
    ws, _serials, materials = pcba
    ws.ok("cfx", "import", copy(ws, "materials_installed.json", installs_for(materials)),
          "--station", "PNP-1", user="fatima")
    # The resistor reel runs out on the line (counted, corrected to zero).
    res = materials["RES-10K-0402"]
    sql(ws, "UPDATE material_lots SET remaining = 0 WHERE id = ?", (res,))
    before = ws.dump()
    r = ws.mes(*_complete_op30(ws, lot_of(ws)), user="fatima")
    assert r.code == 4 and "consumes RES-10K-0402 (still to install" in r.err, r
    _one_refusal_line(r.err)
    assert_unchanged(ws, before)
