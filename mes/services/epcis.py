"""`mes epcis export` (issue 19): an EPCIS 2.0 JSON-LD document from the records.

- commissioning: one ObjectEvent (ADD) per lot and labelled production date, at the first
  label's print time, ILMD with lot, use-by and production date (from the printed UDI);
- packing / unpacking: AggregationEvents (ADD / DELETE), parentID = the SSCC;
- shipping: ObjectEvent (OBSERVE, in_transit) with the delivery note, source = the site,
  destination = the consignee's GLN when known.
- assembling: a TransformationEvent per device built from serialized subassemblies that
  carry a GTIN in the catalog (optional on a subassembly): inputEPCList = the PCBA's SGTIN,
  outputEPCList = the device's SGTIN, at the time the board went in. A subassembly without
  a GTIN has no EPC, serial or class level (an LGTIN needs a GTIN too): its transformation
  is left out and the export says so (`skipped`), rather than inventing an identifier.
Identifiers are GS1 Digital Link URIs; locations the site's SGLN; eventID the CBV 2.0 event
hash. The document's sha256 is anchored in the audit chain.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mes import clock
from mes.domain import gs1
from mes.domain.epcis import NAMESPACES, event_id
from mes.errors import Refused
from mes.services.auth import require
from mes.services.context import Context
from mes.services.lots import get_lot
from mes.services.routings import get_part
from mes.store import epcis as q

CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"


def _event(kind: str, at: str, **fields: Any) -> dict[str, Any]:
    e: dict[str, Any] = {"type": kind, "eventTime": at, "eventTimeZoneOffset": "+00:00"}
    e.update({k: v for k, v in fields.items() if v not in (None, [], {})})
    return {"eventID": event_id(e), **e}


def build(ctx: Context, lot: str | None = None, since: str | None = None) -> dict[str, Any]:
    return _build(ctx, lot, since)[0]


def _build(ctx: Context, lot: str | None, since: str | None
           ) -> tuple[dict[str, Any], list[str]]:
    """The document, and what it leaves out and why."""
    from mes.services.workspace import config

    store = ctx.store
    cfg = config(ctx)
    gln = str(cfg.get("gs1.site_gln") or "")
    if not gln:
        raise Refused("the site's GLN is not set: an admin sets it with `mes config set "
                      "gs1.site_gln NNNNNNNNNNNNN` (EPCIS locations are SGLNs)")
    lot_id = get_lot(store, lot.strip().upper())["id"] if lot else None
    site = {"id": gs1.dl_sgln(gln)}
    gtins: dict[str, str] = {}

    def gtin_of(part: str) -> str:
        if part not in gtins:
            gtins[part] = get_part(store, part).gtin or ""
        return gtins[part]

    def sgtin(part: str, serial: str) -> str:
        return gs1.dl_sgtin(gtin_of(part), serial)

    events: list[dict[str, Any]] = []
    unit_uri: dict[str, str] = {}
    groups: dict[tuple[str, str, str, str], list[dict[str, Any]]] = {}
    for r in q.unit_labels(store, lot_id):
        el = gs1.parse_element_string(r["element_string"])
        unit_uri[r["serial"]] = sgtin(r["part"], r["serial"])
        groups.setdefault((r["lot_id"], r["part"], el.get("11", ""), el.get("17", "")),
                          []).append(r)
    today = clock.now().date()
    for (lid, _part, mfg, exp), rows in groups.items():
        ilmd: dict[str, Any] = {"cbvmda:lotNumber": lid}
        if exp:
            ilmd["cbvmda:itemExpirationDate"] = gs1.parse_yymmdd(exp, "17", today).isoformat()
        if mfg:
            ilmd["mes:productionDate"] = gs1.parse_yymmdd(mfg, "11", today).isoformat()
        events.append(_event("ObjectEvent", min(r["printed_at"] for r in rows),
                             epcList=[unit_uri[r["serial"]] for r in rows], action="ADD",
                             bizStep="commissioning", disposition="active", readPoint=site,
                             bizLocation=site, ilmd=ilmd))
    skipped: list[str] = []
    events += _transformations(store, unit_uri, gtin_of, site, skipped)
    packs: dict[tuple[str, str, str], list[str]] = {}
    for p in q.packings(store):
        child = unit_uri.get(p["item_id"]) if p["item_kind"] == "unit" else \
            gs1.dl_sscc(p["item_id"])
        if child is None:
            continue  # a unit of another lot (filtered out)
        packs.setdefault((p["sscc"], "ADD", p["packed_at"]), []).append(child)
        if p["removed_at"]:
            packs.setdefault((p["sscc"], "DELETE", p["removed_at"]), []).append(child)
    for (sscc, action, at), children in packs.items():
        events.append(_event("AggregationEvent", at, parentID=gs1.dl_sscc(sscc),
                             childEPCs=children, action=action,
                             bizStep="packing" if action == "ADD" else "unpacking",
                             disposition="in_progress", readPoint=site, bizLocation=site))
    boxes = q.shipped_containers(store)
    by_ref: dict[tuple[str, str, str | None], list[str]] = {}
    for s in q.shipments(store, lot_id):
        epcs = [gs1.dl_sscc(b) for b in boxes.get(int(s["id"]), [])] or [
            unit_uri[u] for u in json.loads(s["serials"] or "[]") if u in unit_uri]
        by_ref.setdefault((s["ref"], s["shipped_at"], s["destination_gln"]), []).extend(epcs)
    for (ref, at, dest), epcs in by_ref.items():
        if not epcs:
            continue
        dest_list = [{"type": "owning_party", "destination": gs1.dl_pgln(dest)},
                     {"type": "location", "destination": gs1.dl_sgln(dest)}] if dest else []
        events.append(_event(
            "ObjectEvent", at, epcList=sorted(set(epcs)), action="OBSERVE", bizStep="shipping",
            disposition="in_transit", readPoint=site,
            bizTransactionList=[{"type": "desadv",
                                 "bizTransaction": f"urn:epcglobal:cbv:bt:{gln}:{ref}"}],
            sourceList=[{"type": "owning_party", "source": gs1.dl_pgln(gln)},
                        {"type": "location", "source": site["id"]}],
            destinationList=dest_list))
    if since:
        events = [e for e in events if e["eventTime"][:10] >= since]
    events.sort(key=lambda e: (e["eventTime"], e["eventID"]))
    return {"@context": [CONTEXT, {"mes": NAMESPACES["mes"]}], "type": "EPCISDocument",
            "schemaVersion": "2.0", "creationDate": clock.now_iso(),
            "epcisBody": {"eventList": events}}, skipped


def _transformations(store: Any, unit_uri: dict[str, str], gtin_of: Callable[[str], str],
                     site: dict[str, str], skipped: list[str]) -> list[dict[str, Any]]:
    """PCBA -> device: one TransformationEvent per assembly step of an exported unit."""
    steps: dict[tuple[str, Any], list[dict[str, Any]]] = {}
    without: dict[str, int] = {}
    for e in q.subassemblies(store, list(unit_uri)):
        if not gtin_of(e["part"]):
            without[e["part"]] = without.get(e["part"], 0) + 1
            continue
        steps.setdefault((e["parent"], e["step_id"]), []).append(e)
    for part, n in sorted(without.items()):
        skipped.append(f"no TransformationEvent for {n} {part} built into devices: {part} "
                       "has no gtin in the catalog (an EPC, serial or class level, needs one)")
    return [_event("TransformationEvent", min(e["at"] for e in rows),
                   inputEPCList=[gs1.dl_sgtin(gtin_of(e["part"]), e["child"]) for e in rows],
                   outputEPCList=[unit_uri[parent]], bizStep="assembling",
                   disposition="active", readPoint=site, bizLocation=site)
            for (parent, _step), rows in steps.items()]


def export(ctx: Context, lot: str | None, since: str | None, out: Path | None
           ) -> dict[str, Any]:
    actor = require(ctx, "epcis.export")
    doc, skipped = _build(ctx, lot, since)
    text = json.dumps(doc, indent=1, ensure_ascii=False)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    n = len(doc["epcisBody"]["eventList"])
    tmp = None
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
    try:
        with ctx.store.transaction() as tx:
            tx.append_audit(username=actor.username, station=ctx.station,
                            action="epcis.export", entity_type="epcis",
                            entity_id=f"epcis-{digest[:16]}",
                            new={"sha256": digest, "events": n, "lot": lot, "since": since,
                                 "file": str(out) if out else None})
            if tmp is not None and out is not None:
                os.replace(tmp, out)
    finally:
        if tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
    return {"text": text, "sha256": digest, "events": n, "out": str(out) if out else None,
            "skipped": skipped}
