"""Origin decisions (DESIGN §8): build each unit's composition from the records, decide, store.

Per unit, from the genealogy: edges from the unit (or lot) to material lots (qty per unit,
the material lot's own unit cost and origin, else the catalog's), to subassembly units
(recursed) and to subassembly lots (recursed; a non-serialized lot's edges are per lot, so
they are divided by its good quantity). Conversion costs are the routing's per-unit
`conversion_cost` of every operation that has passed, at the country of the site of the
station where it passed.

A serialized lot is decided unit by unit and the lot takes the WORST unit (a negative one,
else the lowest local share): the claim is printed on every unit, so every unit must carry
it. The stored worksheet is that unit's, with the number of units evaluated.
"""

from __future__ import annotations

import json
from typing import Any

from mes import clock
from mes.domain.origin import Composition, MaterialUse, OpRecord, Rule, evaluate, worst
from mes.errors import NotFound, Refused
from mes.services.context import Context
from mes.services.routings import get_part, routing_version
from mes.services.steps import passed_ops
from mes.store import genealogy
from mes.store import origin as origin_store
from mes.store import steps as steps_store
from mes.store.base import Store

_MAX_DEPTH = 8


def rule_from_config(cfg: dict[str, Any]) -> Rule:
    return Rule(name=str(cfg.get("origin.rule_name", "origin rule")),
                version=str(cfg.get("origin.rule_version", "1")),
                threshold_pct=float(cfg.get("origin.threshold_pct", 40.0)),
                country=str(cfg.get("origin.country", "MA")))


class _Builder:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._lots: dict[str, Composition] = {}
        self._country: dict[str, str | None] = {}

    def site_country(self, site_id: str | None) -> str | None:
        """The country of the site a step recorded (issue 20: each step's real site)."""
        if site_id not in self._country:
            row = self.store.get("sites", site_id) if site_id else None
            self._country[site_id or ""] = row["country"] if row else None
        return self._country[site_id or ""]

    def _ops(self, lot: dict[str, Any], unit: dict[str, Any] | None) -> tuple[OpRecord, ...]:
        routing = routing_version(self.store, lot["part"], lot["routing_version"])
        passed = passed_ops(self.store, lot, unit)
        if unit is not None:
            rows = steps_store.passed_sites_of_unit(self.store, unit["serial"])
        else:
            rows = steps_store.passed_sites_of_lot(self.store, lot["id"])
        where = {r["op"]: r["site_id"] for r in rows}  # the site of the last pass of each op
        out = []
        for o in routing.operations:
            done = o.op in passed and o.op in where
            out.append(OpRecord(
                op=o.op, name=o.name, activity=o.activity, conversion_cost=o.conversion_cost,
                origin_conferring=o.origin_conferring, performed=done,
                site_country=self.site_country(where[o.op]) if done else None))
        return tuple(out)

    def _children(self, parent: str, divisor: float, depth: int
                  ) -> tuple[tuple[MaterialUse, ...], tuple[tuple[float, Composition], ...]]:
        mats: list[MaterialUse] = []
        subs: list[tuple[float, Composition]] = []
        edges = genealogy.children_with_kind(self.store, parent)
        for e in edges:
            qty = float(e["qty"]) / divisor
            if e["kind"] == "material":
                m = self.store.get("material_lots", e["child"]) or {}
                part = get_part(self.store, m["part"])
                cost = m.get("unit_cost")
                mats.append(MaterialUse(
                    item=e["child"], part=m["part"], qty=qty,
                    unit_cost=float(cost) if cost is not None else part.unit_cost,
                    origin=m.get("origin") or part.origin))
            elif e["kind"] in ("unit", "lot"):
                subs.append((qty, self.compose(e["child"], depth + 1)))
            # firmware images: no cost of their own, they are conversion of the flash op
        return tuple(mats), tuple(subs)

    def compose(self, item_id: str, depth: int = 0) -> Composition:
        if depth > _MAX_DEPTH:
            raise NotFound(f"genealogy of {item_id} is deeper than {_MAX_DEPTH} levels")
        unit = self.store.get("units", item_id)
        if unit is not None:
            ulot = self.store.get("lots", unit["lot_id"]) or {}
            mats, subs = self._children(item_id, 1.0, depth)
            return Composition(item_id, ulot["part"], self._ops(ulot, unit), mats, subs)
        if item_id in self._lots:
            return self._lots[item_id]
        lot = self.store.get("lots", item_id)
        if lot is None:
            raise NotFound(f"{item_id} is not a lot or a unit")
        good = max(float(lot["qty"] - lot["qty_scrapped"]), 1.0)
        mats, subs = self._children(item_id, good, depth)
        comp = Composition(item_id, lot["part"], self._ops(lot, None), mats, subs)
        self._lots[item_id] = comp
        return comp


