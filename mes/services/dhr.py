"""Device History Record (21 CFR 820.184, ISO 13485 §7.5.1): assembled, reviewed, frozen.

`build_dhr` returns the plain dict that `mes.render.dhr_pdf.render_dhr_pdf` expects. It is
assembled section by section (`SECTIONS`: one function per top-level key, each reading
the `Sources` gathered once); to add a section, append a (key, function) pair. The PDF
is a review by exception (a summary whose length follows the lot's exceptions, not its
unit count); per-unit detail is in dhr.json and the CSV annex.

Hashes (canonical JSON, never PDF bytes):
- `record_sha256`: the manufacturing record, i.e. every section except the ENVELOPE (when
  and by which program it was generated) and the STATE (status, shipments, signatures
  on the lot), which change by release itself. Quality signs it (`mes dhr review`) and
  `lot release` regenerates and compares it.
- `content_sha256`: every section except the envelope. Once a lot is released its DHR is
  frozen as version 1; a later generation whose content differs is filed as version
  n+1 (dhr-vN.pdf) with the sections that changed and the audit events that say why.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mes
from mes import clock
from mes.domain.audit import record_hash
from mes.domain.ids import normalise_scan
from mes.errors import NotFound, Refused
from mes.services import resources
from mes.services.audit import head
from mes.services.auth import (
    current_actor,
    prepare_signature,
    present_signature,
    sign,
    signatures_for,
)
from mes.services.component_quality import component_quality
from mes.services.context import Context
from mes.services.files import write_atomic
from mes.services.localtime import local_offset, site_zone
from mes.services.lots import resolve
from mes.services.routings import get_part
from mes.services.spc import lot_charts, lot_signals
from mes.services.workspace import config, site
from mes.store import catalog, genealogy
from mes.store import dhr as records
from mes.store.base import Row, Store
from mes.store.molding import shots_of
from mes.store.sites import station_sites

NOT_CAPTURED = "not captured"
# When and by what the DHR was generated: never part of a hash.
ENVELOPE = frozenset({"generated_at", "site_time", "mes_version", "chain_head", "record",
                      "versions", "seal", "_sections", "_canon", "_charts"})
# What release and shipping change on purpose: outside the reviewed record hash.
STATE = frozenset({"state", "shipments", "signatures", "containers"})
FINISHED = ("completed", "released", "shipped")
# Audit actions that are exceptions when they touch the lot or one of its units.
EXCEPTION_ACTIONS = ("lot.hold", "unit.hold", "hold.auto", "hold.ncr", "recall.hold",
                     "lot.unhold", "unit.unhold", "unhold.ncr", "lot.rework", "unit.rework",
                     "lot.scrap", "unit.scrap", "lot.reject_parts", "lot.reopen")
HOLD_ACTIONS = {"lot.hold", "unit.hold", "hold.auto", "hold.ncr", "recall.hold"}


@dataclass
class Sources:
    """The records a DHR is assembled from, read once."""

    ctx: Context
    store: Store
    lot: Row
    part: Any
    parts: dict[str, dict[str, Any]]
    routing_row: Row
    routing_doc: dict[str, Any]
    units: list[Row]
    steps: list[Row]
    users: dict[str, str]
    edges: list[Row]
    details: dict[str, list[Row]]
    serials: list[str] = field(default_factory=list)

    @property
    def lot_id(self) -> str:
        return str(self.lot["id"])

    def op_name(self, op: Any) -> str | None:
        return next((o["name"] for o in self.routing_doc["operations"] if o["op"] == op), None)


def _sources(ctx: Context, lot_id: str) -> Sources:
    store = ctx.store
    kind, lot = resolve(store, normalise_scan(lot_id))
    if kind != "lot":
        raise NotFound(f"{lot_id} is a {kind}: a DHR is made per lot (see `mes lot show`)")
    routing_row = records.routing_row(store, lot["part"], lot["routing_version"]) or {}
    doc = json.loads(routing_row["doc"]) if routing_row else {"operations": []}
    units = store.find("units", {"lot_id": lot["id"]}, order="serial")
    edges = genealogy.backward_edges(store, lot["id"])
    return Sources(ctx=ctx, store=store, lot=lot, part=get_part(store, lot["part"]),
                   parts=catalog.part_docs(store), routing_row=routing_row, routing_doc=doc,
                   units=units, steps=store.find("steps", {"lot_id": lot["id"]}, order="id"),
                   users=records.user_names(store), edges=edges,
                   details=genealogy.backward_details(store, lot["id"], edges=edges),
                   serials=[u["serial"] for u in units])


# -- sections ------------------------------------------------------------------------------

def _site(src: Sources) -> dict[str, Any]:
    """The lot's site, and (issue 20) every site where its steps were done."""
    s = site(src.ctx, src.lot["site_id"])
    at = station_sites(src.store)
    count: dict[str, int] = {}
    for st in src.steps:
        where = st.get("site_id") or at.get(st["station_id"]) or s["id"]
        count[where] = count.get(where, 0) + 1
    done = []
    for sid in sorted(count):
        row = site(src.ctx, sid)
        done.append({"id": sid, "name": row["name"], "country": row["country"],
                     "company": row["manufacturer"], "steps": count[sid]})
    return {**{k: s[k] for k in ("id", "name", "country", "manufacturer", "address")},
            "gln": s.get("gln"), "timezone": site_zone(src.store, s["id"]),
            "steps_at": done}


def _lot(src: Sources) -> dict[str, Any]:
    lot, part = src.lot, src.part
    if lot["serialized"]:
        made = sum(1 for u in src.units if u["status"] in (*FINISHED, "consumed"))
    else:
        made = lot["qty"] - lot["qty_scrapped"] if lot["status"] in FINISHED else 0
    return {"id": lot["id"], "part_number": lot["part"], "part_name": part.name,
            "gtin": part.gtin, "ref": part.ref, "serialized": bool(lot["serialized"]),
            "created_at": lot["created_at"], "created_by": lot["created_by"],
            "completed_at": lot["completed_at"], "qty_planned": lot["qty"],
            "qty_manufactured": made, "qty_scrapped": lot["qty_scrapped"],
            "units": len(src.units)}


