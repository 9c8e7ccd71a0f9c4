"""Nonconformances, lot release, shipping and the yield report."""

from __future__ import annotations

import json
import statistics
from datetime import datetime
from typing import Any

from mes import clock
from mes.domain.ids import normalise_scan
from mes.errors import InvalidInput, NotFound, Refused
from mes.services.auth import prepare_signature, require, sign, signatures_for
from mes.services.context import Context
from mes.services.lots import get_lot, resolve
from mes.services.routings import routing_version
from mes.services.steps import Target, _complete_if_done, _complete_lot_if_done, passed_ops
from mes.store import lots as lots_store
from mes.store import quality as quality_store
from mes.store import routings as routings_store
from mes.store import steps as steps_store
from mes.store.base import Store

ACTIONS = ("rework", "use-as-is", "scrap", "return-to-supplier")
# Units that can no longer be held, reworked or scrapped by an NCR.
FINAL_UNIT = frozenset({"scrapped", "shipped", "consumed"})


# -- NCR -----------------------------------------------------------------------------------

def _ncr(store: Store, ncr_id: str) -> dict[str, Any]:
    row = store.get("ncrs", normalise_scan(ncr_id))
    if row is None:
        raise NotFound(f"no {ncr_id}: see `mes ncr list`")
    return row


def _target_kind(store: Store, ncr: dict[str, Any]) -> str:
    item = store.get("items", ncr["lot_id"])
    return item["kind"] if item else "lot"


def ncr_view(store: Store, row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "item": row["lot_id"], "kind": _target_kind(store, row),
            "lot": row["lot_id"], "units": json.loads(row["units"] or "[]"),
            "description": row["description"], "status": row["status"],
            "action": row["action"], "justification": row["justification"],
            "rework_op": row["rework_op"], "opened_by": row["opened_by"],
            "opened_at": row["opened_at"], "dispositioned_at": row["dispositioned_at"],
            "closed_at": row["closed_at"],
            "signatures": signatures_for(store, "ncr", row["id"])}


def open_ncr(ctx: Context, item_id: str, description: str, units: list[str] | None = None
             ) -> dict[str, Any]:
    """Open an NCR on a lot (or some of its units) or a material lot; puts them on hold."""
    require(ctx, "ncr.open", item_id)  # the role before the record: a refusal learns nothing
    if not description.strip():
        raise InvalidInput("an NCR needs a --description of what is wrong", field="description")
    store = ctx.store
    kind, row = resolve(store, normalise_scan(item_id))
    serials = [normalise_scan(u) for u in (units or []) if u.strip()]
    if kind == "unit":
        serials = [row["serial"], *[s for s in serials if s != row["serial"]]]
        kind, row = "lot", get_lot(store, row["lot_id"])
    if kind not in ("lot", "material"):
        raise Refused(f"{item_id} is a {kind}: open an NCR on a lot, unit or material lot")
    target = row["id"]
    unit_rows: list[dict[str, Any]] = []
    if serials:
        if kind != "lot" or not row["serialized"]:
            raise InvalidInput(f"--units: {target} is not a serialized lot", field="units")
        for s in dict.fromkeys(serials):
            u = store.get("units", s)
            if u is None or u["lot_id"] != target:
                raise NotFound(f"{s} is not a unit of lot {target}: check the serial "
                               f"(`mes lot show {target}` lists them)")
            if u["status"] in FINAL_UNIT:
                raise Refused(f"{s} is {u['status']}: an NCR can no longer hold it")
            unit_rows.append(u)
    actor = require(ctx, "ncr.open")
    now = clock.now_iso()
    with store.transaction() as tx:
        ncr_id = f"NCR-{tx.next_counter('ncr'):04d}"
        listed = [u["serial"] for u in unit_rows]
        tx.insert("ncrs", {"id": ncr_id, "lot_id": target, "units": listed,
                           "description": description.strip(), "status": "open",
                           "opened_by": actor.username, "opened_at": now})
        tx.append_audit(username=actor.username, station=ctx.station, action="ncr.open",
                        entity_type="ncr", entity_id=ncr_id,
                        new={"item": target, "kind": kind, "units": listed,
                             "description": description.strip()})
        held = []
        if kind == "material":
            targets: list[tuple[str, str, dict[str, Any]]] = [("material_lots", target, row)]
        elif listed:
            targets = [("units", u["serial"], u) for u in unit_rows]
        else:
            targets = [("lots", target, row)]
        for table, key, checked in targets:
            r = tx.get(table, key) or checked  # as it is now, not as it was when checked
            if table == "units" and r["status"] in FINAL_UNIT:
                raise Refused(f"{key} became {r['status']} meanwhile: an NCR can no longer "
                              "hold it")
            changes: dict[str, Any] = {"on_hold": True}
            if table != "material_lots":
                changes["hold_reason"] = ncr_id
            tx.update(table, key, changes)
            tx.append_audit(username=actor.username, station=ctx.station, action="hold.ncr",
                            entity_type={"units": "unit", "lots": "lot"}.get(table, "material"),
                            entity_id=key,
                            old={"on_hold": bool(r["on_hold"]),
                                 "hold_reason": r.get("hold_reason")},
                            new={"on_hold": True, **({"hold_reason": ncr_id}
                                                     if table != "material_lots" else {})},
                            reason=ncr_id)
            held.append(key)
    out = ncr_view(store, _ncr(store, ncr_id))
    out["held"] = held
    return out


