"""Moving `edges` into `genealogy` in place (issue 15), inside the migration's transaction.

The rows the migration rewrites are `items` (a new `key` column) and every edge (now a
`genealogy` row keyed by item keys). Their images in the audit chain would no longer match,
so the migration records one `genealogy.migrate` event carrying new images — but only for
rows that matched their latest image just before: a row edited behind the chain before
the upgrade is still named by `audit verify --reconcile` after it (its genealogy row has no
image), the migration does not launder it. The old `edges` rows get empty images (removed
by this event), so the table's absence is not reported as dropped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from mes.domain.audit import canonical_json, row_digest
from mes.store.base import Store
from mes.store.schema import ROW_IMAGES_SINCE


@dataclass
class Before:
    items_ok: set[Any] = field(default_factory=set)
    edges_ok: set[Any] = field(default_factory=set)
    edges_imaged: list[Any] = field(default_factory=list)


def before(store: Store, current: int) -> Before | None:
    """What matched its image before the migration (None: no row images yet, the baseline
    that follows the migration images everything)."""
    if current < ROW_IMAGES_SINCE:
        return None
    latest: dict[tuple[str, str], str | None] = {}
    for e in store.audit_rows():
        for table, key, digest in json.loads(e.get("row_images") or "[]"):
            if table in ("items", "edges"):
                latest[(table, canonical_json(key))] = digest
    out = Before(edges_imaged=[json.loads(ref) for t, ref in latest if t == "edges"])
    for table, ok in (("items", out.items_ok), ("edges", out.edges_ok)):
        if not any(t == table for t, _ in latest):
            continue  # never imaged (a bulk-loaded plant): nothing to hash
        for r in store.iter_rows(table):
            digest = latest.get((table, canonical_json(r["id"])))
            if digest is not None and digest == row_digest(r):
                ok.add(r["id"])
    return out


def after(store: Store, state: Before | None) -> None:
    """Re-image what matched, and record the migration as an event."""
    if state is None:
        return
    for (item_id,) in store.tuples("SELECT id FROM items"):
        if item_id in state.items_ok:
            store.touch("items", (item_id,))
    n_edges = 0
    for parent, child, n in store.tuples("SELECT parent, child, n FROM genealogy"):
        n_edges += 1
        if n in state.edges_ok:
            store.touch("genealogy", (parent, child, n))
    store._gone += [["edges", key, None] for key in state.edges_imaged]
    store.append_audit(
        username=None, station=None, action="genealogy.migrate", entity_type="table",
        entity_id="genealogy",
        new={"edges": n_edges, "edges_reimaged": len(state.edges_ok),
             "items_reimaged": len(state.items_ok)},
        reason="issue 15: edges moved to genealogy (integer item keys, step fields read "
               "from the step); rows that matched their images re-imaged")
