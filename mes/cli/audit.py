"""mes audit log|verify|seal."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from mes.cli.common import context, emit_json, listing, note, say

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
    from mes.errors import InvalidInput
    from mes.services.audit import log as get

    if limit is not None and limit < 1:
        raise InvalidInput(f"--limit {limit}: give a number of events, 1 or more", field="limit")
    rows = get(context(tctx), entity, limit)
    if json_ or csv_:
        listing(rows, ["seq", "at", "username", "station", "action", "entity_type", "entity_id",
                       "old", "new", "reason"], as_json=json_, as_csv=csv_)
        return
    for row in rows:
        say(event_line(row))
    if not rows:
        note("(no audit events)")


def event_line(e: dict[str, Any]) -> str:
    """One readable line: seq, UTC time, who@where, action, entity, what changed, why."""
    who = (e["username"] or "system") + (f"@{e['station']}" if e["station"] else "")
    line = (f"{e['seq']:>6}  {e['at'][:19].replace('T', ' ')}Z  {who:<16} {e['action']:<18} "
            f"{e['entity_type']} {e['entity_id']}")
    change = _change(e["old"], e["new"])
    if change:
        line += f": {_short(change, 160)}"
    if e["reason"]:
        line += f" — {e['reason']}"
    return line


def _short(value: Any, width: int = 40) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False,
                                                            sort_keys=True, default=str)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _change(old: Any, new: Any) -> str:
    if isinstance(old, dict) or isinstance(new, dict):
        o = old if isinstance(old, dict) else {}
        n = new if isinstance(new, dict) else {}
        parts = []
        for key in list(dict.fromkeys([*o, *n])):
            if key in o and key in n:
                if o[key] != n[key]:
                    parts.append(f"{key} {_short(o[key])} → {_short(n[key])}")
            elif key in n:
                if n[key] is None or n[key] == [] or n[key] == {}:
                    continue
                parts.append(f"{key}={_short(n[key])}")
            else:
                parts.append(f"{key} {_short(o[key])} → (none)")
        return ", ".join(parts)
    if old is None and new is None:
        return ""
    if old is None:
        return _short(new)
    return f"{_short(old)} → {_short(new)}"


@audit_app.command("verify")
def verify(tctx: typer.Context,
           anchor: Annotated[str | None, typer.Option(
               help="a chain head hash printed on a DHR: check it is still in the chain")]
           = None,
           reconcile: Annotated[bool, typer.Option(
               "--reconcile", help="also compare every record row with what the events say")]
           = False,
           files: Annotated[bool, typer.Option(
               "--files", help="also re-hash every file the events name (labels, DHRs…)")]
           = False,
           json_: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Recompute the hash chain, check it against the seals and the append-only protection;
    name the first bad event (exit 7)."""
    from mes.services.audit import verify as do_verify

    out = do_verify(context(tctx), anchor, reconcile=reconcile, files=files)
    if out["seals"]["warning"]:
        note(f"mes: {out['seals']['warning']}")
    if json_:
        emit_json(out)
        return
    say(f"audit chain OK: {out['events']} events, head {out['head_seq']} {out['head_hash']}")
    newest = out["seals"]["newest"]
    if newest:
        say(f"seals OK: {out['seals']['seals']} seals, the newest of event {newest['seq']} "
            f"at {newest['at']}")
    if anchor:
        say(f"anchor found at event {out['anchor_seq']}")
    if reconcile:
        say(f"records match the audit trail ({out['reconcile']['events']} events replayed, "
            f"{out['reconcile']['checked']['rows']} rows compared)")
    if files:
        say(f"files match the audit trail ({out['files']['checked']} files re-hashed)")


@audit_app.command("alerts")
def alerts(tctx: typer.Context,
           open_: Annotated[bool, typer.Option("--open", help="only the open ones")] = False,
           json_: Annotated[bool, typer.Option("--json")] = False,
           csv_: Annotated[bool, typer.Option("--csv")] = False) -> None:
    """What quality must look at: lockouts, sessions used on another computer, origin
    decisions that contradict printed or shipped claims (quality, admin)."""
    from mes.services.alerts import alerts as get

    listing(get(context(tctx), open_only=open_), ["seq", "at", "kind", "subject", "open",
                                                  "detail"],
            as_json=json_, as_csv=csv_, title="alerts")


@audit_app.command("seal")
def seal(tctx: typer.Context, json_: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Seal the chain head now: a signed line in the seal journal(s), outside the database."""
    from mes.services.audit import seal as do_seal

    out = do_seal(context(tctx))
    if json_:
        emit_json(out)
        return
    say(f"sealed event {out['seq']} {out['hash']} at {out['at']} in "
        + ", ".join(out["journals"]))
