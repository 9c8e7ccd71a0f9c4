"""Database administration: `mes db info | migrate | copy` (docs/POSTGRES.md).

- `info`: backend, location (password redacted), schema version, rows per table, audit
  head. Opens the database without migrating it, so it also describes an older or a
  newer database.
- `migrate`: bring the schema to this program's version (admin; audited). On an empty
  PostgreSQL database it creates the schema, so the database owner can grant the station
  role its privileges before `mes init` or `mes db copy`.
- `copy`: every record of one workspace database into an empty other one (typically the
  SQLite file into the plant server), ids of identity columns kept (sequences reset after),
  inside one target transaction that is committed only after the copy was checked: the
  audit chain recomputed on the target, row counts and audit head equal to the source's.
  The source is held under its write lock while copying (one consistent snapshot), and the
  copy itself is recorded in the source's audit chain first, so the target's chain ends
  with the event that created it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mes.domain.audit import GENESIS, verify_chain
from mes.errors import IntegrityFailure, InvalidInput, NotFound, Refused
from mes.services.auth import require
from mes.services.context import Actor, Context
from mes.store import is_postgres
from mes.store.base import Store
from mes.store.schema import MIGRATIONS, SCHEMA_VERSION

BATCH = 5_000


def schema_tables() -> list[str]:
    """Every table of the schema, in creation order (referenced tables first)."""
    names: list[str] = []
    for migration in MIGRATIONS:
        for statement in migration:
            m = re.match(r"\s*CREATE TABLE (\w+)", statement)
            if m and m.group(1) not in names:
                names.append(m.group(1))
            # a table renamed away or dropped by a later migration (issue 15: `edges`
            # became `genealogy`, with a view of the old name) is no table of the schema
            gone = re.match(r"\s*(?:ALTER TABLE (\w+) RENAME TO|DROP TABLE (\w+))", statement)
            if gone and (gone.group(1) or gone.group(2)) in names:
                names.remove(gone.group(1) or gone.group(2))
    return names


def open_raw(db: str, *, create: bool = False) -> Store:
    """A store on `db` as it is: no version check, no automatic migration."""
    if is_postgres(db):
        from mes.store.postgres import PostgresStore

        return PostgresStore(db)
    from mes.store.sqlite import SqliteStore

    return SqliteStore(Path(db), create=create)


def existing_tables(store: Store) -> set[str]:
    tables = getattr(store, "tables", None)
    if callable(tables):  # PostgreSQL: information_schema
        return set(tables())
    # SQLite's catalogue (the SQLite store has no listing of its own).
    return {r["name"] for r in store.all("SELECT name FROM sqlite_master WHERE type = 'table'")}


def row_counts(store: Store) -> dict[str, int]:
    present = existing_tables(store)
    return {t: int(store.scalar(f"SELECT count(*) FROM {t}"))
            for t in schema_tables() if t in present}


def _head(store: Store, present: set[str]) -> dict[str, Any]:
    row = store.audit_head() if "audit" in present else None
    return {"seq": row["seq"], "hash": row["hash"]} if row else {"seq": 0, "hash": GENESIS}


def require_db(ctx: Context, action: str) -> Actor:
    """Authenticate (against ctx's store) and check the role for a `db.*` action."""
    return require(ctx, action)


# -- info ------------------------------------------------------------------------------

def info(ctx: Context) -> dict[str, Any]:
    store = open_raw(ctx.db)
    try:
        present = existing_tables(store)
        version = store.schema_version()
        out: dict[str, Any] = {
            "backend": "postgresql" if store.dialect == "postgres" else "sqlite",
            "location": store.location,
            "schema_version": version,
            "program_schema_version": SCHEMA_VERSION,
            "status": ("not initialised" if version == 0 else
                       "newer than this program: upgrade mes" if version > SCHEMA_VERSION else
                       "older: run `mes db migrate`" if version < SCHEMA_VERSION else "current"),
        }
        server = getattr(store, "server_version", None)
        if callable(server):
            out["server_version"] = server()
        out["tables"] = row_counts(store)
        out["audit_head"] = _head(store, present)
        return out
    finally:
        store.close()


# -- migrate ---------------------------------------------------------------------------

def migrate(ctx: Context) -> dict[str, Any]:
    store = open_raw(ctx.db)
    ctx._store = store  # authenticate against this database, unmigrated (closed with ctx)
    store.check_version(SCHEMA_VERSION)
    before = store.schema_version()
    out = {"location": store.location, "from": before, "to": SCHEMA_VERSION}
    if before == 0:
        if store.dialect != "postgres":
            raise NotFound(f"{store.location} is not an initialised mes workspace: run "
                           "`mes init` first")
        # An empty server database: no users yet, so nobody to authenticate. Only the
        # schema is created; `mes init` or `mes db copy` fills it.
        if existing_tables(store) & set(schema_tables()):
            raise Refused(f"{store.location} has mes tables but no schema version: it is not "
                          "a mes database, or it is damaged; restore it or use another one")
        store.migrate()
        return {**out, "changed": True}
    actor = require_db(ctx, "db.migrate")  # an admin's command even when nothing is due
    if before == SCHEMA_VERSION:
        return {**out, "changed": False}
    store.migrate()
    with store.transaction():
        store.append_audit(username=actor.username, station=ctx.station, action="db.migrate",
                           entity_type="database", entity_id=store.location,
                           old={"schema_version": before},
                           new={"schema_version": SCHEMA_VERSION})
    return {**out, "changed": True}


# -- protect ---------------------------------------------------------------------------

def protect(ctx: Context) -> dict[str, Any]:
    """Put back the audit table's append-only triggers / revocations (issue 13 item 3)."""
    store = ctx.store
    store.allow_unprotected = True  # this command alone may write while they are missing
    try:
        actor = require_db(ctx, "db.migrate")
        problems = store.protection_problems()
        if problems:
            with store.transaction():
                store.restore_protection()
                store.append_audit(username=actor.username, station=ctx.station,
                                   action="db.protect", entity_type="database",
                                   entity_id=store.location, old={"missing": problems},
                                   new={"protected": True})
    finally:
        store.allow_unprotected = False
    left = store.protection_problems()
    if left:
        raise IntegrityFailure(f"the protection of {store.location} could not be restored "
                               f"({'; '.join(left)}): run as the database owner")
    return {"location": store.location, "restored": problems}


# -- copy ------------------------------------------------------------------------------

def _rows(store: Store, table: str) -> tuple[list[str], Iterator[tuple[Any, ...]]]:
    cur = store._cursor(f"SELECT * FROM {table} ORDER BY 1")
    columns = [d[0] for d in cur.description]

    def gen() -> Iterator[tuple[Any, ...]]:
        while True:
            batch = cur.fetchmany(BATCH)
            if not batch:
                return
            for row in batch:
                yield tuple(row)

    return columns, gen()


def _insert_rows(dst: Store, table: str, columns: list[str],
                 rows: Iterator[tuple[Any, ...]]) -> None:
    copy_rows = getattr(dst, "copy_rows", None)
    if callable(copy_rows):  # PostgreSQL: COPY
        copy_rows(table, columns, rows)
        return
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})"
    batch: list[tuple[Any, ...]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= BATCH:
            dst.executemany(sql, batch)
            batch = []
    if batch:
        dst.executemany(sql, batch)


def _require_empty(dst: Store) -> None:
    present = existing_tables(dst) & set(schema_tables())
    version = dst.schema_version()
    if version == 0 and present:
        raise Refused(f"{dst.location} has mes tables but no schema version: copy into an "
                      "empty database")
    full = [t for t in sorted(present) if dst.scalar(
        f"SELECT count(*) FROM {t}" + (" WHERE key <> 'schema_version'" if t == "meta" else ""))]
    if full:
        raise Refused(f"{dst.location} is not empty ({', '.join(full[:5])} have rows): "
                      "copy only into a new, empty database; nothing was copied")


def copy(ctx: Context, source: str, target: str) -> dict[str, Any]:
    """Copy every record of `source` into the empty `target`; checked before commit."""
    if source == target:
        raise InvalidInput("--from and --to name the same database", field="to")
    if not is_postgres(target) and Path(target).exists() and Path(target).stat().st_size:
        raise Refused(f"{target} already exists: copy only into a new, empty database")
    if not is_postgres(source) and not Path(source).exists():
        raise NotFound(f"no mes database at {source}")
    src = open_raw(source)
    ctx._store = src  # authenticate against the source (closed with ctx)
    version = src.schema_version()
    if version == 0:
        raise NotFound(f"{src.location} is not an initialised mes workspace")
    src.check_version(SCHEMA_VERSION)
    if version < SCHEMA_VERSION:
        raise Refused(f"{src.location} is at schema version {version}: run `mes db migrate` "
                      "on it first (this program copies version "
                      f"{SCHEMA_VERSION} databases)")
    actor = require_db(ctx, "db.copy")
    chain = verify_chain(src.audit_rows())
    if not chain.ok:
        raise IntegrityFailure(f"the audit chain of {src.location} is broken at event "
                               f"{chain.first_bad_seq} ({chain.problem}): nothing copied; "
                               "restore the source from a backup first")
    created = not is_postgres(target) and not Path(target).exists()
    if created:
        _create_copy_file(Path(target))
    dst = open_raw(target, create=True)
    try:
        dst.check_version(SCHEMA_VERSION)
        _require_empty(dst)
        tables = schema_tables()
        with src.transaction():  # the source's write lock: one consistent snapshot
            src.append_audit(username=actor.username, station=ctx.station, action="db.copy",
                             entity_type="database", entity_id=src.location,
                             new={"from": src.location, "to": dst.location})
            src.flush_audit()  # the copy carries its own event
            counts = row_counts(src)
            head = _head(src, set(tables))
            with dst.transaction():
                dst.migrate()
                for table in tables:
                    columns, rows = _rows(src, table)
                    if table == "meta":
                        rows = (r for r in rows if r[columns.index("key")] != "schema_version")
                    _insert_rows(dst, table, columns, rows)
                dst.reset_sequences()
                check = _check_copy(dst, counts, head)
        return {"from": src.location, "to": dst.location, "tables": counts,
                "audit_head": head, "verified": check}
    except BaseException:
        dst.close()
        if created:
            Path(target).unlink(missing_ok=True)
        raise
    finally:
        dst.close()


def _create_copy_file(path: Path) -> None:
    """The copy holds every record: created 0600 whatever the umask (SQLite gives its WAL
    and shared-memory files the database's mode)."""
    from mes.services.files import create_private

    if not path.parent.is_dir():
        raise NotFound(f"{path.parent}: no such directory")
    try:
        create_private(path)
    except OSError as exc:
        raise InvalidInput(f"cannot create {path}: {exc.strerror or exc}") from exc


def _check_copy(dst: Store, counts: dict[str, int], head: dict[str, Any]) -> dict[str, Any]:
    """Inside the target's transaction: anything off and the whole copy is rolled back."""
    got = row_counts(dst)
    if got != counts:
        diff = {t: (counts.get(t), got.get(t)) for t in counts if counts.get(t) != got.get(t)}
        raise IntegrityFailure(f"copy check failed, row counts differ (source, target): {diff}; "
                               "nothing was copied")
    chain = verify_chain(dst.audit_rows())
    if not chain.ok:
        raise IntegrityFailure(f"copy check failed: the copied audit chain is broken at "
                               f"event {chain.first_bad_seq} ({chain.problem}); nothing was "
                               "copied")
    if (chain.head_seq, chain.head_hash) != (head["seq"], head["hash"]):
        raise IntegrityFailure("copy check failed: the copied audit head differs from the "
                               "source's; nothing was copied")
    return {"audit_chain": "ok", "events": chain.events, "row_counts": "equal",
            "audit_head": "equal"}
