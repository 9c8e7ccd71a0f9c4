"""Production lots and their units: creation, holds, views."""

from __future__ import annotations

import json
from typing import Any

from mes import clock
from mes.domain.ids import lot_number, serial_number
from mes.errors import InvalidInput, NotFound, Refused
from mes.services.auth import check_site, prepare_signature, require, sign, signatures_for
from mes.services.context import Context
from mes.services.routings import approved_routing, get_part
from mes.services.workspace import site
from mes.store import genealogy
from mes.store import quality as quality_store
from mes.store.base import Store

MAX_LOT_QTY = 100_000
LOT_STATUSES = ("in_process", "completed", "released", "shipped", "scrapped", "cancelled",
                "hold")


def create_lot(ctx: Context, part_number: str, qty: int, site_id: str | None = None
               ) -> dict[str, Any]:
    actor = require(ctx, "lot.create")
    site_id = site_id.upper() if site_id else None
    if site_id is None and actor.sites is not None and len(actor.sites) == 1:
        site_id = actor.sites[0]  # a user of one site makes that site's lots (issue 20)
    if actor.sites is not None:
        check_site(ctx, actor, "lot.create", site_id or site(ctx)["id"])
    if not 1 <= qty <= MAX_LOT_QTY:
        raise InvalidInput(f"--qty must be between 1 and {MAX_LOT_QTY}", field="qty")
    store = ctx.store
    part = get_part(store, part_number)
    routing = approved_routing(store, part_number)  # frozen: the lot keeps this version
    the_site = site(ctx, site_id)
    now = clock.now()
    with store.transaction() as tx:
        yymm = f"{now:%y%m}"
        lot_id = lot_number(yymm, tx.next_counter(f"lot:{yymm}"))
        tx.claim_id(lot_id, "lot")
        tx.insert("lots", {"id": lot_id, "part": part_number, "routing_version": routing.version,
                           "site_id": the_site["id"], "qty": qty, "serialized": part.serialized,
                           "status": "in_process", "created_at": clock.now_iso(),
                           "created_by": actor.username})
        serials: list[str] = []
        if part.serialized:
            for _ in range(qty):
                serial = serial_number(part.serial_prefix,
                                       tx.next_counter(f"serial:{part.serial_prefix}"))
                tx.claim_id(serial, "unit")
                serials.append(serial)
            tx.insert_many("units", ("serial", "lot_id", "status"),
                           [(s, lot_id, "in_process") for s in serials])
        tx.append_audit(username=actor.username, station=ctx.station, action="lot.create",
                        entity_type="lot", entity_id=lot_id,
                        new={"part": part_number, "qty": qty, "routing_version": routing.version,
                             "serials": serials})
    return {"lot": lot_id, "part": part_number, "qty": qty, "routing_version": routing.version,
            "serials": serials}


def resolve(store: Store, scan: str) -> tuple[str, dict[str, Any]]:
    """What a scanned identifier is: ('lot'|'unit'|'material'|'firmware', row)."""
    item = store.get("items", scan)
    if item is None:
        raise NotFound(f"{scan} is not a known lot, serial or material: check the label and "
                       "scan again")
    table = {"lot": "lots", "unit": "units", "material": "material_lots",
             "firmware": "firmware", "container": "containers"}[item["kind"]]
    row = store.get(table, scan)
    if row is None:
        raise NotFound(f"{scan} is registered as a {item['kind']} but has no record")
    return item["kind"], row


def get_lot(store: Store, lot_id: str) -> dict[str, Any]:
    row = store.get("lots", lot_id)
    if row is None:
        raise NotFound(f"no lot {lot_id}: see `mes lot list`")
    return row


def set_hold(ctx: Context, item_id: str, hold: bool, reason: str) -> dict[str, Any]:
    """Hold or release-from-hold a lot or unit: quality, signed."""
    # the role before the record: a refusal learns nothing about it
    require(ctx, _hold_action(ctx.store, item_id, hold), item_id)
    if not reason.strip():
        raise InvalidInput("a hold or unhold needs a --reason", field="reason")
    store = ctx.store
    kind, row = resolve(store, item_id)
    if kind not in ("lot", "unit", "material"):
        raise Refused(f"{item_id} is a {kind}: only lots, units and materials can be held")
    if bool(row["on_hold"]) == hold:
        raise Refused(f"{kind} {item_id} is {'already' if hold else 'not'} on hold")
    if not hold:
        open_ncr = quality_store.open_ncr_naming(store, item_id)
        if open_ncr:
            raise Refused(f"{item_id} has open {open_ncr['id']}: disposition and close the NCR "
                          "instead of unholding")
    action = ("lot.hold" if hold else "lot.unhold") if kind != "material" else (
        "material.hold")
    signer = prepare_signature(ctx, action, "held" if hold else "unheld", item_id)
    table = {"lot": "lots", "unit": "units", "material": "material_lots"}[kind]
    with store.transaction() as tx:
        changes: dict[str, Any] = {"on_hold": hold}
        if table != "material_lots":
            changes["hold_reason"] = reason if hold else None
        n = tx.update(table, item_id, changes, expect={"on_hold": not hold})
        if n != 1:
            raise Refused(f"{item_id} changed meanwhile: try again")
        tx.append_audit(username=signer.actor.username, station=ctx.station,
                        action=f"{kind}.{'hold' if hold else 'unhold'}", entity_type=kind,
                        entity_id=item_id, old={"on_hold": not hold}, new={"on_hold": hold},
                        reason=reason)
        sign(tx, signer, kind, item_id, {"id": item_id, "on_hold": hold, "reason": reason})
    return {"id": item_id, "kind": kind, "on_hold": hold, "reason": reason}


