"""Step interlocks (Part 11 11.10(f)-(h)): pure rules, each raising with what to do."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from mes.domain.model import DataSpec, Operation, Routing
from mes.domain.words import a
from mes.errors import InvalidInput, NotAuthorised, NotFound, Refused

CLOSED_STATUSES = {"scrapped": "scrapped", "completed": "completed", "released": "released",
                   "shipped": "shipped", "consumed": "consumed into another unit",
                   "cancelled": "cancelled"}


def check_station(station: Mapping[str, Any] | None, station_id: str, op: Operation,
                  today: date) -> None:
    if station is None:
        raise NotFound(f"station {station_id} is not registered: ask a technician to add it")
    if not station["active"]:
        raise Refused(f"station {station_id} is inactive: use an active {op.station_type} "
                      "station")
    if station["type"] != op.station_type:
        raise Refused(f"op {op.op} ({op.name}) runs on {a(op.station_type)} station, "
                      f"{station_id} is {a(station['type'])}: go to {a(op.station_type)} "
                      "station")
    due = station.get("calibration_due")
    if due and date.fromisoformat(due) < today:
        raise Refused(f"station {station_id} calibration expired on {due}: "
                      "ask a technician to calibrate it")


def check_qualified(username: str, station_type: str, latest: Mapping[str, Any] | None,
                    today: date) -> None:
    """The latest grant (or revocation) for the station type is the one in force: a
    re-grant with an earlier end date shortens the qualification (issue 11)."""
    if latest is None:
        raise NotAuthorised(f"{username} is not qualified for {station_type} stations: "
                            "ask quality for a qualification")
    if latest.get("revoked_reason"):
        raise NotAuthorised(f"{username}'s qualification for {station_type} was revoked on "
                            f"{latest['valid_until']} ({latest['revoked_reason']}): ask "
                            "quality to requalify")
    if date.fromisoformat(latest["valid_until"]) < today:
        raise NotAuthorised(f"{username}'s qualification for {station_type} expired on "
                            f"{latest['valid_until']}: ask quality to requalify")


def check_not_past(value: date, today: date, option: str) -> None:
    """A qualification or calibration that would already have ended is a typing error."""
    if value < today:
        raise InvalidInput(f"{option} {value.isoformat()} is already past (today is "
                           f"{today.isoformat()}): give a date from today on",
                           field=option.lstrip("-"))


def check_workable(kind: str, item_id: str, status: str, on_hold: bool,
                   hold_reason: str | None) -> None:
    """A lot or unit must be in process and not on hold to take a step."""
    if on_hold:
        why = f" ({hold_reason})" if hold_reason else ""
        raise Refused(f"{kind} {item_id} is on hold{why}: ask quality")
    if status in CLOSED_STATUSES:
        raise Refused(f"{kind} {item_id} is {CLOSED_STATUSES[status]}: no more steps can be "
                      "recorded on it")


def check_order(routing: Routing, op: Operation, passed: set[int], item_id: str) -> None:
    missing = [o for o in routing.required_before(op.op) if o.op not in passed]
    if missing:
        first = missing[0]
        raise Refused(f"{item_id}: op {first.op} ({first.name}) has not passed yet: "
                      f"do op {first.op} before op {op.op}")
    if op.op in passed:
        raise Refused(f"{item_id}: op {op.op} ({op.name}) has already passed: "
                      "scan the next operation")


@dataclass(frozen=True)
class DataCheck:
    values: dict[str, Any]
    out_of_limits: list[str]


# How a value of each type is asked for, in words a person at the station reads.
TYPE_WORDS = {"float": ("a number", "243.5"), "int": ("a whole number", "3"),
              "bool": ("true or false", "true"), "str": ("text", "X-1")}


def parse_value(spec: DataSpec, raw: str) -> Any:
    try:
        if spec.type == "float":
            value: Any = float(raw)
            if value != value or value in (float("inf"), float("-inf")):
                raise ValueError
            return value
        if spec.type == "int":
            return int(raw)
        if spec.type == "bool":
            lowered = raw.strip().lower()
            if lowered not in {"true", "false", "1", "0", "yes", "no", "pass", "fail"}:
                raise ValueError
            return lowered in {"true", "1", "yes", "pass"}
    except ValueError:
        words, example = TYPE_WORDS.get(spec.type, (spec.type, "..."))
        raise InvalidInput(f"{spec.name}={raw!r} is not {words}: enter {words}, e.g. "
                           f"{spec.name}={example}", field=spec.name) from None
    return raw


def check_value(op: Operation, name: str, raw: str) -> Any:
    """One captured value, checked as soon as it is entered (name captured by the op, type)."""
    spec = op.data_spec(name)
    if spec is None:
        known = ", ".join(d.name for d in op.data) or "no data"
        raise InvalidInput(f"op {op.op} ({op.name}) does not capture {name}: it captures "
                           f"{known}", field=name)
    return parse_value(spec, raw)


def check_data(op: Operation, raw: Mapping[str, str], result: str | None = None,
               *, with_result: bool = False) -> DataCheck:
    """Parse captured data by its spec; unknown or missing data is refused before any write.

    A refusal names every unknown and every missing field (and a missing result when
    `with_result`), so the operator fixes them all at once.
    """
    unknown = sorted(set(raw) - {d.name for d in op.data})
    if unknown:
        known = ", ".join(d.name for d in op.data) or "no data"
        raise InvalidInput(f"op {op.op} ({op.name}) does not capture {', '.join(unknown)}: "
                           f"it captures {known}", field=unknown[0])
    missing = [s for s in op.data if s.required and s.name not in raw]
    if missing or (with_result and op.result_required and result is None):
        need = [f"{s.name}{' in ' + s.unit if s.unit else ''}" for s in missing]
        add = [f"--data {s.name}=VALUE" for s in missing]
        if with_result and op.result_required and result is None:
            need.append("a result")
            add.append("--result pass|fail")
        raise InvalidInput(f"op {op.op} ({op.name}) needs {', '.join(need)}: add "
                           f"{' '.join(add)}", field=missing[0].name if missing else "result")
    values: dict[str, Any] = {}
    out: list[str] = []
    for spec in op.data:
        if spec.name not in raw:
            continue
        value = parse_value(spec, raw[spec.name])
        values[spec.name] = value
        problem = limit_problem(spec, value)
        if problem:
            out.append(problem)
    return DataCheck(values, out)


def limit_problem(spec: DataSpec, value: Any) -> str | None:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    unit = f" {spec.unit}" if spec.unit else ""
    if spec.min is not None and value < spec.min:
        return f"{spec.name}={value}{unit} below min {spec.min}{unit}"
    if spec.max is not None and value > spec.max:
        return f"{spec.name}={value}{unit} above max {spec.max}{unit}"
    return None


def check_result(op: Operation, result: str | None) -> str | None:
    if result is not None and result not in ("pass", "fail"):
        raise InvalidInput(f"--result must be pass or fail, not {result!r}", field="result")
    if op.result_required and result is None:
        raise InvalidInput(f"op {op.op} ({op.name}) needs a result: add --result pass|fail",
                           field="result")
    return result


def check_material_usable(material: Mapping[str, Any], op: Operation, today: date) -> None:
    mid = material["id"]
    if material["part"] not in {b.part for b in op.consumes}:
        allowed = ", ".join(b.part for b in op.consumes) or "nothing"
        raise Refused(f"{mid} is {material['part']}, op {op.op} ({op.name}) consumes "
                      f"{allowed}: scan the right material")
    if material["on_hold"]:
        raise Refused(f"material {mid} is on hold: ask quality")
    if material["status"] != "released":
        raise Refused(f"material {mid} is {material['status']}, not released: "
                      "ask quality to release it after incoming inspection")
    expiry = material.get("expiry")
    if expiry and date.fromisoformat(expiry) < today:
        raise Refused(f"material {mid} expired on {expiry}: remove it from the line and "
                      "tell quality")


@dataclass(frozen=True)
class InstructionInForce:
    """The approved work instruction revision an operation follows now (issue 18)."""

    doc: str
    revision: str
    approved_at: datetime
    previous: tuple[str, ...] = ()  # revisions approved before this one, oldest first


def check_trained(username: str, wi: InstructionInForce, trained: set[str], op: Operation,
                  now: datetime, grace_days: float) -> str | None:
    """The operator must be trained on the revision in force; a training on the revision it
    replaced still counts for `grace_days` after the new one was approved (an older one
    never does). Returns a note while the grace period carries the operator, else None."""
    if wi.revision in trained:
        return None
    doc_rev = f"{wi.doc} rev {wi.revision}"
    earlier = [r for r in wi.previous if r in trained]
    todo = (f"ask quality or a trainer to record it (`mes training record {username} "
            f"{wi.doc} --revision {wi.revision}`)")
    if earlier:
        until = wi.approved_at + timedelta(days=grace_days)
        if earlier[-1] == wi.previous[-1] and now < until:
            return (f"{username} is trained on {wi.doc} rev {earlier[-1]}, not yet on rev "
                    f"{wi.revision}: retrain before {until.date().isoformat()}")
        raise Refused(f"op {op.op} ({op.name}) follows {doc_rev} (approved "
                      f"{wi.approved_at.date().isoformat()}); {username} was trained on rev "
                      f"{earlier[-1]} only, which is no longer current: retrain and {todo}")
    raise Refused(f"op {op.op} ({op.name}) follows {doc_rev}; {username} has no training on "
                  f"{wi.doc}: train the operator on it and {todo}")
