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

from tests.conftest import PASSWORDS, ROUTINGS, STATIONS, Workspace
from tests.quality.helpers import Scenario, build


def _init_plant(ws: Workspace) -> None:
    """The `workspace` + `plant` fixtures of tests/conftest.py, for a session-scoped build."""
    ws.ok("init", "--site-name", "Usine Casablanca", "--country", "MA", "--manufacturer",
          "OxiMaroc SA", "--address", "Technopark, Route de Nouaceur, Casablanca",
          "--admin", "amina", "--admin-name", "Amina El Idrissi", "--password-stdin",
          stdin=PASSWORDS["amina"] + "\n")
    for name, role, full in [("fatima", "operator", "Fatima Zahra Alaoui"),
                             ("youssef", "quality", "Youssef Benali"),
                             ("tarik", "technician", "Tarik Ouazzani")]:
        ws.ok("user", "add", name, "--role", role, "--name", full, "--password-stdin",
              user="amina", stdin=PASSWORDS[name] + "\n")
    for sid, stype in STATIONS.items():
        ws.ok("station", "add", sid, "--type", stype, "--calibration-due", "2099-12-31",
              user="tarik")
    for stype in sorted(set(STATIONS.values())):
        for who in ("fatima", "tarik"):
            ws.ok("user", "qualify", who, stype, "--until", "2099-12-31", user="youssef")
    out = ws.ok("routing", "load", *sorted(ROUTINGS.glob("*.yaml")), user="tarik").out
    for line in out.splitlines():
        if line.startswith("routing ") and line.endswith(": draft"):
            part, version = line.split()[1], line.split()[2].rstrip(":").lstrip("v")
            ws.ok("routing", "approve", part, "--version", version, user="youssef")


@pytest.fixture(scope="session")
def built_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Scenario]:
    path = tmp_path_factory.mktemp("quality-plant")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MES_HOME", str(path))
        mp.delenv("MES_DB", raising=False)
        mp.delenv("MES_DATABASE_URL", raising=False)
        mp.chdir(path)
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