def _state(src: Sources) -> dict[str, Any]:
    lot = src.lot
    by: dict[str, int] = {}
    for u in src.units:
        by[u["status"]] = by.get(u["status"], 0) + 1
    return {"status": lot["status"], "on_hold": bool(lot["on_hold"]),
            "hold_reason": lot["hold_reason"], "released_at": lot["released_at"],
            "qty_released": lot["qty_released"], "qty_shipped": lot["qty_shipped"],
            "units_by_status": dict(sorted(by.items()))}


def _routing(src: Sources) -> dict[str, Any]:
    lot = src.lot
    approvals = signatures_for(src.store, "routing", f"{lot['part']}@{lot['routing_version']}")
    approval = next((s for s in reversed(approvals) if s["meaning"] == "approved"), None)
    return {"part": lot["part"], "version": lot["routing_version"],
            "sha256": src.routing_row.get("sha256"), "approval": approval,
            "operations": [{"op": o["op"], "name": o["name"],
                            "station_type": o["station_type"],
                            "data": [{k: d.get(k) for k in ("name", "type", "unit", "min", "max",
                                                            "required")}
                                     for d in o.get("data") or []]}
                           for o in src.routing_doc["operations"]]}


def _operations(src: Sources) -> list[dict[str, Any]]:
    """Per operation: subjects (units, or the lot), passed / failed / reworked, and each
    captured value with its limits and the observed min / mean / max."""
    by_op: dict[int, list[Row]] = {}
    for s in src.steps:
        by_op.setdefault(s["op"], []).append(s)
    out = []
    for o in src.routing_doc["operations"]:
        steps = by_op.pop(o["op"], [])
        out.append(_op_summary(o["op"], o["name"], o.get("data") or [], steps))
    for op, steps in sorted(by_op.items()):  # steps at an op the routing does not name
        out.append(_op_summary(op, None, [], steps))
    return out


def _op_summary(op: int, name: str | None, specs: list[dict[str, Any]], steps: list[Row]
                ) -> dict[str, Any]:
    last: dict[str, Row] = {}
    attempts: dict[str, int] = {}
    values: dict[str, list[Any]] = {}
    for s in steps:
        key = s["serial"] or "lot"
        if s["status"] in ("passed", "failed"):
            attempts[key] = attempts.get(key, 0) + 1
        last[key] = s
        for k, v in (json.loads(s["data"]) if s["data"] else {}).items():
            values.setdefault(k, []).append(v)
    names = [d["name"] for d in specs] + sorted(k for k in values if k not in
                                                {d["name"] for d in specs})
    spec_of = {d["name"]: d for d in specs}
    vals = []
    for n in names:
        d = spec_of.get(n, {})
        vals.append({"name": n, "unit": d.get("unit"), "min": d.get("min"), "max": d.get("max"),
                     "in_routing": n in spec_of, **_observed(values.get(n, []), d)})
    return {"op": op, "name": name, "n": len(last),
            "passed": sum(1 for s in last.values() if s["status"] == "passed"),
            "failed": sum(1 for s in steps if s["status"] == "failed"),
            "reworked": sum(1 for n_ in attempts.values() if n_ > 1),
            "in_process": sum(1 for s in last.values() if s["status"] not in ("passed",
                                                                                "failed")),
            "values": vals}


def _observed(xs: list[Any], spec: dict[str, Any]) -> dict[str, Any]:
    nums = [float(x) for x in xs if isinstance(x, int | float) and not isinstance(x, bool)]
    if nums and len(nums) == len(xs):
        lo, hi = spec.get("min"), spec.get("max")
        out = sum(1 for x in nums if (lo is not None and x < lo) or (hi is not None and x > hi))
        return {"n": len(nums), "observed_min": min(nums), "observed_mean":
                round(statistics.fmean(nums), 6), "observed_max": max(nums),
                "out_of_limits": out}
    distinct = sorted({json.dumps(x, sort_keys=True) if not isinstance(x, str) else x
                       for x in xs})
    return {"n": len(xs), "distinct": distinct[:10], "distinct_count": len(distinct)}


def _consumptions(src: Sources) -> list[dict[str, Any]]:
    """Every consumption edge below the lot (per unit: the detail behind `materials`)."""
    mats = {m["id"]: m for m in src.details["materials"]}
    comp_units = {u["serial"]: u for u in src.details["units"]}
    comp_lots = {x["id"]: x for x in src.details["lots"]}
    out = []
    for e in src.edges:
        row = {"id": e["child"], "kind": e["child_kind"], "into": e["parent"], "op": e["op"],
               "qty": e["qty"], "station": e["station_id"], "at": e["at"],
               "refdes": e["refdes"], "feeder": e["feeder"]}
        if e["child_kind"] == "material":
            m = mats.get(e["child"], {})
            row.update({"part_number": m.get("part"), "supplier": m.get("supplier"),
                        "supplier_lot": m.get("supplier_lot"), "mpn": m.get("mpn"),
                        "date_code": m.get("date_code"), "expiry": m.get("expiry"),
                        "origin": m.get("origin"), "cert": m.get("cert")})
        elif e["child_kind"] in ("unit", "lot"):
            c = comp_units.get(e["child"]) or comp_lots.get(e["child"]) or {}
            row.update({"part_number": c.get("part"), "lot": c.get("lot_id", c.get("id"))})
        out.append(row)
    return out


