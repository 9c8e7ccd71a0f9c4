"""A recall is a record (issue 12): `mes recall list|show|close`, the items it held named,
closing it signed by quality with a reason."""

from __future__ import annotations

import json

from tests.quality.helpers import assert_unchanged, sql


def test_a_recall_with_hold_is_recorded_listed_shown_and_closed_signed(built) -> None:
    ws, sc = built
    r = ws.ok("recall", sc.shared_reel, "--reason", "supplier notice 2026-117", "--hold",
              user="youssef")
    assert "recorded as RC-000001" in r.err, r.err
    held = {s for (s,) in sql(ws, "SELECT serial FROM units WHERE on_hold = 1")}
    listed = json.loads(ws.ok("recall", "list", "--json").out)
    assert [(x["id"], x["status"], x["start_item"]) for x in listed] == [
        ("RC-000001", "open", sc.shared_reel)]
    assert held | {sc.shared_reel} == set(listed[0]["held"])
    out = ws.ok("recall", "show", "RC-000001").out
    assert out.startswith(f"recall RC-000001 of {sc.shared_reel}: open — supplier notice")
    assert all(item in out for item in held), out
    assert "signed: Youssef Benali — held" in out
    table = ws.ok("recall", "list").out
    assert "RC-000001" in table and "…" not in table

    before = ws.dump()
    r = ws.mes("recall", "close", "RC-000001", "--reason", "done", user="fatima")
    assert r.code == 6 and "may not open or close recalls" in r.err, r
    r = ws.mes("recall", "close", "RC-000001", user="youssef")
    assert r.code == 5 and "--reason" in r.err, r
    r = ws.mes("recall", "show", "RC-000009")
    assert r.code == 3 and "mes recall list" in r.err, r
    gone = [x for x in before if x not in ws.dump()]
    assert gone == []
    r = ws.ok("recall", "close", "RC-000001", "--reason", "all units reworked (NCR-0001)",
              user="youssef")
    assert "closed" in r.out and "signed: Youssef Benali — closed" in r.out, r.out
    before = ws.dump()
    r = ws.mes("recall", "close", "RC-000001", "--reason", "again", user="youssef")
    assert r.code == 4 and "already closed" in r.err, r
    assert_unchanged(ws, before)
    assert "records match" in ws.ok("audit", "verify", "--reconcile").out


def test_a_scope_only_recall_records_nothing(built) -> None:
    ws, sc = built
    before = ws.dump()
    ws.ok("recall", sc.shared_reel, "--reason", "what if", user="youssef")
    assert json.loads(ws.ok("recall", "list", "--json").out) == []
    assert_unchanged(ws, before)
