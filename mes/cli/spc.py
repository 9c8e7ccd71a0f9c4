"""mes spc list|chart|report, mes spc limits set|approve|show (issue 16)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from mes.cli.common import context, emit_csv, emit_json, listing, note, parse_date, say, show

spc_app = typer.Typer(help="Statistical process control: limits, charts, signals, capability.",
                      no_args_is_help=True)
limits_app = typer.Typer(help="Signed, versioned control limits from a phase-I study.",
                         no_args_is_help=True)
spc_app.add_typer(limits_app, name="limits")

JSON = Annotated[bool, typer.Option("--json", help="print JSON (data only on stdout)")]
CSV = Annotated[bool, typer.Option("--csv", help="print CSV")]
LOT = Annotated[str | None, typer.Option("--lot", help="only this lot's data")]
SINCE = Annotated[str | None, typer.Option("--since", help="YYYY-MM-DD (UTC)")]
STATION = Annotated[str | None, typer.Option("--station", help="only data from this station")]


def register(app: typer.Typer) -> None:
    app.add_typer(spc_app, name="spc")


def _day(value: str | None, what: str) -> str | None:
    day = parse_date(value, what)
    return day.isoformat() if day else None


@spc_app.command("list")
def list_(tctx: typer.Context, json_: JSON = False) -> None:
    """The characteristics declared in approved routings, with their limits version."""
    from mes.services.spc import list_characteristics

    listing(list_characteristics(context(tctx)),
            ["id", "part", "op", "data", "chart", "subgroup", "rules", "action", "lsl", "usl",
             "limits_version"], as_json=json_, as_csv=False, title="SPC characteristics")


@limits_app.command("set")
def limits_set(
        tctx: typer.Context, characteristic: str,
        reason: Annotated[str, typer.Option(help="the phase-I study, e.g. 'PQ run 3'")],
        lot: Annotated[list[str] | None, typer.Option(
            "--lot", help="phase-I data from this lot (repeat for several)")] = None,
        since: SINCE = None,
        until: Annotated[str | None, typer.Option(help="YYYY-MM-DD (UTC), exclusive")] = None,
        data: Annotated[Path | None, typer.Option(
            "--data", help="phase-I data file: one subgroup per line")] = None,
        json_: JSON = False) -> None:
    """Compute control limits from phase-I data: a new draft version, signed (authored)."""
    from mes.services.spc import set_limits

    out = set_limits(context(tctx), characteristic, reason, lots=lot or [],
                     since=_day(since, "--since"), until=_day(until, "--until"), data_file=data)
    show(out, json_, _say_limits)


@limits_app.command("approve")
def limits_approve(tctx: typer.Context, characteristic: str,
                   version: Annotated[int, typer.Option(help="the draft version")],
                   json_: JSON = False) -> None:
    """Approve a draft version (signed): from now on it judges every new value."""
    from mes.services.spc import approve_limits

    show(approve_limits(context(tctx), characteristic, version), json_, _say_limits)


@limits_app.command("show")
def limits_show(tctx: typer.Context, characteristic: str, json_: JSON = False) -> None:
    """Every version of a characteristic's limits with its study and signatures."""
    from mes.services.spc import show_limits

    out = show_limits(context(tctx), characteristic)
    if json_:
        emit_json(out)
        return
    listing(out["versions"], ["version", "status", "chart", "subgroup", "center", "lcl", "ucl",
                              "spread_center", "spread_ucl", "set_by", "approved_by",
                              "reason"], as_json=False, as_csv=False,
            title=f"{out['characteristic']['id']} control limits")


def _say_limits(d: dict[str, Any]) -> None:
    say(f"{d['characteristic']} limits v{d['version']} {d['status']}: {d['chart']} "
        f"CL {d['center']:.6g}, LCL {d['lcl']:.6g}, UCL {d['ucl']:.6g}"
        + (f"; spread CL {d['spread_center']:.6g}, UCL {d['spread_ucl']:.6g}"
           if d["spread_center"] is not None else "")
        + f" ({d['study'].get('subgroups')} subgroups)")


