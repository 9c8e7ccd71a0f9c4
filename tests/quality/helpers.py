"""Helpers for the quality tests: move lots through the example routings via the CLI.

Materials are received, released and loaded on the stations (`mes station load`); each
op is completed with mid-range data read from `mes routing show PART --json`; the
firmware op of the PCBA routing goes through `mes flash`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from tests.conftest import STATIONS, Workspace
from tests.conftest import assert_unchanged as assert_unchanged
from tests.conftest import sql as sql
from tests.conftest import valid_value as mid_value

PCBA, ENC, DEV = "PCBA-OXI-100", "ENC-OXI-100", "DEV-OXI-100"
STATION_OF_TYPE = {stype: sid for sid, stype in STATIONS.items()}
SHARED_REEL_PART = "CAP-100N-0402"


def routing(ws: Workspace, part: str) -> dict[str, Any]:
    return dict(json.loads(ws.ok("routing", "show", part, "--json", user="tarik").out))




def receive(ws: Workspace, part: str, qty: float, supplier_lot: str | None = None) -> str:
    extra: list[object] = ["--supplier", "Acme Components", "--supplier-lot",
                           supplier_lot or f"SL-{part[:8]}", "--date-code", "2544"]
    out = ws.ok("material", "receive", part, "--qty", qty, *extra, user="fatima").out
    mid = out.split()[1]
    if "quarantine" in out:
        ws.ok("material", "release", mid, user="youssef")
    return mid


def load_materials(ws: Workspace, part: str, slots: dict[str, tuple[str, str]]) -> None:
    """Receive, release and load every material `part`'s routing consumes (by lot)."""
    for op in routing(ws, part)["operations"]:
        station = STATION_OF_TYPE[op["station_type"]]
        for i, line in enumerate(op["consumes"]):
            if line.get("by_serial") or line["part"] in (ENC,):
                continue
            mid = receive(ws, line["part"], 100_000)
            slot = f"F{i + 1}"
            ws.ok("station", "load", station, mid, "--slot", slot, user="fatima")
            slots[line["part"]] = (station, slot)


def new_lot(ws: Workspace, part: str, qty: int) -> tuple[str, list[str]]:
    d = json.loads(ws.ok("lot", "create", part, "--qty", qty, "--json", user="fatima").out)
    return d["lot"], d["serials"]


def op_args(ws: Workspace, scan: str, op: dict[str, Any], *extra: object) -> list[object]:
    args: list[object] = ["step", "complete", scan, "--op", op["op"], "--station",
                          STATION_OF_TYPE[op["station_type"]], "--result", "pass", *extra]
    for spec in op["data"]:
        if spec["required"]:
            args += ["--data", f"{spec['name']}={mid_value(spec)}"]
    return args


def run_ops(ws: Workspace, part: str, scan: str, serials: list[str], *, from_op: int = 0,
            to_op: int = 10_000, consume: dict[int, list[str]] | None = None) -> None:
    """Complete ops from_op <= op < to_op on a lot (or unit) scan; flash per unit."""
    for op in routing(ws, part)["operations"]:
        if not from_op <= op["op"] < to_op:
            continue
        if op.get("flash"):
            for i, sn in enumerate(serials):
                ws.ok("flash", sn, "--station", STATION_OF_TYPE[op["station_type"]],
                      "--image", "FW-OXI@1.4.2", "--mcu-uid", f"{0x3A0000 + i:024X}",
                      "--verify", "pass", user="fatima")
            continue
        if op.get("label"):
            print_labels(ws, scan)
        extra: list[object] = []
        for item in (consume or {}).get(op["op"], []):
            extra += ["--consume", item]
        ws.ok(*op_args(ws, scan, op, *extra), user="fatima")


def print_labels(ws: Workspace, scan: str) -> None:
    """The labeling op passes only with a verified label for every unit: print them (no
    origin claim, so the scenario needs no origin decision), once."""
    r = ws.mes("label", "print", scan, "--no-origin-claim", user="fatima")
    assert r.code == 0 or (r.code == 4 and "already labelled" in r.err), str(r)


def register_firmware(ws: Workspace) -> None:
    src = ws.path / "oxi-fw-1.4.2.bin"
    src.write_bytes(b"OxiSense firmware 1.4.2\n" * 64)
    ws.ok("firmware", "register", src, "--part", "FW-OXI", "--version", "1.4.2", user="tarik")
    ws.ok("firmware", "approve", "FW-OXI", "--version", "1.4.2", user="youssef")


@dataclass
class Scenario:
    """Two PCBA lots (A, B) built with one shared CAP reel, lot C with another reel;
    a device lot whose units contain boards of A, C and B in that order."""

    shared_reel: str = ""
    other_reel: str = ""
    pcba: dict[str, tuple[str, list[str]]] = field(default_factory=dict)
    enc_lot: str = ""
    dev_lot: str = ""
    devices: list[str] = field(default_factory=list)
    board_of: dict[str, str] = field(default_factory=dict)  # device serial -> board serial


def build(ws: Workspace, *, devices: int = 3) -> Scenario:
    sc = Scenario()
    register_firmware(ws)
    slots: dict[str, tuple[str, str]] = {}
    for part in (PCBA, ENC, DEV):
        load_materials(ws, part, slots)
    station, slot = slots[SHARED_REEL_PART]
    sc.shared_reel = receive(ws, SHARED_REEL_PART, 10_000, "MUR-7731-A")
    ws.ok("station", "load", station, sc.shared_reel, "--slot", slot, "--replace",
          user="fatima")
    for name in ("A", "B"):
        lot, serials = new_lot(ws, PCBA, 2)
        run_ops(ws, PCBA, lot, serials)
        sc.pcba[name] = (lot, serials)
    sc.other_reel = receive(ws, SHARED_REEL_PART, 10_000, "MUR-9000-B")
    ws.ok("station", "load", station, sc.other_reel, "--slot", slot, "--replace",
          user="fatima")
    lot, serials = new_lot(ws, PCBA, 2)
    run_ops(ws, PCBA, lot, serials)
    sc.pcba["C"] = (lot, serials)
    sc.enc_lot, _ = new_lot(ws, ENC, 4)
    run_ops(ws, ENC, sc.enc_lot, [])
    sc.dev_lot, sc.devices = new_lot(ws, DEV, devices)
    boards = [sc.pcba["A"][1][0], sc.pcba["C"][1][0], sc.pcba["B"][1][0],
              sc.pcba["C"][1][1]][:devices]
    for sn, pb in zip(sc.devices, boards, strict=True):
        run_ops(ws, DEV, sn, [sn], to_op=20, consume={10: [pb, sc.enc_lot]})
        sc.board_of[sn] = pb
    run_ops(ws, DEV, sc.dev_lot, sc.devices, from_op=20)
    return sc




