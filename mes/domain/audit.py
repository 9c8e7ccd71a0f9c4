"""The audit hash chain (DESIGN §5): hash = sha256(prev_hash || canonical_json(event))."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

GENESIS = "0" * 64
# The fields of an audit event that are hashed, in the stored row.
EVENT_FIELDS = (
    "seq", "at", "username", "station", "action", "entity_type", "entity_id",
    "old", "new", "reason",
)


def canonical_json(value: Any) -> str:
    """Sorted keys, UTF-8, no whitespace: the same bytes on every machine."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def event_hash(prev_hash: str, event: Mapping[str, Any]) -> str:
    body = {k: event[k] for k in EVENT_FIELDS}
    # Row images (issue 13): hashed when present, so events written before them keep
    # their hashes.
    if event.get("row_images") is not None:
        body["row_images"] = event["row_images"]
    return hashlib.sha256((prev_hash + canonical_json(body)).encode()).hexdigest()


def record_hash(record: Any) -> str:
    """sha256 of a record's canonical JSON: what an electronic signature signs."""
    return hashlib.sha256(canonical_json(record).encode()).hexdigest()


def row_digest(row: Mapping[str, Any]) -> str:
    """The image of one stored row that its audit event carries: sha256 (128 bits) of the
    canonical JSON of every column. Whole floats count as integers, so a value reads the
    same from SQLite (REAL of an integer) and PostgreSQL after `mes db copy`."""
    norm = {k: (int(v) if isinstance(v, float) and v.is_integer() else v)
            for k, v in row.items()}
    return hashlib.sha256(canonical_json(norm).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    events: int
    head_seq: int
    head_hash: str
    first_bad_seq: int | None = None
    problem: str | None = None


def verify_chain(rows: Iterable[Mapping[str, Any]]) -> ChainReport:
    """Recompute the chain over rows ordered by seq; name the first bad event."""
    prev, expected_seq, count = GENESIS, 1, 0
    for row in rows:
        seq = row["seq"]
        if seq != expected_seq:
            what = "missing (deleted)" if seq > expected_seq else "duplicated or inserted"
            return ChainReport(False, count, expected_seq - 1, prev, expected_seq,
                               f"event {expected_seq} is {what}: sequence jumps to {seq}")
        if row["prev_hash"] != prev:
            return ChainReport(False, count, seq - 1, prev, seq,
                               f"event {seq} does not follow event {seq - 1} (prev_hash differs)")
        if event_hash(prev, row) != row["hash"]:
            return ChainReport(False, count, seq - 1, prev, seq,
                               f"event {seq} was changed after it was written (hash differs)")
        prev, expected_seq, count = row["hash"], seq + 1, count + 1
    return ChainReport(True, count, expected_seq - 1, prev)
