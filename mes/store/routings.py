"""Routings: each part's versions, drafts to approved to superseded (issue 15: the SQL the
services used)."""

from __future__ import annotations

from mes.store.base import Row, Store


def all_docs(store: Store) -> list[Row]:
    """Every routing version's part and document, by part then version."""
    return store.all("SELECT part, doc FROM routings ORDER BY part, version")


def latest(store: Store, part: str) -> Row | None:
    """The newest version of a part's routing (`version`, `sha256`), whatever its status."""
    return store.one("SELECT version, sha256 FROM routings WHERE part = ? "
                     "ORDER BY version DESC LIMIT 1", (part,))


def in_force_or_newest(store: Store, part: str) -> Row | None:
    """The approved version of a part's routing, else its newest version."""
    return store.one("SELECT * FROM routings WHERE part = ? ORDER BY "
                     "CASE status WHEN 'approved' THEN 0 ELSE 1 END, version DESC LIMIT 1",
                     (part,))


def version(store: Store, part: str, number: int) -> Row | None:
    return store.one("SELECT * FROM routings WHERE part = ? AND version = ?", (part, number))


def approved_doc(store: Store, part: str) -> Row | None:
    """The document of a part's approved routing (`doc`), if one is approved."""
    return store.one("SELECT doc FROM routings WHERE part = ? AND status = 'approved'", (part,))


def listing(store: Store) -> list[Row]:
    """Every routing version, its status, source file and times, by part then version."""
    return store.all("SELECT part, version, status, source_file, loaded_at, approved_at "
                     "FROM routings ORDER BY part, version")
