"""Sites (issue 20): which site a station, a lot, a unit or an NCR belongs to.

A step, a signature and a label record the site where they happened; rows written before
sites were recorded have NULL there and take their station's site, else the home site.
"""

from __future__ import annotations

from mes.store.base import Row, Store, in_chunks


def home_site_id(store: Store) -> str | None:
    row = store.get("meta", "site_id")
    return str(row["value"]) if row else None


def station_site(store: Store, station_id: str | None) -> str | None:
    if not station_id:
        return None
    return store.scalar("SELECT site_id FROM stations WHERE id = ?", (station_id,))


def item_site(store: Store, item_id: str | None) -> str | None:
    """The site a lot (or a unit's lot, or an NCR's lot) belongs to; None for anything
    else (material lots, containers) or an unknown id."""
    if not item_id:
        return None
    return store.scalar(
        "SELECT site_id FROM lots WHERE id = ? "
        "UNION ALL SELECT l.site_id FROM units u JOIN lots l ON l.id = u.lot_id "
        "WHERE u.serial = ? "
        "UNION ALL SELECT l.site_id FROM ncrs n JOIN lots l ON l.id = n.lot_id WHERE n.id = ?",
        (item_id, item_id, item_id))


def all_sites(store: Store) -> list[Row]:
    return store.find("sites", order="created_at, id")


def station_counts(store: Store) -> dict[str, int]:
    return {r["site_id"]: int(r["n"]) for r in store.all(
        "SELECT site_id, count(*) AS n FROM stations GROUP BY site_id")}


def step_site_expr(alias: str) -> str:
    """SQL for a step row's site: recorded, else its station's (rows before issue 20)."""
    return (f"COALESCE({alias}.site_id, (SELECT st.site_id FROM stations st "
            f"WHERE st.id = {alias}.station_id))")


def acting_site(store: Store, station_id: str | None, item_id: str | None) -> str | None:
    """Where something is done (a label printed, a signature given): the station's site,
    else the lot's, else the home site."""
    return station_site(store, station_id) or item_site(store, item_id) or home_site_id(store)


def station_sites(store: Store) -> dict[str, str]:
    """Every station's site (a small table: read whole)."""
    return {r["id"]: r["site_id"] for r in store.all("SELECT id, site_id FROM stations")}


def lot_sites(store: Store, lot_ids: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for chunk, marks in in_chunks(lot_ids):
        out.update({r["id"]: r["site_id"] for r in store.all(
            f"SELECT id, site_id FROM lots WHERE id IN ({marks})", chunk)})
    return out
