"""Seals of the audit chain head, kept outside the database (issue 13 item 2).

A seal says "event SEQ had hash HASH at time AT", signed with the site's Ed25519 key. Seals
are appended to `seals/journal.jsonl` in the workspace, and to the same file in the
directory of the `seal.mirror` setting when one is set (a share another account owns).
They are written after every commit that recorded an electronic signature, after every
`seal.every` events, at each DHR export and by `mes audit seal`. `mes audit verify` checks
the chain against every seal: a cut tail or a chain rewritten before the newest seal no
longer matches it.

The key: `seals/site-key.pem`, created on first use with mode 0600 in a 0700 directory
(`site-key.pub` beside it). Not a passphrase: seals are made automatically by station
commands, where nobody could type one. It is never in the database, so someone who can
change the database (a PostgreSQL role, a copied mes.db, a backup) cannot make a seal;
someone who can read the workspace's key file can. See docs/RELIABILITY.md for the window.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

from mes import clock
from mes.domain.audit import canonical_json
from mes.errors import IntegrityFailure
from mes.store.base import Row, Store

SEAL_DIR = "seals"
JOURNAL = "journal.jsonl"
KEY = "site-key.pem"
PUBLIC = "site-key.pub"
DEFAULT_EVERY = 1000
# Commits sealed at once: every electronic signature (approve, release, disposition,
# hold…) and the shipment, which is not signed but is what leaves the plant.
SEALED_ACTIONS = frozenset({"signature", "ship"})


def seal_dir(workspace: Path) -> Path:
    return workspace / SEAL_DIR


def journals(store: Store, workspace: Path) -> list[Path]:
    """The journal in the workspace, then the mirror's (when `seal.mirror` is set)."""
    out = [seal_dir(workspace) / JOURNAL]
    mirror = _setting(store, "seal.mirror")
    if mirror:
        out.append(Path(str(mirror)) / JOURNAL)
    return out


def _setting(store: Store, key: str) -> Any:
    row = store.get("meta", f"config.{key}")
    return json.loads(row["value"]) if row else None


