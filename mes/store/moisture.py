"""Reads of a material lot's moisture events (issue 18, J-STD-033)."""

from __future__ import annotations

from mes.store.base import Row, Store


def events(store: Store, material_id: str) -> list[Row]:
    return store.all("SELECT * FROM material_moisture WHERE material_id = ? ORDER BY at, id",
                     (material_id,))
