"""EUROMAP 63 shots judged per subgroup of 5 in the import's transaction (MOLD-CUSHION)."""

from __future__ import annotations

import json
import random

from mes.ingest.euromap63 import synthetic_report, write_report
from tests.conftest import Workspace
from tests.process.helpers import ENC, lot_at, sql
from tests.spc.helpers import approved_limits

# A PQ study: subgroups of 5 cushions around 5.0 mm, ranges 0.2 mm.
STUDY = [[4.9, 5.0, 5.1, 5.0, 5.0], [5.1, 5.0, 4.9, 5.0, 5.0]] * 10


def shots_file(ws: Workspace, name: str, cushions: list[float]) -> object:
    window = {"ActTimCyc": (18, 22), "ActTimFill": (0.8, 1.25), "ActStrCsh": (4.0, 6.0),
              "ActPrsXfrSpec": (600, 900)}
    cols, rows = synthetic_report(len(cushions), seed=3, window=window)
    for row, c in zip(rows, cushions, strict=True):
        row["ActStrCsh"] = c
    path = ws.path / name
    write_report(path, cols, rows)
    return path


def test_a_shift_in_spec_holds_the_molding_lot_at_import(plant: Workspace) -> None:
    ws = plant
    lim = approved_limits(ws, "MOLD-CUSHION", STUDY)
    assert 5.05 < lim["ucl"] < 5.2  # 5.0 + A2(5)·R̄ = 5.0 + 0.577·0.2
    lot, _ = lot_at(ws, ENC, 20, 400)
    # 50 shots in control, then 50 shifted to 5.5 mm: inside the window 4-6 mm (no shot is
    # rejected) but far beyond the UCL.
    cushions = [4.9, 5.0, 5.1, 5.0, 5.0] * 10 + [5.5] * 50
    out = json.loads(ws.ok("molding", "import", lot, "--station", "IMM-2", "--report",
                           shots_file(ws, "REPORTS.DAT", cushions), "--json",
                           user="fatima").out)
    assert out["bad_shots"] == 0 and out["status"] == "passed"
    first = out["spc"][0]
    assert first["characteristic"] == "MOLD-CUSHION" and first["rule"] == "N1"
    assert first["subgroup"] == 10  # shots 51-55: the first shifted subgroup
    assert first["ncr"] and out["held"]
    # One row per subgroup of 5 shots (the shots stay in `shots`).
    assert sql(ws, "SELECT count(*), sum(n) FROM spc_points WHERE lot_id = ?", (lot,)) \
        == [(20, 100)]
    assert sql(ws, "SELECT count(DISTINCT ncr_id) FROM spc_signals") == [(1,)]
    show = json.loads(ws.ok("lot", "show", lot, "--json").out)
    assert show["on_hold"] and show["hold_reason"] == first["ncr"]
    ws.ok("audit", "verify", "--reconcile")
    # what these commands wrote is covered by the audit trail (issue 13)
    plant.ok("audit", "verify", "--reconcile")


def test_an_import_in_control_passes_quietly(plant: Workspace) -> None:
    ws = plant
    approved_limits(ws, "MOLD-CUSHION", STUDY)
    lot, _ = lot_at(ws, ENC, 20, 400)
    rng = random.Random(7)  # the study's process: mean 5.0, sigma R̄/d2 = 0.086
    cushions = [round(rng.gauss(5.0, 0.086), 3) for _ in range(100)]
    out = json.loads(ws.ok("molding", "import", lot, "--station", "IMM-2", "--report",
                           shots_file(ws, "REPORTS.DAT", cushions), "--json",
                           user="fatima").out)
    assert out["spc"] == [] and not out["held"]
    assert sql(ws, "SELECT count(*), sum(n) FROM spc_points") == [(20, 100)]
