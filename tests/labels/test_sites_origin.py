"""Sites in one database (issue 20): the origin decision uses the site where each
origin-conferring step was done. The same product, its enclosure moulded at the home site
(MA): assembled at a second Moroccan site it is local, assembled at a British site it is
not, and the labels follow the decision. Reports, traces and the DHR by site; signatures
in the time zone of the site where they were given; roles limited to sites."""

from __future__ import annotations

import json

import pytest

from tests.conftest import Workspace, sql
from tests.labels.test_label_print import labels_rows, receive
from tests.labels.test_label_print import shop as shop  # the fixture

MA2 = ["site", "add", "MA-2", "--name", "Usine Tanger", "--company", "OxiBoards SARL",
       "--address", "Tanger Automotive City", "--country", "MA", "--gln", "6111234000026"]
ABROAD = ["site", "add", "GB-1", "--name", "Leeds works", "--company", "OxiUK Ltd",
          "--address", "Leeds", "--country", "GB"]


def two_sites(ws: Workspace) -> None:
    ws.ok(*MA2, user="amina")
    ws.ok(*ABROAD, user="amina")
    ws.ok("station", "add", "ASM-2", "--type", "assembly", "--site", "MA-2",
          "--calibration-due", "2099-12-31", user="tarik")
    ws.ok("station", "add", "ASM-GB", "--type", "assembly", "--site", "GB-1",
          "--calibration-due", "2099-12-31", user="tarik")


def device_assembled_at(ws: Workspace, station: str) -> str:
    """A DEV-T lot of two: enclosure moulded at IMM-1 (home site, MA), assembled at
    `station`, tested at FT-1, origin decided by quality."""
    resin = receive(ws, "RESIN-T", 10, "DE", 50)
    board = receive(ws, "BOARD-T", 10, "CN", 20)
    screw = receive(ws, "SCREW-T", 100, "CN", 1)
    enc = ws.ok("lot", "create", "ENC-T", "--qty", 2, user="fatima").out.split()[0]
    ws.ok("step", "complete", enc, "--op", 10, "--station", "IMM-1", "--consume", resin,
          user="fatima")
    lot = ws.ok("lot", "create", "DEV-T", "--qty", 2, user="fatima").out.split()[0]
    ws.ok("step", "complete", lot, "--op", 10, "--station", station, "--consume", enc,
          "--consume", board, "--consume", screw, user="fatima")
    ws.ok("step", "complete", lot, "--op", 20, "--station", "FT-1", "--result", "pass",
          user="fatima")
    ws.ok("origin", lot, user="youssef")
    return lot


def test_assembled_at_another_moroccan_site_is_local_abroad_is_not(shop: Workspace) -> None:
    two_sites(shop)
    local = device_assembled_at(shop, "ASM-2")
    abroad = device_assembled_at(shop, "ASM-GB")
    # each step records its station's site
    assert sql(shop, "SELECT DISTINCT site_id FROM steps WHERE lot_id = ? AND op = 10",
               (local,)) == [("MA-2",)]
    assert sql(shop, "SELECT DISTINCT site_id FROM steps WHERE lot_id = ? AND op = 10",
               (abroad,)) == [("GB-1",)]
    ok = json.loads(shop.ok("origin", local, "--json", user="youssef").out)
    no = json.loads(shop.ok("origin", abroad, "--json", user="youssef").out)
    assert ok["positive"] is True, ok
    assert no["positive"] is False
    assert any("GB" in r and "Final assembly" in r for r in no["reasons"]), no
    conferring = {(c["part"], c["op"]): c["site_country"]
                  for c in ok["conferring_ops"]}
    assert conferring == {("DEV-T", 10): "MA", ("ENC-T", 10): "MA"}
    # labels follow: the local lot claims the origin, the other cannot
    shop.ok("label", "print", local, user="fatima")
    assert shop.mes("label", "print", abroad, user="fatima").code == 4
    shop.ok("label", "print", abroad, "--no-origin-claim", user="fatima")
    by_lot = {r["lot_id"]: r for r in labels_rows(shop)}
    assert by_lot[local]["origin_decision"] is not None
    assert by_lot[abroad]["origin_decision"] is None
    assert {r["site_id"] for r in labels_rows(shop)} == {"SITE-1"}
    shop.ok("audit", "verify", "--reconcile", user="youssef")


