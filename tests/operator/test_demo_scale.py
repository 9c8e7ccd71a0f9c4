"""`mes demo --units N` as a load generator (issue 12): materials scale with N, up to 5,000."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_cli


def test_units_outside_the_range_are_refused(tmp_path: Path) -> None:
    for n in (0, 5001):
        r = run_cli(["demo", "--dir", str(tmp_path / f"d{n}"), "--units", str(n)])
        assert r.code == 5 and "--units must be between 1 and 5000" in r.err, r
        assert not (tmp_path / f"d{n}" / "mes.db").exists()


def test_receipts_cover_the_run() -> None:
    from mes.cli.demo import RECEIPTS, material_needs, receipt_qty

    routing = {
        "PCBA-OXI-100": {30: {"consumes": [{"part": "PCB-OXI-100", "qty": 1},
                                           {"part": "CAP-100N-0402", "qty": 14}]}},
        "ENC-OXI-100": {10: {"consumes": [{"part": "RESIN-PC2458", "qty": 0.0215}]}},
        "DEV-OXI-100": {40: {"consumes": [{"part": "BOX-OXI-100", "qty": 1}]}},
    }
    needs = material_needs(routing, 5000)
    assert needs == {"PCB-OXI-100": 5000, "CAP-100N-0402": 70000,
                     "RESIN-PC2458": pytest.approx(430), "BOX-OXI-100": 5000}
    assert receipt_qty(RECEIPTS["PCB-OXI-100"][0], needs["PCB-OXI-100"]) == 5500
    assert receipt_qty(RECEIPTS["PCB-OXI-100"][0], 6) == 50  # the usual delivery


@pytest.mark.slow
def test_sixty_units_build_and_ship(tmp_path: Path) -> None:
    """Above the old limit of about 50 (the PCB delivery ran out)."""
    r = run_cli(["demo", "--dir", str(tmp_path / "demo"), "--units", "60", "--json"])
    assert r.code == 0, r
    summary = json.loads(r.out)
    assert len(summary["devices"]) == 60 and len(summary["boards"]) == 60
    assert summary["origin"]["positive"] is True
