"""Checks shared by the concurrency and crash tests: logs, acknowledgements, database state."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

from mes.domain.audit import verify_chain
from mes.services.audit import reconcile_records as reconcile
from mes.store import open_store

BAD_WORDS = ("Traceback", "database is locked", "internal error", "locked")
NCR_RE = re.compile(r"^(NCR-\d+) opened on (\S+) \(([^)]*)\)")


def read_log(path: Path) -> list[dict[str, Any]]:
    """Complete JSON lines only: a line cut by SIGKILL was never acknowledged."""
    out = []
    if not path.exists():
        return out
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


def problems_in(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Records that show an internal error, a traceback or a lock timeout."""
    bad = []
    for r in records:
        text = r["err"] + r["out"]
        if r["code"] == 1 or any(w in text for w in BAD_WORDS):
            bad.append(r)
    return bad


def acked_steps(records: list[dict[str, Any]]) -> list[tuple[str, int]]:
    """(scan, op) of each step the station was told was recorded (exit 0, printed OK)."""
    out = []
    for r in records:
        a = r["args"]
        if a[:2] == ["step", "complete"] and r["code"] == 0 and r["out"].startswith("OK op"):
            out.append((a[2], int(a[a.index("--op") + 1])))
    return out


def acked_ncrs(records: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    out = []
    for r in records:
        if r["args"][:2] == ["ncr", "open"] and r["code"] == 0:
            m = NCR_RE.match(r["out"])
            assert m, r
            out.append((m.group(1), m.group(2), m.group(3)))
    return out


def check_database(db: str | Path) -> dict[str, Any]:
    """integrity_check (SQLite), audit chain (contiguous seq, prev_hash links), data against
    the audit trail. `db`: a SQLite file or a postgresql:// URL."""
    store = open_store(str(db))
    try:
        if store.dialect == "sqlite":
            assert store.tuples("PRAGMA integrity_check") == [("ok",)]
        report = verify_chain(store.audit_rows())
        assert report.ok, report
        seqs = [r[0] for r in store.tuples("SELECT seq FROM audit ORDER BY seq")]
        assert seqs == list(range(1, len(seqs) + 1))
        prevs = [r[0] for r in store.tuples("SELECT prev_hash FROM audit")]
        assert len(prevs) == len(set(prevs)), "two events claim the same predecessor: a fork"
        rec = reconcile(store)
        assert rec["ok"], rec["problems"]
        return {"events": report.events, "reconcile": rec}
    finally:
        store.close()


def check_acked_present(db: str | Path, steps: list[tuple[str, int]],
                        ncrs: list[tuple[str, str, str]]) -> None:
    """Every acknowledged step / NCR is in the database exactly once."""
    store = open_store(str(db))
    try:
        rows = Counter(store.tuples("SELECT serial, op FROM steps WHERE status = 'passed'"))
        events: Counter[tuple[str, int]] = Counter()
        for eid, new in store.tuples("SELECT entity_id, new FROM audit WHERE "
                                     "action = 'step.complete'"):
            d = json.loads(new)
            if d["status"] == "passed":
                events[(eid, d["op"])] += 1
        for key in steps:
            assert rows[key] == 1, (key, rows[key])
            assert events[key] == 1, (key, events[key])
        assert len(set(steps)) == len(steps), "a step was acknowledged twice"
        for ncr_id, _lot, serial in ncrs:
            got = store.tuples("SELECT units, status FROM ncrs WHERE id = ?", (ncr_id,))
            assert got == [(json.dumps([serial], separators=(",", ":")), "open")], (ncr_id, got)
        assert len({n[0] for n in ncrs}) == len(ncrs), "two stations got the same NCR number"
    finally:
        store.close()


def material_balance(db: str | Path) -> list[tuple[str, float, float, float]]:
    """(material, received, consumed by edges, remaining) for every material lot."""
    store = open_store(str(db))
    try:
        return store.tuples(
            "SELECT m.id, m.qty_received, coalesce((SELECT sum(qty) FROM edges e "
            "WHERE e.child = m.id), 0), m.remaining FROM material_lots m ORDER BY m.id")
    finally:
        store.close()
