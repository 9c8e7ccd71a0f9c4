"""EUROMAP 63 records that are right (issue 11 item 4): the lot holds what the machine
molded, the report is cross-checked with the plant, real vendor layouts are read, the
calendar is real, resin follows the parts molded, out-of-window shots can be listed."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from tests.conftest import Workspace
from tests.process.helpers import ENC, assert_unchanged, complete_args, lot_at, sql
from tests.process.test_molding import DATA, lot_row, op_after, report

IMPORT = ("molding", "import")


@pytest.fixture
def at20(plant: Workspace) -> tuple[Workspace, str]:
    lot, _ = lot_at(plant, ENC, 20, 400)  # planned 400 = 100 shots x 4 cavities
    return plant, lot


def _import(ws: Workspace, lot: str, path: Path, *extra: object) -> dict:
    return dict(json.loads(ws.ok(*IMPORT, lot, "--station", "IMM-2", "--report", path,
                                 *extra, "--json", user="fatima").out))


def _inspect(ws: Workspace, lot: str, rejected: int) -> None:
    args = [a if not str(a).startswith("rejected=") else f"rejected={rejected}"
            for a in complete_args(op_after(ws), lot)]
    ws.ok(*args, user="fatima")


def test_available_quantity_is_what_the_machine_molded_less_rejects(at20) -> None:
    ws, lot = at20
    out = _import(ws, lot, report(ws, "R.DAT", 95, bad_every=95))  # 95 shots, 1 bad
    assert (out["qty_planned"], out["parts_good"], out["parts_rejected"]) == (400, 376, 4)
    row = lot_row(ws, lot)
    assert row["qty"] == 380 and row["qty_scrapped"] == 4 and not row["on_hold"]
    _inspect(ws, lot, rejected=6)  # 6 short shots found under the light box
    row = lot_row(ws, lot)
    assert row["status"] == "completed" and row["remaining"] == 370, row


def test_inspection_cannot_reject_more_than_the_lot_holds(at20) -> None:
    ws, lot = at20
    _import(ws, lot, report(ws, "R.DAT", 10))  # 40 parts
    before = ws.dump()
    args = [a if not str(a).startswith("rejected=") else "rejected=41"
            for a in complete_args(op_after(ws), lot)]
    r = ws.mes(*args, user="fatima")
    assert r.code == 4 and "rejected=41" in r.err and "40 parts" in r.err, r
    assert_unchanged(ws, before)


def test_molding_far_beyond_plan_goes_to_quality(at20) -> None:
    ws, lot = at20
    out = _import(ws, lot, report(ws, "R.DAT", 250))  # 1,000 parts for 400 planned
    assert out["held"] and out["parts_good"] == 1000
    row = lot_row(ws, lot)
    assert row["qty"] == 1000 and row["on_hold"]
    assert row["hold_reason"].startswith("molded 1000 parts for a lot planned at 400"), row


def test_resin_follows_the_parts_molded(at20) -> None:
    ws, lot = at20
    resin = sql(ws, "SELECT child FROM edges WHERE parent = ? AND op = 10", (lot,))[0][0]
    left = float(sql(ws, "SELECT remaining FROM material_lots WHERE id = ?", (resin,))[0][0])
    assert float(sql(ws, "SELECT sum(qty) FROM edges WHERE parent = ? AND child = ?",
                     (lot, resin))[0][0]) == pytest.approx(0.0215 * 400)
    out = _import(ws, lot, report(ws, "R.DAT", 95, bad_every=95))  # 380 parts molded
    assert out["resin_corrections"][0]["qty"] == pytest.approx(-0.0215 * 20)
    used = float(sql(ws, "SELECT sum(qty) FROM edges WHERE parent = ? AND child = ?",
                     (lot, resin))[0][0])
    assert used == pytest.approx(0.0215 * 380)  # good and rejected parts, not the plan
    now = float(sql(ws, "SELECT remaining FROM material_lots WHERE id = ?", (resin,))[0][0])
    assert now == pytest.approx(left + 0.0215 * 20)
    ws.ok("audit", "verify", "--reconcile", user="youssef")


def _job_copy(ws: Workspace, name: str, lot: str, job: str | None = None) -> Path:
    path = ws.path / name
    path.write_text((DATA / name).read_text().replace("{LOT}", job or lot))
    return path


def test_vendor_layouts_are_read(at20) -> None:
    """Engel-style (UTF-8 BOM, '@' vendor fields, ActTimFill[1] for a single injection unit,
    CRLF, wrapped header) and KraussMaffei-style (other column order, job and mould named,
    spaces after commas)."""
    ws, lot = at20
    out = _import(ws, lot, DATA / "engel_bom_indexed.DAT", "--mold", "M-ENC-01")
    assert out["shots"] == 20 and out["bad_shots"] == 0, out
    other, _ = lot_at(ws, ENC, 20, 40)
    out = _import(ws, other, _job_copy(ws, "kraussmaffei_job.DAT", other))
    assert out["shots"] == 10 and out["parts_good"] == 40, out


def test_report_from_another_mold_part_or_job_is_refused(at20) -> None:
    ws, lot = at20
    cases = [(_job_copy(ws, "kraussmaffei_other_mold.DAT", lot), "M-ENC-02"),
             (_job_copy(ws, "kraussmaffei_other_part.DAT", lot), "ENC-OXI-200"),
             (_job_copy(ws, "kraussmaffei_job.DAT", lot, job="L2611-9999"), "L2611-9999")]
    for path, text in cases:
        before = ws.dump()
        r = ws.mes(*IMPORT, lot, "--station", "IMM-2", "--report", path, user="fatima")
        assert r.code == 4 and text in r.err and len(r.err.splitlines()) == 1, r
        assert_unchanged(ws, before)


def test_calendar_values_must_exist(at20) -> None:
    ws, lot = at20
    before = ws.dump()
    r = ws.mes(*IMPORT, lot, "--station", "IMM-2", "--report", DATA / "bad_calendar.DAT",
               user="fatima")
    assert r.code == 5 and len(r.err.splitlines()) == 1, r
    assert "bad_calendar.DAT:3: TIME: '25:61:00' is not a time of day" in r.err, r
    assert "(and 3 more problems)" in r.err, r
    assert_unchanged(ws, before)
    from mes.errors import ValidationFailed
    from mes.ingest.euromap63 import parse_report

    with pytest.raises(ValidationFailed) as exc:
        parse_report(DATA / "bad_calendar.DAT")
    got = [(p.line, p.field, p.message.split("'")[1]) for p in exc.value.problems]
    assert got == [(3, "TIME", "25:61:00"), (4, "TIME", "24:30:00"), (5, "DATE", "20261350"),
                   (6, "DATE", "20260230")]


def test_missing_column_names_the_columns_the_file_has(at20) -> None:
    ws, _lot = at20
    cut = ws.path / "cut.DAT"
    cut.write_text("DATE,TIME,ActCntCyc,ActTimCyc,ActStrCsh\n20261124,06:00:00,1,20.1,5.0\n")
    other, _ = lot_at(ws, ENC, 20, 4)
    before = ws.dump()
    r = ws.mes(*IMPORT, other, "--station", "IMM-2", "--report", cut, user="fatima")
    assert r.code == 5 and "no column ActTimFill" in r.err, r
    assert "the file has DATE, TIME, ActCntCyc, ActTimCyc, ActStrCsh" in r.err, r
    assert_unchanged(ws, before)


def test_shots_lists_out_of_window_shots_with_both_counters(at20) -> None:
    ws, lot = at20
    _import(ws, lot, report(ws, "R.DAT", 100, bad_every=20))
    bad = json.loads(ws.ok("molding", "shots", lot, "--bad", "--json").out)
    assert [s["report_row"] for s in bad] == [20, 40, 60, 80, 100]
    assert [s["cycle"] for s in bad] == [20, 40, 60, 80, 100]  # synthetic cycles start at 1
    assert all(not s["ok"] and ("below" in s["problems"] or "above" in s["problems"])
               for s in bad)
    every = json.loads(ws.ok("molding", "shots", lot, "--json").out)
    assert len(every) == 100
    rows = list(csv.DictReader(io.StringIO(ws.ok("molding", "shots", lot, "--bad",
                                                 "--csv").out)))
    assert len(rows) == 5 and {"report_row", "cycle", "ok", "problems",
                               "cycle_time_s"} <= set(rows[0])
    # The machine's cycle counter and the report's row differ in a real report.
    other, _ = lot_at(ws, ENC, 20, 80)
    _import(ws, other, DATA / "engel_bom_indexed.DAT")
    shots = json.loads(ws.ok("molding", "shots", other, "--json").out)
    assert (shots[0]["report_row"], shots[0]["cycle"]) == (1, 71230)


def test_dhr_shows_the_first_out_of_window_shots(at20) -> None:
    ws, lot = at20
    _import(ws, lot, report(ws, "R.DAT", 100, bad_every=10))
    dhr = json.loads(ws.ok("dhr", lot, "--json", user="youssef").out)
    (entry,) = dhr["out_of_window_shots"]
    assert entry["lot"] == lot and entry["count"] == 10
    assert [s["report_row"] for s in entry["first"]] == [10, 20, 30, 40, 50]
