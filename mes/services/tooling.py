"""Tools under control (issue 18): molds and stencils with a life limit and a maintenance
interval, their use counted by the steps that use them, maintenance signed.

Which tools an operation uses: the mold its routing names (`molding.mold`), and the
stencil a paste-print step names in its `stencil_id` data. A mold the routing names must
be registered; a stencil id is controlled once it is registered (steps naming an
unregistered stencil are recorded as before). Use is counted in the step's transaction:
a molding import counts the report's shots (a manual molding step: qty / cavities, rounded
up); a paste-print step counts one print per board recorded (a panel print is counted per
board, which errs on the safe side of the limit).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from mes import clock
from mes.domain.ids import check_id
from mes.errors import InvalidInput, NotFound, Refused
from mes.services.auth import prepare_signature, require, sign
from mes.services.context import Context
from mes.store import resources as records
from mes.store.base import Store

KINDS = ("mold", "stencil", "fixture", "other")
TOOL_DATA = {"stencil_id": "stencil"}  # step data that names a tool, and its kind


@dataclass(frozen=True)
class ToolUse:
    tool_id: str
    count: int
    required: bool  # named by the routing: must be registered


def add_tool(ctx: Context, tool_id: str, kind: str, life: int, cavities: int | None,
             maintenance_every: int | None) -> dict[str, Any]:
    check_id(tool_id, "tool id")
    if kind not in KINDS:
        raise InvalidInput(f"--kind {kind!r}: use one of {', '.join(KINDS)}", field="kind")
    if life <= 0:
        raise InvalidInput("--life must be a positive number of uses (shots, prints)",
                           field="life")
    if maintenance_every is not None and maintenance_every <= 0:
        raise InvalidInput("--maintenance-every must be a positive number of uses",
                           field="maintenance-every")
    if cavities is not None and cavities <= 0:
        raise InvalidInput("--cavities must be positive", field="cavities")
    if kind == "mold" and cavities is None:
        raise InvalidInput("a mold needs --cavities", field="cavities")
    actor = require(ctx, "tool.add")
    store = ctx.store
    if store.get("tools", tool_id):
        raise Refused(f"tool {tool_id} is already registered: see `mes tool show {tool_id}`")
    row = {"id": tool_id, "kind": kind, "cavities": cavities, "life_limit": life,
           "maintenance_interval": maintenance_every, "uses": 0, "uses_at_maintenance": 0,
           "active": True, "created_at": clock.now_iso(), "created_by": actor.username}
    with store.transaction() as tx:
        tx.insert("tools", row)
        tx.append_audit(username=actor.username, station=ctx.station, action="tool.add",
                        entity_type="tool", entity_id=tool_id, new=row)
    return view(row)


def view(row: dict[str, Any]) -> dict[str, Any]:
    since = row["uses"] - row["uses_at_maintenance"]
    interval = row["maintenance_interval"]
    return {**row, "active": bool(row["active"]), "uses_since_maintenance": since,
            "life_left": row["life_limit"] - row["uses"],
            "maintenance_due_in": (interval - since) if interval else None}


def get_tool(ctx: Context, tool_id: str) -> dict[str, Any]:
    row = ctx.store.get("tools", tool_id)
    if row is None:
        raise NotFound(f"tool {tool_id} is not registered: see `mes tool list`")
    return {**view(row), **records.tool_history(ctx.store, tool_id)}


def list_tools(ctx: Context) -> list[dict[str, Any]]:
    return [view(r) for r in ctx.store.find("tools", order="id")]


def maintain(ctx: Context, tool_id: str, note: str) -> dict[str, Any]:
    if not note.strip():
        raise InvalidInput("maintenance needs a --note (what was done)", field="note")
    signer = prepare_signature(ctx, "tool.maintain", "authored")
    store = ctx.store
    tool = store.get("tools", tool_id)
    if tool is None:
        raise NotFound(f"tool {tool_id} is not registered: see `mes tool list`")
    if tool["uses"] >= tool["life_limit"]:
        raise Refused(f"tool {tool_id} is past its life limit ({tool['uses']} of "
                      f"{tool['life_limit']}): maintenance cannot extend it; retire it")
    row = {"tool_id": tool_id, "uses_at": tool["uses"], "note": note,
           "performed_at": clock.now_iso(), "performed_by": signer.actor.username}
    with store.transaction() as tx:
        mid = tx.insert("tool_maintenance", row, returning="id")
        if tx.update("tools", tool_id, {"uses_at_maintenance": tool["uses"]},
                     expect={"uses": tool["uses"]}) != 1:
            raise Refused(f"tool {tool_id} was used meanwhile: try again")
        tx.append_audit(username=signer.actor.username, station=ctx.station,
                        action="tool.maintain", entity_type="tool", entity_id=tool_id,
                        old={"uses_at_maintenance": tool["uses_at_maintenance"]},
                        new={"uses_at_maintenance": tool["uses"], "maintenance": mid},
                        reason=note)
        sig = sign(tx, signer, "tool-maintenance", str(mid), {"id": mid, **row})
        tx.update("tool_maintenance", mid, {"signature_id": sig["id"]})
    return {"id": mid, **row}


def uses_of(op: Any, values: dict[str, Any], records_n: int, qty: int,
            extra: dict[str, Any]) -> list[ToolUse]:
    """The tools an operation's step uses, and how many uses it counts."""
    out = []
    molding = getattr(op, "molding", None)
    if molding is not None and molding.mold:
        shots = (extra.get("molding") or {}).get("shots")
        count = int(shots) if shots is not None else math.ceil(qty / max(molding.cavities, 1))
        out.append(ToolUse(molding.mold, count, True))
    for name in TOOL_DATA:
        if values.get(name):
            out.append(ToolUse(str(values[name]).upper(), records_n, False))
    return out


