"""Reading and verifying the audit trail."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from operator import itemgetter
from typing import Any

from mes.domain.audit import ChainWalk, parse_json, quoted_keys, row_digest_of
from mes.errors import IntegrityFailure, NotFound
from mes.services.context import Context
from mes.store.base import NOT_RECORD_ROWS, image_key


def log(ctx: Context, entity: str | None, limit: int | None) -> list[dict[str, Any]]:
    rows = ctx.store.audit_log(entity, limit)
    for r in rows:
        r["old"] = json.loads(r["old"]) if r["old"] else None
        r["new"] = json.loads(r["new"]) if r["new"] else None
    return rows


def verify(ctx: Context, anchor: str | None = None, *, reconcile: bool = False,
           files: bool = False) -> dict[str, Any]:
    """Recompute the chain; with an anchor (a head printed on a DHR), check it is still there;
    with reconcile, check that the records say what the events say."""
    # One pass over the audit table: the chain, and what reconcile and the file check read
    # from each event (the seals and the protection are checked before their results are).
    walk = ChainWalk()
    named: dict[str, tuple[str, int]] = {}
    events = walk.events(ctx.store.audit_tuples())
    if files:
        events = _noting_files(events, named)
    result = reconcile_records(ctx.store, events=events) if reconcile else None
    for _ in events:  # without reconcile: the chain and the files only
        pass
    report = walk.report
    assert report is not None
    out = {"ok": report.ok, "events": report.events, "head_seq": report.head_seq,
           "head_hash": report.head_hash, "first_bad_seq": report.first_bad_seq,
           "problem": report.problem}
    if not report.ok:
        raise IntegrityFailure(f"audit chain broken at event {report.first_bad_seq}: "
                               f"{report.problem}; restore from a backup and investigate")
    ctx.store.require_protected()
    if anchor:
        hit = ctx.store.audit_has(anchor.strip().lower())
        if hit is None:
            raise IntegrityFailure(f"anchor {anchor[:16]}… is not in the audit chain: the "
                                   "chain was rewritten after that record was printed")
        out["anchor_seq"] = hit["seq"]
    from mes.services import seals

    sealed = seals.check(ctx.store, ctx.workspace)
    out["seals"] = {k: sealed[k] for k in ("seals", "newest", "warning")}
    if not sealed["ok"]:
        raise IntegrityFailure(f"the audit chain does not match its seals: "
                               f"{_first(sealed['problems'])}; restore from a backup and "
                               "investigate")
    if result is not None:
        out["reconcile"] = result
        if not result["ok"]:
            raise IntegrityFailure(f"records differ from the audit trail: "
                                   f"{_first(result['problems'])}; investigate who changed the "
                                   "database file")
    if files:
        from mes.services.files import check

        found = check(ctx.store, ctx.workspace, latest=named)
        out["files"] = found
        if not found["ok"]:
            raise IntegrityFailure(f"files differ from the audit trail: "
                                   f"{_first(found['problems'])}; restore them from a backup "
                                   "or write them again, and investigate")
    return out


def _noting_files(events: Iterator[Sequence[Any]], latest: dict[str, tuple[str, int]]
                  ) -> Iterator[Sequence[Any]]:
    """Hand the events on, noting the files each names (for `--files`)."""
    from mes.services.files import note_files

    for row in events:
        note_files(latest, row[8], row[0])
        yield row


def _first(problems: list[str], n: int = 3) -> str:
    more = f" (and {len(problems) - n} more)" if len(problems) > n else ""
    return "; ".join(problems[:n]) + more


def seal(ctx: Context) -> dict[str, Any]:
    """Seal the chain head now (`mes audit seal`)."""
    from mes.services import seals

    made = seals.seal(ctx.store, ctx.workspace, "manual")
    if made is None:
        raise NotFound("the audit trail is empty: nothing to seal")
    return {**made, "journals": [str(p) for p in seals.journals(ctx.store, ctx.workspace)]}


def head(ctx: Context) -> dict[str, Any]:
    row = ctx.store.audit_head()
    return {"seq": row["seq"], "hash": row["hash"]} if row else {"seq": 0, "hash": "0" * 64}


# -- reconcile: current state against what the audit events say ------------------------------
# Additive (docs/RELIABILITY.md): the chain proves the events were not changed; this proves
# the state tables were not changed behind the events' back. Only what the events fully
# describe is compared; see docs/RELIABILITY.md for what is and is not covered.

_STEP_ACTIONS = frozenset({"step.start", "step.complete"})


Images = dict[str, dict[Any, tuple[str | None, int]]]  # table -> key -> (digest, seq)


def _image_ref(key: Any) -> Any:
    """A row key as a dict key: the value, or a tuple for a composite key."""
    return tuple(key) if isinstance(key, list) else key


def compare_row_images(store: Any, images: Images, bad: Any) -> int:
    """Every row of every record table against the image its latest audit event carries
    (issue 13): a row edited, inserted or deleted behind the events is named. Generic:
    a table is covered by being written through the store's helpers."""
    checked = 0
    tables = store.record_tables()
    for table in tables:
        pk = store.primary_key(table)
        single = len(pk) == 1
        written = images.get(table, {})
        seen: set[Any] = set()
        cols, rows = store.iter_sorted_tuples(table)
        keys = quoted_keys(cols)
        at = [cols.index(c) for c in pk]
        skipped = {k for t, k in NOT_RECORD_ROWS if t == table} if single else set()
        key_of = itemgetter(*at)  # the value for a one-column key, else a tuple
        for row in rows:
            ref = key_of(row)
            if ref in skipped:
                continue
            checked += 1
            seen.add(ref)
            digest, seq = written.get(ref, (None, 0))
            if digest is None or row_digest_of(keys, row) != digest:
                k = (ref,) if single else ref
                bad(f"{table} {image_key(k)}: no audit event wrote this row (inserted "
                    "directly?)" if digest is None else f"{table} {image_key(k)}: the row "
                    f"differs from what audit event {seq} recorded (edited directly?)")
        for ref, (digest, seq) in written.items():
            if digest is not None and ref not in seen:
                shown = list(ref) if isinstance(ref, tuple) else ref
                bad(f"{table} {shown}: audit event {seq} wrote this row, it is missing "
                    "(deleted directly?)")
    # a table whose rows were all removed by recorded events (a migration) may be gone
    for t in sorted({t for t, refs in images.items()
                     if any(d is not None for d, _ in refs.values())} - set(tables)):
        bad(f"table {t}, written by the audit trail, is missing (dropped?)")
    return checked


