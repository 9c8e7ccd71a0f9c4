"""Someone with file access edits, deletes and inserts rows (issue: tampering).

Each case copies a small but complete database (steps with consumption, NCR, holds,
signatures), changes it directly with sqlite3 (dropping the append-only triggers first
when touching audit, and putting them back after, as an attacker covering the tracks
would), and runs three checks:

- chain:     `mes audit verify`                    (hash chain, contiguous seq, append-only
                                                    protection, the seals of the workspace)
- anchor:    `mes audit verify --anchor HEAD`       (HEAD = chain_head.hash of `mes dhr --json`)
- reconcile: `mes backup verify mes.db`             (chain + state against the audit trail)

EXPECT says which check must catch the case (exit 7) — and, honestly, which cases no
check catches (listed in docs/RELIABILITY.md).
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from mes.domain.audit import event_hash
from mes.store.schema import SQLITE_AUDIT_GUARDS
from tests.conftest import Workspace, run_cli
from tests.reliability.conftest import PCBA, step_args

DROP = ["DROP TRIGGER audit_no_update", "DROP TRIGGER audit_no_delete"]


@pytest.fixture(scope="module")
def tamper_base(plant_template: tuple[Path, dict[str, Any]],
                tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    src, info = plant_template
    path = tmp_path_factory.mktemp("tamper") / "plant"
    shutil.copytree(src, path)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MES_HOME", str(path))
        mp.delenv("MES_DB", raising=False)
        mp.chdir(path)
        ws = Workspace(path)
        lot = json.loads(ws.ok("lot", "create", PCBA, "--qty", 2, "--json", user="fatima").out)
        for op in (10, 20, 30):
            for sn in lot["serials"]:
                ws.ok(*step_args(info["routing"], sn, op), user="fatima")
        ncr = ws.ok("ncr", "open", lot["serials"][1], "--description", "solder ball",
                    user="fatima").out.split()[0]
        other = json.loads(ws.ok("lot", "create", PCBA, "--qty", 1, "--json",
                                 user="fatima").out)
        ws.ok("lot", "hold", other["lot"], "--reason", "check", user="youssef")
        dhr = json.loads(ws.ok("dhr", lot["lot"], "--json", user="youssef").out)
        anchor = dhr["chain_head"]["hash"]
        ws.ok("lot", "create", PCBA, "--qty", 1, user="fatima")  # events after the anchor
    con = sqlite3.connect(path / "mes.db")
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    return {"db": path / "mes.db", "anchor": anchor, "lot": lot["lot"],
            "serials": lot["serials"], "ncr": ncr, "other": other["lot"],
            "reel": info["materials"]["CAP-100N-0402"]}


def rehash_from(con: sqlite3.Connection, seq: int) -> None:
    """Recompute every hash from `seq` on: a fully rewritten, internally valid chain."""
    cur = con.execute("SELECT * FROM audit WHERE seq >= ? ORDER BY seq", (seq,))
    cols = [d[0] for d in cur.description]
    rows = [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]
    prev = con.execute("SELECT hash FROM audit WHERE seq = ?", (seq - 1,)).fetchone()[0]
    for row in rows:
        digest = event_hash(prev, row)
        con.execute("UPDATE audit SET prev_hash = ?, hash = ? WHERE seq = ?",
                    (prev, digest, row["seq"]))
        prev = digest


def forge_append(con: sqlite3.Connection, action: str, etype: str, eid: str, new: Any) -> None:
    """Append a well-formed event at the head (what an attacker who knows the rule can do)."""
    seq, prev = con.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    at = con.execute("SELECT at FROM audit WHERE seq = ?", (seq,)).fetchone()[0]
    ev = {"seq": seq + 1, "at": at, "username": "youssef", "station": None, "action": action,
          "entity_type": etype, "entity_id": eid,
          "old": None, "new": json.dumps(new, sort_keys=True, separators=(",", ":")),
          "reason": None}
    con.execute("INSERT INTO audit VALUES (?,?,?,?,?,?,?,?,?,?,?,?,NULL)",
                (*ev.values(), prev, event_hash(prev, ev)))


# name -> (what to do with (con, base), expected exit codes (chain, anchor, reconcile))
def _sqls(*statements: str) -> Any:
    def apply(con: sqlite3.Connection, b: dict[str, Any]) -> None:
        for s in statements:
            con.execute(s.format(**b))
    return apply


def _rewrite(con: sqlite3.Connection, b: dict[str, Any]) -> None:
    for s in DROP:
        con.execute(s)
    con.execute("UPDATE audit SET username = 'omar' WHERE seq = 20")
    rehash_from(con, 20)


def _rewrite_tail(con: sqlite3.Connection, b: dict[str, Any]) -> None:
    """Delete a step row and its event, renumber and rehash everything after it."""
    for s in DROP:
        con.execute(s)
    seq, new = con.execute("SELECT seq, new FROM audit WHERE action = 'step.complete' "
                           "ORDER BY seq DESC LIMIT 1").fetchone()
    step = json.loads(new)["step"]
    con.execute("DELETE FROM genealogy WHERE step_id = ?", (step,))
    con.execute("DELETE FROM steps WHERE id = ?", (step,))
    con.execute("DELETE FROM audit WHERE seq = ?", (seq,))
    con.execute("UPDATE audit SET seq = seq - 1 WHERE seq > ?", (seq,))
    rehash_from(con, seq)


def _forge_step(con: sqlite3.Connection, b: dict[str, Any]) -> None:
    con.execute("INSERT INTO steps (id, lot_id, serial, op, station_id, username, started_at, "
                "completed_at, status, attempt) VALUES (9999, '{lot}', '{sn}', 40, 'REFLOW-1', "
                "'fatima', '2026-01-01', '2026-01-01', 'passed', 1)".format(
                    lot=b["lot"], sn=b["serials"][0]))
    forge_append(con, "step.complete", "unit", b["serials"][0],
                 {"op": 40, "step": 9999, "status": "passed", "data": {}, "consumed": []})


A = "UPDATE audit SET {} WHERE seq = {}"
CASES: dict[str, tuple[Any, tuple[int, int, int]]] = {
    # -- the audit table itself
    "audit: edit an event's user": (_sqls(*DROP, A.format("username = 'omar'", 12)), (7, 7, 7)),
    "audit: edit an event's new value": (_sqls(*DROP, A.format("new = '{{}}'", 30)),
                                         (7, 7, 7)),
    "audit: edit an event's time": (_sqls(*DROP, A.format("at = '2020-01-01'", 40)), (7, 7, 7)),
    "audit: delete an event": (_sqls(*DROP, "DELETE FROM audit WHERE seq = 25"), (7, 7, 7)),
    "audit: insert an event (seq gap filled by shifting)": (_sqls(
        *DROP, "UPDATE audit SET seq = seq + 1000 WHERE seq > 50",
        "INSERT INTO audit SELECT 51, at, username, station, action, entity_type, entity_id, "
        "old, new, reason, prev_hash, hash, row_images FROM audit WHERE seq = 50"), (7, 7, 7)),
    "audit: swap two events' contents": (_sqls(
        *DROP, "UPDATE audit SET new = CASE seq WHEN 60 THEN (SELECT new FROM audit "
        "WHERE seq = 70) ELSE (SELECT new FROM audit WHERE seq = 60) END "
        "WHERE seq IN (60, 70)"), (7, 7, 7)),
    "audit: chain rewritten from event 20 (hashes recomputed)": (_rewrite, (7, 7, 0)),
    "audit: a step and its event removed, chain renumbered and rehashed": (_rewrite_tail,
                                                                           (7, 7, 7)),
    "audit: forged step row + well-formed event appended at the head": (_forge_step,
                                                                        (0, 0, 7)),
    "audit: append-only triggers dropped (and left so)": (_sqls(*DROP), (7, 7, 7)),
    "audit: last event deleted (tail truncation, after the newest seal)": (_sqls(
        *DROP, "DELETE FROM audit WHERE seq = (SELECT max(seq) FROM audit)"), (0, 0, 7)),
    "audit: tail deleted back before the newest seal": (_sqls(
        *DROP, "DELETE FROM audit WHERE seq >= (SELECT max(seq) - 2 FROM audit)"), (7, 7, 7)),
    # -- state tables
    "lots: status edited": (_sqls("UPDATE lots SET status = 'released' WHERE id = '{lot}'"),
                            (0, 0, 7)),
    "lots: hold removed": (_sqls("UPDATE lots SET on_hold = 0 WHERE id = '{other}'"),
                           (0, 0, 7)),
    "lots: qty_scrapped edited": (_sqls(
        "UPDATE lots SET qty_scrapped = 1 WHERE id = '{lot}'"), (0, 0, 7)),
    "lots: row inserted": (_sqls(
        "INSERT INTO items (id, kind, created_at) VALUES ('L9999-0001', 'lot', '2026-01-01')",
        "INSERT INTO lots (id, part, routing_version, site_id, qty, serialized, status, "
        "created_at, created_by) VALUES ('L9999-0001', 'PCBA-OXI-100', 1, 'SITE-1', 1, 1, "
        "'completed', '2026-01-01', 'fatima')"), (0, 0, 7)),
    "units: status edited": (_sqls(
        "UPDATE units SET status = 'completed' WHERE serial = '{serials[0]}'"), (0, 0, 7)),
    "units: NCR hold removed": (_sqls(
        "UPDATE units SET on_hold = 0, hold_reason = NULL WHERE serial = '{serials[1]}'"),
                                (0, 0, 7)),
    "units: row deleted": (_sqls("PRAGMA foreign_keys = OFF",
                                 "DELETE FROM units WHERE serial = '{serials[0]}'"), (0, 0, 7)),
    "material_lots: remaining edited": (_sqls(
        "UPDATE material_lots SET remaining = remaining + 28 WHERE id = '{reel}'"), (0, 0, 7)),
    "material_lots: qty_received edited": (_sqls(
        "UPDATE material_lots SET qty_received = 2000000 WHERE id = '{reel}'"), (0, 0, 7)),
    "material_lots: status edited": (_sqls(
        "UPDATE material_lots SET status = 'rejected' WHERE id = '{reel}'"), (0, 0, 7)),
    "material_lots: supplier_lot edited": (_sqls(
        "UPDATE material_lots SET supplier_lot = 'X' WHERE id = '{reel}'"), (0, 0, 7)),
    "steps: row deleted": (_sqls(
        "DELETE FROM genealogy WHERE step_id = (SELECT max(id) FROM steps)",
        "DELETE FROM steps WHERE id = (SELECT max(id) FROM steps)"), (0, 0, 7)),
    "steps: row inserted": (_sqls(
        "INSERT INTO steps (lot_id, serial, op, station_id, username, started_at, "
        "completed_at, status, attempt) VALUES ('{lot}', '{serials[0]}', 40, 'REFLOW-1', "
        "'fatima', '2026-01-01', '2026-01-01', 'passed', 1)"), (0, 0, 7)),
    "steps: failed step turned into passed": (_sqls(
        "UPDATE steps SET status = 'failed' WHERE id = (SELECT min(id) FROM steps)"),
                                              (0, 0, 7)),
    "steps: recorded data edited": (_sqls(
        "UPDATE steps SET data = json_set(data, '$.' || (SELECT key FROM json_each("
        "(SELECT data FROM steps WHERE id = 1)) LIMIT 1), '999') WHERE id = 1"), (0, 0, 7)),
    "steps: completed_at edited": (_sqls(
        "UPDATE steps SET completed_at = '2020-01-01' WHERE id = 1"), (0, 0, 7)),
    "genealogy: consumption deleted": (_sqls(
        "DELETE FROM genealogy WHERE n = (SELECT max(n) FROM genealogy)"), (0, 0, 7)),
    "genealogy: quantity edited": (_sqls(
        "UPDATE genealogy SET qty = qty * 2 WHERE n = (SELECT min(n) FROM genealogy)"),
                                   (0, 0, 7)),
    "genealogy: link inserted": (_sqls(
        "INSERT INTO genealogy (parent, child, n, qty, at) VALUES ((SELECT key FROM items "
        "WHERE id = '{serials[0]}'), (SELECT key FROM items WHERE id = '{reel}'), "
        "(SELECT max(n) + 1 FROM genealogy), 1, '2026-01-01')"), (0, 0, 7)),
    "signatures: meaning edited": (_sqls(
        "UPDATE signatures SET meaning = 'approved' WHERE id = (SELECT max(id) FROM "
        "signatures)"), (0, 0, 7)),
    "signatures: deleted": (_sqls(
        "DELETE FROM signatures WHERE id = (SELECT max(id) FROM signatures)"), (0, 0, 7)),
    "signatures: inserted": (_sqls(
        "INSERT INTO signatures (username, full_name, meaning, signed_at, utc_offset, "
        "record_type, record_id, record_sha256) VALUES ('youssef', 'Youssef Benali', "
        "'released', '2026-01-01', '+00:00', 'lot', '{lot}', 'x')"), (0, 0, 7)),
    "ncrs: closed behind the trail": (_sqls(
        "UPDATE ncrs SET status = 'closed' WHERE id = '{ncr}'"), (0, 0, 7)),
    "users: operator made admin": (_sqls(
        "UPDATE users SET role = 'admin' WHERE username = 'fatima'"), (0, 0, 7)),
    "users: user inserted": (_sqls(
        "INSERT INTO users (username, full_name, role, pw_salt, pw_hash, created_at) "
        "VALUES ('mallory', 'M', 'admin', 'aa', 'bb', '2026-01-01')"), (0, 0, 7)),
    "sessions: forged session (not reconciled)": (_sqls(
        "INSERT INTO sessions (token, username, station, created_at, expires_at, ended_at) "
        "VALUES ('t0k3n', 'amina', NULL, '2026-01-01', '2099-01-01', NULL)"), (0, 0, 0)),
    "meta: configuration edited": (_sqls(
        "UPDATE meta SET value = '10.0' WHERE key = 'config.origin.threshold_pct'"),
                                   (0, 0, 7)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_tamper_case(case: str, tamper_base: dict[str, Any], tmp_path: Path,
                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MES_HOME", str(tamper_base["db"].parent))  # its seal journal
    apply, (chain, anchor, rec) = CASES[case]
    db = tmp_path / "mes.db"
    shutil.copy(tamper_base["db"], db)
    con = sqlite3.connect(db, isolation_level=None)
    con.execute("BEGIN")
    apply(con, tamper_base)
    if "left so" not in case:  # the attacker puts the triggers back, to cover the tracks
        for guard in SQLITE_AUDIT_GUARDS:
            con.execute(guard.replace("CREATE TRIGGER", "CREATE TRIGGER IF NOT EXISTS"))
    con.execute("COMMIT")
    con.close()
    got = (run_cli(["--db", db, "audit", "verify"]).code,
           run_cli(["--db", db, "audit", "verify", "--anchor", tamper_base["anchor"]]).code,
           run_cli(["backup", "verify", db]).code)
    assert got == (chain, anchor, rec), got


def test_untampered_copy_passes_every_check(tamper_base: dict[str, Any], tmp_path: Path
                                            ) -> None:
    db = tmp_path / "mes.db"
    shutil.copy(tamper_base["db"], db)
    assert run_cli(["--db", db, "audit", "verify", "--anchor", tamper_base["anchor"]]).code == 0
    r = run_cli(["backup", "verify", db])
    assert r.code == 0, str(r)
