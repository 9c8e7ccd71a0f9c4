"""A step's value judged by the characteristic's run rules, in the step's transaction."""

from __future__ import annotations

import json

from tests.conftest import Workspace
from tests.process.helpers import PCBA, lot_at, sql
from tests.spc.helpers import alternating, approved_limits


def reflow(ws: Workspace, serial: str, peak: float) -> object:
    return ws.mes("step", "complete", serial, "--op", 40, "--station", "REFLOW-1",
                  "--result", "pass", "--data", f"peak_temp_c={peak:g}", "--data", "tal_s=60",
                  "--data", "conveyor_speed_cm_min=80", user="fatima")


def test_out_of_control_value_in_spec_holds_the_lot_with_an_ncr(plant: Workspace) -> None:
    ws = plant
    # REFLOW-PEAK: I-MR, Western Electric, action hold. Limits 242 ± 3·(1/1.128)·... :
    # moving range 1.0 -> sigma 0.887 -> UCL 244.66, well inside the spec 235..250.
    lim = approved_limits(ws, "REFLOW-PEAK", alternating(242, 0.5, 20))
    assert lim["ucl"] < 245
    lot, serials = lot_at(ws, PCBA, 40, 3)
    first = reflow(ws, serials[0], 242.2)
    assert first.code == 0 and "SPC" not in first.out, first
    second = reflow(ws, serials[1], 247)  # in spec (max 250), beyond the UCL: WE1
    assert second.code == 0, second
    assert "passed" in second.out and "SPC REFLOW-PEAK WE1" in second.out
    assert "on hold (NCR-" in second.out
    show = json.loads(ws.ok("lot", "show", lot, "--json").out)
    assert show["on_hold"] and show["hold_reason"].startswith("NCR-")
    ncr = json.loads(ws.ok("ncr", "show", show["hold_reason"], "--json").out)
    assert "REFLOW-PEAK WE1" in ncr["description"] and ncr["status"] == "open"
    # The signal is recorded with the step that caused it (same transaction).
    # The jump also makes the moving range exceed its limit: a second signal, same NCR.
    rows = sql(ws, "SELECT s.chart, s.rule, s.action, s.ncr_id, st.serial FROM spc_signals s "
               "JOIN steps st ON st.id = s.step_id ORDER BY s.id")
    assert rows == [("x", 1, "hold", show["hold_reason"], serials[1]),
                    ("spread", 1, "hold", show["hold_reason"], serials[1])]
    events = [a for (a,) in sql(ws, "SELECT action FROM audit WHERE seq > (SELECT max(seq) FROM "
                                    "audit WHERE action = 'step.complete' AND entity_id = ?)",
                                (serials[1],))]
    assert events[:4] == ["ncr.open", "hold.ncr", "spc.signal", "spc.signal"]
    # Held: the third board cannot pass reflow until quality decides.
    third = reflow(ws, serials[2], 242)
    assert third.code == 4 and "hold" in third.err
    ws.ok("audit", "verify", "--reconcile")
    # what these commands wrote is covered by the audit trail (issue 13)
    plant.ok("audit", "verify", "--reconcile")


def test_out_of_limit_and_out_of_control_are_both_shown(plant: Workspace) -> None:
    ws = plant
    approved_limits(ws, "REFLOW-PEAK", alternating(242, 0.5, 20))
    _lot, serials = lot_at(ws, PCBA, 40, 2)
    r = reflow(ws, serials[0], 252)  # above the spec max 250 and beyond the UCL
    assert r.code == 0 and r.out.startswith("FAIL") and "peak_temp_c" in r.out
    assert "SPC REFLOW-PEAK WE1" in r.out
    rep = json.loads(ws.ok("spc", "report", "REFLOW-PEAK", "--json").out)
    c = rep["characteristics"][0]
    assert c["out_of_spec"] == 1 and [s["rule"] for s in c["signals"]] == ["WE1"]


def test_no_approved_limits_records_without_judging(plant: Workspace) -> None:
    ws = plant
    _lot, serials = lot_at(ws, PCBA, 40, 2)
    for s, peak in zip(serials, (242, 249.5), strict=True):
        assert reflow(ws, s, peak).code == 0
    assert sql(ws, "SELECT count(*) FROM spc_points WHERE characteristic = 'REFLOW-PEAK'") \
        == [(2,)]
    assert sql(ws, "SELECT count(*) FROM spc_signals") == [(0,)]


def test_a_run_of_eight_alerts_quality_without_holding(plant: Workspace) -> None:
    """ICT-3V3: X̄-R of 5 boards, Nelson, action alert; 9 subgroups above the centre → N2."""
    ws = plant
    study = [[3.30, 3.29, 3.31, 3.30, 3.30], [3.31, 3.30, 3.29, 3.30, 3.30]] * 10
    approved_limits(ws, "ICT-3V3", study)
    lot, serials = lot_at(ws, PCBA, 60, 45)
    for s in serials:
        ws.ok("step", "complete", s, "--op", 60, "--station", "ICT-1", "--result", "pass",
              "--data", "rail_3v3_v=3.302", "--data", "rail_1v8_v=1.8", "--data",
              "supply_current_ma=5", "--data", "shorts_opens=0", user="fatima")
    signals = sql(ws, "SELECT subgroup, rule, action FROM spc_signals")
    assert (8, 2, "alert") in signals
    assert not json.loads(ws.ok("lot", "show", lot, "--json").out)["on_hold"]
    assert sql(ws, "SELECT count(*) FROM audit WHERE action = 'spc.alert'")[0][0] >= 1


def test_aoi_defects_per_panel_on_a_u_chart(plant: Workspace) -> None:
    """AOI-DEFECTS: u chart of 6 boards per point, limits from 'defects, boards' lines."""
    ws = plant
    lim = approved_limits(ws, "AOI-DEFECTS", [[1, 6], [0, 6], [1, 6], [0, 6]] * 5)
    assert round(lim["center"], 4) == round(10 / 120, 4) and lim["lcl"] == 0
    _lot, serials = lot_at(ws, PCBA, 50, 12)
    for i, s in enumerate(serials):
        defects = 2 if i >= 6 else 0  # the second panel: 12 defects on 6 boards
        ws.mes("step", "complete", s, "--op", 50, "--station", "AOI-1", "--result", "pass",
               "--data", f"defects={defects}", user="fatima")
    assert sql(ws, "SELECT subgroup, rule, action, stat FROM spc_signals") == [
        (1, 1, "alert", 2.0)]
    assert sql(ws, "SELECT count(*) FROM spc_points WHERE characteristic = 'AOI-DEFECTS'") \
        == [(12,)]