def _materials(src: Sources) -> list[dict[str, Any]]:
    """Material consumption consolidated: one row per material lot (and op)."""
    mats = {m["id"]: m for m in src.details["materials"]}
    acc: dict[tuple[str, Any], dict[str, Any]] = {}
    for e in src.edges:
        if e["child_kind"] != "material":
            continue
        m = mats.get(e["child"], {})
        row = acc.get((e["child"], e["op"]))
        if row is None:
            part = m.get("part")
            row = acc[(e["child"], e["op"])] = {
                "id": e["child"], "part_number": part,
                "part_name": src.parts.get(part or "", {}).get("name"), "op": e["op"],
                "mpn": m.get("mpn") or NOT_CAPTURED, "supplier": m.get("supplier"),
                "supplier_lot": m.get("supplier_lot") or NOT_CAPTURED,
                "date_code": m.get("date_code") or NOT_CAPTURED,
                "origin": m.get("origin") or NOT_CAPTURED,
                "cert": m.get("cert") or NOT_CAPTURED, "expiry": m.get("expiry"),
                "qty": 0.0, "_into": set(), "_refdes": set(), "first_at": e["at"],
                "last_at": e["at"]}
        row["qty"] += float(e["qty"] or 0)
        row["_into"].add(e["parent"])
        if e["refdes"]:
            row["_refdes"].update(x.strip() for x in str(e["refdes"]).split(",") if x.strip())
        row["first_at"], row["last_at"] = min(row["first_at"], e["at"]), max(row["last_at"],
                                                                             e["at"])
    out = []
    for row in sorted(acc.values(), key=lambda r: (str(r["part_number"]), r["id"], r["op"])):
        into, refdes = row.pop("_into"), row.pop("_refdes")
        out.append({**row, "qty": round(row["qty"], 6), "units": len(into),
                    "refdes": ", ".join(sorted(refdes)) if refdes else NOT_CAPTURED})
    return out


def _components(src: Sources) -> list[dict[str, Any]]:
    """Subassemblies consumed, consolidated per component lot and part."""
    comp_units = {u["serial"]: u for u in src.details["units"]}
    comp_lots = {x["id"]: x for x in src.details["lots"]}
    acc: dict[tuple[Any, ...], dict[str, Any]] = {}
    for e in src.edges:
        if e["child_kind"] not in ("unit", "lot"):
            continue
        c = comp_units.get(e["child"]) or comp_lots.get(e["child"]) or {}
        lot = c.get("lot_id", c.get("id"))
        key = (lot, c.get("part"), e["op"])
        row = acc.setdefault(key, {"lot": lot, "part_number": c.get("part"), "op": e["op"],
                                   "kind": e["child_kind"], "qty": 0.0, "_into": set(),
                                   "_items": set()})
        row["qty"] += float(e["qty"] or 0)
        row["_into"].add(e["parent"])
        row["_items"].add(e["child"])
    out = []
    for row in sorted(acc.values(), key=lambda r: (str(r["part_number"]), str(r["lot"]))):
        into, items = row.pop("_into"), row.pop("_items")
        out.append({**row, "qty": round(row["qty"], 6), "into": len(into),
                    "items": len(items)})
    return out


def _equipment(src: Sources) -> list[dict[str, Any]]:
    """Stations used by the lot's steps, with the calibration due date in force at first
    and last use (rebuilt from the stations' audit events) and uses past that date."""
    uses: dict[str, list[str]] = {}
    for s in src.steps:
        uses.setdefault(s["station_id"], []).append(s["started_at"])
    rows = {r["id"]: r for r in records.stations(src.store, uses)}
    history: dict[str, list[tuple[str, str | None]]] = {}
    for ev in records.events_on(src.store, uses, ("station.add", "station.update")):
        new = json.loads(ev["new"]) if ev["new"] else {}
        if "calibration_due" in new:
            history.setdefault(ev["entity_id"], []).append((ev["at"], new["calibration_due"]))
    out = []
    for sid in sorted(uses):
        times = sorted(uses[sid])
        hist = history.get(sid, [])

        def due_at(t: str, hist: list[tuple[str, str | None]] = hist) -> str | None:
            due = None
            for at, value in hist:
                if at <= t:
                    due = value
            return due

        overdue = [t for t in times if (d := due_at(t)) is not None and t[:10] > d]
        row = rows.get(sid, {})
        out.append({"station": sid, "type": row.get("type"), "steps": len(times),
                    "first_use": times[0], "last_use": times[-1],
                    "calibration_due_at_first_use": due_at(times[0]) or NOT_CAPTURED,
                    "calibration_due_at_last_use": due_at(times[-1]) or NOT_CAPTURED,
                    "uses_past_calibration": len(overdue)})
    return out


def _flashes(src: Sources) -> list[dict[str, Any]]:
    return [{"image": f["image_id"], "version": f["version"], "sha256": f["image_sha256"],
             "serial": f["serial"], "mcu_uid": f["mcu_uid"], "station": f["station_id"],
             "attempt": f["attempt"], "verify": f["verify"], "at": f["at"]}
            for f in src.details["flashes"]]


def _firmware(src: Sources) -> list[dict[str, Any]]:
    """Firmware image × units: each image with the units it verified on."""
    acc: dict[str, dict[str, Any]] = {}
    for f in src.details["flashes"]:
        row = acc.setdefault(f["image_id"], {"image": f["image_id"], "version": f["version"],
                                             "sha256": f["image_sha256"], "_ok": set(),
                                             "attempts": 0, "failed_verifies": 0})
        row["attempts"] += 1
        if f["verify"] == "pass":
            row["_ok"].add(f["serial"])
        else:
            row["failed_verifies"] += 1
    return [{**{k: v for k, v in r.items() if k != "_ok"}, "units": len(r["_ok"])}
            for r in sorted(acc.values(), key=lambda r: r["image"])]


def _labels(src: Sources) -> list[dict[str, Any]]:
    return [{"item": r["item_id"], "template": r["template"],
             "template_version": r["template_version"], "format": r["format"],
             "element_string": r["element_string"], "content_sha256": r["content_sha256"],
             "file": r["file"], "printed_at": r["printed_at"], "user": r["username"],
             "reprint": r["reprint"], "reason": r["reason"],
             "origin_decision": r.get("origin_decision")}  # the decision the claim relied on
            for r in src.store.find("labels", {"lot_id": src.lot_id}, order="id")]


