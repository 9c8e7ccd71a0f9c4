"""Parts and routings: loaded from YAML as draft versions, approved by signature."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mes import clock
from mes.domain.model import Part, Routing, part_from_dict, routing_from_dict
from mes.errors import NotFound, Refused
from mes.services.auth import check_segregation, prepare_signature, require, sign, signatures_for
from mes.services.context import Context
from mes.store import routings as routings_store
from mes.store.base import Store

if TYPE_CHECKING:
    from mes.ingest.routing_yaml import LoadedFile


def validate_files(ctx: Context, paths: list[Path]) -> list[dict[str, Any]]:
    """Check files as `load_files` would, against the workspace's database when it has one
    (none is created): every problem of every file is reported."""
    out = []
    for path, loaded in _load_all(ctx, paths, _existing_store(ctx)):
        out.append({"file": str(path), "kind": loaded.kind,
                    "parts": len(loaded.parts),
                    "routing": loaded.routing.part if loaded.routing else None,
                    "operations": len(loaded.routing.operations) if loaded.routing else 0})
    return out


def _existing_store(ctx: Context) -> Store | None:
    from mes.errors import MesError
    from mes.store import is_postgres

    if not is_postgres(ctx.db) and not Path(ctx.db).exists():
        return None
    try:
        return ctx.store
    except MesError:
        return None


def _load_all(ctx: Context, paths: list[Path], store: Store | None
              ) -> list[tuple[Path, LoadedFile]]:
    """Parse and check every file (one checker for validate and load)."""
    from mes.services.labels import template_dirs
    from mes.services.routing_check import check_files

    return check_files(paths, store, template_dirs(ctx))


def load_files(ctx: Context, paths: list[Path]) -> list[dict[str, Any]]:
    """Each routing file becomes a new draft version; a catalog's parts are added, or
    changed at once, or become drafts for quality (`mes.services.catalog`).

    All files are parsed and checked first, then written in one transaction: a bad file
    changes nothing.
    """
    from mes.services.catalog import load_part

    actor = require(ctx, "routing.load")
    loaded = _load_all(ctx, paths, ctx.store)
    # Catalog files first, so a routing may refer to a part defined in the same load.
    loaded.sort(key=lambda pl: pl[1].kind != "catalog")
    store = ctx.store
    results: list[dict[str, Any]] = []
    with store.transaction() as tx:
        for path, f in loaded:
            if f.kind == "catalog":
                for part in f.parts:
                    results.append(load_part(tx, part, path.name, actor.username,
                                             ctx.station))
            elif f.routing is not None:
                results.append(_add_routing_version(tx, f.routing, f.text, f.sha256, path,
                                                    actor.username, ctx.station))
    return results


def _add_routing_version(tx: Store, routing: Routing, text: str, sha256: str, path: Path,
                         username: str, station: str | None) -> dict[str, Any]:
    if tx.get("parts", routing.part) is None:
        raise NotFound(f"{path}: routing for unknown part {routing.part}: "
                       "load the catalog that defines it first (or in the same command)")
    for op in routing.operations:
        for line in op.consumes:
            if tx.get("parts", line.part) is None:
                raise NotFound(f"{path}: op {op.op} consumes unknown part {line.part}: "
                               "add it to the catalog")
    latest = routings_store.latest(tx, routing.part)
    if latest and latest["sha256"] == sha256:
        return {"part": routing.part, "version": latest["version"], "action": "unchanged"}
    version = (latest["version"] if latest else 0) + 1
    doc = {**routing.to_dict(), "version": version}
    tx.insert("routings", {"part": routing.part, "version": version, "status": "draft",
                           "doc": doc, "source_text": text, "source_file": path.name,
                           "sha256": sha256, "loaded_by": username,
                           "loaded_at": clock.now_iso()})
    tx.append_audit(username=username, station=station, action="routing.load",
                    entity_type="routing", entity_id=f"{routing.part}@{version}",
                    new={"sha256": sha256, "file": path.name, "status": "draft"})
    return {"part": routing.part, "version": version, "action": "draft"}


def approve(ctx: Context, part: str, version: int) -> dict[str, Any]:
    require(ctx, "routing.approve")  # the role before the record: a refusal learns nothing
    row = _routing_row(ctx.store, part, version)
    if row["status"] != "draft":
        raise Refused(f"routing {part} v{version} is {row['status']}, not a draft")
    signer = prepare_signature(ctx, "routing.approve", "approved")
    check_segregation(ctx, signer.actor, "routing.approve", f"routing {part} v{version}",
                      row["loaded_by"])
    record = {"part": part, "version": version, "sha256": row["sha256"]}
    with ctx.store.transaction() as tx:
        n = tx.update("routings", (part, version),
                      {"status": "approved", "approved_at": clock.now_iso()},
                      expect={"status": "draft"})
        if n != 1:
            raise Refused(f"routing {part} v{version} changed meanwhile: try again")
        # Only one approved version is current; the previous one becomes superseded.
        for old in tx.find("routings", {"part": part, "status": "approved"}):
            if old["version"] != version:
                tx.update("routings", (part, old["version"]), {"status": "superseded"})
        tx.append_audit(username=signer.actor.username, station=ctx.station,
                        action="routing.approve", entity_type="routing",
                        entity_id=f"{part}@{version}", old={"status": "draft"},
                        new={"status": "approved"})
        signature = sign(tx, signer, "routing", f"{part}@{version}", record)
    return {"part": part, "version": version, "status": "approved", "signature": signature}


def _routing_row(store: Store, part: str, version: int | None) -> dict[str, Any]:
    if version is None:
        row = routings_store.in_force_or_newest(store, part)
    else:
        row = routings_store.version(store, part, version)
    if row is None:
        which = f" v{version}" if version is not None else ""
        raise NotFound(f"no routing {part}{which}: see `mes routing list`")
    return row


def approved_routing(store: Store, part: str) -> Routing:
    row = routings_store.approved_doc(store, part)
    if row is None:
        raise Refused(f"part {part} has no approved routing: ask quality to approve one "
                      "(`mes routing approve`)")
    return _routing(row["doc"])


def routing_version(store: Store, part: str, version: int) -> Routing:
    """A routing version's document never changes (a change is a new version): read and
    parsed once per store."""
    key = ("routing", part, str(version))
    routing = store.immutable.get(key)
    if routing is None:
        routing = store.immutable[key] = _routing(_routing_row(store, part, version)["doc"])
    return routing


def get_part(store: Store, number: str) -> Part:
    row = store.get("parts", number)
    if row is None:
        raise NotFound(f"unknown part {number}: see the catalog (`mes routing load`)")
    return _part(row["doc"])


# Parsed documents by their stored text (parsing a routing was a third of a station-loop
# scan's time). The models are frozen, so sharing them is safe, and a changed document is
# a different key.
@lru_cache(maxsize=64)
def _routing(doc: str) -> Routing:
    return routing_from_dict(json.loads(doc))


@lru_cache(maxsize=256)
def _part(doc: str) -> Part:
    return part_from_dict(json.loads(doc))


def show(ctx: Context, part: str, version: int | None) -> dict[str, Any]:
    row = _routing_row(ctx.store, part, version)
    doc = json.loads(row["doc"])
    return {"part": part, "version": row["version"], "status": row["status"],
            "sha256": row["sha256"], "source_file": row["source_file"],
            "loaded_by": row["loaded_by"], "loaded_at": row["loaded_at"],
            "approved_at": row["approved_at"], "description": doc.get("description", ""),
            "operations": doc["operations"],
            "signatures": signatures_for(ctx.store, "routing", f"{part}@{row['version']}")}


def list_routings(ctx: Context) -> list[dict[str, Any]]:
    return routings_store.listing(ctx.store)


def list_parts(ctx: Context) -> list[dict[str, Any]]:
    return [json.loads(r["doc"]) for r in ctx.store.find("parts", order="number")]


def diff(ctx: Context, part: str, a: int, b: int) -> list[str]:
    from mes.ingest.routing_yaml import diff_routings

    return diff_routings(routing_version(ctx.store, part, a), routing_version(ctx.store, part, b))
