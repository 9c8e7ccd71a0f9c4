"""mes lot create|show|list|hold|unhold|cancel|adjust."""

from __future__ import annotations

from typing import Annotated

import typer

from mes.cli.common import context, listing, say, show, text

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
          all_: Annotated[bool, typer.Option(
              "--all", help="every step and consumption, not the summary per operation")
          ] = False,
          json_: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Show a lot (or a unit): status, steps and consumption summed per op (--all: each)."""
    from mes.services.lots import lot_view

    show(lot_view(context(tctx), lot.strip().upper()), json_,
         lambda d: _print_lot(d, all_))


def _print_lot(d: dict, everything: bool) -> None:
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
                say(f"  on hold: {' '.join(held)}")
    if everything:
        _print_all(d)
    else:
        _print_summary(d)
    for s in d["signatures"]:
        say(f"  signed: {s['full_name']} — {s['meaning']} — {s['local_time']}")


def _print_summary(d: dict) -> None:
    """One line per op for steps and one per material for consumption: a 900-unit lot's
    page stays short and both halves are shown alike."""
    from collections import Counter

    steps = d["steps"]
    ops = sorted({s["op"] for s in steps})
    say(f"  steps: {len(steps)} (per op below; --all lists each)" if steps else "  steps: none")
    for op in ops:
        mine = [s for s in steps if s["op"] == op]
        status = Counter(s["status"] for s in mine)
        stations = " ".join(sorted({s["station"] for s in mine}))
        last = max((s["completed_at"] or s["started_at"]) for s in mine)[:19]
        say(f"  op {op:>3}: " + ", ".join(f"{n} {k}" for k, n in sorted(status.items()))
            + f" at {stations}, last {last}Z")
    consumed = d.get("consumed", [])
    say(f"  consumed: {len(consumed)} records (per material below; --all lists each)"
        if consumed else "  consumed: nothing")
    totals: dict[tuple[str, int], float] = {}
    for c in consumed:
        totals[(c["item"], c["op"])] = totals.get((c["item"], c["op"]), 0) + c["qty"]
    for (item, op), qty in sorted(totals.items(), key=lambda x: (x[0][1], x[0][0])):
        say(f"  op {op:>3}: {qty:g} of {item}")


def _print_all(d: dict) -> None:
    for s in d["steps"]:
        data = " ".join(f"{k}={text(v)}" for k, v in s["data"].items())
        say(f"  op {s['op']:>3} {s['serial'] or ''} {s['status']:<7} @{s['station']} "
            f"{s['user']} {(s['completed_at'] or s['started_at'])[:19]}Z {data}")
    for c in d.get("consumed", []):
        say(f"  consumed {c['qty']:g} {c['item']} into {c['into']} at op {c['op']}")


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


@lot_app.command("cancel")
def cancel(tctx: typer.Context, lot: str,
           reason: Annotated[str, typer.Option(help="why (recorded and signed)")]) -> None:
    """Cancel a lot no step was recorded on, e.g. on a superseded routing (quality; signed)."""
    from mes.services.lots import cancel_lot

    out = cancel_lot(context(tctx), lot.strip().upper(), reason)
    units = f" with its {len(out['units'])} units" if out["units"] else ""
    say(f"lot {out['lot']} cancelled{units}: {reason}")


@lot_app.command("adjust")
def adjust(tctx: typer.Context, lot: str,
           qty: Annotated[int, typer.Option(help="the new planned quantity")],
           reason: Annotated[str, typer.Option(help="why (recorded and signed)")]) -> None:
    """Change the planned quantity of a lot no step was recorded on (quality; signed)."""
    from mes.services.lots import adjust_qty

    out = adjust_qty(context(tctx), lot.strip().upper(), qty, reason)
    say(f"lot {out['lot']}: qty {out['old_qty']} → {out['qty']}: {reason}")
    for serial in out["serials"]:
        say(serial)
