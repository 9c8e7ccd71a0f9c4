"""`mes db info|migrate`, migrations and roles on PostgreSQL, and the audit chain under
concurrent appends from 8 processes."""

from __future__ import annotations

import itertools
import json
import multiprocessing
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Workspace
from tests.postgres.dump import pg_dump_lines, pg_sql
from tests.postgres.server import PgServer
from tests.postgres.workers import append_events

DOCS = Path(__file__).resolve().parents[2] / "docs" / "POSTGRES.md"
BOTH = pytest.mark.parametrize("workspace", ["sqlite", "postgres"], indirect=True)


@BOTH
def test_db_info(workspace: Workspace) -> None:
    d = json.loads(workspace.ok("db", "info", "--json").out)
    assert d["backend"] == ("postgresql" if workspace.db_url else "sqlite")
    assert d["schema_version"] == d["program_schema_version"] >= 1
    assert d["status"] == "current"
    assert d["tables"]["users"] == 4 and d["tables"]["sites"] == 1
    assert set(d["tables"]) >= {"audit", "lots", "units", "steps", "genealogy", "signatures"}
    verify = json.loads(workspace.ok("audit", "verify", "--json").out)
    assert d["audit_head"] == {"seq": verify["head_seq"], "hash": verify["head_hash"]}
    assert d["tables"]["audit"] == verify["events"]
    text = workspace.ok("db", "info").out
    assert "schema version" in text and d["audit_head"]["hash"] in text


