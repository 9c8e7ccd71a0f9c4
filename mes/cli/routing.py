"""mes routing validate|load|approve|show|list|diff, mes part list."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mes.cli.common import context, emit_json, listing, say, show
from mes.domain.words import limits, plural

routing_app = typer.Typer(help="Parts catalog and routings (YAML, versioned, approved).",
                          no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(routing_app, name="routing")


@routing_app.command("validate")
def validate(tctx: typer.Context, files: list[Path],
             json_: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Check YAML files as `routing load` would: every problem, with file, line and field.

    Checked against this workspace's catalog and stations when it has a database."""
    from mes.errors import ValidationFailed
    from mes.services.routings import validate_files

    try:
        out = validate_files(context(tctx), files)
    except ValidationFailed as exc:
        for p in exc.problems:
            typer.echo(str(p), err=True)
        raise
    def human(rows: list[dict]) -> None:
        for r in rows:
            say(f"ok {r['file']}: {r['kind']}"
                + (f" {r['routing']} ({plural(r['operations'], 'operation')})"
                   if r["routing"] else f" ({plural(r['parts'], 'part')})"))

    show(out, json_, human)


@routing_app.command("load")
def load(tctx: typer.Context, files: list[Path]) -> None:
    """Load catalog and routing files; each changed routing becomes a new draft version."""
    from mes.errors import ValidationFailed
    from mes.services.routings import load_files

    try:
        results = load_files(context(tctx), files)
    except ValidationFailed as exc:
        for p in exc.problems:
            typer.echo(str(p), err=True)
        raise
    for r in results:
        if "version" in r:
            say(f"routing {r['part']} v{r['version']}: {r['action']}")
        else:
            say(f"part {r['part']}: {r['action']}")


@routing_app.command("approve")
def approve(tctx: typer.Context, part: str,
            version: Annotated[int, typer.Option(help="the draft version to approve")]) -> None:
    """Approve a draft version (quality; electronic signature)."""
    from mes.services.routings import approve as do_approve

    out = do_approve(context(tctx), part, version)
    sig = out["signature"]
    say(f"routing {part} v{version} approved, signed by {sig['full_name']} ({sig['meaning']})")


@routing_app.command("show")
def show_(tctx: typer.Context, part: str,
          version: Annotated[int | None, typer.Option()] = None,
          json_: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Show a routing (the approved version unless --version)."""
    from mes.services.routings import show as get

    data = get(context(tctx), part, version)
    show(data, json_, _print_routing)


def _print_routing(d: dict) -> None:
    say(f"{d['part']} v{d['version']} [{d['status']}] {d['description']}")
    say(f"  file {d['source_file']} sha256 {d['sha256'][:16]}… loaded {d['loaded_at'][:19]}Z "
        f"by {d['loaded_by']}")
    for s in d["signatures"]:
        say(f"  signed: {s['full_name']} — {s['meaning']} — {s['local_time']}")
    for o in d["operations"]:
        flags = [k for k in ("optional", "serialize", "label", "origin_conferring") if o.get(k)]
        if o.get("flash"):
            flags.append(f"flash {o['flash']['part']} {','.join(o['flash']['versions'])}")
        say(f"  op {o['op']:>3} {o['name']} @ {o['station_type']} ({o['activity']})"
            + (f" [{', '.join(flags)}]" if flags else ""))
        for b in o.get("consumes", ()):
            say(f"        consumes {b['qty']:g} × {b['part']}"
                + (" by serial" if b.get("by_serial") else ""))
        for s in o.get("data", ()):
            unit = f", {s['unit']}" if s["unit"] else ""
            window = limits(s["min"], s["max"])
            say(f"        data {s['name']} ({s['type']}{unit})"
                + (f" {window}" if window else ""))


@routing_app.command("list")
def list_(tctx: typer.Context,
          json_: Annotated[bool, typer.Option("--json")] = False,
          csv_: Annotated[bool, typer.Option("--csv")] = False) -> None:
    """List routing versions."""
    from mes.services.routings import list_routings

    listing(list_routings(context(tctx)),
            ["part", "version", "status", "source_file", "loaded_at", "approved_at"],
            as_json=json_, as_csv=csv_)


@routing_app.command("parts")
def parts(tctx: typer.Context,
          json_: Annotated[bool, typer.Option("--json")] = False,
          csv_: Annotated[bool, typer.Option("--csv")] = False) -> None:
    """List the part catalog."""
    from mes.services.routings import list_parts

    listing(list_parts(context(tctx)),
            ["number", "name", "kind", "unit", "gtin", "serialized", "unit_cost", "origin"],
            as_json=json_, as_csv=csv_)


@routing_app.command("diff")
def diff(tctx: typer.Context, part: str, a: int, b: int,
         json_: Annotated[bool, typer.Option("--json")] = False) -> None:
    """What changed between two versions of a routing."""
    from mes.services.routings import diff as do_diff

    lines = do_diff(context(tctx), part, a, b)
    if json_:
        emit_json(lines)
    else:
        for line in lines or ["no differences"]:
            say(line)
