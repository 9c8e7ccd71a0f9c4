"""Steps: the operations recorded on a lot or a unit (issue 15: the SQL the services used)."""

from __future__ import annotations

from typing import Any

from mes.store.base import Row, Store
from mes.store.sites import step_site_expr


def passed_of_unit(store: Store, serial: str) -> list[Row]:
    """Op and completion time of every passed step of a unit."""
    return store.all("SELECT op, completed_at FROM steps WHERE serial = ? AND "
                     "status = 'passed'", (serial,))


def passed_of_lot(store: Store, lot_id: str) -> list[Row]:
    """Op and completion time of every passed lot-level step (no serial) of a lot."""
    return store.all("SELECT op, completed_at FROM steps WHERE lot_id = ? AND "
                     "serial IS NULL AND status = 'passed'", (lot_id,))


def open_step(store: Store, lot_id: str, op: int, serial: str | None) -> Row | None:
    """The started, not completed step at `op` of a unit (or of the lot when no serial)."""
    return store.one("SELECT * FROM steps WHERE lot_id = ? AND op = ? AND status = 'started' "
                     "AND " + ("serial = ?" if serial else "serial IS NULL"),
                     (lot_id, op, serial) if serial else (lot_id, op))


def finished_attempts(store: Store, lot_id: str, op: int, serial: str | None) -> int:
    """How many attempts at `op` were completed (passed or failed) on a unit or the lot."""
    n = store.scalar("SELECT count(*) FROM steps WHERE lot_id = ? AND op = ? AND " +
                     ("serial = ?" if serial else "serial IS NULL") + " AND status <> 'started'",
                     (lot_id, op, serial) if serial else (lot_id, op))
    return int(n)


def finished_for_yield(store: Store, *, site: str | None, part: str | None, since: str | None
                       ) -> list[Row]:
    """Part, op, attempt, result and times of every passed or failed step a yield report
    counts (done at `site`, on a lot of `part`, started since `since`; each when given)."""
    where, params = ["s.status IN ('passed', 'failed')"], []
    if site:
        where.append(f"{step_site_expr('s')} = ?")
        params.append(site)
    if part:
        where.append("l.part = ?")
        params.append(part)
    if since:
        where.append("s.started_at >= ?")
        params.append(since)
    return store.all("SELECT l.part, s.op, s.attempt, s.status, s.started_at, s.completed_at "
                     "FROM steps s JOIN lots l ON l.id = s.lot_id WHERE "
                     + " AND ".join(where), params)


def first_started_of_unit(store: Store, serial: str) -> str | None:
    """When the first step of a unit started (None before any step)."""
    first = store.scalar("SELECT min(started_at) FROM steps WHERE serial = ?", (serial,))
    return None if first is None else str(first)


def first_started_of_lot(store: Store, lot_id: str) -> str | None:
    """When the first step of a lot or of any of its units started (None before any)."""
    first = store.scalar("SELECT min(started_at) FROM steps WHERE lot_id = ?", (lot_id,))
    return None if first is None else str(first)


def passed_sites_of_unit(store: Store, serial: str) -> list[Row]:
    """Op and site (`site_id`: recorded, else its station's) of each passed step of a unit,
    in the order recorded."""
    return store.all(f"SELECT op, {step_site_expr('s')} AS site_id FROM steps s WHERE "
                     "serial = ? AND status = 'passed' ORDER BY id", (serial,))


def passed_sites_of_lot(store: Store, lot_id: str) -> list[Row]:
    """Op and site of each passed lot-level step (no serial) of a lot, in the order recorded."""
    return store.all(f"SELECT op, {step_site_expr('s')} AS site_id FROM steps s WHERE "
                     "lot_id = ? AND serial IS NULL AND status = 'passed' "
                     "ORDER BY id", (lot_id,))


def latest_id_of_unit(store: Store, serial: str, op: int) -> int | None:
    """The id of the newest step of a unit at `op` (the one just recorded)."""
    return store.scalar("SELECT id FROM steps WHERE serial = ? AND op = ? ORDER BY id DESC "
                        "LIMIT 1", (serial, op))


def latest_id_of_lot(store: Store, lot_id: str, op: int) -> Any:
    """The id of the newest lot-level step (no serial) of a lot at `op` (the one just
    recorded: the caller reads it inside the transaction that recorded it)."""
    return store.scalar("SELECT id FROM steps WHERE lot_id = ? AND serial IS NULL AND "
                        "op = ? ORDER BY id DESC LIMIT 1", (lot_id, op))
