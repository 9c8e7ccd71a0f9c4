"""Row images across a schema upgrade: a migration that adds a column changes the image of
every existing row of that table (the new column hashes as null), so `audit verify
--reconcile` would call every row of an upgraded plant edited.

Before the migrations run, the rows that match their latest image are noted; after them,
those rows are re-imaged in one `schema.upgrade` event. A row edited behind the chain
before the upgrade did not match, is not re-imaged, and is still named after it: the
upgrade does not launder it.
"""

from __future__ import annotations

import json
from typing import Any

from mes.domain.audit import row_digest
from mes.store.base import Store
from mes.store.schema import ROW_IMAGES_SINCE, SCHEMA_VERSION


def _ref(key: Any) -> Any:
    return tuple(key) if isinstance(key, list) else key


def before(store: Store, current: int) -> dict[str, set[Any]] | None:
    """Per record table, the keys of the rows that match their latest image (None: no row
    images yet, or nothing to upgrade)."""
    if current < ROW_IMAGES_SINCE or current >= SCHEMA_VERSION:
        return None
    latest: dict[tuple[str, Any], str | None] = {}
    for e in store.audit_rows():
        for table, key, digest in json.loads(e.get("row_images") or "[]"):
            latest[(table, _ref(key))] = digest
    imaged = {t for t, _ in latest}
    ok: dict[str, set[Any]] = {}
    for table in store.record_tables():
        if table not in imaged:
            continue
        pk = store.primary_key(table)
        for r in store.iter_rows(table):
            ref = r[pk[0]] if len(pk) == 1 else tuple(r[c] for c in pk)
            digest = latest.get((table, ref))
            if digest is not None and digest == row_digest(r):
                ok.setdefault(table, set()).add(ref)
    return ok


def after(store: Store, ok: dict[str, set[Any]] | None, current: int) -> None:
    """Re-image the rows that matched before, as one event."""
    if not ok:
        return
    tables = set(store.record_tables())
    n = 0
    for table, refs in sorted(ok.items()):
        if table not in tables:  # dropped or renamed by a migration (its own event says so)
            continue
        single = len(store.primary_key(table)) == 1
        for ref in refs:
            store.touch(table, (ref,) if single else ref)
            n += 1
    store.append_audit(
        username=None, station=None, action="schema.upgrade", entity_type="schema",
        entity_id=str(SCHEMA_VERSION), old={"schema_version": current},
        new={"schema_version": SCHEMA_VERSION, "rows_reimaged": n},
        reason="columns added by the upgrade: rows that matched their images re-imaged")
