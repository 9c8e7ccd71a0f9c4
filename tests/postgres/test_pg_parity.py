"""Same scenario, both backends, same answers; and `mes db copy` SQLite -> PostgreSQL.

The quality scenario (tests/quality/helpers.build: materials, three PCBA lots with a
shared reel, firmware flashed, enclosures, devices built from boards) is driven through
the CLI on a SQLite workspace and on a PostgreSQL one. The JSON answers of the read
commands (lots, trace back/forward, NCRs, yield, audit log…) must be equal modulo
timestamps, hashes and the workspace path. Then the SQLite workspace is copied to an empty
PostgreSQL database: there the answers must be identical, byte for byte.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Workspace
from tests.postgres.dump import pg_dump_lines, pg_sql
from tests.postgres.server import PgServer
from tests.quality.conftest import _init_plant
from tests.quality.helpers import Scenario, build

pytestmark = pytest.mark.postgres

TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)?")
# sha256 digests, and the 128-bit row images of issue 13 (rows hold their own timestamps)
HEX64 = re.compile(r"\b[0-9a-f]{64}\b|\b[0-9a-f]{32}\b")
SECONDS = re.compile(r'"(cycle_time|duration)[a-z_]*": [0-9.]+')


def _build(path: Path, db_url: str | None) -> tuple[Workspace, Scenario]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MES_HOME", str(path))
        mp.delenv("MES_DB", raising=False)
        mp.delenv("MES_DATABASE_URL", raising=False)
        mp.chdir(path)
        ws = Workspace(path, db_url=db_url)
        _init_plant(ws)
        scenario = build(ws)
        ws.ok("ncr", "open", scenario.pcba["C"][1][1], "--description", "solder bridge U3",
              user="fatima")
        (path / ".mes-session").unlink(missing_ok=True)
    return ws, scenario


@pytest.fixture(scope="module")
def plants(pg_server: PgServer, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[dict[str, Any]]:
    sqlite_ws, scenario = _build(tmp_path_factory.mktemp("parity-sqlite"), None)
    name = pg_server.new_database()
    pg_ws, pg_scenario = _build(tmp_path_factory.mktemp("parity-pg"), pg_server.url(name))
    assert pg_scenario == scenario
    yield {"sqlite": sqlite_ws, "postgres": pg_ws, "scenario": scenario}
    pg_server.drop_database(name)


def _queries(sc: Scenario) -> list[list[str]]:
    lot_a, serials_a = sc.pcba["A"]
    return [
        ["lot", "list", "--json"],
        ["lot", "show", lot_a, "--json"],
        ["lot", "show", sc.dev_lot, "--json"],
        ["trace", "back", sc.devices[0], "--json"],
        ["trace", "back", sc.dev_lot, "--json"],
        ["trace", "forward", sc.shared_reel, "--json"],
        ["trace", "forward", serials_a[0], "--json"],
        ["material", "list", "--json"],
        ["material", "show", sc.shared_reel, "--json"],
        ["ncr", "list", "--json"],
        ["report", "yield", "--json"],
        ["routing", "list", "--json"],
        ["user", "list", "--json"],
        ["station", "list", "--json"],
        ["audit", "log", "--json"],
    ]


def _answers(ws: Workspace, sc: Scenario) -> dict[str, Any]:
    out = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MES_HOME", str(ws.path))
        mp.chdir(ws.path)
        for q in _queries(sc):
            r = ws.mes(*q, user="youssef")
            assert r.code == 0, (q, str(r))
            out[" ".join(q)] = r.out.replace(str(ws.path), "<WS>")
        verify = json.loads(ws.ok("audit", "verify", "--json").out)
        assert verify["ok"], verify
    return out


# file names stamp the UTC second they were written (labels/20261102T080000Z-J000001.pdf)
FILE_STAMP = re.compile(r"\d{8}T\d{6}Z")


def _normal(text: str) -> str:
    text = FILE_STAMP.sub("<stamp>", TIMESTAMP.sub("<ts>", text))
    return SECONDS.sub(r'"\1": <s>', HEX64.sub("<hash>", text))


def test_same_answers_on_both_backends(plants: dict[str, Any]) -> None:
    sc = plants["scenario"]
    on_sqlite = _answers(plants["sqlite"], sc)
    on_pg = _answers(plants["postgres"], sc)
    for query, text in on_sqlite.items():
        assert _normal(on_pg[query]) == _normal(text), query
    # the audit trails tell the same story, event for event
    a = json.loads(on_sqlite["audit log --json"])
    b = json.loads(on_pg["audit log --json"])
    keys = ("seq", "action", "entity_type", "entity_id", "username", "station", "reason")
    assert [[e[k] for k in keys] for e in a] == [[e[k] for k in keys] for e in b]


def test_copy_sqlite_workspace_to_postgres(plants: dict[str, Any], pg_server: PgServer,
                                           tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                           ) -> None:
    sc = plants["scenario"]
    src = tmp_path / "plant"
    shutil.copytree(plants["sqlite"].path, src)
    monkeypatch.setenv("MES_HOME", str(src))
    monkeypatch.delenv("MES_DB", raising=False)
    monkeypatch.delenv("MES_DATABASE_URL", raising=False)
    monkeypatch.chdir(src)
    sqlite_ws = Workspace(src)
    target = pg_server.url(pg_server.new_database())

    # only an admin of the source may copy it; a refusal copies nothing
    r = sqlite_ws.mes("db", "copy", "--from", sqlite_ws.db, "--to", target, user="youssef")
    assert r.code == 6, r
    assert "may not copy the database" in r.err
    assert pg_sql(target, "SELECT count(*) FROM information_schema.tables "
                          "WHERE table_schema = 'public'") == [(0,)]

    out = json.loads(sqlite_ws.ok("db", "copy", "--from", sqlite_ws.db, "--to", target,
                                  "--json", user="amina").out)
    assert out["verified"] == {"audit_chain": "ok", "events": out["audit_head"]["seq"],
                               "row_counts": "equal", "audit_head": "equal"}
    assert out["to"] == target and "sqlite" not in out["to"]

    pg_ws = Workspace(src, db_url=target)
    source_info = json.loads(sqlite_ws.ok("db", "info", "--json").out)
    target_info = json.loads(pg_ws.ok("db", "info", "--json").out)
    assert (source_info["backend"], target_info["backend"]) == ("sqlite", "postgresql")
    assert target_info["tables"] == source_info["tables"]
    assert target_info["audit_head"] == source_info["audit_head"] == out["audit_head"]
    assert target_info["schema_version"] == source_info["schema_version"]
    assert sum(source_info["tables"].values()) > 300
    last = json.loads(pg_ws.ok("audit", "log", "--limit", "1", "--json").out)[0]
    assert (last["action"], last["username"]) == ("db.copy", "amina")

    # every record intact: the read commands answer identically, byte for byte
    assert _answers(pg_ws, sc) == _answers(sqlite_ws, sc)

    # ids of identity columns kept; new rows continue after them (sequences reset)
    before = pg_sql(target, "SELECT max(id) FROM qualifications")[0][0]
    pg_ws.ok("user", "qualify", "fatima", "pack", "--until", "2099-06-30", user="youssef")
    assert pg_sql(target, "SELECT max(id) FROM qualifications")[0][0] == before + 1
    pg_ws.ok("ncr", "open", sc.pcba["A"][1][1], "--description", "scratch", user="fatima")
    verify = json.loads(pg_ws.ok("audit", "verify", "--json").out)
    assert verify["ok"] and verify["head_seq"] > out["audit_head"]["seq"]

    # a second copy into the (now non-empty) target is refused and changes nothing
    dump = pg_dump_lines(target)
    r = sqlite_ws.mes("db", "copy", "--to", target, user="amina")
    assert r.code == 4, r
    assert "not empty" in r.err
    assert pg_dump_lines(target) == dump
