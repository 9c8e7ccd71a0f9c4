"""Packing by container (issue 19): boxes, cases, pallets identified by SSCCs.

- The part's packaging levels come from the catalog (box of N units, case of M boxes, …).
- A unit (or a package) is in at most one container at a time (a partial unique index).
- Only released, labelled units that are not on hold are packed.
- A container closes when full (or on --close); closing prints its logistic label, which is
  decoded back before it is recorded (like the unit labels).
- Unpacking is signed, with a reason; it voids the container's label (the count changed).
- Shipping by SSCC (`ship_containers`) ships every unit inside, lot by lot.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import Any

from mes import clock
from mes.domain import gs1
from mes.domain.ids import normalise_scan
from mes.domain.model import Part
from mes.errors import IntegrityFailure, InvalidInput, NotFound, Refused
from mes.services.auth import prepare_signature, require, sign
from mes.services.context import Context
from mes.services.lots import resolve
from mes.services.routings import get_part
from mes.store import containers as cstore
from mes.store import labels as labels_store
from mes.store import lots as lots_store
from mes.store.base import Store
from mes.store.sites import acting_site

LOGISTIC_TEMPLATE = "logistic-100x150"


def scan_id(scan: str) -> str:
    """An SSCC from a logistic label scan or 18 digits; anything else as typed."""
    return gs1.sscc_from_scan(scan) if gs1.is_sscc_text(scan) else normalise_scan(scan)


def get_container(store: Store, scan: str) -> dict[str, Any]:
    sscc = scan_id(scan)
    row = store.get("containers", sscc)
    if row is None:
        raise NotFound(f"{sscc} is not a known container (SSCC): check the label")
    return row


def _levels(part: Part) -> list[str]:
    if not part.packaging:
        raise Refused(f"part {part.number} has no packaging levels in the catalog: add "
                      "`packaging:` (e.g. box of 10, case of 4) and load the catalog")
    return [p.level for p in part.packaging]


# -- pack ------------------------------------------------------------------------------------

def pack(ctx: Context, scans: list[str], into: str | None = None, level: str | None = None,
         close: bool = False) -> dict[str, Any]:
    actor = require(ctx, "pack")
    store = ctx.store
    if not scans and not (into and close):
        raise InvalidInput("give the serials or SSCCs to pack", field="items")
    items = list(dict.fromkeys(scan_id(s) for s in scans if s.strip()))
    rows = [_packable(store, i) for i in items]
    target = get_container(store, into) if into else None
    part_no = target["part"] if target else None
    for kind, row in rows:
        p = row["part"]
        if part_no is not None and p != part_no:
            raise Refused(f"{_id(kind, row)} is {p}, this container holds {part_no}: one "
                          "part per container")
        part_no = p
    assert part_no is not None
    part = get_part(store, part_no)
    levels = _levels(part)
    child_levels = {row["level"] if kind == "container" else "unit" for kind, row in rows}
    if len(child_levels) > 1:
        raise Refused("units and packages of different levels cannot share a container")
    child = child_levels.pop() if child_levels else None
    inner = -1 if child in (None, "unit") else levels.index(child)
    if target is not None:
        if target["status"] != "open":
            raise Refused(f"container {target['sscc']} is {target['status']}: only an open "
                          "container takes more (unpack it to reopen it)")
        want = target["level"]
        if child is not None and levels.index(want) != inner + 1:
            holds = "units" if levels.index(want) == 0 else levels[levels.index(want) - 1] + "s"
            raise Refused(f"a {want} holds {holds}, not {child}s")
    else:
        if inner + 1 >= len(levels):
            raise Refused(f"a {levels[-1]} is the outermost package of {part_no}: nothing "
                          "packs it")
        want = levels[inner + 1]
        if level is not None and level != want:
            raise Refused(f"{child}s go into a {want}, not a {level}")
    capacity = part.packaging[levels.index(want)].contains
    existing = cstore.contents(store, target["sscc"]) if target else []
    total = len(existing) + len(rows)
    if total > capacity:
        raise Refused(f"a {want} of {part_no} holds {capacity}: {len(existing)} packed, "
                      f"{len(rows)} more do not fit")
    closing = close or total == capacity
    if closing and total == 0:
        raise Refused("an empty container is not closed: pack something first")

    settings = _gs1_settings(ctx) if target is None else None
    sscc = target["sscc"] if target else _allocate(store, settings)
    label = None
    if closing:
        label = _logistic_label(ctx, sscc, want, part,
                                [r["item_id"] for r in existing] + [_id(k, r) for k, r in rows],
                                reprint=bool(target and cstore.labels_of(store, sscc)))
    now = clock.now_iso()
    try:
        with store.transaction() as tx:
            for kind, row in rows:  # again, as things are now
                _packable(tx, _id(kind, row))
            if target is None:
                tx.claim_id(sscc, "container")
                tx.insert("containers", {"sscc": sscc, "level": want, "part": part_no,
                                         "capacity": capacity, "status": "open",
                                         "site_id": _site_id(tx), "created_at": now,
                                         "created_by": actor.username})
            elif tx.update("containers", sscc, {"status": "open"},
                           expect={"status": "open"}) != 1:
                raise Refused(f"container {sscc} changed meanwhile: try again")
            cstore.add(tx, sscc, [(_id(k, r), k, r.get("lot_id")) for k, r in rows], now,
                       actor.username)
            new: dict[str, Any] = {"level": want, "part": part_no,
                                   "items": [_id(k, r) for k, r in rows], "count": total}
            if closing:
                tx.update("containers", sscc, {"status": "closed", "closed_at": now})
                new["status"] = "closed"
            tx.append_audit(username=actor.username, station=ctx.station,
                            action="container.pack", entity_type="container", entity_id=sscc,
                            old={"count": len(existing)} if target else None, new=new)
            if label is not None:
                _record_label(ctx, tx, label, actor.username)
    finally:
        if label is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(label["tmp"])
    return {"sscc": sscc, "level": want, "part": part_no, "packed": [_id(k, r) for k, r in rows],
            "count": total, "capacity": capacity,
            "status": "closed" if closing else "open",
            "label": label["rel"] if label else None,
            "element_string": label["hri"] if label else None}


def _id(kind: str, row: dict[str, Any]) -> str:
    return str(row["serial"] if kind == "unit" else row["sscc"])


def _packable(store: Store, item: str) -> tuple[str, dict[str, Any]]:
    """A released, labelled unit not on hold, or a closed package; in no container."""
    kind, row = resolve(store, item)
    if kind == "unit":
        lot = store.get("lots", row["lot_id"]) or {}
        if row["on_hold"]:
            raise Refused(f"unit {item} is on hold ({row['hold_reason']}): it cannot be packed")
        if lot.get("on_hold"):
            raise Refused(f"lot {lot['id']} is on hold ({lot['hold_reason']}): its units "
                          "cannot be packed")
        if row["status"] != "released":
            raise Refused(f"unit {item} is {row['status']}: only released units are packed "
                          "(`mes lot release` by quality)")
        if cstore.unit_label(store, item) is None:
            raise Refused(f"unit {item} has no label: print it first (`mes label print`)")
        row = {**row, "part": lot["part"]}
    elif kind == "container":
        if row["status"] != "closed":
            raise Refused(f"container {item} is {row['status']}: close it before packing it "
                          "into another")
    else:
        raise Refused(f"{item} is a {kind}: pack unit serials or SSCCs")
    holder = cstore.current_parent(store, item)
    if holder is not None:
        raise Refused(f"{item} is already in container {holder['sscc']}: unpack it from there "
                      "first")
    return kind, row


def _gs1_settings(ctx: Context) -> dict[str, str]:
    from mes.services.workspace import config

    cfg = config(ctx)
    prefix = str(cfg.get("gs1.company_prefix") or "")
    if not prefix:
        raise Refused("the site's GS1 company prefix is not set: an admin sets it with "
                      "`mes config set gs1.company_prefix NNNNNNN`")
    return {"prefix": prefix, "extension": str(cfg.get("gs1.sscc_extension") or "0")}


def _allocate(store: Store, settings: dict[str, str] | None) -> str:
    """A new SSCC from the counter: committed at once, so a number is never given twice
    (a gap after a refused label is allowed, a repeat never)."""
    assert settings is not None
    with store.transaction() as tx:
        n = tx.next_counter(f"sscc:{settings['extension']}{settings['prefix']}")
    return gs1.make_sscc(int(settings["extension"]), settings["prefix"], n)


def _site_id(store: Store) -> str:
    return str((store.get("meta", "site_id") or {}).get("value") or "")


# -- logistic label ----------------------------------------------------------------------------

def content_summary(store: Store, part: Part, serials: list[str]) -> dict[str, Any]:
    """Homogeneous content: one GTIN (always, one part per container); lot and use-by only
    when every unit is of one lot (use-by: the earliest printed on the units' labels)."""
    rows = [store.get("units", s) or {} for s in serials]
    lots = sorted({str(r["lot_id"]) for r in rows if r})
    labels = cstore.unit_labels(store, serials)
    expiries = []
    for s in serials:
        lab = labels.get(s)
        el = gs1.parse_element_string(lab["element_string"]) if lab else {}
        if "17" in el:
            expiries.append(gs1.parse_yymmdd(el["17"], "17", clock.now().date()))
    one_lot = lots[0] if len(lots) == 1 else None
    expiry: date | None = min(expiries) if expiries and one_lot else None
    return {"gtin": part.gtin, "count": len(serials), "lot": one_lot, "lots": lots,
            "expiry": expiry}


def _units_of(store: Store, items: list[str]) -> list[str]:
    serials: list[str] = []
    for item in items:
        if store.get("containers", item) is not None:
            serials += [u["serial"] for u in cstore.units_in(store, item)]
        else:
            serials.append(item)
    return serials


def _logistic_label(ctx: Context, sscc: str, level: str, part: Part, items: list[str],
                    reprint: bool) -> dict[str, Any]:
    from mes.render.label_logistic import LogisticContent, render_logistic_pdf
    from mes.services.workspace import site

    store = ctx.store
    serials = _units_of(store, items)
    summary = content_summary(store, part, serials)
    if not part.gtin:
        raise Refused(f"part {part.number} has no GTIN: its packages cannot say what they hold")
    elements = gs1.logistic_elements(sscc, summary["gtin"], summary["count"], summary["lot"],
                                     summary["expiry"])
    the_site = site(ctx)
    content = LogisticContent(
        sscc=sscc, elements=elements, level=level,
        sender_name=the_site.get("manufacturer") or the_site["name"],
        sender_address=the_site.get("address") or "", product_name=part.name,
        ref=part.ref, count=summary["count"], packages=len(items), lot=summary["lot"],
        expiry=summary["expiry"].isoformat() if summary["expiry"] else None,
        is_reprint=reprint)
    data = render_logistic_pdf([content])
    folder = ctx.workspace / "labels" / "containers"
    folder.mkdir(parents=True, exist_ok=True)
    stamp = clock.now().strftime("%Y%m%dT%H%M%SZ")
    final = folder / f"{sscc}-{stamp}.pdf"
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=folder)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    try:
        _verify(Path(tmp), content.hri)
    except BaseException:
        os.unlink(tmp)
        raise
    doc = {k: v for k, v in asdict(content).items()}
    digest = hashlib.sha256(repr(sorted(doc.items())).encode()).hexdigest()
    try:
        rel = str(final.resolve().relative_to(ctx.workspace.resolve()))
    except ValueError:
        rel = str(final.resolve())
    return {"sscc": sscc, "hri": content.hri, "tmp": tmp, "final": str(final), "rel": rel,
            "content_sha256": digest, "file_sha256": hashlib.sha256(data).hexdigest(),
            "lot": summary["lot"] or "", "reprint": reprint}


