"""Statistical process control that acts (issue 16).

Where data arrives (a step completed at a station, by the station loop or a CFX import;
the shots of a EUROMAP 63 import), each value of a declared characteristic is stored as an
observation and, once approved phase-I limits exist, the characteristic's run rules judge
every completed subgroup, in the caller's transaction: a signal is recorded with the data
that caused it, and its action runs (record; alert quality; hold the lot and open an NCR).

Out of limit (a value outside the routing's spec limits: the step fails, the shot is
rejected) and out of control (a run-rule signal against the control limits) are separate
facts, and both are shown. Control limits are a signed, versioned record: set from a
phase-I study, approved by a second person, never recomputed silently.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mes import clock
from mes.domain import spc as rules
from mes.domain.model import DataSpec, Operation, SpcSpec
from mes.errors import InvalidInput, NotFound, Refused
from mes.services.auth import Actor, prepare_signature, sign, signatures_for
from mes.services.context import Context
from mes.store import spc as db
from mes.store.base import Store

WARM = 16  # plotted points of history the rules need (Nelson 7 looks at 15)


@dataclass(frozen=True)
class Characteristic:
    id: str
    part: str
    routing_version: int
    op: int
    op_name: str
    data: DataSpec

    @property
    def spec(self) -> SpcSpec:
        assert self.data.spc is not None
        return self.data.spc

    @property
    def per_point(self) -> int:
        return 1 if self.spec.chart == "i-mr" else self.spec.subgroup

    def as_dict(self) -> dict[str, Any]:
        s = self.spec
        return {"id": self.id, "part": self.part, "routing_version": self.routing_version,
                "op": self.op, "op_name": self.op_name, "data": self.data.name,
                "unit": self.data.unit, "lsl": self.data.min, "usl": self.data.max,
                "chart": s.chart, "subgroup": self.per_point, "rules": s.rules,
                "use": list(s.use) or list(rules.RULE_SETS[s.rules]), "action": s.action}


# -- checks where the data arrives -----------------------------------------------------------

def on_step(tx: Store, actor: Actor, station: str, target: Any, values: dict[str, Any]
            ) -> list[dict[str, Any]]:
    """After a step is recorded: one observation per declared value of the request."""
    op: Operation = target.op
    if op.molding is not None:  # molding values arrive per shot (on_shots)
        return []
    specs = [d for d in op.data if d.spc is not None and isinstance(values.get(d.name),
                                                                       int | float)]
    if not specs:
        return []
    lot = target.lot
    keys = target.keys
    step_id = db.first_of_latest_steps(tx, lot["id"], op.op, len(keys))
    serial = keys[0] if len(keys) == 1 else None
    out: list[dict[str, Any]] = []
    for d in specs:
        char = Characteristic(d.spc.id, lot["part"], lot["routing_version"], op.op,  # type: ignore[union-attr]
                              op.name, d)
        value, n = _observed(char, float(values[d.name]))
        obs = [(value, n, None, None, None, None, serial, step_id, None)]
        out += _feed(tx, char, actor.username, station, lot["id"], obs)
    return out


def on_shots(tx: Store, username: str, station: str, lot: dict[str, Any], op: Operation,
             step_id: int, shots: Sequence[tuple[Any, ...]]
             ) -> list[dict[str, Any]]:
    """After a EUROMAP 63 import stored its shots: the characteristics' subgroups.

    Subgroups are consecutive shots of this report, stored as one row each (mean, range,
    sd, min, max); the shots' values stay in `shots`. The last shots of a report that do
    not fill a subgroup are stored as a short subgroup, not plotted.
    """
    specs = [d for d in op.data if d.spc is not None]
    if not specs or not shots:
        return []
    out: list[dict[str, Any]] = []
    for d in specs:
        char = Characteristic(d.spc.id, lot["part"], lot["routing_version"], op.op,  # type: ignore[union-attr]
                              op.name, d)
        # The shot documents are canonical JSON written by services.molding: read the one
        # number without parsing every document (a third of the check's cost otherwise).
        find = re.compile(re.escape(json.dumps(d.name)) + r":([^,}]+)").search
        values, numbers = [], []
        for s in shots:
            m = find(s[2])
            if m:
                values.append(float(m.group(1)))
                numbers.append(s[0])
        size = char.per_point
        if size == 1:
            obs: list[Obs] = [(v, 1.0, None, None, None, None, None, step_id, shot)
                              for v, shot in zip(values, numbers, strict=True)]
        else:
            obs = [_summary(values[i:i + size], step_id, numbers[i])
                   for i in range(0, len(values), size)]
        out += _feed(tx, char, username, station, lot["id"], obs)
    return out


def _summary(values: Sequence[float], step_id: int, first_shot: int) -> Obs:
    n = len(values)
    mean = sum(values) / n
    sd = (sum((v - mean) ** 2 for v in values) / (n - 1)) ** 0.5 if n > 1 else 0.0
    lo, hi = min(values), max(values)
    return (mean, float(n), hi - lo, sd, lo, hi, None, step_id, first_shot)


def _observed(char: Characteristic, value: float) -> tuple[float, float]:
    """(value, n): p charts count a defective unit (any defect), u charts its defects."""
    if char.spec.chart == "p":
        return (1.0 if value > 0 else 0.0), 1.0
    return value, 1.0


# value, n, spread, sd, min, max (a machine subgroup), serial, step id, (first) shot number
Obs = tuple[float, float, float | None, float | None, float | None, float | None, str | None,
            int | None, int | None]


def _feed(tx: Store, char: Characteristic, username: str, station: str, lot_id: str,
          obs: Sequence[Obs]) -> list[dict[str, Any]]:
    size = char.per_point
    last = db.last_point(tx, char.id)
    seq0 = 0 if last is None else int(last["seq"]) + 1
    now = clock.now_iso()
    # Single observations fill subgroups in arrival order; a machine subgroup is one row.
    summary = bool(obs) and obs[0][2] is not None and char.spec.chart != "i-mr"
    first_group = (0 if last is None else int(last["subgroup"]) + 1) if summary else None
    rows = [(char.id, seq0 + i, first_group + i if first_group is not None
             else (seq0 + i) // size, o[0], o[1], lot_id, o[6], station, o[7], o[8], now,
             o[2], o[3], o[4], o[5]) for i, o in enumerate(obs)]
    db.add_points(tx, rows)
    limits_row = db.approved_limits(tx, char.id)
    if limits_row is None:
        return []  # no approved limits yet: the data is a phase-I study, recorded, not judged
    limits = limits_of(limits_row)
    history = db.tail(tx, char.id, seq0, (WARM + 1) * (1 if summary else size) + size)
    first_new = rows[0][2] if rows else 0
    groups = _complete_groups(char, [(r["subgroup"], r["value"], r["n"], r["serial"],
                                      r["spread"], r["sd"]) for r in history]
                              + [(r[2], r[3], r[4], r[6], r[11], r[12]) for r in rows], size)
    warm_pts: list[tuple[int, rules.Point, list[str | None]]] = []
    new: list[tuple[int, rules.Point, list[str | None]]] = []
    for g in groups:
        (new if g[0] >= first_new else warm_pts).append(g)
    prev = warm_pts[-1][1].stat if warm_pts else None
    if new and warm_pts and new[0][0] != warm_pts[-1][0] + 1:
        prev = None
    new_pts = _with_moving_range(char, [g[1] for g in new], prev)
    found = rules.rule_signals(limits, new_pts, char.spec.rules, char.spec.use,
                               warm=[g[1] for g in warm_pts[-WARM:]])
    out = []
    for idx, chart, rule in found:
        number, _pt, units = new[idx]
        out.append(_signal(tx, char, limits_row, username, station, lot_id, number,
                           new_pts[idx].stat if chart == "x" else (new_pts[idx].spread or 0.0),
                           chart, rule, [u for u in units if u], obs_step(rows, number)))
    return out


def obs_step(rows: Sequence[Sequence[Any]], subgroup: int) -> int | None:
    return next((r[8] for r in reversed(rows) if r[2] == subgroup), None)


GroupObs = tuple[int, float, float, Any, float | None, float | None]  # subgroup, value, n,
# serial, spread, sd


def _complete_groups(char: Characteristic, obs: Sequence[GroupObs], size: int
                     ) -> list[tuple[int, rules.Point, list[str | None]]]:
    """(subgroup number, plotted point, serials) of each complete subgroup, in order."""
    by: dict[int, list[GroupObs]] = {}
    for o in obs:
        by.setdefault(o[0], []).append(o)
    chart = char.spec.chart
    out = []
    for number in sorted(by):
        members = by[number]
        serials = [m[3] for m in members]
        if chart in rules.VARIABLE_CHARTS and members[0][4] is not None and chart != "i-mr":
            _n, value, n, _s, spread, sd = members[0]  # a machine subgroup: one row
            if n == size:
                out.append((number, rules.Point(value, n, spread, value, sd), serials))
            continue
        if len(members) < size:
            continue
        if chart in ("p", "u"):
            flat = [x for m in members for x in (m[1], m[2])]
        else:
            flat = [m[1] for m in members]
        out.append((number, rules.subgroup_point(chart, flat), serials))
    return out


def _with_moving_range(char: Characteristic, pts: list[rules.Point], prev: float | None
                       ) -> list[rules.Point]:
    if char.spec.chart != "i-mr":
        return pts
    out = []
    for p in pts:
        out.append(rules.Point(p.stat, 1, abs(p.stat - prev) if prev is not None else None,
                               p.stat))
        prev = p.stat
    return out


def _signal(tx: Store, char: Characteristic, limits_row: dict[str, Any], username: str,
            station: str, lot_id: str, subgroup: int, stat: float, chart: str, rule: int,
            units: list[str], step_id: int | None) -> dict[str, Any]:
    s = char.spec
    text = rules.SPREAD_RULE_TEXT if chart == "spread" else rules.RULE_TEXT[(s.rules, rule)]
    row = {"characteristic": char.id, "limits_version": limits_row["version"],
           "subgroup": subgroup, "chart": chart, "rule_set": s.rules, "rule": rule,
           "stat": stat, "action": s.action, "lot_id": lot_id, "units": units,
           "station_id": station, "step_id": step_id, "ncr_id": None, "at": clock.now_iso()}
    label = f"{char.id} {_rule_label(s.rules, chart, rule)}: {text}"
    if s.action == "hold":
        row["ncr_id"] = _hold(tx, username, station, lot_id, units, label, char.id)
    signal_id = db.add_signal(tx, row)
    tx.append_audit(username=username, station=station,
                    action="spc.alert" if s.action == "alert" else "spc.signal",
                    entity_type="lot", entity_id=lot_id,
                    new={"signal": signal_id, "characteristic": char.id, "subgroup": subgroup,
                         "chart": chart, "rule_set": s.rules, "rule": rule, "stat": stat,
                         "limits_version": limits_row["version"], "action": s.action,
                         "ncr": row["ncr_id"], "units": units},
                    reason=label)
    return {"id": signal_id, "characteristic": char.id, "rule": _rule_label(s.rules, chart, rule),
            "text": text, "subgroup": subgroup, "stat": stat, "action": s.action,
            "lot": lot_id, "ncr": row["ncr_id"]}


def _rule_label(rule_set: str, chart: str, rule: int) -> str:
    prefix = "WE" if rule_set == "western-electric" else "N"
    return f"{prefix}{rule}" + (" (spread)" if chart == "spread" else "")


def _hold(tx: Store, username: str, station: str, lot_id: str, units: list[str],
          label: str, characteristic: str) -> str:
    """Hold the lot and open an NCR (one open SPC NCR per lot and characteristic)."""
    existing = db.open_spc_ncr(tx, lot_id, characteristic)
    lot = tx.get("lots", lot_id) or {}
    if existing is None:
        existing = f"NCR-{tx.next_counter('ncr'):04d}"
        description = f"SPC signal {label}: process out of control, investigate (issue 16)"
        tx.insert("ncrs", {"id": existing, "lot_id": lot_id, "units": [],
                           "description": description, "status": "open",
                           "opened_by": username, "opened_at": clock.now_iso()})
        tx.append_audit(username=username, station=station, action="ncr.open",
                        entity_type="ncr", entity_id=existing,
                        new={"item": lot_id, "kind": "lot", "units": [],
                             "description": description, "signal_units": units})
    if not lot.get("on_hold"):
        tx.update("lots", lot_id, {"on_hold": True, "hold_reason": existing})
        tx.append_audit(username=username, station=station, action="hold.ncr",
                        entity_type="lot", entity_id=lot_id,
                        old={"on_hold": False, "hold_reason": lot.get("hold_reason")},
                        new={"on_hold": True, "hold_reason": existing}, reason=existing)
    return existing


# -- characteristics and limits --------------------------------------------------------------

def characteristics(store: Store) -> dict[str, Characteristic]:
    """Every characteristic declared by an approved (or superseded) routing; newest wins."""
    from mes.domain.model import routing_from_dict

    found: dict[str, Characteristic] = {}
    for r in db.routing_docs(store):
        routing = routing_from_dict(r["doc"])
        for op in routing.operations:
            for d in op.data:
                if d.spc is not None and d.spc.id not in found:
                    found[d.spc.id] = Characteristic(d.spc.id, routing.part, r["version"],
                                                     op.op, op.name, d)
    return found


def characteristic(store: Store, char_id: str) -> Characteristic:
    chars = characteristics(store)
    found = chars.get(char_id.strip().upper())
    if found is None:
        known = ", ".join(sorted(chars)) or "none declared in an approved routing"
        raise NotFound(f"no SPC characteristic {char_id}: known are {known}")
    return found


def limits_of(row: dict[str, Any]) -> rules.Limits:
    return rules.Limits(row["chart"], row["subgroup_n"], row["center"], row["sigma"],
                        row["spread_center"], row["spread_lcl"], row["spread_ucl"])


def list_characteristics(ctx: Context) -> list[dict[str, Any]]:
    out = []
    for c in characteristics(ctx.store).values():
        lim = db.approved_limits(ctx.store, c.id)
        out.append({**c.as_dict(), "limits_version": lim["version"] if lim else None})
    return sorted(out, key=lambda r: r["id"])


def set_limits(ctx: Context, char_id: str, reason: str, *, lots: Sequence[str] = (),
               since: str | None = None, until: str | None = None,
               data_file: Path | None = None) -> dict[str, Any]:
    """A new draft version of the control limits from a phase-I study (signed: authored)."""
    signer = prepare_signature(ctx, "spc.limits", "authored")  # authority first, then state
    char = characteristic(ctx.store, char_id)
    if not reason.strip():
        raise InvalidInput("limits need a --reason (the phase-I study they come from)",
                           field="reason")
    if data_file is not None and (lots or since or until):
        raise InvalidInput("give either --data FILE or a selection of recorded data "
                           "(--lot/--since/--until), not both", field="data")
    pts, study = (_study_from_file(char, data_file) if data_file is not None
                  else _study_from_points(ctx.store, char, lots, since, until))
    try:
        limits = rules.phase1_limits(char.spec.chart, char.per_point, pts)
    except ValueError as exc:
        raise Refused(f"{char.id}: {exc}: record more data or widen the selection") from None
    row = {"characteristic": char.id, "status": "draft", "chart": limits.chart,
           "subgroup_n": limits.n, "center": limits.center, "sigma": limits.sigma,
           "spread_center": limits.spread_center, "spread_lcl": limits.spread_lcl,
           "spread_ucl": limits.spread_ucl, "study": study, "reason": reason.strip(),
           "set_by": signer.actor.username, "set_at": clock.now_iso()}
    with ctx.store.transaction() as tx:
        version = db.add_limits(tx, row)
        record = {**row, "version": version}
        tx.append_audit(username=signer.actor.username, station=ctx.station,
                        action="spc.limits_set", entity_type="spc_limits",
                        entity_id=f"{char.id}@{version}", new=record, reason=reason.strip())
        sig = sign(tx, signer, "spc_limits", f"{char.id}@{version}", record)
    return {**_limits_view(ctx.store, record), "signature": sig}


def approve_limits(ctx: Context, char_id: str, version: int) -> dict[str, Any]:
    signer = prepare_signature(ctx, "spc.approve", "approved")  # authority first, then state
    char = characteristic(ctx.store, char_id)
    row = db.limits_version(ctx.store, char.id, version)
    if row is None:
        raise NotFound(f"{char.id} has no limits version {version}: see "
                       f"`mes spc limits show {char.id}`")
    if row["status"] != "draft":
        raise Refused(f"{char.id} limits v{version} are {row['status']}, not a draft")
    if row["set_by"] == signer.actor.username:
        raise Refused(f"{char.id} limits v{version} were set by {row['set_by']}: another "
                      "person must approve them")
    record = {k: row[k] for k in row if k not in ("id", "status", "approved_by", "approved_at")}
    with ctx.store.transaction() as tx:
        if not db.approve_limits(tx, char.id, version, signer.actor.username, clock.now_iso()):
            raise Refused(f"{char.id} limits v{version} changed meanwhile: try again")
        tx.append_audit(username=signer.actor.username, station=ctx.station,
                        action="spc.limits_approve", entity_type="spc_limits",
                        entity_id=f"{char.id}@{version}", old={"status": "draft"},
                        new={"status": "approved"})
        sig = sign(tx, signer, "spc_limits", f"{char.id}@{version}", record)
    out = _limits_view(ctx.store, db.limits_version(ctx.store, char.id, version) or row)
    return {**out, "signature": sig}


def show_limits(ctx: Context, char_id: str) -> dict[str, Any]:
    char = characteristic(ctx.store, char_id)
    return {"characteristic": char.as_dict(),
            "versions": [_limits_view(ctx.store, r) for r in db.limits_versions(ctx.store,
                                                                                char.id)]}


def _limits_view(store: Store, row: dict[str, Any]) -> dict[str, Any]:
    lim = limits_of(row)
    lcl, ucl, _ = lim.at()
    study = row["study"] if isinstance(row["study"], dict) else json.loads(row["study"])
    return {"characteristic": row["characteristic"], "version": row["version"],
            "status": row.get("status", "draft"), "chart": row["chart"],
            "subgroup": row["subgroup_n"], "center": row["center"], "lcl": lcl, "ucl": ucl,
            "sigma": row["sigma"], "spread_center": row["spread_center"],
            "spread_lcl": row["spread_lcl"], "spread_ucl": row["spread_ucl"], "study": study,
            "reason": row["reason"], "set_by": row["set_by"], "set_at": row["set_at"],
            "approved_by": row.get("approved_by"), "approved_at": row.get("approved_at"),
            "signatures": signatures_for(store, "spc_limits",
                                         f"{row['characteristic']}@{row['version']}")}


def _study_from_points(store: Store, char: Characteristic, lots: Sequence[str],
                       since: str | None, until: str | None
                       ) -> tuple[list[rules.Point], dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    if lots:
        for lot in lots:
            rows += db.observations(store, char.id, lot=lot.strip().upper(), since=since)
    else:
        rows = db.observations(store, char.id, since=since)
    if until is not None:
        rows = [r for r in rows if r["at"] < until]
    rows.sort(key=lambda r: r["seq"])
    pts = series(char, rows)
    if not pts:
        raise Refused(f"{char.id}: no complete subgroup recorded in that selection: record "
                      "phase-I data first (or give --data FILE)")
    digest = hashlib.sha256(json.dumps([[r["seq"], r["value"], r["n"]] for r in rows]
                                       ).encode()).hexdigest()
    return [p for _n, p in pts], {
        "source": "recorded", "lots": sorted({r["lot_id"] for r in rows}),
        "since": since, "until": until, "subgroups": len(pts), "observations": len(rows),
        "from_seq": rows[0]["seq"], "to_seq": rows[-1]["seq"], "sha256": digest}


def _study_from_file(char: Characteristic, path: Path
                     ) -> tuple[list[rules.Point], dict[str, Any]]:
    """A study made outside mes (e.g. the PQ runs): one subgroup per line, values separated
    by commas or spaces; p/u charts: 'count, inspected' per line."""
    try:
        raw = path.read_bytes()
    except OSError:
        raise NotFound(f"{path}: no such file: give the phase-I data file") from None
    groups: list[list[float]] = []
    for no, line in enumerate(raw.decode("utf-8-sig", "replace").splitlines(), 1):
        text = line.split("#", 1)[0].replace(",", " ").split()
        if not text:
            continue
        try:
            values = [float(v) for v in text]
        except ValueError:
            raise InvalidInput(f"{path}:{no}: {line.strip()!r} is not a list of numbers",
                               field="data") from None
        want = 2 if char.spec.chart in ("p", "u") else char.per_point
        if len(values) != want:
            raise InvalidInput(f"{path}:{no}: {len(values)} values, {char.id} needs {want} "
                               "per line (one subgroup)", field="data")
        groups.append(values)
    pts = rules.points(char.spec.chart, groups)
    return pts, {"source": "file", "file": path.name, "subgroups": len(groups),
                 "sha256": hashlib.sha256(raw).hexdigest()}


def series(char: Characteristic, rows: Sequence[dict[str, Any]]
           ) -> list[tuple[int, rules.Point]]:
    """(subgroup number, point) of each complete subgroup among the rows, in order."""
    groups = _complete_groups(char, [(r["subgroup"], r["value"], r["n"], r.get("serial"),
                                      r.get("spread"), r.get("sd")) for r in rows],
                              char.per_point)
    out: list[tuple[int, rules.Point]] = []
    prev: tuple[int, float] | None = None
    for number, p, _units in groups:
        if char.spec.chart == "i-mr":
            mr = abs(p.stat - prev[1]) if prev is not None and prev[0] == number - 1 else None
            p = rules.Point(p.stat, 1, mr, p.stat)
        out.append((number, p))
        prev = (number, p.stat)
    return out


# -- pictures and reports --------------------------------------------------------------------

def chart_data(ctx: Context, char_id: str, *, lot: str | None = None,
               since: str | None = None, station: str | None = None) -> dict[str, Any]:
    """What a chart shows: the points, limits, spec limits, zones, signals, out-of-limit."""
    store = ctx.store
    char = characteristic(store, char_id)
    rows = db.observations(store, char.id, lot=lot.upper() if lot else None, since=since,
                           station=station.upper() if station else None)
    pts = series(char, rows)
    lim_row = db.approved_limits(store, char.id)
    limits = limits_of(lim_row) if lim_row else None
    sig = db.signals(store, characteristic=char.id)
    numbers = {n for n, _ in pts}
    by_group: dict[int, list[str]] = {}
    for s in sig:
        if s["subgroup"] in numbers:
            by_group.setdefault(s["subgroup"], []).append(
                _rule_label(s["rule_set"], s["chart"], s["rule"]))
    out_of_spec: dict[int, bool] = {}
    for r in rows:
        if _outside(char, r):
            out_of_spec[r["subgroup"]] = True
    plotted = []
    for number, p in pts:
        lcl = ucl = None
        if limits is not None:
            lcl, ucl, _s = limits.at(p.n)
        plotted.append({"subgroup": number, "stat": p.stat, "n": p.n, "spread": p.spread,
                        "lcl": lcl, "ucl": ucl, "signals": by_group.get(number, []),
                        "out_of_spec": out_of_spec.get(number, False)})
    return {"characteristic": char.as_dict(), "filter": {"lot": lot, "since": since,
                                                          "station": station},
            "limits": _limits_view(store, lim_row) if lim_row else None,
            "points": plotted}


def draw_chart(ctx: Context, char_id: str, fmt: str, out: Path | None = None, **filters: Any
               ) -> dict[str, Any]:
    from mes.render.spc_chart import render_control_chart

    data = chart_data(ctx, char_id, **filters)
    if not data["points"]:
        raise Refused(f"{data['characteristic']['id']}: no complete subgroup in that "
                      "selection: nothing to draw")
    blob = render_control_chart(data, fmt)
    name = data["characteristic"]["id"]
    path = out or ctx.workspace / "charts" / f"{name}.{fmt}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(blob)
    return {"file": str(path), "format": fmt, "points": len(data["points"]),
            "signals": sum(len(p["signals"]) for p in data["points"]),
            "sha256": hashlib.sha256(blob).hexdigest()}


def report(ctx: Context, *, char_id: str | None = None, lot: str | None = None,
           since: str | None = None, station: str | None = None, by: str | None = None,
           confidence: float = 0.95) -> dict[str, Any]:
    """Signals and capability per characteristic (and per lot, station or month with --by)."""
    if by not in (None, "lot", "station", "month"):
        raise InvalidInput(f"--by {by}: use lot, station or month", field="by")
    if not 0.5 <= confidence < 1:
        raise InvalidInput("--confidence must be between 0.5 and 1 (e.g. 0.95)",
                           field="confidence")
    store = ctx.store
    chars = ([characteristic(store, char_id)] if char_id
             else list(characteristics(store).values()))
    lot_f = lot.upper() if lot else None
    station_f = station.upper() if station else None
    out = []
    for char in sorted(chars, key=lambda c: c.id):
        rows = db.observations(store, char.id, lot=lot_f, since=since, station=station_f)
        groups: dict[str, list[dict[str, Any]]] = {"all": rows}
        if by:
            groups = {}
            for r in rows:
                key = {"lot": r["lot_id"], "station": r["station_id"] or "-",
                       "month": r["at"][:7]}[by]
                groups.setdefault(key, []).append(r)
        caps = {k: _capability(char, v, confidence) for k, v in groups.items()}
        sig = db.signals(store, characteristic=char.id, lot=lot_f, since=since,
                         station=station_f)
        out.append({**char.as_dict(),
                    "observations": int(sum(r["n"] if r["spread"] is not None else 1
                                            for r in rows)) if char.spec.chart
                    in rules.VARIABLE_CHARTS else len(rows),
                    "out_of_spec": sum(1 for r in rows if _outside(char, r)),
                    "signals": [_signal_view(s) for s in sig],
                    "capability": caps})
    return {"confidence": confidence, "by": by, "characteristics": out}


def _outside(char: Characteristic, r: dict[str, Any]) -> bool:
    """A value (or, for a machine subgroup, its smallest or largest) outside spec limits."""
    if char.spec.chart not in rules.VARIABLE_CHARTS:
        return False
    d = char.data
    lo = r["lo"] if r.get("lo") is not None else r["value"]
    hi = r["hi"] if r.get("hi") is not None else r["value"]
    return (d.min is not None and lo < d.min) or (d.max is not None and hi > d.max)


def _capability(char: Characteristic, rows: Sequence[dict[str, Any]], confidence: float
                ) -> dict[str, Any] | None:
    if char.spec.chart not in rules.VARIABLE_CHARTS:
        return None
    pts = [p for _n, p in series(char, rows)]
    if len(pts) < 2:
        return None
    return rules.capability(char.spec.chart, pts, char.data.min, char.data.max,
                            confidence).as_dict()


def _signal_view(s: dict[str, Any]) -> dict[str, Any]:
    return {"id": s["id"], "characteristic": s["characteristic"],
            "rule": _rule_label(s["rule_set"], s["chart"], s["rule"]),
            "text": rules.SPREAD_RULE_TEXT if s["chart"] == "spread"
            else rules.RULE_TEXT[(s["rule_set"], s["rule"])],
            "subgroup": s["subgroup"], "stat": s["stat"], "action": s["action"],
            "lot": s["lot_id"], "units": s["units"], "station": s["station_id"],
            "ncr": s["ncr_id"], "limits_version": s["limits_version"], "at": s["at"]}


# -- for the DHR ------------------------------------------------------------------------------

def lot_signals(store: Store, lot_id: str) -> list[dict[str, Any]]:
    """The lot's out-of-control signals, for the DHR's exceptions."""
    return [_signal_view(s) for s in db.signals(store, lot=lot_id)]


def lot_charts(ctx: Context, lot_id: str, fmt: str = "pdf") -> list[dict[str, Any]]:
    """One vector chart per characteristic with data in the lot: PDF (or SVG) bytes each,
    with what a caption says (subgroups, signals, the approved limits).

    The chart shows the lot's subgroups against the approved limits; the DHR embeds the
    SVG as a vector drawing (mes.render.dhr_charts).
    """
    from mes.render.spc_chart import render_control_chart

    out = []
    for char_id in db.lot_characteristics(ctx.store, lot_id):
        try:
            data = chart_data(ctx, char_id, lot=lot_id)
        except NotFound:
            continue  # the routing that declared it is no longer approved
        if not data["points"]:
            continue
        lim = data["limits"]
        out.append({"characteristic": char_id, "title": _title(data), "format": fmt,
                    "points": len(data["points"]),
                    "signals": sum(len(p["signals"]) for p in data["points"]),
                    "limits": {k: lim[k] for k in ("version", "center", "ucl", "lcl")}
                    if lim else None,
                    "data": render_control_chart(data, fmt)})
    return out


def _title(data: dict[str, Any]) -> str:
    c = data["characteristic"]
    return f"{c['id']} — {c['data']} ({c['chart']}), op {c['op']} {c['op_name']}"

