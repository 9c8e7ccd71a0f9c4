"""Molding records: the shots of a lot and what a lot consumed by part (issue 11 item 4)."""

from __future__ import annotations

from typing import Any

from mes.store.base import Row, Store


def insert_shots(store: Store, rows: list[tuple[Any, ...]]) -> None:
    """Rows of (lot_id, step_id, shot_no, ok, cavities, shot_values, problems, report_row,
    cycle)."""
    store.insert_many("shots", ("lot_id", "step_id", "shot_no", "ok", "cavities",
                                "shot_values", "problems", "report_row", "cycle"), rows)


def shots_of(store: Store, lot_id: str, *, bad_only: bool = False,
             limit: int | None = None) -> list[Row]:
    sql = ("SELECT step_id, shot_no, report_row, cycle, ok, cavities, shot_values, problems "
           "FROM shots WHERE lot_id = ?" + (" AND ok = 0" if bad_only else "")
           + " ORDER BY id" + (f" LIMIT {int(limit)}" if limit else ""))
    return store.all(sql, (lot_id,))


def consumed_by_part(store: Store, lot_id: str) -> list[Row]:
    """Per material part consumed into the lot: the quantity, and the last material lot."""
    return store.all("SELECT m.part, sum(e.qty) AS qty, max(e.id) AS last_edge FROM edges e "
                     "JOIN material_lots m ON m.id = e.child WHERE e.parent = ? "
                     "GROUP BY m.part ORDER BY m.part", (lot_id,))


def edge(store: Store, edge_id: int, parent: str) -> Row | None:
    """Edge `edge_id` of `parent` (found through the parent's key, not a scan by number)."""
    return store.one("SELECT * FROM edges WHERE parent = ? AND id = ?", (parent, edge_id))