def _verify(path: Path, hri: str) -> None:
    from mes.render.label_logistic import DPI, SYMBOL_REGION_MM
    from mes.render.label_verify import verify_pdf

    pages = verify_pdf(path, dpi=DPI, region_mm=SYMBOL_REGION_MM)
    if len(pages) != 1 or not pages[0].ok or pages[0].udi_hri != hri:
        got = pages[0].udi_hri if pages else "nothing"
        raise IntegrityFailure(f"the logistic label does not decode to {hri} (read {got!r}): "
                               "not printed; check the printer driver and report it")


def _record_label(ctx: Context, tx: Store, label: dict[str, Any], username: str) -> None:
    sscc = label["sscc"]
    reprint = labels_store.count_of_item(tx, sscc)
    now = clock.now_iso()
    tx.insert("labels", {"item_id": sscc, "lot_id": label["lot"], "template": LOGISTIC_TEMPLATE,
                         "template_version": 1, "format": "pdf",
                         "element_string": label["hri"],
                         "content_sha256": label["content_sha256"], "file": label["rel"],
                         "username": username, "printed_at": now, "reprint": reprint,
                         "reason": "repacked" if reprint else None,
                         "site_id": acting_site(tx, ctx.station, label["lot"])})
    tx.append_audit(username=username, station=ctx.station, action="label.print",
                    entity_type="container", entity_id=sscc,
                    new={"template": LOGISTIC_TEMPLATE, "element_string": label["hri"],
                         "file": label["rel"], "file_sha256": label["file_sha256"],
                         "reprint": reprint})
    os.replace(label["tmp"], label["final"])


