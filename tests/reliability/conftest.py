"""A plant for the reliability tests: built once per session, copied for each test.

Same steps as the `workspace` + `plant` fixtures of tests/conftest.py, plus the SMT
materials loaded: paste on PRN-1 (slot P1) and the nine pick-and-place reels on PNP-1.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import (
    STATIONS,
    TEST_EPOCH,
    USERS,
    Workspace,
    equip_plant,
    init_workspace,
    valid_value,
)
from tests.postgres.server import PgServer

PCBA = "PCBA-OXI-100"
PNP_PARTS = ("PCB-OXI-100", "CAP-100N-0402", "CAP-1U-0402", "CAP-10U-0603", "RES-10K-0402",
             "RES-4K7-0402", "MCU-STM32L432", "AFE-MAX30101", "BLE-NRF52832")
STATION_OF_TYPE = {stype: sid for sid, stype in STATIONS.items()}
OPERATORS = ("fatima", "tarik")  # step.record: operator, technician (both qualified)


def init_plant(ws: Workspace) -> dict[str, Any]:
    init_workspace(ws, [*USERS, ("omar", "operator", "Omar Chraibi")])
    equip_plant(ws, OPERATORS)
    materials: dict[str, str] = {}

    def receive(part: str, qty: float, station: str, slot: str) -> None:
        out = ws.ok("material", "receive", part, "--qty", qty, "--supplier", "Acme",
                    "--supplier-lot", f"SL-{part[:10]}", user="fatima").out
        mid = out.split()[1]
        if "quarantine" in out:
            ws.ok("material", "release", mid, user="youssef")
        ws.ok("station", "load", station, mid, "--slot", slot, user="fatima")
        materials[part] = mid

    receive("PASTE-SAC305", 100_000, "PRN-1", "P1")
    for i, part in enumerate(PNP_PARTS):
        receive(part, 1_000_000, "PNP-1", f"F{i + 1}")
    routing = json.loads(ws.ok("routing", "show", PCBA, "--json", user="tarik").out)
    return {"materials": materials, "routing": routing}


@pytest.fixture(scope="session")
def plant_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    path = tmp_path_factory.mktemp("reliability-plant")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MES_HOME", str(path))
        mp.delenv("MES_DB", raising=False)
        mp.delenv("MES_DATABASE_URL", raising=False)
        mp.chdir(path)
        info = init_plant(Workspace(path))
    return path, info


@pytest.fixture
def rplant(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
           plant_template: tuple[Path, dict[str, Any]]
           ) -> Iterator[tuple[Workspace, dict[str, Any]]]:
    """A private copy of the reliability plant: (workspace, info)."""
    src, info = plant_template
    ws_path = tmp_path / "plant"
    shutil.copytree(src, ws_path)
    monkeypatch.setenv("MES_HOME", str(ws_path))
    monkeypatch.delenv("MES_DB", raising=False)
    monkeypatch.delenv("MES_DATABASE_URL", raising=False)
    monkeypatch.chdir(ws_path)
    yield Workspace(ws_path), info


@pytest.fixture
def pg_rplant(rplant: tuple[Workspace, dict[str, Any]], pg_server: PgServer
              ) -> Iterator[tuple[Workspace, dict[str, Any]]]:
    """The reliability plant moved to a fresh PostgreSQL database with `mes db copy` (the
    way a site moves to the plant server); the workspace's commands go to the server."""
    ws, info = rplant
    name = pg_server.new_database()
    url = pg_server.url(name)
    ws.ok("db", "copy", "--from", ws.db, "--to", url, user="amina")
    yield Workspace(ws.path, db_url=url), info
    pg_server.drop_database(name)


# -- shared helpers ---------------------------------------------------------------------------



def step_args(routing: dict[str, Any], scan: str, op_no: int) -> list[str]:
    op = next(o for o in routing["operations"] if o["op"] == op_no)
    args = ["step", "complete", scan, "--op", str(op_no), "--station",
            STATION_OF_TYPE[op["station_type"]], "--result", "pass"]
    for spec in op["data"]:
        if spec["required"]:
            args += ["--data", f"{spec['name']}={valid_value(spec)}"]
    return args


def manual_ops(routing: dict[str, Any]) -> list[int]:
    """The ops a station records with `mes step complete` (not the flash op)."""
    return [o["op"] for o in routing["operations"] if not o.get("flash")]


