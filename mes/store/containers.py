"""Containers (SSCC-identified packages) and what is in them (issue 19): the SQL.

`container_contents` keeps every packing: a row is current while `removed_at` is NULL (a
partial unique index holds an item to one current container); an unpack records the
removal on the row, it never deletes it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mes.store.base import Row, Store, in_chunks
from mes.store.printing import last_labels

_DOWN = """WITH RECURSIVE down(id, kind, depth) AS (
    SELECT item_id, item_kind, 1 FROM container_contents WHERE sscc = ? AND removed_at IS NULL
    UNION ALL
    SELECT c.item_id, c.item_kind, d.depth + 1 FROM container_contents c
      JOIN down d ON c.sscc = d.id WHERE c.removed_at IS NULL AND d.kind = 'container'
      AND d.depth < 16)"""


def current_parent(store: Store, item_id: str) -> Row | None:
    """The content row that holds `item_id` now (None: not packed)."""
    return store.one("SELECT * FROM container_contents WHERE item_id = ? AND removed_at IS NULL",
                     (item_id,))


def parents_of(store: Store, item_ids: Sequence[str]) -> dict[str, str]:
    """item -> the SSCC holding it now, for many items."""
    out: dict[str, str] = {}
    for chunk, marks in in_chunks(item_ids):
        for item, sscc in store.tuples(f"SELECT item_id, sscc FROM container_contents WHERE "
                                       f"removed_at IS NULL AND item_id IN ({marks})", chunk):
            out[item] = sscc
    return out


def contents(store: Store, sscc: str) -> list[Row]:
    """The current direct contents, in packing order."""
    return store.all("SELECT * FROM container_contents WHERE sscc = ? AND removed_at IS NULL "
                     "ORDER BY id", (sscc,))


def history(store: Store, sscc: str) -> list[Row]:
    return store.all("SELECT * FROM container_contents WHERE sscc = ? ORDER BY id", (sscc,))


def units_in(store: Store, sscc: str) -> list[Row]:
    """Every unit inside, at any depth, with its lot, part and state."""
    return store.all(_DOWN + " SELECT u.serial, u.lot_id, u.status, u.on_hold, u.hold_reason, "
                     "l.part, l.on_hold AS lot_on_hold FROM down d "
                     "JOIN units u ON u.serial = d.id JOIN lots l ON l.id = u.lot_id "
                     "WHERE d.kind = 'unit' ORDER BY u.serial", (sscc,))


def containers_in(store: Store, sscc: str) -> list[str]:
    return [r[0] for r in store.tuples(_DOWN + " SELECT id FROM down WHERE kind = 'container'",
                                       (sscc,))]


def chain(store: Store, item_id: str) -> list[Row]:
    """The containers holding `item_id`, innermost first (box, case, pallet)."""
    out: list[Row] = []
    current = item_id
    for _ in range(16):
        row = store.one("SELECT c.* FROM container_contents x JOIN containers c ON "
                        "c.sscc = x.sscc WHERE x.item_id = ? AND x.removed_at IS NULL",
                        (current,))
        if row is None:
            break
        out.append(row)
        current = row["sscc"]
    return out


def add(store: Store, sscc: str, items: Sequence[tuple[str, str, str | None]], at: str,
        by: str) -> None:
    """Pack (item, kind, lot) into `sscc`."""
    store.insert_many("container_contents", ("sscc", "item_id", "item_kind", "lot_id",
                                             "packed_at", "packed_by"),
                      [(sscc, i, k, lot, at, by) for i, k, lot in items])


def remove(store: Store, sscc: str, item_ids: Sequence[str], at: str, by: str,
           reason: str) -> int:
    n = 0
    for item in item_ids:  # by key, so each row written is covered by the audit trail
        for (row_id,) in store.tuples("SELECT id FROM container_contents WHERE sscc = ? AND "
                                      "item_id = ? AND removed_at IS NULL", (sscc, item)):
            n += store.update("container_contents", row_id, {
                "removed_at": at, "removed_by": by, "removal_reason": reason})
    return n


def set_status(store: Store, ssccs: Sequence[str], status: str, expect: str,
               changes: dict[str, Any] | None = None) -> int:
    n = 0
    for s in ssccs:
        n += store.update("containers", s, {"status": status, **(changes or {})},
                          expect={"status": expect})
    return n


def of_lot(store: Store, lot_id: str) -> list[Row]:
    """Containers that hold (or held) units of the lot, directly."""
    return store.all("SELECT c.*, count(x.id) AS units FROM containers c JOIN "
                     "container_contents x ON x.sscc = c.sscc WHERE x.lot_id = ? AND "
                     "x.item_kind = 'unit' AND x.removed_at IS NULL GROUP BY c.sscc, c.level, "
                     "c.part, c.capacity, c.status, c.site_id, c.created_at, c.created_by, "
                     "c.closed_at, c.shipped_at ORDER BY c.sscc", (lot_id,))


def of_shipment(store: Store, shipment_id: int) -> list[str]:
    return [r[0] for r in store.tuples("SELECT sscc FROM shipment_containers WHERE "
                                       "shipment_id = ? ORDER BY sscc", (shipment_id,))]


def record_shipment(store: Store, shipment_id: int, ssccs: Sequence[str]) -> None:
    store.insert_many("shipment_containers", ("shipment_id", "sscc"),
                      [(shipment_id, s) for s in ssccs])


def labels_of(store: Store, sscc: str) -> list[Row]:
    return store.all("SELECT * FROM labels WHERE item_id = ? ORDER BY id", (sscc,))


def void_labels(store: Store, item_id: str, at: str, reason: str) -> int:
    ids = [r[0] for r in store.tuples("SELECT id FROM labels WHERE item_id = ? AND "
                                      "voided_at IS NULL", (item_id,))]
    return sum(store.update("labels", i, {"voided_at": at, "void_reason": reason})
               for i in ids)


def unit_label(store: Store, serial: str) -> Row | None:
    """The unit's last label that is not voided (its element string says its expiry)."""
    return store.one("SELECT * FROM labels WHERE item_id = ? AND voided_at IS NULL "
                     "ORDER BY id DESC LIMIT 1", (serial,))


def unit_labels(store: Store, serials: Sequence[str]) -> dict[str, Row]:
    """Each unit's newest label that is not voided."""
    return last_labels(store, serials)