def disposition(ctx: Context, ncr_id: str, action: str, justification: str | None,
                op: int | None = None, qty: int | None = None) -> dict[str, Any]:
    """Quality decides (signed): rework from an op, use as is, scrap, return to supplier."""
    require(ctx, "ncr.disposition", ncr_id)  # the role before the record: a refusal learns nothing
    store = ctx.store
    ncr = _ncr(store, ncr_id)
    action = action.strip().lower()
    if action not in ACTIONS:
        raise InvalidInput(f"--action {action!r}: one of {', '.join(ACTIONS)}", field="action")
    if ncr["status"] != "open":
        raise Refused(f"{ncr['id']} is {ncr['status']}: only an open NCR can be dispositioned")
    just = (justification or "").strip() or None
    if action == "use-as-is" and not just:
        raise InvalidInput("use-as-is is a concession: give a --justification",
                           field="justification")
    kind = _target_kind(store, ncr)
    plan = _plan_disposition(store, ncr, kind, action, op, qty)
    signer = prepare_signature(ctx, "ncr.disposition", "dispositioned", ncr["id"])
    now = clock.now_iso()
    who = signer.actor.username
    with store.transaction() as tx:
        n = tx.update("ncrs", ncr["id"], {"status": "dispositioned", "action": action,
                                          "justification": just,
                                          "rework_op": op if action == "rework" else None,
                                          "dispositioned_at": now}, expect={"status": "open"})
        if n != 1:
            raise Refused(f"{ncr['id']} changed meanwhile: try again")
        _apply(tx, ctx, who, ncr, kind, action, op, plan, now)
        tx.append_audit(username=who, station=ctx.station, action="ncr.disposition",
                        entity_type="ncr", entity_id=ncr["id"], old={"status": "open"},
                        new={"status": "dispositioned", "action": action, "rework_op": op,
                             "qty": plan.get("qty"), "units": plan.get("units")},
                        reason=just)
        sign(tx, signer, "ncr", ncr["id"],
             {**ncr, "status": "dispositioned", "action": action, "justification": just,
              "rework_op": op if action == "rework" else None, "dispositioned_at": now})
    return ncr_view(store, _ncr(store, ncr["id"]))


