"""Helpers for the foundation tests: valid data from the routing, materials, reaching op N."""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import STATIONS, Workspace, sql, valid_value
from tests.conftest import assert_unchanged as assert_unchanged
from tests.conftest import changed_rows as changed_rows

PCBA = "PCBA-OXI-100"
STATION_OF_TYPE = {stype: sid for sid, stype in STATIONS.items()}
# What op 30 (pick and place) of PCBA-OXI-100 consumes, per board.
PNP_PARTS = ("PCB-OXI-100", "CAP-100N-0402", "CAP-1U-0402", "CAP-10U-0603", "RES-10K-0402",
             "RES-4K7-0402", "MCU-STM32L432", "AFE-MAX30101", "BLE-NRF52832")


def routing(ws: Workspace, part: str = PCBA, version: int | None = None) -> dict[str, Any]:
    args: list[object] = ["routing", "show", part, "--json"]
    if version is not None:
        args += ["--version", version]
    return dict(json.loads(ws.ok(*args).out))


def operation(ws: Workspace, op: int, part: str = PCBA) -> dict[str, Any]:
    return next(o for o in routing(ws, part)["operations"] if o["op"] == op)




def valid_data(op: dict[str, Any], **override: object) -> list[str]:
    """`--data NAME=VALUE` arguments for every required data of the op (overrides win)."""
    values = {s["name"]: valid_value(s) for s in op["data"] if s["required"]}
    values.update({k: str(v) for k, v in override.items()})
    args: list[str] = []
    for name, value in values.items():
        args += ["--data", f"{name}={value}"]
    return args


def complete_args(ws: Workspace, scan: str, op_no: int, part: str = PCBA,
                  station: str | None = None, **data: object) -> list[object]:
    op = operation(ws, op_no, part)
    return ["step", "complete", scan, "--op", op_no, "--station",
            station or STATION_OF_TYPE[op["station_type"]], *valid_data(op, **data),
            "--result", "pass"]


def receive(ws: Workspace, part: str, qty: float, *extra: object, release: bool = True
            ) -> str:
    """Receive a material lot (and release it, signed by quality); returns its id."""
    out = ws.ok("material", "receive", part, "--qty", qty, *extra, user="fatima").out
    mid = out.split()[1]
    if release and "quarantine" in out:
        ws.ok("material", "release", mid, user="youssef")
    return mid


def load_paste(ws: Workspace, qty: float = 500) -> str:
    mid = receive(ws, "PASTE-SAC305", qty)
    ws.ok("station", "load", "PRN-1", mid, "--slot", "P1", user="fatima")
    return mid


def load_pnp_reels(ws: Workspace, qty: float = 1000) -> dict[str, str]:
    reels = {}
    for i, part in enumerate(PNP_PARTS):
        mid = receive(ws, part, qty)
        ws.ok("station", "load", "PNP-1", mid, "--slot", f"F{i + 1}", user="fatima")
        reels[part] = mid
    return reels


def new_lot(ws: Workspace, part: str = PCBA, qty: int = 2) -> tuple[str, list[str]]:
    out = ws.ok("lot", "create", part, "--qty", qty, "--json", user="fatima").out
    d = json.loads(out)
    return d["lot"], d["serials"]


def advance(ws: Workspace, scan: str, to_op: int, part: str = PCBA, from_op: int = 0) -> None:
    """Complete ops from `from_op` to before `to_op` in order, with valid data.

    The materials the ops consume must be loaded on their stations.
    """
    for op in routing(ws, part)["operations"]:
        if op["op"] < from_op:
            continue
        if op["op"] >= to_op:
            return
        ws.ok(*complete_args(ws, scan, op["op"], part), user="fatima")


def pcba_at(ws: Workspace, to_op: int, qty: int = 2) -> tuple[str, list[str]]:
    """A PCBA lot whose units have passed every op before `to_op` (materials loaded)."""
    load_paste(ws)
    if to_op > 30:
        load_pnp_reels(ws)
    lot, serials = new_lot(ws, PCBA, qty)
    advance(ws, lot, to_op)
    return lot, serials


def audit_actions(ws: Workspace) -> list[str]:
    return [r[0] for r in sql(ws, "SELECT action FROM audit ORDER BY seq")]


def only_new_audit(before: list[str], after: list[str]) -> list[str]:
    """Lines of the dump that are new; everything else must be unchanged."""
    gone = [line for line in before if line not in after]
    assert not gone, gone
    return [line for line in after if line not in before]


def assert_only_denied(ws: Workspace, before: list[str]) -> None:
    """An authority refusal: exactly one new row, an `auth.denied` audit event."""
    new = only_new_audit(before, ws.dump())
    assert len(new) == 1, new
    assert new[0].startswith('INSERT INTO "audit"') and "'auth.denied'" in new[0], new
