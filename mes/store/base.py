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
from operator import itemgetter
from typing import Any

from mes import clock
from mes.domain.audit import AUDIT_COLUMNS, GENESIS, canonical_json, event_hash, row_digest
from mes.errors import IntegrityFailure, Refused

Row = dict[str, Any]

# Primary key column of each table addressed by `get`/`update`.
KEYS = {
    "meta": "key", "sites": "id", "items": "id", "users": "username", "sessions": "token",
    "stations": "id", "parts": "number", "lots": "id", "units": "serial",
    "material_lots": "id", "firmware": "id", "ncrs": "id", "machine_messages": "unique_id",
    "steps": "id", "signatures": "id", "labels": "id", "origin_decisions": "id",
    "shipments": "id", "qualifications": "id", "flashes": "id",
    "station_loads": "id", "containers": "sscc", "recalls": "id",
    "print_jobs": "id",
    "calibrations": "id", "tools": "id", "tool_uses": "id", "tool_maintenance": "id",
    "material_moisture": "id", "label_jobs": "id", "trainings": "id",
}

# Tables that hold no record of what happened, with the reason (issue 13). Every other
# table is a record table: each row written through `insert`/`update`/`increment`/
# `decrement`/`insert_many`/`touch` has its row image in the audit event of the same
# transaction, and `mes audit verify --reconcile` compares every row with it.
NOT_RECORDS = {
    "audit": "the chain itself: verified by its hashes and by the seals outside the database",
    "counters": "next-number counters, derived: a forged value only makes claim_id refuse "
                "an identifier that exists",
    "sessions": "who is logged in at a station now, not a record of manufacture",
}
# Single rows of record tables that are not records: (table, key) -> reason.
NOT_RECORD_ROWS = {
    ("meta", "schema_version"): "set by migrate; checked against the program at every open",
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
        # Within a write transaction: the record rows written (table -> keys) and the audit
        # events not yet stored (they are stored at commit, the last one carrying the
        # images of the rows, so no write can escape its event).
        self._touched: dict[str, set[Any]] = {}
        self._pending: list[Row] = []
        self._written: list[Row] = []
        self._pk: dict[str, tuple[str, ...]] = {}
        # Images of rows a recorded event removed ([table, key, None]): a migration.
        self._gone: list[list[Any]] = []
        # Writes refused while the audit table's protections are missing (issue 13 item
        # 3); off while migrating and for `mes db protect`, which restores them.
        self.allow_unprotected = False
        # Called after each commit that wrote audit events: (head seq, head hash, reasons)
        self.after_commit: Any = None

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
        self._touched, self._pending, self._written, self._gone = {}, [], [], []
        try:
            if not self.allow_unprotected:
                self.require_protected()
            yield self
            written = self._written + self._flush_audit()
        except BaseException:
            self._depth = 0
            self._touched, self._pending, self._written, self._gone = {}, [], [], []
            self.conn.execute("ROLLBACK")
            raise
        self._depth = 0
        self.conn.execute("COMMIT")
        if written and self.after_commit is not None:
            self.after_commit(self, written)

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
        values = [_db(v) for v in row.values()]
        pk = self.primary_key(table) if self._is_record(table) else ()
        if pk and not all(c in row for c in pk):  # a generated key: ask for it back
            wanted = list(dict.fromkeys([*pk, *([returning] if returning else [])]))
            got = self.one(sql + f" RETURNING {', '.join(wanted)}", values) or {}
            self.touch(table, tuple(got[c] for c in pk))
            return got.get(returning) if returning else None
        if pk:
            self.touch(table, tuple(row[c] for c in pk))
        if returning:
            return self.scalar(sql + f" RETURNING {returning}", values)
        self.exec(sql, values)
        return None

    def insert_many(self, table: str, columns: Sequence[str],
                    rows: Sequence[Sequence[Any]]) -> None:
        """INSERT many rows given as tuples in `columns` order, each row covered like
        `insert` (rows whose key is generated are inserted one by one to learn it)."""
        self._require_tx()
        pk = self.primary_key(table) if self._is_record(table) else ()
        if pk and not all(c in columns for c in pk):
            for r in rows:
                self.insert(table, dict(zip(columns, r, strict=True)))
            return
        sql = (f"INSERT INTO {table} ({', '.join(columns)}) "
               f"VALUES ({', '.join('?' for _ in columns)})")
        self.executemany(sql, [[_db(v) for v in r] for r in rows])
        where = [list(columns).index(c) for c in pk]
        for r in rows:
            self.touch(table, tuple(r[i] for i in where))

    def update(self, table: str, key: Any, changes: Mapping[str, Any],
               expect: Mapping[str, Any] | None = None) -> int:
        """UPDATE one row; with `expect`, only if those columns still hold those values.
        `key` is the key value, or a tuple for a table with a composite key."""
        self._require_tx()
        sets = ", ".join(f"{c} = ?" for c in changes)
        where, keys = self._where_key(table, key)
        sql = f"UPDATE {table} SET {sets} WHERE {where}"
        params = [_db(v) for v in changes.values()] + keys
        for col, val in (expect or {}).items():
            sql += f" AND {col} = ?"
            params.append(_db(val))
        n = self.exec(sql, params)
        if n:
            self.touch(table, tuple(keys))
        return n

    def increment(self, table: str, key: Any, column: str, amount: float) -> None:
        """Atomic `column += amount` (a counter of the record, not read-modify-write)."""
        self._require_tx()
        where, keys = self._where_key(table, key)
        self.exec(f"UPDATE {table} SET {column} = {column} + ? WHERE {where}", [amount, *keys])
        self.touch(table, tuple(keys))

    def _where_key(self, table: str, key: Any) -> tuple[str, list[Any]]:
        cols = (KEYS[table],) if table in KEYS else self.primary_key(table)
        keys = list(key) if isinstance(key, tuple) else [key]
        return " AND ".join(f"{c} = ?" for c in cols), keys

    # -- row images (issue 13 item 1) ------------------------------------------------------
    def touch(self, table: str, key: tuple[Any, ...]) -> None:
        """Note that the row `key` (key column values, in primary-key order) of `table` was
        written in this transaction: its image goes into the transaction's audit event.
        Only for SQL written by hand; the helpers above call it."""
        if self._is_record(table):
            self._touched.setdefault(table, set()).add(key)

    @staticmethod
    def _is_record(table: str) -> bool:
        return table not in NOT_RECORDS

    def primary_key(self, table: str) -> tuple[str, ...]:
        """The primary-key columns of `table`, from the database's catalog (cached)."""
        if table not in self._pk:
            cols = self._primary_key(table)
            if not cols:
                raise RuntimeError(f"table {table} has no primary key: its rows cannot be "
                                   "covered by the audit trail")
            self._pk[table] = cols
        return self._pk[table]

    def _primary_key(self, table: str) -> tuple[str, ...]:
        raise NotImplementedError

    def tables(self) -> list[str]:
        raise NotImplementedError

    def iter_rows(self, table: str, batch: int = 10_000) -> Iterator[Row]:
        """Every row of `table`, streamed."""
        cur = self._cursor(f"SELECT * FROM {table}")
        cols = [d[0] for d in cur.description]
        while rows := cur.fetchmany(batch):
            for r in rows:
                yield dict(zip(cols, r, strict=True))

    def iter_sorted_tuples(self, table: str, batch: int = 10_000
                           ) -> tuple[list[str], Iterator[tuple[Any, ...]]]:
        """Every row of `table` as a tuple, its columns in sorted order (how a row image
        hashes them), streamed; with the column names."""
        cur = self._cursor(f"SELECT * FROM {table}")
        stored = [d[0] for d in cur.description]
        cols = sorted(stored)
        order = itemgetter(*(stored.index(c) for c in cols))
        one = len(cols) == 1

        def rows() -> Iterator[tuple[Any, ...]]:
            while chunk := cur.fetchmany(batch):
                for r in chunk:
                    yield (r[0],) if one else order(r)

        return cols, rows()

    def record_tables(self) -> list[str]:
        return [t for t in self.tables() if self._is_record(t)]

    def row_images(self, table: str, keys: Sequence[tuple[Any, ...]]) -> list[list[Any]]:
        """[table, key, digest] per key: the row as stored now (digest None: no such row)."""
        pk = self.primary_key(table)
        found: dict[tuple[str, ...], tuple[Any, str]] = {}  # keyed by the text of the key

        def keep(r: Row) -> None:
            k = tuple(r[c] for c in pk)
            found[tuple(str(v) for v in k)] = (image_key(k), row_digest(r))

        if len(pk) == 1:
            listed = [k[0] for k in keys]
            for start in range(0, len(listed), 500):
                chunk = listed[start:start + 500]
                marks = ", ".join("?" for _ in chunk)
                for r in self.all(f"SELECT * FROM {table} WHERE {pk[0]} IN ({marks})", chunk):
                    keep(r)
        else:  # row values: one statement per chunk (a step writes dozens of edges)
            tup = "(" + ", ".join("?" for _ in pk) + ")"
            for start in range(0, len(keys), 300):
                rows_of = keys[start:start + 300]
                marks = ", ".join(tup for _ in rows_of)
                for r in self.all(f"SELECT * FROM {table} WHERE ({', '.join(pk)}) IN "
                                  f"(VALUES {marks})", [v for k in rows_of for v in k]):
                    keep(r)
        out = []
        for k in keys:
            image = found.get(tuple(str(v) for v in k))
            out.append([table, *(image or (image_key(k), None))])
        return out

    def flush_audit(self) -> None:
        """Store this transaction's audit events now, for a reader in the same transaction
        (`mes db copy` copies the chain with its own event in it)."""
        self._require_tx()
        self._written += self._flush_audit()

    def _flush_audit(self) -> list[Row]:
        """At commit: the images of every record row written go into the last audit event
        of the transaction (a `rows.write` event when a write came without one), then the
        events are stored."""
        touched, self._touched = self._touched, {}
        images: list[list[Any]] = []
        for table in sorted(touched):
            keys = sorted((k for k in touched[table]
                           if len(k) > 1 or (table, k[0]) not in NOT_RECORD_ROWS), key=repr)
            images += self.row_images(table, keys)
        images += self._gone
        self._gone = []
        if images and not self._pending:
            self.append_audit(username=None, station=None, action="rows.write",
                              entity_type="table", entity_id=",".join(sorted(touched)),
                              reason="rows written without an event of their own")
        pending, self._pending = self._pending, []
        if images:
            last = pending[-1]
            last["row_images"] = canonical_json(images)
            last["hash"] = event_hash(last["prev_hash"], last)
        for event in pending:
            self.insert("audit", event)
        return pending

    def _require_tx(self) -> None:
        if not self._depth:
            raise RuntimeError("write outside a transaction")

    # -- counters, identifiers, quantities ---------------------------------------
    def next_counters(self, name: str, count: int) -> int:
        """Take `count` numbers of counter `name` at once; returns the first."""
        self._require_tx()
        last = self.scalar("INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT (name) "
                           "DO UPDATE SET value = counters.value + excluded.value "
                           "RETURNING value", (name, count))
        return int(last) - count + 1

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
        # Integer keys (issue 15) for the genealogy; writers are serialised, so max + 1.
        key = self.scalar("SELECT coalesce(max(key), 0) + 1 FROM items")
        self.insert("items", {"id": item_id, "kind": kind, "created_at": clock.now_iso(),
                              "key": key})

    def decrement(self, table: str, key: str, column: str, qty: float) -> bool:
        """Atomic `column -= qty` only if enough is left (never read-modify-write)."""
        self._require_tx()
        n = self.exec(f"UPDATE {table} SET {column} = {column} - ? "
                      f"WHERE {KEYS[table]} = ? AND {column} >= ?", (qty, key, qty))
        if n == 1:
            self.touch(table, (key,))
        return n == 1

    # -- audit chain -------------------------------------------------------------
    def append_audit(self, *, username: str | None, station: str | None, action: str,
                     entity_type: str, entity_id: str, old: Any = None, new: Any = None,
                     reason: str | None = None) -> int:
        """Append one hash-chained event inside the caller's transaction; it is stored at
        commit (see `_flush_audit`). Returns its sequence number."""
        self._require_tx()
        if self._pending:
            seq, prev = self._pending[-1]["seq"] + 1, self._pending[-1]["hash"]
        else:
            self._lock_audit()
            last = self.one("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")
            seq, prev = (last["seq"] + 1, last["hash"]) if last else (1, GENESIS)
        event = {
            "seq": seq, "at": clock.now_iso(), "username": username, "station": station,
            "action": action, "entity_type": entity_type, "entity_id": entity_id,
            "old": _json_or_none(old), "new": _json_or_none(new), "reason": reason,
        }
        self._pending.append({**event, "prev_hash": prev, "hash": event_hash(prev, event)})
        return seq

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

    def audit_tuples(self, batch: int = 50_000) -> Iterator[tuple[Any, ...]]:
        """Every audit event in seq order as a tuple in AUDIT_COLUMNS order, streamed:
        verification reads 1 M events without a dict per event."""
        cols = ", ".join(AUDIT_COLUMNS)
        after = 0
        while True:
            rows = self.tuples(f"SELECT {cols} FROM audit WHERE seq > ? ORDER BY seq LIMIT ?",
                               (after, batch))
            if not rows:
                return
            yield from rows
            after = rows[-1][0]

    def audit_head(self) -> Row | None:
        return self.one("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")

    def audit_event(self, seq: int) -> Row | None:
        return self.one("SELECT seq, hash FROM audit WHERE seq = ?", (seq,))

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

    # -- append-only protection (issue 13 item 3) -------------------------------------
    def protection_problems(self) -> list[str]:
        """What is missing of the audit table's append-only protection (empty: all there)."""
        raise NotImplementedError

    def require_protected(self) -> None:
        problems = self.protection_problems()
        if problems:
            raise IntegrityFailure(
                f"the audit trail of {self.location} is no longer append-only "
                f"({'; '.join(problems)}): nothing is written until an admin restores it "
                "with `mes db protect` (and investigates who removed it)")

    def restore_protection(self) -> None:
        raise NotImplementedError

    def baseline_row_images(self) -> None:
        """Rows that existed before row images (a database upgraded to issue 13's schema):
        their images, as found, go into one `audit.baseline` event per table."""
        for table in self.record_tables():
            pk = self.primary_key(table)
            with self.transaction():
                n = 0
                for r in self.all(f"SELECT {', '.join(pk)} FROM {table}"):
                    self.touch(table, tuple(r[c] for c in pk))
                    n += 1
                if n:
                    self.append_audit(username=None, station=None, action="audit.baseline",
                                      entity_type="table", entity_id=table, new={"rows": n},
                                      reason="rows present when row images were introduced")

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


def image_key(key: tuple[Any, ...]) -> Any:
    """A row's key as its image names it: the value, or a list for a composite key."""
    return key[0] if len(key) == 1 else list(key)


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


def in_chunks(ids: Sequence[Any], size: int = 500) -> Iterator[tuple[list[Any], str]]:
    """`ids` in slices an IN (...) list can take on both backends, with their `?` marks."""
    listed = list(ids)
    for start in range(0, len(listed), size):
        chunk = listed[start:start + size]
        yield chunk, ", ".join("?" for _ in chunk)
