"""Quality records of many items at once: NCRs and hold events (issue 11 item 8).

Used for what a device's subassemblies carry: a DHR or a trace back lists the NCRs and holds
of every lot, unit and material lot in the genealogy, not only those of the root.
"""

from __future__ import annotations

from mes.store.base import Row, Store
from mes.store.genealogy import _by_ids


def ncrs_on(store: Store, targets: list[str]) -> list[Row]:
    """NCRs opened on any of `targets` (lot or material lot ids), oldest first."""
    return _by_ids(store, "SELECT * FROM ncrs WHERE lot_id IN ({ids})", targets, "id")


def hold_events(store: Store, items: list[str]) -> list[Row]:
    """Audit events that put any of `items` on hold or took it off (automatic, NCR, recall)."""
    return _by_ids(store, """
        SELECT seq, at, username, action, entity_type, entity_id, reason FROM audit
         WHERE entity_id IN ({ids}) AND (action LIKE 'hold.%' OR action LIKE 'unhold.%'
               OR action IN ('unit.hold', 'lot.hold', 'material.hold', 'unit.unhold',
                                'lot.unhold', 'material.unhold'))""", items, "seq")


def open_ncr_naming(store: Store, item_id: str) -> Row | None:
    """An open NCR on a lot, or one naming a unit among its units (`id` only)."""
    return store.one("SELECT id FROM ncrs WHERE status <> 'closed' AND (lot_id = ? OR "
                     "units LIKE ?)", (item_id, f'%"{item_id}"%'))


def open_ncrs_of_lot_except(store: Store, lot_id: str | None, ncr_id: str) -> list[Row]:
    """Open NCRs of a lot other than `ncr_id` (`id`, `units`), oldest first."""
    return store.all("SELECT id, units FROM ncrs WHERE lot_id = ? AND status <> 'closed' "
                     "AND id <> ? ORDER BY id", (lot_id, ncr_id))


def open_lot_ncr_except(store: Store, lot_id: str, ncr_id: str) -> Row | None:
    """The oldest open NCR on a whole lot (no units named) other than `ncr_id`."""
    return store.one("SELECT id FROM ncrs WHERE lot_id = ? AND status <> 'closed' AND id <> ? "
                     "AND units = '[]' ORDER BY id LIMIT 1", (lot_id, ncr_id))


def first_open_ncr(store: Store, lot_id: str) -> Row | None:
    """The oldest open NCR of a lot (`id`), whatever it names."""
    return store.one("SELECT id FROM ncrs WHERE lot_id = ? AND status <> 'closed' "
                     "ORDER BY id LIMIT 1", (lot_id,))


def ncrs(store: Store, *, open_only: bool = False, lot_id: str | None = None) -> list[Row]:
    """NCRs, oldest first: all, or only open ones, or only those of one lot."""
    sql, params = "SELECT * FROM ncrs", []
    clauses = []
    if open_only:
        clauses.append("status <> 'closed'")
    if lot_id is not None:
        clauses.append("lot_id = ?")
        params.append(lot_id)
    if clauses:
        sql += " WHERE " + " AND ".join(clauses)
    return store.all(sql + " ORDER BY id", params)
