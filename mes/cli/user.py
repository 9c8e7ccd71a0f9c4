"""mes user add|set|qualify|unqualify|unlock|list."""

from __future__ import annotations

from typing import Annotated

import typer

from mes.cli.common import context, listing, new_password, parse_date, say

user_app = typer.Typer(help="Users, roles and qualifications.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(user_app, name="user")


@user_app.command("add")
def add(
    tctx: typer.Context,
    username: str,
    role: Annotated[str, typer.Option(help="operator | technician | quality | admin")],
    name: Annotated[str, typer.Option(help="printed full name (shown on signatures)")],
    password_stdin: Annotated[bool, typer.Option("--password-stdin")] = False,
    sites: Annotated[str | None, typer.Option(
        help="limit the role to these sites: S1,S2 (default: all sites)")] = None,
) -> None:
    """Add a user (admin). User names are never reused."""
    from mes.services.auth import add_user, current_actor

    ctx = context(tctx)
    current_actor(ctx)  # the admin authenticates before the new password is read
    password = new_password(f"password for {username}", password_stdin)
    add_user(ctx, username, name, role, password, sites)
    say(f"user {username} added ({role}{', sites ' + sites.upper() if sites else ''})")


@user_app.command("set")
def set_(
    tctx: typer.Context,
    username: str,
    sites: Annotated[str, typer.Option(
        help="the sites the user's role acts for: S1,S2, or 'all'")],
) -> None:
    """Limit a user's role to some sites, or lift the limit (admin; audited)."""
    from mes.services.auth import set_user_sites

    out = set_user_sites(context(tctx), username, sites)
    what = out["sites"] if out["sites"] == "all" else ", ".join(out["sites"])
    say(f"{username} acts for {'all sites' if what == 'all' else 'sites ' + what}")


@user_app.command("qualify")
def qualify(
    tctx: typer.Context,
    username: str,
    station_type: str,
    until: Annotated[str, typer.Option(help="valid until YYYY-MM-DD")],
) -> None:
    """Qualify a user for a station type until a date (the latest grant is in force)."""
    from mes.services.auth import qualify as do_qualify

    valid = parse_date(until, "--until")
    assert valid is not None
    do_qualify(context(tctx), username, station_type, valid)
    say(f"{username} qualified for {station_type} until {valid}")


@user_app.command("unqualify")
def unqualify(
    tctx: typer.Context,
    username: str,
    station_type: str,
    reason: Annotated[str, typer.Option(help="why (recorded)")],
) -> None:
    """Revoke a user's qualification for a station type now (quality; audited)."""
    from mes.services.auth import unqualify as do_unqualify

    do_unqualify(context(tctx), username, station_type, reason)
    say(f"{username} no longer qualified for {station_type}: {reason}")


@user_app.command("unlock")
def unlock(tctx: typer.Context, username: str) -> None:
    """Unlock an account locked after failed passwords (admin)."""
    from mes.services.auth import unlock as do_unlock

    do_unlock(context(tctx), username)
    say(f"{username} unlocked")


@user_app.command("deactivate")
def deactivate(tctx: typer.Context, username: str,
               reason: Annotated[str, typer.Option(help="why (recorded)")]) -> None:
    """Deactivate a user (admin). Records and signatures stay; the name is never reused."""
    from mes.services.auth import deactivate as do_deactivate

    do_deactivate(context(tctx), username, reason)
    say(f"{username} deactivated")


@user_app.command("list")
def list_(tctx: typer.Context,
          json_: Annotated[bool, typer.Option("--json")] = False,
          csv_: Annotated[bool, typer.Option("--csv")] = False) -> None:
    """List users with their roles and qualifications."""
    from mes.services.auth import list_users

    listing(list_users(context(tctx)),
            ["username", "full_name", "role", "active", "locked", "qualifications", "sites"],
            as_json=json_, as_csv=csv_)


@user_app.command("passwd")
def passwd(tctx: typer.Context,
           username: Annotated[str | None, typer.Argument(
               help="another user's name: an admin reset (changed again at that user's "
                    "next login); default: your own")] = None,
           password_stdin: Annotated[bool, typer.Option("--password-stdin")] = False) -> None:
    """Change your password (the current one first), or reset another user's (admin)."""
    from mes.cli.common import STDIN
    from mes.services.auth import begin_password_change, set_password

    STDIN.enabled = STDIN.enabled or password_stdin
    ctx = context(tctx)
    change = begin_password_change(ctx, username)
    password = new_password(f"new password for {change.target}", STDIN.enabled)
    out = set_password(ctx, change, password)
    say(f"password of {out['username']} reset: {out['username']} must change it at the next "
        "login" if out["reset"] else f"password of {out['username']} changed")
