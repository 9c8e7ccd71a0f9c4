"""A real PostgreSQL server for the tests (a pytest plugin imported by tests/conftest.py).

`pg_server` (session): initdb --auth=trust in a temporary directory, pg_ctl start on a
free loopback port with its socket in that directory, fsync off; stopped and removed at
the end of the session. `pg_url` (function): a fresh, empty database for one test.

When no server can be started (no binaries, no `postgres` OS user when running as root…)
the tests that need one are skipped with the reason; with MES_REQUIRE_POSTGRES=1 (set by
.ci/run) that is an error instead, so CI can never go green without PostgreSQL.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

SUPERUSER = "postgres"


def _pg_bin() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
                        key=lambda p: int(Path(p).parent.parent.name)
                        if Path(p).parent.parent.name.isdigit() else 0)
    return Path(candidates[-1]).parent if candidates else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PgServer:
    """One throw-away cluster; `url(dbname)` and `new_database()` for the tests."""

    def __init__(self) -> None:
        self.bindir = _pg_bin()
        if self.bindir is None:
            raise RuntimeError("no PostgreSQL binaries (pg_ctl not in PATH nor in "
                               "/usr/lib/postgresql/*/bin): apt-get install postgresql")
        self.as_root = os.geteuid() == 0
        self.prefix: list[str] = []
        if self.as_root:  # initdb refuses to run as root: run the server as `postgres`
            runuser = shutil.which("runuser")
            if runuser is None:
                raise RuntimeError("running as root and no `runuser` to start PostgreSQL as "
                                   "the postgres user")
            self.prefix = [runuser, "-u", "postgres", "--"]
        self.dir = Path(tempfile.mkdtemp(prefix="mes-pg-"))
        self.data = self.dir / "data"
        self.log = self.dir / "server.log"
        self.port = _free_port()
        self._names = itertools.count(1)
        if self.as_root:
            shutil.chown(self.dir, "postgres", "postgres")
        self.started = False

    def _run(self, *argv: str) -> None:
        proc = subprocess.run([*self.prefix, *argv], capture_output=True, text=True,
                              timeout=120, check=False)
        if proc.returncode:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{Path(argv[0]).name} failed ({proc.returncode}): "
                               f"{proc.stderr.strip() or proc.stdout.strip()} {log}".strip())

    def start(self) -> None:
        assert self.bindir is not None
        self._run(str(self.bindir / "initdb"), "-D", str(self.data), "--auth=trust",
                  "-U", SUPERUSER, "-E", "UTF8", "--locale=C", "--no-sync")
        opts = (f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.log),
                  "-o", opts, "-w", "-t", "60", "start")
        self.started = True

    def stop(self) -> None:
        if self.started and self.bindir is not None:
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate",
                          "-w", "stop")
            self.started = False
        shutil.rmtree(self.dir, ignore_errors=True)

    def url(self, dbname: str = "postgres", user: str = SUPERUSER,
            password: str | None = None) -> str:
        cred = f"{user}:{password}" if password else user
        return f"postgresql://{cred}@127.0.0.1:{self.port}/{dbname}"

    def admin(self, sql: str, dbname: str = "postgres") -> None:
        import psycopg

        with psycopg.connect(self.url(dbname), autocommit=True) as conn:
            conn.execute(sql)

    def new_database(self, template: str | None = None) -> str:
        name = f"mes_t{os.getpid()}_{next(self._names)}"
        self.admin(f'CREATE DATABASE "{name}"'
                   + (f' TEMPLATE "{template}"' if template else " TEMPLATE template0"))
        return name

    def drop_database(self, name: str) -> None:
        self.admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    required = os.environ.get("MES_REQUIRE_POSTGRES") == "1"
    server: PgServer | None = None
    try:
        import psycopg  # noqa: F401

        server = PgServer()
        server.start()
    except Exception as exc:  # any failure to start is reported below
        if server is not None:
            server.stop()
        reason = f"no PostgreSQL server could be started for the tests: {exc}"
        if required:
            pytest.fail(f"MES_REQUIRE_POSTGRES=1 and {reason}", pytrace=False)
        pytest.skip(reason)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_url(pg_server: PgServer) -> Iterator[str]:
    """A fresh, empty database on the test server (dropped after the test)."""
    name = pg_server.new_database()
    yield pg_server.url(name)
    pg_server.drop_database(name)
