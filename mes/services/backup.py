"""Online backup of the SQLite database, and checking a backup file (docs/RELIABILITY.md).

`backup` copies the live database with SQLite's online backup API while stations keep
writing: the copy is one consistent snapshot (a read transaction in WAL mode does not
block writers). It is written to a temporary file, checked, fsynced and renamed into
place, so a crash never leaves a half-written file under the requested name. The
backup is audited (who, file, sha256, the chain head it contains).

`verify_backup` opens a file read-only and checks the schema version, `PRAGMA
integrity_check`, the audit hash chain and the state-against-audit reconciliation.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path
from typing import Any

from mes.domain.audit import verify_chain
from mes.errors import IntegrityFailure, InvalidInput, NotFound, Refused
from mes.services.auth import require
from mes.services.context import Context
from mes.services.files import create_private
from mes.store.base import Store
from mes.store.schema import SCHEMA_VERSION
from mes.store.sqlite import SqliteStore

PAGES_PER_STEP = -1  # one step: the snapshot is taken under one read transaction


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def backup(ctx: Context, dest: Path) -> dict[str, Any]:
    actor = require(ctx, "backup")
    store = ctx.store
    if store.dialect != "sqlite":
        raise Refused("backup copies the embedded SQLite database; for PostgreSQL use "
                      "pg_dump / the server's backup tooling")
    dest = Path(dest)
    if dest.exists():
        raise Refused(f"{dest} already exists: choose a new file name (a backup never "
                      "overwrites)")
    if not dest.parent.is_dir():
        raise NotFound(f"{dest.parent}: no such directory")
    src_path = Path(store.location).resolve()
    if dest.resolve() == src_path:
        raise Refused(f"{dest} is the live database")
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    try:
        tmp.unlink(missing_ok=True)  # a crashed run's leftover
        create_private(tmp)  # 0600 from the first byte; os.replace keeps the mode
        target = sqlite3.connect(tmp, isolation_level=None)
        try:
            store.conn.backup(target, pages=PAGES_PER_STEP)
            # A self-contained single file: no -wal/-shm next to the backup.
            target.execute("PRAGMA journal_mode = DELETE")
        finally:
            target.close()
        summary = verify_backup(tmp, reconcile_state=False)
        with tmp.open("rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, dest)
        _fsync_dir(dest.parent)
    except sqlite3.Error as exc:
        raise IntegrityFailure(f"backup to {dest} failed ({exc}): nothing was written") from exc
    except OSError as exc:
        raise InvalidInput(f"cannot write {dest}: {exc.strerror or exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)
    digest = _sha256(dest)
    record = {"file": str(dest), "sha256": digest, "bytes": dest.stat().st_size,
              "head_seq": summary["head_seq"], "head_hash": summary["head_hash"]}
    with store.transaction() as tx:
        tx.append_audit(username=actor.username, station=ctx.station, action="backup",
                        entity_type="database", entity_id=src_path.name,
                        new={**record, "files": [{"path": str(dest.resolve()),
                                                  "sha256": digest}]})
    return {**summary, **record}


def verify_backup(path: Path, *, reconcile_state: bool = True) -> dict[str, Any]:
    """Check a database file without changing it: schema, integrity, chain, reconcile."""
    path = Path(path)
    if not path.is_file():
        raise NotFound(f"{path}: no such file")
    with path.open("rb") as f:
        header = f.read(16)
    if header != b"SQLite format 3\x00":
        raise IntegrityFailure(f"{path} is not an SQLite database (bad header): not a mes "
                               "backup")
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True,
                               isolation_level=None)
    except sqlite3.Error as exc:
        raise IntegrityFailure(f"{path} cannot be opened ({exc})") from exc
    ro = _ReadOnly(conn, str(path))
    try:
        try:
            integrity = [r[0] for r in conn.execute("PRAGMA integrity_check").fetchall()]
            has_meta = conn.execute("SELECT count(*) FROM sqlite_master WHERE type='table' "
                                    "AND name='meta'").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise IntegrityFailure(f"{path} is damaged ({exc}): use another backup") from exc
        if integrity != ["ok"]:
            raise IntegrityFailure(f"{path} fails PRAGMA integrity_check: "
                                   f"{'; '.join(integrity[:3])}")
        if not has_meta:
            raise IntegrityFailure(f"{path} is an SQLite file but not a mes database")
        version = int(ro.scalar("SELECT value FROM meta WHERE key = 'schema_version'") or 0)
        if version > SCHEMA_VERSION:
            raise IntegrityFailure(f"{path} has schema version {version}, newer than this "
                                   f"program ({SCHEMA_VERSION}): upgrade mes to restore it")
        if version < 1:
            raise IntegrityFailure(f"{path} is not an initialised mes database")
        report = verify_chain(ro.audit_rows())
        if not report.ok:
            raise IntegrityFailure(f"{path}: audit chain broken at event "
                                   f"{report.first_bad_seq}: {report.problem}")
        unprotected = ro.protection_problems()
        if unprotected:
            raise IntegrityFailure(f"{path}: the audit trail is no longer append-only "
                                   f"({'; '.join(unprotected)}): investigate before restoring")
        from mes.services.audit import reconcile_records as reconcile

        rec: dict[str, Any] = reconcile(ro) if reconcile_state else {"ok": True,
                                                                     "checked": None}
        if not rec["ok"]:
            raise IntegrityFailure(f"{path}: the data does not match its audit trail: "
                                   f"{rec['problems'][0]}"
                                   + (f" (and {len(rec['problems']) - 1} more)"
                                      if len(rec["problems"]) > 1 else ""))
        counts = {t: int(ro.scalar(f"SELECT count(*) FROM {t}")) for t in
                  ("lots", "units", "steps", "material_lots", "edges", "signatures", "ncrs")}
        site = ro.scalar("SELECT value FROM meta WHERE key = 'site_id'")
        last_at = ro.scalar("SELECT at FROM audit ORDER BY seq DESC LIMIT 1")
    finally:
        conn.close()
    return {"file": str(path), "bytes": path.stat().st_size, "schema_version": version,
            "integrity": "ok", "site": site, "events": report.events,
            "head_seq": report.head_seq, "head_hash": report.head_hash, "last_event_at": last_at,
            "counts": counts, "reconciled": rec["checked"]}


class _ReadOnly(SqliteStore):
    """The store's row access over a read-only connection (no migrations, no writes)."""

    def __init__(self, conn: sqlite3.Connection, location: str) -> None:
        Store.__init__(self)
        self.path = Path(location)
        self.conn = conn
        self.location = location
