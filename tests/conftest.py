"""Shared fixtures: a workspace driven through the real CLI entry point, in-process.

`Plant.mes(...)` runs `mes` exactly as a shell would (argv, stdin, stdout, stderr, exit
code) against a real SQLite file in a temporary workspace, or, for a test that asks for
it (`@pytest.mark.parametrize("workspace", ["sqlite", "postgres"], indirect=True)`), a
fresh database on the PostgreSQL server of tests/postgres/server.py.
"""

from __future__ import annotations

import io
import sqlite3
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from mes.cli import main
from tests.postgres.server import PgServer, pg_server, pg_url  # noqa: F401 (fixtures)

ROOT = Path(__file__).resolve().parent.parent
ROUTINGS = ROOT / "routings"
PASSWORDS = {"amina": "admin-pass-1", "fatima": "fatima-pass-1", "youssef": "youssef-pass-1",
             "tarik": "tarik-pass-1", "omar": "omar-pass-1"}
# Station types of the example routings and one station of each.
STATIONS = {
    "PRN-1": "smt-printer", "SPI-1": "spi", "PNP-1": "smt-pnp", "REFLOW-1": "reflow-oven",
    "AOI-1": "aoi", "ICT-1": "ict", "FLASH-1": "flash", "DRY-1": "dryer", "IMM-2": "imm",
    "VIS-1": "visual", "ASM-1": "assembly", "FT-1": "func-test", "LBL-1": "labeler",
    "PACK-1": "pack",
}


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


@pytest.fixture
def workspace(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
              ) -> Iterator[Workspace]:
    """An initialised workspace with one user per role (no routings yet).

    Backend: SQLite unless the test parametrizes this fixture indirectly with "postgres".
    """
    backend = getattr(request, "param", "sqlite")
    monkeypatch.setenv("MES_HOME", str(tmp_path))
    monkeypatch.delenv("MES_DB", raising=False)
    monkeypatch.delenv("MES_DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    if backend == "postgres":
        ws = Workspace(tmp_path, db_url=request.getfixturevalue("pg_url"))
    else:
        assert backend == "sqlite", backend
        ws = Workspace(tmp_path)
    ws.ok("init", "--site-name", "Usine Casablanca", "--country", "MA", "--manufacturer",
          "OxiMaroc SA", "--address", "Technopark, Route de Nouaceur, Casablanca",
          "--admin", "amina", "--admin-name", "Amina El Idrissi", "--password-stdin",
          stdin=PASSWORDS["amina"] + "\n")
    for name, role, full in [("fatima", "operator", "Fatima Zahra Alaoui"),
                             ("youssef", "quality", "Youssef Benali"),
                             ("tarik", "technician", "Tarik Ouazzani")]:
        ws.ok("user", "add", name, "--role", role, "--name", full, "--password-stdin",
              user="amina", stdin=PASSWORDS[name] + "\n")
    yield ws


@pytest.fixture
def plant(workspace: Workspace) -> Workspace:
    """The workspace with the example routings approved, stations and qualifications."""
    ws = workspace
    for sid, stype in STATIONS.items():
        ws.ok("station", "add", sid, "--type", stype, "--calibration-due", "2099-12-31",
              user="tarik")
    for stype in sorted(set(STATIONS.values())):
        for who in ("fatima", "tarik"):
            ws.ok("user", "qualify", who, stype, "--until", "2099-12-31", user="youssef")
    files = sorted(ROUTINGS.glob("*.yaml"))
    out = ws.ok("routing", "load", *files, user="tarik").out
    for line in out.splitlines():
        if line.startswith("routing ") and line.endswith(": draft"):
            part, version = line.split()[1], line.split()[2].rstrip(":").lstrip("v")
            ws.ok("routing", "approve", part, "--version", version, user="youssef")
    return ws
