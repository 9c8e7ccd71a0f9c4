"""mes.store.bulk.BulkLoader (importers, the plant benchmark) on both backends: what it
loads is traced, verified and continued by the ordinary commands afterwards."""

from __future__ import annotations

import json

import pytest

from mes.errors import Refused
from mes.store import open_store
from mes.store.base import Store
from mes.store.bulk import COLUMNS, BulkLoader, _index_ddl
from tests.conftest import TEST_EPOCH, Workspace

BOTH = pytest.mark.parametrize("workspace", ["sqlite", "postgres"], indirect=True)
T = TEST_EPOCH.isoformat(timespec="microseconds")
LOT_PREFIX = TEST_EPOCH.strftime("L%y%m")  # lot ids are numbered per month of the clock
REEL = "R-900001"
LOT = f"{LOT_PREFIX}-9001"
SERIALS = [f"PB-9{k:05d}" for k in range(1, 4)]


def store_of(ws: Workspace) -> Store:
    return open_store(ws.db_url or str(ws.db))


def load(store: Store) -> list[int]:
    """A reel, a released PCBA lot of 3 boards, one pick-and-place step each (ids given),
    the reel edges and their audit events: the shape the benchmark loads by the million."""
    version = int(store.scalar("SELECT version FROM routings WHERE part = 'PCBA-OXI-100' "
                               "AND status = 'approved'"))
    site = store.scalar("SELECT id FROM sites")
    with BulkLoader(store, defer_indexes=("edges",), batch_size=2) as bl:
        step0 = bl.next_id("steps")
        ids = [step0 + k for k in range(len(SERIALS))]
        bl.items([(REEL, "material", T), (LOT, "lot", T)] + [(s, "unit", T) for s in SERIALS])
        bl.material_lots([(REEL, "CAP-100N-0402", "Arrow Electronics", "SL-1", None, "2601",
                           "2028-06-30", "CN", 0.004, "COC-1", 10000.0, 9997.0, "released",
                           T, "fatima")])
        bl.lots([(LOT, "PCBA-OXI-100", version, site, 3, 1, "released", 3, 0, 0.0, T,
                  "fatima", T, T)])
        bl.units([(s, LOT, "released", None, None) for s in SERIALS])
        bl.steps([(i, LOT, s, 30, "PNP-1", "fatima", T, T, "passed", "pass", "{}", 1, None)
                  for i, s in zip(ids, SERIALS, strict=True)])
        bl.edges([(s, REEL, 1.0, 30, i, "PNP-1", "C1", "F01", T)
                  for i, s in zip(ids, SERIALS, strict=True)])
        bl.audit([{"username": "fatima", "station": "PNP-1", "action": "step.complete",
                   "entity_type": "unit", "entity_id": s, "new": {"op": 30, "step": i}}
                  for i, s in zip(ids, SERIALS, strict=True)])
        bl.raise_counter("lot:2611", 9001)
    assert bl.counts["audit"] == 3 and bl.counts["edges"] == 3
    return ids


@BOTH
def test_bulk_loaded_rows_are_traced_verified_and_continued(workspace: Workspace,
                                                           plant: Workspace) -> None:
    store = store_of(plant)
    indexes = _index_ddl(store, "edges")
    ids = load(store)
    assert _index_ddl(store, "edges") == indexes  # deferred indexes are back
    # the next step recorded by the program gets an id after the loaded ones
    with store.transaction() as tx:
        new_id = tx.insert("steps", {"lot_id": LOT, "serial": SERIALS[0], "op": 40,
                                     "station_id": "RFL-1", "username": "fatima",
                                     "started_at": T, "status": "started", "attempt": 1},
                           returning="id")
        tx.exec("DELETE FROM steps WHERE id = ?", (new_id,))
    store.close()
    assert new_id > max(ids)
    assert json.loads(plant.ok("audit", "verify", "--json").out)["ok"] is True
    forward = json.loads(plant.ok("trace", "forward", REEL, "--json").out)
    assert {x["id"] for x in forward["items"] if x["kind"] == "unit"} == set(SERIALS)
    back = plant.ok("trace", "back", SERIALS[0], "--json").out
    assert REEL in back and "F01" in back
    created = plant.ok("lot", "create", "PCBA-OXI-100", "--qty", 1, user="fatima").out
    assert f"{LOT_PREFIX}-9002" in created  # counters raised past the loaded lot numbers


@BOTH
def test_deferring_indexes_of_a_loaded_table_is_refused(workspace: Workspace,
                                                        plant: Workspace) -> None:
    store = store_of(plant)
    load(store)
    before = _index_ddl(store, "edges")
    with pytest.raises(Refused, match="already has rows"), BulkLoader(
            store, defer_indexes=("edges",)):
        pass
    assert _index_ddl(store, "edges") == before
    with pytest.raises(ValueError, match="not a table"), BulkLoader(store) as bl:
        bl.insert("edges; DROP TABLE audit", COLUMNS["edges"], [])
    store.close()
