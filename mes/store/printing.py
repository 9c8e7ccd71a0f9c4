"""Print jobs and the label reconciliation of a lot (issue 19): the SQL."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from mes.store.base import Row, Store, in_chunks


def record_job(store: Store, row: Mapping[str, Any]) -> int:
    return int(store.insert("print_jobs", row, returning="id"))


def last_job(store: Store, file: str) -> Row | None:
    return store.one("SELECT * FROM print_jobs WHERE file = ? ORDER BY id DESC LIMIT 1",
                     (file,))


def last_labels(store: Store, items: Sequence[str]) -> dict[str, Row]:
    """Each item's newest label that is not voided."""
    out: dict[str, Row] = {}
    for chunk, marks in in_chunks(items):
        for r in store.all(f"SELECT * FROM labels WHERE voided_at IS NULL AND item_id IN "
                           f"({marks}) ORDER BY id", chunk):
            out[r["item_id"]] = r  # ordered by id: the last one wins
    return out


def lot_labels(store: Store, lot_id: str) -> list[Row]:
    """Every label of the lot with its file's last print job (None: hot folder only)."""
    return store.all(
        "SELECT b.*, j.printer, j.job_id, j.state AS job_state, j.reasons AS job_reasons "
        "FROM labels b LEFT JOIN print_jobs j ON j.id = (SELECT max(id) FROM print_jobs "
        "WHERE file = b.file) WHERE b.lot_id = ? ORDER BY b.id", (lot_id,))


def audited_verified(store: Store, lot_id: str) -> set[int]:
    """Label ids whose print event says the file was decoded back."""
    out: set[int] = set()
    for (new,) in store.tuples("SELECT a.new FROM audit a JOIN labels b ON "
                               "b.item_id = a.entity_id WHERE b.lot_id = ? AND a.action IN "
                               "('label.print', 'label.reprint')", (lot_id,)):
        d = json.loads(new or "{}")
        if d.get("verified") and d.get("label") is not None:
            out.add(int(d["label"]))
    return out
