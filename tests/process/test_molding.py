"""EUROMAP 63 shot reports onto a molding lot (ISO 13485 7.5.6, DESIGN §9)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from mes.ingest.euromap63 import synthetic_report, write_report
from tests.conftest import Workspace
from tests.process.helpers import ENC, assert_unchanged, complete_args, lot_at, routing, sql

DATA = Path(__file__).parents[1] / "data" / "euromap63"


def window(ws: Workspace) -> dict[str, tuple[float, float]]:
    op = next(o for o in routing(ws, ENC)["operations"] if o.get("molding"))
    return {s["euromap"]: (s["min"], s["max"]) for s in op["data"] if s.get("euromap")}


def op_after(ws: Workspace) -> dict:
    """The op after molding (visual inspection)."""
    ops = routing(ws, ENC)["operations"]
    i = next(i for i, o in enumerate(ops) if o.get("molding"))
    return dict(ops[i + 1])


def report(ws: Workspace, name: str, shots: int, *, bad_every: int | None = None,
           seed: int = 1) -> Path:
    cols, rows = synthetic_report(shots, seed=seed, window=window(ws),
                                  out_of_window_every=bad_every)
    path = ws.path / name
    write_report(path, cols, rows)
    return path


@pytest.fixture
def at20(plant: Workspace) -> tuple[Workspace, str]:
    lot, _ = lot_at(plant, ENC, 20, 400)  # 100 shots x 4 cavities
    return plant, lot


def lot_row(ws: Workspace, lot: str) -> dict:
    return dict(json.loads(ws.ok("lot", "show", lot, "--json").out))


def test_import_all_good(at20: tuple[Workspace, str]) -> None:
    ws, lot = at20
    path = report(ws, "REPORTS.DAT", 100)
    r = ws.ok("molding", "import", lot, "--station", "IMM-2", "--report", path, "--mold",
              "M-ENC-01", "--json", user="fatima")
    out = json.loads(r.out)
    assert out["status"] == "passed" and out["shots"] == 100 and out["bad_shots"] == 0
    assert out["parts_good"] == 400 and out["reject_rate_pct"] == 0 and not out["held"]
    assert sql(ws, "SELECT count(*), sum(ok), min(cavities) FROM shots WHERE lot_id = ?",
               (lot,)) == [(100, 100, 4)]
    values = json.loads(sql(ws, "SELECT shot_values FROM shots LIMIT 1")[0][0])
    assert set(values) == {"cycle_time_s", "fill_time_s", "cushion_mm", "transfer_pressure_bar"}
    step = next(s for s in lot_row(ws, lot)["steps"] if s["op"] == 20)
    assert step["status"] == "passed" and step["source"].startswith("euromap63:")
    assert step["data"]["shots"] == 100 and step["data"]["parts_good"] == 400
    lo, hi = window(ws)["ActTimCyc"]
    assert lo <= step["data"]["cycle_time_s"] <= hi
    assert set(step["data"]["mean_all_shots"]) == set(values)
    assert lot_row(ws, lot)["qty_scrapped"] == 0


def test_out_of_window_shots_reject_parts_and_hold_the_lot(at20: tuple[Workspace, str]
                                                           ) -> None:
    ws, lot = at20
    path = report(ws, "REPORTS.DAT", 100, bad_every=20)  # 5 bad shots: 5 % > 2 %
    out = json.loads(ws.ok("molding", "import", lot, "--station", "IMM-2", "--report", path,
                           "--json", user="fatima").out)
    assert out["status"] == "passed"  # good shots are good parts: the step itself passes
    assert (out["bad_shots"], out["parts_rejected"], out["parts_good"]) == (5, 20, 380)
    assert out["reject_rate_pct"] == 5.0 and out["held"]
    bad = sql(ws, "SELECT shot_no, problems FROM shots WHERE ok = 0 ORDER BY shot_no")
    assert len(bad) == 5 and all("outside" not in p and ("below" in p or "above" in p)
                                 for _, p in bad)
    row = lot_row(ws, lot)
    assert row["qty_scrapped"] == 20 and row["on_hold"]
    assert row["hold_reason"] == "molding reject rate 5% > 2%: open an NCR"
    actions = [a for (a,) in sql(ws, "SELECT action FROM audit WHERE entity_id = ?", (lot,))]
    assert {"step.complete", "machine.import", "lot.reject_parts", "hold.auto"} <= set(actions)
    # The next op is refused while the lot is on hold.
    r = ws.mes(*complete_args(op_after(ws), lot), user="fatima")
    assert r.code == 4 and "on hold" in r.err, r


def test_low_reject_rate_rejects_parts_without_hold(at20: tuple[Workspace, str]) -> None:
    ws, lot = at20
    path = report(ws, "REPORTS.DAT", 100, bad_every=100)  # 1 bad shot: 1 % <= 2 %
    out = json.loads(ws.ok("molding", "import", lot, "--station", "IMM-2", "--report", path,
                           "--json", user="fatima").out)
    assert out["bad_shots"] == 1 and not out["held"] and out["status"] == "passed"
    row = lot_row(ws, lot)
    assert row["qty_scrapped"] == 4 and not row["on_hold"]
    ws.ok(*complete_args(op_after(ws), lot), user="fatima")
    row = lot_row(ws, lot)
    assert row["status"] == "completed" and row["remaining"] == 396


def test_duplicate_report_refused(at20: tuple[Workspace, str]) -> None:
    ws, lot = at20
    path = report(ws, "REPORTS.DAT", 10)
    ws.ok("molding", "import", lot, "--station", "IMM-2", "--report", path, user="fatima")
    copy = ws.path / "copy.DAT"
    shutil.copy(path, copy)
    before = ws.dump()
    r = ws.mes("molding", "import", lot, "--station", "IMM-2", "--report", copy, user="fatima")
    assert r.code == 4 and "already imported" in r.err, r
    assert_unchanged(ws, before)


def test_malformed_reports_change_nothing(at20: tuple[Workspace, str]) -> None:
    ws, lot = at20
    for name in ("binary.DAT", "empty.DAT", "header_only.DAT", "non_numeric.DAT",
                 "wrong_field_count.DAT", "utf16.DAT", "duplicate_column.DAT"):
        before = ws.dump()
        r = ws.mes("molding", "import", lot, "--station", "IMM-2", "--report", DATA / name,
                   user="fatima")
        assert r.code == 5 and name in r.err and "Traceback" not in r.err, r
        assert_unchanged(ws, before)


def test_refusals_change_nothing(at20: tuple[Workspace, str]) -> None:
    ws, lot = at20
    cols, rows = synthetic_report(5, seed=3, window=window(ws))
    cols = [c for c in cols if c != "ActTimFill"]
    missing = ws.path / "missing.DAT"
    write_report(missing, cols, rows)
    good = report(ws, "REPORTS.DAT", 5)
    cases: list[tuple[list[object], int, str]] = [
        (["--report", missing, "--station", "IMM-2"], 5, "no column ActTimFill"),
        (["--report", good, "--station", "IMM-2", "--mold", "M-OTHER"], 4, "M-ENC-01"),
        (["--report", good, "--station", "DRY-1"], 4, "imm station"),
        (["--report", ws.path / "nope.DAT", "--station", "IMM-2"], 3, "no such file"),
    ]
    for args, code, text in cases:
        before = ws.dump()
        r = ws.mes("molding", "import", lot, *args, user="fatima")
        assert r.code == code and text in r.err, r
        assert_unchanged(ws, before)


def test_earlier_op_must_have_passed(plant: Workspace) -> None:
    ws = plant
    lot, _ = lot_at(ws, ENC, 10, 40)  # drying not done
    before = ws.dump()
    r = ws.mes("molding", "import", lot, "--station", "IMM-2", "--report",
               report(ws, "R.DAT", 10), user="fatima")
    assert r.code == 4 and "op 10" in r.err, r
    assert_unchanged(ws, before)


def test_hundred_thousand_shots_import_whole(plant: Workspace) -> None:
    ws = plant
    lot, _ = lot_at(ws, ENC, 20, 100_000)
    path = report(ws, "BIG.DAT", 100_000, bad_every=1000)
    out = json.loads(ws.ok("molding", "import", lot, "--station", "IMM-2", "--report", path,
                           "--json", user="fatima").out)
    assert out["shots"] == 100_000 and out["bad_shots"] == 100
    assert sql(ws, "SELECT count(*) FROM shots") == [(100_000,)]
    # How fast is bench/spc.py's question (a rule check per value adds ≤ 10 %), not a test's.
