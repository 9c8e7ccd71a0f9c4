"""Work instructions as controlled documents (issue 18, part 4).

A document (`WI-SMT-PNP`) has revisions (`A`, `B`, …). A revision is loaded as a draft
with its file, which is copied into the workspace read-only
(``instructions/<doc>-<rev>-<sha256[:12]><suffix>``) with its sha256, and the routing
operations it applies to (`--op PART:OP`); quality approves it with a signature (not its
author: segregation of duties). The approved revision is the one in force for those
operations; approving the next one supersedes it.

Why the instruction names the operations, not the routing the instruction: a new revision
of a work instruction is a document change, not a routing change, and a routing without
instructions works as before. An operation has at most one document in force.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

from mes import clock
from mes.domain.ids import check_id, normalise_scan
from mes.domain.interlocks import InstructionInForce
from mes.errors import IntegrityFailure, InvalidInput, NotFound, Refused
from mes.services.auth import check_segregation, prepare_signature, require, sign, signatures_for
from mes.services.context import Context
from mes.services.files import read_controlled, sha256_of, write_readonly
from mes.services.files import record as record_file
from mes.store import instructions as records
from mes.store.base import Row, Store

REVISION_RE = re.compile(r"[0-9A-Z][0-9A-Z.-]{0,9}")
MAX_FILE_BYTES = 64 * 1024 * 1024
_SUFFIX_RE = re.compile(r"\.[0-9A-Za-z]{1,8}")


def check_revision(rev: str) -> str:
    rev = rev.strip().upper()
    if not REVISION_RE.fullmatch(rev):
        raise InvalidInput(f"--revision {rev!r}: use 1-10 characters of 0-9, A-Z, '.' and '-' "
                           "(e.g. A, B, 03)", field="revision")
    return rev


def parse_op(ref: str) -> tuple[str, int]:
    part, sep, op = ref.strip().rpartition(":")
    if not sep or not part or not op.isdigit() or len(op) > 6:
        raise InvalidInput(f"--op {ref!r}: write PART:OP, e.g. PCBA-OXI-100:30", field="op")
    return normalise_scan(part), int(op)


def get_revision(store: Store, doc: str, rev: str) -> Row:
    row = records.revision(store, doc, rev)
    if row is None:
        known = ", ".join(r["revision"] for r in records.revisions(store, doc))
        raise NotFound(f"no work instruction {doc} rev {rev}" +
                       (f": its revisions are {known}" if known else
                        ": see `mes wi list`"))
    return row


def stored_file(ctx: Context, row: Row) -> Path:
    path = Path(row["stored_path"])
    return path if path.is_absolute() else ctx.workspace / path


def verify_file(ctx: Context, row: Row) -> None:
    """The stored copy must still hash to what was loaded (and approved)."""
    path = stored_file(ctx, row)
    if not path.is_file():
        raise IntegrityFailure(f"work instruction {row['doc_id']} rev {row['revision']}: "
                               f"stored file {path} is missing: tell quality")
    if sha256_of(path) != row["sha256"]:
        raise IntegrityFailure(f"work instruction {row['doc_id']} rev {row['revision']}: "
                               f"stored file {path} no longer matches its sha256 "
                               f"({row['sha256'][:12]}…): tell quality")


def _check_ops(store: Store, doc: str, ops: list[tuple[str, int]]) -> None:
    if not ops:
        raise InvalidInput("name the operations it applies to: --op PART:OP (repeatable)",
                           field="op")
    for part, op in ops:
        rows = records.routing_docs(store, part)
        if not rows:
            raise NotFound(f"--op {part}:{op}: no routing for {part}: see `mes routing list`")
        if not _has_op(rows, op):
            raise NotFound(f"--op {part}:{op}: no routing version of {part} has op {op}: see "
                           f"`mes routing show {part}`")
        others = [c for c in records.claims_on_op(store, part, op) if c["doc_id"] != doc]
        if others:
            c = others[0]
            raise Refused(f"{part} op {op} already follows {c['doc_id']} rev {c['revision']} "
                          f"({c['status']}): an operation has one work instruction; revise "
                          f"{c['doc_id']} instead")


def _check_new(store: Store, doc: str, rev: str, ops: list[tuple[str, int]]) -> None:
    if records.revision(store, doc, rev) is not None:
        raise Refused(f"{doc} rev {rev} is already loaded: a changed document is a new "
                      "revision")
    _check_ops(store, doc, ops)


def _has_op(rows: list[Row], op: int) -> bool:
    return any(o.get("op") == op for r in rows for o in json.loads(r["doc"])["operations"])


def load(ctx: Context, doc: str, source: Path, revision: str, ops: list[str],
         title: str | None) -> dict[str, Any]:
    doc = check_id(normalise_scan(doc), "document id")
    rev = check_revision(revision)
    wanted = sorted(set(parse_op(o) for o in ops))
    actor = require(ctx, "instruction.load")
    store = ctx.store
    _check_new(store, doc, rev, wanted)
    data = read_controlled(source, path_of="the instruction",
                           empty="the file is empty: check the document", limit=MAX_FILE_BYTES)
    digest = hashlib.sha256(data).hexdigest()
    suffix = source.suffix if _SUFFIX_RE.fullmatch(source.suffix) else ""
    relative = Path("instructions") / f"{doc}-{rev}-{digest[:12]}{suffix.lower()}"
    target = ctx.workspace / relative
    row = {"doc_id": doc, "revision": rev, "title": (title or "").strip() or source.stem,
           "status": "draft", "sha256": digest, "size": len(data),
           "stored_path": str(relative), "source_name": source.name,
           "loaded_by": actor.username, "loaded_at": clock.now_iso()}
    created = write_readonly(target, data)
    try:
        with store.transaction() as tx:
            _check_new(tx, doc, rev, wanted)  # again, inside the write lock
            tx.insert("instructions", row)
            tx.insert_many("instruction_ops", ["doc_id", "revision", "part", "op"],
                           [(doc, rev, part, op) for part, op in wanted])
            tx.append_audit(username=actor.username, station=ctx.station,
                            action="instruction.load", entity_type="instruction",
                            entity_id=f"{doc}@{rev}",
                            new={**row, "ops": [f"{p}:{o}" for p, o in wanted],
                                 "files": [record_file(ctx.workspace, target, data)]})
    except BaseException:
        if created:
            target.unlink(missing_ok=True)
        raise
    return {**row, "ops": [f"{p}:{o}" for p, o in wanted]}


def approve(ctx: Context, doc: str, revision: str) -> dict[str, Any]:
    require(ctx, "instruction.approve")  # the role before the record: a refusal learns nothing
    doc, rev = normalise_scan(doc), check_revision(revision)
    store = ctx.store
    row = get_revision(store, doc, rev)
    if row["status"] != "draft":
        raise Refused(f"{doc} rev {rev} is {row['status']}, not a draft")
    in_use = current(store, doc)
    if in_use is not None and in_use["loaded_at"] > row["loaded_at"]:
        raise Refused(f"{doc} rev {rev} was loaded before rev {in_use['revision']}, which is "
                      "in force: it cannot replace a later revision; load a new one")
    verify_file(ctx, row)
    signer = prepare_signature(ctx, "instruction.approve", "approved")
    check_segregation(ctx, signer.actor, "instruction.approve",
                      f"work instruction {doc} rev {rev}", row["loaded_by"])
    ops = records.ops_of(store, doc, rev)
    record = {"doc_id": doc, "revision": rev, "sha256": row["sha256"],
              "ops": [f"{o['part']}:{o['op']}" for o in ops]}
    now = clock.now_iso()
    with store.transaction() as tx:
        for o in ops:  # no other document may have come to claim the op meanwhile
            for c in records.claims_on_op(tx, o["part"], o["op"]):
                if c["doc_id"] != doc and c["status"] == "approved":
                    raise Refused(f"{o['part']} op {o['op']} follows {c['doc_id']} rev "
                                  f"{c['revision']}: an operation has one work instruction")
        if tx.update("instructions", (doc, rev), {"status": "approved", "approved_at": now,
                                                  "approved_by": signer.actor.username},
                     expect={"status": "draft"}) != 1:
            raise Refused(f"{doc} rev {rev} changed meanwhile: try again")
        superseded = []
        for old in tx.find("instructions", {"doc_id": doc, "status": "approved"}):
            if old["revision"] != rev:
                tx.update("instructions", (doc, old["revision"]), {"status": "superseded"})
                superseded.append(old["revision"])
        tx.append_audit(username=signer.actor.username, station=ctx.station,
                        action="instruction.approve", entity_type="instruction",
                        entity_id=f"{doc}@{rev}", old={"status": "draft"},
                        new={"status": "approved", "supersedes": superseded})
        signature = sign(tx, signer, "instruction", f"{doc}@{rev}", record)
        tx.update("instructions", (doc, rev), {"signature_id": signature["id"]})
    return {**row, "status": "approved", "approved_at": now, "superseded": superseded,
            "signature": signature}


def current(store: Store, doc: str) -> Row | None:
    return records.approved(store, doc)


# -- at the op ---------------------------------------------------------------------------

def in_force(store: Store, part: str, op: int) -> InstructionInForce | None:
    """The approved revision an operation follows now, with the revisions before it."""
    row = records.approved_for_op(store, part, op)
    if row is None:
        return None
    earlier = [r["revision"] for r in sorted(
        (r for r in records.revisions(store, row["doc_id"]) if r["status"] == "superseded"
         and r["approved_at"] and r["approved_at"] < row["approved_at"]),
        key=lambda r: r["approved_at"])]
    return InstructionInForce(row["doc_id"], row["revision"],
                              datetime.fromisoformat(row["approved_at"]), tuple(earlier))


def trained_revisions(store: Store, username: str, doc: str) -> set[str]:
    return {t["revision"] for t in records.trainings_of(store, username, doc)}


# -- reads -------------------------------------------------------------------------------

def _view(ctx: Context, r: Row) -> dict[str, Any]:
    try:
        verify_file(ctx, r)
        file_ok = True
    except IntegrityFailure:
        file_ok = False
    return {**r, "ops": [f"{o['part']}:{o['op']}"
                         for o in records.ops_of(ctx.store, r["doc_id"], r["revision"])],
            "file": str(stored_file(ctx, r)), "file_ok": file_ok}


def list_instructions(ctx: Context) -> list[dict[str, Any]]:
    return [_view(ctx, r) for r in records.all_revisions(ctx.store)]


def show(ctx: Context, doc: str, revision: str | None) -> dict[str, Any]:
    doc = normalise_scan(doc)
    store = ctx.store
    if revision is None:
        revs = records.revisions(store, doc)
        if not revs:
            raise NotFound(f"no work instruction {doc}: see `mes wi list`")
        row = next((r for r in revs if r["status"] == "approved"), revs[-1])
    else:
        row = get_revision(store, doc, check_revision(revision))
    return {**_view(ctx, row),
            "revisions": [{k: r[k] for k in ("revision", "status", "loaded_at", "approved_at")}
                          for r in records.revisions(store, doc)],
            "signatures": signatures_for(store, "instruction", f"{doc}@{row['revision']}")}


def units(ctx: Context, doc: str, revision: str | None) -> list[dict[str, Any]]:
    """Which units (and lots) were built by whom under which revision of a document."""
    doc = normalise_scan(doc)
    rev = check_revision(revision) if revision is not None else None
    store = ctx.store
    if rev is not None:
        get_revision(store, doc, rev)
    elif not records.revisions(store, doc):
        raise NotFound(f"no work instruction {doc}: see `mes wi list`")
    names = records.user_names(store)
    return [{"revision": s["instruction_rev"], "item": s["serial"] or s["lot_id"],
             "lot": s["lot_id"], "part": s["part"], "op": s["op"], "station": s["station_id"],
             "user": s["username"], "user_name": names.get(s["username"]),
             "status": s["status"], "at": s["completed_at"] or s["started_at"]}
            for s in records.steps_under(store, doc, rev)]


def dhr_section(src: Any) -> list[dict[str, Any]]:
    """The instruction revisions in force for the lot's steps: per op and revision, how
    many steps, by whom, and the revision's file hash and approval."""
    groups: dict[tuple[Any, str, str], dict[str, Any]] = {}
    for s in src.steps:
        if not s.get("instruction_doc"):
            continue
        key = (s["op"], s["instruction_doc"], s["instruction_rev"])
        g = groups.setdefault(key, {"steps": 0, "users": set()})
        g["steps"] += 1
        g["users"].add(s["username"])
    revs = {(r["doc_id"], r["revision"]): r for r in records.revisions_of_steps(
        src.store, [(d, r) for _, d, r in groups])}
    out = []
    for (op, doc, rev), g in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1:])):
        r = revs.get((doc, rev), {})
        out.append({"op": op, "op_name": src.op_name(op), "document": doc, "revision": rev,
                    "title": r.get("title"), "sha256": r.get("sha256"),
                    "approved_by": src.users.get(r.get("approved_by") or "",
                                                 r.get("approved_by")),
                    "approved_at": r.get("approved_at"), "steps": g["steps"],
                    "operators": sorted(src.users.get(u, u) for u in g["users"])})
    return out
