"""Backups and database copies hold every record and the password hashes: created 0600
whatever the umask (issue 13 item 5), like the workspace's own mes.db."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from tests.conftest import Workspace


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_backup_is_0600_with_a_permissive_umask(workspace: Workspace, tmp_path: Path) -> None:
    dest = tmp_path / "out" / "b.db"
    dest.parent.mkdir()
    old = os.umask(0)
    try:
        workspace.ok("backup", dest, user="youssef")
    finally:
        os.umask(old)
    assert _mode(dest) == 0o600
    assert [p.name for p in dest.parent.iterdir()] == ["b.db"]  # no temporary file left
    assert workspace.ok("backup", "verify", dest).code == 0


def test_db_copy_is_0600_with_a_permissive_umask(workspace: Workspace, tmp_path: Path) -> None:
    dest = tmp_path / "copy.db"
    old = os.umask(0)
    try:
        workspace.ok("db", "copy", "--to", dest, user="amina")
    finally:
        os.umask(old)
    assert _mode(dest) == 0o600
    for side in (dest.with_name("copy.db-wal"), dest.with_name("copy.db-shm")):
        assert not side.exists() or _mode(side) == 0o600


def test_db_copy_refusals_leave_no_file(workspace: Workspace, tmp_path: Path) -> None:
    r = workspace.mes("db", "copy", "--to", tmp_path / "no-dir" / "c.db", user="amina")
    assert r.code == 3 and r.err.startswith("mes: ") and "no such directory" in r.err, r
    assert not (tmp_path / "no-dir").exists()
    r = workspace.mes("db", "copy", "--to", tmp_path / "c.db", user="fatima")
    assert r.code == 6 and not (tmp_path / "c.db").exists()
