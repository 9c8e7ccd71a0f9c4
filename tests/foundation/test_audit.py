"""The audit trail: log views, chain verification, tampering caught, append-only triggers."""

from __future__ import annotations

import csv
import io
import json
import sqlite3

import pytest

from mes.domain.audit import event_hash
from mes.store.schema import SQLITE_AUDIT_GUARDS
from tests.conftest import Workspace
from tests.foundation.helpers import new_lot, sql


def events(ws: Workspace, *args: object) -> list[dict]:
    return list(json.loads(ws.ok("audit", "log", *args, "--json").out))


def test_log_json_entity_and_limit(plant: Workspace) -> None:
    lot, [u1, _] = new_lot(plant)
    plant.ok("lot", "hold", lot, "--reason", "check paste", user="youssef")
    every = events(plant)
    assert [e["seq"] for e in every] == list(range(1, len(every) + 1))
    mine = events(plant, "--entity", lot)
    assert [e["action"] for e in mine] == ["lot.create", "lot.hold", "signature"]
    create = mine[0]
    assert create["username"] == "fatima" and create["entity_type"] == "lot"
    assert create["new"]["serials"] == [u1, "PB-000002"] and create["old"] is None
    assert mine[1]["old"] == {"on_hold": False} and mine[1]["new"] == {"on_hold": True}
    assert mine[1]["reason"] == "check paste"
    assert all(len(e["hash"]) == 64 for e in mine)
    last2 = events(plant, "--limit", 2)
    assert [e["seq"] for e in last2] == [every[-2]["seq"], every[-1]["seq"]]
    assert events(plant, "--entity", "NOTHING") == []


def test_log_csv(plant: Workspace) -> None:
    lot, _ = new_lot(plant)
    rows = list(csv.DictReader(io.StringIO(plant.ok("audit", "log", "--entity", lot,
                                                    "--csv").out)))
    assert list(rows[0]) == ["seq", "at", "username", "station", "action", "entity_type",
                             "entity_id", "old", "new", "reason"]
    assert rows[0]["action"] == "lot.create"
    assert json.loads(rows[0]["new"])["qty"] == 2


def test_log_human_one_line_per_event(plant: Workspace) -> None:
    lot, _ = new_lot(plant)
    plant.ok("lot", "hold", lot, "--reason", "check paste", user="youssef")
    out = plant.ok("audit", "log", "--entity", lot).out.splitlines()
    assert len(out) == 3
    assert "fatima" in out[0] and "lot.create" in out[0] and f"lot {lot}" in out[0]
    assert "on_hold false → true" in out[1] and out[1].endswith("— check paste")
    assert "─" not in "".join(out) and "│" not in "".join(out)  # not a rich table
    assert all(line.split()[0].isdigit() for line in out)
    r = plant.ok("audit", "log", "--entity", "NOTHING")
    assert r.out == "" and "no audit events" in r.err


def test_verify_ok(plant: Workspace) -> None:
    r = plant.ok("audit", "verify")
    n = len(events(plant))
    assert r.out.startswith(f"audit chain OK: {n} events, head {n} ")
    out = json.loads(plant.ok("audit", "verify", "--json").out)
    assert out["ok"] and out["events"] == n and out["head_seq"] == n
    r = plant.ok("audit", "verify", "--anchor", out["head_hash"])
    assert f"anchor found at event {n}" in r.out


def _drop_guards(ws: Workspace) -> None:
    sql(ws, "DROP TRIGGER audit_no_update")
    sql(ws, "DROP TRIGGER audit_no_delete")


def _restore_guards(ws: Workspace) -> None:
    for guard in SQLITE_AUDIT_GUARDS:
        sql(ws, guard)


def _broken(ws: Workspace, seq: int) -> None:
    r = ws.mes("audit", "verify")
    assert r.code == 7, r
    assert r.err.startswith(f"mes: audit chain broken at event {seq}:"), r
    assert len(r.err.strip().splitlines()) == 1


@pytest.mark.parametrize("column,value", [("reason", "nothing to see"), ("username", "mallory"),
                                          ("new", '{"qty":3}'),
                                          ("at", "2020-01-01T00:00:00.000000+00:00")])
def test_changed_field_is_caught(plant: Workspace, column: str, value: str) -> None:
    _drop_guards(plant)
    sql(plant, f"UPDATE audit SET {column} = ? WHERE seq = 5", (value,))
    _broken(plant, 5)
    assert "changed after it was written" in plant.mes("audit", "verify").err


