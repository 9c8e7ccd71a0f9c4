"""Nothing in mes opens a network connection (DESIGN §1: offline, no telemetry).

A subprocess installs an audit hook (sys.addaudithook) that records every `socket.*`
event — connect, getaddrinfo, bind, sendto… — and makes connect/getaddrinfo fail, then
drives a plant through `mes.cli.main`: lots, steps with consumption, NCR, hold, trace,
DHR (PDF), label preview (PDF), backup and verify. The run must record no socket event.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.conftest import PASSWORDS
from tests.reliability.conftest import PCBA, step_args, worker_env

SCRIPT = r'''
import json, sys
seen = []
def hook(event, args):
    if event.startswith("socket."):
        seen.append(event)
        if event in ("socket.connect", "socket.getaddrinfo", "socket.gethostbyname"):
            raise RuntimeError("network access from mes: " + event)
sys.addaudithook(hook)
sys.path.insert(0, sys.argv[2])
from tests.reliability.station_worker import run_inproc
from mes.cli import main
results = []
for args, stdin in json.load(open(sys.argv[1])):
    code, out, err = run_inproc(main, args, stdin)
    results.append({"args": args, "code": code, "err": err[-300:]})
print(json.dumps({"socket_events": seen, "results": results}))
'''


def test_a_plant_runs_without_touching_the_network(
        plant_template: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    src, info = plant_template
    ws = tmp_path / "plant"
    shutil.copytree(src, ws)
    pw = {u: PASSWORDS[u] + "\n" for u in PASSWORDS}

    def as_(user: str, *args: str, stdin: str = "") -> list[Any]:
        return [["--user", user, "--password-stdin", *args], pw[user] + stdin]

    cmds = [
        as_("fatima", "lot", "create", PCBA, "--qty", "2"),
        [["lot", "list", "--json"], ""],
        as_("youssef", "backup", str(tmp_path / "b.db")),
        [["backup", "verify", str(tmp_path / "b.db")], ""],
        [["audit", "verify"], ""],
        [["label", "preview", "udi-100x50", "--out", str(tmp_path / "p.pdf")], ""],
    ]
    # Step, NCR, hold, trace and DHR need the lot's id and serials: create it first here.
    plan = tmp_path / "plan.json"
    env = worker_env(ws, ws / "mes.db")
    env["MES_HOME"] = str(ws)
    root = str(Path(__file__).resolve().parents[2])
    plan.write_text(json.dumps(cmds[:2]))
    p = subprocess.run([sys.executable, "-c", SCRIPT, str(plan), root], env=env, cwd=ws,
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    first = json.loads(p.stdout)
    con = sqlite3.connect(ws / "mes.db")
    lot_id, = con.execute("SELECT id FROM lots ORDER BY created_at DESC LIMIT 1").fetchone()
    serials = [r[0] for r in con.execute("SELECT serial FROM units WHERE lot_id = ?",
                                         (lot_id,))]
    con.close()
    more = []
    for op in (10, 20, 30):
        for sn in serials:
            more.append(as_("fatima", *step_args(info["routing"], sn, op)))
    more += [
        as_("fatima", "ncr", "open", serials[1], "--description", "scratch"),
        as_("youssef", "lot", "hold", lot_id, "--reason", "check"),
        [["trace", "back", serials[0], "--json"], ""],
        [["trace", "forward", info["materials"]["CAP-100N-0402"], "--json"], ""],
        as_("youssef", "dhr", lot_id, "--json"),
        *cmds[2:],
    ]
    plan.write_text(json.dumps(more))
    p = subprocess.run([sys.executable, "-c", SCRIPT, str(plan), root], env=env, cwd=ws,
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    second = json.loads(p.stdout)
    results = first["results"] + second["results"]
    assert [r for r in results if r["code"] != 0] == []
    assert first["socket_events"] == [] and second["socket_events"] == []
    print(f"no-network: {len(results)} commands, 0 socket events")