def _plan_disposition(store: Store, ncr: dict[str, Any], kind: str, action: str,
                      op: int | None, qty: int | None) -> dict[str, Any]:
    """Check everything before the transaction: a refusal changes nothing."""
    if kind == "material":
        if action == "rework":
            raise Refused("a material lot cannot be reworked: use return-to-supplier, scrap "
                          "or use-as-is")
        return {}
    if action == "return-to-supplier":
        raise Refused("return-to-supplier is for material lots: this NCR is on lot "
                      f"{ncr['lot_id']}")
    lot = get_lot(store, ncr["lot_id"])
    listed = json.loads(ncr["units"] or "[]")
    if lot["serialized"]:
        if qty is not None:
            raise InvalidInput("--qty is for non-serialized lots: list the units on the NCR",
                               field="qty")
        rows = [store.get("units", s) for s in listed] if listed else \
            store.find("units", {"lot_id": lot["id"]}, order="serial")
        units = [u for u in rows if u is not None and u["status"] not in FINAL_UNIT]
        plan: dict[str, Any] = {"lot": lot, "units": [u["serial"] for u in units],
                                "unit_rows": units}
    else:
        plan = {"lot": lot, "units": []}
    if action == "rework":
        if op is None:
            raise InvalidInput("rework needs --op N: the operation the rework restarts from",
                               field="op")
        routing = routing_version(store, lot["part"], lot["routing_version"])
        if routing.operation(op) is None:
            ops = ", ".join(str(o.op) for o in routing.operations)
            raise NotFound(f"routing {lot['part']} v{lot['routing_version']} has no op {op}: "
                           f"its operations are {ops}")
        if lot["status"] in ("released", "shipped", "scrapped"):
            raise Refused(f"lot {lot['id']} is {lot['status']}: it cannot be reworked")
        released = [u["serial"] for u in plan.get("unit_rows", []) if u["status"] == "released"]
        if released:
            raise Refused(f"{released[0]} is released: it cannot be reworked")
        if lot["serialized"] and not plan["units"]:
            raise Refused(f"{ncr['id']}: no unit left to rework")
    elif op is not None:
        raise InvalidInput("--op is only for rework", field="op")
    if action == "scrap":
        if lot["serialized"]:
            if not plan["units"]:
                raise Refused(f"{ncr['id']}: no unit left to scrap")
        else:
            left = lot["qty"] - lot["qty_scrapped"]
            if qty is None:
                raise InvalidInput(f"lot {lot['id']} is not serialized: give --qty to scrap "
                                   f"(at most {left})", field="qty")
            if not 1 <= qty <= left:
                raise InvalidInput(f"--qty must be between 1 and {left}", field="qty")
            plan["qty"] = qty
    elif qty is not None and not lot["serialized"]:
        raise InvalidInput("--qty is only for scrap", field="qty")
    return plan


def _apply(tx: Store, ctx: Context, who: str, ncr: dict[str, Any], kind: str, action: str,
           op: int | None, plan: dict[str, Any], now: str) -> None:
    if kind == "material":
        if action in ("scrap", "return-to-supplier"):
            m = tx.get("material_lots", ncr["lot_id"]) or {}
            # Scrapped or sent back: none of it is left to use (a record of what happened,
            # the quantity the lot had stays in the audit event).
            tx.update("material_lots", ncr["lot_id"], {"status": "rejected", "remaining": 0})
            tx.append_audit(username=who, station=ctx.station, action=f"material.{action}",
                            entity_type="material", entity_id=ncr["lot_id"],
                            old={"status": m.get("status"), "remaining": m.get("remaining")},
                            new={"status": "rejected", "remaining": 0}, reason=ncr["id"])
        return
    lot = plan["lot"]
    if action == "use-as-is":
        _concede_failed_steps(tx, ctx, who, ncr, plan, now)
    elif action == "rework":
        if lot["serialized"]:
            for u in plan["unit_rows"]:
                status = "in_process"
                tx.update("units", u["serial"], {"rework_op": op, "rework_at": now,
                                                 "status": status})
                tx.append_audit(username=who, station=ctx.station, action="unit.rework",
                                entity_type="unit", entity_id=u["serial"],
                                old={"status": u["status"], "rework_op": u["rework_op"]},
                                new={"status": status, "rework_op": op, "rework_at": now},
                                reason=ncr["id"])
        else:
            tx.update("lots", lot["id"], {"rework_op": op, "rework_at": now})
            tx.append_audit(username=who, station=ctx.station, action="lot.rework",
                            entity_type="lot", entity_id=lot["id"],
                            old={"rework_op": lot["rework_op"]},
                            new={"rework_op": op, "rework_at": now}, reason=ncr["id"])
        if lot["status"] == "completed":
            tx.update("lots", lot["id"], {"status": "in_process"})
            tx.append_audit(username=who, station=ctx.station, action="lot.reopen",
                            entity_type="lot", entity_id=lot["id"],
                            old={"status": "completed"}, new={"status": "in_process"},
                            reason=ncr["id"])
    elif action == "scrap":
        if lot["serialized"]:
            for u in plan["unit_rows"]:
                tx.update("units", u["serial"], {"status": "scrapped"})
                tx.append_audit(username=who, station=ctx.station, action="unit.scrap",
                                entity_type="unit", entity_id=u["serial"],
                                old={"status": u["status"]}, new={"status": "scrapped"},
                                reason=ncr["id"])
            n = len(plan["unit_rows"])
        else:
            n = plan["qty"]
            if lot["status"] in ("completed", "released") and lot["remaining"] > 0:
                tx.decrement("lots", lot["id"], "remaining", min(n, lot["remaining"]))
        tx.increment("lots", lot["id"], "qty_scrapped", n)
        tx.append_audit(username=who, station=ctx.station, action="lot.scrap",
                        entity_type="lot", entity_id=lot["id"],
                        old={"qty_scrapped": lot["qty_scrapped"]},
                        new={"qty_scrapped": lot["qty_scrapped"] + n}, reason=ncr["id"])
        _settle_lot(tx, who, ctx.station, lot["id"], ncr["id"], now)


