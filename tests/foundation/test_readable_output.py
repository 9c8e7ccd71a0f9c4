"""Output a person can read (issue 12): tables are never cut when stdout is not a terminal,
no raw JSON or Python in human output, `lot show` summarises steps and consumption alike."""

from __future__ import annotations

from tests.conftest import Workspace
from tests.foundation.helpers import PCBA, complete_args, load_paste, new_lot


def test_tables_are_not_cut_when_stdout_is_not_a_terminal(plant: Workspace) -> None:
    out = plant.ok("user", "list").out
    assert "…" not in out, out
    assert "{" not in out and "'" not in out, out  # qualifications as text, not a dict
    assert "assembly 2099-12-31, dryer 2099-12-31" in out, out
    assert "Fatima Zahra Alaoui" in out


def test_station_show_is_text(plant: Workspace) -> None:
    paste = load_paste(plant)
    out = plant.ok("station", "show", "PRN-1").out
    assert "{" not in out and "[" not in out and "True" not in out, out
    assert "active: yes" in out
    assert f"  slot P1: {paste} (PASTE-SAC305, 500 left)" in out, out


def test_lot_show_summarises_steps_and_consumption_per_op(plant: Workspace) -> None:
    ws = plant
    paste = load_paste(ws)
    lot, serials = new_lot(ws, PCBA, 3)
    ws.ok(*complete_args(ws, lot, 10), user="fatima")
    out = ws.ok("lot", "show", lot).out
    assert "  steps: 3 (per op below; --all lists each)" in out, out
    assert "  op  10: 3 passed at PRN-1, last " in out, out
    assert "  consumed: 3 records (per material below; --all lists each)" in out, out
    assert f"  op  10: 1.05 of {paste}" in out, out
    assert serials[0] not in out.split("steps:")[1]  # the summary does not list units
    full = ws.ok("lot", "show", lot, "--all").out
    assert all(f"op  10 {s} passed" in full for s in serials), full
    assert all(f"consumed 0.35 {paste} into {s} at op 10" in full for s in serials), full
