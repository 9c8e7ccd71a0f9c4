"""mes site add|list|show (issue 20: several sites in one database)."""

from __future__ import annotations

from typing import Annotated

import typer

from mes.cli.common import context, listing, say, show, text

site_app = typer.Typer(help="Sites: company, GS1 GLN, address, country, time zone.",
                       no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(site_app, name="site")


@site_app.command("add")
def add(
    tctx: typer.Context,
    site_id: str,
    name: Annotated[str, typer.Option(help="site name, e.g. 'Usine Tanger'")],
    company: Annotated[str, typer.Option(help="the company that runs the site")],
    address: Annotated[str, typer.Option(help="postal address")],
    country: Annotated[str, typer.Option(help="ISO 3166 alpha-2, e.g. MA")],
    gln: Annotated[str | None, typer.Option(help="GS1 GLN of the site (13 digits)")] = None,
    timezone: Annotated[str | None, typer.Option(
        help="IANA time zone (default from the country: MA → Africa/Casablanca)")] = None,
) -> None:
    """Add a site (admin; audited)."""
    from mes.services.sites import add_site

    row = add_site(context(tctx), site_id.upper(), name=name, company=company, gln=gln,
                   address=address, country=country, timezone=timezone)
    say(f"site {row['id']} ({row['name']}, {row['company']}, {row['country']}, "
        f"{row['timezone']}) added")


@site_app.command("list")
def list_(tctx: typer.Context,
          json_: Annotated[bool, typer.Option("--json")] = False,
          csv_: Annotated[bool, typer.Option("--csv")] = False) -> None:
    """List the sites with their number of stations."""
    from mes.services.sites import list_sites

    listing(list_sites(context(tctx)),
            ["id", "name", "company", "gln", "country", "timezone", "home", "stations"],
            as_json=json_, as_csv=csv_)


@site_app.command("show")
def show_(tctx: typer.Context, site_id: str,
          json_: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Show a site and its stations."""
    from mes.services.sites import show_site

    def human(d: dict) -> None:
        for k, v in d.items():
            say(f"{k}: {text(v)}")

    show(show_site(context(tctx), site_id.upper()), json_, human)
