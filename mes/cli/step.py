"""mes step start|complete: the operator path (plain output, no rich, no YAML)."""

from __future__ import annotations

from typing import Annotated

import typer

from mes.cli.common import context, emit_json, note, parse_pairs, say

step_app = typer.Typer(help="Record operations on lots and units.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(step_app, name="step")


@step_app.command("start")
def start(tctx: typer.Context, scan: str,
          op: Annotated[int, typer.Option(help="operation number")],
          station: Annotated[str, typer.Option(help="station id")],
          json_: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Start an operation on a lot or unit."""
    from mes.services.steps import start_step

    out = start_step(context(tctx), scan, op, station.upper())
    if json_:
        emit_json(out)
    else:
        say(f"OK started op {out['op']} ({out['name']}) on {', '.join(out['started'][:5])}"
            + (f" +{len(out['started']) - 5}" if len(out["started"]) > 5 else ""))


@step_app.command("complete")
def complete(
    tctx: typer.Context,
    scan: str,
    op: Annotated[int, typer.Option(help="operation number")],
    station: Annotated[str, typer.Option(help="station id")],
    data: Annotated[list[str] | None, typer.Option(help="NAME=VALUE, repeatable")] = None,
    result: Annotated[str | None, typer.Option(help="pass | fail")] = None,
    consume: Annotated[list[str] | None, typer.Option(
        help="material lot, lot or unit consumed: ID[:QTY], repeatable")] = None,
    refdes: Annotated[str | None, typer.Option(help="reference designators, e.g. C1,C2")]
    = None,
    json_: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Complete an operation: data, result and consumption, checked against the routing."""
    from mes.services.steps import StepRequest, complete_step

    req = StepRequest(scan=scan, op=op, station=station.upper(), data=parse_pairs(data or []),
                      result=result, consume=consume or [], refdes=refdes)
    out = complete_step(context(tctx), req)
    for line in out["notes"]:
        note(line)
    if json_:
        emit_json(out)
        return
    say(render_outcome(out))


def render_outcome(out: dict) -> str:
    return _outcome(out) + "".join(_spc_line(s) for s in out.get("spc") or [])


def _spc_line(s: dict) -> str:
    """An out-of-control signal (issue 16): not a failed value, a process to look at."""
    then = {"hold": f"lot {s['lot']} on hold ({s['ncr']}): call quality",
            "alert": "quality alerted", "record": "recorded"}[s["action"]]
    return f"\nSPC {s['characteristic']} {s['rule']}: {s['text']} — {then}"


def _outcome(out: dict) -> str:
    items = ", ".join(out["items"][:5]) + (f" +{len(out['items']) - 5}"
                                            if len(out["items"]) > 5 else "")
    if out["status"] == "failed":
        return (f"FAIL op {out['op']} ({out['name']}) on {items}: {'; '.join(out['problems'])}"
                " — put on hold: call quality")
    done = f"; routing complete for {len(out['completed'])}" if out["completed"] else ""
    return f"OK op {out['op']} ({out['name']}) passed on {items}{done}"
