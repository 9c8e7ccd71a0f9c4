"""Catalog entries as versions (issue 12): a change to a field that reaches labels, the
origin decision or quality's control of material is a draft until quality signs it.

`parts` holds the values in force, which is all that labels, origin decisions and
receiving read; `part_versions` holds every version loaded (draft, in-force, superseded,
withdrawn). The first load of a part is in force at once: no earlier values exist that a
label, an origin decision or a receipt relied on, and nothing can be made of it before
quality approves a routing that uses it.
"""

from __future__ import annotations

import json
from typing import Any

from mes import clock
from mes.domain.catalog import changed_fields, controlled, field_changes
from mes.domain.model import Part
from mes.errors import InvalidInput, NotFound, Refused
from mes.services.auth import check_segregation, prepare_signature, require, sign, signatures_for
from mes.services.context import Context
from mes.store.base import Store

DRAFT, IN_FORCE, SUPERSEDED, WITHDRAWN = "draft", "in-force", "superseded", "withdrawn"


def load_part(tx: Store, part: Part, source_file: str, username: str,
              station: str | None) -> dict[str, Any]:
    """One part of a catalog file being loaded (inside the load's transaction)."""
    number, new = part.number, part.to_dict()
    row = tx.get("parts", number)
    in_force = json.loads(row["doc"]) if row else None
    draft = _pending(tx, number)
    out: dict[str, Any] = {"part": number}
    if draft is not None and json.loads(draft["doc"]) == new:
        return {**out, "action": f"unchanged (draft v{draft['version']} waits for quality: "
                                 f"mes catalog approve {number} --version {draft['version']})"}
    if in_force == new:
        if draft is None:
            return {**out, "action": "unchanged"}
        _withdraw(tx, draft, username, station, "loaded again with the values in force")
        return {**out, "action": f"unchanged (draft v{draft['version']} withdrawn)"}
    if draft is not None:
        _withdraw(tx, draft, username, station, "replaced by a newer load")
    fields = changed_fields(in_force, new)
    version = _latest_version(tx, number) + 1
    version_row = {"number": number, "version": version, "kind": part.kind, "doc": new,
                   "changed": fields, "source_file": source_file, "loaded_by": username,
                   "loaded_at": clock.now_iso()}
    signed = controlled(fields) if in_force is not None else []
    if signed:
        tx.insert("part_versions", {**version_row, "status": DRAFT, "basis": "signature"})
        tx.append_audit(username=username, station=station, action="part.draft",
                        entity_type="part", entity_id=f"{number}@{version}",
                        old={f: in_force.get(f) for f in fields} if in_force else None,
                        new={f: new.get(f) for f in fields})
        return {**out, "draft": version,
                "action": f"draft v{version} ({', '.join(signed)} in force only once quality "
                          f"approves: mes catalog approve {number} --version {version})"}
    basis = "first load" if in_force is None else "no field that needs a signature"
    _supersede(tx, number)
    tx.insert("part_versions", {**version_row, "status": IN_FORCE, "basis": basis})
    _put_in_force(tx, number, part.kind, new, exists=row is not None)
    tx.append_audit(username=username, station=station,
                    action="part.update" if in_force else "part.add", entity_type="part",
                    entity_id=number, old=in_force, new=new)
    return {**out, "action": "updated" if in_force else "added"}


def approve(ctx: Context, parts: list[str], version: int | None = None
            ) -> list[dict[str, Any]]:
    """Put drafts in force (each named PART@N, or one PART with `version`): one password
    entry, a signature per part version, all in one transaction."""
    require(ctx, "catalog.approve")  # the role before the records: a refusal learns nothing
    targets = _targets(parts, version)
    rows = [_version_row(ctx.store, number, version) for number, version in targets]
    bad = [f"{r['number']} v{r['version']} is {r['status']}" for r in rows
           if r["status"] != DRAFT]
    if bad:
        raise Refused(f"only drafts can be approved: {'; '.join(bad)} "
                      "(see `mes catalog list --drafts`)")
    signer = prepare_signature(ctx, "catalog.approve", "approved")
    for r in rows:
        check_segregation(ctx, signer.actor, "catalog.approve",
                          f"catalog change {r['number']} v{r['version']}", r["loaded_by"])
    out = []
    with ctx.store.transaction() as tx:
        for r in rows:
            number, version = r["number"], r["version"]
            current = tx.get("parts", number)
            new = json.loads(r["doc"])
            if tx.update("part_versions", (number, version),
                         {"status": IN_FORCE, "approved_by": signer.actor.username,
                          "approved_at": clock.now_iso()}, expect={"status": DRAFT}) != 1:
                raise Refused(f"catalog change {number} v{version} changed meanwhile: "
                              "try again")
            _supersede(tx, number, but=version)
            _put_in_force(tx, number, r["kind"], new, exists=current is not None)
            old = json.loads(current["doc"]) if current else None
            tx.append_audit(username=signer.actor.username, station=ctx.station,
                            action="part.approve", entity_type="part",
                            entity_id=f"{number}@{version}",
                            old={f: (old or {}).get(f) for f in json.loads(r["changed"])},
                            new={f: new.get(f) for f in json.loads(r["changed"])})
            signature = sign(tx, signer, "part", f"{number}@{version}",
                             {"number": number, "version": version, "doc": new})
            out.append({"part": number, "version": version, "status": IN_FORCE,
                        "signature": signature})
    return out


