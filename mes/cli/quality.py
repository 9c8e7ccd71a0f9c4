"""mes trace back|forward, recall, ncr open|disposition|close|list|show, lot release, ship,
report yield."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from mes.cli.common import context, emit_csv, emit_json, listing, note, say, show
from mes.domain.words import plural

trace_app = typer.Typer(help="Genealogy: what is in an item, what was made from it.",
                        no_args_is_help=True)
ncr_app = typer.Typer(help="Nonconformance reports: open, disposition, close.",
                      no_args_is_help=True)
report_app = typer.Typer(help="Production reports.", no_args_is_help=True)

JSON = Annotated[bool, typer.Option("--json", help="print JSON (data only on stdout)")]
CSV = Annotated[bool, typer.Option("--csv", help="print CSV")]


def register(app: typer.Typer) -> None:
    from mes.cli.lot import lot_app

    app.add_typer(trace_app, name="trace")
    app.add_typer(ncr_app, name="ncr")
    app.add_typer(report_app, name="report")
    app.command("recall")(recall)
    app.command("ship")(ship)
    lot_app.command("release")(release)


def _ids(value: str | None) -> list[str]:
    if not value:
        return []
    return [x.strip().upper() for x in value.replace(" ", ",").split(",") if x.strip()]


# -- trace -----------------------------------------------------------------------------------

EDGE_COLUMNS = ["parent", "child", "kind", "part", "qty", "op", "station", "at", "refdes",
                "feeder", "supplier", "supplier_lot", "date_code", "origin", "version", "lot",
                "site"]
ITEM_COLUMNS = ["id", "kind", "lot", "part", "part_kind", "status", "on_hold", "hold_reason",
                "consumed_into", "consignee", "shipment_ref", "site"]


@trace_app.command("back")
def back(tctx: typer.Context, item: str,
         depth: Annotated[int | None, typer.Option(help="levels down (default: all)")] = None,
         site: Annotated[str | None, typer.Option(
             help="only the consumptions recorded at this site")] = None,
         json_: JSON = False, csv_: CSV = False) -> None:
    """Everything in a unit or lot: units, lots, material lots, firmware (tree on a terminal)."""
    from mes.services.trace import backward

    out = backward(context(tctx), item, depth, site)
    if json_:
        emit_json(out)
    elif csv_:
        emit_csv(out["edges"], EDGE_COLUMNS)
    else:
        _print_tree(out["tree"])
        for n in out["quality"]["ncrs"]:
            say(f"{n['id']} on {n['item']}{' ' + ','.join(n['units']) if n['units'] else ''}: "
                f"{n['description']} [{n['status']}{', ' + n['action'] if n['action'] else ''}"
                f"{' (concession)' if n['concession'] else ''}]")
        c = out["counts"]
        note(f"{plural(c['edges'], 'consumption')}: {plural(c['units'], 'unit')}, "
             f"{plural(c['lots'], 'lot')}, {plural(c['materials'], 'material lot')}, "
             f"{plural(c['firmware'], 'firmware image')}")


def _label(n: dict[str, Any]) -> str:
    parts = [f"[bold]{n['id']}[/bold]", n.get("kind") or ""]
    if n.get("part"):
        parts.append(str(n["part"]))
    if n.get("kind") == "material":
        parts.append(f"supplier {n.get('supplier') or '—'} lot {n.get('supplier_lot') or '—'}"
                     f" DC {n.get('date_code') or '—'} origin {n.get('origin') or '—'}")
    if n.get("kind") == "firmware":
        parts.append(f"v{n.get('version')} {str(n.get('sha256') or '')[:12]}…")
    if n.get("status"):
        parts.append(f"({n['status']}{', ON HOLD' if n.get('on_hold') else ''})")
    if n.get("op") is not None:
        qty = n.get("qty")
        parts.append(f"× {qty:g} at op {n['op']} @{n.get('station')} {str(n.get('at'))[:19]}Z"
                     if isinstance(qty, float | int) else f"op {n['op']}")
    if n.get("refdes"):
        parts.append(f"refdes {n['refdes']}")
    return " ".join(p for p in parts if p)


def _print_tree(tree: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.tree import Tree

    def add(branch: Tree, node: dict[str, Any]) -> None:
        for child in node.get("children", []):
            add(branch.add(_label({**child, "id": escape(str(child["id"]))})), child)

    root = Tree(_label({**tree, "id": escape(str(tree["id"]))}))
    add(root, tree)
    Console().print(root)


@trace_app.command("forward")
def forward(tctx: typer.Context, item: str,
            finished: Annotated[bool, typer.Option(
                "--finished", help="only finished devices")] = False,
            depth: Annotated[int | None, typer.Option(help="levels up (default: all)")] = None,
            site: Annotated[str | None, typer.Option(
                help="only the lots and units of this site")] = None,
            dhr: Annotated[bool, typer.Option(
                "--dhr", help="list the DHRs of every finished lot made from the item")]
            = False,
            write: Annotated[bool, typer.Option(
                "--write", help="with --dhr: write (or bring up to date) each DHR")] = False,
            json_: JSON = False, csv_: CSV = False) -> None:
    """Every lot and unit made from an item (material lot, lot, unit, firmware image)."""
    from mes.services.trace import forward as fwd

    if dhr:
        _forward_dhrs(tctx, item, write, json_, csv_)
        return
    out = fwd(context(tctx), item, finished, depth, site)
    if json_:
        emit_json(out)
        return
    listing(out["items"], ITEM_COLUMNS, as_json=False, as_csv=csv_,
            title=f"made from {out['start']}")
    if not csv_:
        note(_counts(out))


def _forward_dhrs(tctx: typer.Context, item: str, write: bool, json_: bool, csv_: bool
                  ) -> None:
    from mes.services.dhr import dhrs_made_from

    rows = dhrs_made_from(context(tctx), item, write)
    listing(rows, ["lot", "part", "part_kind", "status", "version", "pdf", "pdf_sha256",
                   "record_sha256"], as_json=json_, as_csv=csv_,
            title=f"DHRs of finished lots made from {item.upper()}")
    if not (json_ or csv_):
        note(f"{len(rows)} finished lots" + ("" if write else
                                            " (add --write to write each DHR)"))


def _counts(out: dict[str, Any]) -> str:
    by = ", ".join(f"{k} {v}" for k, v in sorted(out["counts"].items())) or "nothing"
    return f"{plural(out['units'], 'unit')}, {plural(out['lots'], 'lot')}: {by}"


# -- recall ----------------------------------------------------------------------------------

def recall(tctx: typer.Context,
           item: Annotated[str, typer.Argument(
               help="the item recalled, or list | show RC-… | close RC-…")],
           recall_id: Annotated[str | None, typer.Argument(help="for show / close")] = None,
           reason: Annotated[str | None, typer.Option(
               help="why (e.g. the supplier notice; for close: what was done)")] = None,
           hold: Annotated[bool, typer.Option(
               "--hold", help="hold every affected item still in the plant (signed)")] = False,
           json_: JSON = False, csv_: CSV = False) -> None:
    """Recall scope of an item: everything made from it, by status; --hold holds it all and
    records the recall (RC-…). `mes recall list`, `show RC-…`, `close RC-… --reason` (signed)."""
    if item in ("list", "show", "close"):
        _recall_record(tctx, item, recall_id, reason, json_, csv_)
        return
    if reason is None:
        from mes.errors import InvalidInput

        raise InvalidInput("a recall needs --reason (e.g. the supplier notice)", field="reason")
    from mes.services.trace import recall as run

    out = run(context(tctx), item, reason, hold)
    if json_:
        emit_json(out)
        return
    listing(out["items"], ITEM_COLUMNS, as_json=False, as_csv=csv_,
            title=f"recall scope of {out['start']}: {reason}")
    if csv_:
        return
    note(_counts(out))
    if hold:
        note(f"put on hold: {plural(len(out['held']), 'item')} (signed); recorded as "
             f"{out['recall']}")
    else:
        note(f"{plural(len(out['would_hold']), 'item')} still in the plant: add --hold to "
             "hold them")


# -- NCR -------------------------------------------------------------------------------------

@ncr_app.command("open")
def ncr_open(tctx: typer.Context, item: str,
             description: Annotated[str, typer.Option(help="what is wrong")],
             units: Annotated[str | None, typer.Option(
                 help="serials of the lot concerned, comma-separated (default: whole lot)")]
             = None,
             json_: JSON = False) -> None:
    """Open an NCR on a lot, some of its units, or a material lot: puts them on hold."""
    from mes.services.quality import open_ncr

    out = open_ncr(context(tctx), item, description, _ids(units))
    show(out, json_, lambda d: say(f"{d['id']} opened on {d['item']}"
                                   + (f" ({', '.join(d['units'])})" if d["units"] else "")
                                   + f": on hold {', '.join(d['held'])}"))


@ncr_app.command("disposition")
def ncr_disposition(
    tctx: typer.Context, ncr: str,
    action: Annotated[str, typer.Option(help="rework | use-as-is | scrap | return-to-supplier")],
    justification: Annotated[str | None, typer.Option(help="why (required for use-as-is)")]
    = None,
    op: Annotated[int | None, typer.Option(help="rework: the op to restart from")] = None,
    qty: Annotated[int | None, typer.Option(help="scrap of a non-serialized lot: quantity")]
    = None,
    json_: JSON = False,
) -> None:
    """Decide what happens to the nonconforming items (quality; signed)."""
    from mes.services.quality import disposition

    out = disposition(context(tctx), ncr, action, justification, op, qty)
    show(out, json_, lambda d: say(f"{d['id']} dispositioned: {d['action']}"
                                   + (f" from op {d['rework_op']}" if d["rework_op"] else "")))


@ncr_app.command("close")
def ncr_close(tctx: typer.Context, ncr: str, json_: JSON = False) -> None:
    """Close a dispositioned NCR (quality; signed): its items come off hold."""
    from mes.services.quality import close_ncr

    out = close_ncr(context(tctx), ncr)
    show(out, json_, lambda d: say(f"{d['id']} closed; off hold: "
                                   f"{', '.join(d['unheld']) or 'nothing'}"))


@ncr_app.command("list")
def ncr_list(tctx: typer.Context,
             open_: Annotated[bool, typer.Option("--open", help="only NCRs not closed")] = False,
             item: Annotated[str | None, typer.Option(help="only NCRs on this lot/material")]
             = None,
             json_: JSON = False, csv_: CSV = False) -> None:
    """List NCRs."""
    from mes.services.quality import list_ncrs

    listing(list_ncrs(context(tctx), open_, item),
            ["id", "item", "units", "status", "action", "description", "opened_by",
             "opened_at", "closed_at"], as_json=json_, as_csv=csv_)


@ncr_app.command("show")
def ncr_show(tctx: typer.Context, ncr: str, json_: JSON = False) -> None:
    """Show an NCR with its signatures."""
    from mes.services.quality import show_ncr

    def human(d: dict[str, Any]) -> None:
        say(f"{d['id']} on {d['kind']} {d['item']}: {d['status']}")
        if d["units"]:
            say(f"  units: {', '.join(d['units'])}")
        say(f"  description: {d['description']}")
        say(f"  opened {d['opened_at'][:19]}Z by {d['opened_by']}")
        if d["action"]:
            say(f"  disposition: {d['action']}"
                + (f" from op {d['rework_op']}" if d["rework_op"] else "")
                + (f" — {d['justification']}" if d["justification"] else ""))
        if d["closed_at"]:
            say(f"  closed {d['closed_at'][:19]}Z")
        for s in d["signatures"]:
            say(f"  signed: {s['full_name']} — {s['meaning']} — {s['local_time']}")

    show(show_ncr(context(tctx), ncr), json_, human)


# -- release, ship ---------------------------------------------------------------------------

def release(tctx: typer.Context, lot: str, json_: JSON = False) -> None:
    """Final acceptance of a lot (quality; signed): all units done, no open NCR, no hold."""
    from mes.services.quality import release_lot

    out = release_lot(context(tctx), lot)
    show(out, json_, lambda d: say(
        f"lot {d['lot']} released: {d['qty_released']} released, {d['qty_scrapped']} scrapped "
        f"(signed by {d['signed_by']})"))


def ship(tctx: typer.Context,
         targets: Annotated[list[str], typer.Argument(help="a lot, or the SSCCs of packages")],
         to: Annotated[str, typer.Option("--to", help="consignee name and place")],
         ref: Annotated[str, typer.Option(help="delivery note reference")],
         units: Annotated[str | None, typer.Option(
             help="serials to ship, comma-separated (default: all released)")] = None,
         qty: Annotated[int | None, typer.Option(help="non-serialized lots: quantity")] = None,
         to_gln: Annotated[str | None, typer.Option(
             "--to-gln", help="the consignee's GLN (EPCIS destination)")] = None,
         json_: JSON = False) -> None:
    """Ship released units of a lot, or packed containers by SSCC, to a consignee."""
    from mes.domain.gs1 import is_sscc_text

    if all(is_sscc_text(t) for t in targets) and not (units or qty):
        from mes.services.packing import ship_containers

        res = ship_containers(context(tctx), targets, to, ref, to_gln)
        show(res, json_, lambda d: say(f"shipped {d['qty']} units in {len(d['containers'])} "
                                       f"packages to {d['consignee']} ({d['ref']})"))
        return
    if len(targets) != 1 or to_gln:
        from mes.errors import InvalidInput

        raise InvalidInput("give one lot, or SSCCs only (--to-gln is for SSCCs)",
                           field="targets")
    from mes.services.quality import ship as run

    out = run(context(tctx), targets[0], to, ref, _ids(units), qty)
    show(out, json_, lambda d: say(f"shipped {d['qty']} of lot {d['lot']} to {d['consignee']} "
                                   f"({d['ref']}); lot {d['lot_status']}"))


# -- reports ---------------------------------------------------------------------------------

@report_app.command("yield")
def yield_(tctx: typer.Context,
           part: Annotated[str | None, typer.Option(help="only this part")] = None,
           since: Annotated[str | None, typer.Option(help="YYYY-MM-DD (UTC)")] = None,
           site: Annotated[str | None, typer.Option(
               help="only the steps done and lots made at this site")] = None,
           json_: JSON = False, csv_: CSV = False) -> None:
    """First-pass yield, scrap and cycle times per part and operation."""
    from mes.cli.common import parse_date
    from mes.services.quality import yield_report

    day = parse_date(since, "--since")
    rows = yield_report(context(tctx), part, day.isoformat() if day else None,
                        site.upper() if site else None)
    listing(rows, ["part", "op", "name", "first_attempts", "first_pass", "fpy_pct",
                   "attempts", "failed", "mean_cycle_s", "median_cycle_s", "part_scrapped",
                   "part_lots_in_process"], as_json=json_, as_csv=csv_, title="yield")


RECALL_COLUMNS = ["id", "start_item", "status", "held", "reason", "opened_by", "opened_at",
                  "closed_by", "closed_at"]


def _recall_record(tctx: typer.Context, verb: str, recall_id: str | None,
                   reason: str | None, json_: bool, csv_: bool) -> None:
    from mes.services.trace import close_recall, list_recalls, show_recall

    ctx = context(tctx)
    if verb == "list":
        rows = list_recalls(ctx)
        listing([{**r, "held": len(r["held"])} for r in rows] if not json_ else rows,
                RECALL_COLUMNS, as_json=json_, as_csv=csv_)
        return
    if recall_id is None:
        from mes.errors import InvalidInput

        raise InvalidInput(f"`mes recall {verb}` needs the recall id, e.g. RC-000001")
    if verb == "close":
        out = close_recall(ctx, recall_id, reason or "")
    else:
        out = show_recall(ctx, recall_id)
    show(out, json_, _print_recall)


def _print_recall(r: dict[str, Any]) -> None:
    say(f"recall {r['id']} of {r['start_item']}: {r['status']} — {r['reason']}")
    say(f"  opened {r['opened_at'][:19]}Z by {r['opened_by']}")
    if r["closed_at"]:
        say(f"  closed {r['closed_at'][:19]}Z by {r['closed_by']}: {r['close_reason']}")
    say(f"  held {plural(len(r['held']), 'item')}: {' '.join(r['held']) or '-'}")
    for s in r["signatures"]:
        say(f"  signed: {s['full_name']} — {s['meaning']} — {s['local_time']}")