def _labeling(src: Sources) -> dict[str, Any]:
    """Label reconciliation: per label stock consumed (issued) and per template and
    revision (printed, verified, reprinted with reasons, voided = superseded)."""
    labels = src.store.find("labels", {"lot_id": src.lot_id}, order="id")
    templates: dict[tuple[str, int], dict[str, Any]] = {}
    for r in labels:
        t = templates.setdefault((r["template"], r["template_version"]), {
            "template": r["template"], "revision": r["template_version"], "printed": 0,
            "verified": 0, "reprinted": 0, "voided": 0, "reasons": [], "items": set()})
        t["printed"] += 1
        t["verified"] += r["format"] == "pdf"  # PDF labels are rasterised and decoded
        if r["reprint"]:
            t["reprinted"] += 1
            t["voided"] += 1  # a reprint supersedes the label printed before it
            if r["reason"] and r["reason"] not in t["reasons"]:
                t["reasons"].append(r["reason"])
        t["items"].add(r["item_id"])
    stocks: dict[str, dict[str, Any]] = {}
    mats = {m["id"]: m for m in src.details["materials"]}
    own = {src.lot_id, *src.serials}  # label stock is consumed by this lot, not its parts
    for e in src.edges:
        if e["child_kind"] != "material" or e["parent"] not in own:
            continue
        m = mats.get(e["child"])
        if m is None or not _is_label_stock(m["part"], src.parts):
            continue
        s = stocks.setdefault(m["part"], {"stock": m["part"], "issued": 0.0,
                                          "material_lots": set()})
        s["issued"] += float(e["qty"] or 0)
        s["material_lots"].add(m["id"])
    out_t = []
    for t in sorted(templates.values(), key=lambda t: (t["template"], t["revision"])):
        items = t.pop("items")
        out_t.append({**t, "items": len(items), "stock": _stock_of(t["template"], stocks)})
    out_s = []
    for s in sorted(stocks.values(), key=lambda s: s["stock"]):
        printed = sum(t["printed"] for t in out_t if t["stock"] == s["stock"])
        out_s.append({"stock": s["stock"], "issued": round(s["issued"], 6),
                      "material_lots": sorted(s["material_lots"]), "printed": printed,
                      "unaccounted": round(s["issued"] - printed, 6)})
    return {"stocks": out_s, "templates": out_t}


def _is_label_stock(part: str, parts: dict[str, dict[str, Any]]) -> bool:
    doc = parts.get(part, {})
    return bool(doc.get("label_stock")) or part.startswith("LBL-")


def _stock_of(template: str, stocks: dict[str, Any]) -> str | None:
    """The stock a template prints on: its size token (udi-100x50 → LBL-100X50)."""
    size = template.rsplit("-", 1)[-1].upper()
    return next((s for s in stocks if s.upper().endswith(size)), None)


def _ncrs(src: Sources) -> list[dict[str, Any]]:
    """NCRs on the lot, on the lots of its subassemblies and on the material lots used."""
    comp_lots = {u["lot_id"] for u in src.details["units"] if u["lot_id"] != src.lot_id}
    comp_lots |= {x["id"] for x in src.details["lots"] if x["id"] != src.lot_id}
    mats = {m["id"] for m in src.details["materials"]}
    out = []
    for n in records.ncrs_on(src.store, [src.lot_id, *sorted(comp_lots), *sorted(mats)]):
        on = "lot" if n["lot_id"] == src.lot_id else \
            "material" if n["lot_id"] in mats else "subassembly"
        out.append({"id": n["id"], "on": on, "item": n["lot_id"], "status": n["status"],
                    "description": n["description"], "units": json.loads(n["units"] or "[]"),
                    "action": n["action"], "justification": n["justification"],
                    "rework_op": n["rework_op"], "opened_at": n["opened_at"],
                    "opened_by": n["opened_by"], "dispositioned_at": n["dispositioned_at"],
                    "closed_at": n["closed_at"],
                    "signatures": signatures_for(src.store, "ncr", n["id"])})
    return out


def _subassembly_quality(src: Sources) -> dict[str, Any]:
    """Issue 11: the NCRs (only those covering the units built in), concessions and holds of
    every subassembly and material lot in the genealogy."""
    return component_quality(src.store, src.details, skip_lot=src.lot_id)


def _out_of_window_shots(src: Sources) -> list[dict[str, Any]]:
    """Issue 11: per molding lot, the first shots outside the validated window (with the
    report row and the machine's cycle counter); all of them: `mes molding shots --bad`."""
    out = []
    for r in _shots(src):
        if r["rejected"]:
            first = shots_of(src.store, r["lot"], bad_only=True, limit=FIRST_BAD_SHOTS)
            out.append({"lot": r["lot"], "count": r["rejected"], "first": [
                {"report_row": b["report_row"], "cycle": b["cycle"],
                 "problems": b["problems"]} for b in first]})
    return out


FIRST_BAD_SHOTS = 5


def _shots(src: Sources) -> list[dict[str, Any]]:
    lots = {src.lot_id, *(x["id"] for x in src.details["lots"])}
    return [{"lot": r["lot_id"], "shots": int(r["shots"]), "rejected": int(r["rejected"] or 0)}
            for r in records.shot_counts(src.store, sorted(lots))]


def _events(src: Sources) -> list[dict[str, Any]]:
    """Holds, reworks, scraps, rejections on the lot and its units (from the audit trail)."""
    out = []
    for ev in records.events_on(src.store, [src.lot_id, *src.serials], EXCEPTION_ACTIONS):
        out.append({"seq": ev["seq"], "at": ev["at"], "action": ev["action"],
                    "item": ev["entity_id"], "user": ev["username"], "reason": ev["reason"],
                    "new": json.loads(ev["new"]) if ev["new"] else None})
    return out


