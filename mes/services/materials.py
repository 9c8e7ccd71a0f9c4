"""Incoming material lots: receive (typed or scanned), inspect, release/reject, load on stations."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from mes import clock
from mes.domain.ids import COUNTRY_RE, check_id, normalise_scan
from mes.errors import InvalidInput, NotFound, Refused
from mes.services import moisture
from mes.services.auth import prepare_signature, require, sign, signatures_for
from mes.services.context import Context
from mes.services.routings import get_part
from mes.store import materials as materials_store


@dataclass
class Receipt:
    part: str
    qty: float
    supplier_lot: str | None = None
    material_id: str | None = None
    supplier: str | None = None
    mpn: str | None = None
    date_code: str | None = None
    expiry: date | None = None
    origin: str | None = None
    unit_cost: float | None = None
    cert: str | None = None
    gtin: str | None = None
    raw_scan: str | None = None  # the GS1 scan as the scanner sent it, kept with the receipt


def merge_scan(typed: Receipt, scan: str) -> Receipt:
    """The scan's GTIN, lot (AI 10, as supplier lot), expiry (AI 17) and serial (AI 21, as
    our id) with the typed fields: a typed value the scan contradicts is refused, naming
    both (a scan and a typed option that disagree are an error, not a preference)."""
    from mes.domain.gs1 import parse_udi

    raw = scan.strip("\r\n")
    if not raw.strip():
        raise InvalidInput("--scan is empty: scan the supplier's label again, or type the "
                           "fields without --scan", field="scan")
    if len(raw) > 500 or "\n" in raw or "\r" in raw:
        raise InvalidInput("--scan: one scanned label of at most 500 characters, please",
                           field="scan")
    try:
        udi = parse_udi(raw, clock.now().date())
    except InvalidInput as exc:  # name the field the operator knows, not only the AI
        field = exc.field or "scan"
        raise InvalidInput(f"--scan: {field}: {exc.message}: scan the label again or type "
                           "the fields", field=field) from None
    r = replace(typed, gtin=udi.gtin, raw_scan=raw)
    for name, option, ai, scanned in (
            ("supplier_lot", "--supplier-lot", "10", udi.lot),
            ("expiry", "--expiry", "17", udi.expiry),
            ("material_id", "--id", "21", udi.serial)):
        if scanned is None:
            continue
        value = getattr(typed, name)
        if value is not None and _as_text(value, name) != _as_text(scanned, name):
            raise InvalidInput(f"{option} {_as_text(value, name)} contradicts the scan's AI "
                               f"({ai}) {_as_text(scanned, name)}: give what the label says, "
                               f"or leave {option} out", field=name)
        setattr(r, name, scanned)
    return r


def _as_text(value: Any, name: str) -> str:
    if isinstance(value, date):
        return value.isoformat()
    return normalise_scan(value) if name == "material_id" else str(value)


def _check_not_ours(ctx: Context, gtin: str | None) -> None:
    """A purchased part never carries one of the plant's own product GTINs: that scan is
    of a label printed here (a device), not of a supplier's material."""
    from mes.services.routings import list_parts

    if gtin is None:
        return
    ours = next((p for p in list_parts(ctx)
                 if p.get("gtin") == gtin and p.get("kind") != "component"), None)
    if ours is not None:
        raise Refused(f"the scan's GTIN {gtin} is this plant's own {ours['kind']} "
                      f"{ours['number']}, not a purchased part: scan the supplier's label")


def expired(m: dict[str, Any] | Receipt, today: date) -> bool:
    """Past its use-by date (the expiry day itself is still usable)."""
    expiry = m.expiry if isinstance(m, Receipt) else m.get("expiry")
    if isinstance(expiry, str):
        expiry = date.fromisoformat(expiry)
    return expiry is not None and expiry < today


