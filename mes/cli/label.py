"""mes label print|verify|templates|preview, and mes origin LOT.

reportlab, pypdfium2 and zxing-cpp are imported by the services only when a command needs
them: operator commands never pay for them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from mes.cli.common import context, emit_json, listing, note, progress, say, show

label_app = typer.Typer(help="Print, verify and preview UDI labels.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    from mes.cli.label_template import template_app

    label_app.add_typer(template_app, name="template")
    app.add_typer(label_app, name="label")
    app.command("origin")(origin)


@label_app.command("print")
def print_(
    tctx: typer.Context,
    targets: Annotated[list[str], typer.Argument(help="unit serials, or one lot id")],
    template: Annotated[str | None, typer.Option(
        help="template name (default udi-100x50; shipper-100x150 for a lot label)")] = None,
    out: Annotated[Path | None, typer.Option(
        help="hot folder (default: labels/ in the workspace); files go to <out>/<lot>/")]
    = None,
    format_: Annotated[str, typer.Option("--format", help="pdf | zpl")] = "pdf",
    no_origin_claim: Annotated[bool, typer.Option(
        "--no-origin-claim", help="print without any origin claim (when it is not earned)")]
    = False,
    no_verify: Annotated[bool, typer.Option(
        "--no-verify", help="skip decoding the written PDF (not recommended)")] = False,
    reprint: Annotated[bool, typer.Option(help="print again an already labelled item")]
    = False,
    reason: Annotated[str | None, typer.Option(help="why it is reprinted (with --reprint)")]
    = None,
    printer: Annotated[str | None, typer.Option(
        help="also send to this printer: a CUPS queue, ipp://host:port/printers/QUEUE, or "
        "tcp://host:9100 (ZPL); waits for the job's final state")] = None,
    first_article: Annotated[bool, typer.Option(
        "--first-article", help="print the first label only and write its PNG preview; the "
        "rest prints after `mes label approve-first JOB`")] = False,
    json_: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Print labels for units (or a lot label), verify the file, record every label."""
    from mes.services.labels import PrintRequest, print_labels

    req = PrintRequest(targets=targets, template=template, out_dir=out,
                       fmt=format_.lower(), origin_claim=not no_origin_claim,
                       verify=not no_verify, reprint=reprint, reason=reason,
                       printer=printer, first_article=first_article)
    with progress("labels") as on_progress:  # a batch of thousands takes minutes
        d = print_labels(context(tctx), req, on_progress)
    show(d, json_, _print_result)


def _print_result(d: dict[str, Any]) -> None:
    def human(d: dict[str, Any]) -> None:
        what = "REPRINT " if d["reprint"] else ""
        say(f"OK {what}{len(d['labels'])} label(s) {d['template']} v{d['template_version']} "
            f"-> {d['file']}")
        for r in d["labels"]:
            say(f"  {r['item']} {r['element_string']}"
                + (f" (reprint {r['reprint']})" if r["reprint"] else ""))
        if d["verified"]:
            say("  verified: every page decodes as ]d2 GS1 with the recorded element string")
        elif d["format"] == "pdf":
            note("warning: not verified (--no-verify)")
        if d["note"]:
            note(d["note"])
        o = d["origin"]
        if d["origin_claim"] and o:
            say(f"  origin claim printed (decision {o['decision']}: local {o['local_pct']:.2f} "
                f"% >= {o['threshold_pct']:g} %)")
        else:
            say("  no origin claim on these labels")
        fa = d.get("first_article")
        if fa:
            say(f"  FIRST ARTICLE job J{fa['id']}: 1 of {fa['items']} label(s) printed; look at "
                f"it and its preview {fa['preview']}, then `mes label approve-first {fa['id']}`"
                f" or `mes label reject-first {fa['id']} --reason …`")
    human(d)


