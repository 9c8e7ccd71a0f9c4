"""Station processes SIGKILLed at random moments while they write (issue: crashes).

Each round starts two station processes (the in-process loop of station_worker.py) on
their own units of two shared lots, plus every other round a real `mes step complete`
subprocess, and SIGKILLs them at a random moment once they are writing. After every
round: PRAGMA integrity_check is ok, the audit chain verifies (and `mes audit verify`
exits 0), every step or NCR whose success was printed is in the database exactly once,
and nothing is half-recorded (data reconciles with the audit trail: every steps row has
its event, its edges and its material decrements; every event has its row).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PASSWORDS, Workspace, sql
from tests.reliability.checks import (
    acked_ncrs,
    acked_steps,
    check_acked_present,
    check_database,
    problems_in,
    read_log,
)
from tests.reliability.conftest import OPERATORS, PCBA, manual_ops, step_args, worker_env

HERE = Path(__file__).resolve().parent
WORKER = HERE / "station_worker.py"
MES = str(Path(sys.executable).with_name("mes"))


def remaining_plan(ws: Workspace, routing: dict[str, Any], units: list[str]) -> list[list[str]]:
    """What is left to do on these units, given what the database says was done."""
    done = set(sql(ws.db, "SELECT serial, op FROM steps WHERE status = 'passed'"))
    held = {r[0] for r in sql(ws.db, "SELECT serial FROM units WHERE on_hold = 1")}
    cmds: list[list[str]] = []
    for op in manual_ops(routing):
        for sn in units:
            if sn not in held and (sn, op) not in done:
                cmds.append(step_args(routing, sn, op))
    for k, sn in enumerate(units):
        if k % 4 == 0 and sn not in held:
            cmds.append(["ncr", "open", sn, "--description", f"crash test {sn}"])
    return cmds


def wait_for_log(path: Path, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    """Until the station logged in (its first log line), so the kill lands in the work."""
    end = time.monotonic() + timeout
    while time.monotonic() < end and proc.poll() is None:
        if path.exists() and path.stat().st_size:
            return
        time.sleep(0.01)


def crash_rounds(ws: Workspace, info: dict[str, Any], rounds: int, seed: int
                 ) -> dict[str, Any]:
    rng = random.Random(seed)
    routing = info["routing"]
    lots = []
    for _ in range(2):
        d = json.loads(ws.ok("lot", "create", PCBA, "--qty", 4 * rounds, "--json",
                             user="fatima").out)
        lots.append(d["serials"])
    pool = [sn for pair in zip(*lots, strict=True) for sn in pair]
    groups = [pool[i:i + 8] for i in range(0, len(pool), 8)]
    logs: list[Path] = []
    direct: list[dict[str, Any]] = []
    kills = 0
    finished_before_kill = 0
    for rnd in range(rounds):
        procs = []
        for w in range(2):
            home = ws.path / f"s{seed}-r{rnd}-w{w}"
            home.mkdir()
            units = groups[(2 * rnd + w) % len(groups)]
            user = OPERATORS[w]
            plan = {"login": [user, PASSWORDS[user], "PNP-1"], "mode": "inproc",
                    "commands": remaining_plan(ws, routing, units)}
            (home / "plan.json").write_text(json.dumps(plan))
            logs.append(home / "log.jsonl")
            procs.append((subprocess.Popen(
                [sys.executable, str(WORKER), str(home / "plan.json"), str(logs[-1])],
                env=worker_env(home, ws.db), cwd=home), logs[-1]))
        extra = None
        if rnd % 2 == 0:
            sn = groups[(2 * rnd + 2) % len(groups)][rnd % 8]
            done = {r[0] for r in sql(ws.db, "SELECT op FROM steps WHERE serial = ? AND "
                                      "status = 'passed'", (sn,))}
            held = sql(ws.db, "SELECT on_hold FROM units WHERE serial = ?", (sn,))[0][0]
            todo = [op for op in manual_ops(routing) if op not in done]
            if todo and not held:
                args = step_args(routing, sn, todo[0])
                extra = (subprocess.Popen(
                    [MES, "--user", "fatima", "--password-stdin", *args],
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                    env=worker_env(ws.path, ws.db), cwd=ws.path), args)
                assert extra[0].stdin is not None
                extra[0].stdin.write((PASSWORDS["fatima"] + "\n").encode())
                extra[0].stdin.close()
        for proc, log in procs:
            wait_for_log(log, proc)
        time.sleep(rng.uniform(0.0, 0.6))
        victims = [p for p, _ in procs] + ([extra[0]] if extra else [])
        rng.shuffle(victims)
        for p in victims:
            if p.poll() is None:
                os.kill(p.pid, signal.SIGKILL)
                kills += 1
            else:
                finished_before_kill += 1
            time.sleep(rng.uniform(0.0, 0.05))
        for p in victims:
            p.wait(timeout=60)
        if extra:
            p, args = extra
            out = p.stdout.read().decode() if p.stdout else ""
            err = p.stderr.read().decode() if p.stderr else ""
            direct.append({"args": args, "code": p.returncode, "out": out, "err": err})
        # After every crash: the database is whole and nothing acknowledged is lost.
        records = [r for log in logs for r in read_log(log)] + \
            [r for r in direct if r["code"] >= 0]
        assert problems_in(records) == []
        check_acked_present(ws.db, acked_steps(records), acked_ncrs(records))
        check_database(ws.db)
    records = [r for log in logs for r in read_log(log)] + [r for r in direct if r["code"] >= 0]
    r = ws.mes("audit", "verify")
    assert r.code == 0, r
    steps_in_db = sql(ws.db, "SELECT count(*) FROM steps")[0][0]
    acked = len(acked_steps(records))
    return {"rounds": rounds, "kills": kills, "finished_before_kill": finished_before_kill,
            "acked_commands": sum(1 for x in records if x["code"] == 0),
            "acked_steps": acked, "steps_in_db": steps_in_db,
            "committed_not_acknowledged": steps_in_db - acked}


def test_sigkill_stations_lose_nothing(rplant: tuple[Workspace, dict[str, Any]]) -> None:
    ws, info = rplant
    figures = _until_kills(ws, info, kills=30, seed=20260611)
    print("crash figures:", figures)
    assert figures["kills"] >= 30


def _until_kills(ws: Workspace, info: dict[str, Any], kills: int, seed: int) -> dict[str, Any]:
    """Crash rounds until `kills` processes were really killed mid-run: a process that ended
    before its kill is not a crash, and how many do depends on the machine's load."""
    total: dict[str, Any] = {}
    for batch in range(max(8, kills // 4)):  # about two real kills per round on this machine
        figures = crash_rounds(ws, info, rounds=8, seed=seed + batch)
        for key, value in figures.items():
            total[key] = value if key == "steps_in_db" else total.get(key, 0) + value
        if total["kills"] >= kills:
            break
    # The database count is cumulative, so the difference is taken once, over all batches.
    total["committed_not_acknowledged"] = total["steps_in_db"] - total["acked_steps"]
    return total


@pytest.mark.slow
def test_sigkill_stations_lose_nothing_long(rplant: tuple[Workspace, dict[str, Any]]) -> None:
    ws, info = rplant
    figures = _until_kills(ws, info, kills=150, seed=7)
    print("crash figures (slow):", figures)
    assert figures["kills"] >= 150
