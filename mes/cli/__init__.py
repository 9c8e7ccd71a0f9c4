"""The `mes` command line: one module per noun, one error funnel, one exit-code table.

Each module in MODULES has `register(app)`. Command bodies parse, call one service and
render; heavy libraries are imported inside the commands that need them.
"""

from __future__ import annotations

import copy
import importlib
import sys
from typing import Annotated

import typer

from mes import __version__
from mes.errors import ExitCode, MesError

HELP = """mes: manufacturing execution for medical-device plants.

Examples:

  mes init --site-name "Usine Casablanca" --country MA --manufacturer "OxiMaroc SA"
  --address "Casablanca"

  mes login fatima --station PNP-1

  mes lot create PCBA-OXI-100 --qty 50

  mes step complete PB-000001 --op 40 --station REFLOW-1 --data peak_temp_c=243 --data tal_s=62

  mes trace back SN-000123;  mes audit verify

Exit codes: 0 ok, 1 internal error, 2 usage, 3 not found, 4 refused by a rule,
5 invalid input, 6 not authorised, 7 integrity failure.
"""

app = typer.Typer(help=HELP, no_args_is_help=True, add_completion=False,
                  pretty_exceptions_enable=False, rich_markup_mode=None)

_ACTIVE: list = []  # contexts to close when the command ends

# CLI module -> the top-level names it registers or extends. Only the modules of the
# name being run are imported: an operator's `mes step complete` never loads the rest.
MODULES: dict[str, tuple[str, ...]] = {
    "workspace": ("init", "login", "logout", "whoami", "config"),
    "user": ("user",), "station": ("station",), "routing": ("routing",), "lot": ("lot",),
    "step": ("step",), "material": ("material",), "audit": ("audit",),
    "process": ("flash", "firmware", "molding", "cfx"),
    "label": ("origin", "label"),
    "quality": ("recall", "ship", "trace", "ncr", "report", "lot"), "dhr": ("dhr",),
    "pack": ("pack", "unpack", "container", "epcis"),
    "demo": ("demo",), "station_loop": ("station",), "backup": ("backup",), "db": ("db",),
    "spc": ("spc",), "report": ("report",),  # issue 16 (report: adds `report efficiency`)
    "tool": ("tool",), "site": ("site",), "catalog": ("catalog",),
    "instruction": ("wi", "training"),  # issue 18: work instructions and training
}
_REGISTERED: set[str] = set()


def _version(value: bool) -> None:
    if value:
        print(f"mes {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    db: Annotated[str | None, typer.Option(
        "--db", envvar="MES_DB", help="database file or postgresql:// URL "
        "(default: mes.db in the workspace)")] = None,
    user: Annotated[str | None, typer.Option(
        "--user", help="act as this user (scripts); default: the station session")] = None,
    password_stdin: Annotated[bool, typer.Option(
        "--password-stdin", help="read passwords from standard input, one per line")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="show tracebacks")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="print the version")] = False,
) -> None:
    from mes.cli.common import STDIN, ask_password
    from mes.services.context import Context, default_db, workspace_from_env

    workspace = workspace_from_env()
    STDIN.enabled = password_stdin
    ctx.obj = Context(workspace=workspace, db=db or default_db(workspace), user=user,
                      password_source=ask_password)
    _ACTIVE.append(ctx.obj)
    if user and password_stdin:
        ctx.obj.password(f"password for {user}: ")  # the acting user's comes first on stdin


def register_commands(name: str | None = None) -> typer.Typer:
    """Register the modules that provide `name` (all of them for None or an unknown name)."""
    wanted = [m for m, names in MODULES.items() if name in names] or list(MODULES)
    for module in wanted:
        if module not in _REGISTERED:
            importlib.import_module(f"mes.cli.{module}").register(app)
            _REGISTERED.add(module)
    return app


_ROOT_VALUE_OPTIONS = ("--db", "--user")  # root options that take a value


def _command_name(args: list[str]) -> str | None:
    """The first word of argv that is not a root option (or its value)."""
    i = 0
    while i < len(args) and args[i].startswith("-") and args[i] != "--":
        i += 2 if args[i] in _ROOT_VALUE_OPTIONS else 1
    return args[i] if i < len(args) and args[i] != "--" else None


def _only(t: typer.Typer, args: list[str]) -> typer.Typer:
    """`t` keeping only the command or group that `args` name (recursively).

    typer builds a click object for every registered command, evaluating its type hints, on
    each run: for ~60 commands that cost more than importing typer. An operator command needs
    one. A name that matches nothing keeps everything, so help and usage errors are typer's.
    """
    name = _command_name(args)
    if name is None:
        return t
    rest = args[args.index(name) + 1:]
    commands = [c for c in t.registered_commands if name == (
        c.name or typer.main.get_command_name(getattr(c.callback, "__name__", "")))]
    groups = [copy.copy(g) for g in t.registered_groups if g.name == name]
    if not commands and not groups:
        return t
    for g in groups:
        if g.typer_instance is not None:
            g.typer_instance = _only(g.typer_instance, rest)
    pruned = copy.copy(t)
    pruned.registered_commands, pruned.registered_groups = commands, groups
    return pruned


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the command and turn every failure into one line and an exit code."""
    try:  # typer >= 0.24 vendors click as typer._click; older typer uses click itself
        from typer._click import exceptions as cx
    except ImportError:  # pragma: no cover
        from click import exceptions as cx  # type: ignore[no-redef]

    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    register_commands(_command_name(args))
    command = typer.main.get_command(_only(app, args))
    code = 0
    try:
        command.main(args=args, prog_name="mes", standalone_mode=False)
    except typer.Exit as exc:
        code = exc.exit_code
    except cx.NoArgsIsHelpError as exc:
        exc.show()
        code = ExitCode.USAGE
    except cx.UsageError as exc:
        hint = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx is not None else ""
        sys.stderr.write(f"mes: {exc.format_message()}{hint}\n")
        code = ExitCode.USAGE
    except cx.ClickException as exc:
        sys.stderr.write(f"mes: {exc.format_message()}\n")
        code = ExitCode.USAGE
    except typer.Abort:
        sys.stderr.write("mes: aborted\n")
        code = ExitCode.INTERNAL
    except MesError as exc:
        if debug:
            raise
        sys.stderr.write(f"mes: {exc}\n")
        code = exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("mes: interrupted\n")
        code = 130
    except Exception as exc:
        if debug:
            raise
        sys.stderr.write(f"mes: internal error: {type(exc).__name__}: {exc} "
                         "(run again with --debug for the traceback and report it)\n")
        code = ExitCode.INTERNAL
    finally:
        while _ACTIVE:
            active = _ACTIVE.pop()
            warning = active.exposure_warning()
            if warning:
                sys.stderr.write(f"mes: {warning}\n")
            active.close()
    sys.stdout.flush()
    return int(code)


__all__ = ["app", "main"]
