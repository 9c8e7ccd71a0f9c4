"""Faster `workspace` and `plant` for the foundation tests: built once, copied per test.

Building a plant runs ~60 commands (each with a scrypt password check and an fsync'd
commit); copying the SQLite file gives every test the same fresh plant in milliseconds.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import PASSWORDS, ROUTINGS, STATIONS, Workspace


def _env(monkeypatch: pytest.MonkeyPatch, path: Path) -> None:
    monkeypatch.setenv("MES_HOME", str(path))
    monkeypatch.delenv("MES_DB", raising=False)
    monkeypatch.delenv("MES_DATABASE_URL", raising=False)
    monkeypatch.chdir(path)


def _build_workspace(ws: Workspace) -> None:
    ws.ok("init", "--site-name", "Usine Casablanca", "--country", "MA", "--manufacturer",
          "OxiMaroc SA", "--address", "Technopark, Route de Nouaceur, Casablanca",
          "--admin", "amina", "--admin-name", "Amina El Idrissi", "--password-stdin",
          stdin=PASSWORDS["amina"] + "\n")
    for name, role, full in [("fatima", "operator", "Fatima Zahra Alaoui"),
                             ("youssef", "quality", "Youssef Benali"),
                             ("tarik", "technician", "Tarik Ouazzani")]:
        ws.ok("user", "add", name, "--role", role, "--name", full, "--password-stdin",
              user="amina", stdin=PASSWORDS[name] + "\n")


def _build_plant(ws: Workspace) -> None:
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
def _templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    mp = pytest.MonkeyPatch()
    try:
        ws_dir = tmp_path_factory.mktemp("template-workspace")
        _env(mp, ws_dir)
        _build_workspace(Workspace(ws_dir))
        plant_dir = tmp_path_factory.mktemp("template-plant")
        shutil.copytree(ws_dir, plant_dir, dirs_exist_ok=True)
        _env(mp, plant_dir)
        _build_plant(Workspace(plant_dir))
    finally:
        mp.undo()
    yield {"workspace": ws_dir, "plant": plant_dir}


def _copy(template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    shutil.copytree(template, tmp_path, dirs_exist_ok=True)
    _env(monkeypatch, tmp_path)
    return Workspace(tmp_path)


@pytest.fixture
def workspace(_templates: dict[str, Path], tmp_path: Path,
              monkeypatch: pytest.MonkeyPatch) -> Workspace:
    """An initialised workspace with one user per role (no routings yet)."""
    return _copy(_templates["workspace"], tmp_path, monkeypatch)


@pytest.fixture
def plant(_templates: dict[str, Path], tmp_path: Path,
          monkeypatch: pytest.MonkeyPatch) -> Workspace:
    """The workspace with the example routings approved, stations and qualifications."""
    return _copy(_templates["plant"], tmp_path, monkeypatch)
