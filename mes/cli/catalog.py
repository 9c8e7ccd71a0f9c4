"""mes catalog list|diff|approve: catalog changes that need quality's signature (issue 12)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from mes.cli.common import context, listing, say, show

catalog_app = typer.Typer(
    help="Catalog versions. `mes routing load` of a catalog file puts a change of name, "
         "kind, REF, GTIN, serialisation, shelf life, cost, origin, incoming inspection or "
         "MSL in a draft; the values in force (labels, origin, receiving) stay until quality "
         "approves it, signed. Other fields, and a part's first load, are in force at once.",
    no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(catalog_app, name="catalog")


@catalog_app.command("list")
def list_(tctx: typer.Context,
          part: Annotated[str | None, typer.Argument(help="only this part's versions")] = None,
          drafts: Annotated[bool, typer.Option("--drafts",
                                               help="only drafts waiting for quality")] = False,
          json_: Annotated[bool, typer.Option("--json")] = False,
          csv_: Annotated[bool, typer.Option("--csv")] = False) -> None:
    """List catalog versions: status (draft, in-force, superseded, withdrawn), what each
    changed, who loaded and who approved it."""
    from mes.services.catalog import list_versions

    listing(list_versions(context(tctx), drafts=drafts, part=part),
            ["part", "version", "status", "changed", "loaded_by", "approved_by", "approved_at"],
            as_json=json_, as_csv=csv_)


@catalog_app.command("diff")
def diff(tctx: typer.Context, part: str,
         version: Annotated[int | None, typer.Option(
             help="this version (default: the draft waiting)")] = None,
         json_: Annotated[bool, typer.Option("--json")] = False) -> None:
    """What a version changes against the values in force, field by field."""
    from mes.services.catalog import diff as do_diff

    show(do_diff(context(tctx), part, version), json_, _print_diff)


def _print_diff(d: dict[str, Any]) -> None:
    say(f"part {d['part']} v{d['version']} [{d['status']}] loaded by {d['loaded_by']} "
        f"at {d['loaded_at'][:19]}Z")
    for c in d["changes"]:
        mark = " (needs quality's signature)" if c["needs_signature"] else ""
        say(f"  {c['field']}: {_value(c['old'])} -> {_value(c['new'])}{mark}")
    if not d["changes"]:
        say("  no differences from the values in force")
    for s in d["signatures"]:
        say(f"  signed: {s['full_name']} — {s['meaning']} — {s['local_time']}")


def _value(v: Any) -> str:
    return "(none)" if v is None else str(v)


@catalog_app.command("approve")
def approve(tctx: typer.Context,
            parts: Annotated[list[str], typer.Argument(
                help="PART with --version N, or PART@N for each of several drafts")],
            version: Annotated[int | None, typer.Option(
                help="the draft version (with one PART)")] = None) -> None:
    """Put catalog drafts in force (quality; electronic signature, password asked once).

    The approver may not be who loaded the change (segregation of duties)."""
    from mes.services.catalog import approve as do_approve

    for r in do_approve(context(tctx), parts, version):
        sig = r["signature"]
        say(f"part {r['part']} v{r['version']} in force, signed by {sig['full_name']} "
            f"({sig['meaning']})")
