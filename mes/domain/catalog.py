"""Which catalog changes need quality's signature (issue 12)."""

from __future__ import annotations

from typing import Any

# Fields of a part that reach a label (name, REF, GTIN, serial, expiry from shelf life),
# the origin decision (cost, origin, kind) or quality's control of material (incoming
# inspection, moisture level): a change to any of them is a draft until quality approves
# it. The others (unit, description, packaging levels) take effect when loaded.
CONTROLLED_FIELDS = ("name", "kind", "ref", "gtin", "serialized", "serial_prefix",
                     "shelf_life_days", "unit_cost", "origin", "incoming_inspection", "msl")


def changed_fields(old: dict[str, Any] | None, new: dict[str, Any]) -> list[str]:
    """The fields whose value differs, in a stable order (all of them for a new part)."""
    if old is None:
        return sorted(new)
    return sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))


def controlled(fields: list[str]) -> list[str]:
    return [f for f in fields if f in CONTROLLED_FIELDS]


def field_changes(old: dict[str, Any], new: dict[str, Any]) -> list[dict[str, Any]]:
    """Field by field, what a version would change: {field, old, new, signed}."""
    return [{"field": f, "old": old.get(f), "new": new.get(f),
             "needs_signature": f in CONTROLLED_FIELDS}
            for f in changed_fields(old, new)]