def receive(ctx: Context, r: Receipt, scan: str | None = None) -> dict[str, Any]:
    """Receive a lot; with `scan`, the GS1 scan of its label fills and cross-checks the
    fields and is stored with the receipt. Material already past its expiry is received
    in quarantine with a warning: it can never be released."""
    actor = require(ctx, "material.receive")
    store = ctx.store
    if scan is not None:
        r = merge_scan(r, scan)
        _check_not_ours(ctx, r.gtin)
    part = get_part(store, r.part)
    if part.kind not in ("component", "firmware"):
        raise Refused(f"{r.part} is a {part.kind}: it is made here, not received")
    if not (r.qty > 0 and r.qty < 1e12):
        raise InvalidInput("--qty must be a positive number", field="qty")
    origin = r.origin or part.origin
    if origin is not None and not COUNTRY_RE.fullmatch(origin):
        raise InvalidInput(f"--origin {origin!r}: use an ISO 3166 alpha-2 code such as CN",
                           field="origin")
    unit_cost = r.unit_cost if r.unit_cost is not None else part.unit_cost
    if unit_cost is not None and not 0 <= unit_cost < 1e12:
        raise InvalidInput("--unit-cost must be zero or positive", field="unit_cost")
    for name in ("supplier", "supplier_lot", "mpn", "date_code", "cert"):
        value = getattr(r, name)
        if value is not None and (len(value) > 200 or not value.isprintable()):
            raise InvalidInput(f"--{name.replace('_', '-')} {value[:40]!r}: use printable "
                               "text (at most 200 characters)", field=name)
    if r.material_id:
        check_id(normalise_scan(r.material_id), "material id")
    warnings = []
    if expired(r, clock.now().date()):
        assert r.expiry is not None
        warnings.append(f"{r.part} expired on {r.expiry.isoformat()}: received in "
                        "quarantine, it cannot be released; reject it or return it")
    status = "quarantine" if part.incoming_inspection or warnings else "released"
    with store.transaction() as tx:
        mid = normalise_scan(r.material_id) if r.material_id else \
            f"R-{tx.next_counter('material'):06d}"
        tx.claim_id(mid, "material")
        row = {"id": mid, "part": r.part, "supplier": r.supplier, "supplier_lot": r.supplier_lot,
               "mpn": r.mpn, "date_code": r.date_code,
               "expiry": r.expiry.isoformat() if r.expiry else None, "origin": origin,
               "unit_cost": unit_cost, "cert": r.cert, "gtin": r.gtin, "qty_received": r.qty,
               "remaining": r.qty, "status": status, "received_at": clock.now_iso(),
               "received_by": actor.username, "raw_scan": r.raw_scan}
        tx.insert("material_lots", row)
        tx.append_audit(username=actor.username, station=ctx.station, action="material.receive",
                        entity_type="material", entity_id=mid, new=row)
    return {**row, "warnings": warnings}


def item_for_scan(ctx: Context, scan: str) -> str:
    """What a GS1 label scanned at a station names. One of our own labels (our product's
    GTIN): its serial (AI 21), else its lot (AI 10). A supplier's label: the material lot,
    by what was recorded at receipt: its serial (AI 21) as our id, else its GTIN and lot
    (AI 10) as supplier lot."""
    from mes.domain.gs1 import parse_udi
    from mes.services.routings import list_parts

    udi = parse_udi(scan.strip("\r\n "), clock.now().date())
    if any(p.get("gtin") == udi.gtin for p in list_parts(ctx) if p.get("kind") != "component"):
        if udi.serial or udi.lot:
            return normalise_scan(udi.serial or udi.lot or "")
        raise InvalidInput(f"the scan of our GTIN {udi.gtin} has no serial or lot: scan the "
                           "unit's or the lot's own label", field="scan")
    store = ctx.store
    if udi.serial:
        row = store.get("material_lots", normalise_scan(udi.serial))
        if row is not None and row["gtin"] == udi.gtin:
            return str(row["id"])
    what = f"GTIN {udi.gtin}" + (f", lot {udi.lot}" if udi.lot else "")
    rows = store.find("material_lots", {"gtin": udi.gtin, "supplier_lot": udi.lot},
                      order="id") if udi.lot else []
    if len(rows) > 1:  # several reels of one supplier lot: the one in use, if only one
        usable = [r for r in rows if r["status"] == "released" and not r["on_hold"]
                  and r["remaining"] > 0]
        rows = usable if usable else rows
    if not rows:
        raise NotFound(f"no material lot was received with {what}: receive it with "
                       "`mes material receive --scan`, or scan our own label of the lot")
    if len(rows) > 1:
        ids = ", ".join(r["id"] for r in rows[:5])
        raise Refused(f"{what} names {len(rows)} material lots ({ids}): scan our own "
                      "label of the one you hold")
    return str(rows[0]["id"])


def _material(ctx: Context, material_id: str) -> dict[str, Any]:
    row = ctx.store.get("material_lots", normalise_scan(material_id))
    if row is None:
        raise NotFound(f"no material lot {material_id}: see `mes material list`")
    return row


def release(ctx: Context, material_id: str) -> dict[str, Any]:
    return _disposition(ctx, material_id, "released", "material.release", "released", None)


def release_many(ctx: Context, material_ids: list[str]) -> list[dict[str, Any]]:
    """Release several quarantined lots with one password entry: each lot gets its own
    audit event and signature record, in one transaction (all or none)."""
    require(ctx, "material.release")  # the role before the records
    ids = list(dict.fromkeys(i.strip().upper() for i in material_ids if i.strip()))
    if not ids:
        raise InvalidInput("give one or more material lot ids to release", field="material")
    rows = [_material(ctx, i) for i in ids]
    bad = [f"{m['id']} is {m['status']}" for m in rows if m["status"] != "quarantine"]
    if bad:
        raise Refused(f"only quarantined material can be released: {'; '.join(bad)}: "
                      "release the others without them")
    signer = prepare_signature(ctx, "material.release", "released")
    with ctx.store.transaction() as tx:
        today = clock.now().date()
        for m in rows:
            if expired(m, today):
                raise Refused(f"material {m['id']} expired on {m['expiry']}: it cannot be "
                              "released; reject it (`mes material reject --reason`)")
            if tx.update("material_lots", m["id"], {"status": "released"},
                         expect={"status": "quarantine"}) != 1:
                raise Refused(f"material {m['id']} changed meanwhile: try again")
            tx.append_audit(username=signer.actor.username, station=ctx.station,
                            action="material.release", entity_type="material",
                            entity_id=m["id"], old={"status": "quarantine"},
                            new={"status": "released"})
            sign(tx, signer, "material", m["id"], {**m, "status": "released"})
    return [{**m, "status": "released"} for m in rows]


