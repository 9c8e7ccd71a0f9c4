"""IPC-CFX message import through the CLI (IPC-1782 traceability, DESIGN §9)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import Workspace
from tests.process.helpers import PCBA, assert_unchanged, receive, sql

DATA = Path(__file__).parents[1] / "data" / "cfx"
REFLOW_MAP = ["--map", "peak_temperature=peak_temp_c", "--map", "time_above_liquidus=tal_s",
              "--map", "conveyor_speed=conveyor_speed_cm_min"]


def copy(ws: Workspace, name: str, replace: dict[str, str] | None = None,
         target: str | None = None) -> Path:
    """A test copy of a sample message with our serials and material ids."""
    text = (DATA / name).read_text()
    for old, new in (replace or {}).items():
        text = text.replace(old, new)
    path = ws.path / (target or name)
    path.write_text(text)
    return path


@pytest.fixture
def pcba(plant: Workspace) -> tuple[Workspace, list[str], dict[str, str]]:
    """A 2-board PCBA lot (PB-000001, PB-000002) at op 30 with the reels loaded."""
    from tests.process.helpers import load_materials, new_lot

    materials = load_materials(plant, PCBA)
    lot, serials = new_lot(plant, PCBA, 2)
    assert serials == ["PB-000001", "PB-000002"]
    from tests.process.helpers import advance

    advance(plant, lot, PCBA, 30)
    return plant, serials, materials


def lot_of(ws: Workspace) -> str:
    return str(sql(ws, "SELECT lot_id FROM units WHERE serial = 'PB-000001'")[0][0])


def installs_for(materials: dict[str, str]) -> dict[str, str]:
    """The sample's reel ids and internal part numbers replaced by this plant's."""
    return {"R-000123": materials["RES-10K-0402"], "R-000187": materials["MCU-STM32L432"],
            "RES-0402-10K-1%": "RES-10K-0402", "MCU-STM32L476RG": "MCU-STM32L432"}


def test_materials_installed(pcba: tuple[Workspace, list[str], dict[str, str]]) -> None:
    ws, _serials, materials = pcba
    path = copy(ws, "materials_installed.json", installs_for(materials))
    res = materials["RES-10K-0402"]
    left = sql(ws, "SELECT remaining FROM material_lots WHERE id = ?", (res,))[0][0]
    r = ws.ok("cfx", "import", path, "--station", "PNP-1", user="fatima")
    assert "applied MaterialsInstalled" in r.out and "3 installs" in r.out, r
    edges = sql(ws, "SELECT parent, child, qty, op, refdes, feeder, station_id FROM edges "
                "WHERE step_id IS NULL ORDER BY id")
    assert edges[0] == ("PB-000001", res, 3.0, 30, "R1,R2,R7", "SLOT12 (FDR-08-0412)", "PNP-1")
    assert edges[1][:5] == ("PB-000001", materials["MCU-STM32L432"], 1.0, 30, "U1")
    assert edges[2][:2] == ("PB-000002", res)
    assert sql(ws, "SELECT remaining FROM material_lots WHERE id = ?", (res,))[0][0] == left - 6
    msg = sql(ws, "SELECT unique_id, kind, name, sha256, raw FROM machine_messages")
    assert msg[0][:3] == ("cfx:6f1c2a9e-3b7d-4e21-9c55-0a4de8f1b201", "cfx",
                          "CFX.Production.Assembly.MaterialsInstalled")
    assert json.loads(msg[0][4])["UniqueID"] == "6f1c2a9e-3b7d-4e21-9c55-0a4de8f1b201"
    # Idempotent: the same message again (here inside a JSON-lines batch) is skipped.
    before = ws.dump()
    r = ws.ok("cfx", "import", path, "--station", "PNP-1", user="fatima")
    assert "skipped 6f1c2a9e" in r.err and "already imported" in r.err, r
    assert_unchanged(ws, before)


def test_material_interlocks(pcba: tuple[Workspace, list[str], dict[str, str]]) -> None:
    ws, _serials, materials = pcba
    held = materials["RES-10K-0402"]
    quarantined = ws.ok("material", "receive", "RES-10K-0402", "--qty", 100,
                        user="fatima").out.split()[1]
    resin = receive(ws, "RESIN-PC2458", 25)
    cases = [
        ({"R-000123": quarantined, "R-000187": materials["MCU-STM32L432"]}, 4, "not released"),
        ({"R-000123": "R-999999", "R-000187": materials["MCU-STM32L432"]}, 3, "receive it"),
        ({"R-000123": resin, "R-000187": materials["MCU-STM32L432"]}, 4,
         "consumes RESIN-PC2458 at no op"),
        ({"R-000123": materials["PASTE-SAC305"], "R-000187": materials["MCU-STM32L432"]}, 4,
         "smt-printer station"),
        ({"R-000123": held, "PB-000002": "PB-000009"}, 3, "PB-000009"),
    ]
    for replace, code, text in cases:
        path = copy(ws, "materials_installed.json", {**installs_for(materials), **replace},
                    target="case.json")
        before = ws.dump()
        r = ws.mes("cfx", "import", path, "--station", "PNP-1", user="fatima")
        assert r.code == code and text in r.err, r
        assert_unchanged(ws, before)
    # Wrong station type for the consuming op.
    path = copy(ws, "materials_installed.json", installs_for(materials), target="ok.json")
    before = ws.dump()
    r = ws.mes("cfx", "import", path, "--station", "AOI-1", user="fatima")
    assert r.code == 4 and "smt-pnp station" in r.err, r
    assert_unchanged(ws, before)


def test_units_processed_and_inspected(pcba: tuple[Workspace, list[str], dict[str, str]]
                                       ) -> None:
    ws, _serials, _materials = pcba
    from tests.process.helpers import advance

    advance(ws, lot_of(ws), PCBA, 40, from_op=30)
    path = copy(ws, "units_processed.json")
    r = ws.mes("cfx", "import", path, "--station", "REFLOW-1", user="fatima")
    assert r.code == 5 and "--map" in r.err and "peak_temp_c" in r.err, r  # nothing named so
    ws.ok("cfx", "import", path, "--station", "REFLOW-1", *REFLOW_MAP, user="fatima")
    steps = sql(ws, "SELECT serial, status, data, source FROM steps WHERE op = 40 ORDER BY id")
    assert [(s, st) for s, st, _, _ in steps] == [("PB-000001", "passed"),
                                                  ("PB-000002", "passed")]
    assert json.loads(steps[0][2]) == {"peak_temp_c": 243.8, "tal_s": 62.5,
                                       "conveyor_speed_cm_min": 75.0}
    assert steps[0][3] == "cfx:e2c4a6f8-1b3d-4e5f-8a9b-0c1d2e3f4a5b"
    # AOI: PB-000001 passes, PB-000002 fails (tombstone) and goes on hold.
    ws.ok("cfx", "import", copy(ws, "units_inspected.json"), "--station", "AOI-1", "--map",
          "defect_count=defects", user="fatima")
    got = sql(ws, "SELECT serial, status, result FROM steps WHERE op = 50 ORDER BY serial")
    assert got == [("PB-000001", "passed", "pass"), ("PB-000002", "failed", "fail")]
    assert sql(ws, "SELECT serial, on_hold FROM units ORDER BY serial") == [
        ("PB-000001", 0), ("PB-000002", 1)]


def test_stops_at_first_refused_message(pcba: tuple[Workspace, list[str], dict[str, str]]
                                        ) -> None:
    ws, _serials, materials = pcba
    good = json.loads(copy(ws, "materials_installed.json", installs_for(materials)).read_text())
    bad = json.loads(json.dumps(good).replace(materials["RES-10K-0402"], "R-999999"))
    bad["UniqueID"] = "00000000-0000-0000-0000-000000000002"
    later = dict(good, UniqueID="00000000-0000-0000-0000-000000000003")
    batch = ws.path / "batch.json"
    batch.write_text(json.dumps([good, bad, later]))
    r = ws.mes("cfx", "import", batch, "--station", "PNP-1", user="fatima")
    assert r.code == 3 and "R-999999" in r.err and "1 later messages not attempted" in r.err, r
    assert "applied MaterialsInstalled 6f1c2a9e" in r.out
    ids = [u for (u,) in sql(ws, "SELECT unique_id FROM machine_messages")]
    assert ids == ["cfx:6f1c2a9e-3b7d-4e21-9c55-0a4de8f1b201"]
    assert sql(ws, "SELECT count(*) FROM edges WHERE step_id IS NULL") == [(3,)]


def test_malformed_file_applies_nothing(pcba: tuple[Workspace, list[str], dict[str, str]]
                                        ) -> None:
    ws, _serials, materials = pcba
    good = copy(ws, "materials_installed.json", installs_for(materials))
    for name in ("truncated.json", "missing_overall_result.json", "unsupported_message.json"):
        before = ws.dump()
        r = ws.mes("cfx", "import", good, DATA / name, "--station", "PNP-1", user="fatima")
        assert r.code == 5 and "Traceback" not in r.err, r
        assert_unchanged(ws, before)


def test_import_needs_the_role(pcba: tuple[Workspace, list[str], dict[str, str]]) -> None:
    ws, _serials, materials = pcba
    path = copy(ws, "materials_installed.json", installs_for(materials))
    r = ws.mes("cfx", "import", path, "--station", "PNP-1", user="youssef")
    assert r.code == 6, r
    assert sql(ws, "SELECT count(*) FROM machine_messages") == [(0,)]


def test_hold_committed_after_the_plan_refuses_the_install(
        pcba: tuple[Workspace, list[str], dict[str, str]],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The installs are checked when planned and again inside the write transaction: a
    hold that another station commits in between refuses the message."""
    import mes.services.cfx as cfx_service

    ws, _serials, materials = pcba
    path = copy(ws, "materials_installed.json", installs_for(materials))
    planned = cfx_service._plan_installs

    def plan_then_hold(*args: object, **kwargs: object) -> object:
        plan = planned(*args, **kwargs)  # type: ignore[arg-type]
        sql(ws, "UPDATE units SET on_hold = 1, hold_reason = 'dropped meanwhile' "
            "WHERE serial = 'PB-000002'")  # another station, committed
        return plan

    monkeypatch.setattr(cfx_service, "_plan_installs", plan_then_hold)
    before = sql(ws, "SELECT count(*) FROM edges")
    r = ws.mes("cfx", "import", path, "--station", "PNP-1", user="fatima")
    assert r.code == 4 and "on hold (dropped meanwhile)" in r.err, r
    assert sql(ws, "SELECT count(*) FROM edges") == before
    assert sql(ws, "SELECT count(*) FROM machine_messages") == [(0,)]


