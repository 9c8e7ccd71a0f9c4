"""mes pack, mes unpack, mes container show, mes epcis export (issue 19)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from mes.cli.common import context, emit_json, listing, note, say, show

container_app = typer.Typer(help="Packages (boxes, cases, pallets) by SSCC.",
                            no_args_is_help=True)
epcis_app = typer.Typer(help="EPCIS 2.0 events for customers and regulators.",
                        no_args_is_help=True)
JSON = Annotated[bool, typer.Option("--json", help="print JSON (data only on stdout)")]


def register(app: typer.Typer) -> None:
    app.command("pack")(pack)
    app.command("unpack")(unpack)
    app.add_typer(container_app, name="container")
    app.add_typer(epcis_app, name="epcis")


def pack(tctx: typer.Context,
         items: Annotated[list[str] | None, typer.Argument(
             help="unit serials, or SSCCs of closed packages")] = None,
         into: Annotated[str | None, typer.Option(
             "--into", help="an open container's SSCC (default: a new one)")] = None,
         level: Annotated[str | None, typer.Option(
             help="the new container's level, to check (box, case, pallet)")] = None,
         close: Annotated[bool, typer.Option(
             "--close", help="close (and label) the container even if not full")] = False,
         json_: JSON = False) -> None:
    """Pack units into a box, boxes into a case…; a full (or --close) container is labelled."""
    from mes.services.packing import pack as run

    out = run(context(tctx), items or [], into, level, close)

    def human(d: dict[str, Any]) -> None:
        say(f"{d['level']} {d['sscc']}: {d['count']}/{d['capacity']} {d['status']}")
        if d["label"]:
            say(d["label"])
    show(out, json_, human)


def unpack(tctx: typer.Context, container: str,
           items: Annotated[list[str] | None, typer.Argument(
               help="what to take out (default: everything)")] = None,
           reason: Annotated[str, typer.Option(help="why (signed)")] = "",
           json_: JSON = False) -> None:
    """Take items out of a container (signed, with a reason); its label is voided."""
    from mes.services.packing import unpack as run

    out = run(context(tctx), container, items or [], reason)
    show(out, json_, lambda d: say(f"{d['sscc']}: {len(d['removed'])} taken out, "
                                   f"{d['count']} left, {d['status']}"))


@container_app.command("show")
def show_(tctx: typer.Context, container: str, json_: JSON = False) -> None:
    """A container: level, status, contents, the packages around it, its labels."""
    from mes.services.packing import show as run

    out = run(context(tctx), container)
    if json_:
        emit_json(out)
        return
    say(f"{out['level']} {out['sscc']} {out['part']} {out['status']}: {out['unit_count']} "
        f"units, lots {', '.join(out['lots']) or '—'}")
    if out["inside"]:
        say(f"inside {' < '.join(out['inside'])}")
    listing(out["contents"], ["id", "kind", "lot", "packed_at", "packed_by"], as_json=False,
            as_csv=False, title="contents")


@epcis_app.command("export")
def export(tctx: typer.Context,
           lot: Annotated[str | None, typer.Option(help="events of this lot only")] = None,
           since: Annotated[str | None, typer.Option(help="events from YYYY-MM-DD (UTC)")] = None,
           out: Annotated[Path | None, typer.Option(
               "--out", help="write to this file (default: standard output)")] = None) -> None:
    """An EPCIS 2.0 JSON-LD document: commissioning, assembling, packing, shipping events."""
    from mes.cli.common import parse_date
    from mes.services.epcis import export as run

    day = parse_date(since, "--since")
    res = run(context(tctx), lot, day.isoformat() if day else None, out)
    if out is None:
        typer.echo(res["text"])
    note(f"{res['events']} events, sha256 {res['sha256']} (anchored in the audit chain)")
    for why in res["skipped"]:
        note(why)
