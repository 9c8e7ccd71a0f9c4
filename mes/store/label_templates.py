"""Label templates as controlled documents and first-article label jobs (issue 17): the SQL."""

from __future__ import annotations

import json
from typing import Any

from mes.store.base import Row, Store


def versions(store: Store, name: str | None = None) -> list[Row]:
    if name is None:
        return store.all("SELECT name, version, kind, status, sha256, source_file, loaded_by, "
                         "loaded_at, approved_by, approved_at FROM label_templates "
                         "ORDER BY name, version")
    return store.all("SELECT * FROM label_templates WHERE name = ? ORDER BY version", (name,))


def version(store: Store, name: str, number: int) -> Row | None:
    return store.one("SELECT * FROM label_templates WHERE name = ? AND version = ?",
                     (name, number))


def latest(store: Store, name: str) -> Row | None:
    return store.one("SELECT * FROM label_templates WHERE name = ? ORDER BY version DESC "
                     "LIMIT 1", (name,))


def approved(store: Store, name: str) -> Row | None:
    return store.one("SELECT * FROM label_templates WHERE name = ? AND status = 'approved'",
                     (name,))


def add_draft(tx: Store, row: dict[str, Any]) -> None:
    tx.insert("label_templates", {**row, "status": "draft"})


def approve(tx: Store, name: str, number: int, username: str, at: str) -> bool:
    """Draft -> approved; the previously approved version becomes superseded."""
    n = tx.update("label_templates", (name, number),
                  {"status": "approved", "approved_by": username, "approved_at": at},
                  expect={"status": "draft"})
    if n != 1:
        return False
    for old in tx.find("label_templates", {"name": name, "status": "approved"}):
        if old["version"] != number:
            tx.update("label_templates", (name, old["version"]), {"status": "superseded"})
    return True


# -- first-article jobs ----------------------------------------------------------------------

def add_job(tx: Store, row: dict[str, Any]) -> int:
    doc = {**row, "items": json.dumps(row["items"]), "request": json.dumps(row["request"])}
    return int(tx.insert("label_jobs", doc, returning="id"))


def job(store: Store, job_id: int) -> Row | None:
    row = store.get("label_jobs", job_id)
    if row is not None:
        row["items"] = json.loads(row["items"])
        row["request"] = json.loads(row["request"])
    return row


def decide_job(tx: Store, job_id: int, changes: dict[str, Any]) -> bool:
    return tx.update("label_jobs", job_id, changes, expect={"status": "awaiting"}) == 1


def jobs_of_lot(store: Store, lot_id: str) -> list[Row]:
    return store.find("label_jobs", {"lot_id": lot_id}, order="id")


def conferring_country(store: Store, lot_id: str, ops: list[int]) -> str | None:
    """The country of the site where the lot's origin-conferring operation last passed."""
    if not ops:
        return None
    marks = ", ".join("?" for _ in ops)
    row = store.one("SELECT s.country FROM steps x JOIN stations st ON st.id = x.station_id "
                    "JOIN sites s ON s.id = st.site_id WHERE x.lot_id = ? AND x.status = "
                    f"'passed' AND x.op IN ({marks}) ORDER BY x.id DESC LIMIT 1",
                    (lot_id, *ops))
    return None if row is None else str(row["country"])
