"""The station loop refuses a line at once when COMPLETE would refuse it (issue 12).

An op the unit may not do yet, a data name the op does not capture, a value of the wrong
type: answered REFUSED with the reason at the line, the loop's state unchanged. Starting
the loop as a user without the role or qualification, or at a station past calibration,
fails at once with the reason.
"""

from __future__ import annotations

from tests.conftest import PASSWORDS, Workspace, sql
from tests.foundation.helpers import (
    PCBA,
    assert_only_denied,
    assert_unchanged,
    complete_args,
    new_lot,
    receive,
)


def answers(out: str) -> list[str]:
    return [line for line in out.splitlines() if not line.startswith("  ")]


def run(ws: Workspace, station: str, lines: list[str], user: str = "fatima") -> list[str]:
    r = ws.mes("station", "run", station, user=user, stdin="\n".join(lines) + "\n")
    assert r.code == 0, r
    return answers(r.out)


def test_an_op_not_allowed_yet_is_refused_at_the_scan(plant: Workspace) -> None:
    ws = plant
    _lot, (sn, _o) = new_lot(ws, PCBA, 2)
    before = ws.dump()
    a = run(ws, "SPI-1", [sn, "OP:10", sn])
    assert a[0].startswith(f"REFUSED (refused): {sn}: op 10 (Solder paste print) has not "
                           "passed yet: do op 10 before op 20"), a
    assert a[1] == "OK op 10"
    assert a[2].startswith("REFUSED (refused): op 10 (Solder paste print) runs on a "
                           "smt-printer station, SPI-1 is a spi"), a
    assert_unchanged(ws, before)


def test_an_op_already_passed_is_refused_at_the_scan(plant: Workspace) -> None:
    ws = plant
    paste = receive(ws, "PASTE-SAC305", 100)
    ws.ok("station", "load", "PRN-1", paste, "--slot", "P1", user="fatima")
    _lot, (sn, _o) = new_lot(ws, PCBA, 2)
    ws.ok(*complete_args(ws, sn, 10), user="fatima")
    a = run(ws, "PRN-1", ["OP:10", sn, "STATUS"])
    assert a[0] == "OK op 10", a
    assert a[1].startswith(f"REFUSED (refused): {sn}: op 10 (Solder paste print) has "
                           "already passed"), a
    assert "item -" in a[2], a  # the refused scan left the state as it was


def test_data_is_checked_at_the_line(plant: Workspace) -> None:
    ws = plant
    _lot, (sn, _o) = new_lot(ws, PCBA, 2)
    before = ws.dump()
    a = run(ws, "PRN-1", ["DATA:humidity=40", sn, "DATA:humidity=40",
                          "DATA:print_speed_mm_s=fast", "DATA:print_speed_mm_s=40", "STATUS"])
    assert a[0].startswith("OK humidity=40"), a  # no item yet: nothing to check against
    assert a[1].startswith(f"OK {sn}"), a  # a new item: the earlier queue is dropped
    assert a[2] == ("REFUSED (invalid-input): op 10 (Solder paste print) does not capture "
                    "humidity: it captures stencil_id, print_speed_mm_s, "
                    "squeegee_pressure_n"), a
    assert a[3] == ("REFUSED (invalid-input): print_speed_mm_s='fast' is not a number: "
                    "enter a number, e.g. print_speed_mm_s=243.5"), a
    assert a[4].startswith("OK print_speed_mm_s=40; op 10 still needs stencil_id"), a
    assert "data print_speed_mm_s=40;" in a[5] and "humidity" not in a[5], a
    assert_unchanged(ws, before)


def test_a_missing_data_refusal_names_every_missing_field(plant: Workspace) -> None:
    ws = plant
    paste = receive(ws, "PASTE-SAC305", 100)
    ws.ok("station", "load", "PRN-1", paste, "--slot", "P1", user="fatima")
    _lot, (sn, _o) = new_lot(ws, PCBA, 2)
    before = ws.dump()
    r = ws.mes("step", "complete", sn, "--op", 10, "--station", "PRN-1", user="fatima")
    assert r.code == 5, r
    assert "needs stencil_id, print_speed_mm_s in mm/s, squeegee_pressure_n in N, a result" \
        in r.err, r.err
    assert "--data stencil_id=VALUE --data print_speed_mm_s=VALUE" in r.err
    assert_unchanged(ws, before)
    a = run(ws, "PRN-1", [sn, "DATA:stencil_id=ST-7", "COMPLETE"])
    assert a[2].startswith("REFUSED (invalid-input): op 10 (Solder paste print) needs "
                           "print_speed_mm_s in mm/s, squeegee_pressure_n in N, a result: "
                           "scan DATA:print_speed_mm_s=VALUE DATA:squeegee_pressure_n=VALUE "
                           "RESULT:PASS or RESULT:FAIL"), a


def test_starting_without_role_or_qualification_says_so_at_once(plant: Workspace) -> None:
    ws = plant
    before = ws.dump()
    r = ws.mes("station", "run", "PRN-1", user="youssef", stdin="STATUS\n")
    assert r.code == 6 and r.out == "", r
    assert "youssef (quality) may not step.record" not in r.err  # proof-read wording
    assert "may not record steps" in r.err, r.err
    assert_only_denied(ws, before)
    ws.ok("user", "add", "salma", "--role", "operator", "--name", "Salma Idrissi",
          "--password-stdin", user="amina", stdin="salma-pass-1\n")
    before = ws.dump()
    r = ws.mes("--user", "salma", "--password-stdin", "station", "run", "PRN-1",
               stdin="salma-pass-1\nSTATUS\n")
    assert r.code == 6 and r.out == "", r
    assert "salma is not qualified for smt-printer stations" in r.err, r.err
    assert_only_denied(ws, before)


def test_starting_at_a_station_past_calibration_says_so_at_once(plant: Workspace) -> None:
    ws = plant
    sql(ws, "UPDATE stations SET calibration_due = '2026-10-31' WHERE id = 'PRN-1'")
    ws.ok("login", "fatima", "--station", "PRN-1", "--password-stdin",
          stdin=PASSWORDS["fatima"] + "\n")
    before = ws.dump()
    r = ws.mes("station", "run", "PRN-1", stdin="STATUS\n")
    assert r.code == 4 and r.out == "", r
    assert "station PRN-1 calibration expired on 2026-10-31" in r.err, r.err
    assert_unchanged(ws, before)
