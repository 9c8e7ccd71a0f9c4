"""SPC records: observations, signed phase-I limits, signals (issue 16). All the SQL."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from mes.store.base import Row, Store

POINT_COLUMNS = ("characteristic", "seq", "subgroup", "value", "n", "lot_id", "serial",
                 "station_id", "step_id", "shot_no", "at", "spread", "sd", "lo", "hi")
INSERT_CHUNK = 10_000


# -- characteristics (declared in routings) ----------------------------------------------------

def routing_docs(store: Store) -> list[Row]:
    """Every approved or superseded routing version's parsed document, newest first."""
    rows = store.all("SELECT part, version, status, doc FROM routings WHERE status IN "
                     "('approved', 'superseded') ORDER BY CASE status WHEN 'approved' THEN 0 "
                     "ELSE 1 END, version DESC")
    for r in rows:
        r["doc"] = json.loads(r["doc"])
    return rows


# -- observations ------------------------------------------------------------------------

def last_point(store: Store, characteristic: str) -> Row | None:
    return store.one("SELECT seq, subgroup FROM spc_points WHERE characteristic = ? "
                     "ORDER BY seq DESC LIMIT 1", (characteristic,))


def tail(store: Store, characteristic: str, before_seq: int, count: int) -> list[Row]:
    """The `count` observations before `before_seq`, oldest first (the rules' history)."""
    rows = store.all("SELECT seq, subgroup, value, n, lot_id, serial, spread, sd FROM spc_points "
                     "WHERE characteristic = ? AND seq < ? ORDER BY seq DESC LIMIT ?",
                     (characteristic, before_seq, count))
    return list(reversed(rows))


def first_of_latest_steps(store: Store, lot_id: str, op: int, count: int) -> int | None:
    """The first of the `count` steps just recorded for this lot and op (one request)."""
    value = store.scalar("SELECT min(id) FROM (SELECT id FROM steps WHERE lot_id = ? AND op = ? "
                         "ORDER BY id DESC LIMIT ?) s", (lot_id, op, count))
    return None if value is None else int(value)


def add_points(store: Store, rows: Sequence[Sequence[Any]]) -> None:
    for start in range(0, len(rows), INSERT_CHUNK):
        store.insert_many("spc_points", POINT_COLUMNS, rows[start:start + INSERT_CHUNK])


def observations(store: Store, characteristic: str, *, lot: str | None = None,
                 since: str | None = None, station: str | None = None) -> list[Row]:
    sql = ("SELECT seq, subgroup, value, n, lot_id, serial, station_id, step_id, shot_no, at, "
           "spread, sd, lo, hi FROM spc_points WHERE characteristic = ?")
    params: list[Any] = [characteristic]
    for col, op, val in (("lot_id", "=", lot), ("at", ">=", since),
                         ("station_id", "=", station)):
        if val is not None:
            sql += f" AND {col} {op} ?"
            params.append(val)
    return store.all(sql + " ORDER BY seq", params)


def lot_characteristics(store: Store, lot_id: str) -> list[str]:
    return [r["characteristic"] for r in store.all(
        "SELECT DISTINCT characteristic FROM spc_points WHERE lot_id = ? "
        "ORDER BY characteristic", (lot_id,))]


# -- limits ----------------------------------------------------------------------------------

def limits_versions(store: Store, characteristic: str) -> list[Row]:
    return store.all("SELECT * FROM spc_limits WHERE characteristic = ? ORDER BY version",
                     (characteristic,))


def limits_version(store: Store, characteristic: str, version: int) -> Row | None:
    return store.one("SELECT * FROM spc_limits WHERE characteristic = ? AND version = ?",
                     (characteristic, version))


def approved_limits(store: Store, characteristic: str) -> Row | None:
    return store.one("SELECT * FROM spc_limits WHERE characteristic = ? AND status = "
                     "'approved' ORDER BY version DESC LIMIT 1", (characteristic,))


def add_limits(store: Store, row: dict[str, Any]) -> int:
    version = int(store.scalar("SELECT coalesce(max(version), 0) FROM spc_limits WHERE "
                               "characteristic = ?", (row["characteristic"],))) + 1
    store.insert("spc_limits", {**row, "version": version})
    return version


def approve_limits(store: Store, characteristic: str, version: int, username: str,
                   at: str) -> bool:
    """Draft → approved; the version approved before becomes superseded."""
    row = limits_version(store, characteristic, version)
    if row is None or store.update("spc_limits", row["id"], {
            "status": "approved", "approved_by": username, "approved_at": at},
            expect={"status": "draft"}) != 1:
        return False
    for old in limits_versions(store, characteristic):  # by key: covered by the audit trail
        if old["version"] != version and old["status"] == "approved":
            store.update("spc_limits", old["id"], {"status": "superseded"})
    return True


# -- signals ---------------------------------------------------------------------------------

def add_signal(store: Store, row: dict[str, Any]) -> int:
    return int(store.insert("spc_signals", row, returning="id"))


def open_spc_ncr(store: Store, lot_id: str, characteristic: str) -> str | None:
    """An NCR opened by a signal of this characteristic on this lot and not yet closed."""
    return store.scalar("SELECT s.ncr_id FROM spc_signals s JOIN ncrs n ON n.id = s.ncr_id "
                        "WHERE s.lot_id = ? AND s.characteristic = ? AND n.status <> 'closed' "
                        "ORDER BY s.id DESC LIMIT 1", (lot_id, characteristic))


def signals(store: Store, *, characteristic: str | None = None, lot: str | None = None,
            since: str | None = None, station: str | None = None) -> list[Row]:
    sql = "SELECT * FROM spc_signals WHERE 1 = 1"
    params: list[Any] = []
    for col, op, val in (("characteristic", "=", characteristic), ("lot_id", "=", lot),
                         ("at", ">=", since), ("station_id", "=", station)):
        if val is not None:
            sql += f" AND {col} {op} ?"
            params.append(val)
    rows = store.all(sql + " ORDER BY characteristic, subgroup, id", params)
    for r in rows:
        r["units"] = json.loads(r["units"] or "[]")
    return rows


def signalled_characteristics(store: Store) -> list[str]:
    return [r["c"] for r in store.all(
        "SELECT DISTINCT characteristic AS c FROM spc_points ORDER BY characteristic")]
