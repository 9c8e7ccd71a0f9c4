"""EUROMAP 63 shot reports onto a molding lot (ISO 13485 7.5.6; DESIGN §9).

One import = one report file = the lot's molding step, in one transaction:

* every shot is stored in ``shots`` with the routing's parameters (data specs that name a
  ``euromap`` column) and whether each was inside the validated window;
* the step passes through ``services.steps`` (every interlock, the station's loadout or
  ``--consume`` for the op's BOM). Its captured values are the means over the *good* shots,
  so a few bad shots never fail the whole lot; the step's data then holds the summary
  (shots, good/bad, parts good/rejected, reject rate, mean over all shots);
* bad shots' parts are rejected: ``lots.qty_scrapped`` += bad shots × cavities (and
  ``remaining`` if the lot completes here); a reject rate above the routing's
  ``molding.hold_reject_rate_pct`` puts the lot on hold ("open an NCR");
* the file's sha256 goes into ``machine_messages`` (``euromap63:<sha256>``): the same
  report cannot be imported twice.
A step that has no good shot at all fails (and holds the lot) per the step rules.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mes import clock
from mes.domain.model import DataSpec, Operation, Routing
from mes.errors import InvalidInput, NotFound, Refused
from mes.services.auth import current_actor, require, require_qualified
from mes.services.context import Context
from mes.services.lots import get_lot
from mes.services.routings import routing_version
from mes.services.steps import StepRequest, complete_step

# on_progress(stage, done, total): stage "parse" (total unknown) or "store".
Progress = Callable[[str, int, int | None], None]
INSERT_CHUNK = 10_000


@dataclass
class MoldingImport:
    lot: str
    station: str
    report: Path
    op: int | None = None
    mold: str | None = None
    consume: list[str] = field(default_factory=list)


def _molding_op(routing: Routing, op_no: int | None) -> Operation:
    if op_no is not None:
        op = routing.operation(op_no)
        if op is None:
            raise NotFound(f"routing {routing.part} has no op {op_no}")
        if op.molding is None:
            raise Refused(f"op {op_no} ({op.name}) is not a molding op: give the molding op")
        return op
    ops = [o for o in routing.operations if o.molding is not None]
    if not ops:
        raise Refused(f"routing {routing.part} v{routing.version} has no molding op: "
                      "a EUROMAP 63 report has nothing to feed")
    if len(ops) > 1:
        raise InvalidInput(f"routing {routing.part} molds at ops "
                           f"{', '.join(str(o.op) for o in ops)}: give --op", field="op")
    return ops[0]


def import_report(ctx: Context, req: MoldingImport, on_progress: Progress | None = None
                  ) -> dict[str, Any]:
    from mes.ingest import euromap63

    require(ctx, "import.machine")
    actor = require(ctx, "step.record")
    store = ctx.store
    lot = get_lot(store, req.lot)
    if lot["serialized"]:
        raise Refused(f"lot {lot['id']} is serialized: molding reports feed lots of molded "
                      "parts, not units")
    routing = routing_version(store, lot["part"], lot["routing_version"])
    op = _molding_op(routing, req.op)
    assert op.molding is not None
    if req.mold and op.molding.mold and req.mold.upper() != op.molding.mold:
        raise Refused(f"mold {req.mold.upper()} is not the validated mold of op {op.op} "
                      f"({op.molding.mold}): mount {op.molding.mold} or ask quality")
    mapped = [s for s in op.data if s.euromap]
    if not mapped:
        raise Refused(f"op {op.op} ({op.name}) names no EUROMAP 63 column in its data specs")
    raw = _read(req.report)
    digest = hashlib.sha256(raw).hexdigest()
    unique_id = f"euromap63:{digest}"
    done = store.get("machine_messages", unique_id)
    if done:
        prior = json.loads(done["outcome"] or "{}")
        raise Refused(f"{req.report.name} (sha256 {digest[:12]}…) was already imported "
                      f"for lot {prior.get('lot', '?')} on {done['imported_at'][:16]} by "
                      f"{done['imported_by']}: nothing to do")
    report = euromap63.parse_report(
        req.report, on_progress=(lambda n: on_progress("parse", n, None)) if on_progress
        else None)
    missing = [s for s in mapped if s.euromap not in report.columns]
    if missing:
        s = missing[0]
        raise InvalidInput(f"{req.report}: no column {s.euromap} (for {s.name} of op {op.op}): "
                           "add it to the machine's report job and export again",
                           field=s.euromap)
    require_qualified(ctx, actor, op.station_type)
    shots = _check_shots(report, mapped, op.molding.cavities)
    summary = _summary(shots, mapped, op)
    text = raw.decode(report.encoding if report.encoding != "utf-8" else "utf-8-sig")
    return _record(ctx, req, lot, op, shots, summary, unique_id, digest, text, on_progress)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise NotFound(f"{path}: no such file; check the path to the machine report") from None
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot be read ({exc.strerror or type(exc).__name__})",
                           field="file") from None


@dataclass
class _Shots:
    rows: list[tuple[int, int, str, str | None]]  # shot_no, ok, values JSON, problems
    good: int
    sums_all: list[float]
    sums_good: list[float]


def _check_shots(report: Any, mapped: Sequence[DataSpec], cavities: int) -> _Shots:
    cols = [s.euromap for s in mapped]
    names = [json.dumps(s.name) for s in mapped]
    bounds = [(s.min if s.min is not None else float("-inf"),
               s.max if s.max is not None else float("inf")) for s in mapped]
    kinds = report.column_kinds()
    for s in mapped:
        if kinds.get(s.euromap) != "number":
            raise InvalidInput(f"{report.path}: column {s.euromap} (for {s.name}) holds text, "
                               "not numbers", field=s.euromap)
    order = sorted(range(len(mapped)), key=lambda i: mapped[i].name)  # canonical JSON
    n = len(mapped)
    sums_all, sums_good = [0.0] * n, [0.0] * n
    out: list[tuple[int, int, str, str | None]] = []
    good = 0
    shot_col = report.shot_column
    for idx, row in enumerate(report.rows):
        values = [row[c] for c in cols]
        bad: list[str] = []
        for i in range(n):
            v = values[i]
            sums_all[i] += v
            lo, hi = bounds[i]
            if v < lo or v > hi:
                spec = mapped[i]
                unit = f" {spec.unit}" if spec.unit else ""
                side = f"below min {spec.min}" if v < lo else f"above max {spec.max}"
                bad.append(f"{spec.name}={v:g}{unit} {side}{unit}")
        if not bad:
            good += 1
            for i in range(n):
                sums_good[i] += values[i]
        doc = "{" + ",".join(f"{names[i]}:{values[i]!r}" for i in order) + "}"
        shot_no = int(row[shot_col]) if shot_col else idx + 1
        out.append((shot_no, 0 if bad else 1, doc, "; ".join(bad) if bad else None))
    return _Shots(out, good, sums_all, sums_good)


def _summary(shots: _Shots, mapped: Sequence[DataSpec], op: Operation) -> dict[str, Any]:
    assert op.molding is not None
    total = len(shots.rows)
    bad = total - shots.good
    cav = op.molding.cavities
    return {
        "shots": total, "good_shots": shots.good, "bad_shots": bad, "cavities": cav,
        "parts_good": shots.good * cav, "parts_rejected": bad * cav,
        "reject_rate_pct": round(100.0 * bad / total, 3) if total else 0.0,
        "hold_reject_rate_pct": op.molding.hold_reject_rate_pct,
        "mean_all_shots": {s.name: round(shots.sums_all[i] / total, 6)
                           for i, s in enumerate(mapped)},
        "mean_good_shots": {s.name: round(shots.sums_good[i] / shots.good, 6)
                            for i, s in enumerate(mapped)} if shots.good else None,
        "mold": op.molding.mold,
    }


def _record(ctx: Context, req: MoldingImport, lot: dict[str, Any], op: Operation,
            shots: _Shots, summary: dict[str, Any], unique_id: str, digest: str, text: str,
            on_progress: Progress | None) -> dict[str, Any]:
    store = ctx.store
    username = current_actor(ctx).username
    means = summary["mean_good_shots"] or summary["mean_all_shots"]
    data = {name: repr(v) for name, v in means.items()}
    result = "pass" if shots.good else "fail"
    extra = {"molding": summary, "report": req.report.name, "report_sha256": digest}
    step_req = StepRequest(scan=lot["id"], op=op.op, station=req.station, data=data,
                           result=result, consume=req.consume, source=unique_id)
    now = clock.now_iso()
    total = len(shots.rows)
    with store.transaction() as tx:
        if tx.get("machine_messages", unique_id) is not None:
            raise Refused(f"{req.report.name} was imported meanwhile (another station or "
                          "import): nothing to do")
        outcome = complete_step(ctx, step_req, extra=extra)
        step_id = tx.scalar("SELECT id FROM steps WHERE lot_id = ? AND serial IS NULL AND "
                            "op = ? ORDER BY id DESC LIMIT 1", (lot["id"], op.op))
        step = tx.get("steps", step_id) or {}
        before = json.loads(step.get("data") or "{}")
        after = {**before, **{k: v for k, v in summary.items() if k != "mean_good_shots"}}
        tx.update("steps", step_id, {"data": after})
        # The shot summary joins the step's data: a state change like any other, audited.
        tx.append_audit(username=ctx._actor.username if ctx._actor else None,
                        station=req.station, action="step.data", entity_type="lot",
                        entity_id=lot["id"], old={"step": step_id, "data": before},
                        new={"step": step_id, "data": after}, reason="molding shot summary")
        cav = summary["cavities"]
        for start in range(0, total, INSERT_CHUNK):
            chunk = shots.rows[start:start + INSERT_CHUNK]
            tx.insert_many("shots", ("lot_id", "step_id", "shot_no", "ok", "cavities",
                                     "shot_values", "problems"),
                           [(lot["id"], step_id, r[0], r[1], cav, r[2], r[3]) for r in chunk])
            if on_progress:
                on_progress("store", min(start + INSERT_CHUNK, total), total)
        tx.insert("machine_messages", {
            "unique_id": unique_id, "kind": "euromap63", "name": req.report.name,
            "sent_at": None, "raw": text, "sha256": digest, "imported_at": now,
            "imported_by": username,
            "outcome": {"lot": lot["id"], "op": op.op, "step": step_id,
                        "shots": total, "bad_shots": summary["bad_shots"]}})
        tx.append_audit(username=username, station=req.station, action="machine.import",
                        entity_type="lot", entity_id=lot["id"],
                        new={"unique_id": unique_id, "file": req.report.name, "step": step_id,
                             "shots": total, "good_shots": shots.good})
        scrapped = _reject_parts(tx, username, req.station, lot["id"], summary, digest)
        held = _hold_if_rate(tx, username, req.station, lot["id"], summary)
    return {"lot": lot["id"], "op": op.op, "name": op.name, "status": outcome["status"],
            "step": step_id, "held": held or bool(outcome["held"]),
            "problems": outcome["problems"], "qty_scrapped": scrapped,
            "completed": outcome["completed"], "sha256": digest, **summary}


def _reject_parts(tx: Any, username: str, station: str, lot_id: str,
                  summary: dict[str, Any], digest: str) -> int:
    lot = tx.get("lots", lot_id)
    rejected = summary["parts_rejected"]
    if not rejected:
        return int(lot["qty_scrapped"])
    new = min(lot["qty"], lot["qty_scrapped"] + rejected)
    changes: dict[str, Any] = {"qty_scrapped": new}
    if lot["status"] == "completed":  # completed by this step: remaining must count the rejects
        changes["remaining"] = lot["qty"] - new
    tx.update("lots", lot_id, changes)
    tx.append_audit(username=username, station=station, action="lot.reject_parts",
                    entity_type="lot", entity_id=lot_id,
                    old={"qty_scrapped": lot["qty_scrapped"], "remaining": lot["remaining"]},
                    new=changes,
                    reason=f"{summary['bad_shots']} shots outside the validated window × "
                           f"{summary['cavities']} cavities (EUROMAP 63 report {digest[:12]})")
    return int(new)


def _hold_if_rate(tx: Any, username: str, station: str, lot_id: str,
                  summary: dict[str, Any]) -> bool:
    rate, limit = summary["reject_rate_pct"], summary["hold_reject_rate_pct"]
    if rate <= limit:
        return False
    lot = tx.get("lots", lot_id)
    reason = f"molding reject rate {rate:g}% > {limit:g}%: open an NCR"
    if lot["on_hold"]:
        return True  # already held (failed step): keep the first reason
    tx.update("lots", lot_id, {"on_hold": True, "hold_reason": reason})
    tx.append_audit(username=username, station=station, action="hold.auto",
                    entity_type="lot", entity_id=lot_id, old={"on_hold": False},
                    new={"on_hold": True}, reason=reason)
    return True
