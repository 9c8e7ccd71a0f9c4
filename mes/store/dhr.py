"""Reads and writes of the Device History Record (issue 14): the records a DHR is
assembled from, in the domain's words, and the register of frozen DHR versions."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from mes.store.base import Row, Store

_CHUNK = 900  # bound parameters per statement (below SQLite's and PostgreSQL's limits)


def _chunked(store: Store, sql: str, ids: Iterable[str], extra: Sequence[Any] = ()
             ) -> list[Row]:
    """Run `sql` (with an `{ids}` slot) over `ids` in chunks."""
    ids = list(dict.fromkeys(ids))
    rows: list[Row] = []
    for i in range(0, len(ids), _CHUNK):
        chunk = ids[i:i + _CHUNK]
        marks = ", ".join("?" for _ in chunk)
        rows.extend(store.all(sql.format(ids=marks), [*chunk, *extra]))
    return rows


def routing_row(store: Store, part: str, version: int) -> Row | None:
    return store.one("SELECT * FROM routings WHERE part = ? AND version = ?", (part, version))


def user_names(store: Store) -> dict[str, str]:
    return {r["username"]: r["full_name"] for r in
            store.all("SELECT username, full_name FROM users")}


def stations(store: Store, ids: Iterable[str]) -> list[Row]:
    return _chunked(store, "SELECT * FROM stations WHERE id IN ({ids}) ORDER BY id", ids)


def events_on(store: Store, entity_ids: Iterable[str], actions: Sequence[str]) -> list[Row]:
    """Audit events of some actions on some entities, in chain order."""
    marks = ", ".join("?" for _ in actions)
    rows = _chunked(store, "SELECT * FROM audit WHERE entity_id IN ({ids}) AND action IN ("
                    + marks + ")", entity_ids, actions)
    rows.sort(key=lambda r: r["seq"])
    return rows


def events_since(store: Store, entity_ids: Iterable[str], after_seq: int) -> list[Row]:
    rows = _chunked(store, "SELECT * FROM audit WHERE entity_id IN ({ids}) AND seq > ?",
                    entity_ids, (after_seq,))
    rows.sort(key=lambda r: r["seq"])
    return rows


def ncrs_on(store: Store, item_ids: Iterable[str]) -> list[Row]:
    """NCRs opened on any of these lots or material lots."""
    rows = _chunked(store, "SELECT * FROM ncrs WHERE lot_id IN ({ids})", item_ids)
    rows.sort(key=lambda r: r["id"])
    return rows


def shot_counts(store: Store, lot_ids: Iterable[str]) -> list[Row]:
    """Per molding lot: shots recorded and shots outside the validated window."""
    rows = _chunked(store, """SELECT lot_id, count(*) AS shots,
            sum(CASE WHEN ok = 0 THEN 1 ELSE 0 END) AS rejected
          FROM shots WHERE lot_id IN ({ids}) GROUP BY lot_id""", lot_ids)
    rows.sort(key=lambda r: r["lot_id"])
    return rows


def latest_origin(store: Store, lot_id: str) -> Row | None:
    return store.one("SELECT * FROM origin_decisions WHERE lot_id = ? ORDER BY decided_at DESC,"
                     " id DESC LIMIT 1", (lot_id,))


def signatures_on(store: Store, record_type: str, ids: Iterable[str]) -> list[Row]:
    rows = _chunked(store, "SELECT * FROM signatures WHERE record_id IN ({ids}) AND "
                    "record_type = ?", ids, (record_type,))
    rows.sort(key=lambda r: r["id"])
    return rows


def lot_ids_of_units(store: Store, serials: Iterable[str]) -> dict[str, str]:
    return {r["serial"]: r["lot_id"] for r in
            _chunked(store, "SELECT serial, lot_id FROM units WHERE serial IN ({ids})", serials)}


# -- frozen versions -------------------------------------------------------------------------

def versions(store: Store, lot_id: str) -> list[Row]:
    rows = store.find("dhr_versions", {"lot_id": lot_id}, order="version")
    for r in rows:
        r["sections"] = json.loads(r["sections"] or "{}")
        r["changes"] = json.loads(r["changes"] or "null")
    return rows


def add_version(store: Store, row: dict[str, Any]) -> int:
    return int(store.insert("dhr_versions", row, returning="id"))
