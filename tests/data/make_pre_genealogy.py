"""Make tests/data/pre_genealogy/: a workspace database written by the release before the
lean genealogy (issue 15), and what that release answered to every trace of it.

    python tests/data/make_pre_genealogy.py [--commit 8d7d4fe]

The commit's tree is exported to a temporary directory and run from there (`mes demo`,
then the trace services in-process), so the database has the previous schema and the
previous writers' rows. tests/foundation/test_genealogy_migration.py migrates a copy
and compares the traces.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]

MES = "import sys; from mes.cli import main; sys.argv[0] = 'mes'; sys.exit(main())"
# Runs under the old tree: every trace of every item, as the services answered.
TRACES = r"""
import json, sys
from pathlib import Path
from mes.services.context import Context
from mes.services import trace
ws = Path(sys.argv[1])
ctx = Context(workspace=ws, db=str(ws / "mes.db"))
s = ctx.store
out = {"back": {}, "forward": {}}
for (item, kind) in s.tuples("SELECT id, kind FROM items ORDER BY id"):
    if kind in ("unit", "lot"):
        out["back"][item] = trace.backward(ctx, item)
    if kind not in ("container", "firmware"):
        out["forward"][item] = trace.forward(ctx, item)
print(json.dumps(out, sort_keys=True, default=str))
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--commit", default="8d7d4fe")
    ap.add_argument("--out", type=Path, default=HERE / "pre_genealogy")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="pre-genealogy-") as tmp:
        tree, ws = Path(tmp) / "tree", Path(tmp) / "ws"
        tree.mkdir()
        archive = subprocess.run(["git", "-C", str(REPO), "archive", a.commit],
                                 check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
        env = {**os.environ, "PYTHONPATH": str(tree)}
        subprocess.run([sys.executable, "-c", MES, "demo", "--dir", str(ws)], env=env,
                       check=True, cwd=tree, stdout=subprocess.DEVNULL)
        traces = subprocess.run([sys.executable, "-c", TRACES, str(ws)], env=env, check=True,
                                cwd=tree, stdout=subprocess.PIPE, text=True).stdout
        a.out.mkdir(parents=True, exist_ok=True)
        target = a.out / "mes.db"
        target.unlink(missing_ok=True)
        conn = sqlite3.connect(ws / "mes.db")
        conn.execute("VACUUM INTO ?", (str(target),))
        version = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        conn.close()
        doc = json.loads(traces)
        doc["made_by"] = {"commit": a.commit, "schema_version": int(version[0])}
        (a.out / "traces.json").write_text(json.dumps(doc, sort_keys=True, indent=1) + "\n")
        shutil.rmtree(ws, ignore_errors=True)
    print(f"wrote {a.out}: schema version {version[0]}, {len(doc['back'])} back traces, "
          f"{len(doc['forward'])} forward traces")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
