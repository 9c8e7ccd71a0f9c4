"""The audit hash chain (DESIGN §5): hash = sha256(prev_hash || canonical_json(event))."""

from __future__ import annotations

import hashlib
import json
import json.scanner
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from json.encoder import encode_basestring as _quote
from typing import Any

GENESIS = "0" * 64
# The fields of an audit event that are hashed, in the stored row.
EVENT_FIELDS = (
    "seq", "at", "username", "station", "action", "entity_type", "entity_id",
    "old", "new", "reason",
)


# json.dumps with these options builds a new encoder at every call; one encoder, made
# once, gives the same bytes (the same C encoder underneath) for a third less time.
_ENCODER = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"))
# The columns of a stored audit event, in this order (`Store.audit_tuples`).
AUDIT_COLUMNS = (*EVENT_FIELDS, "prev_hash", "hash", "row_images")


def canonical_json(value: Any) -> str:
    """Sorted keys, UTF-8, no whitespace: the same bytes on every machine."""
    return _ENCODER.encode(value)


_SCAN = json.scanner.c_make_scanner(json.JSONDecoder())  # type: ignore[attr-defined]


def parse_json(text: Any) -> Any:
    """json.loads of the JSON text mes stores (an event's `new`, its row images): the C
    scanner directly, a third less time per event; anything it does not take whole
    (whitespace around, not JSON, not a str) goes through json.loads, which decides."""
    if type(text) is str:
        try:
            value, end = _SCAN(text, 0)
        except StopIteration:
            pass
        else:
            if end == len(text):
                return value
    return json.loads(text)


def _field(value: Any) -> str:
    """One value as canonical_json writes it: strings, ints and None directly (what an
    event's fields hold), anything else through the encoder."""
    if value is None:
        return "null"
    kind = type(value)
    if kind is str:
        return _quote(value)
    if kind is int:
        return int.__repr__(value)
    return _ENCODER.encode(value)


def event_text(seq: Any, at: Any, username: Any, station: Any, action: Any, entity_type: Any,
               entity_id: Any, old: Any, new: Any, reason: Any, row_images: Any) -> str:
    """canonical_json of an event's hashed fields, written field by field in sorted key
    order: the same text without building and sorting a dict per event. Row images
    (issue 13) are hashed when present, so events written before them keep their hashes."""
    f = _field
    text = ('{"action":' + f(action) + ',"at":' + f(at) + ',"entity_id":' + f(entity_id)
            + ',"entity_type":' + f(entity_type) + ',"new":' + f(new) + ',"old":' + f(old)
            + ',"reason":' + f(reason))
    if row_images is not None:
        text += ',"row_images":' + f(row_images)
    return (text + ',"seq":' + f(seq) + ',"station":' + f(station) + ',"username":'
            + f(username) + "}")


def event_hash(prev_hash: str, event: Mapping[str, Any]) -> str:
    e = event
    text = event_text(e["seq"], e["at"], e["username"], e["station"], e["action"],
                      e["entity_type"], e["entity_id"], e["old"], e["new"], e["reason"],
                      e.get("row_images"))
    return hashlib.sha256((prev_hash + text).encode()).hexdigest()


def record_hash(record: Any) -> str:
    """sha256 of a record's canonical JSON: what an electronic signature signs."""
    return hashlib.sha256(canonical_json(record).encode()).hexdigest()


def row_digest(row: Mapping[str, Any]) -> str:
    """The image of one stored row that its audit event carries: sha256 (128 bits) of the
    canonical JSON of every column. Whole floats count as integers, so a value reads the
    same from SQLite (REAL of an integer) and PostgreSQL after `mes db copy`."""
    norm = row
    if any(isinstance(v, float) and v.is_integer() for v in row.values()):
        norm = {k: (int(v) if isinstance(v, float) and v.is_integer() else v)
                for k, v in row.items()}
    return hashlib.sha256(canonical_json(norm).encode()).hexdigest()[:32]


def row_digest_of(keys: Sequence[str], values: Sequence[Any]) -> str:
    """`row_digest` of a row given as its column names in sorted order (quoted, as
    `quoted_keys` makes them) and its values in that order: the same text, written
    column by column instead of building and sorting a dict per row. Strings, integers and
    nulls, most of a row's values, are written inline (a function call per value was a
    third of the time)."""
    quote, value, integer = _quote, _row_value, int.__repr__
    text = ",".join([k + (quote(v) if (t := type(v)) is str else integer(v) if t is int
                          else "null" if v is None else value(v))
                     for k, v in zip(keys, values, strict=True)])
    return hashlib.sha256(("{" + text + "}").encode()).hexdigest()[:32]


def _row_value(value: Any) -> str:
    """A column value other than a str as `row_digest` writes it (whole floats as ints)."""
    if isinstance(value, float) and value.is_integer():
        return int.__repr__(int(value))
    return _field(value)


def quoted_keys(columns: Sequence[str]) -> list[str]:
    """Column names as canonical JSON writes a key ('"name":'), in the order it sorts them."""
    return [_quote(c) + ":" for c in sorted(columns)]


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    events: int
    head_seq: int
    head_hash: str
    first_bad_seq: int | None = None
    problem: str | None = None


class ChainWalk:
    """The chain verified while its events are handed on (tuples in AUDIT_COLUMNS order,
    no dict per event): one pass over the audit table serves every check that reads it.
    `report` is set once `events` is exhausted; it stops at the first bad event."""

    def __init__(self) -> None:
        self.report: ChainReport | None = None

    def events(self, rows: Iterable[Sequence[Any]]) -> Iterator[Sequence[Any]]:
        prev, expected_seq, count = GENESIS, 1, 0
        sha256 = hashlib.sha256
        for row in rows:
            seq = row[0]
            if seq != expected_seq:
                what = "missing (deleted)" if seq > expected_seq else "duplicated or inserted"
                self.report = ChainReport(False, count, expected_seq - 1, prev, expected_seq,
                                          f"event {expected_seq} is {what}: sequence jumps "
                                          f"to {seq}")
                return
            if row[10] != prev:
                self.report = ChainReport(False, count, seq - 1, prev, seq,
                                          f"event {seq} does not follow event {seq - 1} "
                                          "(prev_hash differs)")
                return
            text = event_text(seq, row[1], row[2], row[3], row[4], row[5], row[6], row[7],
                              row[8], row[9], row[12])
            if sha256((prev + text).encode()).hexdigest() != row[11]:
                self.report = ChainReport(False, count, seq - 1, prev, seq,
                                          f"event {seq} was changed after it was written "
                                          "(hash differs)")
                return
            yield row
            prev, expected_seq, count = row[11], seq + 1, count + 1
        self.report = ChainReport(True, count, expected_seq - 1, prev)


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