def _exceptions(src: Sources, d: dict[str, Any]) -> list[dict[str, Any]]:
    """Everything a reviewer must judge, one row each, in time order."""
    ex: list[dict[str, Any]] = []

    def add(kind: str, at: Any, item: Any, what: str, op: Any = None, ref: Any = None) -> None:
        ex.append({"kind": kind, "at": at, "item": item, "op": op, "what": what, "ref": ref})

    for s in src.steps:
        if s["status"] == "failed":
            add("failure", s["completed_at"] or s["started_at"], s["serial"] or src.lot_id,
                f"{src.op_name(s['op']) or 'op'} failed (attempt {s['attempt']}): "
                f"{_data_text(s['data'])}", s["op"])
    for ev in d.get("events") or []:
        kind = "hold" if ev["action"] in HOLD_ACTIONS else \
            "release of hold" if "unhold" in ev["action"] else \
            "rework" if "rework" in ev["action"] else \
            "scrap" if "scrap" in ev["action"] or "reject" in ev["action"] else ev["action"]
        add(kind, ev["at"], ev["item"], f"{ev['action']}: {ev['reason'] or _data_text(ev['new'])}",
            ref=f"audit #{ev['seq']}")
    for n in d.get("ncrs") or []:
        where = "" if n["on"] == "lot" else f" ({n['on']} {n['item']})"
        units = f" units {', '.join(n['units'])}" if n["units"] else ""
        add("NCR" + where, n["opened_at"], n["item"],
            f"{n['description']}{units}; {n['status']}"
            + (f", {n['action']}" if n["action"] else "")
            + (f": {n['justification']}" if n["justification"] else ""), ref=n["id"])
        if n["action"] == "use-as-is":
            add("concession", n["dispositioned_at"], n["item"],
                f"use as is: {n['justification'] or NOT_CAPTURED}", ref=n["id"])
    for lb in d.get("labels") or []:
        if lb["reprint"]:
            add("reprint", lb["printed_at"], lb["item"],
                f"{lb['template']} rev {lb['template_version']} reprint {lb['reprint']}: "
                f"{lb['reason'] or NOT_CAPTURED}")
    for s in d.get("shots") or []:
        if s["rejected"]:
            add("shots out of window", None, s["lot"],
                f"{s['rejected']} of {s['shots']} shots outside the validated window")
    for f in d.get("flashes") or []:
        if f["verify"] != "pass":
            add("flash failure", f["at"], f["serial"],
                f"{f['image']} attempt {f['attempt']}: verify {f['verify']}")
    for e in d.get("equipment") or []:
        if e["uses_past_calibration"]:
            add("calibration", e["last_use"], e["station"],
                f"{e['uses_past_calibration']} uses after calibration was due")
    for s in (d.get("labeling") or {}).get("stocks") or []:
        if s["unaccounted"]:
            add("label reconciliation", None, s["stock"],
                f"{_n(s['issued'])} issued, {s['printed']} printed labels recorded")
    for op in d.get("operations") or []:
        for v in op["values"]:
            if v.get("out_of_limits"):
                add("out of limits", None, src.lot_id,
                    f"{v['name']}: {v['out_of_limits']} values outside "
                    f"[{_n(v['min'])}, {_n(v['max'])}]", op["op"])
    for sg in d.get("spc_signals") or []:  # issue 16: out of control, not out of limits
        add("out of control", sg["at"], sg["lot"], f"{sg['characteristic']} {sg['rule']}: "
            f"{sg['text']} (subgroup {sg['subgroup']}, {sg['action']})", ref=sg["ncr"])
    ex.sort(key=lambda x: (x["at"] is None, str(x["at"] or ""), x["kind"]))
    return ex


def _n(x: Any) -> str:
    return "—" if x is None else f"{x:g}" if isinstance(x, float) else str(x)


def _data_text(data: Any) -> str:
    if isinstance(data, str):
        data = json.loads(data) if data.startswith("{") else data
    if isinstance(data, dict):
        return ", ".join(f"{k}={v}" for k, v in data.items()) or "no data"
    return str(data) if data else "no data"


def _units(src: Sources) -> list[dict[str, Any]]:
    """Per unit: outcome, attempts, its board and the MCU UID (own, or its PCBA's)."""
    children: dict[str, list[str]] = {}
    for e in src.edges:
        if e["child_kind"] == "unit":
            children.setdefault(e["parent"], []).append(e["child"])
    comp = {u["serial"]: u for u in src.details["units"]}
    fw: dict[str, str] = {}
    for f in src.details["flashes"]:
        if f["verify"] == "pass":
            fw[f["serial"]] = f"{f['image_id']}"
    steps_of: dict[str, list[Row]] = {}
    for s in src.steps:
        if s["serial"]:
            steps_of.setdefault(s["serial"], []).append(s)
    out = []
    for u in src.units:
        boards = children.get(u["serial"], [])
        uid, via, image = u["mcu_uid"], None, fw.get(u["serial"])
        for b in boards:
            if uid is None and comp.get(b, {}).get("mcu_uid"):
                uid, via = comp[b]["mcu_uid"], b
            image = image or fw.get(b)
        steps = steps_of.get(u["serial"], [])
        failed = sorted({s["op"] for s in steps if s["status"] == "failed"})
        outcome = "finished" if u["status"] in FINISHED else u["status"]
        out.append({"serial": u["serial"], "outcome": outcome, "on_hold": bool(u["on_hold"]),
                    "consumed_into": u["consumed_into"], "subassemblies": boards,
                    "mcu_uid": uid or NOT_CAPTURED, "mcu_uid_via": via, "firmware": image,
                    "steps": len(steps), "failed_ops": failed,
                    "first_pass": not failed and all(s["attempt"] == 1 for s in steps)})
    return out


def _steps(src: Sources) -> list[dict[str, Any]]:
    at = station_sites(src.store)
    return [{"serial": s["serial"], "op": s["op"], "op_name": src.op_name(s["op"]),
             "station": s["station_id"], "site": s.get("site_id") or at.get(s["station_id"]),
             "user": s["username"],
             "user_name": src.users.get(s["username"]), "started_at": s["started_at"],
             "completed_at": s["completed_at"], "status": s["status"], "result": s["result"],
             "attempt": s["attempt"], "data": json.loads(s["data"]) if s["data"] else {},
             "source": s["source"], **_instruction_of(s)} for s in src.steps]


def _instruction_of(step: Row) -> dict[str, Any]:
    """The work instruction revision the step followed (issue 18; absent when none, so a
    lot made without instructions keeps the record it had)."""
    if not step.get("instruction_doc"):
        return {}
    return {"instruction": f"{step['instruction_doc']} rev {step['instruction_rev']}"}


