"""A built plant (see helpers.build) made once per session and copied for each test.

Building it through the CLI takes ~20 s, so the workspace directory is built once
(same steps as the `workspace` and `plant` fixtures of tests/conftest.py, then
helpers.build) and each test gets its own copy: tests stay independent.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Workspace, equip_plant, init_workspace, use_workspace
from tests.quality.helpers import Scenario, build


def _init_plant(ws: Workspace) -> None:
    """The `workspace` + `plant` fixtures of tests/conftest.py, for a session-scoped build."""
    init_workspace(ws)
    equip_plant(ws)


@pytest.fixture(scope="session")
def built_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Scenario]:
    path = tmp_path_factory.mktemp("quality-plant")
    with pytest.MonkeyPatch.context() as mp:
        use_workspace(mp, path)
        ws = Workspace(path)
        _init_plant(ws)
        scenario = build(ws)
        (path / ".mes-session").unlink(missing_ok=True)
    return path, scenario


@pytest.fixture
def built(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
          built_template: tuple[Path, Scenario]) -> Iterator[tuple[Workspace, Scenario]]:
    """A private copy of the built plant: (workspace, scenario)."""
    src, scenario = built_template
    ws_path = tmp_path / "plant"
    shutil.copytree(src, ws_path)
    monkeypatch.setenv("MES_HOME", str(ws_path))
    monkeypatch.delenv("MES_DB", raising=False)
    monkeypatch.delenv("MES_DATABASE_URL", raising=False)
    monkeypatch.chdir(ws_path)
    yield Workspace(ws_path), scenario