def test_site_add_list_show_and_bad_input(shop: Workspace) -> None:
    shop.ok(*MA2, user="amina")
    r = shop.ok(*ABROAD, user="amina")
    assert "Europe/London" in r.out  # the zone defaults from the country
    sites = {s["id"]: s for s in json.loads(shop.ok("site", "list", "--json").out)}
    assert set(sites) == {"SITE-1", "MA-2", "GB-1"}
    assert sites["SITE-1"]["home"] is True and sites["MA-2"]["home"] is False
    assert sites["MA-2"]["gln"] == "6111234000026"
    assert sites["MA-2"]["timezone"] == "Africa/Casablanca"
    assert sites["MA-2"]["company"] == "OxiBoards SARL"
    shop.ok("station", "add", "ASM-2", "--type", "assembly", "--site", "MA-2", user="tarik")
    show = json.loads(shop.ok("site", "show", "MA-2", "--json").out)
    assert show["stations"] == ["ASM-2"]
    base = ["site", "add", "X-1", "--name", "X", "--company", "C", "--address", "A"]
    for argv, code, words in (
            ([*base, "--country", "MA", "--gln", "6111234000027"], 5, "check digit"),
            ([*base, "--country", "MA", "--gln", "61112340"], 5, "13 digits"),
            ([*base, "--country", "MAR"], 5, "ISO 3166"),
            ([*base, "--country", "MA", "--timezone", "Mars/Olympus"], 5, "time zone"),
            ([*base, "--country", "US"], 5, "--timezone"),
            ([*base, "--country", "MA", "--gln", "6111234000026"], 4, "another site"),
            (MA2, 4, "already exists")):
        before = shop.dump()
        r = shop.mes(*argv, user="amina")
        assert r.code == code and words in r.err and r.err.startswith("mes: "), (argv, r)
        assert "Traceback" not in r.err
        assert shop.dump() == before
    assert shop.mes("site", "show", "NOPE").code == 3
    # admin only: anyone else is refused with one auth.denied event
    before = shop.dump()
    r = shop.mes(*base, "--country", "MA", user="youssef")
    assert r.code == 6, r
    new = [x for x in shop.dump() if x not in set(before)]
    assert len(new) == 1 and "'auth.denied'" in new[0]


def test_reports_traces_and_dhr_by_site(shop: Workspace) -> None:
    two_sites(shop)
    local = device_assembled_at(shop, "ASM-2")
    abroad = device_assembled_at(shop, "ASM-GB")
    eff = json.loads(shop.ok("report", "efficiency", "--site", "GB-1", "--json").out)
    assert eff["site"] == "GB-1"
    assert [(o["part"], o["op"], o["steps"]) for o in eff["operations"]] == [("DEV-T", 10, 2)]
    assert [s["station"] for s in eff["stations"]] == ["ASM-GB"]
    home = json.loads(shop.ok("report", "yield", "--site", "SITE-1", "--json").out)
    assert {(r["part"], r["op"]) for r in home} == {("DEV-T", 20), ("ENC-T", 10)}
    assert shop.mes("report", "yield", "--site", "NOPE").code == 3
    back = json.loads(shop.ok("trace", "back", abroad, "--site", "GB-1", "--json").out)
    assert back["edges"] and {e["site"] for e in back["edges"]} == {"GB-1"}
    assert {e["station"] for e in back["edges"]} == {"ASM-GB"}
    full = json.loads(shop.ok("trace", "back", abroad, "--json").out)
    assert {e["site"] for e in full["edges"]} == {"GB-1", "SITE-1"}
    resin = next(e["child"] for e in full["edges"] if e["part"] == "RESIN-T")
    fwd = json.loads(shop.ok("trace", "forward", resin, "--json").out)
    assert {(x["lot"], x["site"]) for x in fwd["items"] if x["kind"] == "lot"} >= {
        (abroad, "SITE-1")}
    gb_lot = shop.ok("lot", "create", "DEV-T", "--qty", 1, "--site", "GB-1",
                     user="fatima").out.split()[0]
    assert json.loads(shop.ok("trace", "forward", resin, "--site", "GB-1", "--json").out
                      )["items"] == []
    dhr = json.loads(shop.ok("dhr", local, "--json", user="youssef").out)
    assert [(s["id"], s["country"], s["steps"]) for s in dhr["site"]["steps_at"]] == [
        ("MA-2", "MA", 2), ("SITE-1", "MA", 2)]
    assert {s["site"] for s in dhr["steps"] if s["op"] == 10} == {"MA-2"}
    assert gb_lot


def test_signatures_use_the_time_zone_of_their_site(shop: Workspace) -> None:
    two_sites(shop)
    home = shop.ok("lot", "create", "DEV-T", "--qty", 1, user="fatima").out.split()[0]
    away = shop.ok("lot", "create", "DEV-T", "--qty", 1, "--site", "GB-1",
                   user="fatima").out.split()[0]
    for lot in (home, away):
        shop.ok("lot", "hold", lot, "--reason", "check", user="youssef")
    rows = dict((r[0], r[1:]) for r in sql(
        shop, "SELECT record_id, site_id, utc_offset FROM signatures WHERE record_id IN "
              "(?, ?)", (home, away)))
    assert rows == {home: ("SITE-1", "+01:00"), away: ("GB-1", "+00:00")}


