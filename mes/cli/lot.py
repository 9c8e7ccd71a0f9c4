"""mes lot create|show|list|hold|unhold."""

from __future__ import annotations

from typing import Annotated

import typer

from mes.cli.common import context, listing, say, show

lot_app = typer.Typer(help="Production lots and their units.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(lot_app, name="lot")


@lot_app.command("create")
def create(tctx: typer.Context, part: str,
           qty: Annotated[int, typer.Option(help="quantity to make")],
           site: Annotated[str | None, typer.Option()] = None,
           json_: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Create a lot on the approved routing; prints the lot number and serials."""
    from mes.services.lots import create_lot

    out = create_lot(context(tctx), part, qty, site)

    def human(d: dict) -> None:
        say(d["lot"])
        if d["serials"]:
            say(" ".join(d["serials"]))
    show(out, json_, human)


@lot_app.command("show")
def show_(tctx: typer.Context, lot: str,
          json_: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Show a lot (or a unit): status, units, steps, consumption, signatures."""
    from mes.services.lots import lot_view

    show(lot_view(context(tctx), lot.strip().upper()), json_, _print_lot)


def _print_lot(d: dict) -> None:
    if "lot" not in d or "serial" in d:
        say(f"unit {d['serial']} of lot {d['lot']}: {d['status']}"
            + (f" ON HOLD ({d['hold_reason']})" if d["on_hold"] else ""))
    else:
        hold = f" ON HOLD ({d['hold_reason']})" if d["on_hold"] else ""
        say(f"lot {d['lot']}: {d['part']} {d['part_name']} × {d['qty']} "
            f"(routing v{d['routing_version']}) {d['status']}{hold}")
        say(f"  created {d['created_at'][:19]}Z by {d['created_by']}; scrapped "
            f"{d['qty_scrapped']}, released {d['qty_released']}, shipped {d['qty_shipped']}")
        if d["units"]:
            counts = ", ".join(f"{k} {v}" for k, v in sorted(d["unit_status_counts"].items()))
            say(f"  units: {counts}")
            held = [u["serial"] for u in d["units"] if u["on_hold"]]
            if held:
                say(f"  on hold: {' '.join(held[:20])}{' …' if len(held) > 20 else ''}")
    for s in d["steps"][-30:]:
        data = " ".join(f"{k}={v}" for k, v in s["data"].items())
        say(f"  op {s['op']:>3} {s['serial'] or ''} {s['status']:<7} @{s['station']} "
            f"{s['user']} {(s['completed_at'] or s['started_at'])[:19]}Z {data}")
    if len(d["steps"]) > 30:
        say(f"  … {len(d['steps']) - 30} earlier steps (use --json for all)")
    for c in d.get("consumed", [])[:30]:
        say(f"  consumed {c['qty']:g} {c['item']} into {c['into']} at op {c['op']}")
    for s in d["signatures"]:
        say(f"  signed: {s['full_name']} — {s['meaning']} — {s['local_time']}")


@lot_app.command("list")
def list_(tctx: typer.Context,
          status: Annotated[str | None, typer.Option(
              help="in_process | completed | released | shipped | scrapped | hold")] = None,
          part: Annotated[str | None, typer.Option()] = None,
          json_: Annotated[bool, typer.Option("--json")] = False,
          csv_: Annotated[bool, typer.Option("--csv")] = False) -> None:
    """List lots."""
    from mes.services.lots import list_lots

    listing(list_lots(context(tctx), status, part),
            ["lot", "part", "qty", "status", "on_hold", "routing_version", "created_at"],
            as_json=json_, as_csv=csv_)


@lot_app.command("hold")
def hold(tctx: typer.Context, item: str,
         reason: Annotated[str, typer.Option(help="why (recorded and signed)")]) -> None:
    """Put a lot or unit on hold (quality; signed)."""
    from mes.services.lots import set_hold

    out = set_hold(context(tctx), item.strip().upper(), True, reason)
    say(f"{out['kind']} {out['id']} on hold: {reason}")


@lot_app.command("unhold")
def unhold(tctx: typer.Context, item: str,
           reason: Annotated[str, typer.Option(help="why (recorded and signed)")]) -> None:
    """Take a lot or unit off hold (quality; signed)."""
    from mes.services.lots import set_hold

    out = set_hold(context(tctx), item.strip().upper(), False, reason)
    say(f"{out['kind']} {out['id']} off hold: {reason}")
