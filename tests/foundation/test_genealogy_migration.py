"""Issue 15: a workspace written by the release before the lean genealogy opens with this
one and is migrated in place: backup first, then the migration, then the traces answer
as before and `audit verify --reconcile` passes.

The database and the old release's answers are in tests/data/pre_genealogy/, made by
tests/data/make_pre_genealogy.py from that release's tree (`mes demo`).
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from mes.errors import IntegrityFailure
from mes.services import audit, trace
from mes.services.context import Context
from mes.store.schema import GENEALOGY_MIGRATION, SCHEMA_VERSION

DATA = Path(__file__).resolve().parents[1] / "data" / "pre_genealogy"
OLD = json.loads((DATA / "traces.json").read_text())


def _plain(x: Any) -> Any:
    return json.loads(json.dumps(x, sort_keys=True, default=str))


def as_before(new: Any, old: Any) -> Any:
    """`new` cut to the fields the previous release answered with: what it said must be
    said again; fields added since (e.g. each edge's site, issue 20) are not compared."""
    new = _plain(new)
    if isinstance(new, dict) and isinstance(old, dict):
        return {k: as_before(new[k], old[k]) for k in new if k in old}
    if isinstance(new, list) and isinstance(old, list) and len(new) == len(old):
        return [as_before(n, o) for n, o in zip(new, old, strict=True)]
    return new


def assert_traces_and_records_as_before(ctx: Context) -> dict[str, Any]:
    """Every trace the previous release answered, answered again; reconcile passes."""
    for item, want in OLD["back"].items():
        assert as_before(trace.backward(ctx, item), want) == want, item
    for item, want in OLD["forward"].items():
        assert as_before(trace.forward(ctx, item), want) == want, item
    out = audit.verify(ctx, reconcile=True)
    assert out["reconcile"]["ok"], out["reconcile"]["problems"]
    return out


def _workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    shutil.copy(DATA / "mes.db", ws / "mes.db")
    return ws


def _objects(db: Path) -> dict[str, str]:
    con = sqlite3.connect(db)
    try:
        return dict(con.execute("SELECT name, type FROM sqlite_master"))
    finally:
        con.close()


# The release the fixture was made by: before the genealogy migration (later migrations
# of this release run after it in the same upgrade).
PREVIOUS = int(OLD["made_by"]["schema_version"])


def test_the_fixture_has_the_previous_schema() -> None:
    assert PREVIOUS <= GENEALOGY_MIGRATION
    assert _objects(DATA / "mes.db")["edges"] == "table"


def test_opening_migrates_in_place_after_a_backup(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    ctx = Context(workspace=ws, db=str(ws / "mes.db"))
    try:
        assert ctx.store.schema_version() == SCHEMA_VERSION
        backup = ws / f"mes.db.v{PREVIOUS}.bak"
        assert _objects(backup)["edges"] == "table"  # the database as it was
        found = _objects(ws / "mes.db")
        assert found["genealogy"] == "table" and found["edges"] == "view"
        assert "edges_before_genealogy" not in found
        n_old = sqlite3.connect(backup).execute("SELECT count(*) FROM edges").fetchone()[0]
        assert ctx.store.scalar("SELECT count(*) FROM genealogy") == n_old > 0
        # an edge whose step holds the same op, station and time does not copy them
        assert ctx.store.scalar("SELECT count(*) FROM genealogy WHERE step_id IS NOT NULL "
                                "AND at IS NULL") > 0
        # new edges are numbered after the old ones
        assert ctx.store.scalar("SELECT value FROM counters WHERE name = 'genealogy.edge'") \
            == ctx.store.scalar("SELECT max(n) FROM genealogy")
        event = ctx.store.one("SELECT * FROM audit WHERE action = 'genealogy.migrate'")
        assert event is not None and json.loads(event["new"])["edges"] == n_old

        out = assert_traces_and_records_as_before(ctx)
        assert out["reconcile"]["checked"]["edges"] == n_old
    finally:
        ctx.close()


def test_an_edge_edited_before_the_upgrade_is_still_named_after_it(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    con = sqlite3.connect(ws / "mes.db")
    con.execute("UPDATE edges SET feeder = 'F99' WHERE id = (SELECT min(id) FROM edges)")
    con.commit()
    con.close()
    ctx = Context(workspace=ws, db=str(ws / "mes.db"))
    try:
        rec = audit.reconcile_records(ctx.store)
        assert not rec["ok"]
        assert any(p.startswith("genealogy ") and "no audit event wrote this row" in p
                   for p in rec["problems"]), rec["problems"]
    finally:
        ctx.store.close()


def test_a_migration_that_fails_leaves_the_database_as_it_was(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    con = sqlite3.connect(ws / "mes.db")  # an edge naming no item: corrupt, cannot be keyed
    con.execute("UPDATE edges SET child = 'NO-SUCH-ITEM' WHERE id = (SELECT min(id) FROM edges)")
    con.commit()
    con.close()
    ctx = Context(workspace=ws, db=str(ws / "mes.db"))
    with pytest.raises(IntegrityFailure, match="could not be migrated from schema version"):
        _ = ctx.store
    assert _objects(ws / "mes.db")["edges"] == "table"
    con = sqlite3.connect(ws / "mes.db")
    assert con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] \
        == str(PREVIOUS)
    con.close()
