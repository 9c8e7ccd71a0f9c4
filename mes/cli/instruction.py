"""mes wi load|approve|list|show|units and mes training record|list (issue 18)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mes.cli.common import context, listing, say, show

wi_app = typer.Typer(help="Work instructions: controlled documents per operation.",
                     no_args_is_help=True)
training_app = typer.Typer(help="Training records on work instruction revisions.",
                           no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(wi_app, name="wi")
    app.add_typer(training_app, name="training")


@wi_app.command("load")
def load(
    tctx: typer.Context,
    doc: str,
    file: Annotated[Path, typer.Option(help="the document (PDF, text…): a copy is kept")],
    revision: Annotated[str, typer.Option(help="revision of the document, e.g. A, B, 03")],
    op: Annotated[list[str], typer.Option(help="PART:OP it applies to, repeatable")],
    title: Annotated[str | None, typer.Option(help="title (default: the file name)")] = None,
) -> None:
    """Load a revision as a draft (technician/quality): file copied with its sha256."""
    from mes.services.instructions import load as load_revision

    row = load_revision(context(tctx), doc, file, revision, op, title)
    say(f"work instruction {row['doc_id']} rev {row['revision']}: draft "
        f"(sha256 {row['sha256'][:12]}…, ops {', '.join(row['ops'])})")


@wi_app.command("approve")
def approve(tctx: typer.Context, doc: str,
            revision: Annotated[str, typer.Option(help="the draft revision")]) -> None:
    """Approve a draft revision (quality, signed; not its author): it is in force."""
    from mes.services.instructions import approve as approve_revision

    out = approve_revision(context(tctx), doc, revision)
    was = f" (supersedes rev {', '.join(out['superseded'])})" if out["superseded"] else ""
    say(f"work instruction {out['doc_id']} rev {out['revision']}: approved by "
        f"{out['signature']['full_name']}{was}")


@wi_app.command("list")
def list_(tctx: typer.Context,
          json_: Annotated[bool, typer.Option("--json")] = False,
          csv_: Annotated[bool, typer.Option("--csv")] = False) -> None:
    """Every revision of every work instruction, with its status and operations."""
    from mes.services.instructions import list_instructions

    rows = list_instructions(context(tctx))
    if not json_:  # a spreadsheet cell, not a JSON list
        rows = [{**r, "ops": " ".join(r["ops"])} for r in rows]
    listing(rows,
            ["doc_id", "revision", "status", "title", "ops", "sha256", "loaded_by",
             "approved_by", "approved_at", "file_ok"], as_json=json_, as_csv=csv_)


@wi_app.command("show")
def show_(tctx: typer.Context, doc: str,
          revision: Annotated[str | None, typer.Option(
              help="default: the revision in force (else the latest)")] = None,
          json_: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Show a revision: file, hash, operations, signatures, the document's revisions."""
    from mes.services.instructions import show as show_revision

    def human(d: dict) -> None:
        for k in ("doc_id", "revision", "title", "status", "ops", "file", "file_ok", "sha256",
                  "loaded_by", "loaded_at", "approved_by", "approved_at"):
            say(f"{k}: {' '.join(d[k]) if k == 'ops' else d[k]}")
        for s in d["signatures"]:
            say(f"  signed {s['meaning']} by {s['full_name']} at {s['signed_at'][:16]}")
        for r in d["revisions"]:
            say(f"  rev {r['revision']}: {r['status']}")

    show(show_revision(context(tctx), doc, revision), json_, human)


@wi_app.command("units")
def units(tctx: typer.Context, doc: str,
          revision: Annotated[str | None, typer.Option(help="one revision (default: all)")]
          = None,
          json_: Annotated[bool, typer.Option("--json")] = False,
          csv_: Annotated[bool, typer.Option("--csv")] = False) -> None:
    """Which units and lots were built by whom under which revision."""
    from mes.services.instructions import units as built_under

    listing(built_under(context(tctx), doc, revision),
            ["revision", "item", "lot", "part", "op", "station", "user", "status", "at"],
            as_json=json_, as_csv=csv_)


@training_app.command("record")
def record(tctx: typer.Context, user: str, doc: str,
           revision: Annotated[str, typer.Option(help="the revision trained on")]) -> None:
    """Record that USER was trained on DOC at REVISION (trainer: technician/quality, signed)."""
    from mes.services.training import record as record_training

    row = record_training(context(tctx), user, doc, revision)
    say(f"training recorded: {row['username']} on {row['doc_id']} rev {row['revision']} "
        f"(signed by {row['signed_by']})")


@training_app.command("list")
def list_trainings(tctx: typer.Context, doc: str,
                   json_: Annotated[bool, typer.Option("--json")] = False,
                   csv_: Annotated[bool, typer.Option("--csv")] = False) -> None:
    """Who was trained on which revision of DOC, when and by whom."""
    from mes.services.training import list_trainings as trainings

    listing(trainings(context(tctx), doc),
            ["user", "name", "revision", "revision_status", "trained_at", "trainer"],
            as_json=json_, as_csv=csv_)