@label_app.command("approve-first")
def approve_first(tctx: typer.Context, job: str,
                  json_: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Approve a job's first-article label (signed); the rest of the job prints."""
    from mes.services.first_article import approve

    d = approve(context(tctx), job)

    def human(d: dict[str, Any]) -> None:
        say(f"first article of job J{d['job']} approved (signed)")
        if d["printed"]:
            _print_result(d["printed"])
    show(d, json_, human)


@label_app.command("reject-first")
def reject_first(tctx: typer.Context, job: str,
                 reason: Annotated[str | None, typer.Option(help="what is wrong")] = None,
                 json_: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Reject a job's first-article label (signed): it is voided, nothing more prints."""
    from mes.services.first_article import reject

    d = reject(context(tctx), job, reason)
    show(d, json_, lambda d: say(f"first article of job J{d['job']} rejected (signed): its "
                                 "label is voided; fix the cause and print the job again"))


@label_app.command("jobs")
def jobs(tctx: typer.Context, lot: str,
         json_: Annotated[bool, typer.Option("--json")] = False,
         csv_: Annotated[bool, typer.Option("--csv")] = False) -> None:
    """First-article label jobs of a lot and their decisions."""
    from mes.services.first_article import jobs as list_jobs

    listing(list_jobs(context(tctx), lot), ["id", "template", "status", "items", "first_label",
                                            "preview", "created_by", "decided_by", "reason"],
            as_json=json_, as_csv=csv_, title=f"label jobs of {lot}")


@label_app.command("verify")
def verify(tctx: typer.Context, file: Path,
           json_: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Decode every page of a label PDF; exit 7 when a page fails or differs from the record."""
    from mes.errors import IntegrityFailure
    from mes.services.labels import verify_file

    d = verify_file(context(tctx), file)
    if json_:
        emit_json(d)
    else:
        say(f"{d['file']}: " + (f"{d['recorded_labels']} recorded label(s)" if d["known"]
                                else "not in the labels record: decoding only"))
        for p in d["pages"]:
            status = "OK  " if p["ok"] else "FAIL"
            sym = p["symbology_identifier"] or "-"
            gs1 = "GS1" if p["gs1"] else "not GS1"
            found = "found" if p["found"] else "NO SYMBOL"
            line = f"  page {p['page']}: {status} {found} {sym} {gs1} {p['udi_hri'] or '-'}"
            if p["expected"] is not None and p["expected"] != p["udi_hri"]:
                line += f" (recorded {p['expected']})"
            say(line)
    if d["file_problem"]:
        raise IntegrityFailure(f"{file}: {d['file_problem']}: it was changed after printing; "
                               "reprint it and investigate")
    if not d["ok"]:
        raise IntegrityFailure(f"{file}: label verification failed")


@label_app.command("templates")
def templates(tctx: typer.Context,
              json_: Annotated[bool, typer.Option("--json")] = False) -> None:
    """The label template files (packaged, and overrides in the workspace's labels/).

    What prints is the approved controlled version: `mes label template list`."""
    from mes.services.labels import templates as list_

    listing(list_(context(tctx)), ["name", "version", "kind", "stock", "dpi", "module_mm",
                                   "path"], as_json=json_, as_csv=False,
            title="label templates")


@label_app.command("preview")
def preview(tctx: typer.Context, name: str,
            out: Annotated[Path, typer.Option(help="PNG file to write")]) -> None:
    """Render a SPECIMEN label (obviously sample data) with a template, as PNG."""
    from mes.services.labels import preview as run

    d = run(context(tctx), name, out)
    say(f"OK {d['template']} v{d['version']} specimen -> {d['out']}")


def origin(tctx: typer.Context, lot: str,
           json_: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Decide the lot's origin (Made in Morocco): quality, signed; prints the worksheet.

    Labels claiming the origin pin the latest decision; a negative decision after such
    labels were printed opens an alert (`mes audit alerts`) and holds the lot."""
    from mes.services.origin import decide

    d = decide(context(tctx), lot.strip().upper())
    show(d, json_, _print_origin)


def _print_origin(d: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    verdict = "POSITIVE: the origin claim may be printed" if d["positive"] else \
        "NEGATIVE: no origin claim"
    say(f"lot {d['lot']} ({d['part']}): {verdict}")
    say(f"  {d['rule_name']} (version {d['rule_version']}), country {d['country']}")
    say(f"  basis: {d['basis']}")
    t = Table(title="value lines (per unit)", header_style="bold")
    for c in ("item", "kind", "part", "origin", "qty", "value", "local"):
        t.add_column(c, justify="right" if c in ("qty", "value", "local") else "left")
    for li in d["lines"]:
        t.add_row(li["item"], li["kind"], li["part"], li["origin"] or "?", f"{li['qty']:g}",
                  f"{li['value']:.2f}", f"{li['local']:.2f}")
    console.print(t)
    ops = Table(title="origin-conferring operations", header_style="bold")
    for col in ("part", "op", "name", "site_country", "performed"):
        ops.add_column(col)
    for r in d["conferring_ops"]:
        ops.add_row(r["part"], str(r["op"]), r["name"], r["site_country"] or "-",
                  "yes" if r["performed"] else "no")
    console.print(ops)
    say(f"  unit cost {d['unit_cost']:.2f}, local value {d['local_value']:.2f} = "
        f"{d['local_pct']:.2f} % (threshold {d['threshold_pct']:g} %)")
    for np_ in d.get("not_performed", []):
        say(f"  not performed yet (not counted): {np_['part']} op {np_['op']} {np_['name']}")
    for r in d["reasons"]:
        say(f"  reason: {r}")
    sig = d.get("signature")
    if sig:
        say(f"  decision {d['id']} signed by {sig['full_name']} ({sig['meaning']})")
    if d.get("contradiction"):
        c = d["contradiction"]
        say(f"  ALERT: {c['reason']}" + (" — lot put on hold" if c["held"] else ""))
    for n in d.get("notes", []):
        say(f"  note: {n}")


@label_app.command("list")
def list_(tctx: typer.Context, lot: str,
          json_: Annotated[bool, typer.Option("--json")] = False,
          csv_: Annotated[bool, typer.Option("--csv")] = False) -> None:
    """Label reconciliation of a lot: issued, printed, verified, reprinted, voided."""
    from mes.services.printing import reconciliation

    d = reconciliation(context(tctx), lot)
    if json_:
        emit_json(d)
        return
    listing(d["labels"], ["id", "item", "template", "reprint", "reason", "printer", "job_id",
                          "job_state", "printed", "verified", "voided_at", "void_reason"],
            as_json=False, as_csv=csv_, title=f"labels of {d['lot']}")
    if not csv_:
        s = d["summary"]
        note(f"issued {s['issued']}, printed {s['printed']}, not printed {s['not_printed']}, "
             f"verified {s['verified']}, reprinted {s['reprinted']}, voided {s['voided']}")
