"""Segregation of duties (issue 13, item 7): the approver of a routing is not its author
(plant setting `segregation_of_duties`, on by default); the refusal is audited."""

from __future__ import annotations

from tests.conftest import ROUTINGS, Workspace, sql
from tests.foundation.helpers import assert_only_denied

ENC = "ENC-OXI-100"


def load_as(ws: Workspace, who: str) -> None:
    ws.ok("routing", "load", *sorted(ROUTINGS.glob("*.yaml")), user=who)


def test_author_may_not_approve_own_routing(workspace: Workspace) -> None:
    load_as(workspace, "youssef")  # quality may load routings…
    before = workspace.dump()
    r = workspace.mes("routing", "approve", ENC, "--version", 1, user="youssef")
    assert r.code == 6 and "segregation of duties" in r.err and "another" in r.err, r
    assert_only_denied(workspace, before)  # …but not approve what it loaded
    (reason,) = sql(workspace, "SELECT reason FROM audit ORDER BY seq DESC LIMIT 1")[0]
    assert reason == f"segregation of duties: youssef authored routing {ENC} v1"


def test_another_author_is_fine(workspace: Workspace) -> None:
    load_as(workspace, "tarik")
    workspace.ok("routing", "approve", ENC, "--version", 1, user="youssef")


def test_the_plant_may_turn_it_off(workspace: Workspace) -> None:
    r = workspace.mes("config", "set", "segregation_of_duties", "maybe", user="amina")
    assert r.code == 5 and "on or off" in r.err
    workspace.ok("config", "set", "segregation_of_duties", "off", user="amina")
    load_as(workspace, "youssef")
    workspace.ok("routing", "approve", ENC, "--version", 1, user="youssef")