def test_deleted_row_is_caught(plant: Workspace) -> None:
    _drop_guards(plant)
    sql(plant, "DELETE FROM audit WHERE seq = 7")
    _broken(plant, 7)
    assert "missing (deleted)" in plant.mes("audit", "verify").err


def test_deleted_last_row_is_caught_by_anchor(plant: Workspace) -> None:
    head = json.loads(plant.ok("audit", "verify", "--json").out)["head_hash"]
    _drop_guards(plant)
    sql(plant, "DELETE FROM audit WHERE seq = (SELECT max(seq) FROM audit)")
    _restore_guards(plant)  # as the attacker would, to cover the tracks
    r = plant.mes("audit", "verify", "--anchor", head)  # not the chain printed on paper
    assert r.code == 7 and "rewritten" in r.err


def test_forged_row_is_caught(plant: Workspace) -> None:
    _drop_guards(plant)
    [(last, prev)] = sql(plant, "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")
    sql(plant, "INSERT INTO audit VALUES (?, '2026-01-01T00:00:00.000000+00:00', 'youssef', "
               "NULL, 'lot.unhold', 'lot', 'L2601-0001', NULL, NULL, 'forged', ?, ?, NULL)",
        (last + 1, prev, "f" * 64))
    _broken(plant, last + 1)


def test_forged_row_inserted_in_the_middle_is_caught(plant: Workspace) -> None:
    _drop_guards(plant)
    rows = sql(plant, "SELECT seq FROM audit ORDER BY seq")
    # shift events 10.. up by one and put a forged event 10 in the gap
    for (seq,) in reversed(rows[9:]):
        sql(plant, "UPDATE audit SET seq = seq + 1 WHERE seq = ?", (seq,))
    [(prev,)] = sql(plant, "SELECT hash FROM audit WHERE seq = 9")
    forged = {"seq": 10, "at": "2026-01-01T00:00:00.000000+00:00", "username": "youssef",
              "station": None, "action": "routing.approve", "entity_type": "routing",
              "entity_id": "X@1", "old": None, "new": None, "reason": None}
    sql(plant, "INSERT INTO audit VALUES (?,?,?,?,?,?,?,?,?,?,?,?,NULL)",
        (*forged.values(), prev, event_hash(prev, forged)))
    _broken(plant, 11)  # the forged event hashes correctly; the next one no longer follows


def test_rewritten_chain_is_caught_by_anchor_and_seal(plant: Workspace) -> None:
    """An attacker who recomputes every hash after a change: the anchor and the seals."""
    anchor = json.loads(plant.ok("audit", "verify", "--json").out)["head_hash"]
    _drop_guards(plant)
    sql(plant, "UPDATE audit SET reason = 'rewritten' WHERE seq = 3")
    con = sqlite3.connect(plant.db)
    con.row_factory = sqlite3.Row
    prev = con.execute("SELECT hash FROM audit WHERE seq = 2").fetchone()[0]
    for row in con.execute("SELECT * FROM audit WHERE seq >= 3 ORDER BY seq").fetchall():
        digest = event_hash(prev, dict(row))
        con.execute("UPDATE audit SET prev_hash = ?, hash = ? WHERE seq = ?",
                    (prev, digest, row["seq"]))
        prev = digest
    con.commit()
    con.close()
    _restore_guards(plant)
    r = plant.mes("audit", "verify", "--anchor", anchor)
    assert r.code == 7 and r.err.startswith("mes: anchor "), r
    # Without the paper anchor, the seals outside the database catch it (issue 13).
    r = plant.mes("audit", "verify")
    assert r.code == 7 and "rewritten before that seal" in r.err, r


def test_triggers_refuse_update_and_delete(plant: Workspace) -> None:
    before = plant.dump()
    con = sqlite3.connect(plant.db)
    try:
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            con.execute("UPDATE audit SET reason = 'x' WHERE seq = 1")
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            con.execute("DELETE FROM audit WHERE seq = 1")
    finally:
        con.close()
    assert plant.dump() == before
    plant.ok("audit", "verify")


@pytest.mark.parametrize("limit", ["0", "-1"])
def test_log_limit_must_be_positive(workspace: Workspace, limit: str) -> None:
    r = workspace.mes("audit", "log", "--limit", limit)
    assert r.code == 5, r
    assert r.err.startswith("mes: --limit")
