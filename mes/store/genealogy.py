"""Genealogy queries: recursive CTEs over `edges` (parent was made from child).

The only place with the genealogy SQL (DESIGN §3, §4). Each function is one query
whose cost depends on the size of its answer, not on the size of the database:
the recursion walks `edges` through its two indexes (edges_parent, edges_child)
and the final selects use the `… WHERE id IN (SELECT id FROM walk)` form, never
`FROM walk JOIN items …` (which SQLite 3.40 planned as a full scan with a Bloom
filter). No per-node round trips.

Backward ("what is in it"): from a unit, or a lot and all of its units, down the
edges to units, lots, material lots and firmware images.
Forward ("what was made from it"): from any item up the edges; a material consumed
into a non-serialized lot continues from that lot to whatever consumed the lot, a
unit continues to the units it was built into. Lots containing reached units are
reported as well.
"""

from __future__ import annotations

from typing import Any

from mes.store.base import Row, Store

# Genealogy is a DAG; the bound only protects against corrupt data with a cycle.
MAX_DEPTH = 64

# The start: the item, and a lot's own units. Two index lookups, not `id = ? OR id IN
# (…)`: PostgreSQL runs that OR as a scan of every item, and the estimate it then makes
# for the walk's work table leads it to hash-join whole `edges` on every step.
_SEED = """SELECT i.id FROM items i WHERE i.id = ?
    UNION ALL SELECT u0.serial FROM units u0 WHERE u0.lot_id = ?"""

_DOWN = """WITH RECURSIVE down(id, depth) AS (
    SELECT s.id, 0 FROM (""" + _SEED + """) s
    UNION
    SELECT e.child, d.depth + 1 FROM edges e JOIN down d ON e.parent = d.id
     WHERE d.depth < ?
)
"""

_UP = """WITH RECURSIVE up(id, depth) AS (
    SELECT s.id, 0 FROM (""" + _SEED + """) s
    UNION
    SELECT e.parent, u.depth + 1 FROM edges e JOIN up u ON e.child = u.id
     WHERE u.depth < ?
), hit(id) AS MATERIALIZED (SELECT DISTINCT id FROM up WHERE depth > 0)
"""


def _depth(depth: int | None) -> int:
    return MAX_DEPTH if depth is None else max(0, min(int(depth), MAX_DEPTH))


def backward_edges(store: Store, root: str, depth: int | None = None) -> list[Row]:
    """Every consumption edge below `root` (a unit, or a lot with all its units).

    Each row: the edge columns and `child_kind` (unit | lot | material | firmware); the
    tree (and each node's depth) is rebuilt by the caller from parent → child.
    """
    d = _depth(depth)
    sql = _DOWN + """
    SELECT e.id, e.parent, e.child, e.qty, e.op, e.step_id, e.station_id, e.refdes, e.feeder,
           e.at, i.kind AS child_kind
      FROM edges e JOIN items i ON i.id = e.child
     WHERE e.parent IN (SELECT id FROM down WHERE depth < ?)
     ORDER BY e.id"""
    with store.navigating():
        return store.all(sql, (root, root, d, d))


def backward_details(store: Store, root: str, depth: int | None = None,
                     edges: list[Row] | None = None) -> dict[str, list[Row]]:
    """The records of everything below `root`: units, lots, material lots, firmware images
    (each with its part), and the flashes recorded on the units in the tree.

    Given the `backward_edges` of the same root and depth, the items are the start and the
    children of those edges, so the walk does not run again; the records are fetched by
    primary key.
    """
    if edges is None:
        with store.navigating():
            ids = [r["id"] for r in store.all(_DOWN + "SELECT DISTINCT id FROM down",
                                              (root, root, _depth(depth)))]
    else:
        seeds = [r[0] for r in store.tuples(_SEED, (root, root))]
        ids = list(dict.fromkeys([*seeds, *(e["child"] for e in edges)]))
    return {
        "units": _by_ids(store, """
            SELECT u.serial, u.lot_id, u.status, u.on_hold, u.hold_reason, u.mcu_uid,
                   u.consumed_into, l.part
              FROM units u JOIN lots l ON l.id = u.lot_id
             WHERE u.serial IN ({ids})""", ids, "serial"),
        "lots": _by_ids(store, """
            SELECT l.id, l.part, l.status, l.on_hold, l.hold_reason, l.serialized, l.qty
              FROM lots l WHERE l.id IN ({ids})""", ids, "id"),
        "materials": _by_ids(store, "SELECT m.* FROM material_lots m WHERE m.id IN ({ids})",
                             ids, "id"),
        "firmware": _by_ids(store, """
            SELECT f.id, f.part, f.version, f.sha256, f.status FROM firmware f
             WHERE f.id IN ({ids})""", ids, "id"),
        "flashes": _by_ids(store, """
            SELECT fl.id AS flash_id, fl.serial, fl.image_id, fl.image_sha256, fl.mcu_uid,
                   fl.station_id, fl.attempt, fl.verify, fl.at, fw.version,
                   fw.part AS image_part
              FROM flashes fl LEFT JOIN firmware fw ON fw.id = fl.image_id
             WHERE fl.serial IN ({ids})""", ids, ("serial", "flash_id")),
    }


