"""Shared CLI plumbing: the service context, passwords, and output (json/csv/table/plain,
progress bars).

rich is imported only when a table or a bar is drawn, so operator commands stay fast.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import typer

from mes.errors import InvalidInput, NotAuthorised
from mes.services.context import Context


class StdinLines:
    """Passwords from standard input, one per line, in the order they are asked for."""

    def __init__(self) -> None:
        self.enabled = False

    def read(self, what: str) -> str:
        line = sys.stdin.readline()
        if not line:
            raise NotAuthorised(f"--password-stdin: no line on standard input for {what}")
        return line.rstrip("\r\n")


STDIN = StdinLines()


def ask_password(prompt: str) -> str:
    if STDIN.enabled:
        return STDIN.read(prompt.rstrip(": "))
    if not sys.stdin.isatty():
        raise NotAuthorised("a password is needed and this is not a terminal: "
                            "pass --password-stdin")
    import getpass

    return getpass.getpass(prompt)


# Commands that must work before a database can be opened normally (a new or old workspace).
_NO_EAGER_LOGIN = frozenset({"init", "db"})


def _changing_password(tctx: typer.Context) -> bool:
    """`mes user passwd` authenticates itself: an expired or admin-reset password may still
    change itself, and nothing else."""
    return tctx.command_path.split()[-2:] == ["user", "passwd"]


def context(tctx: typer.Context) -> Context:
    root = tctx.find_root()
    obj = root.obj
    assert isinstance(obj, Context)
    if obj.user and STDIN.enabled and root.invoked_subcommand not in _NO_EAGER_LOGIN \
            and not _changing_password(tctx):
        # --user NAME --password-stdin is checked for every command, reads included: a wrong
        # password is refused (exit 6, counted and audited) as it is for writes.
        from mes.services.auth import current_actor

        current_actor(obj)
    return obj


def new_password(what: str, from_stdin: bool) -> str:
    """A password being set (new user, first admin): typed twice on a terminal."""
    if from_stdin or STDIN.enabled:
        STDIN.enabled = True
        return STDIN.read(what)
    if not sys.stdin.isatty():
        raise InvalidInput(f"{what}: not a terminal, pass --password-stdin")
    import getpass

    first = getpass.getpass(f"{what}: ")
    if getpass.getpass("again: ") != first:
        raise InvalidInput("the two passwords differ: try again")
    return first


def parse_date(value: str | None, what: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{what} {value!r} is not a date: use YYYY-MM-DD", field=what) from None


def parse_pairs(pairs: Sequence[str], what: str = "--data") -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(f"{what} {pair!r}: write NAME=VALUE", field=what)
        out[key.strip()] = value.strip()
    return out


# -- output ---------------------------------------------------------------------------------

def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def emit_csv(rows: Iterable[dict[str, Any]], columns: Sequence[str]) -> None:
    writer = csv.writer(sys.stdout)
    writer.writerow(columns)
    for r in rows:
        writer.writerow([_cell(r.get(c)) for c in columns])


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, dict | list):
        return json.dumps(v, ensure_ascii=False, sort_keys=True)
    return str(v)


def text(v: Any) -> str:
    """A value as a person reads it: no JSON or Python reprs in human output."""
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, dict):
        return ", ".join(f"{k} {text(x)}" for k, x in v.items()) or "-"
    if isinstance(v, list | tuple):
        return ", ".join(text(x) for x in v) or "-"
    return str(v)


def table(rows: Sequence[dict[str, Any]], columns: Sequence[str], title: str | None = None
          ) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=title, header_style="bold")
    for c in columns:
        t.add_column(c, overflow="fold")
    for r in rows:
        t.add_row(*[text(r.get(c)) for c in columns])
    # Not a terminal (a file, a pipe, a script): the table's own width, never cut.
    Console(width=None if sys.stdout.isatty() else 100_000).print(t)
    if not rows:
        note("(none)")


def listing(rows: Sequence[dict[str, Any]], columns: Sequence[str], *, as_json: bool,
            as_csv: bool, title: str | None = None) -> None:
    if as_json:
        emit_json(list(rows))
    elif as_csv:
        emit_csv(rows, columns)
    else:
        table(rows, columns, title)


def show(data: Any, as_json: bool, human: Callable[[Any], None]) -> None:
    emit_json(data) if as_json else human(data)


def say(message: str) -> None:
    sys.stdout.write(message + "\n")


def note(message: str) -> None:
    sys.stderr.write(message + "\n")


def existing_file(path: Path) -> Path:
    if not path.exists():
        from mes.errors import NotFound

        raise NotFound(f"{path}: no such file")
    return path


# on_progress(stage, done, total): what a long service call reports as it goes.
OnProgress = Callable[[str, int, int | None], None]


@contextmanager
def progress(label: str) -> Iterator[OnProgress | None]:
    """A rich progress bar (one line per stage) on a terminal; nothing otherwise (scripts,
    tests, output redirected). Drawn on stderr, so it is judged by stderr: a command's
    stdout (e.g. --json) may go to a file while the person still sees the bar."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(transient=True, console=Console(stderr=True)) as bar:
        tasks: dict[str, Any] = {}

        def update(stage: str, done: int, total: int | None) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(f"{label}: {stage}", total=total)
            bar.update(tasks[stage], completed=done, total=total)

        yield update
