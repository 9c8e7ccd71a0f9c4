"""Label templates as controlled documents (issue 17; 21 CFR 820.120, ISO 13485 7.5.1).

A template file (the plant's copies are in `labels/` at the top of the repository, like
`routings/`) is loaded as a draft: its exact text and sha256 are stored, the version is the
`version:` the file declares (a document revision: the same version with other text is
refused). Quality approves it with a signature over {name, version, sha256}; the approver
may not be the one who loaded it. A print uses the approved version's stored text only,
after checking it still hashes to what was signed.
"""

from __future__ import annotations

import difflib
import hashlib
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mes import clock
from mes.errors import IntegrityFailure, InvalidInput, NotFound, Refused
from mes.services.auth import check_segregation, prepare_signature, require, sign, signatures_for
from mes.services.context import Context
from mes.store import label_templates as q
from mes.store.base import Store

if TYPE_CHECKING:
    from mes.render.label_templates import Template


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@lru_cache(maxsize=32)
def _parse(text: str, source: str) -> Template:
    from mes.render.label_templates import parse_template

    return parse_template(text, source)


def load(ctx: Context, paths: list[Path]) -> list[dict[str, Any]]:
    """Every file parsed and checked first; then each new version stored as a draft in one
    transaction (a bad file changes nothing)."""
    actor = require(ctx, "label.template_load")
    parsed: list[tuple[Path, str, Template]] = []
    for path in paths:
        if not path.is_file():
            raise NotFound(f"{path}: no such template file")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise InvalidInput(f"{path}: not UTF-8 text", field="file") from None
        parsed.append((path, text, _parse(text, str(path))))
    names = [t.name for _, _, t in parsed]
    if len(set(names)) != len(names):
        raise InvalidInput("the same template name is given twice", field="file")
    results = []
    with ctx.store.transaction() as tx:
        for path, text, t in parsed:
            results.append(_add(tx, ctx, actor.username, path, text, t))
    return results


def _add(tx: Store, ctx: Context, username: str, path: Path, text: str,
         t: Template) -> dict[str, Any]:
    digest = sha256_text(text)
    same = q.version(tx, t.name, t.version)
    if same is not None:
        if same["sha256"] == digest:
            return {"name": t.name, "version": t.version, "action": "unchanged",
                    "status": same["status"], "sha256": digest}
        raise Refused(f"{path}: template {t.name} v{t.version} is already loaded with other "
                      f"content: raise `version:` in the file (v{t.version + 1}) to load a "
                      "change")
    last = q.latest(tx, t.name)
    if last is not None and last["version"] > t.version:
        raise Refused(f"{path}: template {t.name} v{t.version} is older than the loaded "
                      f"v{last['version']}: give it a higher version")
    q.add_draft(tx, {"name": t.name, "version": t.version, "kind": t.kind,
                     "source_text": text, "source_file": path.name, "sha256": digest,
                     "loaded_by": username, "loaded_at": clock.now_iso()})
    tx.append_audit(username=username, station=ctx.station, action="label_template.load",
                    entity_type="label_template", entity_id=f"{t.name}@{t.version}",
                    new={"sha256": digest, "file": path.name, "status": "draft"})
    return {"name": t.name, "version": t.version, "action": "draft", "status": "draft",
            "sha256": digest}


def _row(store: Store, name: str, version: int | None) -> dict[str, Any]:
    row = q.version(store, name, version) if version is not None else (
        q.approved(store, name) or q.latest(store, name))
    if row is None:
        which = f" v{version}" if version is not None else ""
        raise NotFound(f"no label template {name}{which}: see `mes label template list`")
    return row


def approve(ctx: Context, name: str, version: int) -> dict[str, Any]:
    require(ctx, "label.template_approve")  # the role before the record's state
    row = _row(ctx.store, name, version)
    if row["status"] != "draft":
        raise Refused(f"label template {name} v{version} is {row['status']}, not a draft")
    signer = prepare_signature(ctx, "label.template_approve", "approved")
    check_segregation(ctx, signer.actor, "label.template_approve",
                      f"label template {name} v{version}", row["loaded_by"])
    record = {"name": name, "version": version, "sha256": row["sha256"]}
    with ctx.store.transaction() as tx:
        if not q.approve(tx, name, version, signer.actor.username, clock.now_iso()):
            raise Refused(f"label template {name} v{version} changed meanwhile: try again")
        tx.append_audit(username=signer.actor.username, station=ctx.station,
                        action="label_template.approve", entity_type="label_template",
                        entity_id=f"{name}@{version}", old={"status": "draft"},
                        new={"status": "approved", "sha256": row["sha256"]})
        signature = sign(tx, signer, "label_template", f"{name}@{version}", record)
    return {"name": name, "version": version, "status": "approved", "sha256": row["sha256"],
            "signature": signature}


def list_all(ctx: Context) -> list[dict[str, Any]]:
    return q.versions(ctx.store)


def show(ctx: Context, name: str, version: int | None) -> dict[str, Any]:
    row = _row(ctx.store, name, version)
    return {**{k: row[k] for k in ("name", "version", "kind", "status", "sha256",
                                   "source_file", "loaded_by", "loaded_at", "approved_by",
                                   "approved_at")},
            "text": row["source_text"],
            "signatures": signatures_for(ctx.store, "label_template",
                                         f"{name}@{row['version']}")}


def diff(ctx: Context, name: str, a: int, b: int) -> list[str]:
    ra, rb = _row(ctx.store, name, a), _row(ctx.store, name, b)
    return list(difflib.unified_diff(
        ra["source_text"].splitlines(), rb["source_text"].splitlines(),
        f"{name} v{a} ({ra['status']})", f"{name} v{b} ({rb['status']})", lineterm=""))


def for_print(store: Store, name: str) -> tuple[Template, str]:
    """The approved version of a template and its sha256; refused when there is none, exit 7
    when its stored text no longer hashes to what quality signed."""
    row = q.approved(store, name)
    if row is None:
        last = q.latest(store, name)
        if last is None:
            raise Refused(f"label template {name} is not a controlled document yet: load it "
                          f"(`mes label template load labels/{name}.yaml`) and have quality "
                          "approve it before printing")
        raise Refused(f"label template {name} has no approved version (v{last['version']} is "
                      f"{last['status']}): ask quality to approve it (`mes label template "
                      f"approve {name} --version {last['version']}`)")
    digest = sha256_text(row["source_text"])
    from mes.domain.audit import record_hash

    signed = record_hash({"name": name, "version": row["version"], "sha256": row["sha256"]})
    sigs = store.find("signatures", {"record_type": "label_template",
                                     "record_id": f"{name}@{row['version']}"})
    if digest != row["sha256"] or not any(s["record_sha256"] == signed for s in sigs):
        raise IntegrityFailure(f"label template {name} v{row['version']} changed after it was "
                               "approved (its text no longer matches the signed sha256): "
                               "nothing printed; investigate, then load and approve it again")
    t = _parse(row["source_text"], f"{name}@{row['version']}")
    return t, digest
