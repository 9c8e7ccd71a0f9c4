"""Faster `workspace` and `plant` for the foundation tests: built once, copied per test.

Building a plant runs ~60 commands (each with a scrypt password check and an fsync'd
commit); copying the SQLite file gives every test the same fresh plant in milliseconds.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Workspace, equip_plant, init_workspace, use_workspace


@pytest.fixture(scope="session")
def _templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    mp = pytest.MonkeyPatch()
    try:
        ws_dir = tmp_path_factory.mktemp("template-workspace")
        use_workspace(mp, ws_dir)
        init_workspace(Workspace(ws_dir))
        plant_dir = tmp_path_factory.mktemp("template-plant")
        shutil.copytree(ws_dir, plant_dir, dirs_exist_ok=True)
        use_workspace(mp, plant_dir)
        equip_plant(Workspace(plant_dir))
    finally:
        mp.undo()
    yield {"workspace": ws_dir, "plant": plant_dir}


def _copy(template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    shutil.copytree(template, tmp_path, dirs_exist_ok=True)
    use_workspace(monkeypatch, tmp_path)
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
