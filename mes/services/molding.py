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
from mes.domain.words import plural
from mes.errors import InvalidInput, NotFound, Refused
from mes.services import spc
from mes.services.auth import current_actor, require, require_qualified
from mes.services.context import Context
from mes.services.lots import get_lot
from mes.services.routings import routing_version
from mes.services.steps import StepRequest, complete_step
from mes.store import genealogy
from mes.store import materials as materials_store
from mes.store import molding as molding_store
from mes.store import steps as steps_store

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
    columns = [report.column_for(s.euromap or "") for s in mapped]
    missing = [s for s, c in zip(mapped, columns, strict=True) if c is None]
    if missing:
        s = missing[0]
        raise InvalidInput(f"{req.report}: no column {s.euromap} (for {s.name} of op {op.op}); "
                           f"the file has {', '.join(report.columns)}: add it to the machine's "
                           "report job and export again", field=s.euromap)
    _check_identity(report, lot, op, req.mold)
    require_qualified(ctx, actor, op.station_type)
    shots = _check_shots(report, mapped, [c or "" for c in columns])
    summary = _summary(shots, mapped, op)
    text = raw.decode(report.encoding if report.encoding != "utf-8" else "utf-8-sig")
    return _record(ctx, req, lot, op, shots, summary, unique_id, digest, text, on_progress)


# Report columns that name what was molded (EUROMAP 63 description parameters; a vendor's
# own form starts with '@'). Each, when the report has it, must match what the plant knows.
IDENTITY_COLUMNS = {"mold": ("SetDescMld", "@SetDescMld", "ActDescMld"),
                    "part": ("SetDescPrt", "@SetDescPrt"),
                    "job": ("SetDescJob", "@SetDescJob")}


def _check_identity(report: Any, lot: dict[str, Any], op: Operation, mold: str | None) -> None:
    """Cross-check the report with the plant: the mold against the routing and --mold, the
    part against the lot's part, the job against the lot number (DESIGN §11)."""
    assert op.molding is not None
    expected = {"mold": [m for m in (op.molding.mold, (mold or "").strip().upper()) if m],
                "part": [lot["part"]], "job": [lot["id"]]}
    for what, names in IDENTITY_COLUMNS.items():
        col = next((c for c in names if c in report.columns), None)
        if col is None:
            continue
        for idx, row in enumerate(report.rows):
            value = str(row[col]).strip().upper()
            wrong = [e for e in expected[what] if value != e]
            if wrong:
                line = report.line_numbers[idx] if report.line_numbers else idx + 2
                raise Refused(f"{report.path}:{line}: {col} is {row[col]!r} but this import "
                              f"is for {what} {wrong[0]} (lot {lot['id']}, op {op.op}): a "
                              f"report from another {what} cannot be recorded on this lot")


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
    # shot_no, ok, values JSON, problems, report row, machine cycle counter
    rows: list[tuple[int, int, str, str | None, int, int | None]]
    good: int
    sums_all: list[float]
    sums_good: list[float]


def _check_shots(report: Any, mapped: Sequence[DataSpec], cols: list[str]) -> _Shots:
    names = [json.dumps(s.name) for s in mapped]
    bounds = [(s.min if s.min is not None else float("-inf"),
               s.max if s.max is not None else float("inf")) for s in mapped]
    kinds = report.column_kinds()
    for s, c in zip(mapped, cols, strict=True):
        if kinds.get(c) != "number":
            raise InvalidInput(f"{report.path}: column {c} (for {s.name}) holds text, "
                               "not numbers", field=c)
    order = sorted(range(len(mapped)), key=lambda i: mapped[i].name)  # canonical JSON
    n = len(mapped)
    sums_all, sums_good = [0.0] * n, [0.0] * n
    out: list[tuple[int, int, str, str | None, int, int | None]] = []
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
        cycle = int(row[shot_col]) if shot_col else None
        out.append((cycle if cycle is not None else idx + 1, 0 if bad else 1, doc,
                    "; ".join(bad) if bad else None, idx + 1, cycle))
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
        planned = int(lot["qty"])
        _set_molded_qty(tx, username, req.station, lot, summary, digest)
        outcome = complete_step(ctx, step_req, extra=extra)
        step_id = steps_store.latest_id_of_lot(tx, lot["id"], op.op)
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
            molding_store.insert_shots(tx, [(lot["id"], step_id, r[0], r[1], cav, r[2], r[3],
                                             r[4], r[5]) for r in chunk])
            if on_progress:
                on_progress("store", min(start + INSERT_CHUNK, total), total)
        signals = spc.on_shots(tx, username, req.station, lot, op, step_id, shots.rows)
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
        held = _hold_if_overrun(tx, username, req.station, lot["id"], summary, planned) or held
        resin = _consume_for_molded(tx, username, req.station, lot["id"], op, summary)
    return {"qty_planned": planned, "resin_corrections": resin,
            "lot": lot["id"], "op": op.op, "name": op.name, "status": outcome["status"],
            "step": step_id,
            "held": held or bool(outcome["held"]) or any(s["ncr"] for s in signals),
            "problems": outcome["problems"], "qty_scrapped": scrapped,
            "completed": outcome["completed"], "sha256": digest, "spc": signals, **summary}


