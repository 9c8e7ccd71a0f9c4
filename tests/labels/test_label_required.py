"""A labeling operation, and packing after it, pass only when every unit in scope has a
printed and verified label for its lot (issue 11 item 3): checked at `step complete`."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Workspace, approve_label_templates, assert_unchanged
from tests.labels import test_label_print as lp

pytest.importorskip("zxingcpp")
pytest.importorskip("pypdfium2")


@pytest.fixture
def dev(workspace: Workspace, tmp_path: Path) -> tuple[Workspace, str, list[str], str]:
    """The label tests' DEV-T shop, a 2-unit lot ready for labeling, a roll of label stock."""
    ws = workspace
    for sid, stype in lp.STATIONS.items():
        ws.ok("station", "add", sid, "--type", stype, "--calibration-due", "2099-12-31",
              user="tarik")
        ws.ok("user", "qualify", "fatima", stype, "--until", "2099-12-31", user="youssef")
    files = []
    for name, text in (("catalog", lp.CATALOG), ("enc", lp.ENC), ("dev", lp.DEV)):
        f = tmp_path / f"{name}.yaml"
        f.write_text(text, encoding="utf-8")
        files.append(f)
    for line in ws.ok("routing", "load", *files, user="tarik").out.splitlines():
        if line.startswith("routing ") and line.endswith(": draft"):
            part, version = line.split()[1], line.split()[2].rstrip(":").lstrip("v")
            ws.ok("routing", "approve", part, "--version", version, user="youssef")
    approve_label_templates(ws)
    lot, serials = lp.build_device(ws, board_cost=20)
    roll = lp.receive(ws, "LBL-T", 100, "MA", 0.2)
    return ws, lot, serials, roll


def _refused(ws: Workspace, args: list[object], *words: str) -> None:
    before = ws.dump()
    r = ws.mes(*args, user="fatima")
    assert r.code == 4, r
    assert r.err.startswith("mes: ") and len(r.err.strip().splitlines()) == 1, r
    assert all(w in r.err for w in words), r
    assert_unchanged(ws, before)


def test_labeling_op_needs_a_label_for_every_unit(dev) -> None:
    ws, lot, (sn1, sn2), roll = dev
    label_op = ["step", "complete", lot, "--op", 30, "--station", "LBL-1", "--consume", roll]
    _refused(ws, label_op, "op 30 (Labelling)", f"{sn1} has no label for lot {lot}",
             "(and 1 more)", "mes label print")
    ws.ok("label", "print", sn1, "--no-origin-claim", user="fatima")
    _refused(ws, label_op, f"{sn2} has no label for lot {lot}")
    ws.ok("label", "print", sn2, "--no-origin-claim", user="fatima")
    ws.ok(*label_op, user="fatima")
    ws.ok("step", "complete", lot, "--op", 40, "--station", "PACK-1", user="fatima")


def test_an_unverified_label_does_not_count(dev) -> None:
    ws, lot, serials, roll = dev
    ws.ok("label", "print", lot, "--no-origin-claim", "--format", "zpl", user="fatima")
    label_op = ["step", "complete", lot, "--op", 30, "--station", "LBL-1", "--consume", roll]
    _refused(ws, label_op, f"the label of {serials[0]} was not verified", "--reprint")
    ws.ok("label", "print", lot, "--no-origin-claim", "--reprint", "--reason",
          "verified PDF for the labeling op", user="fatima")
    ws.ok(*label_op, user="fatima")


def test_packing_needs_the_label_in_force_verified(dev) -> None:
    ws, lot, serials, roll = dev
    ws.ok("label", "print", lot, "--no-origin-claim", user="fatima")
    ws.ok("step", "complete", lot, "--op", 30, "--station", "LBL-1", "--consume", roll,
          user="fatima")
    # a reprint that was not verified replaces the verified label on the unit
    ws.ok("label", "print", serials[1], "--no-origin-claim", "--no-verify", "--reprint",
          "--reason", "torn", user="fatima")
    _refused(ws, ["step", "complete", lot, "--op", 40, "--station", "PACK-1"],
             "op 40 (Packing)", f"the label of {serials[1]} was not verified")
    ws.ok("label", "print", serials[1], "--no-origin-claim", "--reprint", "--reason",
          "verified again", user="fatima")
    ws.ok("step", "complete", lot, "--op", 40, "--station", "PACK-1", user="fatima")