def reconcile_records(store: Any, limit: int = 50,
                      events: Iterable[Sequence[Any]] | None = None) -> dict[str, Any]:
    """Replay the audit events and compare materials, lots, units, steps, signatures, edges,
    and every record row with its image. `events`: the audit events as tuples in
    AUDIT_COLUMNS order (default: read from the store)."""
    from collections import Counter

    mats: dict[str, dict[str, Any]] = {}
    lots: dict[str, dict[str, Any]] = {}
    units: dict[str, dict[str, Any]] = {}
    steps: dict[int, dict[str, Any]] = {}
    sigs: Counter[tuple[Any, ...]] = Counter()
    installs: Counter[tuple[Any, ...]] = Counter()
    flashes: list[tuple[str, str, Any]] = []
    ncrs: dict[str, dict[str, Any]] = {}
    users: dict[str, dict[str, Any]] = {}
    problems: list[str] = []
    count = 0

    def state(etype: str, eid: str) -> dict[str, Any] | None:
        return {"lot": lots, "unit": units, "material": mats, "ncr": ncrs}.get(
            etype, {}).get(eid)

    def bad(message: str) -> None:
        if len(problems) < limit:
            problems.append(message)

    def _replay(username: str | None, action: str, etype: str, eid: str, new: Any) -> None:
        if action == "material.receive":
            mats[eid] = {"received": new["qty_received"], "consumed": 0.0,
                         "status": new["status"], "on_hold": bool(new.get("on_hold", False))}
        elif action == "lot.adjust":  # a planned quantity raised: new serials (issue 12)
            for s in new.get("serials") or []:
                units[s] = {"status": "in_process", "on_hold": False}
            return
        elif action == "lot.create":
            lots[eid] = {"status": "in_process", "on_hold": False}
            for s in new.get("serials") or []:
                units[s] = {"status": "in_process", "on_hold": False}
        elif action in _STEP_ACTIONS:
            steps[int(new["step"])] = {
                "entity_type": etype, "entity": eid, "op": new["op"],
                "status": "started" if action == "step.start" else new["status"],
                "data": new.get("data") or {}, "consumed": new.get("consumed") or []}
            for item, _qty in new.get("consumed") or []:
                if item in units:
                    units[item]["status"] = "consumed"
            return
        elif action == "step.data" and int(new["step"]) in steps:
            steps[int(new["step"])]["data"] = new.get("data") or {}
            return
        elif action == "material.consume" and etype == "material" and eid in mats:
            mats[eid]["consumed"] += float(new["qty"])
        elif action in ("material.scrap", "material.return-to-supplier") and eid in mats \
                and "remaining" in new:  # written off by an NCR: nothing left to use
            m = mats[eid]
            m["written_off"] = float(m["received"]) - m["consumed"] - float(new["remaining"])
        elif action == "ncr.open":
            ncrs[eid] = {"status": "open"}
            return
        elif action == "user.add":
            users[eid] = {"role": new["role"], "locked": False}
            return
        elif action in ("user.login_failed", "user.unlock") and eid in users:
            users[eid]["locked"] = bool(new["locked"])
            return
        elif action in ("material.install", "material.correct"):  # edges outside a step
            installs[(eid, new["material"], float(new["qty"]))] += 1
        elif action == "firmware.flash":
            flashes.append((eid, new["image_id"], new.get("step_id")))
        elif action == "signature":
            sigs[(username, etype, eid, new["meaning"], new["full_name"],
                  new["record_sha256"])] += 1
            return
        elif action == "lot.release":
            for s in new.get("units") or []:
                if s in units:
                    units[s]["status"] = "released"
        elif action == "ship":
            for s in new.get("serials") or []:
                if s in units:
                    units[s]["status"] = "shipped"
        target = state(etype, eid)
        if target is not None and isinstance(new, dict):
            for key in ("status", "on_hold"):
                if key in new:
                    target[key] = bool(new[key]) if key == "on_hold" else new[key]

    images: Images = {}
    loads = parse_json
    for e in (store.audit_tuples() if events is None else events):
        count += 1
        seq, action, etype, eid = e[0], e[4], e[5], e[6]
        try:
            if e[12]:
                for table, key, digest in loads(e[12]):
                    written = images.get(table)
                    if written is None:
                        written = images[table] = {}
                    written[_image_ref(key)] = (digest, seq)
            new: Any = loads(e[8]) if e[8] else {}
            _replay(e[2], action, etype, eid, new)
        except (KeyError, TypeError, ValueError, AttributeError):
            bad(f"event {seq} ({action} {eid}) does not have the content mes writes")
    rows_checked = compare_row_images(store, images, bad)

    def close(a: float, b: float, scale: float) -> bool:
        # REAL columns: fractional BOM quantities (0.35 g of paste) are not exact in binary.
        return abs(a - b) <= 1e-9 * max(1.0, abs(scale))

    # One read of the edges serves the consumption totals and the per-step comparison;
    # only the columns compared here (their other columns are covered by the row images).
    edges = store.all("SELECT e.parent, e.child, e.qty, e.step_id, i.kind AS child_kind "
                      "FROM edges e LEFT JOIN items i ON i.id = e.child")
    edges_by_child: dict[str, float] = {}
    for ed in edges:
        edges_by_child[ed["child"]] = edges_by_child.get(ed["child"], 0.0) + float(ed["qty"])
    for table, kind, seen in (("lots", "lot", lots), ("units", "unit", units),
                              ("material_lots", "material", mats)):
        key = "serial" if table == "units" else "id"
        found = set()
        for row in store.all(f"SELECT * FROM {table}"):
            rid = row[key]
            found.add(rid)
            exp = seen.get(rid)
            if exp is None:
                bad(f"{kind} {rid} has no creating audit event (row inserted directly?)")
                continue
            if row["status"] != exp["status"]:
                bad(f"{kind} {rid} status is {row['status']!r}, the audit trail says "
                    f"{exp['status']!r}")
            if bool(row["on_hold"]) != exp["on_hold"]:
                bad(f"{kind} {rid} on_hold is {bool(row['on_hold'])}, the audit trail says "
                    f"{exp['on_hold']}")
            if kind == "material":
                rec = float(exp["received"])
                if not close(float(row["qty_received"]), rec, rec):
                    bad(f"material {rid} qty_received is {row['qty_received']:g}, received "
                        f"{rec:g} per the audit trail")
                left = rec - exp["consumed"] - exp.get("written_off", 0.0)
                if not close(float(row["remaining"]), left, rec):
                    bad(f"material {rid} remaining is {row['remaining']:g}, the audit trail "
                        f"says {left:g}")
                used = edges_by_child.get(rid, 0.0)
                if not close(used, exp["consumed"], rec):
                    bad(f"material {rid}: genealogy edges consume {used:g}, the audit trail "
                        f"says {exp['consumed']:g}")
        for rid in sorted(set(seen) - found):
            bad(f"{kind} {rid} is in the audit trail but its row is missing (deleted?)")

    for table, kind, seen, cols in (("ncrs", "ncr", ncrs, ("status",)),
                                    ("users", "user", users, ("role", "locked"))):
        key = "username" if table == "users" else "id"
        rows_ = {r[key]: r for r in store.all(f"SELECT * FROM {table}")}
        for rid in sorted(set(rows_) | set(seen)):
            row, exp = rows_.get(rid), seen.get(rid)
            if row is None or exp is None:
                bad(f"{kind} {rid} " + ("has no creating audit event (row inserted directly?)"
                                        if exp is None else "is in the audit trail but its "
                                        "row is missing (deleted?)"))
                continue
            for col in cols:
                value = bool(row[col]) if col == "locked" else row[col]
                if value != exp[col]:
                    bad(f"{kind} {rid} {col} is {value!r}, the audit trail says {exp[col]!r}")

    step_rows = {int(r["id"]): r for r in store.all(
        "SELECT id, serial, lot_id, op, status, data FROM steps")}
    for sid in sorted(set(steps) - set(step_rows)):
        bad(f"step {sid} is in the audit trail but its row is missing (deleted?)")
    by_step: dict[int, Counter[tuple[str, float]]] = {}
    loose: Counter[tuple[Any, ...]] = Counter()
    fw: Counter[tuple[Any, ...]] = Counter()
    for ed in edges:
        if ed["child_kind"] == "firmware":
            fw[(ed["parent"], ed["child"], ed["step_id"])] += 1
        elif ed["step_id"] is None:
            loose[(ed["parent"], ed["child"], float(ed["qty"]))] += 1
        else:
            by_step.setdefault(int(ed["step_id"]), Counter())[(ed["child"],
                                                               float(ed["qty"]))] += 1
    for sid, row in sorted(step_rows.items()):
        exp = steps.get(sid)
        if exp is None:
            bad(f"step {sid} ({row['serial'] or row['lot_id']} op {row['op']}) has no audit "
                "event (row inserted directly?)")
            continue
        entity = row["serial"] if exp["entity_type"] == "unit" else row["lot_id"]
        if entity != exp["entity"] or row["op"] != exp["op"] or row["status"] != exp["status"] \
                or (exp["entity_type"] == "lot" and row["serial"] is not None):
            bad(f"step {sid} is {entity} op {row['op']} {row['status']}, the audit trail says "
                f"{exp['entity']} op {exp['op']} {exp['status']}")
        try:
            data = json.loads(row["data"]) if row["data"] else {}
        except ValueError:
            data = {}  # not JSON any more: named by the row-image comparison
        changed = [k for k, v in exp["data"].items() if data.get(k) != v]
        if changed:
            bad(f"step {sid}: data {', '.join(changed)} differ from the audit trail")
        want = Counter((item, float(qty)) for item, qty in exp["consumed"])
        if by_step.pop(sid, Counter()) != want:
            bad(f"step {sid}: its genealogy edges differ from the consumption in the audit trail")
    for sid in sorted(by_step):
        bad(f"genealogy edges point at step {sid}, which the audit trail does not know")
    want_fw: Counter[tuple[Any, ...]] = Counter(
        (serial, image, sid) for serial, image, sid in flashes
        if sid is not None and steps.get(int(sid), {}).get("status") == "passed")
    if fw != want_fw:
        bad("firmware genealogy edges differ from the flashes in the audit trail")
    if loose != installs:
        bad("machine-installed material edges differ from the installs in the audit trail")
    rows = store.all("SELECT * FROM signatures")
    have = Counter((r["username"], r["record_type"], r["record_id"], r["meaning"],
                    r["full_name"], r["record_sha256"]) for r in rows)
    if have != sigs:
        extra, missing = have - sigs, sigs - have
        what = next(iter(extra or missing))
        bad(f"signatures differ from the audit trail: {'unexpected' if extra else 'missing'} "
            f"{what[3]} signature of {what[1]} {what[2]} by {what[0]}")
    return {"ok": not problems, "events": count, "problems": problems,
            "checked": {"rows": rows_checked, "materials": len(mats), "lots": len(lots),
                        "units": len(units),
                        "steps": len(step_rows), "edges": len(edges), "signatures": len(rows),
                        "ncrs": len(ncrs), "users": len(users)}}
