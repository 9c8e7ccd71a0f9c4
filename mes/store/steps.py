"""Steps: the operations recorded on a lot or a unit (issue 15: the SQL the services used)."""

from __future__ import annotations

from mes.store.base import Row, Store


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
