"""Labels as recorded by a print job: the `labels` row and its audit event (which says
whether the written file was decoded and matched before it reached the printer)."""

from __future__ import annotations

import json
from typing import Any

from mes.store.base import Row, Store


def label_in_force(store: Store, item: str, lot_id: str) -> Row | None:
    """The item's latest label for the lot, with `verified` from its print event:
    True only when the file was decoded and read back the recorded element string."""
    row = store.one("SELECT * FROM labels WHERE item_id = ? AND lot_id = ? "
                    "ORDER BY id DESC LIMIT 1", (item, lot_id))
    if row is None:
        return None
    event = store.one("SELECT new FROM audit WHERE entity_id = ? AND action IN "
                      "('label.print', 'label.reprint') ORDER BY seq DESC LIMIT 1", (item,))
    new: dict[str, Any] = json.loads(event["new"]) if event and event["new"] else {}
    row["verified"] = new.get("label") == row["id"] and new.get("verified") is True
    return row


def last_reprint(store: Store, item: str) -> int | None:
    """The highest reprint number among an item's labels not voided (None: no such label)."""
    n = store.scalar("SELECT max(reprint) FROM labels WHERE item_id = ? AND voided_at IS "
                     "NULL", (item,))
    return None if n is None else int(n)


def of_file(store: Store, rel: str) -> list[Row]:
    """The labels printed into one PDF file (its workspace-relative path), in order."""
    return store.all("SELECT * FROM labels WHERE file = ? ORDER BY id", (rel,))


def count_of_item(store: Store, item: str) -> int:
    """How many labels an item (a container's SSCC…) has had, voided ones included."""
    return int(store.scalar("SELECT count(*) FROM labels WHERE item_id = ?", (item,)) or 0)
