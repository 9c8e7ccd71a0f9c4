"""Training records on work instruction revisions (issue 18, part 4), and the check at the op.

`mes training record USER DOC --revision R` is signed (meaning `trained`) by quality or a
technician acting as trainer; one may not record one's own training. A training on a draft
counts once that draft is approved (people are trained before a revision takes effect); a
superseded revision can no longer be trained on.

At the op (inside the step's write transaction, like every interlock): the operator needs a
training on the revision in force for the op; one on an earlier revision still counts for
`training.grace_days` (a plant setting, default 0) after the new revision was approved.
"""

from __future__ import annotations

from typing import Any

from mes import clock
from mes.domain import interlocks
from mes.domain.ids import normalise_scan
from mes.errors import NotFound, Refused
from mes.services import instructions
from mes.services.auth import deny, prepare_signature, sign
from mes.services.context import Context
from mes.services.settings import setting
from mes.store import instructions as records
from mes.store.base import Store

GRACE_SETTING = "training.grace_days"


def record(ctx: Context, username: str, doc: str, revision: str) -> dict[str, Any]:
    doc, rev = normalise_scan(doc), instructions.check_revision(revision)
    signer = prepare_signature(ctx, "training.record", "trained")
    store = ctx.store
    username = username.strip().lower()
    user = store.get("users", username)
    if user is None:
        raise NotFound(f"no user {username}: see `mes user list`")
    if username == signer.actor.username:
        deny(ctx, signer.actor, "training.record", f"{username} recording own training",
             f"{username} may not record their own training: ask another trainer or quality")
    if not user["active"]:
        raise Refused(f"user {username} is deactivated: nothing to train")
    row = instructions.get_revision(store, doc, rev)
    if row["status"] == "superseded":
        current = instructions.current(store, doc)
        now_rev = current["revision"] if current else "?"
        raise Refused(f"{doc} rev {rev} is superseded by rev {now_rev}: train on rev "
                      f"{now_rev}")
    if rev in instructions.trained_revisions(store, username, doc):
        raise Refused(f"{username} is already trained on {doc} rev {rev}: nothing to record")
    instructions.verify_file(ctx, row)  # trained on the document as approved
    entry = {"username": username, "doc_id": doc, "revision": rev,
             "trained_at": clock.now_iso(), "trained_by": signer.actor.username}
    with store.transaction() as tx:
        tid = tx.insert("trainings", entry, returning="id")
        tx.append_audit(username=signer.actor.username, station=ctx.station,
                        action="training.record", entity_type="user", entity_id=username,
                        new={"training": tid, **entry, "sha256": row["sha256"]})
        sig = sign(tx, signer, "training", str(tid), {"id": tid, **entry,
                                                      "sha256": row["sha256"]})
        tx.update("trainings", tid, {"signature_id": sig["id"]})
    return {"id": tid, **entry, "status": row["status"],
            "signed_by": signer.actor.full_name}


def list_trainings(ctx: Context, doc: str) -> list[dict[str, Any]]:
    """Who was trained on which revision of a document, by whom, and whether that training
    is current (on the revision in force)."""
    doc = normalise_scan(doc)
    store = ctx.store
    revs = {r["revision"]: r for r in records.revisions(store, doc)}
    if not revs:
        raise NotFound(f"no work instruction {doc}: see `mes wi list`")
    names = records.user_names(store)
    return [{"user": t["username"], "name": t["full_name"], "revision": t["revision"],
             "revision_status": revs[t["revision"]]["status"] if t["revision"] in revs
             else None, "trained_at": t["trained_at"], "trained_by": t["trained_by"],
             "trainer": names.get(t["trained_by"], t["trained_by"])}
            for t in records.trainings_on(store, doc)]


def check_at_op(tx: Store, username: str, part: str, op: Any) -> dict[str, Any] | None:
    """Step interlock: the instruction in force for the op and the operator's training on
    it. Returns {doc, revision, note} to record on the step (None: the op has none)."""
    wi = instructions.in_force(tx, part, op.op)
    if wi is None:
        return None
    grace = float(setting(tx, GRACE_SETTING, 0.0))
    note = interlocks.check_trained(username, wi, instructions.trained_revisions(
        tx, username, wi.doc), op, clock.now(), grace)
    return {"doc": wi.doc, "revision": wi.revision, "note": note}
