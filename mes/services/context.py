"""Who is acting, on which database, from which workspace: passed to every service."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mes.errors import NotAuthorised
from mes.store.base import Store

SESSION_FILE = ".mes-session"


@dataclass(frozen=True)
class Actor:
    username: str
    role: str
    full_name: str
    # The sites the user's role is limited to (issue 20); None: every site.
    sites: tuple[str, ...] | None = None


@dataclass
class Context:
    workspace: Path
    db: str  # a file path or a postgresql:// URL
    user: str | None = None  # --user for scripts (else the station session)
    password_source: Callable[[str], str] | None = None  # asks for a password (hidden)
    _store: Store | None = field(default=None, repr=False)
    _actor: Actor | None = field(default=None, repr=False)
    station: str | None = None
    session_station: str | None = None  # the station a station session was opened at
    _password: str | None = field(default=None, repr=False)

    @property
    def store(self) -> Store:
        if self._store is None:
            from mes.store import open_store

            self._store = open_store(self.db)
            from mes.services.seals import after_commit

            self._store.after_commit = after_commit(self.workspace)
        return self._store

    def password(self, prompt: str) -> str:
        """The password entered for this command: read once, used for login and signature."""
        if self._password is None:
            if self.password_source is None:
                raise NotAuthorised("a password is needed: run on a terminal or pass "
                                    "--password-stdin")
            self._password = self.password_source(prompt)
        return self._password

    @property
    def session_path(self) -> Path:
        return self.workspace / SESSION_FILE

    def exposure_warning(self) -> str | None:
        """After a command that opened the database: one line naming the workspace paths
        that every user of the computer can read (issue 13), else None."""
        if self._store is None:
            return None
        exposed, fixes = [], []
        for p in [self.workspace] + ([] if "://" in self.db else [Path(self.db)]):
            try:
                mode = p.stat().st_mode & 0o777
            except OSError:
                continue
            if mode & 0o004:
                exposed.append(f"{p} (mode {mode:04o})")
                fixes.append(f"chmod {'700' if p.is_dir() else '600'} {p}")
        if not exposed:
            return None
        return (f"warning: readable by every user of this computer: {', '.join(exposed)}; "
                f"run `{'; '.join(fixes)}` (or give a plant group access: docs/RELIABILITY.md)")

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None


def workspace_from_env(cwd: Path | None = None) -> Path:
    return Path(os.environ.get("MES_HOME") or cwd or Path.cwd())


def default_db(workspace: Path) -> str:
    return (os.environ.get("MES_DATABASE_URL") or os.environ.get("MES_DB")
            or str(workspace / "mes.db"))
