"""Creating a workspace (database, first site and admin) and its configuration."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mes import clock
from mes.domain.ids import COUNTRY_RE, check_id
from mes.errors import InvalidInput, NotFound, Refused
from mes.services.auth import check_user_fields, create_user
from mes.services.context import Context
from mes.store import is_postgres, open_store

# Origin rule defaults (DESIGN §8): configurable per workspace with `mes config set`.
DEFAULT_CONFIG: dict[str, Any] = {
    "currency": "MAD",
    "origin.rule_name": "Made in Morocco: local value >= 40 % of unit cost (MCINET label)",
    "origin.rule_version": "2026-1",
    "origin.threshold_pct": 40.0,
    "origin.country": "MA",
    "origin.claim.en": "Made in Morocco",
    "origin.claim.fr": "Fabriqué au Maroc",
    "origin.claim.ar": "صنع في المغرب",
    # issue 19: the site's GS1 identities, for SSCCs and EPCIS locations ("" = not set yet)
    "gs1.company_prefix": "",
    "gs1.sscc_extension": "0",
    "gs1.site_gln": "",
    "print.cups_server": "localhost:631",  # host:port of the CUPS server for queue names
    "print.timeout_s": 60.0,  # how long to wait for a print job's final state
}


def init_workspace(ctx: Context, *, site_name: str, country: str, manufacturer: str,
                   address: str, admin: str, admin_name: str, password: str,
                   site_id: str = "SITE-1") -> dict[str, Any]:
    if not COUNTRY_RE.fullmatch(country):
        raise InvalidInput(f"--country {country!r}: use an ISO 3166 alpha-2 code such as MA",
                           field="country")
    check_id(site_id, "site id")
    check_user_fields(admin, admin_name, "admin", password)
    if not is_postgres(ctx.db):
        Path(ctx.db).parent.mkdir(parents=True, exist_ok=True)
    store = open_store(ctx.db, create=True)
    ctx._store = store
    if store.schema_version() and store.get("meta", "site_id"):
        raise Refused(f"{store.location} is already an initialised workspace: nothing to do")
    store.migrate()
    now = clock.now_iso()
    with store.transaction():
        store.insert("sites", {"id": site_id, "name": site_name, "country": country,
                               "manufacturer": manufacturer, "address": address,
                               "created_at": now})
        store.insert("meta", {"key": "site_id", "value": site_id})
        for key, value in DEFAULT_CONFIG.items():
            store.insert("meta", {"key": f"config.{key}", "value": json.dumps(value)})
        store.append_audit(username=admin, station=None, action="workspace.init",
                           entity_type="site", entity_id=site_id,
                           new={"name": site_name, "country": country,
                                "manufacturer": manufacturer, "address": address})
        create_user(store, username=admin, full_name=admin_name, role="admin",
                    password=password, created_by=admin)
    for sub in ("labels", "lots"):
        (ctx.workspace / sub).mkdir(parents=True, exist_ok=True)
    return {"db": store.location, "site": site_id, "admin": admin}


def config(ctx: Context) -> dict[str, Any]:
    rows = ctx.store.all("SELECT key, value FROM meta WHERE key LIKE 'config.%' ORDER BY key")
    return {r["key"][len("config."):]: json.loads(r["value"]) for r in rows}


def set_config(ctx: Context, key: str, value: str) -> None:
    from mes.services.auth import require

    actor = require(ctx, "config.set")
    if key not in DEFAULT_CONFIG:
        raise InvalidInput(f"unknown setting {key!r}: one of {', '.join(DEFAULT_CONFIG)}",
                           field="key")
    typed: Any = value
    if isinstance(DEFAULT_CONFIG[key], float):
        try:
            typed = float(value)
        except ValueError:
            raise InvalidInput(f"{key} needs a number, not {value!r}", field=key) from None
        top = 100.0 if key.endswith("_pct") else 1e12
        if not 0 <= typed <= top:
            raise InvalidInput(f"{key} needs a number from 0 to {top:g}, not {value!r}",
                               field=key)
    if key.startswith("gs1."):
        typed = _gs1_setting(key, value)
    old = config(ctx).get(key)
    with ctx.store.transaction() as tx:
        n = tx.update("meta", f"config.{key}", {"value": json.dumps(typed)})
        if not n:
            tx.insert("meta", {"key": f"config.{key}", "value": json.dumps(typed)})
        tx.append_audit(username=actor.username, station=ctx.station, action="config.set",
                        entity_type="config", entity_id=key, old=old, new=typed)


def _gs1_setting(key: str, value: str) -> str:
    from mes.domain import gs1

    if key == "gs1.company_prefix":
        return gs1.validate_company_prefix(value)
    if key == "gs1.site_gln":
        return gs1.validate_gln(value, key)
    if not (value.isascii() and value.isdigit() and len(value) == 1):
        raise InvalidInput(f"{key} is one digit 0-9, not {value!r}", field=key)
    return value


def site(ctx: Context, site_id: str | None = None) -> dict[str, Any]:
    store = ctx.store
    sid = site_id or (store.get("meta", "site_id") or {}).get("value")
    row = store.get("sites", sid) if sid else None
    if row is None:
        raise NotFound(f"site {sid} is not known: see the sites given at `mes init`")
    return row