def compute(store: Store, lot_id: str, rule: Rule) -> dict[str, Any]:
    """The worksheet of a lot (its worst unit when serialized); does not store anything."""
    lot = store.get("lots", lot_id)
    if lot is None:
        raise NotFound(f"no lot {lot_id}: see `mes lot list`")
    b = _Builder(store)
    if lot["serialized"]:
        units = [u["serial"] for u in store.find("units", {"lot_id": lot_id}, order="serial")
                 if u["status"] != "scrapped"]
        if not units:
            raise NotFound(f"lot {lot_id} has no unit left to decide for")
        sheets = [evaluate(b.compose(s), rule) for s in units]
        ws = worst(sheets)
        ws["basis"] = (f"worst of {len(sheets)} unit(s) of lot {lot_id}: {ws['item']}"
                       if len(sheets) > 1 else f"unit {ws['item']} of lot {lot_id}")
        ws["units_evaluated"] = len(sheets)
        ws["units_negative"] = sum(1 for s in sheets if not s["positive"])
    else:
        ws = evaluate(b.compose(lot_id), rule)
        ws["basis"] = f"one unit of lot {lot_id} (lot quantities divided by the good quantity)"
        ws["units_evaluated"] = 1
        ws["units_negative"] = 0 if ws["positive"] else 1
    ws["lot"] = lot_id
    return ws


def decide(ctx: Context, lot_id: str) -> dict[str, Any]:
    """Quality decides, signed: compute, store (origin_decisions + audit + signature, one
    transaction) and return the worksheet.

    A negative decision after labels claimed the origin (on the decision they pinned)
    contradicts a printed, maybe shipped, claim: the same transaction opens an alert (an
    `origin.contradiction` event, listed by `mes audit alerts`) and holds the lot's
    unshipped stock for quality.
    """
    from mes.services.auth import prepare_signature, sign
    from mes.services.workspace import config

    signer = prepare_signature(ctx, "origin.decide", "decided", lot_id)
    actor = signer.actor
    cfg = config(ctx)
    rule = rule_from_config(cfg)
    ws = compute(ctx.store, lot_id, rule)
    claim = " / ".join(str(cfg.get(f"origin.claim.{k}", "")) for k in ("en", "fr", "ar"))
    ws["claim"] = claim if ws["positive"] else None
    now = clock.now_iso()
    with ctx.store.transaction() as tx:
        row_id = tx.insert("origin_decisions", {
            "lot_id": lot_id, "decided_at": now, "positive": ws["positive"],
            "rule_name": rule.name, "rule_version": rule.version,
            "threshold_pct": rule.threshold_pct, "local_pct": ws["local_pct"],
            "worksheet": ws}, returning="id")
        tx.append_audit(username=actor.username, station=ctx.station, action="origin.decide",
                        entity_type="lot", entity_id=lot_id,
                        new={"decision": row_id, "positive": ws["positive"],
                             "local_pct": ws["local_pct"], "rule": rule.name,
                             "rule_version": rule.version, "reasons": ws["reasons"]})
        signature = sign(tx, signer, "origin_decision", str(row_id),
                         {"decision": row_id, "lot": lot_id, "positive": ws["positive"],
                          "local_pct": ws["local_pct"], "rule": rule.name,
                          "rule_version": rule.version})
        ws["contradiction"] = (None if ws["positive"] else
                               _contradiction(tx, actor.username, ctx.station, lot_id, row_id))
    ws["id"] = row_id
    ws["decided_at"] = now
    ws["signature"] = signature
    return ws


