"""DHR review and release (issue 14): quality signs the record's hash, release regenerates
and compares it, a released DHR is frozen and later changes become new versions; trace
forward --dhr lists the DHRs of the finished lots made from a material lot."""

from __future__ import annotations

import json

from tests.quality.helpers import assert_unchanged, sql


def test_release_needs_a_review_that_still_matches_the_records(built) -> None:
    ws, sc = built
    before = ws.dump()
    r = ws.mes("lot", "release", sc.dev_lot, user="youssef")
    assert r.code == 4 and "mes dhr review" in r.err, r
    assert_unchanged(ws, before)

    rev = json.loads(ws.ok("dhr", "review", sc.dev_lot, "--json", user="youssef").out)
    sig = sql(ws, "SELECT meaning, record_type, record_sha256 FROM signatures "
                  "WHERE record_type = 'dhr' ORDER BY id")
    assert [(m, t) for m, t, _ in sig] == [("reviewed", "dhr")]
    draft = json.loads((ws.path / "lots" / sc.dev_lot / "dhr.json").read_text())
    assert draft["record"]["status"] == "draft" and draft["record"]["sha256"] == rev["dhr_sha256"]

    # The records change after the review (an NCR opened and closed): release is refused.
    ws.ok("ncr", "open", sc.dev_lot, "--description", "scratch", "--units", sc.devices[0],
          user="fatima")
    ws.ok("ncr", "disposition", "NCR-0001", "--action", "use-as-is", "--justification",
          "cosmetic", user="youssef")
    ws.ok("ncr", "close", "NCR-0001", user="youssef")
    before = ws.dump()
    r = ws.mes("lot", "release", sc.dev_lot, user="youssef")
    assert r.code == 4 and "changed since" in r.err and "review it again" in r.err, r
    assert_unchanged(ws, before)

    rev2 = json.loads(ws.ok("dhr", "review", sc.dev_lot, "--json", user="youssef").out)
    assert rev2["dhr_sha256"] != rev["dhr_sha256"]
    rel = json.loads(ws.ok("lot", "release", sc.dev_lot, "--json", user="youssef").out)
    assert rel["dhr_sha256"] == rev2["dhr_sha256"] and rel["dhr_version"] == 1
    frozen = json.loads((ws.path / "lots" / sc.dev_lot / "dhr.json").read_text())
    assert frozen["record"] | {} and frozen["record"]["status"] == "frozen"
    assert frozen["record"]["sha256"] == rev2["dhr_sha256"]  # release does not change it
    assert {s["meaning"] for s in frozen["signatures"]} == {"reviewed", "released"}
    pdf_v1 = (ws.path / "lots" / sc.dev_lot / "dhr.pdf").read_bytes()

    # Frozen: regenerating an unchanged record writes nothing; a change becomes version 2.
    ws.ok("dhr", sc.dev_lot, user="youssef")
    assert (ws.path / "lots" / sc.dev_lot / "dhr.pdf").read_bytes() == pdf_v1
    ws.ok("ship", sc.dev_lot, "--to", "CHU Ibn Rochd", "--ref", "BL-1", user="youssef")
    r = ws.ok("dhr", sc.dev_lot, "--reason", "shipment recorded", user="youssef")
    assert r.out.split()[0].endswith("dhr-v2.pdf")
    assert (ws.path / "lots" / sc.dev_lot / "dhr.pdf").read_bytes() == pdf_v1  # kept
    rows = json.loads(ws.ok("dhr", "versions", sc.dev_lot, "--json", user="youssef").out)
    assert [v["version"] for v in rows] == [1, 2]
    assert rows[1]["changes"]["reason"] == "shipment recorded"
    assert "shipments" in rows[1]["changes"]["sections"]
    events = sql(ws, "SELECT action FROM audit WHERE action LIKE 'dhr.%' ORDER BY seq")
    # (each review of the completed lot first files a draft: `dhr.draft`, issue 13)
    assert [a for (a,) in events if a != "dhr.draft"] == ["dhr.review", "dhr.review",
                                                         "dhr.version", "dhr.version"]


def test_review_refuses_an_unfinished_lot_and_other_roles(built) -> None:
    ws, sc = built
    lot, _ = (json.loads(ws.ok("lot", "create", "ENC-OXI-100", "--qty", 2, "--json",
                               user="fatima").out)["lot"], None)
    before = ws.dump()
    r = ws.mes("dhr", "review", lot, user="youssef")
    assert r.code == 4 and "complete" in r.err, r
    r = ws.mes("dhr", "review", sc.dev_lot, user="fatima")
    assert r.code == 6, r
    after = ws.dump()
    new = [x for x in after if x not in set(before)]
    assert len(new) == 1 and "'auth.denied'" in new[0]  # only the authority refusal


def test_trace_forward_dhr_lists_the_finished_lots_of_a_material(built) -> None:
    ws, sc = built
    rows = json.loads(ws.ok("trace", "forward", sc.shared_reel, "--dhr", "--json",
                            user="youssef").out)
    lots = {r["lot"]: r for r in rows}
    assert sc.dev_lot in lots and sc.pcba["A"][0] in lots and sc.pcba["C"][0] not in lots
    assert lots[sc.dev_lot]["version"] is None  # not written yet
    rows = json.loads(ws.ok("trace", "forward", sc.shared_reel, "--dhr", "--write", "--json",
                            user="youssef").out)
    for r in rows:
        assert r["pdf"].endswith(".pdf") and r["pdf_sha256"] and r["record_sha256"]
    assert ws.mes("trace", "forward", "R-999999", "--dhr", user="youssef").code == 3
