"""Files are records too (issue 13 item 4).

Every file mes writes or keeps (firmware images, label PDF/ZPL, DHR PDF/JSON, backups)
has its sha256 in the audit event that wrote it: `new["files"] = [{"path", "sha256"}]`,
the path relative to the workspace when the file is inside it. `mes audit verify --files`
re-hashes the latest version of each and names every missing or changed file.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from mes.store.base import Store


def write_atomic(path: Path, data: bytes, *, private: bool = False) -> None:
    """Write `path` whole or not at all: a temporary file in the same folder, fsynced, then
    renamed over the old one. `private`: created 0600 from the start (a session token),
    never a moment readable by others, whatever the umask."""
    tmp = path.with_name(f".{path.name}.{os.urandom(4).hex()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if private else 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def read_controlled(source: Path, *, path_of: str, empty: str, limit: int) -> bytes:
    """The bytes of a file handed in to be kept as a controlled copy (a firmware build, a
    work instruction): refused when missing, unreadable, empty or larger than `limit`."""
    from mes.errors import InvalidInput, NotFound

    try:
        data = source.read_bytes()
    except FileNotFoundError:
        raise NotFound(f"{source}: no such file: check the path to {path_of}") from None
    except OSError as exc:
        raise InvalidInput(f"{source}: cannot be read ({exc.strerror}): check the file",
                           field="file") from None
    if not data:
        raise InvalidInput(f"{source}: {empty}", field="file")
    if len(data) > limit:
        raise InvalidInput(f"{source}: {len(data)} bytes is larger than {limit} bytes: is "
                           "this the right file?", field="file")
    return data


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def create_private(path: Path) -> None:
    """Create `path` empty and 0600 whatever the umask (a database copy or backup holds
    every record and the users' password hashes); an existing file raises
    FileExistsError."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)  # the umask can only take bits away; this states the mode
    finally:
        os.close(fd)


def relative(workspace: Path, path: Path) -> str:
    try:
        return str(path.resolve().relative_to(workspace.resolve()))
    except ValueError:
        return str(path.resolve())


def record(workspace: Path, path: Path, data: bytes | None = None) -> dict[str, str]:
    """What an event carries for one file: its path and sha256 (of `data`, when given,
    else of the file as it is on disk)."""
    digest = hashlib.sha256(data).hexdigest() if data is not None else sha256_of(path)
    return {"path": relative(workspace, path), "sha256": digest}


def _named(new: str | None) -> list[dict[str, Any]]:
    if not new or '"files"' not in new:
        return []
    value = json.loads(new)
    files = value.get("files") if isinstance(value, dict) else None
    return files if isinstance(files, list) else []


def recorded(store: Store, entity: str, path: str) -> tuple[str, int] | None:
    """(sha256, event seq) of the latest event of `entity` that wrote `path`."""
    found = None
    for e in store.audit_log(entity, None):
        for f in _named(e["new"]):
            if f.get("path") == path:
                found = (str(f["sha256"]), int(e["seq"]))
    return found


def note_files(latest: dict[str, tuple[str, int]], new: str | None, seq: int) -> None:
    """Note the files an event names (its `new`), the latest event winning."""
    for f in _named(new):
        latest[str(f["path"])] = (str(f["sha256"]), int(seq))


def check(store: Store, workspace: Path, limit: int = 50,
          latest: dict[str, tuple[str, int]] | None = None) -> dict[str, Any]:
    """Re-hash the latest version of every file the audit trail names (`latest`: noted
    already, in verify's one pass over the events)."""
    if latest is None:
        latest = {}
        for e in store.audit_rows():
            note_files(latest, e["new"], e["seq"])
    problems: list[str] = []
    for name, (digest, seq) in sorted(latest.items()):
        path = Path(name) if Path(name).is_absolute() else workspace / name
        if not path.is_file():
            problems.append(f"file {name} (written by event {seq}) is missing")
        elif sha256_of(path) != digest:
            problems.append(f"file {name} differs from what event {seq} recorded (sha256)")
    return {"ok": not problems, "checked": len(latest), "problems": problems[:limit]}


def write_readonly(target: Path, data: bytes) -> bool:
    """Keep a read-only copy of `data` at `target` (a controlled document's file); True if
    this call created it (the caller removes it again when its transaction fails). A copy
    already there with the same content is kept; with other content it is an integrity
    failure."""
    import os

    from mes.errors import IntegrityFailure

    if target.exists():
        if sha256_of(target) == hashlib.sha256(data).hexdigest():
            return False
        raise IntegrityFailure(f"{target} exists with other content: tell quality")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_bytes(data)
    os.chmod(tmp, 0o444)
    os.replace(tmp, target)
    return True
