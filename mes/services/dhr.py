"""Device History Record (21 CFR 820.184, ISO 13485 §7.5.1): assembled, rendered, filed.

`build_dhr` returns the plain dict that `mes.render.dhr_pdf.render_dhr_pdf` expects;
`write_dhr` files it as lots/<lot>/dhr.pdf and dhr.json (each written to a temporary
file and renamed into place, so a reader never sees half a record).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from mes import clock
from mes.domain.ids import normalise_scan
from mes.errors import NotFound
from mes.services.audit import head
from mes.services.auth import present_signature, signatures_for
from mes.services.context import Context
from mes.services.lots import resolve
from mes.services.routings import get_part
from mes.services.workspace import config, site
from mes.store import genealogy
from mes.store.base import Store


def build_dhr(ctx: Context, lot_id: str) -> dict[str, Any]:
    store = ctx.store
    kind, lot = resolve(store, normalise_scan(lot_id))
    if kind != "lot":
        raise NotFound(f"{lot_id} is a {kind}: a DHR is made per lot (see `mes lot show`)")
    lot_id = lot["id"]
    part = get_part(store, lot["part"])
    parts = {r["number"]: json.loads(r["doc"]) for r in store.all("SELECT number, doc FROM parts")}
    the_site = site(ctx, lot["site_id"])
    routing_row = store.one("SELECT * FROM routings WHERE part = ? AND version = ?",
                            (lot["part"], lot["routing_version"])) or {}
    routing_doc = json.loads(routing_row["doc"]) if routing_row else {"operations": []}
    op_names = {o["op"]: o["name"] for o in routing_doc["operations"]}
    approvals = signatures_for(store, "routing", f"{lot['part']}@{lot['routing_version']}")
    approval = next((s for s in reversed(approvals) if s["meaning"] == "approved"), None)

    units = store.find("units", {"lot_id": lot_id}, order="serial")
    steps = store.find("steps", {"lot_id": lot_id}, order="id")
    users = {r["username"]: r["full_name"] for r in store.all(
        "SELECT username, full_name FROM users")}
    status_n: dict[str, int] = {}
    for u in units:
        status_n[u["status"]] = status_n.get(u["status"], 0) + 1
    if lot["serialized"]:
        manufactured = sum(status_n.get(s, 0) for s in ("completed", "released", "shipped",
                                                           "consumed"))
    else:
        done = lot["status"] in ("completed", "released", "shipped")
        manufactured = lot["qty"] - lot["qty_scrapped"] if done else 0

    # Genealogy down from the lot and every unit of it (one recursive query each).
    edges = genealogy.backward_edges(store, lot_id)
    details = genealogy.backward_details(store, lot_id)
    mats = {m["id"]: m for m in details["materials"]}
    comp_units = {u["serial"]: u for u in details["units"]}
    comp_lots = {x["id"]: x for x in details["lots"]}
    materials, components = [], []
    for e in edges:
        if e["child_kind"] == "material":
            m = mats.get(e["child"], {})
            materials.append({
                "id": e["child"], "part_number": m.get("part"),
                "part_name": parts.get(m.get("part") or "", {}).get("name"),
                "supplier": m.get("supplier"), "supplier_lot": m.get("supplier_lot"),
                "mpn": m.get("mpn"), "date_code": m.get("date_code"), "expiry": m.get("expiry"),
                "origin": m.get("origin"), "cert": m.get("cert"), "qty": e["qty"],
                "op": e["op"], "station": e["station_id"], "at": e["at"],
                "refdes": e["refdes"], "feeder": e["feeder"], "into": e["parent"]})
        elif e["child_kind"] in ("unit", "lot"):
            c = comp_units.get(e["child"]) or comp_lots.get(e["child"]) or {}
            components.append({
                "id": e["child"], "kind": e["child_kind"], "part_number": c.get("part"),
                "lot": c.get("lot_id", c.get("id")), "into": e["parent"], "op": e["op"],
                "qty": e["qty"], "station": e["station_id"], "at": e["at"]})
    attempts: dict[str, int] = {}
    for f in details["flashes"]:
        attempts[f["serial"]] = attempts.get(f["serial"], 0) + 1
    firmware = [{"image": f["image_id"], "version": f["version"], "sha256": f["image_sha256"],
                 "serial": f["serial"], "mcu_uid": f["mcu_uid"], "station": f["station_id"],
                 "attempts": f["attempt"] or attempts.get(f["serial"]), "verify": f["verify"],
                 "at": f["at"]} for f in details["flashes"]]

    ncrs = []
    for n in store.find("ncrs", {"lot_id": lot_id}, order="id"):
        ncrs.append({"id": n["id"], "status": n["status"], "description": n["description"],
                     "units": json.loads(n["units"] or "[]"), "action": n["action"],
                     "justification": n["justification"], "rework_op": n["rework_op"],
                     "opened_at": n["opened_at"], "opened_by": n["opened_by"],
                     "dispositioned_at": n["dispositioned_at"], "closed_at": n["closed_at"],
                     "signatures": signatures_for(store, "ncr", n["id"])})
    labels = [{"item": r["item_id"], "template": r["template"],
               "template_version": r["template_version"], "format": r["format"],
               "element_string": r["element_string"], "content_sha256": r["content_sha256"],
               "file": r["file"], "printed_at": r["printed_at"], "user": r["username"],
               "reprint": r["reprint"], "reason": r["reason"]}
              for r in store.find("labels", {"lot_id": lot_id}, order="id")]
    shipments = [{"consignee": s["consignee"], "ref": s["ref"], "qty": s["qty"],
                  "serials": json.loads(s["serials"] or "[]"), "shipped_at": s["shipped_at"],
                  "user": s["username"]}
                 for s in store.find("shipments", {"lot_id": lot_id}, order="id")]
    return {
        "generated_at": clock.now_iso(),
        "chain_head": head(ctx),
        "site": {"id": the_site["id"], "name": the_site["name"],
                 "country": the_site["country"], "manufacturer": the_site["manufacturer"],
                 "address": the_site["address"]},
        "lot": {"id": lot_id, "part_number": lot["part"], "part_name": part.name,
                "status": lot["status"], "on_hold": bool(lot["on_hold"]),
                "hold_reason": lot["hold_reason"], "created_at": lot["created_at"],
                "created_by": lot["created_by"], "completed_at": lot["completed_at"],
                "released_at": lot["released_at"], "qty_planned": lot["qty"],
                "qty_manufactured": manufactured, "qty_scrapped": lot["qty_scrapped"],
                "qty_released": lot["qty_released"], "qty_shipped": lot["qty_shipped"],
                "serialized": bool(lot["serialized"]), "gtin": part.gtin, "ref": part.ref},
        "routing": {"part": lot["part"], "version": lot["routing_version"],
                    "sha256": routing_row.get("sha256"), "approval": approval,
                    "operations": [{"op": o["op"], "name": o["name"],
                                    "station_type": o["station_type"]}
                                   for o in routing_doc["operations"]]},
        "units": [{"serial": u["serial"], "status": u["status"], "mcu_uid": u["mcu_uid"],
                   "on_hold": bool(u["on_hold"]), "consumed_into": u["consumed_into"]}
                  for u in units],
        "steps": [{"serial": s["serial"], "op": s["op"], "op_name": op_names.get(s["op"]),
                   "station": s["station_id"], "user": s["username"],
                   "user_name": users.get(s["username"]), "started_at": s["started_at"],
                   "completed_at": s["completed_at"], "status": s["status"],
                   "result": s["result"], "attempt": s["attempt"],
                   "data": json.loads(s["data"]) if s["data"] else {}, "source": s["source"]}
                  for s in steps],
        "materials": materials,
        "components": components,
        "firmware": firmware,
        "ncrs": ncrs,
        "labels": labels,
        "origin": _origin(ctx, store, lot_id),
        "shipments": shipments,
        "signatures": _lot_signatures(store, lot_id, [u["serial"] for u in units]),
    }


def _lot_signatures(store: Store, lot_id: str, serials: list[str]) -> list[dict[str, Any]]:
    """Signatures on the lot itself and on its units (holds, releases)."""
    rows = store.find("signatures", {"record_type": "lot", "record_id": lot_id}, order="id")
    if serials:
        for i in range(0, len(serials), 500):
            chunk = serials[i:i + 500]
            marks = ", ".join("?" for _ in chunk)
            rows += store.all(f"SELECT * FROM signatures WHERE record_type = 'unit' AND "
                              f"record_id IN ({marks})", chunk)
    rows.sort(key=lambda r: r["id"])
    return [present_signature(r) for r in rows]


def _origin(ctx: Context, store: Store, lot_id: str) -> dict[str, Any] | None:
    row = store.one("SELECT * FROM origin_decisions WHERE lot_id = ? ORDER BY decided_at DESC, "
                    "id DESC LIMIT 1", (lot_id,))
    if row is None:
        return None
    worksheet = json.loads(row["worksheet"]) if row["worksheet"] else {}
    positive = bool(row["positive"])
    claim = worksheet.get("claim") if isinstance(worksheet, dict) else None
    if positive and not claim:
        claim = config(ctx).get("origin.claim.en")
    return {"positive": positive, "rule_name": row["rule_name"],
            "rule_version": row["rule_version"], "threshold_pct": row["threshold_pct"],
            "local_pct": row["local_pct"], "claim": claim if positive else None,
            "decided_at": row["decided_at"], "worksheet": worksheet}


def write_dhr(ctx: Context, lot_id: str, out_dir: Path | None = None) -> dict[str, Any]:
    """Build, render and file the DHR; returns the dict and where it was written."""
    from mes.render.dhr_pdf import render_dhr_pdf

    dhr = build_dhr(ctx, lot_id)
    target = out_dir if out_dir is not None else ctx.workspace / "lots" / dhr["lot"]["id"]
    target.mkdir(parents=True, exist_ok=True)
    pdf = render_dhr_pdf(dhr)
    text = json.dumps(dhr, indent=2, ensure_ascii=False, sort_keys=True, default=str) + "\n"
    pdf_path, json_path = target / "dhr.pdf", target / "dhr.json"
    _atomic_write(json_path, text.encode("utf-8"))
    _atomic_write(pdf_path, pdf)
    return {"dhr": dhr, "pdf": str(pdf_path), "json": str(json_path)}


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
