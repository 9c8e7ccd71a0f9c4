"""IPC-CFX messages onto units (IPC-1782 traceability; DESIGN §9).

Decisions:

* All files are parsed first: a malformed file refuses the whole command, nothing applied.
* Messages are applied in order, each in its own transaction together with its
  ``machine_messages`` row (``cfx:<UniqueID>``) and audit events. A message already imported
  is skipped with a note (exit 0). The first refused message stops the import: the messages
  before it stay applied (they are independent records, each complete), the refused one and
  those after it change nothing; the command reports what was applied and exits with the
  refusal's exit code. Re-running the same import after fixing the cause resumes where it
  stopped, because applied messages are skipped.
* ``MaterialsInstalled``: per installed material, a genealogy edge unit ← material lot with
  quantity, reference designators and carrier location (slot, feeder), the material's
  remaining quantity decremented atomically; interlocks: station registered/active/of the op's
  type/calibrated, unit and lot workable, earlier operations passed, material released, not
  on hold or expired, and its part consumed by the op (the op of the unit's routing that
  consumes that part, or ``--op``). No step is recorded: the placement step is still
  completed by ``mes step complete`` (or a UnitsProcessed message).
* ``UnitsInspected`` / ``UnitsTested``: the op (``--op``, or the unique op of the unit's
  routing run on the station's type) completed per unit with result pass (``Passed``) or
  fail, through ``services.steps`` (a failed unit goes on hold).
* ``UnitsProcessed``: likewise, result pass when ``OverallResult`` is ``Succeeded``, with
  the message's readings (common and per unit) mapped onto the op's data specs by name.
* Values offered to data specs: readings/measurements by their CFX name, plus
  ``defect_count`` for inspections and tests; ``--map CFX_NAME=SPEC`` renames them. Values
  that match no data spec are kept in the raw message only.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mes import clock
from mes.domain import interlocks
from mes.domain.model import Operation, Routing
from mes.domain.words import a
from mes.errors import InvalidInput, MesError, NotFound, Refused
from mes.ingest import cfx
from mes.services import resources
from mes.services.auth import current_actor, require, require_qualified
from mes.services.context import Context
from mes.services.routings import routing_version
from mes.services.steps import StepRequest, complete_step, passed_ops
from mes.store import genealogy
from mes.store import materials as materials_store
from mes.store.base import Store


@dataclass
class CfxImport:
    files: list[Path]
    station: str
    op: int | None = None
    mapping: dict[str, str] = field(default_factory=dict)  # CFX value name -> data spec name


@dataclass
class ImportReport:
    applied: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    refused: dict[str, Any] | None = None
    error: MesError | None = None
    remaining: int = 0  # messages not attempted after the refusal

    def as_dict(self) -> dict[str, Any]:
        return {"applied": self.applied, "skipped": self.skipped, "refused": self.refused,
                "not_attempted": self.remaining}


@dataclass
class _UnitTarget:
    unit: dict[str, Any]
    lot: dict[str, Any]
    routing: Routing
    op: Operation


def import_files(ctx: Context, req: CfxImport) -> ImportReport:
    require(ctx, "import.machine")
    store = ctx.store
    station = store.get("stations", req.station)
    if station is None:
        raise NotFound(f"station {req.station} is not registered: ask a technician to add it")
    messages: list[tuple[Path, cfx.CfxMessage]] = []
    for path in req.files:
        messages.extend((path, m) for m in cfx.parse_file(path))
    out = ImportReport()
    for i, (path, msg) in enumerate(messages):
        uid = f"cfx:{msg.unique_id}"
        done = store.get("machine_messages", uid)
        try:
            if done:
                _check_same_message(done, msg)
                out.skipped.append({"file": str(path), "unique_id": msg.unique_id,
                                    "name": msg.name, "note": f"already imported on "
                                    f"{done['imported_at'][:16]} by {done['imported_by']}"})
                continue
            out.applied.append(_apply(ctx, req, station, path, msg))
        except MesError as exc:
            out.refused = {"file": str(path), "unique_id": msg.unique_id, "name": msg.name,
                           "error": str(exc), "exit_code": int(exc.exit_code)}
            out.remaining = len(messages) - i - 1
            # One line for the operator: the refusal and where the import stopped.
            counts = [(len(out.applied), "applied before it"),
                      (len(out.skipped), "already imported"),
                      (out.remaining, "later messages not attempted")]
            exc.message = (f"{exc.message} (stopped at CFX message {msg.unique_id} in "
                           f"{path.name}" + "".join(f"; {n} {what}" for n, what in counts if n)
                           + ")")
            out.error = exc
            break
    return out


def _check_same_message(done: dict[str, Any], msg: cfx.CfxMessage) -> None:
    """A UniqueID names one message: the same id with other content is not a repeat but a
    conflict (a machine reusing ids, an edited file), never silently skipped."""
    if done["sha256"] == msg.sha256:
        return
    try:
        same = json.loads(done["raw"]) == json.loads(msg.raw_text)
    except (TypeError, ValueError):
        same = False
    if not same:
        raise Refused(f"CFX message {msg.unique_id} was imported on {done['imported_at'][:16]} "
                      f"by {done['imported_by']} with other content: the machine reused a "
                      "UniqueID or the file was edited; ask a technician to check the export")


def _apply(ctx: Context, req: CfxImport, station: dict[str, Any], path: Path,
           msg: cfx.CfxMessage) -> dict[str, Any]:
    body = msg.body
    work: Callable[[Store], dict[str, Any]]
    if isinstance(body, cfx.MaterialsInstalled):
        plan = _plan_installs(ctx, req, station, body)
        work = lambda tx: _install(tx, ctx, req, msg, plan)  # noqa: E731
    elif isinstance(body, cfx.UnitsInspected | cfx.UnitsTested):
        steps = _plan_results(ctx, req, station, msg, body)
        work = lambda tx: _complete(ctx, steps, msg)  # noqa: E731
    else:
        steps = _plan_processed(ctx, req, station, msg, body)
        work = lambda tx: _complete(ctx, steps, msg)  # noqa: E731
    store = ctx.store
    username = current_actor(ctx).username
    with store.transaction() as tx:
        if tx.get("machine_messages", f"cfx:{msg.unique_id}") is not None:
            raise Refused(f"CFX message {msg.unique_id} was imported meanwhile (another "
                          "station or import): nothing to do")
        outcome = work(tx)
        tx.insert("machine_messages", {
            "unique_id": f"cfx:{msg.unique_id}", "kind": "cfx", "name": msg.name,
            "sent_at": msg.timestamp.isoformat(), "raw": msg.raw_text, "sha256": msg.sha256,
            "imported_at": clock.now_iso(), "imported_by": username,
            "outcome": {"file": path.name, "station": req.station, **outcome}})
        tx.append_audit(username=username, station=req.station, action="machine.import",
                        entity_type="machine_message", entity_id=f"cfx:{msg.unique_id}",
                        new={"name": msg.name, "sha256": msg.sha256, "file": path.name,
                             "units": outcome.get("units")})
    return {"file": str(path), "unique_id": msg.unique_id, "name": msg.name, **outcome}


# -- targets -----------------------------------------------------------------------------------

def _unit_target(store: Store, unit_id: str, pick_op: Any) -> _UnitTarget:
    unit = store.get("units", unit_id.strip().upper())
    if unit is None:
        raise NotFound(f"unit {unit_id} named in the CFX message is not known: check the "
                       "board's serial label and the machine's unit id setting")
    lot = store.get("lots", unit["lot_id"]) or {}
    routing = routing_version(store, lot["part"], lot["routing_version"])
    return _UnitTarget(unit, lot, routing, pick_op(routing))


def _op_for_station(req: CfxImport, station: dict[str, Any]) -> Any:
    def pick(routing: Routing) -> Operation:
        if req.op is not None:
            op = routing.operation(req.op)
            if op is None:
                raise NotFound(f"routing {routing.part} has no op {req.op}")
            return op
        ops = [o for o in routing.operations if o.station_type == station["type"]]
        if len(ops) != 1:
            which = "no op" if not ops else "ops " + ", ".join(str(o.op) for o in ops)
            raise Refused(f"routing {routing.part} has {which} on {a(station['type'])} station "
                          f"({req.station}): give --op")
        return ops[0]
    return pick


def _check_unit(ctx: Context, t: _UnitTarget, station_id: str, *, order_only: bool) -> None:
    """The step interlocks, checked before the transaction (authority refusals audited)."""
    store = ctx.store
    require_qualified(ctx, current_actor(ctx), t.op.station_type)
    today = clock.now().date()
    interlocks.check_station(store.get("stations", station_id), station_id, t.op, today)
    interlocks.check_workable("lot", t.lot["id"], t.lot["status"], bool(t.lot["on_hold"]),
                              t.lot["hold_reason"])
    interlocks.check_workable("unit", t.unit["serial"], t.unit["status"],
                              bool(t.unit["on_hold"]), t.unit["hold_reason"])
    passed = passed_ops(store, t.lot, t.unit)
    if order_only:  # materials may be installed before or after the op is completed
        missing = [o for o in t.routing.required_before(t.op.op) if o.op not in passed]
        if missing:
            interlocks.check_order(t.routing, t.op, passed, t.unit["serial"])
    else:
        interlocks.check_order(t.routing, t.op, passed, t.unit["serial"])


# -- MaterialsInstalled ------------------------------------------------------------------------

@dataclass
class _Planned:
    target: _UnitTarget
    install: cfx.Install
    material: dict[str, Any]


def _plan_installs(ctx: Context, req: CfxImport, station: dict[str, Any],
                   body: cfx.MaterialsInstalled) -> list[_Planned]:
    store = ctx.store
    today = clock.now().date()
    plan = []
    for inst in body.installs:
        material = store.get("material_lots", inst.material_id.strip().upper())
        if material is None:
            raise NotFound(f"material {inst.material_id} installed on {inst.unit_id} is not "
                           "a known material lot: receive it (`mes material receive`) first")

        def pick(routing: Routing, part: str = material["part"]) -> Operation:
            if req.op is not None:
                op = routing.operation(req.op)
                if op is None:
                    raise NotFound(f"routing {routing.part} has no op {req.op}")
                return op
            ops = [o for o in routing.operations if part in {b.part for b in o.consumes}]
            if len(ops) != 1:
                raise Refused(f"routing {routing.part} consumes {part} at "
                              f"{'no op' if not ops else 'several ops'}: "
                              + ("scan the right material" if not ops else "give --op"))
            return ops[0]

        t = _unit_target(store, inst.unit_id, pick)
        _check_unit(ctx, t, req.station, order_only=True)
        interlocks.check_material_usable(material, t.op, today)
        reported = (inst.part_number or "").strip().upper()
        if reported and reported != material["part"]:
            raise Refused(f"{inst.unit_id}: the machine reports part {inst.part_number} from "
                          f"{material['id']}, which is a reel of {material['part']}: check the "
                          "feeder setup and the reel label")
        if inst.quantity <= 0:
            raise InvalidInput(f"{inst.material_id} on {inst.unit_id}: QuantityInstalled "
                               "must be positive", field="QuantityInstalled")
        plan.append(_Planned(t, inst, material))
    return plan


def _install(tx: Store, ctx: Context, req: CfxImport, msg: cfx.CfxMessage,
             plan: list[_Planned]) -> dict[str, Any]:
    username = current_actor(ctx).username
    now = clock.now_iso()
    today = clock.now().date()
    units: list[str] = []
    for p in plan:
        serial, mid, qty = p.target.unit["serial"], p.material["id"], p.install.quantity
        _recheck_install(tx, p, today)
        resources.check_material(tx, p.material["id"], "material", msg.timestamp)  # issue 18
        feeder = p.install.carrier_location
        if p.install.carrier_id:
            feeder = f"{feeder} ({p.install.carrier_id})" if feeder else p.install.carrier_id
        refdes = ",".join(p.install.refdes) or None
        if not tx.decrement("material_lots", mid, "remaining", qty):
            left = materials_store.remaining(tx, "material_lots", mid)
            raise Refused(f"{mid} has {left:g} left, {qty:g} installed on {serial} by the "
                          "machine: count the reel and correct the material quantity")
        genealogy.add_edges(tx, [{"parent": serial, "child": mid, "qty": qty,
                                  "op": p.target.op.op, "station_id": req.station,
                                  "refdes": refdes, "feeder": feeder, "at": now}])
        tx.append_audit(username=username, station=req.station, action="material.install",
                        entity_type="unit", entity_id=serial,
                        new={"material": mid, "qty": qty, "op": p.target.op.op,
                             "refdes": refdes, "feeder": feeder,
                             "source": f"cfx:{msg.unique_id}"})
        tx.append_audit(username=username, station=req.station, action="material.consume",
                        entity_type="material", entity_id=mid,
                        new={"qty": qty, "into": [serial], "op": p.target.op.op})
        if serial not in units:
            units.append(serial)
    return {"units": units, "installs": len(plan)}


def _recheck_install(tx: Store, p: _Planned, today: Any) -> None:
    """The planned install again, on the rows as the write transaction sees them: a hold,
    a rejection or a status change committed since the plan was checked refuses it."""
    unit = tx.get("units", p.target.unit["serial"]) or p.target.unit
    lot = tx.get("lots", unit["lot_id"]) or p.target.lot
    interlocks.check_workable("lot", lot["id"], lot["status"], bool(lot["on_hold"]),
                              lot["hold_reason"])
    interlocks.check_workable("unit", unit["serial"], unit["status"], bool(unit["on_hold"]),
                              unit["hold_reason"])
    interlocks.check_material_usable(tx.get("material_lots", p.material["id"]) or p.material,
                                     p.target.op, today)


# -- step-completing messages ----------------------------------------------------------------

@dataclass
class _Step:
    request: StepRequest
    extra: dict[str, Any]


def _spec_values(op: Operation, values: dict[str, float], mapping: dict[str, str],
                 unit: str, msg: cfx.CfxMessage) -> dict[str, str]:
    named = {mapping.get(k, k): v for k, v in values.items()}
    data = {s.name: _as_text(s.type, named[s.name]) for s in op.data if s.name in named}
    missing = [s.name for s in op.data if s.required and s.name not in data]
    if missing:
        offered = ", ".join(sorted(values)) or "none"
        raise InvalidInput(f"CFX {msg.name.rsplit('.', 1)[-1]} {msg.unique_id}: no value for "
                           f"{missing[0]} of op {op.op} ({op.name}) on {unit}: map one with "
                           f"--map NAME={missing[0]} (the message has: {offered})",
                           field=missing[0])
    return data


def _as_text(kind: str, value: float) -> str:
    """A CFX number as the data spec expects it typed (whole numbers for int and bool)."""
    if kind in ("int", "bool") and float(value).is_integer():
        return str(int(value))
    return repr(value)


def _plan_results(ctx: Context, req: CfxImport, station: dict[str, Any],
                  msg: cfx.CfxMessage, body: cfx.UnitsInspected | cfx.UnitsTested
                  ) -> list[_Step]:
    steps = []
    for r in body.results:
        t = _unit_target(ctx.store, r.unit_id, _op_for_station(req, station))
        _check_unit(ctx, t, req.station, order_only=False)
        values = dict(r.details.get("measurements", {}))
        values["defect_count"] = float(len(r.details.get("defects", [])))
        data = _spec_values(t.op, values, req.mapping, t.unit["serial"], msg)
        steps.append(_Step(
            StepRequest(scan=t.unit["serial"], op=t.op.op, station=req.station, data=data,
                        result="pass" if r.passed else "fail",
                        source=f"cfx:{msg.unique_id}"),
            {"cfx": {"message": msg.name, "result": r.result_text,
                     "defects": r.details.get("defects", [])[:20]}}))
    return steps


def _plan_processed(ctx: Context, req: CfxImport, station: dict[str, Any],
                    msg: cfx.CfxMessage, body: Any) -> list[_Step]:
    assert isinstance(body, cfx.UnitsProcessed)
    if not body.unit_ids:
        raise Refused(f"CFX UnitsProcessed {msg.unique_id} names no units (transaction "
                      f"{body.transaction_id}): record the step with `mes step complete`")
    steps = []
    for unit_id in body.unit_ids:
        t = _unit_target(ctx.store, unit_id, _op_for_station(req, station))
        _check_unit(ctx, t, req.station, order_only=False)
        values = {**body.readings, **body.unit_readings.get(unit_id, {})}
        data = _spec_values(t.op, values, req.mapping, t.unit["serial"], msg)
        steps.append(_Step(
            StepRequest(scan=t.unit["serial"], op=t.op.op, station=req.station, data=data,
                        result="pass" if body.overall_result == "Succeeded" else "fail",
                        source=f"cfx:{msg.unique_id}"),
            {"cfx": {"message": msg.name, "result": body.overall_result,
                     "transaction": body.transaction_id}}))
    return steps


def _complete(ctx: Context, steps: list[_Step], msg: cfx.CfxMessage) -> dict[str, Any]:
    units, failed, held = [], [], []
    for s in steps:
        out = complete_step(ctx, s.request, extra=s.extra)
        units.extend(out["items"])
        if out["status"] == "failed":
            failed.extend(out["items"])
        held.extend(out["held"])
    return {"units": units, "failed": failed, "held": held,
            "op": steps[0].request.op if steps else None}


def parse_mapping(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        src, sep, dst = pair.partition("=")
        if not sep or not src.strip() or not dst.strip():
            raise InvalidInput(f"--map {pair!r}: write CFX_NAME=SPEC_NAME", field="map")
        out[src.strip()] = dst.strip()
    return out
