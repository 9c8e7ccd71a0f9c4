"""Material lots and the station loads that hold them (issue 15: the SQL the services used)."""

from __future__ import annotations

from typing import Any

from mes.store.base import Row, Store


def remaining(store: Store, table: str, item_id: str) -> Any:
    """What is left of a material lot (`material_lots`) or of a lot consumed as a part
    (`lots`): read after a refused decrement, to say how much there was."""
    return store.scalar(f"SELECT remaining FROM {table} WHERE id = ?", (item_id,))


def consumptions(store: Store, material_id: str) -> list[Row]:
    """Where a material lot went: each consumption edge, oldest first."""
    return store.all("SELECT parent AS into_item, qty, op, station_id AS station, "
                     "at FROM edges WHERE child = ? ORDER BY id", (material_id,))


def load_on_slot(store: Store, station_id: str, slot: str) -> Row | None:
    """The load in force on a station's slot (feeder), if any."""
    return store.one("SELECT id, material_id FROM station_loads WHERE station_id = ? AND "
                     "slot = ? AND unloaded_at IS NULL", (station_id, slot))


def loads_on(store: Store, station_id: str) -> list[Row]:
    """What a station holds now, slot by slot, with each material's part and remainder."""
    return store.all("SELECT l.slot, l.material_id AS material, m.part, m.remaining, "
                     "l.loaded_at, l.loaded_by FROM station_loads l JOIN material_lots m ON "
                     "m.id = l.material_id WHERE l.station_id = ? AND l.unloaded_at IS NULL "
                     "ORDER BY l.slot", (station_id,))


def loaded_of_part(store: Store, station_id: str, part: str) -> Row | None:
    """The first-loaded material lot of `part` on a station with some left, with its slot
    as `load_slot`."""
    return store.one("SELECT m.*, l.slot AS load_slot FROM station_loads l JOIN material_lots m "
                     "ON m.id = l.material_id WHERE l.station_id = ? AND l.unloaded_at IS NULL "
                     "AND m.part = ? AND m.remaining > 0 ORDER BY l.id LIMIT 1",
                     (station_id, part))
