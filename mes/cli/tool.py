"""mes tool add|list|show|maintain: molds, stencils and fixtures under control."""

from __future__ import annotations

from typing import Annotated

import typer

from mes.cli.common import context, listing, say, show

tool_app = typer.Typer(help="Tools (molds, stencils): life limit, maintenance, use.",
                       no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(tool_app, name="tool")


@tool_app.command("add")
def add(
    tctx: typer.Context,
    tool_id: str,
    kind: Annotated[str, typer.Option(help="mold | stencil | fixture | other")],
    life: Annotated[int, typer.Option(help="life limit in uses (mold: shots, stencil: prints)")],
    cavities: Annotated[int | None, typer.Option(help="mold cavities")] = None,
    maintenance_every: Annotated[int | None, typer.Option(
        help="maintenance interval in uses")] = None,
) -> None:
    """Register a tool (technician/admin)."""
    from mes.services.tooling import add_tool

    row = add_tool(context(tctx), tool_id.upper(), kind, life, cavities, maintenance_every)
    say(f"tool {row['id']} ({row['kind']}) registered: life {row['life_limit']} uses")


@tool_app.command("list")
def list_(tctx: typer.Context,
          json_: Annotated[bool, typer.Option("--json")] = False,
          csv_: Annotated[bool, typer.Option("--csv")] = False) -> None:
    """List tools with their use, life left and maintenance due."""
    from mes.services.tooling import list_tools

    listing(list_tools(context(tctx)),
            ["id", "kind", "cavities", "uses", "life_limit", "life_left",
             "maintenance_due_in", "active"], as_json=json_, as_csv=csv_)


@tool_app.command("show")
def show_(tctx: typer.Context, tool_id: str,
          json_: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Show a tool, where it was used and its maintenance."""
    from mes.services.tooling import get_tool

    def human(d: dict) -> None:
        for k, v in d.items():
            if k not in ("used_in", "maintenance"):
                say(f"{k}: {v}")
        for u in d["used_in"]:
            say(f"  used {u['at'][:16]} lot {u['lot_id']} op {u['op']} at {u['station_id']}: "
                f"+{u['count']} -> {u['uses_after']}")
        for m in d["maintenance"]:
            say(f"  maintained {m['performed_at'][:16]} at {m['uses_at']} uses by "
                f"{m['performed_by']}: {m['note']}")

    show(get_tool(context(tctx), tool_id.upper()), json_, human)


@tool_app.command("maintain")
def maintain(
    tctx: typer.Context,
    tool_id: str,
    note: Annotated[str, typer.Option(help="what was done")],
) -> None:
    """Record maintenance (technician, signed): restarts the maintenance interval."""
    from mes.services.tooling import maintain as record

    row = record(context(tctx), tool_id.upper(), note)
    say(f"tool {row['tool_id']} maintained at {row['uses_at']} uses")
