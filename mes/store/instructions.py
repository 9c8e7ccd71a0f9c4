"""Reads of work instructions, training records and the steps built under them (issue 18)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from mes.store.base import Row, Store, in_chunks


def revision(store: Store, doc_id: str, rev: str) -> Row | None:
    return store.one("SELECT * FROM instructions WHERE doc_id = ? AND revision = ?",
                     (doc_id, rev))


def revisions(store: Store, doc_id: str) -> list[Row]:
    """A document's revisions in the order they were loaded."""
    return store.all("SELECT * FROM instructions WHERE doc_id = ? ORDER BY loaded_at, revision",
                     (doc_id,))


def all_revisions(store: Store) -> list[Row]:
    return store.all("SELECT * FROM instructions ORDER BY doc_id, loaded_at, revision")


def ops_of(store: Store, doc_id: str, rev: str) -> list[Row]:
    return store.all("SELECT part, op FROM instruction_ops WHERE doc_id = ? AND revision = ? "
                     "ORDER BY part, op", (doc_id, rev))


def approved_for_op(store: Store, part: str, op: int) -> Row | None:
    """The approved revision (status `approved`: the one in force) that applies to op."""
    return store.one("SELECT i.* FROM instructions i JOIN instruction_ops o ON "
                     "o.doc_id = i.doc_id AND o.revision = i.revision WHERE o.part = ? AND "
                     "o.op = ? AND i.status = 'approved' ORDER BY i.approved_at DESC LIMIT 1",
                     (part, op))


def claims_on_op(store: Store, part: str, op: int) -> list[Row]:
    """Every draft or approved revision that names op (of any document)."""
    return store.all("SELECT i.doc_id, i.revision, i.status FROM instructions i JOIN "
                     "instruction_ops o ON o.doc_id = i.doc_id AND o.revision = i.revision "
                     "WHERE o.part = ? AND o.op = ? AND i.status IN ('draft', 'approved')",
                     (part, op))


def trainings_of(store: Store, username: str, doc_id: str) -> list[Row]:
    return store.all("SELECT * FROM trainings WHERE username = ? AND doc_id = ? ORDER BY id",
                     (username, doc_id))


def trainings_on(store: Store, doc_id: str) -> list[Row]:
    return store.all("SELECT t.*, u.full_name FROM trainings t JOIN users u ON "
                     "u.username = t.username WHERE t.doc_id = ? ORDER BY t.id", (doc_id,))


def steps_under(store: Store, doc_id: str, rev: str | None) -> list[Row]:
    """Steps recorded under a document (one revision, or all), with who and where."""
    sql = ("SELECT s.id, s.lot_id, s.serial, s.op, s.station_id, s.username, s.status, "
           "s.started_at, s.completed_at, s.instruction_rev, l.part FROM steps s JOIN lots l "
           "ON l.id = s.lot_id WHERE s.instruction_doc = ?")
    params: list[Any] = [doc_id]
    if rev is not None:
        sql += " AND s.instruction_rev = ?"
        params.append(rev)
    return store.all(sql + " ORDER BY s.id", params)


def revisions_of_steps(store: Store, refs: Iterable[tuple[str, str]]) -> list[Row]:
    """The revision rows named by (doc, revision) pairs."""
    out: list[Row] = []
    docs = sorted({d for d, _ in refs})
    wanted = set(refs)
    for chunk, marks in in_chunks(docs):
        out += [r for r in store.all(f"SELECT * FROM instructions WHERE doc_id IN ({marks}) "
                                     "ORDER BY doc_id, loaded_at", chunk)
                if (r["doc_id"], r["revision"]) in wanted]
    return out


def routing_docs(store: Store, part: str) -> list[Row]:
    return store.all("SELECT version, doc FROM routings WHERE part = ?", (part,))


def user_names(store: Store) -> dict[str, str]:
    return {r["username"]: r["full_name"]
            for r in store.all("SELECT username, full_name FROM users")}


def approved(store: Store, doc_id: str) -> Row | None:
    return store.one("SELECT * FROM instructions WHERE doc_id = ? AND status = 'approved'",
                     (doc_id,))
