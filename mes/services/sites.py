"""Sites in one database (issue 20): each site with its company, GS1 GLN, address,
country and time zone. Stations belong to a site; steps, signatures and labels record the
site where they happened; a user's roles may be limited to some sites."""

from __future__ import annotations

from typing import Any

from mes import clock
from mes.domain.ids import COUNTRY_RE, check_id
from mes.errors import InvalidInput, NotFound, Refused
from mes.services.auth import require
from mes.services.context import Context
from mes.services.localtime import check_zone, default_zone, site_zone
from mes.store import sites as site_store


def add_site(ctx: Context, site_id: str, *, name: str, company: str, gln: str | None,
             address: str, country: str, timezone: str | None) -> dict[str, Any]:
    """Admin setup, audited like `station add`. The GLN is checked (13 digits, GS1 check
    digit), the country is ISO 3166 alpha-2, the zone an IANA name (default: the
    country's, as at `mes init`)."""
    from mes.domain import gs1

    actor = require(ctx, "site.add")
    check_id(site_id, "site id")
    country = country.upper()
    if not COUNTRY_RE.fullmatch(country):
        raise InvalidInput(f"--country {country!r}: use an ISO 3166 alpha-2 code such as MA",
                           field="country")
    for what, value in (("--name", name), ("--company", company), ("--address", address)):
        if not value.strip():
            raise InvalidInput(f"a site needs {what}", field=what.lstrip("-"))
    gln = gs1.validate_gln(gln, "--gln") if gln else None
    zone = check_zone(timezone) if timezone else default_zone(country)
    store = ctx.store
    if store.get("sites", site_id):
        raise Refused(f"site {site_id} already exists: see `mes site show {site_id}`")
    if gln and store.find("sites", {"gln": gln}):
        raise Refused(f"GLN {gln} is already the GLN of another site: each site has its own")
    row = {"id": site_id, "name": name, "country": country, "manufacturer": company,
           "address": address, "gln": gln, "timezone": zone, "created_at": clock.now_iso()}
    with store.transaction() as tx:
        tx.insert("sites", row)
        tx.append_audit(username=actor.username, station=ctx.station, action="site.add",
                        entity_type="site", entity_id=site_id,
                        new={k: v for k, v in row.items() if k != "created_at"})
    return present(ctx, row)


def present(ctx: Context, row: dict[str, Any]) -> dict[str, Any]:
    store = ctx.store
    return {"id": row["id"], "name": row["name"], "company": row["manufacturer"],
            "gln": row.get("gln") or (_home_gln(ctx) if _is_home(ctx, row["id"]) else None),
            "address": row["address"], "country": row["country"],
            "timezone": site_zone(store, row["id"]),
            "home": _is_home(ctx, row["id"]), "created_at": row["created_at"]}


def _is_home(ctx: Context, site_id: str) -> bool:
    return site_store.home_site_id(ctx.store) == site_id


def _home_gln(ctx: Context) -> str | None:
    from mes.services.settings import setting

    return setting(ctx.store, "gs1.site_gln") or None


def list_sites(ctx: Context) -> list[dict[str, Any]]:
    counts = site_store.station_counts(ctx.store)
    return [{**present(ctx, r), "stations": counts.get(r["id"], 0)}
            for r in site_store.all_sites(ctx.store)]


def show_site(ctx: Context, site_id: str) -> dict[str, Any]:
    row = ctx.store.get("sites", site_id)
    if row is None:
        raise NotFound(f"site {site_id} is not known: see `mes site list`")
    stations = [s["id"] for s in ctx.store.find("stations", {"site_id": site_id}, order="id")]
    return {**present(ctx, row), "stations": stations}
