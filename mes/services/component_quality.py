"""NCRs, concessions and holds of everything a lot or unit is made of (issue 11 item 8).

A device's history includes its subassemblies' history: a PCBA reworked or accepted
use-as-is is part of the device's record, so the DHR and `trace back` list them too.
"""

from __future__ import annotations

import json
from typing import Any

from mes.store import quality
from mes.store.base import Store


def component_quality(store: Store, details: dict[str, list[dict[str, Any]]],
                      skip_lot: str | None = None) -> dict[str, Any]:
    """The NCRs and hold events of the units, lots and material lots in `details` (from
    `genealogy.backward_details`), leaving out lot `skip_lot` and its units (the root,
    whose own NCRs the caller lists already)."""
    units = [u for u in details["units"] if u["lot_id"] != skip_lot]
    lots = [x for x in details["lots"] if x["id"] != skip_lot]
    materials = details["materials"]
    serials_of: dict[str, set[str]] = {}
    for u in units:
        serials_of.setdefault(u["lot_id"], set()).add(u["serial"])
    lot_ids = {x["id"] for x in lots} | set(serials_of)
    material_ids = {m["id"] for m in materials}
    whole_lots = {x["id"] for x in lots}  # consumed as lots: every NCR on them counts
    ncrs = []
    for n in quality.ncrs_on(store, sorted(lot_ids | material_ids)):
        listed = json.loads(n["units"] or "[]")
        ours = serials_of.get(n["lot_id"], set())
        if n["lot_id"] in whole_lots or n["lot_id"] in material_ids or not listed:
            in_scope = listed if listed else sorted(ours)
        else:
            in_scope = sorted(set(listed) & ours)
            if not in_scope:
                continue  # an NCR on other units of that lot: not in this genealogy
        ncrs.append({
            "id": n["id"], "item": n["lot_id"],
            "kind": "material" if n["lot_id"] in material_ids else "lot",
            "units": in_scope, "whole_lot": not listed,
            "description": n["description"], "status": n["status"], "action": n["action"],
            "concession": n["action"] == "use-as-is", "justification": n["justification"],
            "rework_op": n["rework_op"], "opened_at": n["opened_at"],
            "opened_by": n["opened_by"], "dispositioned_at": n["dispositioned_at"],
            "closed_at": n["closed_at"]})
    # a whole-lot hold on a component unit's lot held that unit too
    items = [u["serial"] for u in units] + sorted(lot_ids) + sorted(material_ids)
    holds = [{"item": e["entity_id"], "kind": e["entity_type"], "action": e["action"],
              "at": e["at"], "user": e["username"], "reason": e["reason"]}
             for e in quality.hold_events(store, items)]
    on_hold = ([{"item": u["serial"], "kind": "unit", "reason": u["hold_reason"]}
                for u in units if u["on_hold"]]
               + [{"item": x["id"], "kind": "lot", "reason": x["hold_reason"]}
                  for x in lots if x["on_hold"]]
               + [{"item": m["id"], "kind": "material", "reason": None}
                  for m in materials if m["on_hold"]])
    return {"ncrs": ncrs, "concessions": [n["id"] for n in ncrs if n["concession"]],
            "holds": holds, "on_hold": on_hold}
