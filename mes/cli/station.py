"""mes station add|update|list|show|load|loads."""

from __future__ import annotations

from typing import Annotated

import typer

from mes.cli.common import context, listing, parse_date, say, show, text

station_app = typer.Typer(help="Stations, their calibration and what is loaded on them.",
                          no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(station_app, name="station")


@station_app.command("add")
def add(
    tctx: typer.Context,
    station_id: str,
    type_: Annotated[str, typer.Option("--type", help="station type, e.g. smt-pnp")],
    site: Annotated[str | None, typer.Option(help="site id (default: the workspace site)")]
    = None,
    calibration_due: Annotated[str | None, typer.Option(help="YYYY-MM-DD")] = None,
) -> None:
    """Register a station (technician/admin)."""
    from mes.services.stations import add_station

    row = add_station(context(tctx), station_id.upper(), type_, site,
                      parse_date(calibration_due, "--calibration-due"))
    say(f"station {row['id']} ({row['type']}) registered")


@station_app.command("update")
def update(
    tctx: typer.Context,
    station_id: str,
    calibration_due: Annotated[str | None, typer.Option(help="YYYY-MM-DD")] = None,
    active: Annotated[bool | None, typer.Option("--active/--inactive")] = None,
) -> None:
    """Change a station's calibration date or activity."""
    from mes.services.stations import update_station

    row = update_station(context(tctx), station_id.upper(),
                         calibration_due=parse_date(calibration_due, "--calibration-due"),
                         active=active)
    say(f"station {row['id']}: calibration due {row['calibration_due']}, "
        f"{'active' if row['active'] else 'inactive'}")


@station_app.command("list")
def list_(tctx: typer.Context,
          json_: Annotated[bool, typer.Option("--json")] = False,
          csv_: Annotated[bool, typer.Option("--csv")] = False) -> None:
    """List stations."""
    from mes.services.stations import list_stations

    listing(list_stations(context(tctx)),
            ["id", "type", "site_id", "calibration_due", "active"], as_json=json_, as_csv=csv_)


@station_app.command("show")
def show_(tctx: typer.Context, station_id: str,
          json_: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Show a station and the material loaded on it."""
    from mes.services.materials import loads
    from mes.services.stations import get_station

    ctx = context(tctx)
    data = get_station(ctx, station_id.upper())
    data["loaded"] = loads(ctx, data["id"])
    def human(d: dict) -> None:
        for k, v in d.items():
            if k != "loaded":
                say(f"{k}: {text(v)}")
        say(f"loaded: {len(d['loaded'])}" if d["loaded"] else "loaded: nothing")
        for x in d["loaded"]:
            say(f"  slot {x['slot']}: {x['material']} ({x['part']}, {x['remaining']:g} left) "
                f"loaded {x['loaded_at'][:16]}Z by {x['loaded_by']}")

    show(data, json_, human)


@station_app.command("load")
def load(
    tctx: typer.Context,
    station_id: str,
    material: str,
    slot: Annotated[str, typer.Option(help="feeder / slot / hopper position")],
    replace: Annotated[bool, typer.Option(
        "--replace", help="take off the material the slot holds now")] = False,
) -> None:
    """Load a released material lot (reel, resin bag) on a station slot."""
    from mes.services.materials import load_on_station

    out = load_on_station(context(tctx), station_id.upper(), material, slot, replace)
    took = f", replacing {out['replaced']}" if out["replaced"] else ""
    say(f"OK {out['material']} ({out['part']}) loaded on {out['station']} slot "
        f"{out['slot']}{took}")
    floor = out.get("floor_life")
    if floor and floor["remaining_h"] is not None:
        say(f"  MSL {floor['msl']}: {floor['remaining_h']:g} h of floor life left "
            f"(exposed {floor['exposed_h']:g} h of {floor['floor_life_h']:g} h)")


@station_app.command("calibrate")
def calibrate(
    tctx: typer.Context,
    station_id: str,
    certificate: Annotated[str, typer.Option(help="calibration certificate reference")],
    result: Annotated[str, typer.Option(help="pass | fail (fail = found out of tolerance)")],
    due: Annotated[str | None, typer.Option(help="next due date YYYY-MM-DD (pass)")] = None,
) -> None:
    """Record a calibration (technician/quality, signed); a failure blocks the station."""
    from mes.services.calibration import calibrate as record

    row = record(context(tctx), station_id.upper(), certificate, result,
                 parse_date(due, "--due"))
    if row["result"] == "pass":
        say(f"station {row['station_id']}: calibration {row['certificate']} passed, "
            f"due {row['due']} (signed by {row['signed_by']})")
    else:
        say(f"station {row['station_id']}: calibration {row['certificate']} FAILED: station "
            f"blocked; see `mes station impact {row['station_id']}`")


@station_app.command("impact")
def impact(
    tctx: typer.Context,
    station_id: str,
    hold: Annotated[bool, typer.Option("--hold", help="hold what is still in the plant "
                                       "(quality, signed)")] = False,
    reason: Annotated[str | None, typer.Option(help="why (with --hold)")] = None,
    json_: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Lots and units produced on a station since its last passing calibration."""
    from mes.services import calibration

    ctx = context(tctx)
    sid = station_id.upper()
    data = calibration.hold_impact(ctx, sid, reason or "") if hold else \
        calibration.impact(ctx, sid)

    def human(d: dict) -> None:
        w = d["window"]
        say(f"station {d['station']}: since {w['since'] or 'first use'} "
            f"({w['since_certificate'] or 'no passing calibration'}) until "
            f"{w['until'] or 'now'}" + (f" (failed {w['failed_certificate']})"
                                        if w["failed_certificate"] else ""))
        for x in d["lots"]:
            say(f"  lot {x['lot']} ({x['part']}) ops {x['ops']}: {x['status']}"
                f"{', on hold' if x['on_hold'] else ''}, {len(x['units'])} units")
        c = d["counts"]
        say(f"{c['lots']} lots, {c['units']} units, {c['steps']} steps")
        if "held" in d:
            say(f"held {len(d['held'])}: {' '.join(d['held']) or '-'}")

    show(data, json_, human)