# Molded beyond the plan by more than this: quality confirms the lot before it moves on.
OVERRUN_HOLD_PCT = 10.0


def _set_molded_qty(tx: Any, username: str, station: str, lot: dict[str, Any],
                    summary: dict[str, Any], digest: str) -> None:
    """The lot holds what the machine molded (every shot × cavities), not what was planned:
    its available quantity is then good parts = good shots × cavities, less later rejects."""
    molded = summary["parts_good"] + summary["parts_rejected"]
    if molded == lot["qty"]:
        return
    tx.update("lots", lot["id"], {"qty": molded})
    tx.append_audit(username=username, station=station, action="lot.qty", entity_type="lot",
                    entity_id=lot["id"], old={"qty": lot["qty"]}, new={"qty": molded},
                    reason=f"molded per EUROMAP 63 report {digest[:12]}: {summary['shots']} "
                           f"shots × {summary['cavities']} cavities (planned {lot['qty']})")


def _hold_if_overrun(tx: Any, username: str, station: str, lot_id: str,
                     summary: dict[str, Any], planned: int) -> bool:
    molded = summary["parts_good"] + summary["parts_rejected"]
    if molded <= planned * (1 + OVERRUN_HOLD_PCT / 100):
        return False
    reason = (f"molded {molded} parts for a lot planned at {planned} (more than "
              f"{OVERRUN_HOLD_PCT:g} % over): quality to confirm the report and the lot")
    lot = tx.get("lots", lot_id)
    if lot["on_hold"]:
        reason = f"{lot['hold_reason']}; {reason}"
    tx.update("lots", lot_id, {"on_hold": True, "hold_reason": reason})
    tx.append_audit(username=username, station=station, action="hold.auto",
                    entity_type="lot", entity_id=lot_id,
                    old={"on_hold": bool(lot["on_hold"]), "hold_reason": lot["hold_reason"]},
                    new={"on_hold": True, "hold_reason": reason}, reason=reason)
    return True


def _consume_for_molded(tx: Any, username: str, station: str, lot_id: str, op: Operation,
                        summary: dict[str, Any]) -> list[dict[str, Any]]:
    """Material consumed up to molding (resin at drying) was planned per lot unit; what was
    molded used per-part quantity × parts molded (good and rejected). The difference is
    consumed from, or given back to, the material lot used, as a correction edge."""
    lot = tx.get("lots", lot_id)
    routing = routing_version(tx, lot["part"], lot["routing_version"])
    lines = {b.part: b for o in routing.operations if o.op <= op.op for b in o.consumes
             if not b.by_serial}
    molded = summary["parts_good"] + summary["parts_rejected"]
    now = clock.now_iso()
    out = []
    for r in molding_store.consumed_by_part(tx, lot_id):
        line = lines.get(r["part"])
        if line is None:
            continue
        want = line.qty * molded
        diff = round(want - float(r["qty"]), 9)
        if abs(diff) <= 1e-9 * max(1.0, want):
            continue
        last = molding_store.edge(tx, int(r["last_edge"]), lot_id) or {}
        mid = last["child"]
        if not tx.decrement("material_lots", mid, "remaining", diff):
            left = materials_store.remaining(tx, "material_lots", mid)
            raise Refused(f"{mid} has {left:g} left; the {molded} parts molded need {diff:g} "
                          f"more {r['part']} than was consumed: correct the material quantity")
        genealogy.add_edges(tx, [{"parent": lot_id, "child": mid, "qty": diff,
                                  "op": last["op"], "station_id": station, "at": now}])
        why = (f"{line.qty:g} {r['part']} per part × {molded} parts molded = {want:g}; "
               f"{float(r['qty']):g} consumed for the planned quantity")
        tx.append_audit(username=username, station=station, action="material.correct",
                        entity_type="lot", entity_id=lot_id,
                        new={"material": mid, "qty": diff, "op": last["op"]}, reason=why)
        tx.append_audit(username=username, station=station, action="material.consume",
                        entity_type="material", entity_id=mid,
                        new={"qty": diff, "into": [lot_id], "op": last["op"]}, reason=why)
        out.append({"material": mid, "part": r["part"], "qty": diff, "consumed_for": want})
    return out


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
                    reason=f"{plural(summary['bad_shots'], 'shot')} outside the validated "
                           f"window × {plural(summary['cavities'], 'cavity', 'cavities')} "
                           f"(EUROMAP 63 report {digest[:12]})")
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


def list_shots(ctx: Context, lot_id: str, bad_only: bool = False) -> list[dict[str, Any]]:
    """A lot's shots (or only those outside the validated window), each with its row in the
    machine's report, the machine's cycle counter, the values and what was out of window."""
    lot = get_lot(ctx.store, lot_id.strip().upper())
    out = []
    for r in molding_store.shots_of(ctx.store, lot["id"], bad_only=bad_only):
        out.append({"lot": lot["id"], "report_row": r["report_row"], "cycle": r["cycle"],
                    "shot_no": r["shot_no"], "ok": bool(r["ok"]), "cavities": r["cavities"],
                    "problems": r["problems"], **json.loads(r["shot_values"] or "{}")})
    return out