def worker_env(home: Path, db: str | Path) -> dict[str, str]:
    """The environment of a station process: its own home (session file), the database
    (a SQLite file or a postgresql:// URL)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("MES_") or k == "MES_TEST_CLOCK"}  # the test's calendar
    env.update({"MES_HOME": str(home), "MES_DB": str(db), "PYTHONDONTWRITEBYTECODE": "1"})
    return env


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo plant (`mes demo`, 2 units) plus an open NCR: a row in every record table
    (issue 13's coverage test) and every kind of file mes writes. Copy it, never edit it."""
    from mes.cli.demo import Demo, run_demo

    path = tmp_path_factory.mktemp("demo-plant") / "plant"
    with pytest.MonkeyPatch.context() as mp:  # on the session's test clock
        mp.chdir(tmp_path_factory.getbasetemp())
        mp.delenv("MES_DB", raising=False)
        mp.delenv("MES_DATABASE_URL", raising=False)
        # set before run_demo (which sets it too), so that leaving the context restores
        # the session's value: the demo plant must not stay every later test's workspace
        mp.setenv("MES_HOME", str(path))
        run_demo(path, units=2, quiet=True)
        demo = Demo(path, quiet=True)
        for user, argv in DEMO_EXTRA:  # the demo's users and passwords
            demo.mes(*[a.format(unit=_in_process_unit(path)) for a in argv], user=user)
        _fill_through_the_store(path)
    return path


def _fill_through_the_store(path: Path) -> None:
    """Rows for the record tables the demo's commands do not reach (containers need GS1
    settings and unshipped labelled units, print jobs a printer, SPC signals approved
    limits and a drifting process), written through the store's covered helpers as those
    commands do: the coverage test then edits every column of them like any other row.
    The commands themselves are exercised in tests/packing, tests/printing, tests/spc."""
    from mes.store.sqlite import SqliteStore

    store = SqliteStore(path / "mes.db")
    t = (TEST_EPOCH + timedelta(hours=1)).isoformat(timespec="microseconds")  # test calendar
    try:
        with store.transaction() as tx:
            shipment = tx.scalar("SELECT min(id) FROM shipments")
            lot = tx.scalar("SELECT min(id) FROM lots")
            site = tx.scalar("SELECT id FROM sites")
            sscc = "061112340000000019"
            tx.claim_id(sscc, "container")
            tx.insert("containers", {"sscc": sscc, "level": "box", "part": "DEV-OXI-100",
                                     "capacity": 10, "status": "shipped", "site_id": site,
                                     "created_at": t, "created_by": "fatima",
                                     "closed_at": t, "shipped_at": t})
            tx.insert("container_contents", {"sscc": sscc, "item_id": "SN-COVER-1",
                                             "item_kind": "unit", "lot_id": lot,
                                             "packed_at": t, "packed_by": "fatima",
                                             "removed_at": t, "removed_by": "tarik",
                                             "removal_reason": "dented"})
            tx.insert("shipment_containers", {"shipment_id": shipment, "sscc": sscc})
            tx.insert("print_jobs", {"file": "labels/x.pdf", "printer": "LABELS",
                                     "job_id": "7", "state": "completed", "reasons": "none",
                                     "labels": 1, "sent_at": t, "finished_at": t,
                                     "username": "fatima"})
            tx.insert("recalls", {"id": "RC-COVER", "start_item": lot, "reason": "notice",
                                  "status": "closed", "held": "[]", "scope": "{}",
                                  "opened_by": "youssef", "opened_at": t,
                                  "closed_by": "youssef", "closed_at": t,
                                  "close_reason": "done"})
            tx.insert("spc_limits", {"characteristic": "REFLOW-PEAK", "version": 1,
                                     "status": "approved", "chart": "I-MR", "subgroup_n": 1,
                                     "center": 243.0, "sigma": 1.5, "spread_center": 1.7,
                                     "spread_lcl": 0.0, "spread_ucl": 5.5, "study": "{}",
                                     "reason": "PQ", "set_by": "tarik", "set_at": t,
                                     "approved_by": "youssef", "approved_at": t})
            tx.insert("spc_signals", {"characteristic": "REFLOW-PEAK", "limits_version": 1,
                                      "subgroup": 3, "chart": "I", "rule_set": "nelson",
                                      "rule": 1, "stat": 251.0, "action": "alert",
                                      "lot_id": lot, "units": "[]", "station_id": "REFLOW-1",
                                      "step_id": 1, "ncr_id": "NCR-0001", "at": t})
    finally:
        store.close()


# Commands run after the demo so every record table has a row: (user, argv); `{unit}` is
# a unit still in process.
DEMO_EXTRA: list[tuple[str, list[str]]] = [
    ("fatima", ["ncr", "open", "{unit}", "--description", "scratched window"]),
    # issue 18: a calibration record and a tool's maintenance (signed, by a technician)
    ("tarik", ["station", "calibrate", "PRN-1", "--certificate", "CAL-COVER", "--result",
               "pass", "--due", "2027-06-30"]),
    ("tarik", ["tool", "maintain", "M-ENC-01", "--note", "vents cleaned"]),
]


def _in_process_unit(path: Path) -> str:
    import sqlite3

    con = sqlite3.connect(path / "mes.db")
    try:
        return str(con.execute("SELECT serial FROM units WHERE status = 'in_process' "
                               "ORDER BY serial LIMIT 1").fetchone()[0])
    finally:
        con.close()
