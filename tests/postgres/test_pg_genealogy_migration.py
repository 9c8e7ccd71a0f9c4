"""Issue 15 on PostgreSQL: a plant database at the schema before the lean genealogy (the
rows of tests/data/pre_genealogy/, loaded into a server database built by the previous
migrations) is migrated in place; traces answer as the previous release did on SQLite,
and `audit verify --reconcile` passes."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from mes.services.context import Context
from mes.store.postgres import PG_AUDIT_GUARDS, PostgresStore, pg_ddl
from mes.store.schema import MIGRATIONS, SCHEMA_VERSION
from tests.foundation.test_genealogy_migration import (
    DATA,
    PREVIOUS,
    assert_traces_and_records_as_before,
)

pytestmark = pytest.mark.postgres


def _load_previous_release(url: str) -> int:
    """The previous schema on the server, and every row of the fixture database."""
    import psycopg

    src = sqlite3.connect(DATA / "mes.db")
    tables = [r[0] for r in src.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                        "AND name NOT LIKE 'sqlite_%'")]
    with psycopg.connect(url, autocommit=True) as conn, conn.transaction():
        for number in range(PREVIOUS):
            for statement in MIGRATIONS[number]:
                conn.execute(pg_ddl(statement))
            if number == 0:
                for guard in PG_AUDIT_GUARDS:
                    conn.execute(guard)
        for table in tables:
            cur = src.execute(f"SELECT * FROM {table}")
            cols = [d[0] for d in cur.description]
            rows = cur.fetchall()
            if rows:
                with conn.cursor() as c:
                    c.executemany(f"INSERT INTO {table} ({', '.join(cols)}) VALUES "
                                  f"({', '.join('%s' for _ in cols)})", rows)
            if "id" in cols and table not in ("items",) and rows and isinstance(rows[0][0], int):
                conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                             f"(SELECT max(id) FROM {table}))")
    n = src.execute("SELECT count(*) FROM edges").fetchone()[0]
    src.close()
    return int(n)


def test_a_previous_release_database_migrates_in_place(pg_url: str, tmp_path: Path) -> None:
    n_edges = _load_previous_release(pg_url)
    store = PostgresStore(pg_url)
    try:
        assert store.schema_version() == PREVIOUS
        store.migrate()
        assert store.schema_version() == SCHEMA_VERSION
        assert store.scalar("SELECT count(*) FROM genealogy") == n_edges
        assert store.scalar("SELECT to_regclass('edges_before_genealogy') IS NULL")
        assert store.scalar("SELECT count(*) FROM information_schema.views "
                            "WHERE table_name = 'edges'") == 1
    finally:
        store.close()
    ctx = Context(workspace=tmp_path, db=pg_url)
    try:
        assert_traces_and_records_as_before(ctx)
        event = ctx.store.one("SELECT new FROM audit WHERE action = 'genealogy.migrate'")
        assert event is not None and json.loads(event["new"])["edges"] == n_edges
    finally:
        ctx.close()
