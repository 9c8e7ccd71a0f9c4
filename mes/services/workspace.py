"""Creating a workspace (database, first site and admin) and its configuration."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

from mes import clock
from mes.domain.ids import COUNTRY_RE, check_id
from mes.errors import InvalidInput, NotFound, Refused
from mes.services.auth import check_user_fields, create_user
from mes.services.context import Context
from mes.services.localtime import check_zone, default_zone, site_zone
from mes.store import is_postgres, open_store
from mes.store import meta as meta_store

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
    # issue 13: sessions, passwords (Part 11 §11.300), segregation of duties, local time
    "session.idle_minutes": 15.0,
    "password.max_age_days": 90.0,
    "segregation_of_duties": True,
    # issue 18: days a training on the previous revision of a work instruction still
    # counts after a new revision is approved (0: retrain before the next op)
    "training.grace_days": 0.0,
    "timezone": "UTC",  # set at `mes init` from --timezone or the country
    # issue 19: the site's GS1 identities, for SSCCs and EPCIS locations ("" = not set yet)
    "gs1.company_prefix": "",
    "gs1.sscc_extension": "0",
    "gs1.site_gln": "",
    "print.cups_server": "localhost:631",  # host:port of the CUPS server for queue names
    "print.timeout_s": 60.0,  # how long to wait for a print job's final state
}
# Bounds of the numeric settings (default: 0 to 1e12; percentages 0 to 100).
_BOUNDS = {"session.idle_minutes": (1.0, 480.0), "password.max_age_days": (1.0, 3650.0),
           "training.grace_days": (0.0, 365.0)}


def init_workspace(ctx: Context, *, site_name: str, country: str, manufacturer: str,
                   address: str, admin: str, admin_name: str, password: str,
                   site_id: str = "SITE-1", timezone: str | None = None) -> dict[str, Any]:
    if not COUNTRY_RE.fullmatch(country):
        raise InvalidInput(f"--country {country!r}: use an ISO 3166 alpha-2 code such as MA",
                           field="country")
    check_id(site_id, "site id")
    check_user_fields(admin, admin_name, "admin", password)
    zone = check_zone(timezone) if timezone else default_zone(country)
    if not is_postgres(ctx.db):
        create_private_db(Path(ctx.db))
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
        for key, value in {**DEFAULT_CONFIG, "timezone": zone}.items():
            store.insert("meta", {"key": f"config.{key}", "value": json.dumps(value)})
        store.append_audit(username=admin, station=None, action="workspace.init",
                           entity_type="site", entity_id=site_id,
                           new={"name": site_name, "country": country,
                                "manufacturer": manufacturer, "address": address,
                                "timezone": zone})
        create_user(store, username=admin, full_name=admin_name, role="admin",
                    password=password, created_by=admin)
    for sub in ("labels", "lots"):
        (ctx.workspace / sub).mkdir(mode=0o700, parents=True, exist_ok=True)
    return {"db": store.location, "site": site_id, "admin": admin, "timezone": zone}


def create_private_db(path: Path) -> None:
    """The workspace 0700 and a new mes.db 0600 from the first byte (SQLite gives its WAL
    and shared-memory files the database's mode). A plant group may be granted access
    afterwards (docs/RELIABILITY.md); `mes` warns only when others can read."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    # an existing database (refused below if initialised) keeps its mode
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def config(ctx: Context) -> dict[str, Any]:
    """Every setting: the stored ones, and the defaults of settings newer than the
    workspace (its time zone: from the site's country)."""
    rows = meta_store.config_rows(ctx.store)
    stored = {r["key"][len("config."):]: json.loads(r["value"]) for r in rows}
    merged = {**DEFAULT_CONFIG, "timezone": site_zone(ctx.store), **stored}
    return dict(sorted(merged.items()))


def set_config(ctx: Context, key: str, value: str) -> None:
    from mes.services.auth import require

    actor = require(ctx, "config.set")
    if key not in DEFAULT_CONFIG:
        raise InvalidInput(f"unknown setting {key!r}: one of {', '.join(DEFAULT_CONFIG)}",
                           field="key")
    typed: Any = value
    if key == "timezone":
        typed = check_zone(value)
    elif isinstance(DEFAULT_CONFIG[key], bool):
        if value.lower() not in ("on", "off", "true", "false", "yes", "no"):
            raise InvalidInput(f"{key} is on or off, not {value!r}", field=key)
        typed = value.lower() in ("on", "true", "yes")
    elif isinstance(DEFAULT_CONFIG[key], float):
        try:
            typed = float(value)
        except ValueError:
            raise InvalidInput(f"{key} needs a number, not {value!r}", field=key) from None
        low, top = _BOUNDS.get(key, (0.0, 100.0 if key.endswith("_pct") else 1e12))
        if not low <= typed <= top:
            raise InvalidInput(f"{key} needs a number from {low:g} to {top:g}, not {value!r}",
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
