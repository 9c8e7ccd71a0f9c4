"""`mes report efficiency` (issue 16): where the plant loses time and parts.

First-pass yield per operation over time, scrap, rework, cycle time, a Pareto of defect and
NCR causes, and OEE per station where the data allows. What the data does not hold is said,
not guessed: mes records no station states, so availability (and so OEE itself) is reported
as not recorded; performance comes from the ideal cycle time a routing declares per
operation (`ideal_cycle_s`): ideal cycle × count / run time, over the steps that have a
start and whose operation declares one (count: 1 per unit step, the shots of a molding
step, the lot's quantity for another lot step); quality from the results.
"""

from __future__ import annotations

import json
import statistics
from collections import Counter
from datetime import date, datetime
from pathlib import Path
from typing import Any

from mes.errors import InvalidInput
from mes.services.context import Context
from mes.services.quality import _op_names, _seconds, op_summary
from mes.store import efficiency as db

PERIODS = ("day", "week", "month")
AVAILABILITY_NOTE = ("not recorded: mes records no station states (running, down, idle), so "
                     "availability, and OEE with it, is not computed")


def _period(at: str, period: str) -> str:
    d = datetime.fromisoformat(at).date()
    if period == "month":
        return d.strftime("%Y-%m")
    if period == "week":
        year, week, _ = d.isocalendar()
        return f"{year}-W{week:02d}"
    return d.isoformat()


def efficiency(ctx: Context, since: date | None = None, period: str = "day",
               site: str | None = None) -> dict[str, Any]:
    """The whole plant, or (`--site`, issue 20) the steps done and the lots made at one
    site."""
    if period not in PERIODS:
        raise InvalidInput(f"--period {period}: use day, week or month", field="period")
    store = ctx.store
    if site is not None:
        from mes.services.workspace import site as known_site

        site = known_site(ctx, site)["id"]
    start = since.isoformat() if since else None
    steps = db.steps(store, start, site)
    names = _op_names(store)
    return {"since": start, "period": period, "site": site,
            "fpy": _fpy(steps, names, period),
            "operations": _operations(steps, names),
            "scrap": _scrap(store, start, site),
            "rework": _rework(steps, db.ncrs(store, start, site)),
            "pareto": _pareto(store, start, site),
            "stations": _stations(store, steps, start, site),
            "lead_time": _lead_time(db.lots(store, start, site))}


def _op_label(names: dict[tuple[str, int], str], part: str, op: int) -> str:
    return f"{part} op {op} {names.get((part, op), '')}".strip()


def _fpy(steps: list[dict[str, Any]], names: dict[tuple[str, int], str], period: str
         ) -> list[dict[str, Any]]:
    groups: dict[tuple[str, int, str], list[str]] = {}
    for s in steps:
        if s["attempt"] == 1:
            key = (s["part"], s["op"], _period(s["completed_at"], period))
            groups.setdefault(key, []).append(s["status"])
    return [{"part": p, "op": op, "name": names.get((p, op)), "period": per,
             "first_attempts": len(v), "first_pass": v.count("passed"),
             "fpy_pct": round(100.0 * v.count("passed") / len(v), 2)}
            for (p, op, per), v in sorted(groups.items())]


def _operations(steps: list[dict[str, Any]], names: dict[tuple[str, int], str]
                ) -> list[dict[str, Any]]:
    groups: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for s in steps:
        groups.setdefault((s["part"], s["op"]), []).append(s)
    out = []
    for (p, op), rows in sorted(groups.items()):
        o = op_summary(rows)
        out.append({"part": p, "op": op, "name": names.get((p, op)), "steps": o["attempts"],
                    "fpy_pct": o["fpy_pct"], "failed": o["failed"], "repeats": o["repeats"],
                    "median_cycle_s": o["median_cycle_s"],
                    "cycle_samples": o["cycle_samples"]})
    return out


def _scrap(store: Any, start: str | None, site: str | None) -> dict[str, Any]:
    lots = db.lots(store, start, site)
    made = sum(r["qty"] for r in lots)
    scrapped = sum(r["qty_scrapped"] for r in lots)
    return {"lots": len(lots), "qty_planned": made, "qty_scrapped": scrapped,
            "scrap_pct": round(100.0 * scrapped / made, 3) if made else None,
            "units_scrapped": db.scrapped_units(store, start, site)}


def _rework(steps: list[dict[str, Any]], ncrs: list[dict[str, Any]]) -> dict[str, Any]:
    actions = Counter(n["action"] or "open" for n in ncrs)
    return {"repeated_steps": sum(s["attempt"] > 1 for s in steps),
            "ncrs": len(ncrs), "ncr_rework": actions.get("rework", 0),
            "ncr_by_disposition": dict(sorted(actions.items()))}


def _cause_of(problem: str) -> str:
    """'peak_temp_c=252 °C above max 250 °C' -> 'peak_temp_c out of limits'."""
    problem = problem.strip()
    if "=" in problem:
        return f"{problem.split('=', 1)[0]} out of limits"
    return problem