# -- unpack ----------------------------------------------------------------------------------

def unpack(ctx: Context, scan: str, items: list[str], reason: str) -> dict[str, Any]:
    """Take items (or everything) out of a container: signed, with a reason. A partial
    unpack reopens the container; a whole one dissolves it (its SSCC is never reused)."""
    if not reason.strip():
        raise InvalidInput("an unpack needs a --reason", field="reason")
    signer = prepare_signature(ctx, "unpack", "unpacked")
    store = ctx.store
    box = get_container(store, scan)
    sscc = box["sscc"]
    if box["status"] in ("shipped", "unpacked"):
        raise Refused(f"container {sscc} is {box['status']}: nothing to unpack")
    holder = cstore.current_parent(store, sscc)
    if holder is not None:
        raise Refused(f"container {sscc} is inside {holder['sscc']}: unpack that first (its "
                      "label counts what is in this one)")
    now_in = [r["item_id"] for r in cstore.contents(store, sscc)]
    take = list(dict.fromkeys(scan_id(i) for i in items)) or now_in
    missing = [i for i in take if i not in now_in]
    if missing:
        raise NotFound(f"{missing[0]} is not in container {sscc}")
    status = "unpacked" if len(take) == len(now_in) else "open"
    now = clock.now_iso()
    record = {"sscc": sscc, "removed": take, "status": status, "reason": reason.strip(),
              "at": now}
    with store.transaction() as tx:
        if tx.update("containers", sscc, {"status": status},
                     expect={"status": box["status"]}) != 1:
            raise Refused(f"container {sscc} changed meanwhile: try again")
        if cstore.remove(tx, sscc, take, now, signer.actor.username, reason.strip()) != len(take):
            raise Refused(f"container {sscc} changed meanwhile: try again")
        voided = cstore.void_labels(tx, sscc, now, f"unpacked: {reason.strip()}")
        tx.append_audit(username=signer.actor.username, station=ctx.station,
                        action="container.unpack", entity_type="container", entity_id=sscc,
                        old={"status": box["status"], "count": len(now_in)},
                        new={"status": status, "removed": take,
                             "count": len(now_in) - len(take), "labels_voided": voided},
                        reason=reason.strip())
        sign(tx, signer, "container", sscc, record)
    return {**record, "count": len(now_in) - len(take), "labels_voided": voided}


