"""Moisture-sensitive reels (issue 18, IPC/JEDEC J-STD-033): the exposure clock of a
material lot whose part has an MSL, recorded as events, and the floor-life interlock.

Loading an MSL reel that is still in its dry pack records the pack opened (the operator
opens it to load it). Loading, consuming, and a CFX MaterialsInstalled (at the message's
own time, not the import's) are refused once the floor life is used up.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mes import clock
from mes.domain import moisture as msd
from mes.domain.ids import normalise_scan
from mes.errors import InvalidInput, NotFound, Refused
from mes.services.auth import require
from mes.services.context import Context
from mes.services.routings import get_part
from mes.store import moisture as records
from mes.store.base import Store


def _msl(store: Store, material: dict[str, Any]) -> str | None:
    return get_part(store, material["part"]).msl


def exposure(store: Store, material: dict[str, Any], at: datetime | None = None
             ) -> msd.Exposure | None:
    msl = _msl(store, material)
    if msl is None:
        return None
    evs = [(e["at"], e["event"]) for e in records.events(store, material["id"])]
    return msd.exposure(msl, evs, at or clock.now())


def view(store: Store, material: dict[str, Any]) -> dict[str, Any] | None:
    exp = exposure(store, material)
    if exp is None:
        return None
    left = exp.remaining
    return {"msl": _msl(store, material), "state": exp.state,
            "exposed_h": round(exp.hours, 2),
            "floor_life_h": exp.floor_life, "remaining_h": None if left is None
            else round(left, 2)}


def check_floor_life(store: Store, material_id: str, at: datetime | None = None) -> None:
    """Interlock: a reel past its floor life is refused (bake it first)."""
    material = store.get("material_lots", material_id)
    if material is None:
        return
    if at is not None and at > clock.now():
        at = None  # a machine clock ahead of ours: exposure is known up to now only
    exp = exposure(store, material, at)
    if exp is not None and exp.expired:
        when = f" at {at.isoformat(timespec='seconds')}" if at else ""
        raise Refused(f"material {material_id} (MSL {_msl(store, material)}) is past its "
                      f"floor life{when}: {exp.hours:.1f} h exposed of {exp.floor_life:g} h; "
                      f"bake it (`mes material bake {material_id}`) before use")


def at_load(tx: Store, material: dict[str, Any], username: str) -> dict[str, Any] | None:
    """In the load's transaction: refuse a reel past floor life, open a sealed one."""
    check_floor_life(tx, material["id"])
    exp = exposure(tx, material)
    if exp is not None and exp.state != "open":
        _insert(tx, material["id"], "open", username, "station load")
    return view(tx, material)


def annotate(store: Store, rows: list[dict[str, Any]]) -> None:
    """Remaining floor life (hours) on each listed material lot of an MSL part."""
    for r in rows:
        v = view(store, r)
        r["floor_life_left_h"] = v["remaining_h"] if v else None
        r["moisture"] = v["state"] if v else None


def record(ctx: Context, material_id: str, event: str) -> dict[str, Any]:
    if event not in msd.EVENTS:
        raise InvalidInput(f"moisture event {event!r}: use one of {', '.join(msd.EVENTS)}",
                           field="event")
    actor = require(ctx, "material.moisture")
    store = ctx.store
    mid = normalise_scan(material_id)
    material = store.get("material_lots", mid)
    if material is None:
        raise NotFound(f"material {mid} is not known: see `mes material list`")
    exp = exposure(store, material)
    if exp is None:
        raise Refused(f"material {mid} ({material['part']}) has no MSL in the catalog: it is "
                      "not moisture-sensitive")
    why = msd.allowed_next(exp.state, event)
    if why:
        raise Refused(f"material {mid} cannot be recorded {event}: {why}")
    with store.transaction() as tx:
        _insert(tx, mid, event, actor.username, None)
    return {"material": mid, "event": event, **(view(store, material) or {})}


def _insert(tx: Store, material_id: str, event: str, username: str, source: str | None
            ) -> None:
    row = {"material_id": material_id, "event": event, "at": clock.now_iso(),
           "username": username, "source": source}
    tx.insert("material_moisture", row)
    tx.append_audit(username=username, station=None, action=f"material.{event}",
                    entity_type="material", entity_id=material_id, new=row)


def dhr_section(src: Any) -> list[dict[str, Any]]:
    """Each MSL material in the lot's tree: its exposure at its last consumption there."""
    last: dict[str, str] = {}
    for e in src.edges:
        if e.get("child_kind") == "material":
            last[e["child"]] = max(last.get(e["child"], e["at"]), e["at"])
    out = []
    for mid in sorted(last):
        material = src.store.get("material_lots", mid)
        exp = exposure(src.store, material, datetime.fromisoformat(last[mid])) \
            if material else None
        if material is None or exp is None:
            continue
        out.append({"material": mid, "part": material["part"],
                    "msl": _msl(src.store, material), "last_consumed_at": last[mid],
                    "exposed_h": round(exp.hours, 2), "floor_life_h": exp.floor_life})
    return out