def _concede_failed_steps(tx: Store, ctx: Context, who: str, ncr: dict[str, Any],
                          plan: dict[str, Any], now: str) -> None:
    """Use-as-is accepts the item as it stands: an op whose last attempt failed (the failure
    the NCR is about) is recorded as passed by concession, a new step pointing at the NCR,
    so the unit continues from where it stood instead of repeating the op."""
    lot = plan["lot"]
    routing = routing_version(tx, lot["part"], lot["routing_version"])
    units = plan.get("unit_rows") or []
    for serial in [u["serial"] for u in units] if lot["serialized"] else [None]:
        where = {"serial": serial} if serial else {"lot_id": lot["id"], "serial": None}
        rows = tx.find("steps", where, order="id")
        last = {r["op"]: r for r in rows if r["status"] in ("passed", "failed")}
        conceded = [r for _, r in sorted(last.items()) if r["status"] == "failed"]
        for failed in conceded:
            attempt = max(r["attempt"] for r in rows if r["op"] == failed["op"]) + 1
            data = json.loads(failed["data"]) if failed["data"] else {}
            source = f"ncr:{ncr['id']}"
            step_id = tx.insert("steps", {
                "lot_id": lot["id"], "serial": serial, "op": failed["op"],
                "station_id": failed["station_id"], "site_id": failed["site_id"],
                "username": who, "started_at": now,
                "completed_at": now, "status": "passed", "result": "use-as-is", "data": data,
                "attempt": attempt, "source": source}, returning="id")
            tx.append_audit(username=who, station=ctx.station, action="step.complete",
                            entity_type="unit" if serial else "lot",
                            entity_id=serial or lot["id"],
                            new={"op": failed["op"], "step": step_id, "status": "passed",
                                 "result": "use-as-is", "data": data, "source": source,
                                 "consumed": [], "concedes_step": failed["id"]},
                            reason=f"{ncr['id']} use-as-is (concession): {ncr['description']}")
        op = routing.operation(conceded[-1]["op"]) if conceded else None
        if op is not None:
            unit_rows = [tx.get("units", serial) or {}] if serial else []
            t = Target(tx.get("lots", lot["id"]) or lot, unit_rows, routing, op)
            _complete_if_done(tx, t, serial, now)
    if lot["serialized"] and units:
        t = Target(tx.get("lots", lot["id"]) or lot, [], routing, routing.operations[-1])
        _complete_lot_if_done(tx, t, now)


def _settle_lot(tx: Store, who: str, station: str | None, lot_id: str, reason: str,
                now: str) -> None:
    """After scrap: a lot with nothing left in process is completed (or scrapped)."""
    lot = tx.get("lots", lot_id) or {}
    if lot.get("status") != "in_process":
        return
    if lot["serialized"]:
        counts = lots_store.unit_status_counts(tx, lot_id)
        if counts.get("in_process"):
            return
        new = "scrapped" if set(counts) == {"scrapped"} else "completed"
    elif lot["qty_scrapped"] >= lot["qty"]:
        new = "scrapped"
    else:
        return
    changes: dict[str, Any] = {"status": new}
    if new == "completed":
        changes["completed_at"] = now
    tx.update("lots", lot_id, changes)
    tx.append_audit(username=who, station=station, action="lot.settle", entity_type="lot",
                    entity_id=lot_id, old={"status": "in_process"}, new={"status": new},
                    reason=reason)


