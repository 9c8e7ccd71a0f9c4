"""A station process for the reliability tests (not a test module).

    python station_worker.py PLAN.json LOG.jsonl

PLAN: {"login": [user, password, station], "mode": "inproc" | "subproc",
       "mes": "/path/to/mes", "commands": [[arg, ...], ...]}

Logs in once (a station session in $MES_HOME), then runs every command: in this process
through `mes.cli.main` (fast: no interpreter start per scan), or as a real `mes`
subprocess. One JSON line per finished command is written with a single unbuffered
write *after* the command returned, so a line in the log means the operator saw the
result: a SIGKILL can lose the last acknowledgement, never invent one.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time


def run_inproc(main, args: list[str], stdin: str = "") -> tuple[int, str, str]:
    old = sys.stdin, sys.stdout, sys.stderr
    sys.stdin, sys.stdout, sys.stderr = io.StringIO(stdin), io.StringIO(), io.StringIO()
    try:
        try:
            code = main(args)
        except BaseException as exc:  # a traceback escaping main() is a finding
            import traceback

            sys.stderr.write("Traceback (escaped main): " + "".join(
                traceback.format_exception(exc)))
            code = 1
        return code, sys.stdout.getvalue(), sys.stderr.getvalue()
    finally:
        sys.stdin, sys.stdout, sys.stderr = old


def main_() -> int:
    with open(sys.argv[1]) as f:
        plan = json.load(f)
    log_fd = os.open(sys.argv[2], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    mode = plan.get("mode", "inproc")
    mes_main = None
    if mode == "inproc":
        from mes.cli import main as mes_main

    def run(args: list[str], stdin: str = "") -> tuple[int, str, str]:
        if mode == "inproc":
            return run_inproc(mes_main, args, stdin)
        p = subprocess.run([plan["mes"], *args], input=stdin, capture_output=True, text=True,
                           timeout=120)
        return p.returncode, p.stdout, p.stderr

    def log(record: dict) -> None:
        os.write(log_fd, (json.dumps(record) + "\n").encode())

    # A session opened with --station acts at that station only (issue 13); the plan
    # records steps at every station of the line, so the worker opens a line-side session.
    user, password, _station = plan["login"]
    code, out, err = run(["login", user, "--password-stdin"], password + "\n")
    log({"i": -1, "args": ["login", user], "code": code, "out": out, "err": err})
    if code != 0:
        return 1
    for i, args in enumerate(plan["commands"]):
        t0 = time.perf_counter()
        code, out, err = run(args)
        log({"i": i, "args": args, "code": code, "out": out, "err": err,
             "ms": round((time.perf_counter() - t0) * 1000, 2)})
    return 0


if __name__ == "__main__":
    sys.exit(main_())