# -- planning corrections (signed): a lot nothing has been done on ---------------------------

def _untouched_lot(ctx: Context, lot_id: str, what: str, reason: str) -> dict[str, Any]:
    if not reason.strip():
        raise InvalidInput(f"{what} needs a --reason (recorded and signed)", field="reason")
    lot = get_lot(ctx.store, lot_id)
    if lot["status"] != "in_process":
        raise Refused(f"lot {lot_id} is {lot['status']}: only a lot in process can be "
                      f"{what.split()[0]}ed")
    done = ctx.store.find("steps", {"lot_id": lot_id})
    if done:
        raise Refused(f"lot {lot_id} has {len(done)} step record(s): it is under way, so it "
                      "cannot be changed this way: open an NCR to scrap what is not needed")
    return lot


def cancel_lot(ctx: Context, lot_id: str, reason: str) -> dict[str, Any]:
    """A lot no step was recorded on (e.g. its routing version was superseded) is cancelled,
    with its units, so it does not stay stranded in process. Nothing is deleted."""
    require(ctx, "lot.cancel", lot_id)  # the role (and site) before the record
    _untouched_lot(ctx, lot_id, "cancel", reason)
    units = [u["serial"] for u in ctx.store.find("units", {"lot_id": lot_id}, order="serial")]
    signer = prepare_signature(ctx, "lot.cancel", "cancelled", lot_id)
    with ctx.store.transaction() as tx:
        if tx.update("lots", lot_id, {"status": "cancelled"}, expect={"status": "in_process"}
                     ) != 1:
            raise Refused(f"lot {lot_id} changed meanwhile: try again")
        for serial in units:
            tx.update("units", serial, {"status": "cancelled"})
            tx.append_audit(username=signer.actor.username, station=ctx.station,
                            action="unit.cancel", entity_type="unit", entity_id=serial,
                            old={"status": "in_process"}, new={"status": "cancelled"},
                            reason=reason)
        tx.append_audit(username=signer.actor.username, station=ctx.station,
                        action="lot.cancel", entity_type="lot", entity_id=lot_id,
                        old={"status": "in_process"}, new={"status": "cancelled"},
                        reason=reason)
        sign(tx, signer, "lot", lot_id, {"lot": lot_id, "status": "cancelled",
                                         "units": units, "reason": reason})
    return {"lot": lot_id, "status": "cancelled", "units": units, "reason": reason}


def adjust_qty(ctx: Context, lot_id: str, qty: int, reason: str) -> dict[str, Any]:
    """Change the planned quantity of a lot no step was recorded on. A serialized lot can
    grow (new serials); it cannot shrink (its serials exist: cancel it and create another)."""
    require(ctx, "lot.adjust", lot_id)  # the role (and site) before the record
    if not 1 <= qty <= MAX_LOT_QTY:
        raise InvalidInput(f"--qty must be between 1 and {MAX_LOT_QTY}", field="qty")
    lot = _untouched_lot(ctx, lot_id, "adjust", reason)
    if qty == lot["qty"]:
        raise Refused(f"lot {lot_id} is already planned for {qty}")
    if lot["serialized"] and qty < lot["qty"]:
        raise Refused(f"lot {lot_id} is serialized and its {lot['qty']} serials exist: it "
                      "cannot shrink: cancel it (`mes lot cancel`) and create a lot of "
                      f"{qty}")
    part = get_part(ctx.store, lot["part"])
    signer = prepare_signature(ctx, "lot.adjust", "adjusted", lot_id)
    with ctx.store.transaction() as tx:
        if tx.update("lots", lot_id, {"qty": qty}, expect={"qty": lot["qty"],
                                                           "status": "in_process"}) != 1:
            raise Refused(f"lot {lot_id} changed meanwhile: try again")
        added: list[str] = []
        for _ in range(qty - lot["qty"] if lot["serialized"] else 0):
            serial = serial_number(part.serial_prefix,
                                   tx.next_counter(f"serial:{part.serial_prefix}"))
            tx.claim_id(serial, "unit")
            tx.insert("units", {"serial": serial, "lot_id": lot_id, "status": "in_process"})
            added.append(serial)
        tx.append_audit(username=signer.actor.username, station=ctx.station,
                        action="lot.adjust", entity_type="lot", entity_id=lot_id,
                        old={"qty": lot["qty"]}, new={"qty": qty, "serials": added},
                        reason=reason)
        sign(tx, signer, "lot", lot_id, {"lot": lot_id, "qty": qty, "old_qty": lot["qty"],
                                         "serials_added": added, "reason": reason})
    return {"lot": lot_id, "qty": qty, "old_qty": lot["qty"], "serials": added,
            "reason": reason}


