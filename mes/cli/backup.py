"""mes backup FILE, mes backup verify FILE."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from mes.cli.common import context, emit_json, say


def register(app: typer.Typer) -> None:
    app.command("backup", help=HELP)(backup)


HELP = """Back up the database while stations keep writing, or check a backup.

\b
  mes backup FILE          consistent online copy (admin or quality; audited)
  mes backup verify FILE   schema version, integrity check, audit chain, data
                           against the audit trail (exit 7 if anything is wrong)

To restore: stop the stations, run `mes backup verify FILE`, copy FILE to the
workspace as mes.db (remove mes.db-wal and mes.db-shm first), run `mes audit verify`.
"""


def backup(tctx: typer.Context,
           first: Annotated[str, typer.Argument(metavar="FILE | verify",
                                                help="backup file to write, or `verify`")],
           file: Annotated[Path | None, typer.Argument(
               metavar="[FILE]", help="with `verify`: the backup file to check")] = None,
           json_: Annotated[bool, typer.Option("--json")] = False) -> None:
    from mes.errors import InvalidInput
    from mes.services import backup as svc

    if first == "verify":
        if file is None:
            raise InvalidInput("which file? `mes backup verify FILE`")
        out = svc.verify_backup(file)
        if json_:
            emit_json(out)
            return
        _print(out, "backup OK")
        return
    if file is not None:
        raise InvalidInput(f"unexpected {file}: `mes backup FILE` or `mes backup verify FILE`")
    out = svc.backup(context(tctx), Path(first))
    if json_:
        emit_json(out)
        return
    _print(out, "OK backup written")
    say(f"  sha256 {out['sha256']}")


def _print(d: dict[str, Any], title: str) -> None:
    say(f"{title}: {d['file']} ({d['bytes']} bytes), schema v{d['schema_version']}, "
        f"integrity {d['integrity']}")
    say(f"  audit chain OK: {d['events']} events, head {d['head_seq']} {d['head_hash']}"
        + (f", last event {d['last_event_at'][:19]}Z" if d.get("last_event_at") else ""))
    counts = ", ".join(f"{k} {v}" for k, v in d["counts"].items())
    say(f"  site {d['site']}: {counts}")
    if d.get("reconciled"):
        say("  data matches the audit trail (materials, lots, units, steps, edges, signatures)")
