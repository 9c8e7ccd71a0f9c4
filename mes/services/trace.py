"""Trace back (what is in it), trace forward (what was made from it), recall scope and hold."""

from __future__ import annotations

import json
from typing import Any

from mes import clock
from mes.domain.ids import normalise_scan
from mes.errors import InvalidInput, NotFound, Refused
from mes.services.auth import prepare_signature, require, sign, signatures_for
from mes.services.component_quality import component_quality
from mes.services.context import Context
from mes.services.lots import resolve
from mes.store import catalog, genealogy, sites
from mes.store.base import Store

# Unit/lot statuses that are no longer in the plant (a recall hold does not apply).
OUT_OF_PLANT = frozenset({"shipped", "scrapped"})


def _parts(store: Store) -> dict[str, dict[str, Any]]:
    return catalog.part_docs(store)


def _root(store: Store, item_id: str) -> tuple[str, dict[str, Any]]:
    return resolve(store, normalise_scan(item_id))


def _known_site(ctx: Context, site: str | None) -> str | None:
    if site is None:
        return None
    from mes.services.workspace import site as known

    return str(known(ctx, site.upper())["id"])


def _check_depth(depth: int | None) -> int | None:
    if depth is not None and depth < 1:
        raise InvalidInput("--depth must be 1 or more", field="depth")
    return depth


# -- backward ------------------------------------------------------------------------------

def backward(ctx: Context, item_id: str, depth: int | None = None, site: str | None = None
             ) -> dict[str, Any]:
    """Everything in a unit or lot: units, lots, material lots, firmware, with each
    consumption's op, station, site and time, as a tree and as a flat list of edges; with
    `site` (issue 20): only the consumptions recorded at that site's stations."""
    store = ctx.store
    site = _known_site(ctx, site)
    kind, row = _root(store, item_id)
    if kind == "container":  # issue 19: an SSCC resolves to what is packed in it
        from mes.services.packing import container_tree

        return container_tree(store, row)
    if kind not in ("unit", "lot"):
        raise Refused(f"{item_id} is a {kind}: trace back starts from a lot or unit serial "
                      f"(try `mes trace forward {item_id}`)")
    root = row["serial"] if kind == "unit" else row["id"]
    depth = _check_depth(depth)
    edges = genealogy.backward_edges(store, root, depth)
    details = genealogy.backward_details(store, root, depth, edges)
    parts = _parts(store)
    info = _node_info(details, parts)
    lot_id = row["lot_id"] if kind == "unit" else row["id"]
    lot = store.get("lots", lot_id) or {}
    root_units = [] if kind == "unit" else [
        u["serial"] for u in store.find("units", {"lot_id": root}, order="serial")]
    at = sites.station_sites(store)
    rows = [{**_edge_row(e, info), "site": at.get(e["station_id"] or "")} for e in edges]
    if site is not None:
        rows = [r for r in rows if r["site"] == site]
    tree = _tree(root, kind, lot, root_units, rows, info, parts)
    flashes = [{"serial": f["serial"], "image": f["image_id"], "version": f["version"],
                "sha256": f["image_sha256"], "mcu_uid": f["mcu_uid"],
                "station": f["station_id"], "attempt": f["attempt"], "verify": f["verify"],
                "at": f["at"]} for f in details["flashes"]]
    return {"root": root, "kind": kind, "part": lot.get("part"), "lot": lot_id,
            "depth": depth, "site": site, "edges": rows, "tree": tree,
            "materials": [info[m["id"]] for m in details["materials"]],
            "firmware": [info[f["id"]] for f in details["firmware"]],
            "flashes": flashes,
            "containers": _containers(store, root) if kind == "unit" else [],
            # the root's own NCRs and holds too: a trace back answers "what happened to it"
            "quality": component_quality(store, details),
            "counts": {"edges": len(rows), **{
                k: len({r["child"] for r in rows if r["kind"] == kk})
                for k, kk in (("units", "unit"), ("lots", "lot"), ("materials", "material"),
                              ("firmware", "firmware"))}}}


