"""mes init, login, logout, whoami, config."""

from __future__ import annotations

from typing import Annotated

import typer

from mes.cli.common import context, emit_json, new_password, say, show, table


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    app.command("login")(login)
    app.command("logout")(logout)
    app.command("whoami")(whoami)
    config_app = typer.Typer(help="Workspace settings (origin rule, currency).",
                             no_args_is_help=True)
    config_app.command("show")(config_show)
    config_app.command("set")(config_set)
    app.add_typer(config_app, name="config")


def init(
    tctx: typer.Context,
    site_name: Annotated[str, typer.Option(help="plant name, e.g. 'Usine Casablanca'")],
    country: Annotated[str, typer.Option(help="ISO 3166 alpha-2 country of the site")],
    manufacturer: Annotated[str, typer.Option(help="legal manufacturer name (labels)")],
    address: Annotated[str, typer.Option(help="manufacturer address (labels)")],
    admin: Annotated[str, typer.Option(help="user name of the first admin")] = "admin",
    admin_name: Annotated[str, typer.Option(help="printed full name of the first admin")]
    = "Administrator",
    site_id: Annotated[str, typer.Option(help="site identifier")] = "SITE-1",
    timezone: Annotated[str | None, typer.Option(
        help="IANA time zone of the site (default from the country: MA → Africa/Casablanca); "
        "signatures and printed local times use it")] = None,
    password_stdin: Annotated[bool, typer.Option("--password-stdin")] = False,
) -> None:
    """Create a workspace: the database, the site and the first admin."""
    from mes.services.workspace import init_workspace

    ctx = context(tctx)
    password = new_password(f"password for the new admin {admin}", password_stdin)
    out = init_workspace(ctx, site_name=site_name, country=country.upper(),
                         manufacturer=manufacturer, address=address, admin=admin,
                         admin_name=admin_name, password=password, site_id=site_id,
                         timezone=timezone)
    say(f"workspace ready: {out['db']} (site {out['site']}, admin {out['admin']}, "
        f"time zone {out['timezone']})")


def login(
    tctx: typer.Context,
    username: str,
    station: Annotated[str | None, typer.Option(help="the station this session runs at")] = None,
    password_stdin: Annotated[bool, typer.Option("--password-stdin")] = False,
) -> None:
    """Open a station session for USERNAME: 8 h at most, ended by an idle timeout
    (`session.idle_minutes`, 15 by default), valid on this computer (and station) only."""
    from mes.cli.common import STDIN
    from mes.services.auth import login as do_login

    STDIN.enabled = STDIN.enabled or password_stdin
    out = do_login(context(tctx), username, station)
    say(f"logged in: {out['full_name']} ({out['role']}) until {out['expires_at'][:16]}Z")


def logout(tctx: typer.Context) -> None:
    """End the station session."""
    from mes.services.auth import logout as do_logout

    who = do_logout(context(tctx))
    say(f"logged out {who}" if who else "no session was open")


def whoami(tctx: typer.Context,
           json_: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Who is logged in at this station."""
    from mes.services.auth import current_actor

    ctx = context(tctx)
    a = current_actor(ctx)
    data = {"username": a.username, "full_name": a.full_name, "role": a.role,
            "station": ctx.station}
    show(data, json_, lambda d: say(f"{d['full_name']} ({d['username']}, {d['role']})"))


def config_show(tctx: typer.Context,
                json_: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Show the workspace settings."""
    from mes.services.workspace import config

    data = config(context(tctx))
    if json_:
        emit_json(data)
    else:
        table([{"key": k, "value": v} for k, v in data.items()], ["key", "value"])


def config_set(tctx: typer.Context, key: str, value: str) -> None:
    """Change a setting (admin; audited)."""
    from mes.services.workspace import set_config

    set_config(context(tctx), key, value)
    say(f"{key} = {value}")
