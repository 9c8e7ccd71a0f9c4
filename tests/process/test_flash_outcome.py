"""`mes flash` wrapping a misbehaving programmer (issue 11 item 5): the timed-out
programmer dies with its children, one outcome per flash everywhere, a bounded timeout,
the MCU UID output contract, and output shown to the operator without control bytes."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import Workspace
from tests.process.helpers import PCBA, assert_unchanged, lot_at, sql
from tests.process.test_firmware import registered

FLASH = ["--station", "FLASH-1", "--image", "FW-OXI@1.4.2"]


@pytest.fixture
def at70(plant: Workspace) -> tuple[Workspace, str, list[str]]:
    lot, serials = lot_at(plant, PCBA, 70, 2)
    registered(plant)
    return plant, lot, serials


def script(ws: Workspace, name: str, body: str) -> str:
    path = ws.path / f"{name}.py"
    path.write_text("import os, subprocess, sys, time\n" + body)
    return str(path)


def _running(pid: int) -> bool:
    """Alive and not a zombie waiting to be reaped."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def test_timed_out_programmer_is_killed_with_its_children(at70) -> None:
    ws, _lot, (sn, _) = at70
    pidfile = ws.path / "child.pid"
    prog = script(ws, "hangs", (
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'])\n"
        f"open({str(pidfile)!r}, 'w').write(str(child.pid))\n"
        "print('MCU_UID=0x3A1F', flush=True)\n"
        "time.sleep(120)\n"))
    started = time.monotonic()
    r = ws.mes("flash", sn, *FLASH, "--timeout", "1.5", "--", sys.executable, prog,
               user="fatima")
    assert time.monotonic() - started < 30
    assert r.code == 0 and r.out.startswith("FAIL") and "timed out after 1.5 s" in r.out, r
    child = int(pidfile.read_text())
    deadline = time.monotonic() + 5
    while _running(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _running(child):
        os.kill(child, 9)  # do not leave it behind, then fail
        pytest.fail(f"the programmer's child {child} is still running after the timeout")
    assert sql(ws, "SELECT verify, exit_status FROM flashes") == [("fail", None)]


@pytest.mark.parametrize("output,why", [
    ("programming done", "reported no MCU UID (expected a line MCU_UID=<1-32 hex digits>"),
    ("MCU_UID=0xZZ12", "reported MCU_UID='0xZZ12', expected a line MCU_UID=<1-32 hex"),
    ("MCU_UID=", "reported MCU_UID='', expected"),
])
def test_exit_0_without_a_valid_uid_fails_everywhere(at70, output: str, why: str) -> None:
    ws, lot, (sn, _) = at70
    prog = script(ws, "garbage", f"print({output!r})\n")
    r = ws.mes("flash", sn, *FLASH, "--", sys.executable, prog, user="fatima")
    assert r.code == 0 and r.out.startswith("FAIL") and why in r.out, r
    # one outcome: the step failed, so the flash did not verify, in every record
    assert sql(ws, "SELECT verify, exit_status FROM flashes") == [("fail", 0)]
    assert sql(ws, "SELECT status FROM steps WHERE serial = ? AND op = 70", (sn,)) == \
        [("failed",)]
    dhr = json.loads(ws.ok("dhr", lot, "--json", user="youssef").out)
    assert [(f["serial"], f["verify"]) for f in dhr["flashes"]] == [(sn, "fail")]
    trace = json.loads(ws.ok("trace", "back", sn, "--json", user="youssef").out)
    assert [f["verify"] for f in trace["flashes"]] == ["fail"]


@pytest.mark.parametrize("line", ["MCU_UID=0x3a1f00c2d4e5f60718293a4b",
                                  "MCU_UID: 3A1F00C2D4E5F60718293A4B",
                                  "  MCU_UID = 3a1f00c2d4e5f60718293a4b  ",
                                  "MCU_UID=0X3A1F00C2D4E5F60718293A4B\r"])  # CRLF
def test_uid_forms_of_the_contract(at70, line: str) -> None:
    ws, _lot, (sn, _) = at70
    prog = script(ws, "ok", f"print('flashing')\nprint({line!r})\n")
    r = ws.ok("flash", sn, *FLASH, "--", sys.executable, prog, user="fatima")
    assert r.out.startswith("OK"), r
    assert sql(ws, "SELECT mcu_uid, verify FROM flashes") == \
        [("0x3A1F00C2D4E5F60718293A4B", "pass")]


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "3601"])
def test_timeout_must_be_positive_finite_bounded(at70, value: str) -> None:
    ws, _lot, (sn, _) = at70
    prog = script(ws, "never", "print('MCU_UID=0x1')\n")
    before = ws.dump()
    r = ws.mes("flash", sn, *FLASH, "--timeout", value, "--", sys.executable, prog,
               user="fatima")
    assert r.code == 2, r
    assert r.err.startswith("mes: ") and "--timeout" in r.err and "at most 3600" in r.err, r
    assert len(r.err.strip().splitlines()) == 1
    assert_unchanged(ws, before)


def test_programmer_output_shown_without_control_bytes(at70) -> None:
    ws, _lot, (sn, _) = at70
    prog = script(ws, "noisy", (
        "sys.stdout.write('\\x1b[31mERROR\\x1b[0m probe lost\\x07\\x00\\r\\n')\n"
        "sys.stdout.write('\\x1b]0;title\\x07\\x08done\\n')\n"
        "sys.exit(1)\n"))
    r = ws.mes("flash", sn, *FLASH, "--", sys.executable, prog, user="fatima")
    assert r.code == 0 and r.out.startswith("FAIL"), r
    assert "ERROR probe lost" in r.err, r
    shown = r.err + r.out
    assert not [c for c in shown if ord(c) < 32 and c not in "\n\t"], repr(shown)
    r = ws.mes("flash", serials_of(ws, _lot)[1], *FLASH, "--json", "--", sys.executable, prog,
               user="fatima")
    tail = json.loads(r.out)["output_tail"]
    assert "ERROR probe lost" in tail and "\x1b" not in tail and "\x00" not in tail


def serials_of(ws: Workspace, lot: str) -> list[str]:
    return [u["serial"] for u in json.loads(ws.ok("lot", "show", lot, "--json").out)["units"]]
