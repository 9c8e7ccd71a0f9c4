"""Reads of plant resources (issue 18): calibration records, tools and their use."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from mes.store.base import Row, Store


def calibrations(store: Store, station_id: str) -> list[Row]:
    """A station's calibration records, oldest first."""
    return store.all("SELECT * FROM calibrations WHERE station_id = ? ORDER BY id",
                     (station_id,))


def latest_calibration(store: Store, station_id: str) -> Row | None:
    return store.one("SELECT * FROM calibrations WHERE station_id = ? ORDER BY id DESC "
                     "LIMIT 1", (station_id,))


def calibrations_of(store: Store, station_ids: Iterable[str]) -> list[Row]:
    ids = sorted(set(station_ids))
    if not ids:
        return []
    marks = ", ".join("?" for _ in ids)
    return store.all(f"SELECT * FROM calibrations WHERE station_id IN ({marks}) "
                     "ORDER BY station_id, id", ids)


def steps_on_station(store: Store, station_id: str, after: str | None, until: str | None
                     ) -> list[Row]:
    """Steps recorded at a station in (after, until]: what it produced in that window."""
    sql = ("SELECT s.id, s.lot_id, s.serial, s.op, s.started_at, s.completed_at, s.status, "
           "l.part FROM steps s JOIN lots l ON l.id = s.lot_id WHERE s.station_id = ?")
    params: list[Any] = [station_id]
    if after:
        sql += " AND s.started_at > ?"
        params.append(after)
    if until:
        sql += " AND s.started_at <= ?"
        params.append(until)
    return store.all(sql + " ORDER BY s.id", params)


def tool_uses_of_lots(store: Store, lot_ids: Iterable[str]) -> list[Row]:
    ids = sorted(set(lot_ids))
    if not ids:
        return []
    marks = ", ".join("?" for _ in ids)
    return store.all("SELECT u.*, t.kind, t.cavities FROM tool_uses u JOIN tools t ON "
                     f"t.id = u.tool_id WHERE u.lot_id IN ({marks}) ORDER BY u.id", ids)


def tool_history(store: Store, tool_id: str) -> dict[str, list[Row]]:
    return {"used_in": store.all("SELECT * FROM tool_uses WHERE tool_id = ? ORDER BY id",
                              (tool_id,)),
            "maintenance": store.all("SELECT * FROM tool_maintenance WHERE tool_id = ? "
                                     "ORDER BY id", (tool_id,))}


def count_tool_use(store: Store, tool_id: str, count: int) -> int:
    """Add `count` uses atomically (a covered increment); returns the new total."""
    store.increment("tools", tool_id, "uses", count)
    return int(store.scalar("SELECT uses FROM tools WHERE id = ?", (tool_id,)))
