"""Audit events of given actions (alerts are read from the chain, not kept beside it)."""

from __future__ import annotations

from collections.abc import Sequence

from mes.store.base import Row, Store


def events_of(store: Store, actions: Sequence[str]) -> list[Row]:
    marks = ", ".join("?" for _ in actions)
    return store.all(f"SELECT * FROM audit WHERE action IN ({marks}) ORDER BY seq",
                     list(actions))