def reject(ctx: Context, material_id: str, reason: str) -> dict[str, Any]:
    require(ctx, "material.reject")  # the role first, as every signed command
    if not reason.strip():
        raise InvalidInput("a rejection needs a --reason", field="reason")
    return _disposition(ctx, material_id, "rejected", "material.reject", "rejected", reason)


def _disposition(ctx: Context, material_id: str, status: str, action: str, meaning: str,
                 reason: str | None) -> dict[str, Any]:
    require(ctx, action)  # the role before the record: a refusal learns nothing
    m = _material(ctx, material_id)
    if m["status"] != "quarantine":
        raise Refused(f"material {m['id']} is {m['status']}: only quarantined material can be "
                      f"{status}")
    signer = prepare_signature(ctx, action, meaning)
    with ctx.store.transaction() as tx:
        if status == "released" and expired(m, clock.now().date()):
            raise Refused(f"material {m['id']} expired on {m['expiry']}: it cannot be "
                          "released; reject it (`mes material reject --reason`)")
        if tx.update("material_lots", m["id"], {"status": status},
                     expect={"status": "quarantine"}) != 1:
            raise Refused(f"material {m['id']} changed meanwhile: try again")
        tx.append_audit(username=signer.actor.username, station=ctx.station, action=action,
                        entity_type="material", entity_id=m["id"],
                        old={"status": "quarantine"}, new={"status": status}, reason=reason)
        sign(tx, signer, "material", m["id"], {**m, "status": status})
    return {**m, "status": status}


def show(ctx: Context, material_id: str) -> dict[str, Any]:
    m = _material(ctx, material_id)
    m["on_hold"] = bool(m["on_hold"])
    m["consumed"] = materials_store.consumptions(ctx.store, m["id"])
    m["signatures"] = signatures_for(ctx.store, "material", m["id"])
    return m


def list_materials(ctx: Context, part: str | None, status: str | None) -> list[dict[str, Any]]:
    where: dict[str, Any] = {}
    if part:
        where["part"] = part
    if status:
        where["status"] = status
    rows = ctx.store.find("material_lots", where, order="id")
    for r in rows:
        r["on_hold"] = bool(r["on_hold"])
    moisture.annotate(ctx.store, rows)  # issue 18: remaining floor life
    return rows


def load_on_station(ctx: Context, station: str, material_id: str, slot: str,
                    replace: bool = False) -> dict[str, Any]:
    """Put a reel on a feeder/slot: steps at the station then consume from it (IPC-1782).

    An occupied slot is refused unless `replace`: the message names what is there."""
    actor = require(ctx, "step.record")
    if actor.sites is not None:  # at the stations of the user's sites only (issue 20)
        from mes.services.auth import check_site
        from mes.store.sites import station_site

        check_site(ctx, actor, "step.record", station_site(ctx.store, station))
    m = _material(ctx, material_id)
    if ctx.store.get("stations", station) is None:
        raise NotFound(f"station {station} is not registered")
    if m["status"] != "released" or m["on_hold"]:
        raise Refused(f"material {m['id']} is {m['status']}{' and on hold' if m['on_hold'] else ''}"
                      ": only released material can be loaded")
    if m["expiry"] and date.fromisoformat(m["expiry"]) < clock.now().date():
        raise Refused(f"material {m['id']} expired on {m['expiry']}: do not load it")
    now = clock.now_iso()
    with ctx.store.transaction() as tx:
        previous = materials_store.load_on_slot(tx, station, slot)
        if previous and previous["material_id"] == m["id"]:
            raise Refused(f"{m['id']} is already loaded on {station} slot {slot}")
        if previous and not replace:
            held = tx.get("material_lots", previous["material_id"]) or {}
            raise Refused(f"{station} slot {slot} holds {previous['material_id']} "
                          f"({held.get('part')}, {held.get('remaining', 0):g} left): loading "
                          f"{m['id']} would take it off: add --replace to do so")
        if previous:
            tx.update("station_loads", previous["id"], {"unloaded_at": now})
        tx.insert("station_loads", {"station_id": station, "slot": slot, "material_id": m["id"],
                                    "loaded_at": now, "loaded_by": actor.username})
        floor = moisture.at_load(tx, m, actor.username)  # issue 18: J-STD-033 floor life
        tx.append_audit(username=actor.username, station=station, action="station.load",
                        entity_type="station", entity_id=station,
                        old={"slot": slot, "material": previous["material_id"]}
                        if previous else None, new={"slot": slot, "material": m["id"]})
    return {"station": station, "slot": slot, "material": m["id"], "part": m["part"],
            "replaced": previous["material_id"] if previous else None, "floor_life": floor}


def loads(ctx: Context, station: str) -> list[dict[str, Any]]:
    return materials_store.loads_on(ctx.store, station)