def _private_key(workspace: Path) -> Any:
    """The site key, created on first use (0600 in a 0700 directory)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    d = seal_dir(workspace)
    path = d / KEY
    if path.exists():
        return serialization.load_pem_private_key(path.read_bytes(), password=None)
    d.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
        fh.flush()
        os.fsync(fh.fileno())
    (d / PUBLIC).write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return key


def _public_key(workspace: Path) -> Any:
    from cryptography.hazmat.primitives import serialization

    path = seal_dir(workspace) / PUBLIC
    if not path.exists():
        return None
    return serialization.load_pem_public_key(path.read_bytes())


def _fingerprint(public: Any) -> str:
    import hashlib

    from cryptography.hazmat.primitives import serialization

    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def _body(s: dict[str, Any]) -> bytes:
    return canonical_json({k: s[k] for k in ("seq", "hash", "at", "reason", "key")}).encode()


def seal(store: Store, workspace: Path, reason: str) -> dict[str, Any] | None:
    """Seal the committed chain head now; None when the chain is empty."""
    head = store.audit_head()
    if head is None:
        return None
    key = _private_key(workspace)
    s: dict[str, Any] = {"seq": int(head["seq"]), "hash": head["hash"], "at": clock.now_iso(),
                         "reason": reason, "key": _fingerprint(key.public_key())}
    s["sig"] = base64.b64encode(key.sign(_body(s))).decode()
    line = (json.dumps(s, sort_keys=True) + "\n").encode()
    for path in journals(store, workspace):
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            with path.open("ab") as fh:
                fh.write(line)
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as exc:
            raise IntegrityFailure(f"the chain head (event {s['seq']}) was recorded but its "
                                   f"seal could not be written to {path} ({exc}): mount or fix "
                                   "it, then run `mes audit seal`") from exc
    return s


def after_commit(workspace: Path) -> Any:
    """The store hook: seal after a commit with a signature or past every N-th event."""
    every: list[int] = []

    def hook(store: Store, events: list[Row]) -> None:
        if not every:
            every.append(int(_setting(store, "seal.every") or DEFAULT_EVERY))
        n = max(every[0], 1)
        sealed = sorted({e["action"] for e in events} & SEALED_ACTIONS)
        if sealed:
            seal(store, workspace, ", ".join(sealed))
        elif events[0]["seq"] // n != (events[-1]["seq"] // n) or events[-1]["seq"] % n == 0:
            seal(store, workspace, f"every {n} events")

    return hook


def read(path: Path) -> list[dict[str, Any]] | None:
    if not path.exists():
        return None
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        try:
            out.append({**json.loads(line), "_line": n})
        except ValueError:
            out.append({"_line": n, "_bad": True})
    return out


def check(store: Store, workspace: Path) -> dict[str, Any]:
    """The chain against every seal of every journal: problems, and the newest seal."""
    problems: list[str] = []
    public = _public_key(workspace)
    fingerprint = _fingerprint(public) if public is not None else None
    found: dict[Path, list[dict[str, Any]]] = {}
    for path in journals(store, workspace):
        seals = read(path)
        if seals is None:
            if path != journals(store, workspace)[0]:
                problems.append(f"the seal mirror {path} is missing")
            continue
        found[path] = seals
    warning = None
    if not found:
        # Only someone with the workspace (who holds the key too) can remove it: a note,
        # not a failure. The mirror is what protects against that (docs/RELIABILITY.md).
        warning = (f"no seal journal at {seal_dir(workspace) / JOURNAL}: the chain was "
                   "checked without seals (is this the plant's workspace?)")
    if found and public is None:
        problems.append(f"seals exist but the site's public key {seal_dir(workspace) / PUBLIC} "
                        "is missing")
    valid: dict[tuple[int, str, str], dict[str, Any]] = {}
    per_journal: dict[Path, set[tuple[int, str, str]]] = {}
    signed: dict[str, bool] = {}  # a seal's text -> its signature holds: the mirror's copy
    for path, seals in found.items():  # of a seal is the same text, verified once
        per_journal[path] = set()
        for s in seals:
            where = f"seal {path.name}:{s['_line']}"
            if s.get("_bad"):
                problems.append(f"{where} is not signed by the site key (forged or damaged)")
                continue
            text = canonical_json({k: v for k, v in s.items() if k != "_line"})
            if text not in signed:
                signed[text] = _signed_by(public, fingerprint, s)
            if not signed[text]:
                problems.append(f"{where} is not signed by the site key (forged or damaged)")
                continue
            ident = (int(s["seq"]), s["hash"], s["at"])
            valid[ident] = s
            per_journal[path].add(ident)
    if len(per_journal) > 1:
        primary, *mirrors = list(per_journal)
        for m in mirrors:
            for seq, _h, at in sorted(per_journal[m] - per_journal[primary]):
                problems.append(f"the seal of event {seq} made at {at} is in {m} but not in "
                                f"{primary}: the workspace journal was cut or edited")
    head = store.audit_head()
    last = int(head["seq"]) if head else 0
    for seq, digest, at in sorted(valid):
        row = store.audit_event(seq)
        if row is None:
            problems.append(f"event {seq} was sealed at {at} but the chain ends at event "
                            f"{last}: its tail was deleted")
        elif row["hash"] != digest:
            problems.append(f"event {seq} differs from its seal of {at}: the chain was "
                            "rewritten before that seal")
    newest = max(valid, default=None)
    return {"ok": not problems, "problems": problems, "seals": len(valid), "warning": warning,
            "newest": ({k: v for k, v in valid[newest].items() if not k.startswith("_")}
                       if newest else None)}


def _signed_by(public: Any, fingerprint: str | None, s: dict[str, Any]) -> bool:
    if public is None or s.get("key") != fingerprint:
        return False
    from cryptography.exceptions import InvalidSignature

    try:
        public.verify(base64.b64decode(s["sig"]), _body(s))
    except (InvalidSignature, KeyError, ValueError, TypeError):
        return False
    return True
