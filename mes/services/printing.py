"""Labels to real printers (issue 19): a CUPS/IPP queue (PDF, or ZPL to a raw queue) or a
Zebra on raw TCP 9100 (ZPL, host status checked first). The job's final state is recorded
with the file's labels; a label whose last job did not complete is "not printed", and the
labelling operation refuses to pass for it.

Printing happens after the labels are recorded (the write lock is never held while a
printer works); its outcome is a second record, audited.
"""

from __future__ import annotations

from typing import Any

from mes import clock
from mes.errors import InvalidInput, Refused
from mes.services.context import Context
from mes.store import printing as q
from mes.store.base import Store

FORMATS = {"pdf": "application/pdf", "zpl": "application/vnd.cups-raw"}


def printer_uri(ctx: Context, printer: str) -> str:
    from mes.services.workspace import config

    p = printer.strip()
    if "://" in p:
        return p
    if not p or "/" in p:
        raise InvalidInput(f"--printer {printer!r}: a CUPS queue name, ipp://host:port/"
                           "printers/QUEUE, or tcp://host:9100", field="printer")
    server = str(config(ctx).get("print.cups_server") or "localhost:631")
    return f"ipp://{server}/printers/{p}"


def preflight(ctx: Context, printer: str, fmt: str) -> None:
    """Before anything is recorded: the printer can take this format, and a Zebra is ready
    (its host status: paper, ribbon, head, pause)."""
    from mes.printers import zebra

    uri = printer_uri(ctx, printer)
    if uri.startswith(("tcp://", "zebra://", "socket://")):
        if fmt != "zpl":
            raise InvalidInput("a raw TCP printer takes ZPL: add --format zpl", field="format")
        status = zebra.host_status(uri)
        if status.problems:
            raise Refused(f"printer {uri} reports {', '.join(status.problems)}: fix it, then "
                          "print again (nothing was printed or recorded)")


def send(ctx: Context, username: str, rel_file: str, data: bytes, fmt: str, printer: str,
         labels: int) -> dict[str, Any]:
    """Send one label file; wait for its final state; record it. Returns the job record."""
    from mes.printers import ipp, zebra
    from mes.services.workspace import config

    uri = printer_uri(ctx, printer)
    timeout = float(config(ctx).get("print.timeout_s") or 60.0)
    sent_at = clock.now_iso()
    job_id: str | None = None
    if uri.startswith(("tcp://", "zebra://", "socket://")):
        if fmt != "zpl":
            raise InvalidInput("a raw TCP printer takes ZPL: add --format zpl", field="format")
        state, reasons = zebra.send(uri, data, timeout)
    else:
        job = ipp.print_job(uri, data, document_format=FORMATS[fmt], job_name=rel_file,
                            user=username)
        job_id = str(job.job_id)
        job = ipp.wait(job, timeout)
        state, reasons = job.state, job.reasons
    row = {"file": rel_file, "printer": uri, "job_id": job_id, "state": state,
           "reasons": ",".join(reasons), "labels": labels, "sent_at": sent_at,
           "finished_at": clock.now_iso(), "username": username}
    with ctx.store.transaction() as tx:
        row["id"] = q.record_job(tx, row)
        tx.append_audit(username=username, station=ctx.station, action="label.print_job",
                        entity_type="print_job", entity_id=str(row["id"]),
                        new={k: row[k] for k in ("file", "printer", "job_id", "state",
                                                 "reasons", "labels")})
    return row


def check_printed(store: Store, items: list[str]) -> None:
    """Refuse when an item's current label was sent to a printer and did not print."""
    labels = q.last_labels(store, items)
    for item in items:
        lab = labels.get(item)
        if lab is None:
            continue
        job = q.last_job(store, lab["file"])
        if job is not None and job["state"] != "completed":
            raise Refused(f"{item}: its label was not printed (job {job['job_id'] or '-'} on "
                          f"{job['printer']} {job['state']}): reprint it with `mes label "
                          "print --reprint --reason …`")


def reconciliation(ctx: Context, lot_id: str) -> dict[str, Any]:
    """Issued, printed, verified, reprinted (with reasons), voided: per lot."""
    from mes.services.lots import get_lot

    store = ctx.store
    lot = get_lot(store, lot_id.strip().upper())
    rows = q.lot_labels(store, lot["id"])
    verified = q.audited_verified(store, lot["id"])
    out = []
    for r in rows:
        printed = r["job_state"] == "completed" if r["job_state"] is not None else \
            r["file"] is not None  # hot folder: handed over once the file is in place
        out.append({"id": r["id"], "item": r["item_id"], "template": r["template"],
                    "element_string": r["element_string"], "printed_at": r["printed_at"],
                    "user": r["username"], "reprint": r["reprint"], "reason": r["reason"],
                    "printer": r["printer"], "job_id": r["job_id"],
                    "job_state": r["job_state"], "printed": bool(printed) and
                    not r["voided_at"], "verified": r["id"] in verified or
                    r["template"].startswith("logistic"),
                    "voided_at": r["voided_at"], "void_reason": r["void_reason"]})
    summary = {"issued": len(out), "printed": sum(1 for x in out if x["printed"]),
               "not_printed": sum(1 for x in out if not x["printed"] and not x["voided_at"]),
               "verified": sum(1 for x in out if x["verified"]),
               "reprinted": sum(1 for x in out if x["reprint"]),
               "voided": sum(1 for x in out if x["voided_at"])}
    return {"lot": lot["id"], "summary": summary, "labels": out,
            "reprint_reasons": sorted({x["reason"] for x in out if x["reprint"] and
                                       x["reason"]})}
