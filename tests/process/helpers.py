"""Helpers for the process tests: valid step data from the routing, materials, reaching op N."""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import STATIONS, Workspace, valid_value
from tests.conftest import assert_unchanged as assert_unchanged
from tests.conftest import sql as sql

PCBA = "PCBA-OXI-100"
ENC = "ENC-OXI-100"
STATION_OF_TYPE = {stype: sid for sid, stype in STATIONS.items()}


def routing(ws: Workspace, part: str) -> dict[str, Any]:
    return dict(json.loads(ws.ok("routing", "show", part, "--json", user="tarik").out))




def receive(ws: Workspace, part: str, qty: float, *extra: object) -> str:
    out = ws.ok("material", "receive", part, "--qty", qty, *extra, user="fatima").out
    mid = out.split()[1]
    if "quarantine" in out:
        ws.ok("material", "release", mid, user="youssef")
    return mid


def load_materials(ws: Workspace, part: str) -> dict[str, str]:
    """Receive, release and load on its station every material the routing consumes."""
    loaded: dict[str, str] = {}
    for op in routing(ws, part)["operations"]:
        station = STATION_OF_TYPE[op["station_type"]]
        for i, line in enumerate(op["consumes"]):
            if line.get("by_serial"):
                continue
            mid = receive(ws, line["part"], 10_000)
            ws.ok("station", "load", station, mid, "--slot", f"F{i + 1}", "--replace",
                  user="fatima")  # a fresh reel takes the slot
            loaded[line["part"]] = mid
    return loaded


def new_lot(ws: Workspace, part: str, qty: int) -> tuple[str, list[str]]:
    d = json.loads(ws.ok("lot", "create", part, "--qty", qty, "--json", user="fatima").out)
    return d["lot"], d["serials"]


def complete_args(op: dict[str, Any], scan: str) -> list[object]:
    """`mes step complete` arguments for `op` with valid data, at a station of its type."""
    args: list[object] = ["step", "complete", scan, "--op", op["op"], "--station",
                          STATION_OF_TYPE[op["station_type"]], "--result", "pass"]
    for spec in op["data"]:
        if spec["required"]:
            args += ["--data", f"{spec['name']}={valid_value(spec)}"]
    return args


def advance(ws: Workspace, scan: str, part: str, to_op: int, from_op: int = 0) -> None:
    """Complete ops from `from_op` up to before `to_op` with valid data (materials loaded)."""
    for op in routing(ws, part)["operations"]:
        if op["op"] >= to_op:
            return
        if op["op"] < from_op:
            continue
        ws.ok(*complete_args(op, scan), user="fatima")


def lot_at(ws: Workspace, part: str, to_op: int, qty: int) -> tuple[str, list[str]]:
    load_materials(ws, part)
    lot, serials = new_lot(ws, part, qty)
    advance(ws, lot, part, to_op)
    return lot, serials




