"""The rows behind `mes report efficiency` (issue 16): steps, scrap, NCRs, causes."""

from __future__ import annotations

from typing import Any

from mes.store.base import Row, Store
from mes.store.sites import step_site_expr


def _since(sql: str, column: str, since: str | None, site: str | None = None,
           site_sql: str | None = None) -> tuple[str, list[Any]]:
    """`sql` with `column >= since` and, for `--site` (issue 20), `site_sql = site`."""
    params: list[Any] = []
    for cond, value in ((f"{column} >= ?", since), (f"{site_sql} = ?", site)):
        if value is None:
            continue
        sql += f"{' AND ' if ' WHERE ' in sql else ' WHERE '}{cond}"
        params.append(value)
    return sql, params


_STEP_SITE = step_site_expr("s")
_LOT_SITE = "(SELECT site_id FROM lots WHERE lots.id = {}.lot_id)"
_STATION_SITE = "(SELECT site_id FROM stations WHERE stations.id = {})"


def steps(store: Store, since: str | None, site: str | None = None) -> list[Row]:
    sql, params = _since("SELECT s.id, l.part, l.routing_version, l.qty, s.serial, s.op, "
                         "s.attempt, s.status, s.station_id, s.started_at, s.completed_at "
                         "FROM steps s JOIN lots l ON l.id = s.lot_id WHERE "
                         "s.status IN ('passed', 'failed')", "s.completed_at", since,
                         site, _STEP_SITE)
    return store.all(sql, params)


def routing_docs(store: Store) -> list[Row]:
    """Every routing version's document (its operations' ideal cycle times)."""
    return store.all("SELECT part, version, doc FROM routings ORDER BY part, version")


def shots_per_step(store: Store, since: str | None, site: str | None = None) -> dict[int, int]:
    """Shots recorded by each molding step (the count an ideal shot cycle applies to)."""
    sql, params = _since("SELECT sh.step_id, count(*) FROM shots sh JOIN steps s ON "
                         "s.id = sh.step_id", "s.completed_at", since, site, _STEP_SITE)
    return {int(k): int(n) for k, n in store.tuples(sql + " GROUP BY sh.step_id", params)}


def lots(store: Store, since: str | None, site: str | None = None) -> list[Row]:
    sql, params = _since("SELECT id, part, qty, qty_scrapped, status, created_at, completed_at "
                         "FROM lots", "created_at", since, site, "site_id")
    return store.all(sql, params)


def scrapped_units(store: Store, since: str | None, site: str | None = None) -> int:
    sql, params = _since("SELECT count(*) FROM units u JOIN lots l ON l.id = u.lot_id WHERE "
                         "u.status = 'scrapped'", "l.created_at", since, site, "l.site_id")
    return int(store.scalar(sql, params) or 0)


def ncrs(store: Store, since: str | None, site: str | None = None) -> list[Row]:
    sql, params = _since("SELECT id, description, action, status FROM ncrs n", "opened_at",
                         since, site, _LOT_SITE.format("n"))
    return store.all(sql, params)


def failed_step_reasons(store: Store, since: str | None, site: str | None = None
                        ) -> list[str]:
    sql, params = _since("SELECT reason FROM audit WHERE action = 'step.complete' AND reason "
                         "IS NOT NULL", "at", since, site, _STATION_SITE.format("station"))
    return [r["reason"] for r in store.all(sql, params)]


def bad_shot_problems(store: Store, since: str | None, site: str | None = None
                      ) -> list[str]:
    sql, params = _since("SELECT sh.problems FROM shots sh JOIN steps s ON s.id = sh.step_id "
                         "WHERE sh.ok = 0 AND sh.problems IS NOT NULL", "s.completed_at", since,
                         site, _STEP_SITE)
    return [r[0] for r in store.tuples(sql, params)]


def shot_counts(store: Store, since: str | None, site: str | None = None) -> list[Row]:
    """Per molding station: shots and good shots (quality of the press)."""
    sql, params = _since("SELECT s.station_id, count(*) AS shots, sum(sh.ok) AS good FROM shots sh "
                         "JOIN steps s ON s.id = sh.step_id", "s.completed_at", since,
                         site, _STEP_SITE)
    return store.all(sql + " GROUP BY s.station_id", params)


def spc_signal_counts(store: Store, since: str | None, site: str | None = None
                      ) -> list[Row]:
    sql, params = _since("SELECT characteristic, rule_set, rule, chart, count(*) AS n FROM "
                         "spc_signals g", "at", since, site, _LOT_SITE.format("g"))
    return store.all(sql + " GROUP BY characteristic, rule_set, rule, chart", params)