def _origin(src: Sources) -> dict[str, Any] | None:
    """The origin decision the labels relied on (pinned at print, issue 13), not the
    latest: with several pinned, the last one, the others listed; with no claim printed,
    the latest decision (`pinned` false). Decisions made after it are listed."""
    from mes.services.origin import pinned_or_latest

    decisions = pinned_or_latest(src.store, src.lot_id)
    if not decisions:
        return None
    d = decisions[-1]
    worksheet = d["worksheet"]
    positive = d["positive"]
    claim = worksheet.get("claim") if isinstance(worksheet, dict) else None
    if positive and not claim:
        claim = config(src.ctx).get("origin.claim.en")
    later = [r["id"] for r in src.store.find("origin_decisions", {"lot_id": src.lot_id},
                                             order="id") if r["id"] > d["id"]]
    return {"id": d["id"], "pinned": d["pinned"], "positive": positive,
            "rule_name": d["rule_name"], "rule_version": d["rule_version"],
            "threshold_pct": d["threshold_pct"], "local_pct": d["local_pct"],
            "claim": claim if positive else None, "decided_at": d["decided_at"],
            "signatures": d["signatures"], "other_pinned": [x["id"] for x in decisions[:-1]],
            "later_decisions": later, "worksheet": worksheet}


def _shipments(src: Sources) -> list[dict[str, Any]]:
    from mes.store.containers import of_shipment

    return [{"consignee": s["consignee"], "ref": s["ref"], "qty": s["qty"],
             "serials": json.loads(s["serials"] or "[]"), "shipped_at": s["shipped_at"],
             "user": s["username"], "containers": of_shipment(src.store, s["id"])}
            for s in src.store.find("shipments", {"lot_id": src.lot_id}, order="id")]


def _containers(src: Sources) -> list[dict[str, Any]]:
    """The packages (SSCCs) holding the lot's units (issue 19)."""
    from mes.services.packing import for_lot

    return for_lot(src.store, src.lot_id)


def _signatures(src: Sources) -> list[dict[str, Any]]:
    """Signatures on the lot, its units (holds, releases) and its DHR (reviews)."""
    rows = src.store.find("signatures", {"record_type": "lot", "record_id": src.lot_id})
    rows += src.store.find("signatures", {"record_type": "dhr", "record_id": src.lot_id})
    rows += records.signatures_on(src.store, "unit", src.serials)
    rows.sort(key=lambda r: r["id"])
    return [present_signature(r) for r in rows]


Section = Callable[[Sources], Any]
# Top-level key -> builder, in print order of the JSON. Append to extend.
SECTIONS: list[tuple[str, Section]] = [
    ("site", _site), ("lot", _lot), ("state", _state), ("routing", _routing),
    ("operations", _operations), ("materials", _materials), ("components", _components),
    ("equipment", _equipment), ("firmware", _firmware), ("labeling", _labeling),
    ("ncrs", _ncrs), ("shots", _shots), ("events", _events), ("origin", _origin),
    ("subassembly_quality", _subassembly_quality),
    ("out_of_window_shots", _out_of_window_shots),
    ("units", _units), ("steps", _steps), ("consumptions", _consumptions),
    ("flashes", _flashes), ("labels", _labels), ("shipments", _shipments),
    ("containers", _containers), ("signatures", _signatures),
    ("spc_signals", lambda src: lot_signals(src.store, src.lot_id)),  # issue 16
    *resources.DHR_SECTIONS,  # issue 18: calibration records, tools used
]


def build_dhr(ctx: Context, lot_id: str) -> dict[str, Any]:
    src = _sources(ctx, lot_id)
    now = clock.now()
    d: dict[str, Any] = {
        "generated_at": now.isoformat(timespec="microseconds"),
        "site_time": _site_time(src.store, now, src.lot["site_id"]),
        "mes_version": mes.__version__,
        "chain_head": head(ctx),
    }
    for key, build in SECTIONS:
        d[key] = build(src)
    d["exceptions"] = _exceptions(src, d)
    parts = _canon_sections(d)
    h = _hashes(d, parts)
    d["record"] = {"sha256": h["sha256"], "content_sha256": h["content_sha256"]}
    d["_sections"], d["_canon"] = h["sections"], parts
    return d


def _site_time(store: Store, now: Any, site_id: str | None = None) -> str:
    """The generation time as the clocks of the lot's site show it (its time zone)."""
    from datetime import datetime, timedelta, timezone

    off = local_offset(store, site_id)
    sign_ = 1 if off[0] == "+" else -1
    tz = timezone(sign_ * timedelta(hours=int(off[1:3]), minutes=int(off[4:6])))
    local: datetime = now.astimezone(tz)
    return f"{local:%Y-%m-%d %H:%M:%S} ({off})"


def _canon(value: Any) -> str:
    """Canonical JSON (mes.domain.audit.canonical_json), anything else as text."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                      default=str)


def _sha_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _canon_sections(d: dict[str, Any]) -> dict[str, str]:
    """Each section's canonical JSON, computed once: hashes and dhr.json are built from it
    (a 5,000-unit lot is ~50 MB of JSON: encoding it again per hash cost seconds each)."""
    return {k: _canon(v) for k, v in d.items() if k not in ENVELOPE}


def _joined(parts: dict[str, str], keys: Any) -> str:
    """The canonical JSON of {k: section} from the sections' canonical JSON."""
    return "{" + ",".join(f"{json.dumps(k, ensure_ascii=False)}:{parts[k]}"
                          for k in sorted(keys)) + "}"


def _hashes(d: dict[str, Any], parts: dict[str, str] | None = None) -> dict[str, Any]:
    parts = parts if parts is not None else _canon_sections(d)
    return {"sha256": _sha_text(_joined(parts, [k for k in parts if k not in STATE])),
            "content_sha256": _sha_text(_joined(parts, parts)),
            "sections": {k: _sha_text(v) for k, v in parts.items()}}


def record_sha256(d: dict[str, Any]) -> str:
    """sha256 of the manufacturing record: what a review signs and release re-checks."""
    return str(_hashes(d)["sha256"])


def content_sha256(d: dict[str, Any]) -> str:
    return str(_hashes(d)["content_sha256"])


# -- files ---------------------------------------------------------------------------------

UNIT_CSV_COLUMNS = ["serial", "outcome", "on_hold", "mcu_uid", "mcu_uid_via", "firmware",
                    "subassemblies", "steps", "failed_ops", "first_pass", "consumed_into"]