def _targets(parts: list[str], version: int | None) -> list[tuple[str, int]]:
    """Which version of which part: the version is always named, so quality signs the
    draft it reviewed and not one loaded since."""
    if not parts:
        raise InvalidInput("name the drafts to approve: PART --version N, or PART@N …",
                           field="part")
    if version is not None:
        if len(parts) != 1 or "@" in parts[0]:
            raise InvalidInput("--version goes with one PART; for several write PART@N each",
                               field="version")
        return [(parts[0].strip(), version)]
    out = []
    for p in parts:
        number, _, n = p.strip().partition("@")
        if not n.isdigit():
            raise InvalidInput(f"{p}: name the draft's version (PART@N, or PART --version N; "
                               "`mes catalog list --drafts` shows them)", field="part")
        out.append((number, int(n)))
    return list(dict.fromkeys(out))


def list_versions(ctx: Context, drafts: bool = False, part: str | None = None
                  ) -> list[dict[str, Any]]:
    where: dict[str, Any] = {}
    if drafts:
        where["status"] = DRAFT
    if part:
        where["number"] = part
    return [{"part": r["number"], "version": r["version"], "status": r["status"],
             "changed": ", ".join(json.loads(r["changed"])), "basis": r["basis"],
             "loaded_by": r["loaded_by"], "loaded_at": r["loaded_at"],
             "approved_by": r["approved_by"], "approved_at": r["approved_at"]}
            for r in ctx.store.find("part_versions", where, order="number, version")]


def diff(ctx: Context, part: str, version: int | None) -> dict[str, Any]:
    """What a version changes against the values in force (the pending draft by default)."""
    row = _pending(ctx.store, part) if version is None else _version_row(ctx.store, part,
                                                                          version)
    if row is None:
        raise NotFound(f"part {part} has no draft waiting: see `mes catalog list {part}`")
    current = ctx.store.get("parts", part)
    in_force = json.loads(current["doc"]) if current else {}
    return {"part": part, "version": row["version"], "status": row["status"],
            "loaded_by": row["loaded_by"], "loaded_at": row["loaded_at"],
            "changes": field_changes(in_force, json.loads(row["doc"])),
            "signatures": signatures_for(ctx.store, "part", f"{part}@{row['version']}")}


def _version_row(store: Store, number: str, version: int) -> dict[str, Any]:
    found = store.find("part_versions", {"number": number, "version": version})
    if not found:
        raise NotFound(f"no catalog version {number} v{version}: see `mes catalog list "
                       f"{number}`")
    return found[0]


def _pending(store: Store, number: str) -> dict[str, Any] | None:
    found = store.find("part_versions", {"number": number, "status": DRAFT})
    return found[-1] if found else None


def _latest_version(store: Store, number: str) -> int:
    found = store.find("part_versions", {"number": number}, order="version DESC", limit=1)
    return int(found[0]["version"]) if found else 0


def _withdraw(tx: Store, draft: dict[str, Any], username: str, station: str | None,
              why: str) -> None:
    tx.update("part_versions", (draft["number"], draft["version"]), {"status": WITHDRAWN},
              expect={"status": DRAFT})
    tx.append_audit(username=username, station=station, action="part.draft_withdrawn",
                    entity_type="part", entity_id=f"{draft['number']}@{draft['version']}",
                    old={"status": DRAFT}, new={"status": WITHDRAWN}, reason=why)


def _supersede(tx: Store, number: str, but: int | None = None) -> None:
    for r in tx.find("part_versions", {"number": number, "status": IN_FORCE}):
        if r["version"] != but:
            tx.update("part_versions", (number, r["version"]), {"status": SUPERSEDED})


def _put_in_force(tx: Store, number: str, kind: str, doc: dict[str, Any],
                  exists: bool) -> None:
    row = {"kind": kind, "doc": doc, "updated_at": clock.now_iso()}
    if exists:
        tx.update("parts", number, row)
    else:
        tx.insert("parts", {"number": number, **row})
