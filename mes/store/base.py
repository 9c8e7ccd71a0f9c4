"""The store interface: the only place with SQL (DESIGN §3, §4).

Services speak to a Store in terms of tables and rows; the SQL is built here, in a
portable subset (ISO text timestamps, no rowid, `?` placeholders that a dialect
may rewrite). `SqliteStore` and `PostgresStore` differ only in connecting, the
transaction opener and a few dialect hooks.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from mes import clock
from mes.domain.audit import GENESIS, event_hash
from mes.errors import IntegrityFailure, Refused

Row = dict[str, Any]

# Primary key column of each table addressed by `get`/`update`.
KEYS = {
    "meta": "key", "sites": "id", "items": "id", "users": "username", "sessions": "token",
    "stations": "id", "parts": "number", "lots": "id", "units": "serial",
    "material_lots": "id", "firmware": "id", "ncrs": "id", "machine_messages": "unique_id",
    "steps": "id", "signatures": "id", "labels": "id", "origin_decisions": "id",
    "shipments": "id", "qualifications": "id", "flashes": "id", "edges": "id",
    "station_loads": "id", "containers": "sscc", "recalls": "id",
    "print_jobs": "id",
}


class Store:
    """Row-level access shared by every dialect. Subclasses set up `self.conn`."""

    dialect = "base"
    location = ""

    def __init__(self) -> None:
        self._depth = 0
        # Records that never change once stored (a routing version, parsed), by key, so
        # a long-running station loop reads and parses each once.
        self.immutable: dict[tuple[str, ...], Any] = {}
        self.conn: Any = None

    # -- dialect hooks ---------------------------------------------------------
    def _sql(self, sql: str) -> str:
        return sql

    def _begin(self) -> None:
        raise NotImplementedError

    def _lock_audit(self) -> None:
        """Serialise audit appends where BEGIN does not already (PostgreSQL)."""

    # -- plumbing --------------------------------------------------------------
    def _cursor(self, sql: str, params: Sequence[Any] = ()) -> Any:
        cur = self.conn.cursor()
        cur.execute(self._sql(sql), tuple(params))
        return cur

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        cur = self._cursor(sql, params)
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]

    @contextmanager
    def navigating(self) -> Iterator[Store]:
        """Queries that follow a few keys through big tables (the genealogy walks) run
        inside this: a dialect whose planner might choose to scan instead is told not to."""
        yield self

    def tuples(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows as plain tuples, in the select's column order: for queries that return
        thousands of rows (genealogy), where a dict per row would cost more than the SQL."""
        return self._cursor(sql, params).fetchall()  # both drivers fetch tuples

    def one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        cur = self._cursor(sql, params)
        r = cur.fetchone()
        if r is None:
            return None
        return dict(zip([d[0] for d in cur.description], r, strict=True))

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        r = self._cursor(sql, params).fetchone()
        return None if r is None else r[0]

    def exec(self, sql: str, params: Sequence[Any] = ()) -> int:
        return int(self._cursor(sql, params).rowcount)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self.conn.cursor().executemany(self._sql(sql), rows)

    @contextmanager
    def transaction(self) -> Iterator[Store]:
        """One write transaction, taken with the write lock up front (BEGIN IMMEDIATE)."""
        if self._depth:
            self._depth += 1
            try:
                yield self
            finally:
                self._depth -= 1
            return
        self._begin()
        self._depth = 1
        try:
            yield self
        except BaseException:
            self._depth = 0
            self.conn.execute("ROLLBACK")
            raise
        self._depth = 0
        self.conn.execute("COMMIT")

    def in_transaction(self) -> bool:
        return self._depth > 0

    # -- generic row access ----------------------------------------------------
    def get(self, table: str, key: Any) -> Row | None:
        return self.one(f"SELECT * FROM {table} WHERE {KEYS[table]} = ?", (key,))

    def find(self, table: str, where: Mapping[str, Any] | None = None, order: str | None = None,
             limit: int | None = None) -> list[Row]:
        sql, params = f"SELECT * FROM {table}", []
        if where:
            clauses = []
            for col, val in where.items():
                if val is None:
                    clauses.append(f"{col} IS NULL")
                else:
                    clauses.append(f"{col} = ?")
                    params.append(val)
            sql += " WHERE " + " AND ".join(clauses)
        if order:
            sql += f" ORDER BY {order}"
        if limit:
            sql += f" LIMIT {int(limit)}"
        return self.all(sql, params)

    def insert(self, table: str, row: Mapping[str, Any], returning: str | None = None) -> Any:
        self._require_tx()
        cols = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        sql = f"INSERT INTO {table} ({cols}) VALUES ({marks})"
        if returning:
            return self.scalar(sql + f" RETURNING {returning}", [_db(v) for v in row.values()])
        self.exec(sql, [_db(v) for v in row.values()])
        return None

    def update(self, table: str, key: Any, changes: Mapping[str, Any],
               expect: Mapping[str, Any] | None = None) -> int:
        """UPDATE one row; with `expect`, only if those columns still hold those values."""
        self._require_tx()
        sets = ", ".join(f"{c} = ?" for c in changes)
        sql = f"UPDATE {table} SET {sets} WHERE {KEYS[table]} = ?"
        params = [_db(v) for v in changes.values()] + [key]
        for col, val in (expect or {}).items():
            sql += f" AND {col} = ?"
            params.append(_db(val))
        return self.exec(sql, params)

    def _require_tx(self) -> None:
        if not self._depth:
            raise RuntimeError("write outside a transaction")

    # -- counters, identifiers, quantities ---------------------------------------
    def next_counter(self, name: str) -> int:
        self._require_tx()
        value = self.scalar("UPDATE counters SET value = value + 1 WHERE name = ? RETURNING value",
                            (name,))
        if value is None:
            self.exec("INSERT INTO counters (name, value) VALUES (?, 1)", (name,))
            value = 1
        return int(value)

    def claim_id(self, item_id: str, kind: str) -> None:
        """Reserve a scannable id; ids are unique across lots, units, materials, images."""
        existing = self.get("items", item_id)
        if existing:
            raise Refused(f"{item_id} is already used by a {existing['kind']}: "
                          "choose another identifier")
        self.insert("items", {"id": item_id, "kind": kind, "created_at": clock.now_iso()})

    def decrement(self, table: str, key: str, column: str, qty: float) -> bool:
        """Atomic `column -= qty` only if enough is left (never read-modify-write)."""
        self._require_tx()
        n = self.exec(f"UPDATE {table} SET {column} = {column} - ? "
                      f"WHERE {KEYS[table]} = ? AND {column} >= ?", (qty, key, qty))
        return n == 1

    # -- audit chain -------------------------------------------------------------
    def append_audit(self, *, username: str | None, station: str | None, action: str,
                     entity_type: str, entity_id: str, old: Any = None, new: Any = None,
                     reason: str | None = None) -> str:
        """Append one hash-chained event inside the caller's transaction."""
        self._require_tx()
        self._lock_audit()
        last = self.one("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")
        seq, prev = (last["seq"] + 1, last["hash"]) if last else (1, GENESIS)
        event = {
            "seq": seq, "at": clock.now_iso(), "username": username, "station": station,
            "action": action, "entity_type": entity_type, "entity_id": entity_id,
            "old": _json_or_none(old), "new": _json_or_none(new), "reason": reason,
        }
        digest = event_hash(prev, event)
        self.insert("audit", {**event, "prev_hash": prev, "hash": digest})
        return digest

    def audit_rows(self, batch: int = 50_000) -> Iterator[Row]:
        """Every audit event in seq order, streamed (verify must not load 1 M rows at once)."""
        after = 0
        while True:
            rows = self.all("SELECT * FROM audit WHERE seq > ? ORDER BY seq LIMIT ?",
                            (after, batch))
            if not rows:
                return
            yield from rows
            after = rows[-1]["seq"]

    def audit_head(self) -> Row | None:
        return self.one("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")

    def audit_has(self, digest: str) -> Row | None:
        return self.one("SELECT seq, hash FROM audit WHERE hash = ?", (digest,))

    def audit_log(self, entity: str | None, limit: int | None) -> list[Row]:
        sql = "SELECT * FROM audit"
        params: list[Any] = []
        if entity:
            sql += " WHERE entity_id = ?"
            params.append(entity)
        sql += " ORDER BY seq DESC"
        if limit:
            sql += f" LIMIT {int(limit)}"
        return list(reversed(self.all(sql, params)))

    # -- schema ----------------------------------------------------------------
    def schema_version(self) -> int:
        raise NotImplementedError

    def migrate(self) -> int:
        raise NotImplementedError

    def reset_sequences(self) -> None:
        """After rows were inserted with explicit ids (a copy, a bulk load): make the next
        generated id follow the largest. Nothing to do where ids come from max(rowid)."""
        self._require_tx()

    def check_version(self, program_version: int) -> None:
        found = self.schema_version()
        if found > program_version:
            raise IntegrityFailure(
                f"database {self.location} has schema version {found}, newer than this "
                f"program (version {program_version}): upgrade mes before using it")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def _db(value: Any) -> Any:
    """Python values as stored: bools as 0/1, containers as canonical JSON text."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return value


def _json_or_none(value: Any) -> str | None:
    if value is None:
        return None
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                      default=str)
