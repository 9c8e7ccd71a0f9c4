"""`mes station run`: the scanner loop end to end through the CLI (stdin lines in, answers out)."""

from __future__ import annotations

import hashlib
import json

import pytest

from tests.conftest import PASSWORDS, Workspace
from tests.foundation.helpers import PCBA, PNP_PARTS, advance, new_lot, receive, sql

PRINT_DATA = ["DATA:stencil_id=ST-7", "data print_speed_mm_s=40", "Data:Squeegee_pressure_n=60"]


def login(ws: Workspace, station: str) -> None:
    ws.ok("login", "fatima", "--station", station, "--password-stdin",
          stdin=PASSWORDS["fatima"] + "\n")


def answers(out: str) -> list[str]:
    return [line for line in out.splitlines() if not line.startswith("  ")]


def test_a_scanner_alone_loads_paste_and_records_op_10(plant: Workspace) -> None:
    ws = plant
    paste = receive(ws, "PASTE-SAC305", 100)
    _lot, (sn1, sn2) = new_lot(ws, PCBA, 2)
    login(ws, "PRN-1")
    lines = ["LOAD:P1", paste, sn1, *PRINT_DATA[:2], "DATA:squeegee_pressure_n=60",
             "RESULT:PASS", "COMPLETE",
             "garbage !!", "COMPLETE",  # survives; the unit has passed op 10 now
             f"{sn2.lower()}\r", "OP:10", *PRINT_DATA[:2], "COMPLETE",  # missing data, result
             "DATA:squeegee_pressure_n=60", "result pass", "status", "complete"]
    r = ws.mes("station", "run", "PRN-1", stdin="\r\n".join(lines) + "\r\n")
    assert r.code == 0, r
    a = answers(r.out)
    assert a[0] == "OK slot P1: now scan the material lot to load"
    assert a[1] == f"OK {paste} (PASTE-SAC305) loaded on PRN-1 slot P1"
    assert a[2] == f"OK {sn1} (lot {_lot}) PCBA-OXI-100: op 10 Solder paste print"
    assert a[3].startswith("OK stencil_id=ST-7; op 10 still needs print_speed_mm_s")
    assert a[6] == "OK result pass; op 10 ready: scan COMPLETE"
    assert a[7] == f"OK op 10 (Solder paste print) passed on {sn1}; consumed 1"
    assert a[8].startswith("REFUSED (invalid-input): 'garbage !!' is neither")
    assert a[9].startswith(f"REFUSED (refused): {sn1} has no op left for PRN-1")
    assert a[14].startswith("REFUSED (invalid-input): op 10 (Solder paste print) needs "
                            "squeegee_pressure_n"), a[14]
    assert "scan DATA:" in a[14] and "--data" not in a[14]
    assert a[17].startswith(f"OK PRN-1 (smt-printer) fatima; item {sn2}; op 10;")
    assert a[18] == f"OK op 10 (Solder paste print) passed on {sn2}; consumed 1"
    assert len(a) == 19
    assert "3 REFUSED" in r.err and "0 ERROR" in r.err
    rows = sql(ws, "SELECT serial, status, station_id, username FROM steps WHERE op = 10 "
               "ORDER BY serial")
    assert rows == [(sn1, "passed", "PRN-1", "fatima"), (sn2, "passed", "PRN-1", "fatima")]
    assert sql(ws, "SELECT parent, child FROM edges WHERE child = ? ORDER BY parent",
               (paste,)) == [(sn1, paste), (sn2, paste)]
    assert sql(ws, "SELECT count(*) FROM audit WHERE action = 'step.complete' AND station = "
               "'PRN-1'") == [(2,)]


def test_user_and_password_stdin_pick_and_place_with_reels_loaded_by_scans(
        plant: Workspace) -> None:
    ws = plant
    paste = receive(ws, "PASTE-SAC305", 100)
    ws.ok("station", "load", "PRN-1", paste, "--slot", "P1", user="fatima")
    _lot, (sn, _other) = new_lot(ws, PCBA, 2)
    advance(ws, sn, 30)
    reels = [receive(ws, part, 1000) for part in PNP_PARTS]
    lines = [line for i, reel in enumerate(reels) for line in (f"LOAD:F{i + 1}", reel)]
    lines += [sn, "DATA:program_rev=P-12", "DATA:feeder_setup_verified=true", "RESULT:PASS",
              "COMPLETE"]
    r = ws.mes("station", "run", "pnp-1", user="fatima", stdin="\n".join(lines) + "\n")
    assert r.code == 0, r
    a = answers(r.out)
    assert all(x.startswith("OK") for x in a), a
    assert a[-1] == f"OK op 30 (Pick and place) passed on {sn}; consumed 9"
    assert sql(ws, "SELECT count(*) FROM edges WHERE parent = ? AND op = 30", (sn,)) == [(9,)]
    loads = json.loads(ws.ok("station", "show", "PNP-1", "--json").out)["loaded"]
    assert sorted(x["material"] for x in loads) == sorted(reels)