def _node_info(details: dict[str, list[dict[str, Any]]], parts: dict[str, dict[str, Any]]
               ) -> dict[str, dict[str, Any]]:
    info: dict[str, dict[str, Any]] = {}
    for u in details["units"]:
        info[u["serial"]] = {"id": u["serial"], "kind": "unit", "part": u["part"],
                             "part_name": parts.get(u["part"], {}).get("name"),
                             "lot": u["lot_id"], "status": u["status"],
                             "on_hold": bool(u["on_hold"]), "mcu_uid": u["mcu_uid"]}
    for lot in details["lots"]:
        info[lot["id"]] = {"id": lot["id"], "kind": "lot", "part": lot["part"],
                           "part_name": parts.get(lot["part"], {}).get("name"),
                           "lot": lot["id"], "status": lot["status"],
                           "on_hold": bool(lot["on_hold"])}
    for m in details["materials"]:
        info[m["id"]] = {"id": m["id"], "kind": "material", "part": m["part"],
                         "part_name": parts.get(m["part"], {}).get("name"),
                         "supplier": m["supplier"], "supplier_lot": m["supplier_lot"],
                         "mpn": m["mpn"], "date_code": m["date_code"], "expiry": m["expiry"],
                         "origin": m["origin"], "cert": m["cert"], "status": m["status"],
                         "on_hold": bool(m["on_hold"])}
    for f in details["firmware"]:
        info[f["id"]] = {"id": f["id"], "kind": "firmware", "part": f["part"],
                         "part_name": parts.get(f["part"], {}).get("name"),
                         "version": f["version"], "sha256": f["sha256"], "status": f["status"]}
    return info


def _edge_row(e: dict[str, Any], info: dict[str, dict[str, Any]]) -> dict[str, Any]:
    child = info.get(e["child"], {})
    return {"parent": e["parent"], "child": e["child"], "kind": e["child_kind"],
            "part": child.get("part"), "qty": e["qty"], "op": e["op"],
            "station": e["station_id"], "at": e["at"], "refdes": e["refdes"],
            "feeder": e["feeder"], "supplier": child.get("supplier"),
            "supplier_lot": child.get("supplier_lot"), "date_code": child.get("date_code"),
            "origin": child.get("origin"), "version": child.get("version"),
            "lot": child.get("lot")}