def units_csv(d: dict[str, Any]) -> bytes:
    """The per-unit annex: one row per unit, then each captured value (last attempt)."""
    last: dict[tuple[str, int], dict[str, Any]] = {}
    for s in d.get("steps") or []:
        if s["serial"]:
            last[(s["serial"], s["op"])] = s["data"] or {}
    value_cols = [(op["op"], v["name"]) for op in d.get("operations") or []
                  for v in op["values"]]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(UNIT_CSV_COLUMNS + [f"op{op}.{name}" for op, name in value_cols])
    for u in d.get("units") or []:
        row = [u.get(c) for c in UNIT_CSV_COLUMNS]
        row = [" ".join(map(str, x)) if isinstance(x, list) else x for x in row]
        row += [last.get((u["serial"], op), {}).get(name) for op, name in value_cols]
        w.writerow(row)
    return buf.getvalue().encode("utf-8")


def _names(version: int) -> tuple[str, str, str]:
    stem = "dhr" if version <= 1 else f"dhr-v{version}"
    return f"{stem}.pdf", f"{stem}.json", f"{stem}-units.csv"


def write_dhr(ctx: Context, lot_id: str, out_dir: Path | None = None, *,
              units_appendix: bool = False, reason: str | None = None) -> dict[str, Any]:
    """Build, render and file the DHR.

    Before release: a draft (dhr.pdf, dhr.json, dhr-units.csv), replaced at each run.
    Released: version 1 is frozen (recorded with its hashes, audited); a later run whose
    content differs files version n+1 with what changed and the events that say why;
    an unchanged record writes nothing new.
    """
    from mes.render.dhr_pdf import render_dhr_pdf
    from mes.services import seals
    from mes.services.files import record

    store = ctx.store
    d = build_dhr(ctx, lot_id)
    lot = d["lot"]["id"]
    # The seal this record relies on: its chain head, signed outside the database (issue
    # 13 item 2). Not part of the record's hashes: a later run seals a later head.
    d["seal"] = seals.seal(store, ctx.workspace, f"dhr {lot}")
    # The lot's SPC charts, drawn from its recorded observations (issue 16): pictures of
    # the record, not part of it (its hashes cover the data they are drawn from).
    d["_charts"] = lot_charts(ctx, lot, "svg")
    target = out_dir if out_dir is not None else ctx.workspace / "lots" / lot
    released = d["state"]["status"] in ("released", "shipped")
    earlier = records.versions(store, lot)
    d["versions"] = [_version_view(v) for v in earlier]
    latest = earlier[-1] if earlier else None
    if not released and not earlier:
        d["record"]["status"] = "draft"
        return _write_draft(ctx, d, target, render_dhr_pdf, units_appendix)
    if latest is not None and latest["content_sha256"] == d["record"]["content_sha256"]:
        pdf = target / _names(latest["version"])[0]
        if _file_sha(pdf) == latest["pdf_sha256"]:
            return {"dhr": d, "version": latest["version"], "unchanged": True,
                    "pdf": str(pdf), "json": str(target / _names(latest["version"])[1]),
                    "csv": str(target / _names(latest["version"])[2])}
    version = (latest["version"] + 1) if latest else 1
    changes = _changes(store, d, latest, reason) if latest else None
    d["record"].update({"status": "frozen", "version": version, "changes": changes})
    files = _render(d, render_dhr_pdf, units_appendix)
    names = _names(version)
    who = current_actor(ctx).username  # a frozen version is a record: someone wrote it
    with store.transaction() as tx:
        seq = int((tx.audit_head() or {}).get("seq") or 0)
        row = {"lot_id": lot, "version": version, "record_sha256": d["record"]["sha256"],
               "content_sha256": d["record"]["content_sha256"],
               "sections": json.dumps(d["_sections"], sort_keys=True),
               "pdf_file": str(target / names[0]), "pdf_sha256": _sha(files[0]),
               "json_file": str(target / names[1]), "json_sha256": _sha(files[1]),
               "csv_file": str(target / names[2]), "csv_sha256": _sha(files[2]),
               "written_at": d["generated_at"], "username": who, "audit_seq": seq,
               "changes": json.dumps(changes, sort_keys=True, default=str)}
        records.add_version(tx, row)
        tx.append_audit(username=who, station=ctx.station, action="dhr.version",
                        entity_type="lot", entity_id=lot,
                        new={**{k: row[k] for k in ("version", "record_sha256",
                                                    "content_sha256", "pdf_file", "pdf_sha256",
                                                    "json_sha256", "csv_sha256")},
                             # the files are records (issue 13 item 4)
                             "files": [record(ctx.workspace, target / n, data)
                                       for n, data in zip(names, files, strict=True)]},
                        reason=reason)
    return _place(target, names, files, d, version)


def _version_view(v: Row) -> dict[str, Any]:
    return {"version": v["version"], "written_at": v["written_at"], "by": v["username"],
            "pdf": Path(v["pdf_file"]).name, "pdf_sha256": v["pdf_sha256"],
            "record_sha256": v["record_sha256"], "changes": v["changes"]}


def _changes(store: Store, d: dict[str, Any], latest: Row, reason: str | None
             ) -> dict[str, Any]:
    """What changed since the latest frozen version (sections) and why (audit events)."""
    now = d["_sections"]
    before = latest["sections"]
    changed = sorted(k for k in set(now) | set(before) if now.get(k) != before.get(k))
    serials = [u["serial"] for u in d.get("units") or []]
    why = [{"seq": e["seq"], "at": e["at"], "action": e["action"], "item": e["entity_id"],
            "user": e["username"], "reason": e["reason"]}
           for e in records.events_since(store, [d["lot"]["id"], *serials],
                                         int(latest["audit_seq"]))
           if e["action"] not in ("dhr.version", "signature")]
    return {"since_version": latest["version"], "sections": changed, "events": why,
            "reason": reason}


def _render(d: dict[str, Any], render: Callable[..., bytes], units_appendix: bool
            ) -> tuple[bytes, bytes, bytes]:
    return render(d, units=units_appendix), dhr_json(d).encode("utf-8"), units_csv(d)


def dhr_json(d: dict[str, Any]) -> str:
    """dhr.json: one top-level key per line, each value as canonical JSON."""
    keys = sorted(k for k in d if not k.startswith("_"))
    done = d.get("_canon") or {}
    return "{\n" + ",\n".join(f"{json.dumps(k)}: {done.get(k) or _canon(d[k])}"
                               for k in keys) + "\n}\n"


