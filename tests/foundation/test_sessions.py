"""Station sessions that cannot be stolen (issue 13, item 5): token stored as a hash, the
session file 0600 from its creation, bound to the host and station it was opened on, ended
by an idle timeout; the workspace 0700 and mes.db 0600, with a warning when others can read."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import stat
from datetime import timedelta
from pathlib import Path

import pytest

from tests import conftest
from tests.conftest import PASSWORDS, Workspace, assert_unchanged, run_cli, sql
from tests.foundation.helpers import assert_only_denied, complete_args, load_paste, new_lot

SESSION = ".mes-session"


def login(ws: Workspace, who: str = "fatima", *extra: object) -> str:
    ws.ok("--password-stdin", "login", who, *extra, stdin=PASSWORDS[who] + "\n")
    return (ws.path / SESSION).read_text().strip()


def test_only_the_token_hash_is_stored(workspace: Workspace) -> None:
    token = login(workspace)
    rows = sql(workspace, "SELECT token, host FROM sessions")
    assert rows == [(hashlib.sha256(token.encode()).hexdigest(), socket.gethostname())]
    assert token not in "\n".join(workspace.dump())


def test_the_hash_read_from_the_database_opens_nothing(workspace: Workspace) -> None:
    login(workspace)
    (stored,) = sql(workspace, "SELECT token FROM sessions")[0]
    (workspace.path / SESSION).write_text(stored + "\n")  # what a reader of mes.db can do
    before = workspace.dump()
    r = workspace.mes("whoami")
    assert r.code == 6 and "ended" in r.err, r
    assert_unchanged(workspace, before)


def test_session_file_is_0600_from_its_creation_whatever_the_umask(workspace: Workspace
                                                                    ) -> None:
    old = os.umask(0)
    try:
        login(workspace)
    finally:
        os.umask(old)
    path = workspace.path / SESSION
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in workspace.path.iterdir() if SESSION in p.name] \
        == [SESSION]  # the temporary file was renamed, none left behind


def test_clear_text_tokens_of_older_sessions_no_longer_open_anything(workspace: Workspace
                                                                     ) -> None:
    # a row as the program before the migration wrote it (no host, no idle clock)
    sql(workspace, "INSERT INTO sessions (token, username, station, created_at, expires_at) "
                   "VALUES ('0ld-clear-t0ken', 'youssef', NULL, ?, ?)",
        ("2026-11-02T08:00:00+00:00", "2099-01-01T00:00:00+00:00"))
    (workspace.path / SESSION).write_text("0ld-clear-t0ken\n")
    r = workspace.mes("whoami")
    assert r.code == 6 and "no longer valid" in r.err and "mes login" in r.err, r


def test_session_is_bound_to_the_host(workspace: Workspace, monkeypatch: pytest.MonkeyPatch
                                      ) -> None:
    login(workspace, "youssef")
    before = workspace.dump()
    with monkeypatch.context() as m:
        m.setattr(socket, "gethostname", lambda: "another-pc")
        r = workspace.mes("whoami")
    assert r.code == 6 and "another computer" in r.err, r
    assert_only_denied(workspace, before)
    alerts = json.loads(workspace.ok("audit", "alerts", "--json", user="youssef").out)
    assert [(a["kind"], a["subject"]) for a in alerts] == [("session-elsewhere", "youssef")]
    assert "another-pc" in alerts[0]["detail"]


def test_session_is_bound_to_its_station(plant: Workspace) -> None:
    load_paste(plant)
    lot, _ = new_lot(plant)
    login(plant, "fatima", "--station", "SPI-1")
    before = plant.dump()
    r = plant.mes(*complete_args(plant, lot, 10))  # op 10 is done at PRN-1
    assert r.code == 6 and "for station SPI-1" in r.err and "--station PRN-1" in r.err, r
    assert_only_denied(plant, before)
    login(plant, "fatima", "--station", "PRN-1")
    plant.ok(*complete_args(plant, lot, 10))


def test_idle_timeout_ends_the_session(workspace: Workspace,
                                       test_clock: conftest.TestClock) -> None:
    login(workspace)
    for _ in range(3):  # used every 14 min: still open after 42 min
        test_clock.advance(timedelta(minutes=14))
        workspace.ok("whoami")
    test_clock.advance(timedelta(minutes=16))
    before = workspace.dump()
    r = workspace.mes("whoami")
    assert r.code == 6 and "15 min without use" in r.err, r
    assert_unchanged(workspace, before)


def test_idle_timeout_is_a_setting(workspace: Workspace, test_clock: conftest.TestClock) -> None:
    workspace.ok("config", "set", "session.idle_minutes", "30", user="amina")
    login(workspace)
    test_clock.advance(timedelta(minutes=29))
    workspace.ok("whoami")
    test_clock.advance(timedelta(minutes=31))
    assert "30 min without use" in workspace.mes("whoami").err
    for bad in ("0", "481", "soon"):
        r = workspace.mes("config", "set", "session.idle_minutes", bad, user="amina")
        assert r.code == 5 and "session.idle_minutes" in r.err, r


def test_new_workspace_is_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "plant"  # does not exist yet: mes creates it
    monkeypatch.setenv("MES_HOME", str(home))
    monkeypatch.delenv("MES_DB", raising=False)
    monkeypatch.delenv("MES_DATABASE_URL", raising=False)
    old = os.umask(0o022)
    try:
        r = run_cli(["init", "--site-name", "Usine", "--country", "MA", "--manufacturer", "M",
                     "--address", "A", "--admin", "amina", "--password-stdin"],
                    PASSWORDS["amina"] + "\n")
    finally:
        os.umask(old)
    assert r.code == 0 and r.err == "", r
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    # (SQLite gives the -wal and -shm files the database's own mode)
    assert stat.S_IMODE((home / "mes.db").stat().st_mode) == 0o600
    for sub in ("labels", "lots"):
        assert stat.S_IMODE((home / sub).stat().st_mode) == 0o700


def test_warns_when_others_can_read(workspace: Workspace) -> None:
    assert workspace.ok("whoami", user="fatima").err == ""
    workspace.db.chmod(0o644)
    r = workspace.ok("whoami", user="fatima")
    lines = r.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("mes: warning:"), r
    assert "mes.db (mode 0644)" in lines[0] and "chmod 600" in lines[0]
    workspace.path.chmod(0o755)
    r = workspace.ok("whoami", user="fatima")
    assert len(r.err.splitlines()) == 1 and "chmod 700" in r.err, r
    workspace.path.chmod(0o750)  # a plant group may read: no warning
    workspace.db.chmod(0o640)
    assert workspace.ok("whoami", user="fatima").err == ""
