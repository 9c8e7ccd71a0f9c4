"""Calibration as a signed record; a failure blocks the station and scopes its output."""

from __future__ import annotations

import json

from tests.conftest import Workspace, assert_unchanged, sql
from tests.foundation.helpers import complete_args, load_paste, new_lot


def calibrate(ws: Workspace, cert: str, result: str, *extra: object, user: str = "tarik"):
    return ws.mes("station", "calibrate", "PRN-1", "--certificate", cert, "--result", result,
                  *extra, user=user)


def print_lot(ws: Workspace, qty: int = 2) -> tuple[str, list[str]]:
    lot, serials = new_lot(ws, qty=qty)
    ws.ok(*complete_args(ws, lot, 10), user="fatima")
    return lot, serials


def test_passing_calibration_is_signed_and_sets_the_due_date(plant: Workspace) -> None:
    r = calibrate(plant, "CAL-2611-07", "pass", "--due", "2027-05-31")
    assert r.code == 0, r
    assert "passed, due 2027-05-31 (signed by Tarik Ouazzani)" in r.out
    assert sql(plant, "SELECT calibration_due FROM stations WHERE id = 'PRN-1'") == \
        [("2027-05-31",)]
    (cal_id, sig), = sql(plant, "SELECT id, signature_id FROM calibrations")
    assert sql(plant, "SELECT username, meaning, record_type, record_id FROM signatures "
               "WHERE id = ?", (sig,)) == [("tarik", "authored", "calibration", str(cal_id))]
    actions = [a for (a,) in sql(plant, "SELECT action FROM audit WHERE entity_id = 'PRN-1' "
                                 "ORDER BY seq")]
    assert actions[-2:] == ["station.calibrate", "station.update"]


def test_bad_calibrations_are_refused_and_change_nothing(plant: Workspace) -> None:
    before = plant.dump()
    for extra, result, code, words in [
        (["--due", "2026-10-01"], "pass", 5, "is in the past"),
        ([], "pass", 5, "needs --due"),
        (["--due", "2027-05-31"], "maybe", 5, "use pass or fail"),
    ]:
        r = calibrate(plant, "CAL-1", result, *extra)
        assert r.code == code and r.err.startswith("mes:") and words in r.err, r
        assert_unchanged(plant, before)
    r = plant.mes("station", "calibrate", "NOPE-9", "--certificate", "C", "--result", "pass",
                  "--due", "2027-01-01", user="tarik")
    assert r.code == 3 and "not registered" in r.err
    assert_unchanged(plant, before)


def test_an_operator_may_not_calibrate(plant: Workspace) -> None:
    before = plant.dump()
    r = calibrate(plant, "CAL-1", "pass", "--due", "2027-05-31", user="fatima")
    assert r.code == 6 and "may not record calibrations" in r.err
    assert sql(plant, "SELECT count(*) FROM calibrations") == [(0,)]
    new = [line for line in plant.dump() if line not in before]
    assert len(new) == 1 and "auth.denied" in new[0]


def test_a_failed_calibration_blocks_the_station(plant: Workspace) -> None:
    load_paste(plant)
    lot, _ = new_lot(plant)
    assert calibrate(plant, "CAL-OOT", "fail").code == 0
    before = plant.dump()
    r = plant.mes(*complete_args(plant, lot, 10), user="fatima")
    assert r.code == 4 and "failed calibration CAL-OOT" in r.err and "recalibrate" in r.err
    assert_unchanged(plant, before)
    assert calibrate(plant, "CAL-OK", "pass", "--due", "2027-05-31").code == 0
    plant.ok(*complete_args(plant, lot, 10), user="fatima")


def test_impact_is_what_was_made_since_the_last_passing_calibration(plant: Workspace
                                                                     ) -> None:
    load_paste(plant)
    old_lot, _ = print_lot(plant)
    assert calibrate(plant, "CAL-A", "pass", "--due", "2027-05-31").code == 0
    lot, serials = print_lot(plant)
    assert calibrate(plant, "CAL-B", "fail").code == 0
    d = json.loads(plant.ok("station", "impact", "PRN-1", "--json").out)
    assert d["window"]["since_certificate"] == "CAL-A"
    assert d["window"]["failed_certificate"] == "CAL-B"
    assert [x["lot"] for x in d["lots"]] == [lot] and old_lot not in json.dumps(d)
    assert sorted(u["serial"] for u in d["units"]) == sorted(serials)
    assert d["counts"] == {"lots": 1, "units": 2, "steps": 2}


def test_the_impact_is_held_in_one_signed_command(plant: Workspace) -> None:
    load_paste(plant)
    assert calibrate(plant, "CAL-A", "pass", "--due", "2027-05-31").code == 0
    _lot, serials = print_lot(plant)
    assert calibrate(plant, "CAL-B", "fail").code == 0
    before = plant.dump()
    r = plant.mes("station", "impact", "PRN-1", "--hold", "--reason", "x", user="fatima")
    assert r.code == 6
    new = [line for line in plant.dump() if line not in before]
    assert len(new) == 1 and "auth.denied" in new[0]
    before = plant.dump()
    r = plant.mes("station", "impact", "PRN-1", "--hold", "--reason", " ", user="youssef")
    assert r.code == 5 and "--reason" in r.err
    assert_unchanged(plant, before)
    d = json.loads(plant.ok("station", "impact", "PRN-1", "--hold", "--reason",
                            "printer pressure sensor out of tolerance", "--json",
                            user="youssef").out)
    assert sorted(d["held"]) == sorted(serials)
    assert sql(plant, "SELECT count(*) FROM units WHERE on_hold = 1 AND hold_reason LIKE "
               "'station PRN-1 calibration impact:%'") == [(2,)]
    assert sql(plant, "SELECT username, meaning FROM signatures WHERE record_type = "
               "'station-impact' AND record_id = 'PRN-1'") == [("youssef", "held")]


def test_calibration_records_are_in_the_dhr(plant: Workspace) -> None:
    load_paste(plant)
    assert calibrate(plant, "CAL-A", "pass", "--due", "2027-05-31").code == 0
    lot, _ = print_lot(plant)
    assert calibrate(plant, "CAL-B", "fail").code == 0
    d = json.loads(plant.ok("dhr", lot, "--json", user="youssef").out)
    rows = [(r["station"], r["certificate"], r["result"], r["when"]) for r in d["calibration"]]
    assert rows == [("PRN-1", "CAL-A", "pass", "in force at first use"),
                    ("PRN-1", "CAL-B", "fail", "after last use")]
    assert all(r["failed_after_use"] for r in d["calibration"])
    assert d["calibration"][0]["by"] == "Tarik Ouazzani"
