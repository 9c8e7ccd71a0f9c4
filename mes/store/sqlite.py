"""The embedded store: one SQLite file (DESIGN §4).

WAL, synchronous=FULL (an acknowledged record survives a power cut), foreign keys,
and every write transaction opened with BEGIN IMMEDIATE under a busy timeout: measured
here as the only combination with no "database is locked" and no forked audit chain.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from mes.errors import IntegrityFailure, NotFound
from mes.store.base import Store
from mes.store.schema import (
    GENEALOGY_MIGRATION,
    MIGRATIONS,
    ROW_IMAGES_SINCE,
    SCHEMA_VERSION,
    SQLITE_AUDIT_GUARDS,
    ddl,
)

BUSY_TIMEOUT_MS = 10_000


class SqliteStore(Store):
    dialect = "sqlite"

    def __init__(self, path: Path, *, create: bool = False) -> None:
        super().__init__()
        self.path = Path(path)
        self.location = str(self.path)
        if not create and not self.path.exists():
            raise NotFound(f"no mes database at {self.path}: run `mes init` in the workspace "
                           "or point --db / MES_DB at one")
        try:
            # isolation_level=None: we issue BEGIN IMMEDIATE ourselves; Python's implicit
            # transactions read the chain head outside the write lock and fork the chain.
            self.conn = sqlite3.connect(self.path, isolation_level=None,
                                        timeout=BUSY_TIMEOUT_MS / 1000)
            self.conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            self.conn.execute("PRAGMA journal_mode = WAL")
            self.conn.execute("PRAGMA synchronous = FULL")
            self.conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.DatabaseError as exc:
            raise IntegrityFailure(f"{self.path} is not a usable mes database ({exc}): "
                                   "restore it from a backup") from exc

    def _begin(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")

    def schema_version(self) -> int:
        try:
            has_meta = self.scalar(
                "SELECT count(*) FROM sqlite_master WHERE type='table' AND name='meta'")
        except sqlite3.DatabaseError as exc:
            raise IntegrityFailure(f"{self.path} is not a mes database ({exc})") from exc
        if not has_meta:
            return 0
        value = self.scalar("SELECT value FROM meta WHERE key = 'schema_version'")
        return int(value or 0)

    def migrate(self) -> int:
        """Bring the schema up to this program's version; refuse a newer database."""
        self.check_version(SCHEMA_VERSION)
        found = self.schema_version()
        backup = self.backup_before_migration(found) if 0 < found < SCHEMA_VERSION else None
        self.allow_unprotected = True  # the first migration creates the protection
        try:
            current = self._migrate()
        except sqlite3.DatabaseError as exc:  # rolled back: the database is as it was
            raise IntegrityFailure(
                f"{self.path} could not be migrated from schema version {found} to "
                f"{SCHEMA_VERSION} ({exc}); nothing was changed (a copy is at {backup}): "
                "investigate the rows named, or restore a backup") from exc
        finally:
            self.allow_unprotected = False
        if 0 < current < ROW_IMAGES_SINCE:
            self.baseline_row_images()
        return SCHEMA_VERSION

    def backup_before_migration(self, version: int) -> Path:
        """An online copy (SQLite's backup API) of the database as it is, `mes.db.v<N>.bak`
        next to it, before a migration from version N touches it."""
        target = self.path.with_name(f"{self.path.name}.v{version}.bak")
        dst = sqlite3.connect(target)
        try:
            self.conn.backup(dst)
        finally:
            dst.close()
        return target

    def _migrate(self) -> int:
        from mes.store import genealogy_migration

        with self.transaction():
            current = self.schema_version()
            from mes.store import upgrade_images

            reimage = upgrade_images.before(self, current) if current else None
            for number in range(current, SCHEMA_VERSION):
                state = (genealogy_migration.before(self, current)
                         if number == GENEALOGY_MIGRATION and current else None)
                for statement in MIGRATIONS[number]:
                    self.conn.execute(ddl(statement, self.dialect).replace(
                        "{pk}", "INTEGER PRIMARY KEY AUTOINCREMENT"))
                if number == GENEALOGY_MIGRATION:
                    genealogy_migration.after(self, state)
                if number == 0:
                    for guard in SQLITE_AUDIT_GUARDS:
                        self.conn.execute(guard)
            upgrade_images.after(self, reimage, current)
            self.exec("INSERT INTO meta (key, value) VALUES ('schema_version', ?) "
                      "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                      (str(SCHEMA_VERSION),))
        return current

    def tables(self) -> list[str]:
        rows = self.all("SELECT name FROM sqlite_master WHERE type = 'table' "
                        "AND name NOT LIKE 'sqlite_%' ORDER BY name")
        return [r["name"] for r in rows]

    def _primary_key(self, table: str) -> tuple[str, ...]:
        cols = self.conn.execute(f"PRAGMA table_info({table})").fetchall()
        return tuple(c[1] for c in sorted((c for c in cols if c[5]), key=lambda c: c[5]))

    def protection_problems(self) -> list[str]:
        """The two triggers that refuse UPDATE/DELETE on audit, exactly as created."""
        found = {r["name"]: r["sql"] for r in self.all(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit'")}
        if not found and not self.scalar(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'audit'"):
            return []  # a database being created
        problems = []
        for guard in SQLITE_AUDIT_GUARDS:
            name = guard.split()[2]
            if name not in found:
                problems.append(f"trigger {name} is missing")
            elif _words(found[name]) != _words(guard):
                problems.append(f"trigger {name} was changed")
        return problems

    def restore_protection(self) -> None:
        self._require_tx()
        for guard in SQLITE_AUDIT_GUARDS:
            self.conn.execute(f"DROP TRIGGER IF EXISTS {guard.split()[2]}")
            self.conn.execute(guard)

    def is_initialised(self) -> bool:
        return self.schema_version() > 0 and self.get("meta", "site_id") is not None


def _words(sql: str) -> list[str]:
    return sql.split()
