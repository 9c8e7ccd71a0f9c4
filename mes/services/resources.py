"""Plant resources at the op (issue 18): the calls the step path makes, and the DHR
sections. Kept here so steps.py and dhr.py each carry one line per place."""

from __future__ import annotations

from typing import Any

from mes.services import calibration, instructions, moisture, tooling, training
from mes.store.base import Store


def check_station(store: Store, station_id: str) -> None:
    """Interlocks on the station itself beyond its type and due date."""
    calibration.check_calibration(store, station_id)


def check_training(store: Store, username: str, t: Any) -> dict[str, Any] | None:
    """The work instruction in force for the op, and the operator's training on it."""
    return training.check_at_op(store, username, t.lot["part"], t.op)


def check_tools(tx: Store, t: Any, values: dict[str, Any], extra: dict[str, Any]
                ) -> list[tooling.ToolUse]:
    """Interlocks on the tools the step uses; returns the uses to count once recorded."""
    qty = int(t.lot["qty"] - t.lot["qty_scrapped"])
    uses = tooling.uses_of(t.op, values, len(t.keys), qty, extra)
    tooling.check_usable(tx, uses, t.op)
    return uses


def count_tools(tx: Store, t: Any, req: Any, uses: list[tooling.ToolUse],
                username: str | None) -> None:
    tooling.count(tx, uses, t.lot["id"], t.op.op, req.station, [], req.source, username)


def check_material(tx: Store, item: str, kind: str, at: Any = None) -> None:
    """Interlock on a material consumed (a moisture-sensitive reel past floor life)."""
    if kind == "material":
        moisture.check_floor_life(tx, item, at)


def _calibration(src: Any) -> list[dict[str, Any]]:
    return calibration.dhr_section(src.store, src.steps, src.users)


def _tooling(src: Any) -> list[dict[str, Any]]:
    lots = [src.lot_id, *(x["id"] for x in src.details.get("lots", []))]
    return tooling.dhr_section(src.store, lots)


DHR_SECTIONS = [("calibration", _calibration), ("tooling", _tooling),
                ("moisture", moisture.dhr_section), ("instructions", instructions.dhr_section)]
