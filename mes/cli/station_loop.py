"""mes station run: the long-running scanner loop (docs/STATION.md).

One process, one database connection: each scan costs only its transaction. Every line
gets one answer at once: `OK …`, `FAIL …` (recorded, item on hold), `REFUSED (reason): …`
or `ERROR … (internal)`; nothing but end of input (Ctrl-D) or QUIT ends the loop.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from mes.cli.common import context, note


def register(app: typer.Typer) -> None:
    from mes.cli.station import station_app

    station_app.command("run")(run)


def run(
    tctx: typer.Context,
    station_id: Annotated[str, typer.Argument(help="this station, e.g. PNP-1")],
    prompt: Annotated[bool | None, typer.Option(
        "--prompt/--no-prompt", help="show a prompt (default: on a terminal)")] = None,
) -> None:
    """Scan loop for a barcode scanner (or typed commands), one answer per line.

    Log in first (`mes login USER --station ID`) or pass --user USER --password-stdin
    (the password is the first line of input). Scan HELP for the grammar.
    """
    from mes.errors import ExitCode, MesError
    from mes.services.station_loop import StationLoop, station_words

    loop = StationLoop(context(tctx), station_id.strip().upper())
    actor = loop.begin()  # refusal here ends the command with its exit code
    interactive = sys.stdin.isatty() if prompt is None else prompt
    note(f"station {loop.station} ({loop.station_type}): {actor.full_name} ({actor.username})"
         " — scan HELP for the barcodes, Ctrl-D to end")
    counts = {"OK": 0, "FAIL": 0, "REFUSED": 0, "ERROR": 0}
    while True:
        if interactive:
            sys.stderr.write(f"{loop.station}> ")
            sys.stderr.flush()
        try:
            line = sys.stdin.readline()
        except UnicodeDecodeError:
            answer, status = "REFUSED (invalid-input): unreadable characters: scan again", "REFUSED"
        else:
            if not line:  # end of input
                break
            try:
                reply = loop.handle(line)
            except MesError as exc:
                name = ExitCode(exc.exit_code).name.lower().replace("_", "-")
                answer, status = f"REFUSED ({name}): {station_words(exc.message)}", "REFUSED"
            except Exception as exc:  # the loop must survive: report it and carry on
                answer, status = (f"ERROR {type(exc).__name__}: {exc} (internal): report it",
                                  "ERROR")
            else:
                if reply is None:
                    continue
                if reply.status == "QUIT":
                    break
                answer, status = str(reply), reply.status
        counts[status] = counts.get(status, 0) + 1
        sys.stdout.write(answer + "\n")
        sys.stdout.flush()
    note(f"station {loop.station}: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