def test_same_message_imported_meanwhile_is_refused_not_an_internal_error(
        pcba: tuple[Workspace, list[str], dict[str, str]],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Two stations importing one file at once: the second finds the message recorded when
    it writes, and says so (exit 4) instead of failing on the unique key."""
    import mes.services.cfx as cfx_service

    ws, _serials, materials = pcba
    path = copy(ws, "materials_installed.json", installs_for(materials))
    planned = cfx_service._plan_installs
    other = Workspace(ws.path)

    def plan_then_other_station_imports(*args: object, **kwargs: object) -> object:
        plan = planned(*args, **kwargs)  # type: ignore[arg-type]
        monkeypatch.setattr(cfx_service, "_plan_installs", planned)
        assert other.mes("cfx", "import", path, "--station", "PNP-1", user="fatima").code == 0
        return plan

    monkeypatch.setattr(cfx_service, "_plan_installs", plan_then_other_station_imports)
    r = ws.mes("cfx", "import", path, "--station", "PNP-1", user="fatima")
    assert r.code == 4 and "imported meanwhile" in r.err, r
    assert sql(ws, "SELECT count(*) FROM machine_messages") == [(1,)]
    assert sql(ws, "SELECT count(*) FROM edges WHERE step_id IS NULL") == [(3,)]
