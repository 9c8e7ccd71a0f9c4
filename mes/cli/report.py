"""mes report efficiency (issue 16); `report yield` lives with the quality commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mes.cli.common import context, emit_csv, emit_json, listing, note, parse_date, say


def register(app: typer.Typer) -> None:
    from mes.cli.quality import report_app

    report_app.command("efficiency")(efficiency)


def efficiency(tctx: typer.Context,
               since: Annotated[str | None, typer.Option(help="YYYY-MM-DD (UTC)")] = None,
               period: Annotated[str, typer.Option(help="day, week or month")] = "day",
               site: Annotated[str | None, typer.Option(
                   help="only the steps done and lots made at this site")] = None,
               charts: Annotated[Path | None, typer.Option(
                   "--charts", help="also draw fpy and pareto charts into this directory")]
               = None,
               fmt: Annotated[str, typer.Option("--format", help="chart format: png, svg, pdf")]
               = "png",
               json_: Annotated[bool, typer.Option("--json")] = False,
               csv_: Annotated[bool, typer.Option("--csv", help="the FPY table as CSV")]
               = False) -> None:
    """FPY per operation over time, scrap, rework, cycle time, Pareto of causes, OEE."""
    from mes.errors import InvalidInput
    from mes.services.efficiency import efficiency as run
    from mes.services.efficiency import write_charts

    if fmt not in ("png", "svg", "pdf"):
        raise InvalidInput(f"--format {fmt}: use png, svg or pdf", field="format")
    out = run(context(tctx), parse_date(since, "--since"), period,
              site.upper() if site else None)
    files = write_charts(out, charts, fmt) if charts else []
    out["charts"] = files
    if json_:
        emit_json(out)
    elif csv_:
        emit_csv(out["fpy"], ["part", "op", "name", "period", "first_attempts", "first_pass",
                              "fpy_pct"])
    else:
        listing(out["operations"], ["part", "op", "name", "steps", "fpy_pct", "failed",
                                    "repeats", "median_cycle_s"], as_json=False, as_csv=False,
                title="operations")
        listing(out["fpy"], ["part", "op", "period", "first_attempts", "fpy_pct"],
                as_json=False, as_csv=False, title=f"first-pass yield per {period}")
        listing(out["pareto"][:15], ["cause", "count", "pct", "cumulative_pct"],
                as_json=False, as_csv=False, title="Pareto of causes")
        listing(out["stations"], ["station", "steps", "quality_pct", "performance_pct",
                                  "performance_x_quality_pct", "availability_pct", "oee_pct"],
                as_json=False, as_csv=False, title="OEE per station")
        s, r = out["scrap"], out["rework"]
        say(f"scrap: {s['qty_scrapped']} of {s['qty_planned']} planned ({s['scrap_pct']} %), "
            f"{s['units_scrapped']} units; rework: {r['repeated_steps']} repeated steps, "
            f"{r['ncr_rework']} NCR rework dispositions")
        if out["stations"]:
            note(f"availability: {out['stations'][0]['availability']}")
            note(f"OEE: {out['stations'][0]['oee_note']}")
            for st in out["stations"]:
                if st["performance_pct"] is None:
                    note(f"performance at {st['station']}: {st['performance_basis']}")
    for f in files:
        note(f"wrote {f}")
