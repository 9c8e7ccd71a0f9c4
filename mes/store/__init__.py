"""Storage: `open_store` picks the backend from the database address."""

from __future__ import annotations

from pathlib import Path

from mes.store.base import Store


def is_postgres(db: str) -> bool:
    return db.startswith(("postgresql://", "postgres://"))


def open_store(db: str, *, create: bool = False) -> Store:
    if is_postgres(db):
        from mes.store.postgres import PostgresStore

        store: Store = PostgresStore(db)
    else:
        from mes.store.sqlite import SqliteStore

        store = SqliteStore(Path(db), create=create)
    if not create:
        from mes.store.schema import SCHEMA_VERSION

        store.check_version(SCHEMA_VERSION)
        if store.schema_version() == 0:
            from mes.errors import NotFound

            raise NotFound(f"{store.location} is not an initialised mes workspace: "
                           "run `mes init` first")
        if store.schema_version() < SCHEMA_VERSION:
            store.migrate()
    return store


__all__ = ["Store", "is_postgres", "open_store"]
