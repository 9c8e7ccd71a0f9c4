"""The quality CLI tests (trace back/forward, recall, NCR, release, ship, DHR, yield) run
unchanged against PostgreSQL.

The built plant is made once per session in a template database (same steps as
tests/quality/conftest.py); each test gets `CREATE DATABASE … TEMPLATE` of it and a
copy of the workspace directory.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Workspace
from tests.postgres.adopt import adopt, redirect_sql
from tests.postgres.server import PgServer
from tests.quality import helpers, test_dhr_yield, test_ncr_release_ship, test_trace_recall
from tests.quality.conftest import _init_plant
from tests.quality.helpers import Scenario, build

MODULES = (test_trace_recall, test_ncr_release_ship, test_dhr_yield)

pytestmark = pytest.mark.postgres

ADOPTED = adopt(globals(), MODULES, {"built"})


@pytest.fixture(scope="module")
def pg_built_template(pg_server: PgServer, tmp_path_factory: pytest.TempPathFactory
                      ) -> Iterator[tuple[Path, str, Scenario]]:
    path = tmp_path_factory.mktemp("pg-quality-plant")
    name = pg_server.new_database()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MES_HOME", str(path))
        mp.delenv("MES_DB", raising=False)
        mp.delenv("MES_DATABASE_URL", raising=False)
        mp.chdir(path)
        ws = Workspace(path, db_url=pg_server.url(name))
        _init_plant(ws)
        scenario = build(ws)
        (path / ".mes-session").unlink(missing_ok=True)
    yield path, name, scenario
    pg_server.drop_database(name)


@pytest.fixture
def built(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pg_server: PgServer,
          pg_built_template: tuple[Path, str, Scenario]
          ) -> Iterator[tuple[Workspace, Scenario]]:
    src, template, scenario = pg_built_template
    ws_path = tmp_path / "plant"
    shutil.copytree(src, ws_path)
    name = pg_server.new_database(template=template)
    monkeypatch.setenv("MES_HOME", str(ws_path))
    monkeypatch.delenv("MES_DB", raising=False)
    monkeypatch.delenv("MES_DATABASE_URL", raising=False)
    monkeypatch.chdir(ws_path)
    redirect_sql(monkeypatch, (helpers, *MODULES))
    yield Workspace(ws_path, db_url=pg_server.url(name)), scenario
    pg_server.drop_database(name)
