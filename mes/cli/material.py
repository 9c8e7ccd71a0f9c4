"""mes material receive|release|reject|show|list."""

from __future__ import annotations

from typing import Annotated

import typer

from mes.cli.common import context, listing, note, parse_date, say, show
from mes.domain.words import plural

material_app = typer.Typer(help="Incoming material lots (reels, resin, screws…).",
                           no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(material_app, name="material")


@material_app.command("receive")
def receive(
    tctx: typer.Context,
    part: Annotated[str | None, typer.Argument(help="part number")] = None,
    part_opt: Annotated[str | None, typer.Option("--part", help="part number (with --scan)")]
    = None,
    qty: Annotated[float, typer.Option(help="quantity received")] = 0.0,
    supplier_lot: Annotated[str | None, typer.Option(
        "--supplier-lot", "--lot", help="the supplier's lot (AI 10 of a scan)")] = None,
    id_: Annotated[str | None, typer.Option("--id", help="our id (default: next R-nnnnnn)")]
    = None,
    supplier: Annotated[str | None, typer.Option()] = None,
    mpn: Annotated[str | None, typer.Option()] = None,
    date_code: Annotated[str | None, typer.Option()] = None,
    expiry: Annotated[str | None, typer.Option(help="YYYY-MM-DD")] = None,
    origin: Annotated[str | None, typer.Option(help="ISO 3166 alpha-2 country of origin")]
    = None,
    unit_cost: Annotated[float | None, typer.Option()] = None,
    cert: Annotated[str | None, typer.Option(help="CoC / CoA reference")] = None,
    scan: Annotated[str | None, typer.Option(
        help="the supplier label's GS1 scan (]d2…, ]C1… or HRI): fills GTIN, --supplier-lot "
             "(AI 10), --expiry (AI 17), --id (AI 21); typed values must agree with it")]
    = None,
) -> None:
    """Receive a material lot (quarantined until quality releases it).

    With --scan the scan is stored with the receipt; material already past its expiry is
    received in quarantine with a warning and can never be released."""
    from mes.errors import InvalidInput
    from mes.services.materials import Receipt, receive

    number = part or part_opt
    if not number:
        raise InvalidInput("which part? give the part number (or --part with --scan)")
    r = Receipt(part=number, qty=qty, supplier_lot=supplier_lot, material_id=id_,
                expiry=parse_date(expiry, "--expiry"), supplier=supplier, mpn=mpn,
                date_code=date_code, origin=origin.upper() if origin else None,
                unit_cost=unit_cost, cert=cert)
    row = receive(context(tctx), r, scan)
    say(f"OK {row['id']} {row['part']} × {row['qty_received']:g} received: {row['status']}")
    for warning in row["warnings"]:
        note(f"warning: {warning}")


@material_app.command("release")
def release(tctx: typer.Context, materials: Annotated[list[str], typer.Argument(
        help="one or more material lot ids")]) -> None:
    """Release quarantined lots after incoming inspection (quality; signed once for all)."""
    from mes.services.materials import release_many

    for row in release_many(context(tctx), materials):
        say(f"{row['id']} released")


@material_app.command("reject")
def reject(tctx: typer.Context, material: str,
           reason: Annotated[str, typer.Option()]) -> None:
    """Reject a quarantined lot (quality; signed)."""
    from mes.services.materials import reject as do_reject

    row = do_reject(context(tctx), material, reason)
    say(f"{row['id']} rejected: {reason}")


@material_app.command("show")
def show_(tctx: typer.Context, material: str,
          json_: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Show a material lot and where it was consumed."""
    from mes.services.materials import show as get

    def human(m: dict) -> None:
        say(f"{m['id']} {m['part']} {m['status']}{' ON HOLD' if m['on_hold'] else ''}: "
            f"{m['remaining']:g} of {m['qty_received']:g} left")
        for k in ("supplier", "supplier_lot", "mpn", "date_code", "expiry", "origin",
                  "unit_cost", "cert", "gtin", "received_at", "received_by"):
            if m.get(k) is not None:
                say(f"  {k}: {m[k]}")
        say(f"  consumed into {plural(len(m['consumed']), 'item')}")
        for s in m["signatures"]:
            say(f"  signed: {s['full_name']} — {s['meaning']} — {s['local_time']}")
    show(get(context(tctx), material), json_, human)


@material_app.command("list")
def list_(tctx: typer.Context,
          part: Annotated[str | None, typer.Option()] = None,
          status: Annotated[str | None, typer.Option(
              help="quarantine | released | rejected")] = None,
          json_: Annotated[bool, typer.Option("--json")] = False,
          csv_: Annotated[bool, typer.Option("--csv")] = False) -> None:
    """List material lots."""
    from mes.services.materials import list_materials

    listing(list_materials(context(tctx), part, status),
            ["id", "part", "status", "on_hold", "remaining", "qty_received", "supplier_lot",
             "expiry", "origin", "unit_cost", "floor_life_left_h"], as_json=json_,
            as_csv=csv_)


def _moisture(tctx: typer.Context, material: str, event: str) -> None:
    from mes.services.moisture import record

    out = record(context(tctx), material, event)
    left = out.get("remaining_h")
    say(f"{out['material']}: {event} recorded ({out['state']}; MSL {out['msl']}, "
        f"{out['exposed_h']:g} h exposed, "
        + ("unlimited floor life)" if left is None else f"{left:g} h floor life left)"))


@material_app.command("open")
def open_(tctx: typer.Context, material: str) -> None:
    """Dry pack of a moisture-sensitive reel opened: its floor-life clock runs."""
    _moisture(tctx, material, "open")


@material_app.command("seal")
def seal(tctx: typer.Context, material: str) -> None:
    """Resealed in a dry pack with fresh desiccant: the clock pauses."""
    _moisture(tctx, material, "seal")


@material_app.command("dry")
def dry(tctx: typer.Context, material: str) -> None:
    """Put in dry storage (dry cabinet): the clock pauses."""
    _moisture(tctx, material, "dry")


@material_app.command("bake")
def bake(tctx: typer.Context, material: str) -> None:
    """Baked (J-STD-033 bake table): the exposure clock is reset."""
    _moisture(tctx, material, "bake")