def check_usable(store: Store, uses: list[ToolUse], op: Any) -> None:
    """Step interlock: a tool past its life limit or due for maintenance is refused."""
    for use in uses:
        tool = store.get("tools", use.tool_id)
        if tool is None:
            if use.required:
                raise Refused(f"op {op.op} ({op.name}) uses tool {use.tool_id}, which is not "
                              "registered: ask a technician to `mes tool add` it")
            continue
        if not tool["active"]:
            raise Refused(f"tool {use.tool_id} is retired: mount another")
        if tool["uses"] >= tool["life_limit"]:
            raise Refused(f"tool {use.tool_id} is past its life limit ({tool['uses']} of "
                          f"{tool['life_limit']} uses): retire it and mount another")
        interval = tool["maintenance_interval"]
        since = tool["uses"] - tool["uses_at_maintenance"]
        if interval and since >= interval:
            raise Refused(f"tool {use.tool_id} is due for maintenance ({since} uses since the "
                          f"last, interval {interval}): maintain it (`mes tool maintain`)")


def count(tx: Store, uses: list[ToolUse], lot_id: str, op: int, station: str,
          step_ids: list[int], source: str | None, username: str | None) -> None:
    """Count the step's tool use in its transaction (registered tools only)."""
    for use in uses:
        tool = tx.get("tools", use.tool_id)
        if tool is None:
            continue
        total = records.count_tool_use(tx, use.tool_id, use.count)
        tx.insert("tool_uses", {"tool_id": use.tool_id, "lot_id": lot_id,
                                "step_id": step_ids[0] if step_ids else None, "op": op,
                                "station_id": station, "count": use.count,
                                "uses_after": total, "source": source,
                                "at": clock.now_iso()})
        tx.append_audit(username=username, station=station, action="tool.use",
                        entity_type="tool", entity_id=use.tool_id,
                        old={"uses": tool["uses"]}, new={"uses": total, "lot": lot_id,
                                                         "op": op, "count": use.count})


def dhr_section(store: Store, lot_ids: list[str]) -> list[dict[str, Any]]:
    """The tools (mold, stencil) used for the lot and its sublots, with the count."""
    return [{"lot": u["lot_id"], "op": u["op"], "tool": u["tool_id"], "kind": u["kind"],
             "cavities": u["cavities"], "count": u["count"], "uses_after": u["uses_after"],
             "station": u["station_id"], "at": u["at"]}
            for u in records.tool_uses_of_lots(store, lot_ids)]