@pytest.mark.postgres
def test_db_info_redacts_the_password(pg_server: PgServer, pg_url: str, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MES_HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    # trust authentication ignores the password, so the address still works
    url = pg_url.replace("postgres@", "postgres:s3cret-pw@") + "?application_name=mes"
    ws = Workspace(tmp_path)
    r = ws.mes("--db", url, "db", "info")
    assert r.code == 0, r
    assert "s3cret" not in r.out + r.err
    assert "postgresql://postgres@127.0.0.1" in r.out and "not initialised" in r.out
    monkeypatch.setenv("MES_DATABASE_URL", url)
    r = ws.mes("lot", "list")
    assert r.code == 3 and "mes init" in r.err and "s3cret" not in r.err
    bad = url.replace(f":{pg_server.port}/", ":1/")
    r = ws.mes("--db", bad, "lot", "list")
    assert r.code == 3, r
    assert "cannot reach" in r.err and "s3cret" not in r.err


@pytest.mark.postgres
@pytest.mark.parametrize("workspace", ["postgres"], indirect=True)
def test_audit_is_append_only_on_the_server(workspace: Workspace) -> None:
    import psycopg

    assert workspace.db_url
    for statement in ("UPDATE audit SET reason = 'x' WHERE seq = 1",
                      "DELETE FROM audit WHERE seq = 1", "TRUNCATE audit"):
        with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
            pg_sql(workspace.db_url, statement)
    assert json.loads(workspace.ok("audit", "verify", "--json").out)["ok"]


@BOTH
def test_older_program_refuses_a_newer_schema(workspace: Workspace) -> None:
    from tests.foundation.helpers import sql

    if workspace.db_url:
        pg_sql(workspace.db_url, "UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    else:
        sql(workspace, "UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    before = workspace.dump()
    for argv in (["lot", "list"], ["audit", "verify"], ["db", "migrate"]):
        r = workspace.mes(*argv, user="amina")
        assert r.code == 7, r
        assert "99" in r.err and "upgrade mes" in r.err
    assert json.loads(workspace.ok("db", "info", "--json").out)["status"].startswith("newer")
    assert workspace.dump() == before


@pytest.fixture
def newer_program(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """This program with one more migration than the databases made by `mes init`."""
    from mes.store import schema

    old = schema.SCHEMA_VERSION
    for name, module in list(sys.modules.items()):
        if name.startswith("mes") and getattr(module, "SCHEMA_VERSION", None) == old:
            monkeypatch.setattr(module, "SCHEMA_VERSION", old + 1)
    schema.MIGRATIONS.append(["CREATE TABLE test_extra (id TEXT PRIMARY KEY, note TEXT)"])
    try:
        yield old + 1
    finally:
        schema.MIGRATIONS.pop()


@BOTH
def test_db_migrate_is_admin_only_and_audited(workspace: Workspace,
                                              newer_program: int) -> None:
    before = workspace.dump()
    r = workspace.mes("db", "migrate", user="youssef")
    assert r.code == 6, r
    assert "may not migrate the database" in r.err and "admin" in r.err
    new = [line for line in workspace.dump() if line not in before]
    assert len(new) == 1 and "auth.denied" in new[0], new
    out = json.loads(workspace.ok("db", "migrate", "--json", user="amina").out)
    assert (out["from"], out["to"], out["changed"]) == (newer_program - 1, newer_program, True)
    d = json.loads(workspace.ok("db", "info", "--json").out)
    assert d["schema_version"] == newer_program and "test_extra" in d["tables"]
    last = json.loads(workspace.ok("audit", "log", "--limit", "1", "--json").out)[0]
    assert last["action"] == "db.migrate"
    assert last["new"] == {"schema_version": newer_program}
    assert "already" in workspace.ok("db", "migrate", user="amina").out
    assert json.loads(workspace.ok("audit", "verify", "--json").out)["ok"]


def _grants(database: str) -> list[str]:
    """The station-role grants exactly as docs/POSTGRES.md prints them."""
    text = DOCS.read_text()
    block = re.search(r"```sql\n-- mes station role grants\n(.*?)```", text, re.S)
    assert block, "docs/POSTGRES.md lost its grants block"
    return [s.strip().replace("DATABASE mes ", f'DATABASE "{database}" ')
            for s in block.group(1).split(";") if s.strip()]


@pytest.mark.postgres
def test_least_privilege_station_role(pg_server: PgServer, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The owner role creates the schema; the station role with the documented grants runs
    the plant, cannot touch the audit trail, and cannot migrate (clear message)."""
    import psycopg

    suffix = pg_server.new_database().rsplit("_", 1)[1]
    owner, station = f"mes_owner_{suffix}", f"mes_station_{suffix}"
    database = f"mes_roles_{suffix}"
    pg_server.admin(f"CREATE ROLE {owner} LOGIN")
    pg_server.admin(f"CREATE ROLE {station} LOGIN")
    pg_server.admin(f"CREATE DATABASE {database} OWNER {owner} TEMPLATE template0")
    monkeypatch.setenv("MES_HOME", str(tmp_path))
    monkeypatch.delenv("MES_DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    as_owner = Workspace(tmp_path, db_url=pg_server.url(database, owner))
    from tests.quality.conftest import _init_plant

    _init_plant(as_owner)
    with psycopg.connect(pg_server.url(database, owner), autocommit=True) as conn:
        for statement in _grants(database):
            conn.execute(statement.replace("mes_station", station))

    at_station = Workspace(tmp_path, db_url=pg_server.url(database, station))
    lot = json.loads(at_station.ok("lot", "create", "PCBA-OXI-100", "--qty", "2", "--json",
                                   user="fatima").out)["lot"]
    at_station.ok("lot", "hold", lot, "--reason", "test", user="youssef")
    at_station.ok("user", "qualify", "fatima", "pack", "--until", "2099-01-31",
                  user="youssef")
    at_station.ok("material", "receive", "PASTE-SAC305", "--qty", "500", user="fatima")
    assert json.loads(at_station.ok("audit", "verify", "--json").out)["ok"]
    for statement in ("UPDATE audit SET reason = 'x' WHERE seq = 1",
                      "DELETE FROM audit WHERE seq = 1", "TRUNCATE audit",
                      "DELETE FROM lots", "CREATE TABLE sneaky (x int)"):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            pg_sql(pg_server.url(database, station), statement)

    # a newer program: the station role may not migrate, and says so
    from mes.store import schema

    monkeypatch.setattr(schema, "SCHEMA_VERSION", schema.SCHEMA_VERSION + 1)
    for name, module in list(sys.modules.items()):
        if name.startswith("mes") and hasattr(module, "SCHEMA_VERSION"):
            monkeypatch.setattr(module, "SCHEMA_VERSION", schema.SCHEMA_VERSION)
    schema.MIGRATIONS.append(["CREATE TABLE test_extra (id TEXT PRIMARY KEY)"])
    try:
        before = pg_dump_lines(pg_server.url(database))
        r = at_station.mes("lot", "list")
        assert r.code == 6, r
        assert f"role {station} may not change the schema" in r.err
        assert "mes db migrate" in r.err and "Traceback" not in r.err
        assert pg_dump_lines(pg_server.url(database)) == before
        as_owner.ok("db", "migrate", user="amina")
        at_station.ok("lot", "list")
    finally:
        schema.MIGRATIONS.pop()
    pg_server.drop_database(database)


@pytest.mark.postgres
@pytest.mark.parametrize("workspace", ["postgres"], indirect=True)
def test_audit_chain_under_8_concurrent_writers(workspace: Workspace) -> None:
    """8 processes append at once: one chain, no fork, no gap, no lost counter update."""
    assert workspace.db_url
    start = json.loads(workspace.ok("audit", "verify", "--json").out)["events"]
    workers, events = 8, 40
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(workers)
    procs = [ctx.Process(target=append_events, args=(workspace.db_url, w, events, barrier))
             for w in range(workers)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0] * workers
    verify = json.loads(workspace.ok("audit", "verify", "--json").out)
    assert verify["ok"], verify
    assert verify["events"] == start + workers * events
    rows = pg_sql(workspace.db_url, "SELECT station, count(*) FROM audit "
                                    "WHERE action = 'test.append' GROUP BY station")
    assert dict(rows) == {f"W{w}": events for w in range(workers)}
    assert pg_sql(workspace.db_url, "SELECT value FROM counters WHERE name = 'concurrency'"
                  ) == [(workers * events,)]
    # interleaved, not one worker after another: the lock serialised real contention
    order = [r[0] for r in pg_sql(workspace.db_url, "SELECT station FROM audit WHERE "
                                                    "action = 'test.append' ORDER BY seq")]
    switches = sum(1 for a, b in itertools.pairwise(order) if a != b)
    assert switches >= workers


@pytest.mark.postgres
@pytest.mark.parametrize("workspace", ["postgres"], indirect=True)
def test_copy_back_from_the_server_to_a_file(workspace: Workspace, tmp_path: Path) -> None:
    """The other direction works too (a site leaving the plant server), same checks."""
    target = tmp_path / "back" / "mes.db"
    target.parent.mkdir()
    r = workspace.mes("db", "copy", "--to", target, user="fatima")
    assert r.code == 6 and not target.exists(), r
    out = json.loads(workspace.ok("db", "copy", "--to", target, "--json", user="amina").out)
    assert out["verified"]["audit_head"] == "equal"
    back = Workspace(tmp_path)
    info = json.loads(back.ok("--db", target, "db", "info", "--json").out)
    source = json.loads(workspace.ok("db", "info", "--json").out)
    assert info["backend"] == "sqlite"
    assert (info["tables"], info["audit_head"]) == (source["tables"], source["audit_head"])
    assert json.loads(back.ok("--db", target, "audit", "verify", "--json").out)["ok"]
    back.ok("--db", target, "user", "add", "omar", "--role", "operator", "--name", "Omar",
            "--password-stdin", user="amina", stdin="omar-pass-1\n")
