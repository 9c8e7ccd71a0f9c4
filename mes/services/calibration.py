"""Calibration as a signed record (issue 18), and the impact of a failed one.

`station.calibration_due` stays the date the step interlock reads; each calibration
record (certificate, result, next due date, signer) sets it when it passes. A failed
calibration, i.e. the equipment found out of tolerance, blocks the station until a
passing one, and scopes what it produced since the last passing calibration: every lot
and unit with a step recorded there in that window (`impact`), held in one signed
command (`hold_impact`).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from mes import clock
from mes.errors import InvalidInput, NotFound, Refused
from mes.services.auth import prepare_signature, sign
from mes.services.context import Context
from mes.store import resources as records
from mes.store.base import Store

RESULTS = ("pass", "fail")
# Items that have left the plant or the process cannot be held: the impact lists them.
NOT_HOLDABLE = frozenset({"shipped", "scrapped", "consumed"})


def calibrate(ctx: Context, station_id: str, certificate: str, result: str,
              due: date | None) -> dict[str, Any]:
    certificate = certificate.strip()
    if not certificate:
        raise InvalidInput("a calibration needs --certificate (the certificate reference)",
                           field="certificate")
    if result not in RESULTS:
        raise InvalidInput(f"--result {result!r}: use pass or fail", field="result")
    today = clock.now().date()
    if result == "pass" and due is None:
        raise InvalidInput("a passing calibration needs --due (the next due date, YYYY-MM-DD)",
                           field="due")
    if due is not None and due < today:
        raise InvalidInput(f"--due {due.isoformat()} is in the past: give the next due date "
                           "from the certificate", field="due")
    signer = prepare_signature(ctx, "station.calibrate", "authored")
    store = ctx.store
    station = store.get("stations", station_id)
    if station is None:
        raise NotFound(f"station {station_id} is not registered: see `mes station list`")
    now = clock.now_iso()
    row = {"station_id": station_id, "certificate": certificate, "result": result,
           "due": due.isoformat() if due else None, "performed_at": now,
           "performed_by": signer.actor.username}
    with store.transaction() as tx:
        cal_id = tx.insert("calibrations", row, returning="id")
        tx.append_audit(username=signer.actor.username, station=ctx.station,
                        action="station.calibrate", entity_type="station",
                        entity_id=station_id, new={"calibration": cal_id, **row})
        if result == "pass" and row["due"] != station["calibration_due"]:
            tx.update("stations", station_id, {"calibration_due": row["due"]})
            tx.append_audit(username=signer.actor.username, station=ctx.station,
                            action="station.update", entity_type="station",
                            entity_id=station_id,
                            old={"calibration_due": station["calibration_due"]},
                            new={"calibration_due": row["due"]},
                            reason=f"calibration {certificate} passed")
        sig = sign(tx, signer, "calibration", str(cal_id), {"id": cal_id, **row})
        tx.update("calibrations", cal_id, {"signature_id": sig["id"]})
    return {"id": cal_id, **row, "signed_by": signer.actor.full_name}


def check_calibration(store: Store, station_id: str) -> None:
    """Step interlock: a station whose latest calibration failed may not post steps."""
    last = records.latest_calibration(store, station_id)
    if last is not None and last["result"] == "fail":
        raise Refused(f"station {station_id} failed calibration {last['certificate']} on "
                      f"{last['performed_at'][:10]} (out of tolerance): recalibrate it, and "
                      f"see `mes station impact {station_id}`")


def history(ctx: Context, station_id: str) -> list[dict[str, Any]]:
    _station(ctx.store, station_id)
    return records.calibrations(ctx.store, station_id)


def _station(store: Store, station_id: str) -> dict[str, Any]:
    row = store.get("stations", station_id)
    if row is None:
        raise NotFound(f"station {station_id} is not registered: see `mes station list`")
    return row


def _window(cals: list[dict[str, Any]]) -> dict[str, Any]:
    """From the last passing calibration before the latest failure (or, with no failure,
    the last passing one) to that failure (or now)."""
    fails = [c for c in cals if c["result"] == "fail"]
    failed = fails[-1] if fails else None
    until = failed["performed_at"] if failed else None
    passes = [c for c in cals if c["result"] == "pass" and (until is None or
                                                           c["performed_at"] < until)]
    since = passes[-1] if passes else None
    return {"since": since["performed_at"] if since else None,
            "since_certificate": since["certificate"] if since else None,
            "until": until, "failed_certificate": failed["certificate"] if failed else None}


def impact(ctx: Context, station_id: str) -> dict[str, Any]:
    """Every lot and unit produced on the station since its last passing calibration."""
    store = ctx.store
    _station(store, station_id)
    window = _window(records.calibrations(store, station_id))
    steps = records.steps_on_station(store, station_id, window["since"], window["until"])
    lots: dict[str, dict[str, Any]] = {}
    for s in steps:
        lot = lots.setdefault(s["lot_id"], {"lot": s["lot_id"], "part": s["part"],
                                            "ops": set(), "units": set(), "steps": 0})
        lot["ops"].add(s["op"])
        lot["steps"] += 1
        if s["serial"]:
            lot["units"].add(s["serial"])
    out_lots, units = [], []
    for lot_id in sorted(lots):
        x = lots[lot_id]
        row = store.get("lots", lot_id) or {}
        entry = {"lot": lot_id, "part": x["part"], "ops": sorted(x["ops"]),
                 "steps": x["steps"], "status": row.get("status"),
                 "on_hold": bool(row.get("on_hold")), "serialized": bool(row.get("serialized")),
                 "units": sorted(x["units"])}
        out_lots.append(entry)
        for serial in entry["units"]:
            u = store.get("units", serial) or {}
            units.append({"serial": serial, "lot": lot_id, "status": u.get("status"),
                          "on_hold": bool(u.get("on_hold"))})
    return {"station": station_id, "window": window, "lots": out_lots, "units": units,
            "counts": {"lots": len(out_lots), "units": len(units), "steps": len(steps)}}


def hold_impact(ctx: Context, station_id: str, reason: str) -> dict[str, Any]:
    """Hold, in one signed transaction, every unit (and non-serialized lot) of the impact
    that is still in the plant; shipped ones are listed for a field action."""
    if not reason.strip():
        raise InvalidInput("holding the impact needs a --reason", field="reason")
    signer = prepare_signature(ctx, "station.impact_hold", "held")
    scope = impact(ctx, station_id)
    hold_reason = f"station {station_id} calibration impact: {reason}"
    held: list[str] = []
    with ctx.store.transaction() as tx:
        targets = [("unit", "units", u["serial"]) for u in scope["units"]]
        targets += [("lot", "lots", x["lot"]) for x in scope["lots"] if not x["serialized"]]
        for kind, table, key in targets:
            row = tx.get(table, key) or {}
            if row.get("on_hold") or row.get("status") in NOT_HOLDABLE:
                continue
            if tx.update(table, key, {"on_hold": True, "hold_reason": hold_reason},
                         expect={"on_hold": False}) != 1:
                continue
            tx.append_audit(username=signer.actor.username, station=ctx.station,
                            action=f"{kind}.hold", entity_type=kind, entity_id=key,
                            old={"on_hold": False}, new={"on_hold": True}, reason=hold_reason)
            held.append(key)
        record = {"station": station_id, "window": scope["window"], "held": held,
                  "counts": scope["counts"], "reason": reason}
        tx.append_audit(username=signer.actor.username, station=ctx.station,
                        action="station.impact_hold", entity_type="station",
                        entity_id=station_id, new={"held": held, "counts": scope["counts"]},
                        reason=reason)
        sign(tx, signer, "station-impact", station_id, record)
    return {**scope, "held": held, "reason": reason}


def dhr_section(store: Store, steps: list[dict[str, Any]], names: dict[str, str]
                ) -> list[dict[str, Any]]:
    """For each station the lot's steps used: the calibration in force at first use, every
    record during use, and the first one after (a failure found later scopes this lot)."""
    first_use: dict[str, str] = {}
    last_use: dict[str, str] = {}
    for s in steps:
        sid, at = s["station_id"], s["started_at"]
        first_use[sid] = min(first_use.get(sid, at), at)
        last_use[sid] = max(last_use.get(sid, at), at)
    by_station: dict[str, list[dict[str, Any]]] = {}
    for c in records.calibrations_of(store, first_use):
        by_station.setdefault(c["station_id"], []).append(c)
    out: list[dict[str, Any]] = []
    for sid in sorted(by_station):
        cals = by_station[sid]
        before = [c for c in cals if c["performed_at"] <= first_use[sid]][-1:]
        during = [c for c in cals if first_use[sid] < c["performed_at"] <= last_use[sid]]
        # The next record after last use counts only if it failed (a pass then proves the
        # station was in tolerance; a routine recalibration must not change a frozen DHR).
        after = [c for c in cals if c["performed_at"] > last_use[sid]][:1]
        after = [c for c in after if c["result"] == "fail"]
        rows = [(c, "in force at first use") for c in before] + \
            [(c, "during use") for c in during] + [(c, "after last use") for c in after]
        failed_later = any(c["result"] == "fail" for c in during + after)
        out.extend({"station": sid, "certificate": c["certificate"], "result": c["result"],
                    "due": c["due"], "performed_at": c["performed_at"],
                    "by": names.get(c["performed_by"], c["performed_by"]), "when": when,
                    "failed_after_use": failed_later} for c, when in rows)
    return out
