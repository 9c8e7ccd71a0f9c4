"""The floor of a trace: argparse + sqlite3 + the bare recursive CTE, JSON on stdout.

Used by `bench/plant.py` as the floor of `mes trace forward ITEM --json` (whole process)
and, through FORWARD/BACKWARD, of the in-process trace queries. `--db` is a SQLite file or
a postgresql:// URL (the same SQL runs on both).

    python bench/floor_trace.py --db mes.db forward R-000123 > /dev/null
"""

from __future__ import annotations

import argparse
import json
import sys

from floor_step import connect, execute

# Everything made from the start item: walk up the genealogy by item keys, report the
# units reached.
FORWARD = """WITH RECURSIVE up(k) AS (
    SELECT key FROM items WHERE id = ?
    UNION SELECT g.parent FROM genealogy g JOIN up ON g.child = up.k)
SELECT u.serial, u.lot_id, u.status FROM items i JOIN units u ON u.serial = i.id
 WHERE i.key IN (SELECT k FROM up)"""

# Everything in the start item: walk down, report each edge with its ids, its child's kind
# and the op, station and time (from the step unless the edge holds its own).
BACKWARD = """WITH RECURSIVE down(k) AS (
    SELECT key FROM items WHERE id = ?
    UNION SELECT g.child FROM genealogy g JOIN down ON g.parent = down.k)
SELECT p.id, c.id, g.qty, coalesce(g.op, s.op), coalesce(g.station_id, s.station_id),
       g.feeder, coalesce(g.at, s.completed_at), c.kind
  FROM genealogy g JOIN items p ON p.key = g.parent JOIN items c ON c.key = g.child
  LEFT JOIN steps s ON s.id = g.step_id WHERE g.parent IN (SELECT k FROM down)"""

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("direction", choices=("forward", "back"))
    ap.add_argument("item")
    ap.add_argument("--db", required=True)
    a = ap.parse_args(argv)
    conn = connect(a.db)
    cur = execute(conn, FORWARD if a.direction == "forward" else BACKWARD, (a.item,))
    cols = [d[0] for d in cur.description]
    rows = [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]
    json.dump({"start": a.item, "items": rows}, sys.stdout, indent=2)
    sys.stdout.write("\n")
    conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
