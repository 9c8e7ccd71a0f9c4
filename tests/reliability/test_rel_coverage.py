"""Every fact is covered (issue 13 item 1): a test generated from the schema itself.

A plant with a row in every record table (`demo_template`: the demo, plus DEMO_EXTRA for
what it does not do) is built once. Then, for every record table of the schema and every
one of its columns, one row is edited directly in the SQLite file (as someone with file
access would) and `mes audit verify --reconcile` must fail with exit 7 naming that row
(each case on its own copy).

A table added later is in the schema, so it is in this test: if no command of the plant
writes a row into it, `test_every_record_table_has_a_row` fails (add one to DEMO_EXTRA of
tests/reliability/conftest.py, or, if the table holds no record, put it in
`mes.store.base.NOT_RECORDS` with the reason). A
column added later is edited like the others: it is covered as soon as it is written
through the store's helpers, since the row image in the event covers every column.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

import pytest

from mes.store.base import NOT_RECORD_ROWS, NOT_RECORDS
from mes.store.sqlite import SqliteStore
from tests.conftest import Workspace, run_cli, sql


def schema_tables() -> dict[str, list[str]]:
    """Record tables and their columns, from a database migrated by this program."""
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "probe.db", create=True)
        store.migrate()
        out = {t: [c[1] for c in store.conn.execute(f"PRAGMA table_info({t})")]
               for t in store.record_tables()}
        store.close()
        return out


SCHEMA = schema_tables()
CASES = [(t, c) for t, cols in SCHEMA.items() for c in cols]


@pytest.fixture(scope="module")
def covered_plant(demo_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    path = tmp_path_factory.mktemp("coverage") / "plant"
    shutil.copytree(demo_template, path)
    return Workspace(path)


def _reconcile(db: Path) -> Any:
    return run_cli(["--db", db, "audit", "verify", "--reconcile"])


def test_untouched_plant_reconciles(covered_plant: Workspace) -> None:
    r = _reconcile(covered_plant.db)
    assert r.code == 0, str(r)


@pytest.mark.parametrize("table", sorted(SCHEMA))
def test_every_record_table_has_a_row(covered_plant: Workspace, table: str) -> None:
    n = sql(covered_plant, f"SELECT count(*) FROM {table}")[0][0]
    assert n, (f"no command of the coverage plant writes a row into {table}: add one to "
               "DEMO_EXTRA in tests/reliability/conftest.py "
               f"(or, if it holds no record, list it in NOT_RECORDS with the reason)")


def test_not_records_are_few_and_explained() -> None:
    assert set(NOT_RECORDS) == {"audit", "counters", "sessions"}, NOT_RECORDS
    assert all(len(why) > 20 for why in [*NOT_RECORDS.values(), *NOT_RECORD_ROWS.values()])


def _changed(value: Any, is_key: bool) -> Any:
    if value is None:
        return "X"
    if isinstance(value, int):
        return value + (1_000_000 if is_key else 1)  # a key: one no other row has
    if isinstance(value, float):
        return value + 1.5
    return str(value) + "X"


def _unique(db: Path, table: str, column: str) -> bool:
    """`column` alone has a UNIQUE index: an edited value must be one no other row has."""
    return any(idx[2] and [c[2] for c in sql(db, f"PRAGMA index_info('{idx[1]}')")] == [column]
               for idx in sql(db, f"PRAGMA index_list('{table}')"))


@pytest.mark.parametrize(("table", "column"), CASES, ids=[f"{t}.{c}" for t, c in CASES])
def test_direct_edit_of_any_column_is_caught(covered_plant: Workspace, tmp_path: Path,
                                             table: str, column: str) -> None:
    db = tmp_path / "mes.db"
    con = sqlite3.connect(covered_plant.db)
    con.execute(f"VACUUM INTO '{db}'")  # a consistent copy of the plant, WAL included
    con.close()
    pk = [c[1] for c in sorted((c for c in sql(db, f"PRAGMA table_info({table})") if c[5]),
                               key=lambda c: c[5])]
    rows = [r for r in sql(db, f"SELECT {', '.join(pk)}, {column} FROM {table}")
            if not (len(pk) == 1 and (table, r[0]) in NOT_RECORD_ROWS)]
    assert rows, f"{table} has no row to edit"
    *key, value = rows[0]
    where = " AND ".join(f"{c} = ?" for c in pk)
    unique = column in pk or _unique(db, table, column)  # e.g. items.key: not the pk
    sql(db, f"UPDATE {table} SET {column} = ? WHERE {where}", (_changed(value, unique), *key))
    r = _reconcile(db)
    assert r.code == 7, f"{table}.{column} edited and not caught:\n{r}"
    named = json.dumps(key[0]) if len(key) == 1 else json.dumps(key)
    if column in pk:  # the row now has another key: named as missing or as new
        assert f"{table} " in r.err, r.err
    else:
        assert f"{table} {key[0] if len(key) == 1 else key}:" in r.err \
            or named in r.err, r.err
    assert "Traceback" not in r.err
    shutil.rmtree(tmp_path, ignore_errors=True)