@spc_app.command("chart")
def chart(tctx: typer.Context, characteristic: str, lot: LOT = None, since: SINCE = None,
          station: STATION = None,
          png: Annotated[bool, typer.Option("--png")] = False,
          svg: Annotated[bool, typer.Option("--svg")] = False,
          pdf: Annotated[bool, typer.Option("--pdf")] = False,
          out: Annotated[Path | None, typer.Option(
              "--out", help="file to write (default: charts/<CHAR>.<format>)")] = None,
          json_: JSON = False) -> None:
    """Draw the control chart: centre line, limits, zones, spec limits, signals by rule."""
    from mes.errors import InvalidInput
    from mes.services.spc import draw_chart

    formats = [f for f, on in (("png", png), ("svg", svg), ("pdf", pdf)) if on]
    if len(formats) != 1:
        raise InvalidInput("give one of --png, --svg or --pdf", field="format")
    res = draw_chart(context(tctx), characteristic, formats[0], out, lot=lot,
                     since=_day(since, "--since"), station=station)
    show(res, json_, lambda d: say(f"{d['file']} ({d['points']} points, "
                                   f"{d['signals']} signals)"))


@spc_app.command("report")
def report(tctx: typer.Context,
           characteristic: Annotated[str | None, typer.Argument()] = None,
           lot: LOT = None, since: SINCE = None, station: STATION = None,
           by: Annotated[str | None, typer.Option(help="capability per lot, station or month")]
           = None,
           confidence: Annotated[float, typer.Option(help="of the bounds")] = 0.95,
           json_: JSON = False, csv_: CSV = False) -> None:
    """Signals (out of control) and out-of-spec counts, and capability Cp/Cpk, Pp/Ppk."""
    from mes.services.spc import report as run

    out = run(context(tctx), char_id=characteristic, lot=lot, since=_day(since, "--since"),
              station=station, by=by, confidence=confidence)
    if json_:
        emit_json(out)
        return
    rows = _capability_rows(out)
    if csv_:
        emit_csv(rows, CAP_COLUMNS)
        return
    listing(rows, TABLE_COLUMNS, as_json=False, as_csv=False,
            title=f"capability ({out['confidence']:.0%} bounds)")
    signals = [s for c in out["characteristics"] for s in c["signals"]]
    listing(signals, ["characteristic", "rule", "subgroup", "lot", "action", "ncr"],
            as_json=False, as_csv=False, title="out-of-control signals")
    if not signals:
        note("no out-of-control signal")


CAP_COLUMNS = ["characteristic", "group", "n", "out_of_spec", "signals", "cp", "cpk",
               "cpk_lower", "pp", "ppk", "ppk_lower"]
TABLE_COLUMNS = ["characteristic", "group", "n", "out_of_spec", "signals", "cpk", "cpk_lower",
                 "ppk", "ppk_lower"]


def _capability_rows(out: dict[str, Any]) -> list[dict[str, Any]]:
    def f(v: float | None) -> str | None:
        return None if v is None else f"{v:.3f}"

    rows = []
    for c in out["characteristics"]:
        for group, cap in (c["capability"] or {"all": None}).items():
            cap = cap or {}
            rows.append({"characteristic": c["id"], "group": group,
                         "n": c["observations"], "out_of_spec": c["out_of_spec"],
                         "signals": len(c["signals"]),
                         "cp": f(cap.get("cp", {}).get("value")),
                         "cpk": f(cap.get("cpk", {}).get("value")),
                         "cpk_lower": f(cap.get("cpk", {}).get("lower")),
                         "pp": f(cap.get("pp", {}).get("value")),
                         "ppk": f(cap.get("ppk", {}).get("value")),
                         "ppk_lower": f(cap.get("ppk", {}).get("lower"))})
    return rows
