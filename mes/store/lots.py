"""Lots and their units (issue 15: the SQL the services used)."""

from __future__ import annotations

from mes.store.base import Row, Store


def units_in_process(store: Store, lot_id: str) -> int:
    return int(store.scalar("SELECT count(*) FROM units WHERE lot_id = ? AND status = "
                            "'in_process'", (lot_id,)))


def unit_status_counts(store: Store, lot_id: str) -> dict[str, int]:
    """How many units of a lot are in each status (statuses with none are absent)."""
    return {r["status"]: r["n"] for r in store.all(
        "SELECT status, count(*) AS n FROM units WHERE lot_id = ? GROUP BY status",
        (lot_id,))}


def units_released(store: Store, lot_id: str) -> int:
    """Units of a lot released and not yet shipped."""
    return int(store.scalar("SELECT count(*) FROM units WHERE lot_id = ? AND "
                            "status = 'released'", (lot_id,)))


def for_yield(store: Store, *, site: str | None, part: str | None, since: str | None
              ) -> list[Row]:
    """Part, status and scrap of the lots a yield report counts (made at `site`, of `part`,
    created since `since`; each filter only when given)."""
    lot_where, lot_params = [], []
    if site:
        lot_where.append("site_id = ?")
        lot_params.append(site)
    if part:
        lot_where.append("part = ?")
        lot_params.append(part)
    if since:
        lot_where.append("created_at >= ?")
        lot_params.append(since)
    return store.all("SELECT part, status, qty_scrapped FROM lots"
                     + (" WHERE " + " AND ".join(lot_where) if lot_where else ""), lot_params)


def unit_mcu_uid(store: Store, serial: str) -> str | None:
    """The MCU unique id recorded for a unit (None: none recorded yet)."""
    return store.scalar("SELECT mcu_uid FROM units WHERE serial = ?", (serial,))