def test_out_of_limits_fails_holds_and_the_next_scan_of_that_unit_is_refused(
        plant: Workspace) -> None:
    ws = plant
    paste = receive(ws, "PASTE-SAC305", 100)
    ws.ok("station", "load", "PRN-1", paste, "--slot", "P1", user="fatima")
    _lot, (sn, _o) = new_lot(ws, PCBA, 2)
    login(ws, "PRN-1")
    lines = [sn, "DATA:stencil_id=ST-7", "DATA:print_speed_mm_s=99",
             "DATA:squeegee_pressure_n=60", "RESULT:PASS", "COMPLETE", "CLEAR", sn,
             "release " + paste, "HOLD"]
    r = ws.mes("station", "run", "PRN-1", stdin="\n".join(lines) + "\n")
    a = answers(r.out)
    assert a[5].startswith(f"FAIL op 10 (Solder paste print) on {sn}: print_speed_mm_s=99"), a
    assert a[5].endswith("put on hold: call quality")
    assert a[7].startswith(f"REFUSED (refused): unit {sn} is on hold"), a
    assert a[8].startswith("REFUSED (refused): RELEASE is a signed quality action")
    assert a[9].startswith("REFUSED (refused): HOLD is a signed quality action")
    assert sql(ws, "SELECT on_hold FROM units WHERE serial = ?", (sn,)) == [(1,)]


def test_material_refusals_unknown_scans_and_start(plant: Workspace) -> None:
    ws = plant
    quarantined = receive(ws, "PASTE-SAC305", 100, release=False)
    _lot, (sn, _o) = new_lot(ws, PCBA, 2)
    login(ws, "PRN-1")
    before = sql(ws, "SELECT count(*) FROM steps")
    lines = [quarantined, "LOAD:P1", quarantined, "NOPE-404", sn, "CLEAR", sn, "START",
             "START"]
    r = ws.mes("station", "run", "PRN-1", stdin="\n".join(lines))  # no final newline
    a = answers(r.out)
    assert a[0].startswith(f"REFUSED (refused): material {quarantined} is quarantine")
    assert a[1].startswith("OK slot P1")
    assert a[2].startswith(f"REFUSED (refused): material {quarantined} is quarantine")
    assert a[3].startswith("REFUSED (not-found): NOPE-404 is not a known")
    assert a[4].startswith("REFUSED (invalid-input): slot P1 waits for a material lot")
    assert a[7] == f"OK started op 10 (Solder paste print) on {sn}"
    assert a[8].startswith(f"REFUSED (refused): {sn}: op 10 is already started")
    assert sql(ws, "SELECT count(*) FROM steps")[0][0] == before[0][0] + 1


def test_an_unexpected_error_is_reported_and_the_loop_goes_on(
        plant: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    from mes.services import station_loop

    def boom(self: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(station_loop.StationLoop, "_start", boom)
    ws = plant
    _lot, (sn, _o) = new_lot(ws, PCBA, 2)
    login(ws, "PRN-1")
    r = ws.mes("station", "run", "PRN-1", stdin=f"{sn}\nSTART\nSTATUS\n")
    assert r.code == 0, r
    a = answers(r.out)
    assert a[1] == "ERROR RuntimeError: disk on fire (internal): report it"
    assert a[2].startswith("OK PRN-1")


def test_authentication_is_checked_once_at_start(plant: Workspace) -> None:
    ws = plant
    r = ws.mes("station", "run", "PRN-1", stdin="STATUS\n")
    assert r.code == 6 and "not logged in" in r.err and r.out == "", r
    login(ws, "PNP-1")
    r = ws.mes("station", "run", "PRN-1", stdin="STATUS\n")
    assert r.code == 6 and "session is for station PNP-1" in r.err, r
    r = ws.mes("station", "run", "NOPE-1", user="fatima", stdin="STATUS\n")
    assert r.code == 3, r
    r = ws.mes("--user", "fatima", "--password-stdin", "station", "run", "PRN-1",
               stdin="wrong-password\nSTATUS\n")
    assert r.code == 6 and "wrong password" in r.err, r


def test_logout_ends_the_loops_authority(plant: Workspace,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The session is checked again on every scan that touches the database."""
    from mes.services import station_loop

    ws = plant
    _lot, (sn, _o) = new_lot(ws, PCBA, 2)
    login(ws, "PRN-1")
    token = (ws.path / ".mes-session").read_text().strip()
    stored = hashlib.sha256(token.encode()).hexdigest()  # sessions keep the token's hash

    def status_then_logout(self: station_loop.StationLoop) -> str:  # `mes logout` elsewhere
        sql(ws, "UPDATE sessions SET ended_at = '2000-01-01' WHERE token = ?", (stored,))
        return "status"

    monkeypatch.setattr(station_loop.StationLoop, "status", status_then_logout)
    r = ws.mes("station", "run", "PRN-1", stdin=f"{sn}\nSTATUS\n{sn}\nHELP\n")
    a = answers(r.out)
    assert a[0].startswith(f"OK {sn}") and a[1] == "OK status"
    assert a[2].startswith("REFUSED (not-authorised): the station session has ended"), a
    assert a[3].startswith("OK barcodes")
    r = ws.mes("station", "run", "PRN-1", stdin="HELP\n")
    assert r.code == 6 and "session has ended" in r.err
