"""Step execution: the interlocks, the record, consumption and genealogy in one transaction."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mes import clock
from mes.domain import interlocks
from mes.domain.ids import normalise_scan
from mes.domain.model import BomLine, Operation, Routing
from mes.errors import InvalidInput, NotFound, Refused
from mes.services import resources, spc
from mes.services.auth import Actor, check_session_station, require, require_qualified
from mes.services.context import Context
from mes.services.lots import resolve
from mes.services.routings import routing_version
from mes.store import genealogy
from mes.store import lots as lots_store
from mes.store import materials as materials_store
from mes.store import steps as steps_store
from mes.store.base import Store
from mes.store.sites import station_site


@dataclass
class Target:
    """What a scan points at for one operation: a lot and, if serialized, its units."""

    lot: dict[str, Any]
    units: list[dict[str, Any]]
    routing: Routing
    op: Operation
    # The work instruction revision in force for the op, found by the training interlock
    # inside the write transaction and recorded on each step (issue 18).
    instruction: dict[str, Any] | None = None

    @property
    def keys(self) -> list[str | None]:
        return [u["serial"] for u in self.units] if self.lot["serialized"] else [None]

    def item_of(self, serial: str | None) -> str:
        return serial or self.lot["id"]


@dataclass
class Consumption:
    item: str
    kind: str  # material | lot | unit
    qty: float  # total for this step
    part: str
    refdes: str | None = None
    feeder: str | None = None
    note: str | None = None  # said to the operator (e.g. the rest of a machine's installs)
    only: str | None = None  # consumed into this one item of the step, not shared by all

    def share(self, item: str, n: int) -> float | None:
        """What `item` gets of this consumption (None: nothing) when `n` items share it."""
        if self.only is not None:
            return self.qty if self.only == item else None
        return self.qty / n


@dataclass
class StepRequest:
    scan: str
    op: int
    station: str
    data: dict[str, str] = field(default_factory=dict)
    result: str | None = None
    consume: list[str] = field(default_factory=list)
    refdes: str | None = None
    source: str | None = None  # "cfx:<UniqueID>", "euromap:<file>" for machine records


def load_target(store: Store, scan: str, op_no: int) -> Target:
    kind, row = resolve(store, normalise_scan(scan))
    if kind == "lot":
        lot = row
        units = [u for u in store.find("units", {"lot_id": lot["id"]}, order="serial")
                 if u["status"] not in ("scrapped", "consumed")] if lot["serialized"] else []
        if lot["serialized"] and not units:
            raise Refused(f"lot {lot['id']} has no unit left in process")
    elif kind == "unit":
        lot = store.get("lots", row["lot_id"]) or {}
        units = [row]
    else:
        raise Refused(f"{scan} is a {kind}: scan a lot or a unit serial for a step")
    routing = routing_version(store, lot["part"], lot["routing_version"])
    op = routing.operation(op_no)
    if op is None:
        ops = ", ".join(str(o.op) for o in routing.operations)
        raise NotFound(f"routing {lot['part']} v{lot['routing_version']} has no op {op_no}: "
                       f"its operations are {ops}")
    return Target(lot, units, routing, op)


def passed_ops(store: Store, lot: dict[str, Any], unit: dict[str, Any] | None) -> set[int]:
    """Operations passed, forgetting those from rework_op on before a rework order."""
    holder = unit if unit is not None else lot
    if unit is not None:
        rows = steps_store.passed_of_unit(store, unit["serial"])
    else:
        rows = steps_store.passed_of_lot(store, lot["id"])
    rework_op, rework_at = holder.get("rework_op"), holder.get("rework_at")
    return {r["op"] for r in rows
            if not rework_at or r["op"] < rework_op or r["completed_at"] > rework_at}


def _check_target(store: Store, t: Target, actor: Actor, station_id: str) -> None:
    today = clock.now().date()
    interlocks.check_station(store.get("stations", station_id), station_id, t.op, today)
    resources.check_station(store, station_id)  # issue 18: failed calibration
    interlocks.check_workable("lot", t.lot["id"], t.lot["status"], bool(t.lot["on_hold"]),
                              t.lot["hold_reason"])
    if t.lot["serialized"]:
        for u in t.units:
            interlocks.check_workable("unit", u["serial"], u["status"], bool(u["on_hold"]),
                                      u["hold_reason"])
            interlocks.check_order(t.routing, t.op, passed_ops(store, t.lot, u), u["serial"])
    else:
        interlocks.check_order(t.routing, t.op, passed_ops(store, t.lot, None), t.lot["id"])
    t.instruction = resources.check_training(store, actor.username, t)  # issue 18


def _require_qualified_for(ctx: Context, actor: Actor, scan: str, op: int) -> None:
    """Before the write transaction, because a denial is audited and must not roll back
    with it (a qualification is the user's, not the lot's state the record relies on)."""
    require_qualified(ctx, actor, load_target(ctx.store, scan, op).op.station_type)


def _open_step(store: Store, t: Target, serial: str | None) -> dict[str, Any] | None:
    return steps_store.open_step(store, t.lot["id"], t.op.op, serial)


def start_step(ctx: Context, scan: str, op: int, station: str) -> dict[str, Any]:
    actor = require(ctx, "step.record")
    check_session_station(ctx, actor, station)
    _require_qualified_for(ctx, actor, scan, op)
    started = []
    # The interlocks read inside the write transaction: a hold or another station's
    # record committed after a check made outside it would not be seen.
    with ctx.store.transaction() as tx:
        t = load_target(tx, scan, op)
        _check_target(tx, t, actor, station)
        for serial in t.keys:
            if _open_step(tx, t, serial):
                raise Refused(f"{t.item_of(serial)}: op {op} is already started: complete it")
            step_id = tx.insert("steps", {
                "lot_id": t.lot["id"], "serial": serial, "op": op, "station_id": station,
                "site_id": station_site(tx, station),  # the station's site (issue 20)
                "username": actor.username, "started_at": clock.now_iso(), "status": "started",
                "attempt": _attempt(tx, t, serial), **_instruction_columns(t)},
                returning="id")
            tx.append_audit(username=actor.username, station=station, action="step.start",
                            entity_type="unit" if serial else "lot",
                            entity_id=t.item_of(serial), new={"op": op, "step": step_id})
            started.append(t.item_of(serial))
    return {"op": op, "name": t.op.name, "started": started, "station": station}


def _attempt(store: Store, t: Target, serial: str | None) -> int:
    return steps_store.finished_attempts(store, t.lot["id"], t.op.op, serial) + 1


def complete_step(ctx: Context, req: StepRequest, *, extra: dict[str, Any] | None = None
                  ) -> dict[str, Any]:
    """Record a completed operation; data out of limits fails it and holds the unit/lot."""
    actor = require(ctx, "step.record")
    check_session_station(ctx, actor, req.station)
    _require_qualified_for(ctx, actor, req.scan, req.op)
    # Every interlock reads inside the write transaction (see start_step).
    with ctx.store.transaction() as tx:
        t = load_target(tx, req.scan, req.op)
        if t.op.flash is not None and req.source is None:
            raise Refused(f"op {t.op.op} ({t.op.name}) flashes firmware: record it with "
                          "`mes flash SERIAL --station … --image …`")
        _check_target(tx, t, actor, req.station)
        if t.op.label:  # issue 19: a label whose print job failed does not pass labelling
            from mes.services.printing import check_printed

            check_printed(tx, [t.item_of(s) for s in t.keys])
        check = interlocks.check_data(t.op, req.data, req.result, with_result=True)
        result = interlocks.check_result(t.op, req.result)
        failed = bool(check.out_of_limits) or result == "fail"
        problems = list(check.out_of_limits) + (["result fail"] if result == "fail" else [])
        if not failed:
            _check_labelled(tx, t)
        consumptions = _plan_consumption(tx, t, req)
        tools = resources.check_tools(tx, t, check.values, extra or {})  # issue 18
        outcome = _record(tx, ctx, actor, t, req, check.values, result, failed, problems,
                          consumptions, extra or {})
        outcome["spc"] = spc.on_step(tx, actor, req.station, t, check.values)  # issue 16
        resources.count_tools(tx, t, req, tools, actor.username)
    return outcome


def _check_labelled(tx: Store, t: Target) -> None:
    """A labeling op, and packing in a routing that labels, passes only when every item in
    scope has a printed label for this lot that was verified (21 CFR 820.120, 820.184(e))."""
    from mes.store.labels import label_in_force

    labels = t.op.label or (t.op.activity == "packing"
                            and any(o.label for o in t.routing.operations))
    if not labels:
        return
    items = [t.item_of(k) for k in t.keys]
    found = {i: label_in_force(tx, i, t.lot["id"]) for i in items}
    missing = [i for i, row in found.items() if row is None]
    unverified = [i for i, row in found.items() if row is not None and not row["verified"]]
    more = len(missing) + len(unverified) - 1
    also = f" (and {more} more)" if more > 0 else ""
    if missing:
        raise Refused(f"op {t.op.op} ({t.op.name}): {missing[0]} has no label for lot "
                      f"{t.lot['id']}{also}: print it with `mes label print` first")
    if unverified:
        raise Refused(f"op {t.op.op} ({t.op.name}): the label of {unverified[0]} was not "
                      f"verified (ZPL or --no-verify){also}: reprint it as a verified PDF "
                      "(`mes label print … --reprint --reason …`)")


def _record(tx: Store, ctx: Context, actor: Actor, t: Target, req: StepRequest,
            values: dict[str, Any], result: str | None, failed: bool, problems: list[str],
            consumptions: list[Consumption], extra: dict[str, Any]) -> dict[str, Any]:
    now = clock.now_iso()
    status = "failed" if failed else "passed"
    n = len(t.keys)
    recorded, held, completed = [], [], []
    if not failed:
        _deduct_inspection_rejects(tx, actor, req.station, t, values)
    for serial in t.keys:
        item = t.item_of(serial)
        open_step = _open_step(tx, t, serial)
        row = {"completed_at": now, "status": status, "result": result, "data": values,
               "source": req.source, **_instruction_columns(t)}
        if open_step:
            if open_step["station_id"] != req.station:
                raise Refused(f"{item}: op {t.op.op} was started at {open_step['station_id']}: "
                              "complete it there")
            tx.update("steps", open_step["id"], row, expect={"status": "started"})
            step_id = open_step["id"]
        else:
            step_id = tx.insert("steps", {
                "lot_id": t.lot["id"], "serial": serial, "op": t.op.op,
                "station_id": req.station, "site_id": station_site(tx, req.station),
                "username": actor.username, "started_at": now,
                "attempt": _attempt(tx, t, serial), **row}, returning="id")
        mine = [(c, q) for c in consumptions if (q := c.share(item, n)) is not None]
        genealogy.add_edges(tx, [{"parent": item, "child": c.item, "qty": per_unit,
                                  "op": t.op.op, "step_id": step_id, "station_id": req.station,
                                  "refdes": c.refdes, "feeder": c.feeder, "at": now}
                                 for c, per_unit in mine])
        tx.append_audit(username=actor.username, station=req.station, action="step.complete",
                        entity_type="unit" if serial else "lot", entity_id=item,
                        new={"op": t.op.op, "step": step_id, "status": status,
                             "result": result, "data": values, "source": req.source,
                             "consumed": [(c.item, q) for c, q in mine],
                             **_instruction_event(t), **extra},
                        reason="; ".join(problems) or None)
        recorded.append(item)
        if failed:
            _hold_for_failure(tx, actor, req.station, t, serial, problems)
            held.append(item)
        elif _complete_if_done(tx, t, serial, now):
            completed.append(item)
    _consume(tx, actor, req.station, t, consumptions)
    if not failed and t.lot["serialized"]:
        _complete_lot_if_done(tx, t, now)
    return {"op": t.op.op, "name": t.op.name, "status": status, "items": recorded,
            "held": held, "completed": completed, "problems": problems,
            "consumed": [{"item": c.item, "qty": c.qty, "refdes": c.refdes} for c in consumptions],
            "notes": [c.note for c in consumptions if c.note] + _instruction_notes(t),
            "instruction": _instruction_ref(t)}


def _instruction_columns(t: Target) -> dict[str, Any]:
    """The revision in force, on the step row (nothing when the op has no instruction)."""
    wi = t.instruction
    return {"instruction_doc": wi["doc"], "instruction_rev": wi["revision"]} if wi else {}


def _instruction_event(t: Target) -> dict[str, Any]:
    wi = t.instruction
    return {"instruction": f"{wi['doc']}@{wi['revision']}"} if wi else {}


def _instruction_ref(t: Target) -> str | None:
    wi = t.instruction
    return f"{wi['doc']} rev {wi['revision']}" if wi else None


def _instruction_notes(t: Target) -> list[str]:
    wi = t.instruction
    return [wi["note"]] if wi and wi.get("note") else []


def _deduct_inspection_rejects(tx: Store, actor: Actor, station: str, t: Target,
                               values: dict[str, Any]) -> None:
    """`rejected=N` at an inspection of a lot of parts (visual inspection of molded parts):
    N parts fewer available. More rejects than parts in the lot is refused."""
    n = values.get("rejected")
    if t.lot["serialized"] or t.op.activity != "inspection" or not n:
        return
    lot = tx.get("lots", t.lot["id"]) or t.lot
    left = lot["qty"] - lot["qty_scrapped"]
    if not 0 < n <= left:
        raise Refused(f"rejected={n:g} at op {t.op.op} ({t.op.name}) but lot {lot['id']} has "
                      f"{left:g} parts: count the rejects again")
    changes = {"qty_scrapped": lot["qty_scrapped"] + n}
    tx.update("lots", lot["id"], changes)
    tx.append_audit(username=actor.username, station=station, action="lot.reject_parts",
                    entity_type="lot", entity_id=lot["id"],
                    old={"qty_scrapped": lot["qty_scrapped"]}, new=changes,
                    reason=f"{n:g} parts rejected at op {t.op.op} ({t.op.name})")


def _hold_for_failure(tx: Store, actor: Actor, station: str, t: Target, serial: str | None,
                      problems: list[str]) -> None:
    reason = f"op {t.op.op} failed: {'; '.join(problems)}"
    table, key = ("units", serial) if serial else ("lots", t.lot["id"])
    tx.update(table, key, {"on_hold": True, "hold_reason": reason})
    tx.append_audit(username=actor.username, station=station, action="hold.auto",
                    entity_type="unit" if serial else "lot", entity_id=key,
                    old={"on_hold": False}, new={"on_hold": True}, reason=reason)


def _complete_if_done(tx: Store, t: Target, serial: str | None, now: str) -> bool:
    unit = tx.get("units", serial) if serial else None
    holder = unit if unit is not None else tx.get("lots", t.lot["id"]) or t.lot
    passed = passed_ops(tx, t.lot, unit)
    if any(o.op not in passed for o in t.routing.operations if not o.optional):
        return False
    if serial:
        tx.update("units", serial, {"status": "completed"})
    else:
        remaining = holder["qty"] - holder["qty_scrapped"]
        tx.update("lots", t.lot["id"], {"status": "completed", "completed_at": now,
                                         "remaining": remaining})
    tx.append_audit(username=None, station=None, action="routing.complete",
                    entity_type="unit" if serial else "lot", entity_id=serial or t.lot["id"],
                    old={"status": holder["status"]}, new={"status": "completed"})
    return True


def _complete_lot_if_done(tx: Store, t: Target, now: str) -> None:
    open_units = lots_store.units_in_process(tx, t.lot["id"])
    if open_units == 0:
        lot = tx.get("lots", t.lot["id"]) or t.lot
        if lot["status"] == "in_process":
            tx.update("lots", lot["id"], {"status": "completed", "completed_at": now})
            tx.append_audit(username=None, station=None, action="routing.complete",
                            entity_type="lot", entity_id=lot["id"],
                            old={"status": "in_process"}, new={"status": "completed"})


# -- consumption ---------------------------------------------------------------------------

def parse_consume(arg: str) -> tuple[str, float | None]:
    item, _, qty = arg.partition(":")
    item = normalise_scan(item)
    if not qty:
        return item, None
    try:
        value = float(qty)
    except ValueError:
        raise InvalidInput(f"--consume {arg!r}: quantity {qty!r} is not a number",
                           field="consume") from None
    if not value > 0 or value != value or value == float("inf"):
        raise InvalidInput(f"--consume {arg!r}: quantity must be positive", field="consume")
    return item, value


def _plan_consumption(tx: Store, t: Target, req: StepRequest) -> list[Consumption]:
    """Explicit --consume scans first, then what is loaded on the station, per BOM line."""
    today = clock.now().date()
    units_n = len(t.keys) if t.lot["serialized"] else int(t.lot["qty"] - t.lot["qty_scrapped"])
    planned: list[Consumption] = []
    covered: set[str] = set()
    for arg in req.consume:
        item, qty = parse_consume(arg)
        kind, row = resolve(tx, item)
        if kind == "material":
            interlocks.check_material_usable(row, t.op, today)
            line = _line(t.op, row["part"])
            planned.append(Consumption(item, kind, qty or line.qty * units_n, row["part"],
                                       req.refdes))
        elif kind in ("lot", "unit"):
            planned.append(_plan_subassembly(tx, t, kind, row, qty, units_n))
        else:
            raise Refused(f"{item} is a {kind}: it cannot be consumed by a step")
        covered.add(planned[-1].part)
    for line in t.op.consumes:
        if line.part in covered:
            continue
        already = _installed(tx, t, line.part)
        rest = {item: max(0.0, round(line.qty - q, 9)) for item, q in already.items()}
        if not any(rest.values()):
            continue  # the machine installed the whole BOM line on every unit
        loaded = _loaded_material(tx, req.station, line.part)
        if loaded is None:
            how = "scan the unit serial with --consume" if line.by_serial else (
                f"scan a released lot with --consume or load one on {req.station} "
                "(`mes station load`)")
            short = "" if not any(already.values()) else (
                f" (still to install after the machine's report: {_per_item(rest)})")
            raise Refused(f"op {t.op.op} ({t.op.name}) consumes {line.part}{short}: {how}")
        material, slot = loaded
        interlocks.check_material_usable(material, t.op, today)
        if not any(already.values()):
            planned.append(Consumption(material["id"], "material", line.qty * units_n,
                                       line.part, None, slot))
            continue
        # Installs reported by a machine are never taken for the whole BOM line: the rest is
        # consumed from the loaded reel, and said.
        note = (f"{line.part}: the machine reported {_per_item(already)} installed of "
                f"{line.qty:g} per unit; the rest ({_per_item(rest)}) consumed from "
                f"{material['id']} (slot {slot})")
        values = set(rest.values())
        if len(values) == 1:
            planned.append(Consumption(material["id"], "material", values.pop() * units_n,
                                       line.part, None, slot, note))
            continue
        for i, (item, q) in enumerate(i_q for i_q in rest.items() if i_q[1] > 0):
            planned.append(Consumption(material["id"], "material", q, line.part, None, slot,
                                       note if i == 0 else None, only=item))
    return planned


def _per_item(qty: dict[str, float]) -> str:
    values = set(qty.values())
    if len(values) == 1:
        return f"{values.pop():g}"
    shown = ", ".join(f"{item} {q:g}" for item, q in list(qty.items())[:5])
    return shown + (f" +{len(qty) - 5} more" if len(qty) > 5 else "")


def _installed(tx: Store, t: Target, part: str) -> dict[str, float]:
    """Quantity of `part` already on each item at this op: what a machine reported installed
    (IPC-CFX MaterialsInstalled) or an earlier attempt consumed."""
    items = [t.item_of(k) for k in t.keys]
    rows = genealogy.installed_of_part(tx, items, t.op.op, part)
    got = {r["parent"]: float(r["qty"]) for r in rows}
    return {item: got.get(item, 0.0) for item in items}


def _line(op: Operation, part: str) -> BomLine:
    line = next((b for b in op.consumes if b.part == part), None)
    if line is None:
        raise Refused(f"op {op.op} ({op.name}) does not consume {part}")
    return line


def _plan_subassembly(tx: Store, t: Target, kind: str, row: dict[str, Any], qty: float | None,
                      units_n: int) -> Consumption:
    lot = row if kind == "lot" else tx.get("lots", row["lot_id"]) or {}
    line = _line(t.op, lot["part"])
    item = row["id"] if kind == "lot" else row["serial"]
    if kind == "unit":
        if not line.by_serial:
            raise Refused(f"op {t.op.op} consumes {lot['part']} by lot: scan lot {lot['id']}")
        if len(t.keys) != 1:
            raise Refused(f"{item} can go into one unit only: scan a single unit serial")
        if row["status"] == "consumed":
            raise Refused(f"{item} is already built into {row['consumed_into']}: "
                          "scan another unit")
        if row["on_hold"]:
            raise Refused(f"{item} is on hold ({row['hold_reason']}): ask quality")
        if row["status"] != "completed":
            raise Refused(f"{item} has not completed its own routing ({lot['part']}): "
                          "finish it first")
        return Consumption(item, kind, 1, lot["part"])
    if line.by_serial:
        raise Refused(f"op {t.op.op} consumes {lot['part']} by serial: scan a unit serial")
    if lot["on_hold"]:
        raise Refused(f"lot {item} is on hold ({lot['hold_reason']}): ask quality")
    if lot["status"] not in ("completed", "released"):
        raise Refused(f"lot {item} has not completed its routing ({lot['part']}): "
                      "finish it first")
    return Consumption(item, kind, qty or line.qty * units_n, lot["part"])


def _loaded_material(tx: Store, station: str, part: str
                     ) -> tuple[dict[str, Any], str] | None:
    row = materials_store.loaded_of_part(tx, station, part)
    if row is None:
        return None
    slot = row.pop("load_slot")
    return row, slot


def _consume(tx: Store, actor: Actor, station: str, t: Target,
             consumptions: list[Consumption]) -> None:
    """Decrement stock atomically in SQL; too little left refuses the whole step."""
    for c in consumptions:
        if c.kind == "unit":
            n = tx.update("units", c.item, {"status": "consumed",
                                            "consumed_into": t.item_of(t.keys[0])},
                          expect={"status": "completed"})
            if n != 1:
                raise Refused(f"{c.item} was consumed meanwhile: scan another unit")
            tx.append_audit(username=actor.username, station=station, action="unit.consume",
                            entity_type="unit", entity_id=c.item,
                            old={"status": "completed"},
                            new={"status": "consumed", "into": t.item_of(t.keys[0]),
                                 "op": t.op.op})
            continue
        table = "material_lots" if c.kind == "material" else "lots"
        resources.check_material(tx, c.item, c.kind)  # issue 18: MSL floor life
        if not tx.decrement(table, c.item, "remaining", c.qty):
            left = materials_store.remaining(tx, table, c.item)
            raise Refused(f"{c.item} has {left:g} left, {c.qty:g} needed: scan another "
                          "lot of " + c.part)
        tx.append_audit(username=actor.username, station=station, action="material.consume",
                        entity_type=c.kind, entity_id=c.item, new={"qty": c.qty,
                        "into": [c.only] if c.only else [t.item_of(k) for k in t.keys],
                        "op": t.op.op})


