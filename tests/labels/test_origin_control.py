"""The origin decision is controlled (issue 13, item 9): quality decides, signed; each
label print pins the decision it relied on; the DHR shows that decision; a later decision
that contradicts a printed claim opens an alert and holds the unshipped stock."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from tests import conftest
from tests.conftest import Workspace, assert_unchanged, sql
from tests.labels.test_label_print import build_device, labels_rows
from tests.labels.test_label_print import shop as shop  # the fixture


def test_only_quality_decides_and_signs(shop: Workspace) -> None:
    lot, _ = build_device(shop, board_cost=20, decide=False)
    before = shop.dump()
    r = shop.mes("origin", lot, user="fatima")
    assert r.code == 6 and "quality" in r.err, r
    new = conftest.changed_rows(before, shop.dump())[1]
    assert len(new) == 1 and "'auth.denied'" in new[0]
    d = json.loads(shop.ok("origin", lot, "--json", user="youssef").out)
    assert d["signature"]["meaning"] == "decided"
    assert d["signature"]["full_name"] == "Youssef Benali"
    assert sql(shop, "SELECT record_type, record_id FROM signatures ORDER BY id DESC "
                     "LIMIT 1") == [("origin_decision", str(d["id"]))]


def test_no_claim_without_a_decision(shop: Workspace) -> None:
    lot, _ = build_device(shop, board_cost=20, decide=False)
    before = shop.dump()
    r = shop.mes("label", "print", lot, user="fatima")
    assert r.code == 4 and "no origin decision" in r.err and f"mes origin {lot}" in r.err, r
    assert_unchanged(shop, before)


def test_print_pins_the_decision_and_the_dhr_shows_it(shop: Workspace) -> None:
    lot, _ = build_device(shop, board_cost=20, decide=False)
    first = json.loads(shop.ok("origin", lot, "--json", user="youssef").out)
    shop.ok("label", "print", lot, user="fatima")
    assert {r["origin_decision"] for r in labels_rows(shop)} == {first["id"]}
    later = json.loads(shop.ok("origin", lot, "--json", user="youssef").out)
    assert later["id"] != first["id"] and later["positive"]
    dhr = json.loads(shop.ok("dhr", lot, "--json", user="youssef").out)
    assert dhr["origin"]["id"] == first["id"] and dhr["origin"]["pinned"] is True
    assert dhr["origin"]["later_decisions"] == [later["id"]]
    assert dhr["origin"]["signatures"][0]["meaning"] == "decided"
    assert {lab["origin_decision"] for lab in dhr["labels"]} == {first["id"]}
    assert dhr["site"]["timezone"] == "Africa/Casablanca"


def test_a_decision_the_records_no_longer_support_is_not_printed(shop: Workspace) -> None:
    lot, _ = build_device(shop, board_cost=20)
    shop.ok("config", "set", "origin.threshold_pct", "70", user="amina")
    before = shop.dump()
    r = shop.mes("label", "print", lot, user="fatima")
    assert r.code == 4 and "decide again" in r.err, r
    assert_unchanged(shop, before)


def test_contradicting_decision_alerts_and_holds(shop: Workspace) -> None:
    lot, _ = build_device(shop, board_cost=20)
    shop.ok("label", "print", lot, user="fatima")
    shop.ok("config", "set", "origin.threshold_pct", "70", user="amina")
    r = shop.ok("origin", lot, user="youssef")
    assert "ALERT" in r.out and "lot put on hold" in r.out, r
    (on_hold, reason), = sql(shop, "SELECT on_hold, hold_reason FROM lots WHERE id = ?", (lot,))
    assert on_hold == 1 and "claim the origin" in reason
    alerts = json.loads(shop.ok("audit", "alerts", "--json", user="youssef").out)
    assert [(a["kind"], a["subject"], a["open"]) for a in alerts] == [("origin", lot, True)]
    # the hold is quality's to lift, like any other; the trail still reconciles
    assert shop.mes("label", "print", lot, "--no-origin-claim", "--reprint", "--reason",
                    "relabel without claim", user="fatima").code == 4
    shop.ok("audit", "verify", "--reconcile", user="youssef")
    shop.ok("lot", "unhold", lot, "--reason", "claim withdrawn, relabelled", user="youssef")
    assert json.loads(shop.ok("audit", "alerts", "--open", "--json", user="youssef").out) == []


def test_negative_decision_without_printed_claim_is_no_alert(shop: Workspace) -> None:
    lot, _ = build_device(shop, board_cost=100)  # negative from the start
    shop.ok("label", "print", lot, "--no-origin-claim", user="fatima")
    shop.ok("origin", lot, user="youssef")
    assert json.loads(shop.ok("audit", "alerts", "--json", user="youssef").out) == []
    assert sql(shop, "SELECT on_hold FROM lots WHERE id = ?", (lot,)) == [(0,)]


def test_production_date_is_the_plants_day(shop: Workspace,
                                           test_clock: conftest.TestClock) -> None:
    # 23:30 UTC on 2026-11-10 is already 00:30 on the 11th in Casablanca (UTC+1)
    test_clock.advance(datetime(2026, 11, 10, 23, 30, tzinfo=UTC) - test_clock.current)
    lot, _ = build_device(shop, board_cost=20)
    shop.ok("label", "print", lot, user="fatima")
    assert all("(11)261111" in r["element_string"] for r in labels_rows(shop))