def _tree(root: str, kind: str, lot: dict[str, Any], root_units: list[str],
          rows: list[dict[str, Any]], info: dict[str, dict[str, Any]],
          parts: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Nested nodes built from the edges (a shared child appears under each parent)."""
    by_parent: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_parent.setdefault(r["parent"], []).append(r)

    def node(item: str, edge: dict[str, Any] | None, seen: frozenset[str]) -> dict[str, Any]:
        base = dict(info.get(item, {"id": item}))
        if edge is not None:
            base.update({"qty": edge["qty"], "op": edge["op"], "station": edge["station"],
                         "at": edge["at"], "refdes": edge["refdes"], "feeder": edge["feeder"]})
        if item in seen:  # corrupt data with a cycle: stop here
            base["children"] = []
            return base
        base["children"] = [node(c["child"], c, seen | {item}) for c in by_parent.get(item, [])]
        return base

    top: dict[str, Any] = {"id": root, "kind": kind, "part": lot.get("part"),
           "part_name": parts.get(lot.get("part") or "", {}).get("name"),
           "status": (lot.get("status") if kind == "lot" else None)}
    if kind == "unit":
        top = {**top, **info.get(root, {}), "lot": lot.get("id")}
    top["children"] = [node(c["child"], c, frozenset({root}))
                       for c in by_parent.get(root, [])]
    top["children"] += [node(u, None, frozenset({root})) for u in root_units]
    return top


# -- forward -------------------------------------------------------------------------------

def forward(ctx: Context, item_id: str, finished: bool = False, depth: int | None = None,
            site: str | None = None) -> dict[str, Any]:
    """Every lot and unit that contains the start point at any depth, with its status and
    its lot's site; with `site` (issue 20): only the lots and units of that site."""
    store = ctx.store
    site = _known_site(ctx, site)
    kind, row = _root(store, item_id)
    if kind == "container":  # issue 19: the units packed in it are the scope
        from mes.services.packing import container_scope

        return container_scope(store, row, finished)
    start = row["serial"] if kind == "unit" else row["id"]
    items = genealogy.forward_items(store, start, _check_depth(depth))
    lot_ids = sorted({r["lot_id"] for r in items})
    lot_site = sites.lot_sites(store, lot_ids)
    if site is not None:
        items = [r for r in items if lot_site.get(r["lot_id"]) == site]
    ships = genealogy.shipments_of(store, lot_ids)
    shipped_to: dict[str, list[dict[str, Any]]] = {}
    for s in ships:
        serials = json.loads(s["serials"]) if s["serials"] else []
        entry = {"consignee": s["consignee"], "ref": s["ref"], "shipped_at": s["shipped_at"]}
        for key in serials or [s["lot_id"]]:
            shipped_to.setdefault(key, []).append(entry)
        if serials:
            shipped_to.setdefault(s["lot_id"], []).append(entry)
    # consignee and reference text per shipped item, built once per item shipped
    destination = {key: ("; ".join(sorted({d["consignee"] for d in dest})) or None,
                         "; ".join(sorted({d["ref"] for d in dest})) or None)
                   for key, dest in shipped_to.items()}
    out = []
    for r in items:
        if finished and r["part_kind"] != "device":
            continue
        consignee, ref = destination.get(r["id"], (None, None))
        out.append({"id": r["id"], "kind": r["kind"], "lot": r["lot_id"],
                    "site": lot_site.get(r["lot_id"]), "part": r["part"],
                    "part_kind": r["part_kind"], "status": r["status"],
                    "on_hold": bool(r["on_hold"]), "hold_reason": r["hold_reason"],
                    "consumed_into": r["consumed_into"], "direct": bool(r["direct"]),
                    "serialized": bool(r["serialized"]),
                    "consignee": consignee, "shipment_ref": ref})
    out.sort(key=lambda x: (x["kind"] != "lot", x["part"], x["id"]))
    counts: dict[str, int] = {}
    for x in out:
        if x["kind"] == "unit" or not x["serialized"]:
            counts[x["status"]] = counts.get(x["status"], 0) + 1
    _add_containers(store, out)
    return {"start": start, "kind": kind, "finished_only": finished, "site": site,
            "items": out,
            "counts": counts,
            "containers": sorted({x["container"] for x in out if x.get("container")}),
            "units": sum(1 for x in out if x["kind"] == "unit"),
            "lots": sum(1 for x in out if x["kind"] == "lot")}


def _containers(store: Store, item: str) -> list[dict[str, Any]]:
    from mes.services.packing import containers_of

    return containers_of(store, item)


def _add_containers(store: Store, items: list[dict[str, Any]]) -> None:
    """Each unit's current package (issue 19): a recall pulls cartons, not loose units."""
    from mes.store.containers import parents_of

    held = parents_of(store, [x["id"] for x in items if x["kind"] == "unit"])
    for x in items:
        x["container"] = held.get(x["id"])


# -- recall --------------------------------------------------------------------------------

def recall(ctx: Context, item_id: str, reason: str, hold: bool = False) -> dict[str, Any]:
    """Recall scope of a start point; with hold, every affected item still in the plant is
    put on hold in one signed transaction."""
    require(ctx, "recall")  # the role before the record: a refusal learns nothing
    if not reason.strip():
        raise InvalidInput("a recall needs a --reason (e.g. the supplier notice)",
                           field="reason")
    store = ctx.store
    scope = forward(ctx, item_id)
    kind, row = _root(store, item_id)
    start = scope["start"]
    to_hold = _hold_targets(scope["items"])
    start_row = None
    if kind in ("material", "lot", "unit") and not row["on_hold"] and \
            row.get("status") not in OUT_OF_PLANT:
        start_row = (kind, start)
    out: dict[str, Any] = {**scope, "reason": reason, "held": []}
    if not hold:
        out["would_hold"] = [i for _, i in to_hold] + ([start] if start_row else [])
        return out
    signer = prepare_signature(ctx, "recall", "held")
    held: list[str] = []
    hold_reason = f"recall {start}: {reason}"
    with store.transaction() as tx:
        targets = to_hold + ([start_row] if start_row else [])
        for k, item in targets:
            table = {"unit": "units", "lot": "lots", "material": "material_lots"}[k]
            changes: dict[str, Any] = {"on_hold": True}
            if table != "material_lots":
                changes["hold_reason"] = hold_reason
            if tx.update(table, item, changes, expect={"on_hold": False}) != 1:
                continue  # put on hold meanwhile by someone else: already held
            tx.append_audit(username=signer.actor.username, station=ctx.station,
                            action=f"{k}.hold", entity_type=k, entity_id=item,
                            old={"on_hold": False}, new={"on_hold": True}, reason=hold_reason)
            held.append(item)
        recall_id = f"RC-{tx.next_counter('recall'):06d}"
        record = {"start": start, "reason": reason, "held": held,
                  "scope": {"units": scope["units"], "lots": scope["lots"],
                            "counts": scope["counts"]}, "at": clock.now_iso()}
        tx.insert("recalls", {"id": recall_id, "start_item": start, "reason": reason,
                              "status": "open", "held": held, "scope": record["scope"],
                              "opened_by": signer.actor.username, "opened_at": record["at"]})
        tx.append_audit(username=signer.actor.username, station=ctx.station,
                        action="recall.hold", entity_type=kind, entity_id=start,
                        new={"held": held, "scope_counts": scope["counts"],
                             "recall": recall_id}, reason=reason)
        sign(tx, signer, "recall", start, record)
    out["held"], out["recall"] = held, recall_id
    return out


def _recall_view(store: Store, row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "held": json.loads(row["held"]), "scope": json.loads(row["scope"]),
            "signatures": signatures_for(store, "recall", row["id"])
            + signatures_for(store, "recall", row["start_item"])}


def list_recalls(ctx: Context) -> list[dict[str, Any]]:
    return [_recall_view(ctx.store, r) for r in ctx.store.find("recalls", order="id")]


def show_recall(ctx: Context, recall_id: str) -> dict[str, Any]:
    row = ctx.store.get("recalls", recall_id.strip().upper())
    if row is None:
        raise NotFound(f"no recall {recall_id}: see `mes recall list`")
    return _recall_view(ctx.store, row)


def close_recall(ctx: Context, recall_id: str, reason: str) -> dict[str, Any]:
    """Quality closes a recall (signed) once its items are dispositioned; the holds stay
    (each comes off through its own NCR or unhold, with its own reason)."""
    require(ctx, "recall")  # the role before the record
    if not reason.strip():
        raise InvalidInput("closing a recall needs a --reason (what was done)", field="reason")
    rec = show_recall(ctx, recall_id)
    if rec["status"] != "open":
        raise Refused(f"recall {rec['id']} is already {rec['status']}")
    signer = prepare_signature(ctx, "recall", "closed")
    now = clock.now_iso()
    with ctx.store.transaction() as tx:
        if tx.update("recalls", rec["id"], {"status": "closed", "closed_by":
                     signer.actor.username, "closed_at": now, "close_reason": reason},
                     expect={"status": "open"}) != 1:
            raise Refused(f"recall {rec['id']} changed meanwhile: try again")
        tx.append_audit(username=signer.actor.username, station=ctx.station,
                        action="recall.close", entity_type="recall", entity_id=rec["id"],
                        old={"status": "open"}, new={"status": "closed"}, reason=reason)
        sign(tx, signer, "recall", rec["id"], {"id": rec["id"], "start": rec["start_item"],
                                               "held": rec["held"], "status": "closed",
                                               "reason": reason})
    return show_recall(ctx, rec["id"])


def _hold_targets(items: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """Units still in the plant, and lots that themselves contain the start point
    (non-serialized lots); a serialized lot reached through some of its units is not held
    as a whole, so its unaffected units stay free. Units built into another unit follow
    that unit (it is in the scope too)."""
    out = []
    for x in items:
        if x["on_hold"] or x["status"] in OUT_OF_PLANT or x["status"] == "consumed":
            continue
        if x["kind"] == "unit" or (x["kind"] == "lot" and x["direct"] and not x["serialized"]):
            out.append((x["kind"], x["id"]))
    return out
