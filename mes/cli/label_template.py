"""mes label template load|approve|list|show|diff: label templates as controlled documents."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from mes.cli.common import context, emit_json, listing, say, show

template_app = typer.Typer(help="Label templates as controlled documents (draft, approved).",
                           no_args_is_help=True)


@template_app.command("load")
def load(tctx: typer.Context, files: list[Path]) -> None:
    """Load template files (e.g. labels/*.yaml); each new version becomes a draft."""
    from mes.errors import ValidationFailed
    from mes.services.label_templates import load as do_load

    try:
        results = do_load(context(tctx), files)
    except ValidationFailed as exc:
        for p in exc.problems:
            typer.echo(str(p), err=True)
        raise
    for r in results:
        say(f"label template {r['name']} v{r['version']}: {r['action']} "
            f"(sha256 {r['sha256'][:16]}…)")


@template_app.command("approve")
def approve(tctx: typer.Context, name: str,
            version: Annotated[int, typer.Option(help="the draft version to approve")]) -> None:
    """Approve a draft template version (quality; signature over its sha256)."""
    from mes.services.label_templates import approve as do_approve

    out = do_approve(context(tctx), name, version)
    sig = out["signature"]
    say(f"label template {name} v{version} approved (sha256 {out['sha256'][:16]}…), signed by "
        f"{sig['full_name']} ({sig['meaning']})")


@template_app.command("list")
def list_(tctx: typer.Context,
          json_: Annotated[bool, typer.Option("--json")] = False,
          csv_: Annotated[bool, typer.Option("--csv")] = False) -> None:
    """Every loaded template version and its status."""
    from mes.services.label_templates import list_all

    listing(list_all(context(tctx)), ["name", "version", "kind", "status", "sha256",
                                      "loaded_by", "approved_by", "approved_at"],
            as_json=json_, as_csv=csv_, title="label templates (controlled)")


@template_app.command("show")
def show_(tctx: typer.Context, name: str,
          version: Annotated[int | None, typer.Option()] = None,
          json_: Annotated[bool, typer.Option("--json")] = False) -> None:
    """A template version (the approved one unless --version), its text and signatures."""
    from mes.services.label_templates import show as get

    def human(d: dict[str, Any]) -> None:
        say(f"{d['name']} v{d['version']} [{d['status']}] {d['kind']} label")
        say(f"  file {d['source_file']} sha256 {d['sha256']}")
        say(f"  loaded {d['loaded_at'][:19]}Z by {d['loaded_by']}")
        for s in d["signatures"]:
            say(f"  signed: {s['full_name']} — {s['meaning']} — {s['local_time']}")
        say(d["text"].rstrip("\n"))

    show(get(context(tctx), name, version), json_, human)


@template_app.command("diff")
def diff(tctx: typer.Context, name: str, a: int, b: int,
         json_: Annotated[bool, typer.Option("--json")] = False) -> None:
    """What changed between two versions of a template (unified diff of the YAML)."""
    from mes.services.label_templates import diff as do_diff

    lines = do_diff(context(tctx), name, a, b)
    if json_:
        emit_json(lines)
        return
    for line in lines or [f"{name} v{a} and v{b} have the same text"]:
        say(line)