def test_roles_limited_to_sites(shop: Workspace) -> None:
    two_sites(shop)
    shop.ok("user", "add", "nadia", "--role", "quality", "--name", "Nadia Tazi",
            "--sites", "MA-2", "--password-stdin", user="amina", stdin="nadia-pass-1\n")
    home = shop.ok("lot", "create", "DEV-T", "--qty", 1, user="fatima").out.split()[0]
    ma2 = shop.ok("lot", "create", "DEV-T", "--qty", 1, "--site", "MA-2",
                  user="fatima").out.split()[0]

    def nadia(*argv: object) -> object:
        return shop.mes("--user", "nadia", "--password-stdin", *argv, stdin="nadia-pass-1\n")

    # another company's lot: refused before its state, exactly one auth.denied event
    for argv in (("lot", "hold", home, "--reason", "check"),
                 ("lot", "cancel", home, "--reason", "x"),
                 ("lot", "release", home), ("origin", home), ("dhr", "review", home)):
        before = shop.dump()
        r = nadia(*argv)
        assert r.code == 6 and "site MA-2 only" in r.err and "SITE-1" in r.err, (argv, r)
        new = [x for x in shop.dump() if x not in set(before)]
        assert len(new) == 1 and "'auth.denied'" in new[0], (argv, new)
    # a lot that does not exist: the site check cannot apply; the state rule answers
    assert nadia("lot", "release", "L9999-9999").code == 3
    r = nadia("lot", "hold", ma2, "--reason", "check")
    assert r.code == 0, r
    # an operator limited to MA-2 records steps at MA-2's stations only, and makes MA-2 lots
    shop.ok("user", "set", "fatima", "--sites", "MA-2", user="amina")
    made = json.loads(shop.ok("lot", "create", "DEV-T", "--qty", 1, "--json",
                              user="fatima").out)["lot"]
    assert sql(shop, "SELECT site_id FROM lots WHERE id = ?", (made,)) == [("MA-2",)]
    before = shop.dump()
    r = shop.mes("lot", "create", "DEV-T", "--qty", 1, "--site", "SITE-1", user="fatima")
    assert r.code == 6 and "site MA-2 only" in r.err, r
    assert len([x for x in shop.dump() if x not in set(before)]) == 1
    before = shop.dump()
    r = shop.mes("step", "complete", home, "--op", 10, "--station", "ASM-1", user="fatima")
    assert r.code == 6 and "site" in r.err, r
    new = [x for x in shop.dump() if x not in set(before)]
    assert len(new) == 1 and "'auth.denied'" in new[0], new
    users = {u["username"]: u for u in json.loads(shop.ok("user", "list", "--json").out)}
    assert users["fatima"]["sites"] == "MA-2" and users["youssef"]["sites"] == "all"
    shop.ok("user", "set", "fatima", "--sites", "all", user="amina")
    assert shop.mes("user", "set", "fatima", "--sites", "all", user="amina").code == 4
    assert shop.mes("user", "set", "fatima", "--sites", "NOPE", user="amina").code == 3
    assert shop.mes("user", "set", "fatima", "--sites", "MA-2", user="youssef").code == 6
    shop.ok("audit", "verify", "--reconcile", user="youssef")


@pytest.mark.parametrize("workspace", ["postgres"], indirect=True)
def test_two_sites_on_the_plant_server(shop: Workspace) -> None:
    """The same decisions with both sites in one PostgreSQL database."""
    two_sites(shop)
    local = device_assembled_at(shop, "ASM-2")
    abroad = device_assembled_at(shop, "ASM-GB")
    assert json.loads(shop.ok("origin", local, "--json", user="youssef").out)["positive"]
    assert not json.loads(shop.ok("origin", abroad, "--json", user="youssef").out)["positive"]
    back = json.loads(shop.ok("trace", "back", abroad, "--site", "GB-1", "--json").out)
    assert {e["station"] for e in back["edges"]} == {"ASM-GB"}
    eff = json.loads(shop.ok("report", "efficiency", "--site", "MA-2", "--json").out)
    assert [s["station"] for s in eff["stations"]] == ["ASM-2"]
    shop.ok("user", "set", "youssef", "--sites", "MA-2", user="amina")
    r = shop.mes("lot", "hold", abroad, "--reason", "check", user="youssef")
    assert r.code == 6 and "site MA-2 only" in r.err, r
    shop.ok("user", "set", "youssef", "--sites", "all", user="amina")
    shop.ok("audit", "verify", "--reconcile", user="youssef")
