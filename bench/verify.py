"""`mes audit verify --reconcile --files`, events per second, beside the bare hash loop.

Issue 13's Measure. Builds a plant through the real commands (`mes demo` with `--units`
devices: every event as the services write it, with its row images, labels, DHR,
firmware files, seals), then times, alternately in the same run:

- mes:   `services.audit.verify(reconcile=True, files=True)`: chain, append-only
         protection, seals, every row of every record table against its image and the
         replayed state, every file re-hashed;
- floor: the bare loop: one cursor over the audit table, canonical JSON + sha256 per event.

    python bench/verify.py --units 6          # ≈300 events, what to run while developing

The synthetic plant of bench/plant.py cannot be used: its bulk-written events are not in
the shape the services write (reconcile's replay refuses them), and its rows, loaded
without images (BulkLoader(images=False), the fast path), would all be named.

Prints one line (and `--json` the figures).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))

from plant import Reporter, interleaved, median  # noqa: E402

from mes.domain.audit import EVENT_FIELDS, GENESIS, canonical_json  # noqa: E402


def bare_loop(db: Path) -> int:
    import hashlib
    import sqlite3

    con = sqlite3.connect(db)
    cols = ", ".join(EVENT_FIELDS)
    prev, n = GENESIS, 0
    for row in con.execute(f"SELECT {cols}, prev_hash, hash, row_images FROM audit "
                           "ORDER BY seq"):
        body = dict(zip(EVENT_FIELDS, row[:10], strict=True))
        if row[12] is not None:
            body["row_images"] = row[12]
        digest = hashlib.sha256((prev + canonical_json(body)).encode()).hexdigest()
        if digest != row[11] or row[10] != prev:
            raise SystemExit(f"audit chain broken at {row[0]}")
        prev, n = digest, n + 1
    con.close()
    return n


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--units", type=int, default=6, help="devices built by the demo")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--plant", type=Path, help="a workspace built before (by `mes demo "
                    "--units N`): copied and measured instead of building one")
    a = ap.parse_args(argv)
    out = Path(tempfile.mkdtemp(prefix="mes-bench-verify-"))
    rep = Reporter(quiet=a.json)
    try:
        from mes.cli.demo import run_demo
        from mes.services.audit import seal, verify
        from mes.services.context import Context

        ws = out / "plant"
        if a.plant:
            shutil.copytree(a.plant, ws)
        else:
            with rep.phase(f"mes demo --units {a.units}"):
                run_demo(ws, units=a.units, quiet=True)
        db = ws / "mes.db"
        ctx = Context(workspace=ws, db=str(db))
        seal(ctx)
        first = verify(ctx, reconcile=True, files=True)
        events = bare_loop(db)
        assert first["events"] == events, (first["events"], events)
        with rep.phase(f"audit verify --reconcile --files: {events:,} events × {a.runs}"):
            tm, tf = interleaved(lambda: verify(ctx, reconcile=True, files=True),
                                 lambda: bare_loop(db), a.runs)
        ctx.close()
    finally:
        rep.close()
        shutil.rmtree(out, ignore_errors=True)
    mes_rate, floor_rate = events / median(tm), events / median(tf)
    result = {"units": a.units, "events": events, "rows": first["reconcile"]["checked"]["rows"],
              "files": first["files"]["checked"], "seals": first["seals"]["seals"],
              "runs": a.runs, "mes_events_per_s": round(mes_rate),
              "floor_events_per_s": round(floor_rate), "ratio": round(mes_rate / floor_rate, 3)}
    if a.json:
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
    else:
        print(f"audit verify --reconcile --files: {result['mes_events_per_s']:,} events/s "
              f"({events:,} events, {result['rows']:,} rows, {result['files']} files); "
              f"bare hash loop {result['floor_events_per_s']:,} events/s; "
              f"ratio {result['ratio']:.2f}× (target ≥ 0.7×)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
