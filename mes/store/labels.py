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
