"""The floor of an operator step: argparse + sqlite3, one step row and its audit event.

What any program must do to record a step on the plant database (DESIGN §4, §10): open
the file (WAL, synchronous=FULL, foreign keys, busy timeout), BEGIN IMMEDIATE, insert the
step, read the chain head, hash the event (sha256 of prev_hash + canonical JSON), insert
it, COMMIT. No authentication, no interlocks, no routing: `mes step complete` does all of
that on top, so `bench/plant.py` divides its time by this script's.

With a postgresql:// address the same with psycopg: BEGIN, one transaction-level advisory
lock so that two writers cannot read the same chain head (what any correct writer needs;
the store's key, so it also serialises with `mes`), then the same statements.

The event is a valid link of the chain (same fields and canonical JSON as
mes.domain.audit), so `mes audit verify` still passes after a benchmark run.

    python bench/floor_step.py --db mes.db SERIAL --lot LOT --op 20 --station SPI-1 \
        --user fatima --data paste_height_um=125 --result pass
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sqlite3
import sys
from datetime import UTC, datetime
from typing import Any

GENESIS = "0" * 64
FIELDS = ("seq", "at", "username", "station", "action", "entity_type", "entity_id",
          "old", "new", "reason")
AUDIT_LOCK_KEY = 0x6D6573  # mes.store.postgres.AUDIT_LOCK_KEY (not imported: a bare floor)


def is_postgres(db: str) -> bool:
    return db.startswith(("postgresql://", "postgres://"))


def canonical(value: object) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def connect(db: str) -> Any:
    """A plain connection in autocommit mode: sqlite3 for a file, psycopg for a URL."""
    if is_postgres(db):
        import psycopg

        return psycopg.connect(db, autocommit=True)
    conn = sqlite3.connect(db, isolation_level=None, timeout=10)
    conn.execute("PRAGMA busy_timeout = 10000")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def execute(conn: Any, sql: str, params: tuple[Any, ...] = ()) -> Any:
    """sqlite3 and psycopg differ in their placeholder only."""
    if isinstance(conn, sqlite3.Connection):
        return conn.execute(sql, params)
    return conn.execute(sql.replace("?", "%s"), params)


def record(conn: Any, *, lot: str, serial: str, op: int, station: str,
           user: str, data: dict[str, str], result: str | None) -> int:
    """One step and its audit event in one write transaction; the step id."""
    now = datetime.now(UTC).isoformat(timespec="microseconds")
    if isinstance(conn, sqlite3.Connection):
        conn.execute("BEGIN IMMEDIATE")
    else:
        conn.execute("BEGIN")
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (AUDIT_LOCK_KEY,))
    try:
        step_id = execute(
            conn, "INSERT INTO steps (lot_id, serial, op, station_id, username, started_at, "
            "completed_at, status, result, data, attempt) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, "
            "?, 1) RETURNING id",
            (lot, serial, op, station, user, now, now, "passed", result, canonical(data)),
        ).fetchone()[0]
        head = execute(conn, "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        seq, prev = (head[0] + 1, head[1]) if head else (1, GENESIS)
        event = {"seq": seq, "at": now, "username": user, "station": station,
                 "action": "step.complete", "entity_type": "unit", "entity_id": serial,
                 "old": None, "new": canonical({"op": op, "step": step_id, "data": data}),
                 "reason": None}
        digest = hashlib.sha256((prev + canonical(event)).encode()).hexdigest()
        execute(conn, "INSERT INTO audit (seq, at, username, station, action, entity_type, "
                "entity_id, old, new, reason, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, "
                "?, ?, ?, ?)", (*(event[k] for k in FIELDS), prev, digest))
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return int(step_id)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("serial")
    ap.add_argument("--db", required=True)
    ap.add_argument("--lot", required=True)
    ap.add_argument("--op", type=int, required=True)
    ap.add_argument("--station", required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--data", action="append", default=[])
    ap.add_argument("--result")
    a = ap.parse_args(argv)
    data = dict(pair.split("=", 1) for pair in a.data)
    conn = connect(a.db)
    step_id = record(conn, lot=a.lot, serial=a.serial, op=a.op, station=a.station, user=a.user,
                     data=data, result=a.result)
    conn.close()
    sys.stdout.write(f"OK step {step_id}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
