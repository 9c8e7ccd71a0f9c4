"""First-article check of a label print job (issue 17; ISO 13485 7.5.1, 21 CFR 820.120(b)).

`mes label print LOT --first-article` prints and records the first label only, renders its
PNG preview next to the file and records a label job awaiting approval. A person looks at
the printed label and the preview, then signs `mes label approve-first JOB` (the rest of
the job prints, with the same approved template) or `mes label reject-first JOB --reason`
(the first label is voided, the items can be printed again). While a job awaits, its items
cannot be printed by another job.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mes import clock
from mes.errors import InvalidInput, NotFound, Refused
from mes.services.auth import prepare_signature, sign
from mes.services.context import Context
from mes.store import label_templates as q
from mes.store.base import Store

if TYPE_CHECKING:
    from mes.render.label_templates import Template
    from mes.services.labels import PrintRequest


def check_not_awaiting(store: Store, lot_id: str, items: list[str],
                       finishing: dict[str, Any] | None) -> None:
    for job in q.jobs_of_lot(store, lot_id):
        if job["status"] != "awaiting" or (finishing and job["id"] == finishing["id"]):
            continue
        waiting = set(q.job(store, job["id"])["items"]) & set(items)  # type: ignore[index]
        if waiting:
            raise Refused(f"{sorted(waiting)[0]} is in first-article job J{job['id']}, awaiting "
                          f"approval: `mes label approve-first {job['id']}` or `mes label "
                          f"reject-first {job['id']} --reason …`")


def preview(pdf: bytes, dpi: int) -> bytes:
    from mes.render.label_verify import preview_png

    return preview_png(pdf, 0, dpi)




def record_job(tx: Store, ctx: Context, username: str, lot_id: str, template: Template,
               template_sha256: str, items: list[str], req: PrintRequest, first_label: int,
               preview_rel: str, png: bytes) -> dict[str, Any]:
    digest = hashlib.sha256(png).hexdigest()
    request = {"template": template.name, "origin_claim": req.origin_claim,
               "verify": req.verify, "printer": req.printer, "reprint": req.reprint,
               "reason": req.reason,
               "out_dir": str(req.out_dir) if req.out_dir else None}
    row = {"lot_id": lot_id, "template": template.name, "template_version": template.version,
           "template_sha256": template_sha256, "items": items, "request": request,
           "status": "awaiting", "first_label": first_label, "preview": preview_rel,
           "preview_sha256": digest, "created_by": username, "created_at": clock.now_iso()}
    job_id = q.add_job(tx, row)
    tx.append_audit(username=username, station=ctx.station, action="label.first_article",
                    entity_type="label_job", entity_id=str(job_id),
                    new={"lot": lot_id, "template": template.name,
                         "template_sha256": template_sha256, "items": len(items),
                         "first_label": first_label, "status": "awaiting",
                         "files": [{"path": preview_rel, "sha256": digest}]})
    return {"id": job_id, "status": "awaiting", "preview": preview_rel,
            "items": len(items), "remaining": len(items) - 1}


def _job(ctx: Context, job_id: str) -> dict[str, Any]:
    text = job_id.strip().upper().removeprefix("J")
    if not text.isdigit():
        raise InvalidInput(f"label job {job_id!r}: a job number (e.g. 12 or J12)", field="job")
    row = q.job(ctx.store, int(text))
    if row is None:
        raise NotFound(f"no label job {job_id}: see `mes label jobs LOT`")
    return row


def approve(ctx: Context, job_id: str) -> dict[str, Any]:
    """Signed 'approved' over the job and its preview's sha256; then the rest prints."""
    from mes.services.labels import PrintRequest, print_labels

    signer = prepare_signature(ctx, "label.first_article", "approved")
    job = _job(ctx, job_id)
    if job["status"] != "awaiting":
        raise Refused(f"label job J{job['id']} is {job['status']}, not awaiting approval")
    rest = job["items"][1:]
    r = job["request"]
    result: dict[str, Any] | None = None
    if rest:
        req = PrintRequest(targets=rest, template=r["template"],
                           out_dir=Path(r["out_dir"]) if r["out_dir"] else None,
                           origin_claim=r["origin_claim"], verify=r["verify"],
                           printer=r["printer"], reprint=bool(r.get("reprint")),
                           reason=r.get("reason"), job=job)
        result = print_labels(ctx, req)
    _decide(ctx, signer, job, "approved", None)
    return {"job": job["id"], "status": "approved", "lot": job["lot_id"],
            "printed": result, "remaining": 0}


def reject(ctx: Context, job_id: str, reason: str | None) -> dict[str, Any]:
    if not (reason or "").strip():
        raise InvalidInput("reject-first needs --reason (what is wrong with the label)",
                           field="reason")
    signer = prepare_signature(ctx, "label.first_article", "rejected")
    job = _job(ctx, job_id)
    if job["status"] != "awaiting":
        raise Refused(f"label job J{job['id']} is {job['status']}, not awaiting approval")
    _decide(ctx, signer, job, "rejected", reason)
    return {"job": job["id"], "status": "rejected", "lot": job["lot_id"], "reason": reason}


def _decide(ctx: Context, signer: Any, job: dict[str, Any], status: str,
            reason: str | None) -> None:
    at = clock.now_iso()
    record = {"job": job["id"], "lot": job["lot_id"], "template_sha256": job["template_sha256"],
              "first_label": job["first_label"], "preview_sha256": job["preview_sha256"],
              "decision": status}
    with ctx.store.transaction() as tx:
        signature = sign(tx, signer, "label_job", str(job["id"]), record)
        if not q.decide_job(tx, job["id"], {"status": status, "decided_by":
                                            signer.actor.username, "decided_at": at,
                                            "reason": reason, "signature_id": signature["id"]}):
            raise Refused(f"label job J{job['id']} was decided meanwhile")
        if status == "rejected":
            tx.update("labels", job["first_label"], {"voided_at": at,
                                                     "void_reason": f"first article rejected: "
                                                                    f"{reason}"})
        tx.append_audit(username=signer.actor.username, station=ctx.station,
                        action=f"label.first_article_{status}", entity_type="label_job",
                        entity_id=str(job["id"]), old={"status": "awaiting"},
                        new={"status": status, "signature": signature["id"]}, reason=reason)


def jobs(ctx: Context, lot_id: str) -> list[dict[str, Any]]:
    from mes.services.lots import get_lot

    lot = get_lot(ctx.store, lot_id.strip().upper())
    out = []
    for row in q.jobs_of_lot(ctx.store, lot["id"]):
        full = q.job(ctx.store, row["id"]) or row
        out.append({"id": full["id"], "template": f"{full['template']} "
                    f"v{full['template_version']}", "status": full["status"],
                    "items": len(full["items"]), "first_label": full["first_label"],
                    "preview": full["preview"], "created_by": full["created_by"],
                    "decided_by": full["decided_by"], "reason": full["reason"]})
    return out