def close_ncr(ctx: Context, ncr_id: str) -> dict[str, Any]:
    """Quality closes a dispositioned NCR (signed); its items come off hold unless another
    open NCR still holds them."""
    require(ctx, "ncr.close", ncr_id)  # the role before the record: a refusal learns nothing
    store = ctx.store
    ncr = _ncr(store, ncr_id)
    if ncr["status"] != "dispositioned":
        what = "disposition it first (`mes ncr disposition`)" if ncr["status"] == "open" \
            else "it is already closed"
        raise Refused(f"{ncr['id']} is {ncr['status']}: {what}")
    kind = _target_kind(store, ncr)
    signer = prepare_signature(ctx, "ncr.close", "closed", ncr["id"])
    who = signer.actor.username
    now = clock.now_iso()
    released: list[str] = []
    with store.transaction() as tx:
        if tx.update("ncrs", ncr["id"], {"status": "closed", "closed_at": now},
                     expect={"status": "dispositioned"}) != 1:
            raise Refused(f"{ncr['id']} changed meanwhile: try again")
        listed = json.loads(ncr["units"] or "[]")
        if kind == "material":
            items = [("material_lots", ncr["lot_id"])]
        elif listed:
            items = [("units", s) for s in listed]
        else:
            items = [("lots", ncr["lot_id"])]
        for table, key in items:
            row = tx.get(table, key)
            if row is None or not row["on_hold"]:
                continue
            if table != "material_lots" and row["hold_reason"] not in (ncr["id"], None) \
                    and not str(row["hold_reason"]).startswith("NCR-"):
                continue  # held for another reason (a recall, a manual hold): stays held
            other = _other_open_ncr(tx, ncr, key, table)
            changes: dict[str, Any]
            if other:
                changes = {"hold_reason": other} if table != "material_lots" else {}
            else:
                changes = {"on_hold": False}
                if table != "material_lots":
                    changes["hold_reason"] = None
            if not changes:
                continue
            tx.update(table, key, changes)
            entity = {"units": "unit", "lots": "lot"}.get(table, "material")
            tx.append_audit(username=who, station=ctx.station,
                            action="unhold.ncr" if not other else "hold.ncr",
                            entity_type=entity, entity_id=key,
                            old={"on_hold": True, "hold_reason": row.get("hold_reason")},
                            new=changes, reason=ncr["id"])
            if not other:
                released.append(key)
        tx.append_audit(username=who, station=ctx.station, action="ncr.close",
                        entity_type="ncr", entity_id=ncr["id"],
                        old={"status": "dispositioned"}, new={"status": "closed",
                                                              "unheld": released})
        sign(tx, signer, "ncr", ncr["id"], {**ncr, "status": "closed", "closed_at": now})
    out = ncr_view(store, _ncr(store, ncr["id"]))
    out["unheld"] = released
    return out


def _other_open_ncr(tx: Store, ncr: dict[str, Any], key: str, table: str) -> str | None:
    if table == "units":
        unit = tx.get("units", key) or {}
        rows = quality_store.open_ncrs_of_lot_except(tx, unit.get("lot_id"), ncr["id"])
        for r in rows:
            if key in json.loads(r["units"] or "[]"):
                return str(r["id"])
        return None
    row = quality_store.open_lot_ncr_except(tx, key, ncr["id"])
    return str(row["id"]) if row else None


def list_ncrs(ctx: Context, open_only: bool = False, item: str | None = None
              ) -> list[dict[str, Any]]:
    rows = quality_store.ncrs(ctx.store, open_only=open_only,
                              lot_id=normalise_scan(item) if item else None)
    return [{"id": r["id"], "item": r["lot_id"], "units": json.loads(r["units"] or "[]"),
             "status": r["status"], "action": r["action"], "description": r["description"],
             "opened_by": r["opened_by"], "opened_at": r["opened_at"],
             "closed_at": r["closed_at"]} for r in rows]


