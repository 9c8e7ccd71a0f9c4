"""The foundation CLI tests (users, stations, routings load/approve, lots, steps with
interlocks and refusals, holds, audit) run unchanged against PostgreSQL."""

from __future__ import annotations

import pytest

from tests.foundation import helpers, test_lots_steps, test_routings, test_users, test_workspace
from tests.postgres.adopt import adopt, redirect_sql

MODULES = (test_users, test_routings, test_lots_steps, test_workspace)

pytestmark = [pytest.mark.postgres,
              pytest.mark.parametrize("workspace", ["postgres"], indirect=True)]

ADOPTED = adopt(globals(), MODULES, {"workspace", "plant"})


@pytest.fixture(autouse=True)
def _pg_sql(monkeypatch: pytest.MonkeyPatch) -> None:
    redirect_sql(monkeypatch, (helpers, *MODULES))