# -- views -----------------------------------------------------------------------------------

def show(ctx: Context, scan: str) -> dict[str, Any]:
    store = ctx.store
    box = get_container(store, scan)
    sscc = box["sscc"]
    inside = cstore.contents(store, sscc)
    units = cstore.units_in(store, sscc)
    up = cstore.chain(store, sscc)
    return {**box, "digital_link": gs1.dl_sscc(sscc),
            "contents": [{"id": r["item_id"], "kind": r["item_kind"], "lot": r["lot_id"],
                          "packed_at": r["packed_at"], "packed_by": r["packed_by"]}
                         for r in inside],
            "units": [u["serial"] for u in units], "unit_count": len(units),
            "lots": sorted({u["lot_id"] for u in units}),
            "inside": [c["sscc"] for c in up],
            "history": cstore.history(store, sscc),
            "labels": cstore.labels_of(store, sscc)}


def containers_of(store: Store, item_id: str) -> list[dict[str, Any]]:
    """The packages holding a unit (or package) now, innermost first."""
    return [{"sscc": c["sscc"], "level": c["level"], "status": c["status"]}
            for c in cstore.chain(store, item_id)]


def for_lot(store: Store, lot_id: str) -> list[dict[str, Any]]:
    """Containers holding units of the lot, with the packages around them (DHR, shipment)."""
    out = []
    for c in cstore.of_lot(store, lot_id):
        out.append({"sscc": c["sscc"], "level": c["level"], "status": c["status"],
                    "units_of_lot": int(c["units"]), "closed_at": c["closed_at"],
                    "shipped_at": c["shipped_at"],
                    "inside": [x["sscc"] for x in cstore.chain(store, c["sscc"])]})
    return out


