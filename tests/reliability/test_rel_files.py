"""Files are records too (issue 13 item 4): every file mes writes has its sha256 in the
event that wrote it; `mes audit verify --files` names each missing or changed one, and
`mes label verify` checks the file's hash besides decoding the symbol."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from mes.cli.demo import Demo
from tests.conftest import Workspace, sql


@pytest.fixture
def demo_ws(demo_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
            ) -> Iterator[Workspace]:
    path = tmp_path / "plant"
    shutil.copytree(demo_template, path)
    monkeypatch.setenv("MES_HOME", str(path))
    monkeypatch.delenv("MES_DB", raising=False)
    monkeypatch.chdir(path)
    yield Workspace(path)


def one(path: Path, pattern: str) -> Path:
    [found] = sorted(path.glob(pattern))[:1]
    return found


def test_every_file_is_named_and_verified(demo_ws: Workspace, tmp_path: Path) -> None:
    Demo(demo_ws.path, quiet=True).mes("backup", tmp_path / "copy.db", user="youssef")
    r = demo_ws.ok("audit", "verify", "--files", "--json")
    import json

    names = {p for p in _named_files(demo_ws)}
    assert any(n.startswith("firmware/") for n in names)
    assert any(n.startswith("labels/") and n.endswith(".pdf") for n in names)
    assert {n.rsplit("/", 1)[-1] for n in names if n.startswith("lots/")} >= {"dhr.pdf",
                                                                                "dhr.json"}
    assert str((tmp_path / "copy.db").resolve()) in names
    assert json.loads(r.out)["files"]["checked"] == len(names)


def _named_files(ws: Workspace) -> set[str]:
    import json

    out = set()
    for (new,) in sql(ws, "SELECT new FROM audit WHERE new LIKE '%\"files\"%'"):
        out |= {f["path"] for f in json.loads(new)["files"]}
    return out


@pytest.mark.parametrize("what", ["label pdf", "dhr.json", "dhr.pdf", "firmware image"])
@pytest.mark.parametrize("how", ["edited", "deleted"])
def test_a_missing_or_changed_file_is_named(demo_ws: Workspace, what: str, how: str) -> None:
    path = {"label pdf": lambda: one(demo_ws.path / "labels", "*/*.pdf"),
            "dhr.json": lambda: one(demo_ws.path / "lots", "*/dhr.json"),
            "dhr.pdf": lambda: one(demo_ws.path / "lots", "*/dhr.pdf"),
            "firmware image": lambda: one(demo_ws.path / "firmware", "*.bin")}[what]()
    if how == "edited":
        path.write_bytes(path.read_bytes()[:-1] + b"\x00")
    else:
        path.unlink()
    r = demo_ws.mes("audit", "verify", "--files")
    rel = str(path.relative_to(demo_ws.path))
    assert r.code == 7 and rel in r.err, r
    assert ("missing" if how == "deleted" else "differs") in r.err


def test_firmware_swapped_with_its_hash_row_is_caught(demo_ws: Workspace) -> None:
    image = one(demo_ws.path / "firmware", "*.bin")
    forged = b"evil" * 100
    import hashlib

    image.write_bytes(forged)
    sql(demo_ws, "UPDATE firmware SET sha256 = ?, size = ? WHERE stored_path = ?",
        (hashlib.sha256(forged).hexdigest(), len(forged), str(image.relative_to(demo_ws.path))))
    r = demo_ws.mes("audit", "verify", "--reconcile")
    assert r.code == 7 and "firmware FW-" in r.err, r
    r = demo_ws.mes("audit", "verify", "--files")
    assert r.code == 7 and image.name in r.err, r


def test_label_verify_checks_the_file_hash(demo_ws: Workspace) -> None:
    pdf = one(demo_ws.path / "labels", "*/*.pdf")
    demo_ws.ok("label", "verify", pdf)
    # Same symbols, different file (e.g. its text edited): the decode alone would pass.
    data = pdf.read_bytes()
    pdf.write_bytes(data.replace(b"%%EOF", b"%%EOF\n% edited", 1))
    r = demo_ws.mes("label", "verify", pdf)
    assert r.code == 7 and "differs from what event" in r.err, r
