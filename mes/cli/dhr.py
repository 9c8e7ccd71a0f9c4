"""mes dhr LOT (write), mes dhr review LOT, mes dhr versions LOT: device history records."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from mes.cli.common import context, emit_json, listing, note, say, show


class _WriteByDefault(TyperGroup):
    """`mes dhr LOT …` means `mes dhr write LOT …`; the other words are subcommands."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["write", *args]
        return list(super().parse_args(ctx, args))


dhr_app = typer.Typer(cls=_WriteByDefault, no_args_is_help=True,
                      help="Device history records: write (default), review, versions.")

JSON = Annotated[bool, typer.Option("--json", help="print JSON (data only on stdout)")]


def register(app: typer.Typer) -> None:
    app.add_typer(dhr_app, name="dhr")


@dhr_app.command("write")
def write(tctx: typer.Context, lot: str,
          out: Annotated[Path | None, typer.Option(
              "--out", help="directory for the files (default: lots/<lot>/)")] = None,
          units: Annotated[bool, typer.Option(
              "--units", help="add the per-unit appendix to the PDF")] = False,
          reason: Annotated[str | None, typer.Option(
              help="why a new version of a released DHR is written")] = None,
          json_: JSON = False) -> None:
    """Write the DHR of a lot: dhr.pdf, dhr.json and the per-unit CSV annex.

    Released lots: the DHR is frozen; a changed record is filed as dhr-vN.pdf."""
    from mes.services.dhr import write_dhr

    res = write_dhr(context(tctx), lot, out, units_appendix=units, reason=reason)
    d = res["dhr"]
    if json_:
        emit_json(d)
    else:
        say(res["pdf"])
        say(res["json"])
        say(res["csv"])
    rec = d["record"]
    if res["unchanged"]:
        note(f"version {res['version']} is frozen and the records have not changed: "
             "nothing new written")
    elif res["version"]:
        note(f"frozen version {res['version']} written")
    else:
        note("draft (the lot is not released)")
    note(f"{len(d['exceptions'])} exceptions · record sha256 {rec['sha256']} · chain head "
         f"#{d['chain_head']['seq']} {d['chain_head']['hash']}")


@dhr_app.command("review")
def review(tctx: typer.Context, lot: str, json_: JSON = False) -> None:
    """Quality reviews the DHR as generated from the records (signed: reviewed)."""
    from mes.services.dhr import review as run

    show(run(context(tctx), lot), json_, lambda d: say(
        f"DHR of lot {d['lot']} reviewed by {d['signed_by']}: sha256 {d['dhr_sha256']} "
        f"({d['exceptions']} exceptions) {d['pdf']}"))


@dhr_app.command("versions")
def versions(tctx: typer.Context, lot: str, json_: JSON = False) -> None:
    """The frozen versions of a lot's DHR, each with what changed."""
    from mes.services.dhr import versions_of

    rows = versions_of(context(tctx), lot)
    for r in rows:
        ch = r.get("changes") or {}
        r["changed"] = ", ".join(ch.get("sections") or []) if ch else "first release"
    listing(rows, ["version", "pdf", "written_at", "by", "pdf_sha256", "changed"],
            as_json=json_, as_csv=False, title=f"DHR versions of {lot}")