def show_ncr(ctx: Context, ncr_id: str) -> dict[str, Any]:
    return ncr_view(ctx.store, _ncr(ctx.store, ncr_id))


# -- release -------------------------------------------------------------------------------

def release_lot(ctx: Context, lot_id: str) -> dict[str, Any]:
    """Final acceptance (quality, signed): every unit done, no open NCR, no hold."""
    # the role (and the site) before the record: a refusal learns nothing
    require(ctx, "lot.release", normalise_scan(lot_id))
    store = ctx.store
    lot = get_lot(store, normalise_scan(lot_id))
    lot_id = lot["id"]
    if lot["status"] in ("released", "shipped"):
        raise Refused(f"lot {lot_id} is already {lot['status']}")
    if lot["status"] in ("scrapped", "cancelled"):
        raise Refused(f"lot {lot_id} is {lot['status']}: nothing to release")
    open_ncr = quality_store.first_open_ncr(store, lot_id)
    if open_ncr:
        raise Refused(f"lot {lot_id} has open {open_ncr['id']}: disposition and close it "
                      "before release")
    if lot["on_hold"]:
        raise Refused(f"lot {lot_id} is on hold ({lot['hold_reason']}): resolve the hold first")
    routing = routing_version(store, lot["part"], lot["routing_version"])
    required = [o.op for o in routing.operations if not o.optional]
    units = store.find("units", {"lot_id": lot_id}, order="serial") if lot["serialized"] else []
    to_release: list[str] = []
    consumed = 0
    for u in units:
        if u["status"] == "scrapped":
            continue
        if u["status"] == "consumed":
            consumed += 1
            continue
        if u["on_hold"]:
            raise Refused(f"{u['serial']} is on hold ({u['hold_reason']}): resolve the hold "
                          "before release")
        missing = [op for op in required if op not in passed_ops(store, lot, u)]
        if u["status"] != "completed" or missing:
            what = f"op {missing[0]} has not passed" if missing else f"it is {u['status']}"
            raise Refused(f"{u['serial']} is not finished ({what}): complete the routing "
                          "before release")
        to_release.append(u["serial"])
    if lot["serialized"]:
        if not to_release and not consumed:
            raise Refused(f"lot {lot_id} has no finished unit to release")
        qty_released = len(to_release)
    else:
        missing = [op for op in required if op not in passed_ops(store, lot, None)]
        if lot["status"] != "completed" or missing:
            what = f"op {missing[0]} has not passed" if missing else f"it is {lot['status']}"
            raise Refused(f"lot {lot_id} is not finished ({what}): complete the routing first")
        qty_released = lot["qty"] - lot["qty_scrapped"]
    signer = prepare_signature(ctx, "lot.release", "released", lot["id"])
    from mes.services.dhr import check_reviewed, write_dhr

    dhr_sha = check_reviewed(ctx, lot_id)  # the reviewed DHR still matches the records
    now = clock.now_iso()
    who = signer.actor.username
    manufactured = (qty_released + consumed) if lot["serialized"] else qty_released
    record = {"lot": lot_id, "part": lot["part"], "routing_version": lot["routing_version"],
              "qty_planned": lot["qty"], "qty_manufactured": manufactured,
              "qty_scrapped": lot["qty_scrapped"], "qty_released": qty_released,
              "units": to_release, "released_at": now, "dhr_sha256": dhr_sha}
    with store.transaction() as tx:
        n = tx.update("lots", lot_id, {"status": "released", "qty_released": qty_released,
                                       "released_at": now,
                                       "completed_at": lot["completed_at"] or now},
                      expect={"status": lot["status"], "on_hold": False})
        if n != 1:
            raise Refused(f"lot {lot_id} changed meanwhile: try again")
        for s in to_release:
            if tx.update("units", s, {"status": "released"},
                         expect={"status": "completed", "on_hold": False}) != 1:
                raise Refused(f"{s} changed meanwhile: try again")
        tx.append_audit(username=who, station=ctx.station, action="lot.release",
                        entity_type="lot", entity_id=lot_id, old={"status": lot["status"]},
                        new={"status": "released", "qty_manufactured": manufactured,
                             "qty_scrapped": lot["qty_scrapped"],
                             "qty_released": qty_released, "units": to_release})
        signature = sign(tx, signer, "lot", lot_id, record)
    dhr = write_dhr(ctx, lot_id)  # freezes version 1 (re-made by `mes dhr` if this fails)
    return {**record, "status": "released", "signed_by": signature["full_name"],
            "dhr": dhr["pdf"], "dhr_version": dhr["version"]}


