"""Re-run existing CLI test modules against PostgreSQL, unchanged.

`adopt(namespace, modules)` copies every test function of `modules` that works on a
`workspace` (directly or through `plant`, `built`…) into the calling test module, where
a module-level `pytestmark` parametrizes `workspace` with "postgres". The SQLite-only
`sql(ws, …)` helpers those modules use are redirected to the test's PostgreSQL database
by `redirect_sql`, called from an autouse fixture of the adopting module
(`Workspace.dump()` is backend-neutral already).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from types import ModuleType
from typing import Any

import pytest

from tests.postgres.dump import pg_sql


def adopt(namespace: dict[str, Any], modules: Iterable[ModuleType], uses: set[str],
          skip: Iterable[str] = ()) -> list[str]:
    """Copy the tests of `modules` taking one of the fixtures `uses` into `namespace`."""
    taken: list[str] = []
    skipped = set(skip)
    for module in modules:
        for name, fn in vars(module).items():
            if not name.startswith("test_") or not callable(fn) or name in skipped:
                continue
            params = set(inspect.signature(fn).parameters)
            if params & uses:
                namespace[name] = fn
                taken.append(name)
    return taken


def redirect_sql(monkeypatch: pytest.MonkeyPatch, modules: Iterable[ModuleType]) -> None:
    """Make each module's `sql(ws, statement, params)` run on ws.db_url when it is set."""
    for module in modules:
        original = getattr(module, "sql", None)
        if original is None:
            continue
        monkeypatch.setattr(module, "sql", _routed(original))


def _routed(original: Callable[..., Any]) -> Callable[..., Any]:
    def sql(ws: Any, statement: str, params: tuple[object, ...] = ()) -> Any:
        if getattr(ws, "db_url", None):
            return pg_sql(ws.db_url, statement, params)
        return original(ws, statement, params)

    return sql

