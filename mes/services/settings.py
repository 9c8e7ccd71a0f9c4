"""One workspace setting read from the store, with its default (no Context needed).

Settings added after a workspace was created (session, password, time-zone and
segregation-of-duties settings of issue 13) are absent from older workspaces until an
admin sets them: readers always pass the default.
"""

from __future__ import annotations

import json
from typing import Any

from mes.store.base import Store


def setting(store: Store, key: str, default: Any = None) -> Any:
    row = store.get("meta", f"config.{key}")
    return json.loads(row["value"]) if row else default
