"""Control limits: a signed, versioned record from a phase-I study, approved by another."""

from __future__ import annotations

import json

from tests.conftest import Workspace, assert_unchanged
from tests.process.helpers import PCBA, lot_at, sql
from tests.spc.helpers import phase1_file
from tests.spc.published import PISTON_RINGS


def test_limits_from_a_study_file_are_the_textbook_limits(plant: Workspace) -> None:
    """The piston-ring study through the CLI (MOLD-CUSHION is X̄-R of 5): Montgomery's
    x̿ 74.001, UCL 74.014, LCL 73.988, R̄ 0.023, R UCL 0.049 (tests/spc/published.py)."""
    ws = plant
    path = phase1_file(ws, "rings.txt", PISTON_RINGS)
    d = json.loads(ws.ok("spc", "limits", "set", "MOLD-CUSHION", "--data", path, "--reason",
                         "Montgomery Table 6.3", "--json", user="tarik").out)
    assert d["version"] == 1 and d["status"] == "draft"
    # Montgomery prints 74.014 = 74.001 + 0.577 · 0.023 from rounded x̿ and R̄.
    assert round(d["center"], 3) == 74.001 and abs(d["ucl"] - 74.014) <= 0.001
    assert abs(d["lcl"] - 73.988) <= 0.001
    assert round(d["spread_center"], 3) == 0.023 and round(d["spread_ucl"], 3) == 0.049
    assert d["study"]["source"] == "file" and d["study"]["subgroups"] == 25
    assert [s["meaning"] for s in d["signatures"]] == ["authored"]


def test_approval_is_signed_by_another_person_and_supersedes(plant: Workspace) -> None:
    ws = plant
    path = phase1_file(ws, "study.txt", [[242 + (i % 3) * 0.5] for i in range(20)])
    ws.ok("spc", "limits", "set", "REFLOW-PEAK", "--data", path, "--reason", "PQ 1",
          user="youssef")
    before = ws.dump()
    r = ws.mes("spc", "limits", "approve", "REFLOW-PEAK", "--version", 1, user="youssef")
    assert r.code == 4 and "another person" in r.err
    assert_unchanged(ws, before)
    ws.ok("spc", "limits", "set", "REFLOW-PEAK", "--data", path, "--reason", "PQ 2",
          user="tarik")
    ws.ok("spc", "limits", "approve", "REFLOW-PEAK", "--version", 2, user="youssef")
    shown = json.loads(ws.ok("spc", "limits", "show", "REFLOW-PEAK", "--json").out)
    assert [(v["version"], v["status"]) for v in shown["versions"]] == [(1, "draft"),
                                                                        (2, "approved")]
    v2 = shown["versions"][1]
    assert [s["meaning"] for s in v2["signatures"]] == ["authored", "approved"]
    assert v2["approved_by"] == "youssef" and v2["set_by"] == "tarik"
    r = ws.mes("spc", "limits", "approve", "REFLOW-PEAK", "--version", 2, user="youssef")
    assert r.code == 4 and "approved, not a draft" in r.err
    # what these commands wrote is covered by the audit trail (issue 13)
    plant.ok("audit", "verify", "--reconcile")


def test_limits_from_recorded_phase1_data(plant: Workspace) -> None:
    ws = plant
    lot, serials = lot_at(ws, PCBA, 40, 6)
    for s, peak in zip(serials, (241, 242, 243, 242, 241, 243), strict=True):
        ws.ok("step", "complete", s, "--op", 40, "--station", "REFLOW-1", "--result", "pass",
              "--data", f"peak_temp_c={peak}", "--data", "tal_s=60", "--data",
              "conveyor_speed_cm_min=80", user="fatima")
    d = json.loads(ws.ok("spc", "limits", "set", "REFLOW-PEAK", "--lot", lot, "--reason",
                         "first lot", "--json", user="tarik").out)
    assert d["center"] == 242 and d["study"]["lots"] == [lot]
    assert d["study"]["observations"] == 6 and d["spread_center"] == 1.2  # MR̄ of 1,1,1,1,2


def test_refusals_change_nothing(plant: Workspace) -> None:
    ws = plant
    path = phase1_file(ws, "study.txt", [[242], [243], [241]])
    before = ws.dump()
    r = ws.mes("spc", "limits", "set", "REFLOW-PEAK", "--data", path, "--reason", "x",
               user="fatima")  # an operator
    assert r.code == 6, r
    after = ws.dump()
    assert [line for line in after if line not in before and "auth.denied" in line]
    assert len([line for line in after if line not in before]) == 1
    before = after
    for args, code in (
            (("spc", "limits", "set", "NO-SUCH", "--data", path, "--reason", "x"), 3),
            (("spc", "limits", "set", "REFLOW-PEAK", "--reason", "x"), 4),  # no data yet
            (("spc", "limits", "set", "REFLOW-PEAK", "--data", ws.path / "none.txt",
              "--reason", "x"), 3),
            (("spc", "limits", "set", "REFLOW-PEAK", "--data", path, "--reason", " "), 5)):
        r = ws.mes(*args, user="tarik")
        assert r.code == code and r.err.startswith("mes: "), (args, r)
        assert_unchanged(ws, before)
    r = ws.mes("spc", "limits", "approve", "REFLOW-PEAK", "--version", 9, user="youssef")
    assert r.code == 3 and r.err.startswith("mes: ")
    assert_unchanged(ws, before)
    bad = ws.path / "bad.txt"
    bad.write_text("242\n24x\n")
    r = ws.mes("spc", "limits", "set", "REFLOW-PEAK", "--data", bad, "--reason", "x",
               user="tarik")
    assert r.code == 5 and "bad.txt:2" in r.err
    wrong = ws.path / "wrong.txt"
    wrong.write_text("242 243\n")
    r = ws.mes("spc", "limits", "set", "REFLOW-PEAK", "--data", wrong, "--reason", "x",
               user="tarik")
    assert r.code == 5 and "needs 1 per line" in r.err
    assert_unchanged(ws, before)
    assert sql(ws, "SELECT count(*) FROM spc_limits") == [(0,)]
