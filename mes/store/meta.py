"""The workspace's own key/value rows in `meta` (issue 15: the SQL the services used)."""

from __future__ import annotations

from mes.store.base import Row, Store


def config_rows(store: Store) -> list[Row]:
    """The stored settings (`key` is `config.NAME`, `value` JSON), by key."""
    return store.all("SELECT key, value FROM meta WHERE key LIKE 'config.%' ORDER BY key")
