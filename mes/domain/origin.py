"""The origin decision (DESIGN §8): may the label say "Made in Morocco"? Pure, stdlib only.

Input: the composition of one unit as recorded (materials consumed, subassemblies built in,
operations performed and the country of the site where each was done). Output: the worksheet
and the decision. Nothing here is typed by a person: the service builds the composition from
the genealogy and the step records.

Rules, per unit:
- value of a unit = Σ materials (qty × unit cost) + Σ conversion cost of its operations that
  were performed + Σ subassemblies (qty × their own value, recursively);
- local value = materials whose origin is the configured country + conversion of operations
  performed at a site in that country + the subassemblies' local value (rolled up);
- every origin-conferring operation of the routing and of every subassembly routing must
  have been performed at a site in the configured country. Labeling, packing and kitting
  never confer origin: they are ignored for this check even if flagged. A routing with no
  origin-conferring operation at all cannot support the claim.
- positive iff local_pct >= threshold_pct AND the conferring check passes AND every value
  is known (a material without a unit cost makes the worksheet incomplete: negative).
Operations not performed yet (e.g. packing after labeling) count neither in value nor in
local value; they are listed in the worksheet so the reader sees what was left out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mes.domain.model import NON_CONFERRING_ACTIVITIES


@dataclass(frozen=True)
class Rule:
    name: str
    version: str
    threshold_pct: float = 40.0
    country: str = "MA"


@dataclass(frozen=True)
class MaterialUse:
    item: str  # material lot id
    part: str
    qty: float  # per unit of the parent
    unit_cost: float | None
    origin: str | None


@dataclass(frozen=True)
class OpRecord:
    op: int
    name: str
    activity: str
    conversion_cost: float  # per unit
    origin_conferring: bool
    performed: bool
    site_country: str | None  # where it was performed (None when not performed)


@dataclass(frozen=True)
class Composition:
    item: str  # serial or lot id
    part: str
    ops: tuple[OpRecord, ...] = ()
    materials: tuple[MaterialUse, ...] = ()
    subassemblies: tuple[tuple[float, Composition], ...] = ()  # (qty per parent unit, sub)


@dataclass
class _Totals:
    unit_cost: float = 0.0
    local_value: float = 0.0
    lines: list[dict[str, Any]] = field(default_factory=list)
    conferring: list[dict[str, Any]] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    not_performed: list[dict[str, Any]] = field(default_factory=list)


def _r(x: float, n: int = 4) -> float:
    return round(x + 0.0, n)


def _roll(c: Composition, rule: Rule) -> _Totals:
    t = _Totals()
    for m in c.materials:
        if m.unit_cost is None:
            t.reasons.append(f"{c.part}: material {m.item} ({m.part}) has no unit cost: "
                             "the worksheet is incomplete")
            cost = 0.0
        else:
            cost = m.unit_cost
        value = m.qty * cost
        local = value if m.origin == rule.country else 0.0
        if m.origin is None:
            t.notes.append(f"{c.part}: material {m.item} ({m.part}) has no declared origin: "
                             "counted as non-local")
        t.unit_cost += value
        t.local_value += local
        t.lines.append({"item": m.item, "kind": "material", "part": m.part,
                        "origin": m.origin, "qty": _r(m.qty), "value": _r(value),
                        "local": _r(local)})
    conferring_ops = [o for o in c.ops if o.origin_conferring
                      and o.activity not in NON_CONFERRING_ACTIVITIES]
    if not conferring_ops:
        t.reasons.append(f"routing {c.part} has no origin-conferring operation (labeling, "
                         "packing or kitting alone never confer origin)")
    for o in c.ops:
        if not o.performed:
            t.not_performed.append({"part": c.part, "op": o.op, "name": o.name,
                                    "conversion_cost": _r(o.conversion_cost)})
            continue
        local = o.conversion_cost if o.site_country == rule.country else 0.0
        t.unit_cost += o.conversion_cost
        t.local_value += local
        t.lines.append({"item": f"{c.item} op {o.op} {o.name}", "kind": "conversion",
                        "part": c.part, "origin": o.site_country, "qty": 1.0,
                        "value": _r(o.conversion_cost), "local": _r(local)})
    for o in conferring_ops:
        ok = o.performed and o.site_country == rule.country
        t.conferring.append({"part": c.part, "item": c.item, "op": o.op, "name": o.name,
                             "site_country": o.site_country, "performed": o.performed})
        if not o.performed:
            t.reasons.append(f"{c.part} op {o.op} ({o.name}) confers origin but was not "
                             "performed")
        elif not ok:
            t.reasons.append(f"{c.part} op {o.op} ({o.name}) confers origin but was performed "
                             f"in {o.site_country or 'an unknown country'}, not {rule.country}")
    for qty, sub in c.subassemblies:
        s = _roll(sub, rule)
        value, local = qty * s.unit_cost, qty * s.local_value
        t.unit_cost += value
        t.local_value += local
        sub_origin = rule.country if s.unit_cost and not [
            r for r in s.conferring if not (r["performed"] and
                                            r["site_country"] == rule.country)
        ] and s.conferring else None
        t.lines.append({"item": sub.item, "kind": "subassembly", "part": sub.part,
                        "origin": sub_origin, "qty": _r(qty), "value": _r(value),
                        "local": _r(local),
                        "detail": {"unit_cost": _r(s.unit_cost),
                                   "local_value": _r(s.local_value), "lines": s.lines}})
        t.conferring += s.conferring
        t.reasons += s.reasons
        t.notes += s.notes
        t.not_performed += s.not_performed
    return t


def evaluate(c: Composition, rule: Rule) -> dict[str, Any]:
    """The worksheet and the decision for one unit."""
    t = _roll(c, rule)
    pct = 100.0 * t.local_value / t.unit_cost if t.unit_cost > 0 else 0.0
    reasons = list(t.reasons)
    if t.unit_cost <= 0:
        reasons.append("the unit cost is zero: nothing to compare the local value with")
    threshold_ok = t.unit_cost > 0 and pct + 1e-9 >= rule.threshold_pct
    if not threshold_ok and t.unit_cost > 0:
        reasons.append(f"local value {pct:.2f} % of unit cost is below the "
                       f"{rule.threshold_pct:g} % threshold")
    conferring_ok = bool(t.conferring) and all(
        r["performed"] and r["site_country"] == rule.country for r in t.conferring)
    incomplete = any("worksheet is incomplete" in r for r in t.reasons)
    no_conferring = any("no origin-conferring operation" in r for r in t.reasons)
    positive = threshold_ok and conferring_ok and not incomplete and not no_conferring
    return {
        "item": c.item, "part": c.part, "country": rule.country,
        "lines": t.lines, "conferring_ops": t.conferring, "not_performed": t.not_performed,
        "unit_cost": _r(t.unit_cost), "local_value": _r(t.local_value),
        "local_pct": round(pct, 2), "threshold_pct": rule.threshold_pct,
        "rule_name": rule.name, "rule_version": rule.version,
        "positive": positive, "reasons": reasons, "notes": t.notes,
    }


def worst(worksheets: list[dict[str, Any]]) -> dict[str, Any]:
    """The unit that decides for the lot: a negative one first, then the lowest local share."""
    if not worksheets:
        raise ValueError("no worksheet")
    return min(worksheets, key=lambda w: (w["positive"], w["local_pct"], w["item"]))
