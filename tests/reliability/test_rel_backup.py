"""`mes backup FILE` while stations write; `mes backup verify FILE`; a restore (issue: backup)."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.conftest import PASSWORDS, Workspace, run_cli, sql
from tests.reliability.checks import check_database, problems_in, read_log
from tests.reliability.conftest import OPERATORS, PCBA, worker_env
from tests.reliability.test_rel_concurrency import WORKER, plan_for


def test_backup_while_stations_write_then_restore(rplant: tuple[Workspace, dict[str, Any]],
                                                  tmp_path: Path,
                                                  monkeypatch: Any) -> None:
    ws, info = rplant
    lots = []
    for _ in range(2):
        d = json.loads(ws.ok("lot", "create", PCBA, "--qty", 12, "--json", user="fatima").out)
        lots.append((d["lot"], d["serials"]))
    procs, logs = [], []
    for w in range(2):
        home = ws.path / f"station-{w}"
        home.mkdir()
        user = OPERATORS[w]
        plan = {"login": [user, PASSWORDS[user], "PNP-1"], "mode": "inproc",
                "commands": plan_for(info["routing"], lots, lots[w][1], 4,
                                     sorted(info["materials"].values()))}
        (home / "plan.json").write_text(json.dumps(plan))
        logs.append(home / "log.jsonl")
        procs.append(subprocess.Popen([sys.executable, str(WORKER), str(home / "plan.json"),
                                       str(logs[-1])], env=worker_env(home, ws.db), cwd=home))
    backups = []
    try:
        for k in range(4):
            dest = tmp_path / f"mes-{k}.db"
            r = ws.mes("backup", dest, "--json", user="youssef" if k % 2 else "amina")
            assert r.code == 0, str(r)
            out = json.loads(r.out)
            backups.append((dest, out))
    finally:
        for p in procs:
            assert p.wait(timeout=300) == 0
    records = [r for log in logs for r in read_log(log)]
    assert problems_in(records) == [] and all(r["code"] == 0 for r in records)
    events = sql(ws.db, "SELECT new FROM audit WHERE action = 'backup' ORDER BY seq")
    assert len(events) == 4
    for (dest, out), (new,) in zip(backups, events, strict=True):
        assert json.loads(new)["sha256"] == out["sha256"]
        assert not Path(f"{dest}-wal").exists()
        r = ws.mes("backup", "verify", dest)
        assert r.code == 0 and "backup OK" in r.out, str(r)
        # The copy is a consistent snapshot: every event in it is in the live chain.
        head = sql(dest, "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")[0]
        assert sql(ws.db, "SELECT hash FROM audit WHERE seq = ?", (head[0],))[0][0] == head[1]
    check_database(ws.db)
    # Restore the last backup into a new workspace and carry on working there.
    restored = tmp_path / "restored"
    restored.mkdir()
    shutil.copy(backups[-1][0], restored / "mes.db")
    monkeypatch.setenv("MES_HOME", str(restored))
    monkeypatch.chdir(restored)
    rws = Workspace(restored)
    assert rws.mes("audit", "verify").code == 0
    lot = json.loads(rws.ok("lot", "create", PCBA, "--qty", 2, "--json", user="fatima").out)
    rws.ok("ncr", "open", lot["lot"], "--description", "after restore", user="fatima")
    r = rws.mes("audit", "verify")
    assert r.code == 0, str(r)
    check_database(rws.db)


def test_backup_refusals_and_bad_files(rplant: tuple[Workspace, dict[str, Any]],
                                       tmp_path: Path) -> None:
    ws, _ = rplant
    dest = tmp_path / "b.db"
    ws.ok("backup", dest, user="youssef")
    before = ws.dump()
    assert ws.mes("backup", dest, user="youssef").code == 4  # never overwrites
    assert ws.mes("backup", ws.db, user="youssef").code == 4
    assert ws.mes("backup", tmp_path / "no-dir" / "b.db", user="youssef").code == 3
    assert ws.mes("backup", "verify").code == 5
    assert ws.dump() == before
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"\x00\xff" * 5000)
    cases = {tmp_path / "missing.db": 3, junk: 7}
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    cases[empty] = 7
    notmes = tmp_path / "other.db"
    sqlite3.connect(notmes).execute("CREATE TABLE t (x)").connection.close()
    cases[notmes] = 7
    damaged = tmp_path / "damaged.db"
    data = bytearray(dest.read_bytes())
    data[len(data) // 2:len(data) // 2 + 4096] = b"\xAA" * 4096
    damaged.write_bytes(bytes(data))
    cases[damaged] = 7
    tampered = tmp_path / "tampered.db"
    shutil.copy(dest, tampered)
    con = sqlite3.connect(tampered)
    con.execute("DROP TRIGGER audit_no_update")
    con.execute("UPDATE audit SET username = 'mallory' WHERE seq = 5")
    con.commit()
    con.close()
    cases[tampered] = 7
    for path, code in cases.items():
        r = run_cli(["backup", "verify", path])
        assert r.code == code, (path.name, str(r))
        assert "Traceback" not in r.err
    assert ws.dump() == before