def _contradiction(tx: Store, who: str, station: str | None, lot_id: str, decision: int
                   ) -> dict[str, Any] | None:
    """A negative decision against claims already printed: alert, and hold what is left."""
    from mes.services.alerts import ORIGIN_CONTRADICTION

    claimed = [r for r in tx.find("labels", {"lot_id": lot_id}, order="id")
               if r.get("origin_decision") is not None]
    if not claimed:
        return None
    lot = tx.get("lots", lot_id) or {}
    pinned = sorted({int(r["origin_decision"]) for r in claimed})
    reason = (f"origin decision {decision} is negative but {len(claimed)} printed label(s) of "
              f"lot {lot_id} claim the origin (decision {', '.join(map(str, pinned))}); "
              f"{lot.get('qty_shipped', 0)} shipped: quality review")
    held = lot.get("status") != "shipped" and not lot.get("on_hold")
    tx.append_audit(username=who, station=station, action=ORIGIN_CONTRADICTION,
                    entity_type="lot", entity_id=lot_id,
                    new={"decision": decision, "pinned": pinned, "labels": len(claimed),
                         "qty_shipped": lot.get("qty_shipped", 0), "held": held},
                    reason=reason)
    if held:
        tx.update("lots", lot_id, {"on_hold": True, "hold_reason": reason})
        tx.append_audit(username=who, station=station, action="lot.hold", entity_type="lot",
                        entity_id=lot_id, old={"on_hold": False},
                        new={"on_hold": True, "hold_reason": reason}, reason=reason)
    return {"labels": len(claimed), "pinned": pinned, "held": held, "reason": reason}


def decision_for_label(store: Store, lot_id: str, cfg: dict[str, Any]) -> dict[str, Any]:
    """The decision a label claiming the origin relies on: quality's latest, positive, and
    still what the records say now under the configured rule (else quality decides again)."""
    decision = latest(store, lot_id)
    if decision is None:
        raise Refused(f"lot {lot_id} has no origin decision: quality decides it (`mes origin "
                      f"{lot_id}`, signed), or print with --no-origin-claim")
    if not decision["positive"]:
        why = "; ".join(decision["worksheet"].get("reasons") or []) or "negative"
        raise Refused(f"origin decision {decision['id']} for lot {lot_id} is negative ({why}): "
                      "the label may not claim Morocco; print with --no-origin-claim to print "
                      "it without any origin claim")
    rule = rule_from_config(cfg)
    now = compute(store, lot_id, rule)
    if not now["positive"] or rule.version != decision["rule_version"] \
            or rule.threshold_pct != decision["threshold_pct"]:
        raise Refused(f"origin decision {decision['id']} for lot {lot_id} no longer matches the "
                      "records or the rule: ask quality to decide again (`mes origin "
                      f"{lot_id}`), or print with --no-origin-claim")
    return decision


def pinned_or_latest(store: Store, lot_id: str) -> list[dict[str, Any]]:
    """The decisions the lot's labels relied on (pinned at print), oldest first; with no
    claim printed yet, the latest decision (marked as not on a label)."""
    ids = sorted({int(r["origin_decision"]) for r in store.find("labels", {"lot_id": lot_id})
                  if r.get("origin_decision") is not None})
    if ids:
        return [dict(_view(store, row), pinned=True) for i in ids
                if (row := store.get("origin_decisions", i)) is not None]
    last = latest(store, lot_id)
    return [dict(last, pinned=False)] if last else []


def latest(store: Store, lot_id: str) -> dict[str, Any] | None:
    row = origin_store.latest(store, lot_id)
    return _view(store, row) if row else None


def _view(store: Store, row: dict[str, Any]) -> dict[str, Any]:
    from mes.services.auth import signatures_for

    ws = json.loads(row["worksheet"])
    return {"id": row["id"], "lot": row["lot_id"], "decided_at": row["decided_at"],
            "positive": bool(row["positive"]), "rule_name": row["rule_name"],
            "rule_version": row["rule_version"], "threshold_pct": row["threshold_pct"],
            "local_pct": row["local_pct"], "claim": ws.get("claim"), "worksheet": ws,
            "signatures": signatures_for(store, "origin_decision", str(row["id"]))}
