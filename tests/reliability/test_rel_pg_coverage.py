"""Row images on PostgreSQL (issue 13 item 1): the demo plant moved to the server with
`mes db copy` still reconciles (its images were computed on SQLite: REAL quantities and
integer flags read the same), and a direct edit of one column of every record table on
the server is named by `mes audit verify --reconcile`."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from mes.cli.demo import Demo
from mes.store.base import NOT_RECORD_ROWS
from tests.conftest import run_cli
from tests.postgres.dump import pg_sql
from tests.postgres.server import PgServer
from tests.reliability.test_rel_coverage import SCHEMA


@pytest.fixture(scope="module")
def pg_demo(demo_template: Path, pg_server: PgServer,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    path = tmp_path_factory.mktemp("pg-coverage") / "plant"
    shutil.copytree(demo_template, path)
    name = pg_server.new_database()
    url = pg_server.url(name)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MES_HOME", str(path))
        Demo(path, quiet=True).mes("db", "copy", "--to", url, user="amina")
    yield url
    pg_server.drop_database(name)


def _pk(url: str, table: str) -> list[str]:
    rows = pg_sql(url, "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON "
                       "a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) WHERE "
                       "i.indrelid = to_regclass(?) AND i.indisprimary", (table,))
    return [r[0] for r in rows]


@pytest.mark.postgres
def test_copied_plant_reconciles_on_the_server(pg_demo: str) -> None:
    r = run_cli(["--db", pg_demo, "audit", "verify", "--reconcile"])
    assert r.code == 0, str(r)


@pytest.mark.postgres
@pytest.mark.parametrize("table", sorted(SCHEMA))
def test_direct_edit_on_the_server_is_caught(pg_demo: str, table: str) -> None:
    pk = _pk(pg_demo, table)
    refs = {r[0] for r in pg_sql(
        pg_demo, "SELECT k.column_name FROM information_schema.table_constraints t JOIN "
                 "information_schema.key_column_usage k ON k.constraint_name = "
                 "t.constraint_name WHERE t.table_name = ? AND t.constraint_type = "
                 "'FOREIGN KEY'", (table,))}
    column = next((c for c in SCHEMA[table] if c not in pk and c not in refs), None)
    if column is None:  # e.g. shipment_containers: an edit is one row gone, one new
        pytest.skip(f"every column of {table} is its key: the SQLite coverage test edits "
                    "keys (a row named missing and one new)")
    rows = [r for r in pg_sql(pg_demo, f"SELECT {', '.join(pk)}, {column}::text FROM {table} "
                                       f"ORDER BY 1")
            if not (len(pk) == 1 and (table, r[0]) in NOT_RECORD_ROWS)]
    *key, old = rows[0]
    where = " AND ".join(f"{c} = ?" for c in pk)
    # a different value of the column's own type: text gets a suffix, numbers + 1
    kind = pg_sql(pg_demo, "SELECT data_type FROM information_schema.columns WHERE "
                           "table_name = ? AND column_name = ?", (table, column))[0][0]
    change = f"{column} = {column} || 'X'" if kind == "text" else \
        f"{column} = COALESCE({column}, 0) + 1"
    pg_sql(pg_demo, f"UPDATE {table} SET {change} WHERE {where}", tuple(key))
    try:
        r = run_cli(["--db", pg_demo, "audit", "verify", "--reconcile"])
        assert r.code == 7 and f"{table} " in r.err, str(r)
    finally:  # put it back for the next case
        pg_sql(pg_demo, f"UPDATE {table} SET {column} = ?::{_cast(kind)} WHERE {where}",
               (old, *key))
    assert run_cli(["--db", pg_demo, "audit", "verify", "--reconcile"]).code == 0


def _cast(kind: str) -> str:
    return {"text": "text", "integer": "integer", "bigint": "bigint",
            "double precision": "double precision"}[kind]
