"""Firmware images and the flashes that wrote them (issue 15: the SQL the services used)."""

from __future__ import annotations

from mes.store.base import Row, Store


def last_verified_flash(store: Store, serial: str) -> Row | None:
    """The image (`version`) of a unit's latest flash whose read-back verified."""
    return store.one("SELECT f.version FROM flashes x JOIN firmware f ON f.id = "
                     "x.image_id WHERE x.serial = ? AND x.verify = 'pass' "
                     "ORDER BY x.id DESC LIMIT 1", (serial,))


def flash_count(store: Store, serial: str) -> int:
    """How many flashes were attempted on a unit."""
    return int(store.scalar("SELECT count(*) FROM flashes WHERE serial = ?", (serial,)))
