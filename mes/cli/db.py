"""mes db info|migrate|protect|copy: the database behind the workspace (docs/POSTGRES.md)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from mes.cli.common import context, emit_json, say

db_app = typer.Typer(help="The database: info, migrate, copy SQLite -> PostgreSQL.",
                     no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")


@db_app.command("info")
def info(tctx: typer.Context,
         json_: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Backend, location, schema version, rows per table, audit head."""
    from mes.services.dbadmin import info as get

    data = get(context(tctx))
    if json_:
        emit_json(data)
        return
    say(f"backend:        {data['backend']}"
        + (f" (server {data['server_version']})" if "server_version" in data else ""))
    say(f"location:       {data['location']}")
    say(f"schema version: {data['schema_version']} (this program: "
        f"{data['program_schema_version']}; {data['status']})")
    head = data["audit_head"]
    say(f"audit head:     {head['seq']} {head['hash']}")
    say("rows:")
    for table, n in data["tables"].items():
        say(f"  {table:<18} {n}")


@db_app.command("migrate")
def migrate(tctx: typer.Context,
            json_: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Bring the schema to this program's version (admin; the database owner role)."""
    from mes.services.dbadmin import migrate as do

    out = do(context(tctx))
    if json_:
        emit_json(out)
    elif out["changed"]:
        say(f"{out['location']}: schema migrated from version {out['from']} to {out['to']}")
    else:
        say(f"{out['location']}: schema already at version {out['to']}")


@db_app.command("protect")
def protect(tctx: typer.Context,
            json_: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Restore the audit table's append-only protection (admin; audited)."""
    from mes.services.dbadmin import protect as do

    out = do(context(tctx))
    if json_:
        emit_json(out)
    elif out["restored"]:
        say(f"{out['location']}: append-only protection restored ({'; '.join(out['restored'])})")
    else:
        say(f"{out['location']}: the audit trail is append-only: nothing to restore")


@db_app.command("copy")
def copy(
    tctx: typer.Context,
    to: Annotated[str, typer.Option("--to", help="the empty target: postgresql://… or a file")],
    from_: Annotated[str | None, typer.Option(
        "--from", help="the source database (default: the workspace's, --db / MES_DB)")] = None,
    json_: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Copy a whole workspace database into an empty one (admin of the source), checked:
    audit chain recomputed on the target, row counts and audit head compared."""
    from mes.services.dbadmin import copy as do

    ctx = context(tctx)
    out: dict[str, Any] = do(ctx, from_ or ctx.db, to)
    if json_:
        emit_json(out)
        return
    total = sum(out["tables"].values())
    head = out["audit_head"]
    say(f"copied {total} rows in {len(out['tables'])} tables from {out['from']} to {out['to']}")
    say(f"verified on the target: audit chain ok ({out['verified']['events']} events), "
        f"row counts equal, audit head {head['seq']} {head['hash']}")
