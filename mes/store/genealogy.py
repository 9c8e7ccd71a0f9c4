"""Genealogy: recursive CTEs over `genealogy` (parent was made from child), and its writer.

The only place with the genealogy SQL (DESIGN §3, §4). Each function is one query
whose cost depends on the size of its answer, not on the size of the database:
the recursion walks `genealogy` by integer item keys through its primary key
(parent, child, n) and its one reverse index (child, parent), and the final selects use
the `… WHERE x IN (SELECT k FROM walk)` form, never `FROM walk JOIN items …` (which
SQLite 3.40 planned as a full scan with a Bloom filter). No per-node round trips.

Issue 15: an edge holds item keys, the quantity, its step, feeder and reference
designators; the op, station and time come from its step (an edge without a step, or
one recorded apart from its step, keeps its own). `add_edges` is the one writer.

Backward ("what is in it"): from a unit, or a lot and all of its units, down the
edges to units, lots, material lots and firmware images.
Forward ("what was made from it"): from any item up the edges; a material consumed
into a non-serialized lot continues from that lot to whatever consumed the lot, a
unit continues to the units it was built into. Lots containing reached units are
reported as well.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from mes.store.base import Row, Store, in_chunks

# Genealogy is a DAG; the bound only protects against corrupt data with a cycle.
MAX_DEPTH = 64

# The start: the item, and a lot's own units. Two index lookups, not `id = ? OR id IN
# (…)`: PostgreSQL runs that OR as a scan of every item, and the estimate it then makes
# for the walk's work table leads it to hash-join whole `edges` on every step.
_SEED = """SELECT i.id FROM items i WHERE i.id = ?
    UNION ALL SELECT u0.serial FROM units u0 WHERE u0.lot_id = ?"""
# The same start as item keys, which the walks follow.
_SEED_KEYS = """SELECT i.key FROM items i WHERE i.id = ?
    UNION ALL SELECT i0.key FROM units u0 JOIN items i0 ON i0.id = u0.serial
     WHERE u0.lot_id = ?"""

_DOWN = """WITH RECURSIVE down(k, depth) AS (
    SELECT s.key, 0 FROM (""" + _SEED_KEYS + """) s
    UNION
    SELECT g.child, d.depth + 1 FROM genealogy g JOIN down d ON g.parent = d.k
     WHERE d.depth < ?
)
"""

_UP = """WITH RECURSIVE up(k, depth) AS (
    SELECT s.key, 0 FROM (""" + _SEED_KEYS + """) s
    UNION
    SELECT g.parent, u.depth + 1 FROM genealogy g JOIN up u ON g.child = u.k
     WHERE u.depth < ?
), hit(k) AS MATERIALIZED (SELECT DISTINCT k FROM up WHERE depth > 0)
"""

# An edge as the readers of the old `edges` table know it (the `edges` view has the same).
_EDGE = """g.n AS id, p.id AS parent, c.id AS child, g.qty, coalesce(g.op, s.op) AS op,
           g.step_id, coalesce(g.station_id, s.station_id) AS station_id, g.refdes,
           g.feeder, coalesce(g.at, s.completed_at) AS at"""
_EDGE_FROM = """genealogy g JOIN items p ON p.key = g.parent JOIN items c ON c.key = g.child
      LEFT JOIN steps s ON s.id = g.step_id"""

EDGE_FIELDS = ("parent", "child", "qty", "op", "step_id", "station_id", "refdes", "feeder",
               "at")


def add_edges(store: Store, edges: Iterable[Mapping[str, Any]]) -> int:
    """Record consumption edges (inside the caller's transaction): each a mapping of
    parent and child (item ids), qty, op, step_id, station_id, refdes, feeder, at; absent
    fields are NULL. The op, station and time equal to the step's are not copied.
    Returns the number of edges written."""
    out = edge_rows(store, [{f: e.get(f) for f in EDGE_FIELDS} for e in edges])
    if out:
        store.insert_many("genealogy", GENEALOGY_COLUMNS, out)
    return len(out)


def edge_rows(store: Store, rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """`genealogy` rows (GENEALOGY_COLUMNS order) for edges given by item ids: keys looked
    up, numbers taken from the counter, the step's own op, station and time left NULL."""
    if not rows:
        return []
    keys = item_keys(store, {r[f] for r in rows for f in ("parent", "child")})
    step_ids = sorted({int(r["step_id"]) for r in rows if r["step_id"] is not None})
    steps: dict[int, tuple[Any, ...]] = {}
    for chunk, marks in in_chunks(step_ids):
        for sid, op, station, at in store.tuples(
                f"SELECT id, op, station_id, completed_at FROM steps WHERE id IN ({marks})",
                chunk):
            steps[int(sid)] = (op, station, at)
    first = store.next_counters("genealogy.edge", len(rows))
    out = []
    for i, r in enumerate(rows):
        for f in ("parent", "child"):
            if r[f] not in keys:
                raise RuntimeError(f"genealogy edge names {r[f]}, which is not an item")
        own: tuple[Any, ...] = (r["op"], r["station_id"], r["at"])
        step = steps.get(int(r["step_id"])) if r["step_id"] is not None else None
        if step is not None:
            own = tuple(None if v is not None and v == sv else v
                        for v, sv in zip(own, step, strict=True))
        out.append((keys[r["parent"]], keys[r["child"]], first + i, r["qty"], r["step_id"],
                    r["feeder"], r["refdes"], *own))
    return out


GENEALOGY_COLUMNS = ("parent", "child", "n", "qty", "step_id", "feeder", "refdes", "op",
                     "station_id", "at")


def item_keys(store: Store, ids: Iterable[str]) -> dict[str, int]:
    """The integer key of each item id given (ids that are not items are left out)."""
    out: dict[str, int] = {}
    for chunk, marks in in_chunks(sorted(ids)):
        out.update(store.tuples(f"SELECT id, key FROM items WHERE id IN ({marks})", chunk))
    return out


def _depth(depth: int | None) -> int:
    return MAX_DEPTH if depth is None else max(0, min(int(depth), MAX_DEPTH))


def backward_edges(store: Store, root: str, depth: int | None = None) -> list[Row]:
    """Every consumption edge below `root` (a unit, or a lot with all its units).

    Each row: the edge columns and `child_kind` (unit | lot | material | firmware); the
    tree (and each node's depth) is rebuilt by the caller from parent → child.
    """
    d = _depth(depth)
    sql = _DOWN + f"""
    SELECT {_EDGE}, c.kind AS child_kind
      FROM {_EDGE_FROM}
     WHERE g.parent IN (SELECT k FROM down WHERE depth < ?)
     ORDER BY g.n"""
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
            ids = [r[0] for r in store.tuples(
                _DOWN + "SELECT i.id FROM items i WHERE i.key IN (SELECT k FROM down)",
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


_UP_ALL = """WITH RECURSIVE up(k) AS (
    SELECT s.key FROM (""" + _SEED_KEYS + """) s
    UNION
    SELECT g.parent FROM genealogy g JOIN up u ON g.child = u.k
)
"""

# Each item reached, with its unit record if it is a unit (else it is a lot: only units and
# lots are made from something, so only they are parents). `up` drives the join (LEFT JOIN
# keeps it the outer loop): one key lookup per item, never a scan of `units`.
_REACHED = """
SELECT i.id, u.lot_id, u.status, u.on_hold, u.hold_reason, u.consumed_into
  FROM {hit} h JOIN items i ON i.key = h.k LEFT JOIN units u ON u.serial = i.id"""


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
            rows = store.tuples(_UP_ALL + _REACHED.format(hit="up") + " WHERE i.id <> ?",
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
        sql = _DOWN + "SELECT g.n FROM genealogy g WHERE g.parent IN (SELECT k FROM down)"
        params: tuple[Any, ...] = ("X", "X", MAX_DEPTH)
    else:
        sql = _UP + "SELECT k FROM hit"
        params = ("X", "X", MAX_DEPTH)
    prefix = "EXPLAIN " if store.dialect == "postgres" else "EXPLAIN QUERY PLAN "
    return store.all(prefix + sql, params)


def installed_of_part(store: Store, parents: list[str], op: int, part: str) -> list[Row]:
    """Quantity of material of `part` already on each of `parents` at `op` (`parent`, `qty`;
    a parent with none has no row)."""
    marks = ", ".join("?" for _ in parents)
    return store.all(f"SELECT e.parent, sum(e.qty) AS qty FROM edges e JOIN material_lots m ON "
                     f"m.id = e.child WHERE e.parent IN ({marks}) AND e.op = ? AND m.part = ? "
                     "GROUP BY e.parent", (*parents, op, part))


def edges_of_lot(store: Store, lot_id: str) -> list[Row]:
    """Every edge out of a lot and out of its units, with the child's kind, in order."""
    return store.all("SELECT e.*, i.kind AS child_kind FROM edges e JOIN items i ON "
                     "i.id = e.child WHERE e.parent = ? OR e.parent IN "
                     "(SELECT serial FROM units WHERE lot_id = ?) ORDER BY e.id",
                     (lot_id, lot_id))


def subunits(store: Store, parent: str) -> list[str]:
    """Units built into `parent` (a PCBA into a device…), in the order they went in."""
    return [r["child"] for r in store.all(
        "SELECT e.child FROM edges e JOIN items i ON i.id = e.child WHERE e.parent = ? AND "
        "i.kind = 'unit' ORDER BY e.id", (parent,))]


def firmware_in(store: Store, item: str) -> Row | None:
    """The firmware image (`version`) last consumed into `item` by an edge."""
    return store.one("SELECT f.version FROM edges e JOIN firmware f ON f.id = e.child "
                     "WHERE e.parent = ? ORDER BY e.id DESC LIMIT 1", (item,))


def children_with_kind(store: Store, parent: str) -> list[Row]:
    """What went into `parent` (`child`, `qty`, the child's `kind`), in the order it went in."""
    return store.all("SELECT e.child, e.qty, i.kind FROM edges e JOIN items i ON "
                     "i.id = e.child WHERE e.parent = ? ORDER BY e.id", (parent,))