# -- ship by SSCC ----------------------------------------------------------------------------

def ship_containers(ctx: Context, scans: list[str], consignee: str, ref: str,
                    to_gln: str | None = None) -> dict[str, Any]:
    """Ship closed outermost packages: every unit inside must be released and not held."""
    actor = require(ctx, "ship")
    store = ctx.store
    if not consignee.strip():
        raise InvalidInput("--to needs the consignee's name and place", field="to")
    if not ref.strip():
        raise InvalidInput("--ref needs the delivery note reference", field="ref")
    gln = gs1.validate_gln(to_gln, "to-gln") if to_gln else None
    boxes = [get_container(store, s) for s in dict.fromkeys(scans)]
    by_lot: dict[str, list[str]] = {}
    all_ssccs: list[str] = []
    for box in boxes:
        sscc = box["sscc"]
        if box["status"] != "closed":
            raise Refused(f"container {sscc} is {box['status']}: only closed containers ship")
        holder = cstore.current_parent(store, sscc)
        if holder is not None:
            raise Refused(f"container {sscc} is inside {holder['sscc']}: ship that one")
        for u in cstore.units_in(store, sscc):
            if u["status"] != "released" or u["on_hold"] or u["lot_on_hold"]:
                why = "on hold" if u["on_hold"] or u["lot_on_hold"] else u["status"]
                raise Refused(f"{u['serial']} in {sscc} is {why}: only released units not on "
                              "hold ship (unpack it)")
            by_lot.setdefault(u["lot_id"], []).append(u["serial"])
        all_ssccs += [sscc, *cstore.containers_in(store, sscc)]
    if not by_lot:
        raise Refused("the containers hold no unit: nothing to ship")
    now = clock.now_iso()
    shipments = []
    with store.transaction() as tx:
        for lot_id, serials in sorted(by_lot.items()):
            lot = tx.get("lots", lot_id) or {}
            for s in serials:
                if tx.update("units", s, {"status": "shipped"},
                             expect={"status": "released", "on_hold": False}) != 1:
                    raise Refused(f"{s} changed meanwhile: try again")
            tx.increment("lots", lot_id, "qty_shipped", len(serials))
            ship_id = tx.insert("shipments", {
                "lot_id": lot_id, "consignee": consignee.strip(), "ref": ref.strip(),
                "qty": len(serials), "serials": serials, "shipped_at": now,
                "username": actor.username, "destination_gln": gln}, returning="id")
            lot_boxes = [s for s in all_ssccs if any(
                u["lot_id"] == lot_id for u in cstore.units_in(tx, s))]
            cstore.record_shipment(tx, ship_id, lot_boxes)
            left = lots_store.units_released(tx, lot_id)
            status = "released" if left else "shipped"
            if status != lot["status"]:
                tx.update("lots", lot_id, {"status": status})
            tx.append_audit(username=actor.username, station=ctx.station, action="ship",
                            entity_type="lot", entity_id=lot_id,
                            old={"status": lot["status"], "qty_shipped": lot["qty_shipped"]},
                            new={"status": status,
                                 "qty_shipped": lot["qty_shipped"] + len(serials),
                                 "shipment": ship_id, "consignee": consignee.strip(),
                                 "ref": ref.strip(), "qty": len(serials), "serials": serials,
                                 "containers": lot_boxes, "destination_gln": gln})
            shipments.append({"shipment": ship_id, "lot": lot_id, "qty": len(serials),
                              "containers": lot_boxes, "lot_status": status})
        if cstore.set_status(tx, all_ssccs, "shipped", "closed", {"shipped_at": now}) \
                != len(all_ssccs):
            raise Refused("a container changed meanwhile: try again")
        for s in all_ssccs:
            tx.append_audit(username=actor.username, station=ctx.station,
                            action="container.ship", entity_type="container", entity_id=s,
                            old={"status": "closed"}, new={"status": "shipped",
                                                           "ref": ref.strip()})
    return {"consignee": consignee.strip(), "ref": ref.strip(), "containers": all_ssccs,
            "qty": sum(len(v) for v in by_lot.values()), "shipments": shipments,
            "shipped_at": now, "destination_gln": gln}


