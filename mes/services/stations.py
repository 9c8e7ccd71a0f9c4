"""Stations: the registered devices that may post steps (Part 11 11.10(h))."""

from __future__ import annotations

from datetime import date
from typing import Any

from mes import clock
from mes.domain.ids import check_id
from mes.domain.interlocks import check_not_past
from mes.errors import NotFound, Refused
from mes.services.auth import require
from mes.services.context import Context
from mes.services.workspace import site


def add_station(ctx: Context, station_id: str, station_type: str, site_id: str | None,
                calibration_due: date | None) -> dict[str, Any]:
    actor = require(ctx, "station.add")
    check_id(station_id, "station id")
    if calibration_due is not None:
        check_not_past(calibration_due, clock.now().date(), "--calibration-due")
    the_site = site(ctx, site_id)
    store = ctx.store
    if store.get("stations", station_id):
        raise Refused(f"station {station_id} already exists: use `mes station update`")
    row = {"id": station_id, "type": station_type, "site_id": the_site["id"],
           "calibration_due": calibration_due.isoformat() if calibration_due else None,
           "active": True, "created_at": clock.now_iso()}
    with store.transaction() as tx:
        tx.insert("stations", row)
        tx.append_audit(username=actor.username, station=ctx.station, action="station.add",
                        entity_type="station", entity_id=station_id, new=row)
    return row


def update_station(ctx: Context, station_id: str, *, calibration_due: date | None,
                   active: bool | None) -> dict[str, Any]:
    actor = require(ctx, "station.update")
    old = get_station(ctx, station_id)
    changes: dict[str, Any] = {}
    if calibration_due is not None:
        check_not_past(calibration_due, clock.now().date(), "--calibration-due")
        changes["calibration_due"] = calibration_due.isoformat()
    if active is not None:
        changes["active"] = active
    if changes:
        with ctx.store.transaction() as tx:
            tx.update("stations", station_id, changes)
            tx.append_audit(username=actor.username, station=ctx.station,
                            action="station.update", entity_type="station",
                            entity_id=station_id, old={k: old[k] for k in changes}, new=changes)
    return get_station(ctx, station_id)


def get_station(ctx: Context, station_id: str) -> dict[str, Any]:
    row = ctx.store.get("stations", station_id)
    if row is None:
        raise NotFound(f"station {station_id} is not registered: see `mes station list`")
    row["active"] = bool(row["active"])
    return row


def list_stations(ctx: Context) -> list[dict[str, Any]]:
    rows = ctx.store.find("stations", order="id")
    for r in rows:
        r["active"] = bool(r["active"])
    return rows
