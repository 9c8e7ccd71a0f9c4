"""Lots, units and steps: creation, every interlock, failures, holds, views."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable
from datetime import timedelta

import pytest

from tests.conftest import TestClock as Clock
from tests.conftest import Workspace
from tests.foundation.helpers import (
    PCBA,
    advance,
    assert_only_denied,
    assert_unchanged,
    audit_actions,
    complete_args,
    load_paste,
    new_lot,
    pcba_at,
    receive,
    sql,
)


def lot_json(ws: Workspace, item: str) -> dict:
    return dict(json.loads(ws.ok("lot", "show", item, "--json").out))


# -- creating lots ---------------------------------------------------------------------------

def test_lot_create_prints_lot_and_serials(plant: Workspace) -> None:
    out = plant.ok("lot", "create", PCBA, "--qty", 3, user="fatima").out.splitlines()
    assert re.fullmatch(r"L\d{4}-0001", out[0])
    assert out[1].split() == ["PB-000001", "PB-000002", "PB-000003"]
    lot2, serials2 = new_lot(plant, PCBA, 2)
    assert lot2.endswith("-0002") and serials2 == ["PB-000004", "PB-000005"]
    d = lot_json(plant, out[0])
    assert d["qty"] == 3 and d["status"] == "in_process" and d["routing_version"] == 1
    assert [u["serial"] for u in d["units"]] == out[1].split()
    assert audit_actions(plant)[-1] == "lot.create"


def test_non_serialized_lot(plant: Workspace) -> None:
    lot, serials = new_lot(plant, "ENC-OXI-100", 400)
    assert serials == []
    assert lot_json(plant, lot)["units"] == []


def test_lot_create_refusals(plant: Workspace) -> None:
    before = plant.dump()
    assert plant.mes("lot", "create", PCBA, "--qty", 0, user="fatima").code == 5
    assert plant.mes("lot", "create", PCBA, "--qty", 100_001, user="fatima").code == 5
    assert plant.mes("lot", "create", "NOPE-1", "--qty", 1, user="fatima").code == 3
    assert plant.mes("lot", "create", "PCB-OXI-100", "--qty", 1, user="fatima").code == 4
    assert_unchanged(plant, before)


def test_identifiers_unique_across_kinds(plant: Workspace) -> None:
    lot, [serial, _] = new_lot(plant)
    for taken in (lot, serial):
        before = plant.dump()
        r = plant.mes("material", "receive", "PCB-OXI-100", "--qty", 10, "--id", taken,
                      user="fatima")
        assert r.code == 4, r
        assert "already used" in r.err
        assert_unchanged(plant, before)
    mid = receive(plant, "PCB-OXI-100", 10, "--id", "PB-000099")
    assert mid == "PB-000099"
    # The serial counter skips nothing but the id is taken: creating more lots still works
    # as long as the counter does not reach it; a collision is refused, never overwritten.
    sql(plant, "UPDATE counters SET value = 98 WHERE name = 'serial:PB-'")
    before = plant.dump()
    r = plant.mes("lot", "create", PCBA, "--qty", 1, user="fatima")
    assert r.code == 4 and "already used by a material" in r.err
    assert_unchanged(plant, before)


def test_lot_list_json_csv_and_show(plant: Workspace) -> None:
    lot1, _ = new_lot(plant)
    lot2, _ = new_lot(plant, "ENC-OXI-100", 8)
    rows = json.loads(plant.ok("lot", "list", "--json").out)
    assert [r["lot"] for r in rows] == [lot1, lot2]
    assert json.loads(plant.ok("lot", "list", "--part", "ENC-OXI-100", "--json").out)[0][
        "lot"] == lot2
    table = list(csv.DictReader(io.StringIO(plant.ok("lot", "list", "--csv").out)))
    assert table[0]["lot"] == lot1 and table[0]["part"] == PCBA and table[1]["qty"] == "8"
    human = plant.ok("lot", "show", lot1).out
    assert human.startswith(f"lot {lot1}: {PCBA}") and "units: in_process 2" in human
    assert plant.mes("lot", "show", "L9999-9999").code == 3
    assert plant.mes("lot", "show", "lower case!").code == 3
    plant.ok("lot", "hold", lot1, "--reason", "check", user="youssef")
    held = json.loads(plant.ok("lot", "list", "--status", "hold", "--json").out)
    assert [r["lot"] for r in held] == [lot1]
    r = plant.mes("lot", "list", "--status", "bogus")
    assert r.code == 5 and "in_process" in r.err


# -- steps -----------------------------------------------------------------------------------

def test_step_on_unit_start_and_complete(plant: Workspace) -> None:
    paste = load_paste(plant)
    _lot, [u1, u2] = new_lot(plant)
    r = plant.ok("step", "start", u1, "--op", 10, "--station", "PRN-1", user="fatima")
    assert r.out.startswith("OK started op 10")
    before = plant.dump()
    assert plant.mes("step", "start", u1, "--op", 10, "--station", "PRN-1",
                     user="fatima").code == 4
    # Completing at another station than the one it was started at is refused.
    plant.ok("station", "add", "PRN-2", "--type", "smt-printer", user="tarik")
    before = plant.dump()
    r = plant.mes(*complete_args(plant, u1, 10, station="PRN-2"), user="fatima")
    assert r.code == 4, r
    assert_unchanged(plant, before)
    r = plant.ok(*complete_args(plant, u1, 10), user="fatima")
    assert r.out.startswith("OK op 10 (Solder paste print) passed on " + u1)
    d = lot_json(plant, u1)
    [step] = d["steps"]
    assert step["status"] == "passed" and step["station"] == "PRN-1" and step["user"] == "fatima"
    assert step["data"]["print_speed_mm_s"] == 42.5 and step["data"]["stencil_id"] == "X-1"
    m = json.loads(plant.ok("material", "show", paste, "--json").out)
    assert m["remaining"] == pytest.approx(500 - 0.35)
    assert m["consumed"][0]["into_item"] == u1
    # u2 has not passed op 10: op 20 is refused for it.
    assert plant.mes(*complete_args(plant, u2, 20), user="fatima").code == 4


def test_step_on_serialized_lot_is_a_batch(plant: Workspace) -> None:
    paste = load_paste(plant)
    lot, serials = new_lot(plant, PCBA, 3)
    r = plant.ok("step", "start", lot, "--op", 10, "--station", "PRN-1", user="fatima")
    assert "PB-000001, PB-000002, PB-000003" in r.out
    r = plant.ok(*complete_args(plant, lot, 10), "--json", user="fatima")
    out = json.loads(r.out)
    assert out["status"] == "passed" and out["items"] == serials
    assert out["consumed"] == [{"item": paste, "qty": pytest.approx(1.05), "refdes": None}]
    d = lot_json(plant, lot)
    assert [(s["serial"], s["op"], s["status"]) for s in d["steps"]] == [
        (s, 10, "passed") for s in serials]
    m = json.loads(plant.ok("material", "show", paste, "--json").out)
    assert m["remaining"] == pytest.approx(500 - 3 * 0.35)
    assert [c["qty"] for c in m["consumed"]] == pytest.approx([0.35] * 3)
    advance(plant, lot, 30, from_op=20)
    assert {s["op"] for s in lot_json(plant, lot)["steps"]} == {10, 20}


def test_consumption_from_loaded_reels_and_scans(plant: Workspace) -> None:
    lot, [u1, u2] = pcba_at(plant, 40)
    d = lot_json(plant, u1)
    assert [s["op"] for s in d["steps"]] == [10, 20, 30]
    consumed = lot_json(plant, lot)["consumed"]
    caps = [c for c in consumed if c["op"] == 30 and c["feeder"] == "F2"]
    assert {c["into"] for c in caps} == {u1, u2} and all(c["qty"] == 14 for c in caps)
    reels = {m["part"]: m for m in json.loads(plant.ok("material", "list", "--json").out)}
    assert reels["CAP-100N-0402"]["remaining"] == 1000 - 28
    assert reels["MCU-STM32L432"]["remaining"] == 1000 - 2


def test_unknown_scan_op_and_non_lot_scan(plant: Workspace) -> None:
    paste = load_paste(plant)
    _lot, [u1, _] = new_lot(plant)
    before = plant.dump()
    assert plant.mes(*complete_args(plant, u1, 10)[:2], "PB-999999", "--op", 10, "--station",
                     "PRN-1", user="fatima").code == 3
    r = plant.mes("step", "complete", u1, "--op", 15, "--station", "PRN-1", user="fatima")
    assert r.code == 3 and "10, 20, 30" in r.err
    r = plant.mes("step", "complete", paste, "--op", 10, "--station", "PRN-1", user="fatima")
    assert r.code == 4
    assert_unchanged(plant, before)


def test_flash_op_not_recorded_by_hand(plant: Workspace) -> None:
    _lot, [u1, _] = new_lot(plant)
    sql(plant, "UPDATE units SET status = 'in_process'")
    before = plant.dump()
    r = plant.mes("step", "complete", u1, "--op", 70, "--station", "FLASH-1", "--data",
                  "mcu_uid=X", "--data", "attempts=1", "--result", "pass", user="fatima")
    assert r.code == 4 and "mes flash" in r.err
    assert_unchanged(plant, before)


# -- every interlock: a refusal changes nothing ------------------------------------------------

Setup = Callable[[Workspace, str, list[str]], list[object]]


def _ready(plant: Workspace) -> tuple[str, list[str]]:
    load_paste(plant)
    return new_lot(plant)


REFUSALS: dict[str, tuple[Setup, int, str]] = {
    "wrong op order": (lambda ws, lot, s: complete_args(ws, s[0], 20), 4, "op 10"),
    "op already passed": (
        lambda ws, lot, s: (ws.ok(*complete_args(ws, s[0], 10), user="fatima"),
                            complete_args(ws, s[0], 10))[1], 4, "already passed"),
    "lot on hold": (
        lambda ws, lot, s: (ws.ok("lot", "hold", lot, "--reason", "paste audit",
                                  user="youssef"), complete_args(ws, s[0], 10))[1],
        4, "on hold (paste audit)"),
    "unit on hold": (
        lambda ws, lot, s: (ws.ok("lot", "hold", s[0], "--reason", "dropped", user="youssef"),
                            complete_args(ws, s[0], 10))[1], 4, "on hold (dropped)"),
    "unit on hold in a batch": (
        lambda ws, lot, s: (ws.ok("lot", "hold", s[1], "--reason", "dropped", user="youssef"),
                            complete_args(ws, lot, 10))[1], 4, "on hold"),
    "scrapped unit": (
        lambda ws, lot, s: (sql(ws, "UPDATE units SET status='scrapped' WHERE serial=?",
                                (s[0],)), complete_args(ws, s[0], 10))[1], 4, "scrapped"),
    "completed unit": (
        lambda ws, lot, s: (sql(ws, "UPDATE units SET status='completed' WHERE serial=?",
                                (s[0],)), complete_args(ws, s[0], 10))[1], 4, "completed"),
    "unknown station": (lambda ws, lot, s: complete_args(ws, s[0], 10, station="PRN-9"), 3,
                        "not registered"),
    "inactive station": (
        lambda ws, lot, s: (ws.ok("station", "update", "PRN-1", "--inactive", user="tarik"),
                            complete_args(ws, s[0], 10))[1], 4, "inactive"),
    "wrong station type": (lambda ws, lot, s: complete_args(ws, s[0], 10, station="SPI-1"), 4,
                           "smt-printer station"),
    "calibration expired": (
        lambda ws, lot, s: (sql(ws, "UPDATE stations SET calibration_due = '2020-01-31' "
                                "WHERE id = 'PRN-1'"),  # a past date cannot be typed
                            complete_args(ws, s[0], 10))[1], 4, "calibration expired"),
    "missing data": (
        lambda ws, lot, s: ["step", "complete", s[0], "--op", 10, "--station", "PRN-1",
                            "--data", "print_speed_mm_s=40", "--data", "squeegee_pressure_n=50",
                            "--result", "pass"], 5, "needs stencil_id"),
    "data of wrong type": (lambda ws, lot, s: complete_args(ws, s[0], 10, print_speed_mm_s="fast"),
                           5, "not a number"),
    "unknown data": (lambda ws, lot, s: complete_args(ws, s[0], 10, humidity=40), 5,
                     "does not capture humidity"),
    "malformed data": (lambda ws, lot, s: [*complete_args(ws, s[0], 10), "--data", "novalue"],
                       5, "NAME=VALUE"),
    "missing result": (lambda ws, lot, s: complete_args(ws, s[0], 10)[:-2], 5,
                       "needs a result"),
    "bad result": (lambda ws, lot, s: [*complete_args(ws, s[0], 10)[:-1], "maybe"], 5,
                   "pass or fail"),
    "nothing loaded to consume": (
        lambda ws, lot, s: (sql(ws, "UPDATE station_loads SET unloaded_at = 'x'"),
                            complete_args(ws, s[0], 10))[1], 4, "consumes PASTE-SAC305"),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_interlock_refusal_changes_nothing(plant: Workspace, case: str) -> None:
    setup, code, words = REFUSALS[case]
    lot, serials = _ready(plant)
    args = setup(plant, lot, serials)
    before = plant.dump()
    r = plant.mes(*args, user="fatima")
    assert r.code == code, r
    assert r.err.startswith("mes: ") and words in r.err, r
    assert len(r.err.strip().splitlines()) == 1 and "Traceback" not in r.err
    assert_unchanged(plant, before)
    # start is guarded the same way (where the refusal is about the item or the station)
    if code in (3, 4) and case not in ("nothing loaded to consume",):
        start = ["step", "start", args[2], "--op", args[4], "--station", args[6]]
        assert plant.mes(*start, user="fatima").code == code
        assert_unchanged(plant, before)


def test_quality_may_not_record_steps(plant: Workspace) -> None:
    _lot, [u1, _] = _ready(plant)
    before = plant.dump()
    r = plant.mes(*complete_args(plant, u1, 10), user="youssef")
    assert r.code == 6, r
    assert "operator" in r.err
    assert_only_denied(plant, before)


@pytest.mark.parametrize("until", [None, "2026-11-30"])
def test_qualification_needed(plant: Workspace, until: str | None,
                              test_clock: Clock) -> None:
    plant.ok("user", "add", "omar", "--role", "operator", "--name", "Omar Tazi",
             "--password-stdin", user="amina", stdin="omar-pass-1\n")
    if until:
        plant.ok("user", "qualify", "omar", "smt-printer", "--until", until, user="youssef")
        test_clock.advance(timedelta(days=30))  # the end date passes
    _lot, [u1, _] = _ready(plant)
    before = plant.dump()
    r = plant.mes(*complete_args(plant, u1, 10), user="omar")
    assert r.code == 6, r
    assert ("expired on 2026-11-30" if until else "not qualified") in r.err
    assert_only_denied(plant, before)
    assert plant.mes("step", "start", u1, "--op", 10, "--station", "PRN-1",
                     user="omar").code == 6


def test_out_of_limits_fails_and_holds_the_unit(plant: Workspace) -> None:
    paste = load_paste(plant)
    _lot, [u1, u2] = new_lot(plant)
    r = plant.ok(*complete_args(plant, u1, 10, print_speed_mm_s=75), user="fatima")
    assert r.out.startswith("FAIL op 10") and "print_speed_mm_s=75.0 mm/s above max 60" in r.out
    assert "call quality" in r.out
    d = lot_json(plant, u1)
    assert d["on_hold"] and "op 10 failed" in d["hold_reason"]
    assert d["steps"][-1]["status"] == "failed"
    assert audit_actions(plant)[-3:] == ["step.complete", "hold.auto", "material.consume"]
    # Material used by a failed step is still consumed (it is on the board).
    m = json.loads(plant.ok("material", "show", paste, "--json").out)
    assert m["remaining"] == pytest.approx(500 - 0.35)
    # The held unit takes no step; the other one still can.
    assert plant.mes(*complete_args(plant, u1, 10), user="fatima").code == 4
    plant.ok(*complete_args(plant, u2, 10), user="fatima")
    # Quality takes it off hold (signed); the op can then be repeated as attempt 2.
    plant.ok("lot", "unhold", u1, "--reason", "speed sensor fault, reprint", user="youssef")
    r = plant.ok(*complete_args(plant, u1, 10), user="fatima")
    assert r.out.startswith("OK")
    assert [s["attempt"] for s in lot_json(plant, u1)["steps"]] == [1, 2]


def test_result_fail_holds(plant: Workspace) -> None:
    load_paste(plant)
    _lot, [u1, _] = new_lot(plant)
    args = complete_args(plant, u1, 10)
    r = plant.ok(*args[:-1], "fail", user="fatima")
    assert r.out.startswith("FAIL") and "result fail" in r.out
    assert lot_json(plant, u1)["on_hold"]


def test_below_min_on_a_batch_holds_every_unit(plant: Workspace) -> None:
    load_paste(plant)
    lot, _serials = new_lot(plant, PCBA, 2)
    r = plant.ok(*complete_args(plant, lot, 10, squeegee_pressure_n=10), user="fatima")
    assert r.out.startswith("FAIL") and "below min 40" in r.out
    d = lot_json(plant, lot)
    assert all(u["on_hold"] for u in d["units"])
    assert not d["on_hold"]


# -- hold / unhold ---------------------------------------------------------------------------

def test_hold_and_unhold_are_signed_by_quality(plant: Workspace) -> None:
    lot, [_u1, _] = new_lot(plant)
    before = plant.dump()
    r = plant.mes("lot", "hold", lot, "--reason", "x", user="fatima")
    assert r.code == 6, r
    assert_only_denied(plant, before)
    before = plant.dump()
    assert plant.mes("lot", "hold", lot, "--reason", " ", user="youssef").code == 5
    assert plant.mes("lot", "unhold", lot, "--reason", "x", user="youssef").code == 4
    assert plant.mes("lot", "hold", "L0000-0000", "--reason", "x", user="youssef").code == 3
    assert_unchanged(plant, before)
    r = plant.ok("lot", "hold", lot, "--reason", "supplier alert SA-12", user="youssef")
    assert f"lot {lot} on hold" in r.out
    d = lot_json(plant, lot)
    assert d["on_hold"] and d["hold_reason"] == "supplier alert SA-12"
    assert d["signatures"][-1]["meaning"] == "held"
    assert d["signatures"][-1]["full_name"] == "Youssef Benali"
    assert plant.mes("lot", "hold", lot, "--reason", "again", user="youssef").code == 4
    # wrong password: nothing changes but the failed login
    r = plant.mes("--user", "youssef", "--password-stdin", "lot", "unhold", lot, "--reason",
                  "ok", stdin="bad-password\n")
    assert r.code == 6
    assert lot_json(plant, lot)["on_hold"]
    plant.ok("lot", "unhold", lot, "--reason", "alert closed", user="youssef")
    d = lot_json(plant, lot)
    assert not d["on_hold"] and d["hold_reason"] is None
    assert [s["meaning"] for s in d["signatures"]] == ["held", "unheld"]
    assert "signed: Youssef Benali — unheld" in plant.ok("lot", "show", lot).out
    log = json.loads(plant.ok("audit", "log", "--entity", lot, "--json").out)
    assert [e["action"] for e in log][-4:] == ["lot.hold", "signature", "lot.unhold",
                                               "signature"]
    assert log[-2]["reason"] == "alert closed"


@pytest.mark.parametrize("command", ["complete", "start"])
def test_hold_committed_while_the_step_is_checked_is_seen(
        plant: Workspace, monkeypatch: pytest.MonkeyPatch, command: str) -> None:
    """Another station's hold that commits after the step began checking (here: right
    after the qualification check) must refuse the step: the interlocks read the lot inside
    the write transaction, not before it."""
    import mes.services.steps as steps

    lot, serials = _ready(plant)
    checked = steps.require_qualified

    def hold_meanwhile(*args: object, **kwargs: object) -> None:
        checked(*args, **kwargs)  # type: ignore[arg-type]
        sql(plant, "UPDATE lots SET on_hold = 1, hold_reason = 'held meanwhile' WHERE id = ?",
            (lot,))

    monkeypatch.setattr(steps, "require_qualified", hold_meanwhile)
    args = complete_args(plant, serials[0], 10)
    if command == "start":
        args = ["step", "start", serials[0], "--op", 10, "--station", "PRN-1"]
    r = plant.mes(*args, user="fatima")
    assert r.code == 4 and "on hold (held meanwhile)" in r.err, r
    assert sql(plant, "SELECT count(*) FROM steps WHERE serial = ?", (serials[0],)) == [(0,)]