def _write_draft(ctx: Context, d: dict[str, Any], target: Path, render: Callable[..., bytes],
                 units_appendix: bool) -> dict[str, Any]:
    """A draft is replaced at each run, and each run's files are records (issue 13 item 4):
    their sha256 goes into a `dhr.draft` event, so `audit verify --files` checks the
    draft on disk. The files are placed under the write lock, so the event of the last
    run names the files that are there."""
    from mes.services.files import record

    files = _render(d, render, units_appendix)
    names = _names(0)
    lot = d["lot"]["id"]
    with ctx.store.transaction() as tx:
        tx.append_audit(username=_reader(ctx), station=ctx.station, action="dhr.draft",
                        entity_type="lot", entity_id=lot,
                        new={"record_sha256": d["record"]["sha256"],
                             "files": [record(ctx.workspace, target / n, data)
                                       for n, data in zip(names, files, strict=True)]})
        return _place(target, names, files, d, 0)


def _reader(ctx: Context) -> str | None:
    """Who asked for a draft: anyone may read a DHR, logged in or not."""
    from mes.errors import NotAuthorised

    if ctx.user is not None:
        return current_actor(ctx).username  # a wrong password is refused, not ignored
    try:
        return current_actor(ctx).username
    except NotAuthorised:
        return None


def _place(target: Path, names: tuple[str, str, str], files: tuple[bytes, bytes, bytes],
           d: dict[str, Any], version: int) -> dict[str, Any]:
    target.mkdir(parents=True, exist_ok=True)
    paths = [target / n for n in names]
    for path, data in zip(paths, files, strict=True):
        write_atomic(path, data)
    return {"dhr": d, "version": version, "unchanged": False, "pdf": str(paths[0]),
            "json": str(paths[1]), "csv": str(paths[2])}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _file_sha(path: Path) -> str | None:
    try:
        return _sha(path.read_bytes())
    except OSError:
        return None




# -- review and release ----------------------------------------------------------------------

def _review_record(lot_id: str, sha: str) -> dict[str, str]:
    """What a review signature signs: the lot and the sha256 of its DHR record."""
    return {"lot": lot_id, "dhr_sha256": sha}


def review(ctx: Context, lot_id: str) -> dict[str, Any]:
    """Quality reviews the DHR as generated from the records and signs its hash."""
    signer = prepare_signature(ctx, "dhr.review", "reviewed", lot_id)
    kind, row = resolve(ctx.store, normalise_scan(lot_id))
    if kind == "lot" and row["status"] not in FINISHED:  # refused before a draft is filed
        raise Refused(f"lot {row['id']} is {row['status']}: review its DHR once the lot is "
                      "complete")
    res = write_dhr(ctx, lot_id)
    d = res["dhr"]
    lot, state = d["lot"]["id"], d["state"]
    if state["status"] not in FINISHED:
        raise Refused(f"lot {lot} is {state['status']}: review its DHR once the lot is "
                      "complete")
    sha = d["record"]["sha256"]
    with ctx.store.transaction() as tx:
        tx.append_audit(username=signer.actor.username, station=ctx.station,
                        action="dhr.review", entity_type="lot", entity_id=lot,
                        new={"dhr_sha256": sha, "pdf": res["pdf"]})
        sig = sign(tx, signer, "dhr", lot, _review_record(lot, sha))
    return {"lot": lot, "dhr_sha256": sha, "pdf": res["pdf"], "json": res["json"],
            "exceptions": len(d["exceptions"]), "signed_by": sig["full_name"],
            "signed_at": sig["signed_at"]}


def check_reviewed(ctx: Context, lot_id: str) -> str:
    """Before release: the latest review must cover the DHR as regenerated now."""
    d = build_dhr(ctx, lot_id)
    lot, sha = d["lot"]["id"], d["record"]["sha256"]
    reviews = [s for s in signatures_for(ctx.store, "dhr", lot) if s["meaning"] == "reviewed"]
    if not reviews:
        raise Refused(f"lot {lot} has no reviewed DHR: quality reviews it first with "
                      f"`mes dhr review {lot}`")
    last = reviews[-1]
    if last["record_sha256"] != record_hash(_review_record(lot, sha)):
        raise Refused(f"the DHR of lot {lot} changed since {last['full_name']} reviewed it "
                      f"({last['local_time']}): review it again with `mes dhr review {lot}`")
    return sha


def versions_of(ctx: Context, lot_id: str) -> list[dict[str, Any]]:
    kind, lot = resolve(ctx.store, normalise_scan(lot_id))
    if kind != "lot":
        raise NotFound(f"{lot_id} is a {kind}: DHRs are per lot")
    return [_version_view(v) for v in records.versions(ctx.store, lot["id"])]



def dhrs_made_from(ctx: Context, item_id: str, write: bool = False) -> list[dict[str, Any]]:
    """The DHRs of every finished lot made from an item (the question after a supplier
    notice); with `write`, each DHR is written (a released one: frozen, new version if
    its records changed)."""
    from mes.services.trace import forward

    store = ctx.store
    found = forward(ctx, item_id)
    lot_ids = sorted({x["id"] if x["kind"] == "lot" else x["lot"] for x in found["items"]})
    out = []
    for lot_id in lot_ids:
        lot = store.get("lots", lot_id)
        if lot is None or lot["status"] not in FINISHED:
            continue
        part = catalog.part_docs(store).get(lot["part"], {})
        row: dict[str, Any] = {"lot": lot_id, "part": lot["part"], "part_kind": part.get("kind"),
                               "status": lot["status"]}
        if write:
            res = write_dhr(ctx, lot_id)
            row.update({"version": res["version"] or "draft", "pdf": res["pdf"],
                        "pdf_sha256": _file_sha(Path(res["pdf"])),
                        "record_sha256": res["dhr"]["record"]["sha256"]})
        else:
            vs = records.versions(store, lot_id)
            last = vs[-1] if vs else None
            row.update({"version": last["version"] if last else None,
                        "pdf": last["pdf_file"] if last else "not filed (run with --write)",
                        "pdf_sha256": last["pdf_sha256"] if last else None,
                        "record_sha256": last["record_sha256"] if last else None})
        out.append(row)
    return out
