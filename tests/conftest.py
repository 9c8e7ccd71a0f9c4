"""Shared fixtures: a workspace driven through the real CLI entry point, in-process.

`Plant.mes(...)` runs `mes` exactly as a shell would (argv, stdin, stdout, stderr, exit
code) against a real SQLite file in a temporary workspace, or, for a test that asks for
it (`@pytest.mark.parametrize("workspace", ["sqlite", "postgres"], indirect=True)`), a
fresh database on the PostgreSQL server of tests/postgres/server.py.
"""

from __future__ import annotations

import io
import os
import sqlite3
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mes import clock
from mes.cli import main
from tests.postgres.server import PgServer, pg_server, pg_url  # noqa: F401 (fixtures)

ROOT = Path(__file__).resolve().parent.parent
ROUTINGS = ROOT / "routings"
LABELS = ROOT / "labels"  # the plant's label templates (controlled documents, issue 17)
PASSWORDS = {"amina": "admin-pass-1", "fatima": "fatima-pass-1", "youssef": "youssef-pass-1",
             "tarik": "tarik-pass-1", "omar": "omar-pass-1"}
# Station types of the example routings and one station of each.
STATIONS = {
    "PRN-1": "smt-printer", "SPI-1": "spi", "PNP-1": "smt-pnp", "REFLOW-1": "reflow-oven",
    "AOI-1": "aoi", "ICT-1": "ict", "FLASH-1": "flash", "DRY-1": "dryer", "IMM-2": "imm",
    "VIS-1": "visual", "ASM-1": "assembly", "FT-1": "func-test", "LBL-1": "labeler",
    "PACK-1": "pack",
}


# Every test runs on this calendar, whatever the date of the machine (lot numbers carry
# YYMM, fixtures carry expiry and calibration dates): one clock for the whole session
# (module fixtures included) that starts here and moves one millisecond per reading, so
# records keep their order and nothing waits.
TEST_EPOCH = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
CLOCK_HOOK = Path(__file__).resolve().parent / "clockhook"


class TestClock:
    """Deterministic time: `TEST_EPOCH` plus 1 ms per reading, plus what a test skips."""

    def __init__(self, start: datetime = TEST_EPOCH) -> None:
        self.current = start
        self.skipped = timedelta(0)

    def __call__(self) -> datetime:
        self.current += timedelta(milliseconds=1)
        return self.current

    def advance(self, delta: timedelta) -> None:
        """Jump ahead (a session expiring, a reel's floor life running out): undone when
        the test ends, so the next test is back on the shared calendar."""
        self.current += delta
        self.skipped += delta


@pytest.fixture(scope="session", autouse=True)
def session_clock() -> Iterator[TestClock]:
    fake = TestClock()
    with clock.use_clock(fake):
        yield fake


@pytest.fixture(autouse=True)
def test_clock(session_clock: TestClock, monkeypatch: pytest.MonkeyPatch
               ) -> Iterator[TestClock]:
    """Injected into every test: nothing depends on the day the suite runs. Processes the
    test starts get the same calendar from tests/clockhook/sitecustomize.py (starting at
    the test's time, moving at the real pace)."""
    start, started = session_clock.current, time.time()
    monkeypatch.setenv("MES_TEST_CLOCK", f"{start.isoformat()}@{started}")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [str(CLOCK_HOOK), str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]))
    yield session_clock
    session_clock.current -= session_clock.skipped
    session_clock.skipped = timedelta(0)
    # stay ahead of what the test's processes recorded
    session_clock.current = max(session_clock.current,
                                start + timedelta(seconds=time.time() - started))


@dataclass
class Result:
    code: int
    out: str
    err: str

    def __str__(self) -> str:
        return f"exit {self.code}\nstdout:\n{self.out}\nstderr:\n{self.err}"


def run_cli(args: list[str], stdin: str = "") -> Result:
    old = sys.stdin, sys.stdout, sys.stderr
    sys.stdin, sys.stdout, sys.stderr = io.StringIO(stdin), io.StringIO(), io.StringIO()
    try:
        code = main([str(a) for a in args])
        return Result(code, sys.stdout.getvalue(), sys.stderr.getvalue())
    finally:
        out = sys.stdout
        sys.stdin, sys.stdout, sys.stderr = old
        del out


@dataclass
class Workspace:
    path: Path
    db_url: str | None = None  # postgresql://…: every mes call gets `--db URL`

    @property
    def db(self) -> Path:
        return self.path / "mes.db"

    def mes(self, *args: object, user: str | None = None, stdin: str = "") -> Result:
        """Run mes as `user` (password given on stdin, like a script would)."""
        argv = [str(a) for a in args]
        if user:
            argv = ["--user", user, "--password-stdin", *argv]
            stdin = PASSWORDS[user] + "\n" + stdin
        if self.db_url and "--db" not in argv:
            argv = ["--db", self.db_url, *argv]
        return run_cli(argv, stdin)

    def ok(self, *args: object, user: str | None = None, stdin: str = "") -> Result:
        r = self.mes(*args, user=user, stdin=stdin)
        assert r.code == 0, str(r)
        return r

    def dump(self) -> list[str]:
        """Every row of every table: compare before/after to prove nothing changed."""
        if self.db_url:
            from tests.postgres.dump import pg_dump_lines

            return pg_dump_lines(self.db_url)
        con = sqlite3.connect(self.db)
        try:
            return list(con.iterdump())
        finally:
            con.close()


def sql(ws: Workspace | Path, statement: str, params: tuple[object, ...] = ()
        ) -> list[tuple[Any, ...]]:
    """Run SQL directly on the workspace's SQLite file (or the file given), as someone with
    file access would, and commit: tests use it to read, and to prepare states no command
    can reach."""
    con = sqlite3.connect(ws.db if isinstance(ws, Workspace) else ws)
    try:
        rows = con.execute(statement, params).fetchall()
        con.commit()
        return rows
    finally:
        con.close()


