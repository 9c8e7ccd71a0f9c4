"""Origin decisions: each lot's computed origin with its worksheet (issue 15: the SQL the
services used)."""

from __future__ import annotations

from mes.store.base import Row, Store


def latest(store: Store, lot_id: str) -> Row | None:
    """A lot's most recently recorded origin decision (highest id)."""
    return store.one("SELECT * FROM origin_decisions WHERE lot_id = ? ORDER BY id DESC LIMIT 1",
                     (lot_id,))
