"""Bulk loading: many rows in few transactions (importers, the plant benchmark).

`BulkLoader(store)` writes prepared rows with `executemany`, in batches, each batch one
`BEGIN IMMEDIATE` transaction (DESIGN §4), so an import of millions of rows neither holds
the write lock for minutes nor pays a commit per row. It is still the store's own path:
the same connection, the same transactions, the same audit chain.

- Rows are tuples in the column order given (or the `COLUMNS` of the typed helpers), with
  values as stored: text, int, float or None. Containers must already be JSON text
  (`as_db` converts one value the way `Store.insert` does); converting per value is left
  to the caller because it would cost more than the insert itself.
- `audit(events)` appends hash-chained events exactly as `Store.append_audit` does: the
  chain head is read inside each batch's transaction (after the audit lock on PostgreSQL),
  `at` is the clock's now, old/new are canonical JSON, hash = `event_hash(prev, event)`.
  So a bulk load never forks the chain, even with other writers at work.
- `edges(rows)` takes edges by item ids (the old `edges` columns) and writes `genealogy`
  rows as `genealogy.add_edges` does (integer keys, the step's fields not copied);
  `items(rows)` gives each item the next integer key.
- `defer_indexes=("genealogy",)` drops the secondary indexes of those tables first and builds
  them once at the end (much faster than maintaining them row by row). Only for a fresh
  database: the tables must be empty, since trace queries without the indexes would scan.
  The indexes are rebuilt even when the load fails, so the schema is never left short.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import islice
from types import TracebackType
from typing import Any, Protocol

from mes import clock
from mes.domain.audit import GENESIS, event_hash
from mes.errors import Refused
from mes.store import genealogy
from mes.store.base import Store, _db, _json_or_none

_NAME = re.compile(r"[a-z_][a-z0-9_]*")
# Columns of the tables the typed helpers write, in the order their tuples use.
COLUMNS: dict[str, tuple[str, ...]] = {
    "items": ("id", "kind", "created_at"),
    "lots": ("id", "part", "routing_version", "site_id", "qty", "serialized", "status",
             "qty_released", "qty_shipped", "remaining", "created_at", "created_by",
             "completed_at", "released_at"),
    "units": ("serial", "lot_id", "status", "mcu_uid", "consumed_into"),
    "material_lots": ("id", "part", "supplier", "supplier_lot", "mpn", "date_code", "expiry",
                      "origin", "unit_cost", "cert", "qty_received", "remaining", "status",
                      "received_at", "received_by"),
    "edges": ("parent", "child", "qty", "op", "step_id", "station_id", "refdes", "feeder",
              "at"),
    "steps": ("id", "lot_id", "serial", "op", "station_id", "username", "started_at",
              "completed_at", "status", "result", "data", "attempt", "source"),
    "flashes": ("serial", "image_id", "image_sha256", "mcu_uid", "station_id", "attempt",
                "verify", "exit_status", "duration_ms", "step_id", "at"),
}
CACHE_KIB = 256 * 1024  # SQLite page cache while loading
AUDIT_COLUMNS = ("seq", "at", "username", "station", "action", "entity_type", "entity_id",
                 "old", "new", "reason", "prev_hash", "hash")


def as_db(value: Any) -> Any:
    """One value as `Store.insert` stores it (bool -> 0/1, containers -> canonical JSON)."""
    return _db(value)


@dataclass(frozen=True)
class AuditEvent:
    """One audit event to append; `at`, `seq` and the hashes are set by the loader."""

    action: str
    entity_type: str
    entity_id: str
    username: str | None = None
    station: str | None = None
    old: Any = None
    new: Any = None
    reason: str | None = None


class Progress(Protocol):
    def __call__(self, table: str, rows: int) -> None: ...


class BulkLoader:
    """Batched inserts and audit appends through one store; use as a context manager."""

    def __init__(self, store: Store, *, batch_size: int = 50_000,
                 defer_indexes: Sequence[str] = (), analyze: bool = True,
                 progress: Progress | None = None, images: bool = False) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        for table in defer_indexes:
            _check_name(table)
        self.store = store
        self.batch_size = batch_size
        self.defer_indexes = tuple(defer_indexes)
        self.analyze = analyze
        self.progress = progress
        # With images, each batch's rows are covered like any store write (issue 13): their
        # images go into a `rows.write` event of the batch. Slower (rows with a generated
        # key are inserted one by one); without, reconcile names every loaded row.
        self.images = images
        self.counts: dict[str, int] = {}
        self._dropped: list[tuple[str, str]] = []  # (name, CREATE INDEX statement)
        self._open = False
        self._cache: Any = None

    # -- lifecycle -----------------------------------------------------------------------
    def __enter__(self) -> BulkLoader:
        if self.store.in_transaction():
            raise RuntimeError("BulkLoader commits per batch: use it outside a transaction")
        self._open = True
        if self.store.dialect == "sqlite":
            # index builds sort in the page cache: 256 MiB instead of the default 2 MiB
            self._cache = self.store.scalar("PRAGMA cache_size")
            self.store.exec(f"PRAGMA cache_size = {-CACHE_KIB}")
        if self.defer_indexes:
            try:
                self._drop_indexes()
            except BaseException:
                self.finish(analyze=False)
                raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.finish(analyze=self.analyze and exc_type is None)

    def finish(self, *, analyze: bool = True) -> None:
        """Rebuild deferred indexes (and refresh planner statistics after a large load),
        and move id sequences past the ids loaded."""
        if not self._open:
            return
        self._open = False
        try:
            dropped, self._dropped = self._dropped, []
            with self.store.transaction() as tx:
                for _, ddl in dropped:
                    tx.exec(ddl)
                tx.reset_sequences()  # rows came with their ids (steps): ids go on after them
            if dropped and analyze:
                self._analyze()
        finally:
            if self._cache is not None:
                self.store.exec(f"PRAGMA cache_size = {int(self._cache)}")
                self._cache = None

    def _drop_indexes(self) -> None:
        with self.store.transaction() as tx:
            for table in self.defer_indexes:
                if tx.scalar(f"SELECT 1 FROM {table} LIMIT 1") is not None:
                    raise Refused(f"table {table} already has rows: deferring its indexes is "
                                  "only for loading a fresh database")
                found = _index_ddl(tx, table)
                for name, _ in found:
                    tx.exec(f"DROP INDEX {name}")
                self._dropped += found

    def _analyze(self) -> None:
        if self.store.dialect == "sqlite":
            # a bounded sample per index: seconds, not minutes, on tens of millions of rows
            self.store.exec("PRAGMA analysis_limit = 1000")
        for table in self.defer_indexes:
            self.store.exec(f"ANALYZE {table}")

    # -- rows ----------------------------------------------------------------------------
    def insert(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]],
               prepare: Callable[[Store, list[Any]], list[Any]] | None = None) -> int:
        """INSERT every row (tuples in `columns` order), `batch_size` rows per transaction;
        `prepare(tx, batch)` turns a batch into the rows stored, inside its transaction."""
        _check_name(table)
        for c in columns:
            _check_name(c)
        sql = (f"INSERT INTO {table} ({', '.join(columns)}) "
               f"VALUES ({', '.join('?' for _ in columns)})")
        total = 0
        for batch in _batches(rows, self.batch_size):
            with self.store.transaction() as tx:
                if prepare is not None:
                    batch = prepare(tx, batch)
                if self.images:
                    tx.insert_many(table, columns, batch)
                else:
                    tx.executemany(sql, batch)
            total += len(batch)
            self._count(table, len(batch))
        return total

    def items(self, rows: Iterable[Sequence[Any]]) -> int:
        """Items as (id, kind, created_at); each gets the next integer key (issue 15)."""
        def keyed(tx: Store, batch: list[Any]) -> list[Any]:  # under the write lock
            first = int(tx.scalar("SELECT coalesce(max(key), 0) + 1 FROM items"))
            return [(*r, first + i) for i, r in enumerate(batch)]

        return self.insert("items", (*COLUMNS["items"], "key"), rows, prepare=keyed)

    def lots(self, rows: Iterable[Sequence[Any]]) -> int:
        return self.insert("lots", COLUMNS["lots"], rows)

    def units(self, rows: Iterable[Sequence[Any]]) -> int:
        return self.insert("units", COLUMNS["units"], rows)

    def material_lots(self, rows: Iterable[Sequence[Any]]) -> int:
        return self.insert("material_lots", COLUMNS["material_lots"], rows)

    def edges(self, rows: Iterable[Sequence[Any]]) -> int:
        """Edges as tuples in `COLUMNS["edges"]` order, by item ids; stored in `genealogy`."""
        cols = genealogy.GENEALOGY_COLUMNS
        sql = (f"INSERT INTO genealogy ({', '.join(cols)}) "
               f"VALUES ({', '.join('?' for _ in cols)})")
        total = 0
        for batch in _batches(rows, self.batch_size):
            with self.store.transaction() as tx:
                out = genealogy.edge_rows(tx, [dict(zip(COLUMNS["edges"], r, strict=True))
                                               for r in batch])
                if self.images:
                    tx.insert_many("genealogy", cols, out)
                else:
                    tx.executemany(sql, out)
            total += len(batch)
            self._count("edges", len(batch))
        return total

    def steps(self, rows: Iterable[Sequence[Any]]) -> int:
        """Steps with their ids given (edges and flashes refer to them): see `next_id`."""
        return self.insert("steps", COLUMNS["steps"], rows)

    def flashes(self, rows: Iterable[Sequence[Any]]) -> int:
        return self.insert("flashes", COLUMNS["flashes"], rows)

    def next_id(self, table: str, key: str = "id") -> int:
        """The first free integer key of `table` (to give ids to rows loaded in bulk)."""
        _check_name(table)
        _check_name(key)
        return int(self.store.scalar(f"SELECT coalesce(max({key}), 0) + 1 FROM {table}"))

    def raise_counter(self, name: str, value: int) -> None:
        """Make counter `name` at least `value`, so ids handed out later (lot numbers,
        serials, material ids) never collide with the ones loaded."""
        with self.store.transaction() as tx:
            tx.exec("INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT (name) DO "
                    "UPDATE SET value = CASE WHEN counters.value > excluded.value "
                    "THEN counters.value ELSE excluded.value END", (name, int(value)))

    # -- audit ---------------------------------------------------------------------------
    def audit(self, events: Iterable[AuditEvent | Mapping[str, Any]]) -> str:
        """Append every event to the hash chain, a batch per transaction; return the head."""
        sql = (f"INSERT INTO audit ({', '.join(AUDIT_COLUMNS)}) "
               f"VALUES ({', '.join('?' for _ in AUDIT_COLUMNS)})")
        head = ""
        for batch in _batches(events, self.batch_size):
            with self.store.transaction() as tx:
                tx._lock_audit()
                last = tx.audit_head()
                seq, prev = (last["seq"], last["hash"]) if last else (0, GENESIS)
                rows = []
                for e in batch:
                    seq += 1
                    event = _event(seq, e)
                    digest = event_hash(prev, event)
                    rows.append((*(event[c] for c in AUDIT_COLUMNS[:10]), prev, digest))
                    prev = digest
                tx.executemany(sql, rows)
            head = prev
            self._count("audit", len(batch))
        return head

    def _count(self, table: str, n: int) -> None:
        self.counts[table] = self.counts.get(table, 0) + n
        if self.progress is not None:
            self.progress(table, n)


def _event(seq: int, e: AuditEvent | Mapping[str, Any]) -> dict[str, Any]:
    """The event as `Store.append_audit` builds it (the hashed fields, in stored form)."""
    f = e if isinstance(e, Mapping) else e.__dict__
    return {
        "seq": seq, "at": clock.now_iso(), "username": f.get("username"),
        "station": f.get("station"), "action": f["action"],
        "entity_type": f["entity_type"], "entity_id": f["entity_id"],
        "old": _json_or_none(f.get("old")), "new": _json_or_none(f.get("new")),
        "reason": f.get("reason"),
    }


def _index_ddl(store: Store, table: str) -> list[tuple[str, str]]:
    """(name, CREATE statement) of the secondary indexes of `table` (not its keys)."""
    if store.dialect == "postgres":
        rows = store.all("SELECT indexname AS name, indexdef AS ddl FROM pg_indexes "
                         "WHERE tablename = ? AND indexname NOT LIKE '%_pkey' "
                         "AND indexdef NOT LIKE 'CREATE UNIQUE%' ORDER BY indexname", (table,))
    else:
        rows = store.all("SELECT name, sql AS ddl FROM sqlite_master WHERE type = 'index' "
                         "AND tbl_name = ? AND sql IS NOT NULL "
                         "AND sql NOT LIKE 'CREATE UNIQUE%' ORDER BY name", (table,))
    return [(r["name"], r["ddl"]) for r in rows]


def _batches(rows: Iterable[Any], size: int) -> Iterator[list[Any]]:
    it = iter(rows)
    while batch := list(islice(it, size)):
        yield batch


def _check_name(name: str) -> None:
    if not _NAME.fullmatch(name):
        raise ValueError(f"not a table or column name: {name!r}")


__all__ = ["AUDIT_COLUMNS", "COLUMNS", "AuditEvent", "BulkLoader", "as_db"]