# -- trace -----------------------------------------------------------------------------------

def container_tree(store: Store, box: dict[str, Any]) -> dict[str, Any]:
    """`mes trace back SSCC`: the packages and units inside, as the trace's tree."""
    def node(sscc: str, level: str, status: str) -> dict[str, Any]:
        children = []
        for r in cstore.contents(store, sscc):
            if r["item_kind"] == "container":
                c = store.get("containers", r["item_id"]) or {}
                children.append(node(r["item_id"], c.get("level", ""), c.get("status", "")))
            else:
                u = store.get("units", r["item_id"]) or {}
                children.append({"id": r["item_id"], "kind": "unit", "lot": r["lot_id"],
                                 "status": u.get("status"), "on_hold": bool(u.get("on_hold")),
                                 "children": []})
        return {"id": sscc, "kind": level, "status": status, "children": children}

    sscc = box["sscc"]
    units = cstore.units_in(store, sscc)
    tree = node(sscc, box["level"], box["status"])
    tree["part"] = box["part"]
    return {"root": sscc, "kind": "container", "part": box["part"], "lot": None,
            "depth": None, "edges": [], "tree": tree, "materials": [], "firmware": [],
            "flashes": [], "containers": containers_of(store, sscc),
            "units": [u["serial"] for u in units],
            "counts": {"edges": 0, "units": len(units),
                       "lots": len({u["lot_id"] for u in units}), "materials": 0,
                       "firmware": 0}}


def container_scope(store: Store, box: dict[str, Any], finished: bool) -> dict[str, Any]:
    """`mes trace forward|recall SSCC`: the units packed in it, as trace items."""
    sscc = box["sscc"]
    items = []
    for u in cstore.units_in(store, sscc):
        holder = cstore.current_parent(store, u["serial"])
        items.append({"id": u["serial"], "kind": "unit", "lot": u["lot_id"], "part": u["part"],
                      "part_kind": "device", "status": u["status"],
                      "on_hold": bool(u["on_hold"]), "hold_reason": u["hold_reason"],
                      "consumed_into": None, "direct": True, "serialized": True,
                      "consignee": None, "shipment_ref": None,
                      "container": holder["sscc"] if holder else None})
    counts: dict[str, int] = {}
    for x in items:
        counts[x["status"]] = counts.get(x["status"], 0) + 1
    return {"start": sscc, "kind": "container", "finished_only": finished, "items": items,
            "counts": counts, "containers": [sscc, *cstore.containers_in(store, sscc)],
            "units": len(items), "lots": 0}