def _pareto(store: Any, start: str | None, site: str | None) -> list[dict[str, Any]]:
    causes: Counter[str] = Counter()
    for reason in db.failed_step_reasons(store, start, site):
        for part in reason.split("; "):
            causes[f"step: {_cause_of(part)}"] += 1
    for problems in db.bad_shot_problems(store, start, site):
        for part in problems.split("; "):
            causes[f"shot: {_cause_of(part)}"] += 1
    for ncr in db.ncrs(store, start, site):
        causes[f"NCR: {ncr['description'][:60]}"] += 1
    for s in db.spc_signal_counts(store, start, site):
        prefix = "WE" if s["rule_set"] == "western-electric" else "N"
        causes[f"SPC: {s['characteristic']} {prefix}{s['rule']}"] += int(s["n"])
    total = sum(causes.values())
    out: list[dict[str, Any]] = []
    acc = 0
    for cause, n in causes.most_common():
        acc += n
        out.append({"cause": cause, "count": n, "pct": round(100.0 * n / total, 2),
                    "cumulative_pct": round(100.0 * acc / total, 2)})
    return out


def _stations(store: Any, steps: list[dict[str, Any]], start: str | None, site: str | None
              ) -> list[dict[str, Any]]:
    per: dict[str, list[dict[str, Any]]] = {}
    for s in steps:
        per.setdefault(s["station_id"], []).append(s)
    shots = {r["station_id"]: r for r in db.shot_counts(store, start, site)}
    ideal = _ideal_cycles(store)
    shots_of = db.shots_per_step(store, start, site) if ideal else {}
    out = []
    for station, rows in sorted(per.items()):
        passed = sum(r["status"] == "passed" for r in rows)
        quality = passed / len(rows)
        basis = "steps passed / steps"
        press = shots.get(station)
        if press and press["shots"]:
            quality = (press["good"] or 0) / press["shots"]
            basis = "good shots / shots"
        perf = _performance(rows, ideal, shots_of)
        out.append({"station": station, "steps": len(rows), "quality_pct":
                    round(100.0 * quality, 2), "quality_basis": basis,
                    **perf, "availability_pct": None, "availability": AVAILABILITY_NOTE,
                    "performance_x_quality_pct": round(perf["performance_pct"] * quality, 2)
                    if perf["performance_pct"] is not None else None,
                    "oee_pct": None,
                    "oee_note": "OEE = availability × performance × quality: availability "
                                "is not recorded, so OEE is not computed (it is at most "
                                "performance × quality)"})
    return out


def _ideal_cycles(store: Any) -> dict[tuple[str, int, int], float]:
    """(part, routing version, op) -> the ideal cycle its routing declares, seconds."""
    out: dict[tuple[str, int, int], float] = {}
    for r in db.routing_docs(store):
        for o in json.loads(r["doc"]).get("operations", []):
            if o.get("ideal_cycle_s"):
                out[(r["part"], int(r["version"]), int(o["op"]))] = float(o["ideal_cycle_s"])
    return out


def _performance(rows: list[dict[str, Any]], ideal: dict[tuple[str, int, int], float],
                 shots_of: dict[int, int]) -> dict[str, Any]:
    """Ideal time for what was made over the time it took, on the steps that allow it."""
    ideal_s = run_s = 0.0
    counted = 0
    for r in rows:
        cycle = ideal.get((r["part"], int(r["routing_version"]), int(r["op"])))
        run = _seconds(r["started_at"], r["completed_at"])
        if cycle is None or not run or run <= 0:
            continue  # no ideal declared, or a step recorded without a start
        count = 1 if r["serial"] else shots_of.get(int(r["id"])) or int(r["qty"])
        ideal_s += cycle * count
        run_s += run
        counted += 1
    if not counted:
        why = ("no ideal_cycle_s declared for the operations done here" if not any(
            (r["part"], int(r["routing_version"]), int(r["op"])) in ideal for r in rows)
            else "no step with an ideal cycle time was started before it was completed")
        return {"performance_pct": None, "performance_basis": why}
    return {"performance_pct": round(100.0 * ideal_s / run_s, 2),
            "performance_basis": f"ideal cycle × count / run time over {counted} of "
                                 f"{len(rows)} steps",
            "ideal_s": round(ideal_s, 3), "run_s": round(run_s, 3)}


def _lead_time(lots: list[dict[str, Any]]) -> dict[str, Any]:
    hours = [h / 3600 for h in (_seconds(r["created_at"], r["completed_at"]) for r in lots)
             if h is not None]
    return {"lots_completed": len(hours),
            "median_h": round(statistics.median(hours), 3) if hours else None}


def write_charts(report: dict[str, Any], directory: Path, fmt: str) -> list[str]:
    """The report's pictures: FPY per operation over time, the Pareto of causes."""
    from mes.render.spc_chart import render_fpy, render_pareto

    directory.mkdir(parents=True, exist_ok=True)
    written = []
    series: dict[str, list[tuple[str, float]]] = {}
    for r in report["fpy"]:
        series.setdefault(f"{r['part']} op {r['op']}", []).append((r["period"], r["fpy_pct"]))
    if series:
        path = directory / f"fpy.{fmt}"
        path.write_bytes(render_fpy(series, fmt))
        written.append(str(path))
    if report["pareto"]:
        path = directory / f"pareto.{fmt}"
        path.write_bytes(render_pareto([(c["cause"], c["count"]) for c in report["pareto"]],
                                       fmt))
        written.append(str(path))
    return written