def _hold_action(store: Store, item_id: str, hold: bool) -> str:
    """The permission a hold needs; what kind of record an id names is not its state."""
    try:
        kind, _ = resolve(store, item_id)
    except NotFound:
        kind = "lot"
    return "material.hold" if kind == "material" else ("lot.hold" if hold else "lot.unhold")


def lot_view(ctx: Context, lot_id: str) -> dict[str, Any]:
    store = ctx.store
    kind, row = resolve(store, lot_id)
    if kind == "unit":
        return unit_view(ctx, lot_id)
    if kind != "lot":
        raise NotFound(f"{lot_id} is a {kind}, not a lot: try `mes {kind} show`")
    lot = row
    part = get_part(store, lot["part"])
    units = store.find("units", {"lot_id": lot_id}, order="serial")
    steps = store.find("steps", {"lot_id": lot_id}, order="id")
    edges = genealogy.edges_of_lot(store, lot_id)
    counts: dict[str, int] = {}
    for u in units:
        counts[u["status"]] = counts.get(u["status"], 0) + 1
    return {
        "lot": lot_id, "part": lot["part"], "part_name": part.name, "qty": lot["qty"],
        "routing_version": lot["routing_version"], "status": lot["status"],
        "on_hold": bool(lot["on_hold"]), "hold_reason": lot["hold_reason"],
        "serialized": bool(lot["serialized"]), "created_at": lot["created_at"],
        "created_by": lot["created_by"], "completed_at": lot["completed_at"],
        "released_at": lot["released_at"], "qty_scrapped": lot["qty_scrapped"],
        "qty_released": lot["qty_released"], "qty_shipped": lot["qty_shipped"],
        "remaining": lot["remaining"],
        "units": [{"serial": u["serial"], "status": u["status"], "on_hold": bool(u["on_hold"]),
                   "hold_reason": u["hold_reason"], "mcu_uid": u["mcu_uid"],
                   "consumed_into": u["consumed_into"]} for u in units],
        "unit_status_counts": counts,
        "steps": [_step_view(s) for s in steps],
        "consumed": [{"into": e["parent"], "item": e["child"], "kind": e["child_kind"],
                      "qty": e["qty"], "op": e["op"], "station": e["station_id"],
                      "refdes": e["refdes"], "feeder": e["feeder"], "at": e["at"]}
                     for e in edges],
        "signatures": signatures_for(store, "lot", lot_id),
    }


def unit_view(ctx: Context, serial: str) -> dict[str, Any]:
    store = ctx.store
    unit = store.get("units", serial)
    if unit is None:
        raise NotFound(f"no unit {serial}")
    steps = store.find("steps", {"serial": serial}, order="id")
    return {"serial": serial, "lot": unit["lot_id"], "status": unit["status"],
            "on_hold": bool(unit["on_hold"]), "hold_reason": unit["hold_reason"],
            "mcu_uid": unit["mcu_uid"], "consumed_into": unit["consumed_into"],
            "steps": [_step_view(s) for s in steps],
            "signatures": signatures_for(store, "unit", serial)}


def _step_view(s: dict[str, Any]) -> dict[str, Any]:
    return {"id": s["id"], "serial": s["serial"], "op": s["op"], "station": s["station_id"],
            "user": s["username"], "started_at": s["started_at"],
            "completed_at": s["completed_at"], "status": s["status"], "result": s["result"],
            "attempt": s["attempt"], "data": json.loads(s["data"]) if s["data"] else {},
            "source": s["source"]}


def list_lots(ctx: Context, status: str | None, part: str | None) -> list[dict[str, Any]]:
    where: dict[str, Any] = {}
    if status is not None and status not in LOT_STATUSES:
        raise InvalidInput(f"--status {status!r}: one of {', '.join(LOT_STATUSES)}",
                           field="status")
    if status == "hold":
        where["on_hold"] = 1
    elif status:
        where["status"] = status
    if part:
        where["part"] = part
    rows = ctx.store.find("lots", where, order="id")
    return [{"lot": r["id"], "part": r["part"], "qty": r["qty"], "status": r["status"],
             "on_hold": bool(r["on_hold"]), "routing_version": r["routing_version"],
             "created_at": r["created_at"], "created_by": r["created_by"]} for r in rows]
