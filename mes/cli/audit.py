"""mes audit log|verify."""

from __future__ import annotations

from typing import Annotated

import typer

from mes.cli.common import context, emit_json, listing, say

audit_app = typer.Typer(help="The hash-chained audit trail.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(audit_app, name="audit")


@audit_app.command("log")
def log(tctx: typer.Context,
        entity: Annotated[str | None, typer.Option(help="lot, serial, material, user…")] = None,
        limit: Annotated[int | None, typer.Option(help="only the last N events")] = None,
        json_: Annotated[bool, typer.Option("--json")] = False,
        csv_: Annotated[bool, typer.Option("--csv")] = False) -> None:
    """Audit events, oldest first."""
    from mes.services.audit import log as get

    listing(get(context(tctx), entity, limit),
            ["seq", "at", "username", "station", "action", "entity_type", "entity_id", "old",
             "new", "reason"], as_json=json_, as_csv=csv_)


@audit_app.command("verify")
def verify(tctx: typer.Context,
           anchor: Annotated[str | None, typer.Option(
               help="a chain head hash printed on a DHR: check it is still in the chain")]
           = None,
           json_: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Recompute the hash chain; name the first bad event (exit 7)."""
    from mes.services.audit import verify as do_verify

    out = do_verify(context(tctx), anchor)
    if json_:
        emit_json(out)
        return
    say(f"audit chain OK: {out['events']} events, head {out['head_seq']} {out['head_hash']}")
    if anchor:
        say(f"anchor found at event {out['anchor_seq']}")
