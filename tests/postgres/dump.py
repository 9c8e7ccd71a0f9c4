"""Backend-neutral helpers for tests on PostgreSQL: a dump like sqlite3's iterdump, raw SQL.

`pg_dump_lines` gives one `INSERT INTO "table" VALUES(...)` line per row of every table
of the schema, rows in a stable order, so the "a refusal changes nothing" checks written
against `Workspace.dump()` on SQLite work unchanged on PostgreSQL.
"""

from __future__ import annotations

from typing import Any


def _literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def tables(conn: Any) -> list[str]:
    rows = conn.execute("SELECT table_name FROM information_schema.tables "
                        "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' "
                        "ORDER BY table_name").fetchall()
    return [r[0] for r in rows]


def pg_dump_lines(url: str) -> list[str]:
    import psycopg

    lines: list[str] = []
    with psycopg.connect(url, autocommit=True) as conn:
        for table in tables(conn):
            cur = conn.execute(f'SELECT * FROM "{table}" LIMIT 0')
            n = len(cur.description or [])
            order = ", ".join(str(i) for i in range(1, n + 1))
            for row in conn.execute(f'SELECT * FROM "{table}" ORDER BY {order}'):
                lines.append(f'INSERT INTO "{table}" VALUES('
                             + ",".join(_literal(v) for v in row) + ");")
    return lines


def pg_sql(url: str, statement: str, params: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
    """Run one statement (`?` placeholders, like the SQLite helpers) and commit."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(statement.replace("%", "%%").replace("?", "%s"), params)
        return [tuple(r) for r in cur.fetchall()] if cur.description else []
