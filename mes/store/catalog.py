"""The catalog: parts and their documents (issue 15: the SQL the services used)."""

from __future__ import annotations

import json
from typing import Any

from mes.store.base import Store


def part_docs(store: Store) -> dict[str, dict[str, Any]]:
    """Every part's parsed document, by part number."""
    return {r["number"]: json.loads(r["doc"]) for r in store.all("SELECT number, doc FROM parts")}