# -- shipping ------------------------------------------------------------------------------

def ship(ctx: Context, lot_id: str, consignee: str, ref: str, units: list[str] | None = None,
         qty: int | None = None) -> dict[str, Any]:
    """Record a shipment of released units (or quantity) of a lot to a consignee."""
    require(ctx, "ship", lot_id)  # the role before the record: a refusal learns nothing
    store = ctx.store
    if not consignee.strip():
        raise InvalidInput("--to needs the consignee's name and place", field="to")
    if not ref.strip():
        raise InvalidInput("--ref needs the delivery note reference", field="ref")
    lot = get_lot(store, normalise_scan(lot_id))
    lot_id = lot["id"]
    if lot["status"] not in ("released",):
        raise Refused(f"lot {lot_id} is {lot['status']}: only a released lot can be shipped "
                      "(`mes lot release` by quality)")
    if lot["on_hold"]:
        raise Refused(f"lot {lot_id} is on hold ({lot['hold_reason']}): it cannot be shipped")
    serials: list[str] = []
    if lot["serialized"]:
        if qty is not None:
            raise InvalidInput("--qty is for non-serialized lots: use --units", field="qty")
        if units:
            wanted = list(dict.fromkeys(normalise_scan(u) for u in units if u.strip()))
            rows = []
            for s in wanted:
                u = store.get("units", s)
                if u is None or u["lot_id"] != lot_id:
                    raise NotFound(f"{s} is not a unit of lot {lot_id}: check the serial "
                                   f"(`mes lot show {lot_id}` lists them)")
                rows.append(u)
        else:
            rows = store.find("units", {"lot_id": lot_id, "status": "released"}, order="serial")
            if not rows:
                raise Refused(f"lot {lot_id} has no released unit left to ship")
        for u in rows:
            if u["status"] != "released":
                raise Refused(f"{u['serial']} is {u['status']}: only released units ship")
            if u["on_hold"]:
                raise Refused(f"{u['serial']} is on hold ({u['hold_reason']}): it cannot ship")
        serials = [u["serial"] for u in rows]
        from mes.store.containers import parents_of

        packed = parents_of(store, serials)  # issue 19: a packed unit ships in its package
        if packed:
            s = sorted(packed)[0]
            raise Refused(f"{s} is packed in {packed[s]}: ship the package by its SSCC "
                          f"(`mes ship {packed[s]} --to … --ref …`) or unpack it")
        n = len(serials)
    else:
        if units:
            raise InvalidInput(f"lot {lot_id} is not serialized: use --qty", field="units")
        left = lot["qty_released"] - lot["qty_shipped"]
        n = left if qty is None else qty
        if not 1 <= n <= left:
            raise Refused(f"lot {lot_id} has {left} released and not shipped: --qty must be "
                          f"between 1 and {left}")
    actor = require(ctx, "ship")
    now = clock.now_iso()
    with store.transaction() as tx:
        for s in serials:
            if tx.update("units", s, {"status": "shipped"},
                         expect={"status": "released", "on_hold": False}) != 1:
                raise Refused(f"{s} changed meanwhile: try again")
        tx.increment("lots", lot_id, "qty_shipped", n)
        ship_id = tx.insert("shipments", {"lot_id": lot_id, "consignee": consignee.strip(),
                                          "ref": ref.strip(), "qty": n, "serials": serials,
                                          "shipped_at": now, "username": actor.username},
                            returning="id")
        after = tx.get("lots", lot_id) or {}
        if lot["serialized"]:
            left = lots_store.units_released(tx, lot_id)
        else:
            left = after["qty_released"] - after["qty_shipped"]
        status = "shipped" if not left else "released"
        if status != lot["status"]:
            tx.update("lots", lot_id, {"status": status})
        tx.append_audit(username=actor.username, station=ctx.station, action="ship",
                        entity_type="lot", entity_id=lot_id,
                        old={"status": lot["status"], "qty_shipped": lot["qty_shipped"]},
                        new={"status": status, "qty_shipped": after["qty_shipped"],
                             "shipment": ship_id, "consignee": consignee.strip(),
                             "ref": ref.strip(), "qty": n, "serials": serials})
    return {"shipment": ship_id, "lot": lot_id, "consignee": consignee.strip(),
            "ref": ref.strip(), "qty": n, "serials": serials, "lot_status": status,
            "shipped_at": now}


