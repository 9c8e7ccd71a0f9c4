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

# Everything made from the start item: walk up the edges, report the units reached.
FORWARD = """WITH RECURSIVE up(id) AS (
    SELECT ? UNION SELECT e.parent FROM edges e JOIN up ON e.child = up.id)
SELECT u.serial, u.lot_id, u.status FROM units u WHERE u.serial IN (SELECT id FROM up)"""

# Everything in the start item: walk down the edges, report each edge with its child's kind.
BACKWARD = """WITH RECURSIVE down(id) AS (
    SELECT ? UNION SELECT e.child FROM edges e JOIN down ON e.parent = down.id)
SELECT e.parent, e.child, e.qty, e.op, e.station_id, e.feeder, e.at, i.kind
  FROM edges e JOIN items i ON i.id = e.child WHERE e.parent IN (SELECT id FROM down)"""


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
