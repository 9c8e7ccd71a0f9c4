"""Alerts for quality (issue 13): read from the audit chain, so they are as tamper-evident
as the chain itself, and open while the condition lasts.

- lockout: an account locked after 5 wrong passwords (open while it is locked);
- session-elsewhere: a session token used on another computer than the one it was opened
  on (a copied session file);
- origin: an origin decision that contradicts a printed or shipped claim (open while the
  lot is still held for it).
"""

from __future__ import annotations

import json
from typing import Any

from mes.services.auth import require
from mes.services.context import Context
from mes.store.alerts import events_of

ORIGIN_CONTRADICTION = "origin.contradiction"


def alerts(ctx: Context, open_only: bool = False) -> list[dict[str, Any]]:
    require(ctx, "audit.alerts")
    store = ctx.store
    out = []
    for e in events_of(store, ("user.login_failed", "auth.denied", ORIGIN_CONTRADICTION)):
        new = json.loads(e["new"]) if e["new"] else {}
        alert: dict[str, Any] = {"seq": e["seq"], "at": e["at"], "station": e["station"]}
        if e["action"] == "user.login_failed":
            if not new.get("locked"):
                continue
            user = store.get("users", e["entity_id"]) or {}
            alert.update(kind="lockout", subject=e["entity_id"], open=bool(user.get("locked")),
                         detail=f"locked after {new.get('failed_logins')} wrong passwords: an "
                                "admin unlocks it (`mes user unlock`)")
        elif e["action"] == "auth.denied":
            if e["entity_id"] != "session":
                continue
            alert.update(kind="session-elsewhere", subject=e["username"], open=False,
                         detail=e["reason"])
        else:
            lot = store.get("lots", e["entity_id"]) or {}
            alert.update(kind="origin", subject=e["entity_id"],
                         open=bool(lot.get("on_hold")) and lot.get("hold_reason") == e["reason"],
                         detail=e["reason"])
        if alert["open"] or not open_only:
            out.append(alert)
    return out
