"""Local time where the plant is (issue 13, item 8): the site's time zone is set at
`mes init` (default from the country) and signatures use it, not the host's."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests import conftest
from tests.conftest import PASSWORDS, ROUTINGS, Workspace, sql

INIT = ["init", "--site-name", "Usine", "--manufacturer", "OxiMaroc SA", "--address", "A",
        "--admin", "amina", "--password-stdin"]


@pytest.fixture
def host_in_new_york(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def empty(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    conftest.use_workspace(monkeypatch, tmp_path)
    return Workspace(tmp_path)


def zone(ws: Workspace) -> str:
    return str(json.loads(ws.ok("config", "show", "--json").out)["timezone"])


def test_default_zone_from_the_country(workspace: Workspace) -> None:
    assert zone(workspace) == "Africa/Casablanca"


def test_zone_given_at_init(empty: Workspace) -> None:
    r = empty.ok(*INIT, "--country", "PT", "--timezone", "Atlantic/Madeira",
                 stdin=PASSWORDS["amina"] + "\n")
    assert "time zone Atlantic/Madeira" in r.out
    assert zone(empty) == "Atlantic/Madeira"


def test_unknown_zone_or_country_without_one_refused(empty: Workspace) -> None:
    r = empty.mes(*INIT, "--country", "MA", "--timezone", "Mars/Olympus",
                  stdin=PASSWORDS["amina"] + "\n")
    assert r.code == 5 and "IANA" in r.err, r
    r = empty.mes(*INIT, "--country", "US", stdin=PASSWORDS["amina"] + "\n")
    assert r.code == 5 and "--timezone" in r.err, r
    assert not empty.db.exists()


def _approve(ws: Workspace, part: str) -> str:
    if not sql(ws, "SELECT 1 FROM routings"):
        ws.ok("routing", "load", *sorted(ROUTINGS.glob("*.yaml")), user="tarik")
    ws.ok("routing", "approve", part, "--version", 1, user="youssef")
    (offset,) = sql(ws, "SELECT utc_offset FROM signatures ORDER BY id DESC LIMIT 1")[0]
    return str(offset)


def test_signature_offset_is_the_sites_not_the_hosts(workspace: Workspace,
                                                      host_in_new_york: None) -> None:
    assert datetime.now().astimezone().utcoffset() != datetime.now(UTC).utcoffset()
    assert _approve(workspace, "ENC-OXI-100") == "+01:00"  # Casablanca in November
    workspace.ok("config", "set", "timezone", "Asia/Tokyo", user="amina")
    assert _approve(workspace, "PCBA-OXI-100") == "+09:00"
    assert workspace.mes("config", "set", "timezone", "Nowhere/Town", user="amina").code == 5


def test_morocco_is_utc_during_ramadan(workspace: Workspace,
                                       test_clock: conftest.TestClock) -> None:
    workspace.ok("config", "set", "password.max_age_days", "3650", user="amina")
    test_clock.advance(datetime(2027, 2, 20, 10, 0, tzinfo=UTC) - test_clock.current)
    assert _approve(workspace, "ENC-OXI-100") == "+00:00"
    shown = json.loads(workspace.ok("routing", "show", "ENC-OXI-100", "--json").out)
    assert "2027-02-20 10:00" in json.dumps(shown) and "(+00:00)" in json.dumps(shown)
