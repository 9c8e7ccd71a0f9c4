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
    # Issue 13: a seal of the chain head every N events (and at every signature), and a
    # second journal directory for the seals (e.g. a mounted share; "" = none).
    "seal.every": 1000.0,
    "seal.mirror": "",
    "currency": "MAD",
    "origin.rule_name": "Made in Morocco: local value >= 40 % of unit cost (MCINET label)",
    "origin.rule_version": "2026-1",
    "origin.threshold_pct": 40.0,
    "origin.country": "MA",
    "origin.claim.en": "Made in Morocco",
    "origin.claim.fr": "Fabriqué au Maroc",
    "origin.claim.ar": "صنع في المغرب",
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
    old = config(ctx).get(key)
    with ctx.store.transaction() as tx:
        n = tx.update("meta", f"config.{key}", {"value": json.dumps(typed)})
        if not n:
            tx.insert("meta", {"key": f"config.{key}", "value": json.dumps(typed)})
        tx.append_audit(username=actor.username, station=ctx.station, action="config.set",
                        entity_type="config", entity_id=key, old=old, new=typed)


def site(ctx: Context, site_id: str | None = None) -> dict[str, Any]:
    store = ctx.store
    sid = site_id or (store.get("meta", "site_id") or {}).get("value")
    row = store.get("sites", sid) if sid else None
    if row is None:
        raise NotFound(f"site {sid} is not known: see the sites given at `mes init`")
    return row
