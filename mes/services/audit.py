"""Reading and verifying the audit trail."""

from __future__ import annotations

import json
from typing import Any

from mes.domain.audit import verify_chain
from mes.errors import IntegrityFailure
from mes.services.context import Context


def log(ctx: Context, entity: str | None, limit: int | None) -> list[dict[str, Any]]:
    rows = ctx.store.audit_log(entity, limit)
    for r in rows:
        r["old"] = json.loads(r["old"]) if r["old"] else None
        r["new"] = json.loads(r["new"]) if r["new"] else None
    return rows


def verify(ctx: Context, anchor: str | None = None) -> dict[str, Any]:
    """Recompute the chain; with an anchor (a head printed on a DHR), check it is still there."""
    report = verify_chain(ctx.store.audit_rows())
    out = {"ok": report.ok, "events": report.events, "head_seq": report.head_seq,
           "head_hash": report.head_hash, "first_bad_seq": report.first_bad_seq,
           "problem": report.problem}
    if not report.ok:
        raise IntegrityFailure(f"audit chain broken at event {report.first_bad_seq}: "
                               f"{report.problem}; restore from a backup and investigate")
    if anchor:
        hit = ctx.store.audit_has(anchor.strip().lower())
        if hit is None:
            raise IntegrityFailure(f"anchor {anchor[:16]}… is not in the audit chain: the "
                                   "chain was rewritten after that record was printed")
        out["anchor_seq"] = hit["seq"]
    return out


def head(ctx: Context) -> dict[str, Any]:
    row = ctx.store.audit_head()
    return {"seq": row["seq"], "hash": row["hash"]} if row else {"seq": 0, "hash": "0" * 64}