# -- yield report --------------------------------------------------------------------------

def yield_report(ctx: Context, part: str | None = None, since: str | None = None,
                 site: str | None = None) -> list[dict[str, Any]]:
    """Per part and op: first-pass yield, attempts, scrap, cycle times, lots in progress;
    with `site` (issue 20): the steps done and the lots made at that site."""
    store = ctx.store
    if site:
        from mes.services.workspace import site as known_site

        site = known_site(ctx, site)["id"]
    steps = steps_store.finished_for_yield(store, site=site, part=part, since=since)
    lots = lots_store.for_yield(store, site=site, part=part, since=since)
    per_part: dict[str, dict[str, int]] = {}
    for lot in lots:
        acc = per_part.setdefault(lot["part"], {"lots_in_process": 0, "scrapped": 0})
        acc["lots_in_process"] += lot["status"] == "in_process"
        acc["scrapped"] += lot["qty_scrapped"]
    names = _op_names(store)
    groups: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for s in steps:
        groups.setdefault((s["part"], s["op"]), []).append(s)
    out = []
    for (p, op), rows in sorted(groups.items()):
        o = op_summary(rows)
        pp = per_part.get(p, {"lots_in_process": 0, "scrapped": 0})
        out.append({"part": p, "op": op, "name": names.get((p, op)),
                    "first_attempts": o["first_attempts"], "first_pass": o["first_pass"],
                    "fpy_pct": o["fpy_pct"], "attempts": o["attempts"], "failed": o["failed"],
                    "mean_cycle_s": o["mean_cycle_s"], "median_cycle_s": o["median_cycle_s"],
                    "part_scrapped": pp["scrapped"],
                    "part_lots_in_process": pp["lots_in_process"]})
    for p, pp in sorted(per_part.items()):  # parts with lots but no step yet
        if not any(r["part"] == p for r in out):
            out.append({"part": p, "op": None, "name": None, "first_attempts": 0,
                        "first_pass": 0, "fpy_pct": None, "attempts": 0, "failed": 0,
                        "mean_cycle_s": None, "median_cycle_s": None,
                        "part_scrapped": pp["scrapped"],
                        "part_lots_in_process": pp["lots_in_process"]})
    return out


def _op_names(store: Store) -> dict[tuple[str, int], str]:
    names: dict[tuple[str, int], str] = {}
    for r in routings_store.all_docs(store):
        for o in json.loads(r["doc"]).get("operations", []):
            names[(r["part"], o["op"])] = o["name"]
    return names


def op_summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The steps of one operation: first-pass yield over first attempts, failures,
    repeats, and cycle times of the steps that were started (report yield and efficiency)."""
    first = [r for r in rows if r["attempt"] == 1]
    first_pass = sum(r["status"] == "passed" for r in first)
    cycles = [c for c in (_seconds(r["started_at"], r["completed_at"]) for r in rows)
              if c is not None]  # a step recorded without a start has no cycle time
    return {"first_attempts": len(first), "first_pass": first_pass,
            "fpy_pct": round(100.0 * first_pass / len(first), 2) if first else None,
            "attempts": len(rows), "failed": sum(r["status"] == "failed" for r in rows),
            "repeats": sum(r["attempt"] > 1 for r in rows),
            "mean_cycle_s": round(statistics.fmean(cycles), 3) if cycles else None,
            "median_cycle_s": round(statistics.median(cycles), 3) if cycles else None,
            "cycle_samples": len(cycles)}


def _seconds(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    try:
        return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
    except ValueError:
        return None