# Bound parameters per statement: below SQLite's and PostgreSQL's limits, and small
# enough that each chunk is a handful of index lookups.
_CHUNK = 900


def _by_ids(store: Store, sql: str, ids: list[str], order: str | tuple[str, ...]
            ) -> list[Row]:
    """Run `sql` (with an `{ids}` slot) over `ids` in chunks, ordered like one query."""
    rows: list[Row] = []
    for i in range(0, len(ids), _CHUNK):
        chunk = ids[i:i + _CHUNK]
        rows.extend(store.all(sql.format(ids=", ".join("?" for _ in chunk)), chunk))
    keys = (order,) if isinstance(order, str) else order
    rows.sort(key=lambda r: tuple(r[k] for k in keys))
    return rows


_UP_ALL = """WITH RECURSIVE up(id) AS (
    SELECT s.id FROM (""" + _SEED + """) s
    UNION
    SELECT e.parent FROM edges e JOIN up u ON e.child = u.id
)
"""

# Each item reached, with its unit record if it is a unit (else it is a lot: only units and
# lots are made from something, so only they are parents). `up` drives the join (LEFT JOIN
# keeps it the outer loop): one primary-key lookup per item, never a scan of `units`.
_REACHED = """
SELECT h.id, u.lot_id, u.status, u.on_hold, u.hold_reason, u.consumed_into
  FROM {hit} h LEFT JOIN units u ON u.serial = h.id"""


def forward_items(store: Store, start: str, depth: int | None = None) -> list[Row]:
    """Every unit and lot that contains `start` at any depth (the start itself, and for a
    lot its own units, excluded).

    Rows: kind ('unit' | 'lot'), id, lot_id, part, part_kind, status, on_hold,
    hold_reason, consumed_into, serialized, direct (1 when the item itself is in the
    edge graph; 0 for a lot reached only through some of its units).

    One statement walks and fetches the units; the few lots are then fetched by key.
    Without a depth the walk keeps one row per item (UNION on the id alone, which also
    ends any cycle in corrupt data); with one, rows carry their depth.
    """
    with store.navigating():
        if depth is None:
            rows = store.tuples(_UP_ALL + _REACHED.format(hit="up") + " WHERE h.id <> ?",
                                (start, start, start))
        else:
            rows = store.tuples(_UP + _REACHED.format(hit="hit"),
                                (start, start, _depth(depth)))
    # (id, lot_id, status, on_hold, hold_reason, consumed_into); lot_id is NULL for a lot.
    # A lot's own units are the start, not reached from it.
    unit_rows = sorted(r for r in rows if r[1] is not None and r[1] != start)  # by serial
    direct_lots = {r[0] for r in rows if r[1] is None}
    lot_ids = sorted(direct_lots | {r[1] for r in unit_rows})
    lots = _by_ids(store, """
        SELECT 'lot' AS kind, l.id, l.id AS lot_id, l.part, p.kind AS part_kind, l.status,
               l.on_hold, l.hold_reason, NULL AS consumed_into, l.serialized, 0 AS direct
          FROM lots l JOIN parts p ON p.number = l.part
         WHERE l.id IN ({ids})""", lot_ids, "id")
    of_lot = {lot["id"]: (lot["part"], lot["part_kind"], lot["serialized"]) for lot in lots}
    units = []
    for serial, lot_id, status, on_hold, hold_reason, consumed_into in unit_rows:
        part, part_kind, serialized = of_lot[lot_id]
        units.append({"kind": "unit", "id": serial, "lot_id": lot_id, "part": part,
                      "part_kind": part_kind, "status": status, "on_hold": on_hold,
                      "hold_reason": hold_reason, "consumed_into": consumed_into,
                      "serialized": serialized, "direct": 1})
    for lot in lots:
        lot["direct"] = 1 if lot["id"] in direct_lots else 0
    return units + lots


def shipments_of(store: Store, lot_ids: list[str]) -> list[Row]:
    """Shipment rows of the given lots (used to name consignees in a trace or recall)."""
    out: list[Row] = []
    for i in range(0, len(lot_ids), 500):
        chunk = lot_ids[i:i + 500]
        marks = ", ".join("?" for _ in chunk)
        out.extend(store.all(f"SELECT * FROM shipments WHERE lot_id IN ({marks}) ORDER BY id",
                             chunk))
    return out


def explain(store: Store, sql_name: str) -> list[Any]:
    """Query plans (for benchmarks and tests): 'backward' or 'forward'."""
    if sql_name == "backward":
        sql = _DOWN + "SELECT e.id FROM edges e WHERE e.parent IN (SELECT id FROM down)"
        params: tuple[Any, ...] = ("X", "X", MAX_DEPTH)
    else:
        sql = _UP + "SELECT id FROM hit"
        params = ("X", "X", MAX_DEPTH)
    prefix = "EXPLAIN " if store.dialect == "postgres" else "EXPLAIN QUERY PLAN "
    return store.all(prefix + sql, params)
