"""Moisture-sensitive reels (J-STD-033): floor life from the catalog's MSL, exposure clock."""

from __future__ import annotations

import json
from datetime import timedelta

from tests.conftest import Workspace, assert_unchanged, sql
from tests.foundation.helpers import complete_args, load_pnp_reels, pcba_at, receive
from tests.process.test_cfx import copy

MCU = "MCU-STM32L432"  # MSL 3 in routings/catalog.yaml: 168 h floor life


def floor_left(ws: Workspace, mid: str) -> float:
    rows = json.loads(ws.ok("material", "list", "--part", MCU, "--json").out)
    return float(next(r for r in rows if r["id"] == mid)["floor_life_left_h"])


def test_load_opens_the_dry_pack_and_shows_the_floor_life(plant: Workspace, test_clock
                                                          ) -> None:
    mid = receive(plant, MCU, 100)
    assert floor_left(plant, mid) == 168
    r = plant.ok("station", "load", "PNP-1", mid, "--slot", "F7", user="fatima")
    assert "MSL 3: 168 h of floor life left" in r.out
    assert sql(plant, "SELECT event, source FROM material_moisture") == \
        [("open", "station load")]
    test_clock.advance(timedelta(hours=10))
    assert 157.9 < floor_left(plant, mid) < 158.1


def test_past_floor_life_load_and_consumption_are_refused(plant: Workspace, test_clock
                                                          ) -> None:
    lot, _ = pcba_at(plant, 30)
    load_pnp_reels(plant)
    spare = receive(plant, MCU, 100)
    plant.ok("material", "open", spare, user="fatima")
    test_clock.advance(timedelta(hours=169))
    before = plant.dump()
    r = plant.mes("station", "load", "PNP-1", spare, "--slot", "F20", user="fatima")
    assert r.code == 4 and "past its floor life" in r.err and "mes material bake" in r.err
    assert_unchanged(plant, before)
    r = plant.mes(*complete_args(plant, lot, 30), user="fatima")
    assert r.code == 4 and "past its floor life" in r.err and "MSL 3" in r.err, r
    assert_unchanged(plant, before)


def test_seal_and_dry_storage_pause_the_clock_and_a_bake_resets_it(plant: Workspace,
                                                                   test_clock) -> None:
    mid = receive(plant, MCU, 100)
    plant.ok("material", "open", mid, user="fatima")
    test_clock.advance(timedelta(hours=100))
    plant.ok("material", "seal", mid, user="fatima")
    test_clock.advance(timedelta(hours=500))
    plant.ok("material", "open", mid, user="fatima")
    test_clock.advance(timedelta(hours=30))
    plant.ok("material", "dry", mid, user="fatima")
    assert 37.9 < floor_left(plant, mid) < 38.1
    plant.ok("material", "open", mid, user="fatima")
    test_clock.advance(timedelta(hours=40))
    assert floor_left(plant, mid) < 0
    plant.ok("material", "bake", mid, user="tarik")
    assert floor_left(plant, mid) == 168
    plant.ok("station", "load", "PNP-1", mid, "--slot", "F7", user="fatima")


def test_moisture_events_follow_the_pack_state(plant: Workspace) -> None:
    mid = receive(plant, MCU, 100)
    res = receive(plant, "RES-10K-0402", 100)
    before = plant.dump()
    for args, code, words in [(["seal", mid], 4, "is not open"),
                              (["open", res], 4, "no MSL"),
                              (["open", "R-999999"], 3, "not known")]:
        r = plant.mes("material", *args, user="fatima")
        assert r.code == code and words in r.err, r
        assert_unchanged(plant, before)
    plant.ok("material", "open", mid, user="fatima")
    assert plant.mes("material", "open", mid, user="fatima").code == 4


def _installed(ws: Workspace, materials: dict[str, str], at: str, uid: str):
    return copy(ws, "materials_installed.json", {
        "R-000123": materials["RES-10K-0402"], "R-000187": materials[MCU],
        "RES-0402-10K-1%": "RES-10K-0402", "MCU-STM32L476RG": MCU,
        "2026-11-23T14:03:22.1091909+01:00": at,
        "6f1c2a9e-3b7d-4e21-9c55-0a4de8f1b201": uid}, target=f"{uid}.json")


def test_cfx_install_is_judged_at_the_machines_time(plant: Workspace, test_clock) -> None:
    from tests.process.helpers import PCBA, advance, load_materials, new_lot

    materials = load_materials(plant, PCBA)
    lot, _ = new_lot(plant, PCBA, 2)
    advance(plant, lot, PCBA, 30)
    opened = sql(plant, "SELECT at FROM material_moisture WHERE material_id = ?",
                 (materials[MCU],))[0][0]
    from datetime import datetime

    t0 = datetime.fromisoformat(opened)
    test_clock.advance(timedelta(hours=200))  # imported late: past floor life now
    late = _installed(plant, materials, (t0 + timedelta(hours=170)).isoformat(),
                      "aaaaaaaa-0000-4000-8000-000000000002")
    before = plant.dump()
    r = plant.mes("cfx", "import", late, "--station", "PNP-1", user="fatima")
    assert r.code == 4 and "past its floor life at" in r.err, r
    assert_unchanged(plant, before)
    in_time = _installed(plant, materials, (t0 + timedelta(hours=100)).isoformat(),
                         "aaaaaaaa-0000-4000-8000-000000000001")
    r = plant.ok("cfx", "import", in_time, "--station", "PNP-1", user="fatima")
    assert "applied MaterialsInstalled" in r.out


def test_msl_exposure_is_in_the_dhr(plant: Workspace) -> None:
    lot, _ = pcba_at(plant, 40, qty=1)
    d = json.loads(plant.ok("dhr", lot, "--json", user="youssef").out)
    rows = [r for r in d["moisture"] if r["part"] == MCU]
    assert len(rows) == 1 and rows[0]["msl"] == "3" and rows[0]["floor_life_h"] == 168
    assert 0 <= rows[0]["exposed_h"] < 1