def changed_rows(before: list[str], after: list[str]) -> tuple[list[str], list[str]]:
    """(rows gone, rows new) between two dumps."""
    return ([line for line in before if line not in after],
            [line for line in after if line not in before])


def assert_unchanged(ws: Workspace, before: list[str]) -> None:
    after = ws.dump()
    assert after == before, changed_rows(before, after)


def valid_value(spec: dict[str, Any]) -> str:
    """A value a data spec accepts: the middle of [min, max], else just inside the limit."""
    if spec["type"] == "str":
        return "X-1"
    if spec["type"] == "bool":
        return "true"
    lo, hi = spec.get("min"), spec.get("max")
    if lo is not None and hi is not None:
        mid = (lo + hi) / 2
    elif lo is not None:
        mid = lo if spec["type"] == "int" else lo + 1
    elif hi is not None:
        mid = hi if spec["type"] == "int" else hi - 1
    else:
        mid = 1
    return str(round(mid)) if spec["type"] == "int" else f"{mid:g}"


USERS = [("fatima", "operator", "Fatima Zahra Alaoui"), ("youssef", "quality", "Youssef Benali"),
         ("tarik", "technician", "Tarik Ouazzani")]


def use_workspace(mp: pytest.MonkeyPatch, path: Path) -> None:
    """Point MES_HOME and the current directory at `path`, with no database override."""
    mp.setenv("MES_HOME", str(path))
    mp.delenv("MES_DB", raising=False)
    mp.delenv("MES_DATABASE_URL", raising=False)
    mp.chdir(path)


def init_workspace(ws: Workspace, users: list[tuple[str, str, str]] = USERS) -> None:
    """`mes init` with amina as admin, then one user per role (or `users`)."""
    ws.ok("init", "--site-name", "Usine Casablanca", "--country", "MA", "--manufacturer",
          "OxiMaroc SA", "--address", "Technopark, Route de Nouaceur, Casablanca",
          "--admin", "amina", "--admin-name", "Amina El Idrissi", "--password-stdin",
          stdin=PASSWORDS["amina"] + "\n")
    for name, role, full in users:
        ws.ok("user", "add", name, "--role", role, "--name", full, "--password-stdin",
              user="amina", stdin=PASSWORDS[name] + "\n")


# Work instructions of the test plant (document -> the op it applies to), rev A in force.
WORK_INSTRUCTIONS = {"WI-SMT-PNP": "PCBA-OXI-100:30", "WI-ASM-OXI": "DEV-OXI-100:10"}


def equip_plant(ws: Workspace, operators: tuple[str, ...] = ("fatima", "tarik")) -> None:
    """Stations of every type, qualified operators, the example routings approved, two
    work instructions approved and the operators trained on them."""
    for sid, stype in STATIONS.items():
        ws.ok("station", "add", sid, "--type", stype, "--calibration-due", "2099-12-31",
              user="tarik")
    # The mold the enclosure routing names (issue 18: a tool a routing names is registered).
    ws.ok("tool", "add", "M-ENC-01", "--kind", "mold", "--cavities", 4, "--life", 500000,
          "--maintenance-every", 50000, user="tarik")
    for stype in sorted(set(STATIONS.values())):
        for who in operators:
            ws.ok("user", "qualify", who, stype, "--until", "2099-12-31", user="youssef")
    out = ws.ok("routing", "load", *sorted(ROUTINGS.glob("*.yaml")), user="tarik").out
    for line in out.splitlines():
        if line.startswith("routing ") and line.endswith(": draft"):
            part, version = line.split()[1], line.split()[2].rstrip(":").lstrip("v")
            ws.ok("routing", "approve", part, "--version", version, user="youssef")
    # Issue 18: work instructions in force for two ops, the operators trained on them.
    for doc, op in WORK_INSTRUCTIONS.items():
        source = ws.path / "wi-sources" / f"{doc}-A.txt"
        source.parent.mkdir(exist_ok=True)
        source.write_text(f"{doc} rev A: work instruction for {op}\n")
        ws.ok("wi", "load", doc, "--file", source, "--revision", "A", "--op", op, user="tarik")
        ws.ok("wi", "approve", doc, "--revision", "A", user="youssef")
        for who in operators:
            ws.ok("training", "record", who, doc, "--revision", "A", user="youssef")
    approve_label_templates(ws)


def approve_label_templates(ws: Workspace) -> None:
    """The plant's label templates loaded (technician) and approved (quality, signed)."""
    out = ws.ok("label", "template", "load", *sorted(LABELS.glob("*.yaml")), user="tarik").out
    for line in out.splitlines():
        if ": draft" in line:
            name, version = line.split()[2], line.split()[3].rstrip(":").lstrip("v")
            ws.ok("label", "template", "approve", name, "--version", version, user="youssef")


@pytest.fixture
def workspace(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
              ) -> Iterator[Workspace]:
    """An initialised workspace with one user per role (no routings yet).

    Backend: SQLite unless the test parametrizes this fixture indirectly with "postgres".
    """
    backend = getattr(request, "param", "sqlite")
    use_workspace(monkeypatch, tmp_path)
    if backend == "postgres":
        ws = Workspace(tmp_path, db_url=request.getfixturevalue("pg_url"))
    else:
        assert backend == "sqlite", backend
        ws = Workspace(tmp_path)
    init_workspace(ws)
    yield ws


@pytest.fixture
def plant(workspace: Workspace) -> Workspace:
    """The workspace with the example routings approved, stations and qualifications."""
    equip_plant(workspace)
    return workspace
