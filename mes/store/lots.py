"""Lots and their units (issue 15: the SQL the services used)."""

from __future__ import annotations

from mes.store.base import Store


def units_in_process(store: Store, lot_id: str) -> int:
    return int(store.scalar("SELECT count(*) FROM units WHERE lot_id = ? AND status = "
                            "'in_process'", (lot_id,)))
