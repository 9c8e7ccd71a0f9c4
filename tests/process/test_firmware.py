"""Firmware registry and flashing through the CLI (IEC 62304 §5.8, DESIGN §9)."""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import pytest

from tests.conftest import Workspace
from tests.process.helpers import PCBA, assert_unchanged, lot_at, sql

UID = "0x3A1F00C2D4E5F60718293A4B"


def image_file(ws: Workspace, name: str = "oxi-fw-1.4.2.bin", content: bytes = b"\x7fFW" * 500
               ) -> Path:
    path = ws.path / "build" / name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(content)
    return path


def registered(ws: Workspace, version: str = "1.4.2", approve: bool = True) -> Path:
    src = image_file(ws, f"oxi-fw-{version}.bin", f"firmware {version}".encode() * 100)
    ws.ok("firmware", "register", src, "--part", "FW-OXI", "--version", version, user="tarik")
    if approve:
        ws.ok("firmware", "approve", "FW-OXI", "--version", version, user="youssef")
    return src


def images(ws: Workspace) -> dict[str, dict]:
    return {r["id"]: r for r in json.loads(ws.ok("firmware", "list", "--json").out)}


@pytest.fixture
def at70(plant: Workspace) -> tuple[Workspace, str, list[str]]:
    lot, serials = lot_at(plant, PCBA, 70, 2)
    return plant, lot, serials


def programmer(ws: Workspace, name: str, exit_status: int, uid: str | None = UID) -> str:
    """A tiny programmer script: checks its image argument, prints MCU_UID, exits."""
    script = ws.path / f"{name}.py"
    script.write_text(
        "import sys, hashlib\n"
        "image, serial = sys.argv[1], sys.argv[2]\n"
        "data = open(image, 'rb').read()\n"
        "print('programming', serial, hashlib.sha256(data).hexdigest())\n"
        + (f"print('MCU_UID={uid}')\n" if uid else "")
        + f"print('verify', 'ok' if {exit_status} == 0 else 'FAILED', file=sys.stderr)\n"
        f"sys.exit({exit_status})\n")
    return str(script)


def test_register_keeps_a_copy_with_its_hash(workspace: Workspace) -> None:
    ws = workspace
    ws.ok("routing", "load", Path(__file__).parents[2] / "routings" / "catalog.yaml",
          user="tarik")
    src = registered(ws, approve=False)
    row = images(ws)["FW-OXI@1.4.2"]
    data = src.read_bytes()
    assert row["sha256"] == hashlib.sha256(data).hexdigest()
    assert row["size"] == len(data) and row["status"] == "registered" and row["file_ok"]
    stored = ws.path / row["stored_path"]
    assert stored.name == f"FW-OXI-1.4.2-{row['sha256'][:12]}.bin"
    assert stored.read_bytes() == data
    src.write_bytes(b"changed after registration")  # the original no longer matters
    assert images(ws)["FW-OXI@1.4.2"]["file_ok"]
    # Only quality approves; the approval is a signature bound to the image's hash.
    before = ws.dump()
    r = ws.mes("firmware", "approve", "FW-OXI", "--version", "1.4.2", user="tarik")
    assert r.code == 6, r
    ws.ok("firmware", "approve", "FW-OXI", "--version", "1.4.2", user="youssef")
    row = images(ws)["FW-OXI@1.4.2"]
    assert row["status"] == "approved" and row["signatures"][0]["meaning"] == "approved"
    assert len(before) < len(ws.dump())
    # Same version twice: refused, nothing changed.
    before = ws.dump()
    r = ws.mes("firmware", "register", image_file(ws, "other.bin", b"other"), "--part",
               "FW-OXI", "--version", "1.4.2", user="tarik")
    assert r.code == 4 and "new version" in r.err, r
    assert_unchanged(ws, before)


def test_register_refuses_bad_input(plant: Workspace) -> None:
    ws = plant
    before = ws.dump()
    assert ws.mes("firmware", "register", ws.path / "nope.bin", "--part", "FW-OXI",
                  "--version", "1.0", user="tarik").code == 3
    assert ws.mes("firmware", "register", image_file(ws), "--part", "RESIN-PC2458",
                  "--version", "1.0", user="tarik").code == 4
    assert ws.mes("firmware", "register", image_file(ws), "--part", "FW-OXI",
                  "--version", "1 0", user="tarik").code == 5
    assert_unchanged(ws, before)
    assert not (ws.path / "firmware").exists() or not list((ws.path / "firmware").glob("*.bin"))


def test_flash_typed_form_records_everything(at70: tuple[Workspace, str, list[str]]) -> None:
    ws, _lot, serials = at70
    registered(ws)
    sn = serials[0]
    r = ws.ok("flash", sn, "--station", "FLASH-1", "--image", "FW-OXI@1.4.2", "--mcu-uid",
              UID.lower(), "--verify", "pass", user="fatima")
    assert r.out.startswith("OK"), r
    flash = sql(ws, "SELECT serial, image_id, image_sha256, mcu_uid, station_id, attempt, "
                "verify, step_id FROM flashes")
    sha = images(ws)["FW-OXI@1.4.2"]["sha256"]
    assert flash[0][:7] == (sn, "FW-OXI@1.4.2", sha, UID, "FLASH-1", 1, "pass")
    step = sql(ws, "SELECT op, status, result, source, data FROM steps WHERE id = ?",
               (flash[0][7],))[0]
    assert step[:4] == (70, "passed", "pass", "flash:FW-OXI@1.4.2")
    assert json.loads(step[4]) == {"mcu_uid": UID, "attempts": 1}
    assert sql(ws, "SELECT parent, child, qty, op FROM edges WHERE child = 'FW-OXI@1.4.2'") \
        == [(sn, "FW-OXI@1.4.2", 1.0, 70)]
    unit = json.loads(ws.ok("lot", "show", sn, "--json").out)
    assert unit["mcu_uid"] == UID and unit["status"] == "completed"
    actions = [a for (a,) in sql(ws, "SELECT action FROM audit WHERE entity_id = ?", (sn,))]
    assert {"step.complete", "firmware.flash", "unit.mcu_uid"} <= set(actions)


def test_plain_step_complete_cannot_record_a_flash(at70: tuple[Workspace, str, list[str]]
                                                   ) -> None:
    ws, _, serials = at70
    r = ws.mes("step", "complete", serials[0], "--op", 70, "--station", "FLASH-1", "--data",
               f"mcu_uid={UID}", "--data", "attempts=1", "--result", "pass", user="fatima")
    assert r.code == 4 and "mes flash" in r.err, r


def test_flash_wrapping_form_success(at70: tuple[Workspace, str, list[str]]) -> None:
    ws, _, serials = at70
    registered(ws)
    sn = serials[1]
    prog = programmer(ws, "prog_ok", 0)
    r = ws.ok("flash", sn, "--station", "FLASH-1", "--image", "FW-OXI@1.4.2", "--json", "--",
              sys.executable, prog, "{image}", "{serial}", user="fatima")
    out = json.loads(r.out)
    stored = images(ws)["FW-OXI@1.4.2"]
    assert out["status"] == "passed" and out["mcu_uid"] == UID and out["exit_status"] == 0
    assert f"programming {sn} {stored['sha256']}" in out["output_tail"]  # {image} = stored copy
    row = sql(ws, "SELECT verify, exit_status, duration_ms, output_sha256 FROM flashes")[0]
    assert row[0] == "pass" and row[1] == 0 and row[2] >= 0 and len(row[3]) == 64
    assert sql(ws, "SELECT mcu_uid FROM units WHERE serial = ?", (sn,)) == [(UID,)]


def test_flash_wrapping_form_failure_is_a_failed_step_not_a_crash(
        at70: tuple[Workspace, str, list[str]]) -> None:
    ws, _, serials = at70
    registered(ws)
    sn = serials[0]
    r = ws.mes("flash", sn, "--station", "FLASH-1", "--image", "FW-OXI@1.4.2", "--",
               sys.executable, programmer(ws, "prog_bad", 3, uid=None), "{image}", "{serial}",
               user="fatima")
    assert r.code == 0 and r.out.startswith("FAIL") and "exit status 3" in r.out, r
    assert sql(ws, "SELECT verify, exit_status, attempt FROM flashes") == [("fail", 3, 1)]
    assert sql(ws, "SELECT status, result FROM steps WHERE serial = ? AND op = 70", (sn,)) \
        == [("failed", "fail")]
    held = sql(ws, "SELECT on_hold, hold_reason, mcu_uid FROM units WHERE serial = ?", (sn,))[0]
    assert held[0] == 1 and "op 70 failed" in held[1] and held[2] is None
    assert sql(ws, "SELECT count(*) FROM edges WHERE child = 'FW-OXI@1.4.2'") == [(0,)]
    # On hold: the next attempt is refused until quality decides.
    before = ws.dump()
    r = ws.mes("flash", sn, "--station", "FLASH-1", "--image", "FW-OXI@1.4.2", "--mcu-uid",
               UID, "--verify", "pass", user="fatima")
    assert r.code == 4 and "on hold" in r.err, r
    assert_unchanged(ws, before)


def test_programmer_not_found_records_nothing(at70: tuple[Workspace, str, list[str]]) -> None:
    ws, _, serials = at70
    registered(ws)
    before = ws.dump()
    r = ws.mes("flash", serials[0], "--station", "FLASH-1", "--image", "FW-OXI@1.4.2", "--",
               "no-such-programmer-xyz", "{image}", user="fatima")
    assert r.code == 3 and "not found" in r.err and "Traceback" not in r.err, r
    assert_unchanged(ws, before)


def refusal(ws: Workspace, *args: object, code: int = 4, text: str = "") -> None:
    before = ws.dump()
    r = ws.mes(*args, user="fatima")
    assert r.code == code and text in r.err, r
    assert_unchanged(ws, before)


def test_flash_refusals_change_nothing(at70: tuple[Workspace, str, list[str]]) -> None:
    ws, lot, serials = at70
    sn = serials[0]
    registered(ws, "1.4.2", approve=False)
    registered(ws, "1.5.0", approve=True)
    typed = ["--station", "FLASH-1", "--mcu-uid", UID, "--verify", "pass"]
    refusal(ws, "flash", sn, "--image", "FW-OXI@1.4.2", *typed, text="not approved")
    refusal(ws, "flash", sn, "--image", "FW-OXI@1.5.0", *typed, text="allows FW-OXI version")
    refusal(ws, "flash", sn, "--image", "FW-OXI@9.9", *typed, code=3, text="no firmware")
    refusal(ws, "flash", sn, "--image", "FW-OXI", *typed, code=5, text="PART@VERSION")
    refusal(ws, "flash", sn, "--image", "FW-OXI@1.5.0", "--station", "ICT-1", "--op", "70",
            "--verify", "pass", "--mcu-uid", UID, text="allows")
    ws.ok("firmware", "approve", "FW-OXI", "--version", "1.4.2", user="youssef")
    refusal(ws, "flash", sn, "--image", "FW-OXI@1.4.2", "--station", "ICT-1", "--verify",
            "pass", "--mcu-uid", UID, text="flash station")
    refusal(ws, "flash", lot, "--image", "FW-OXI@1.4.2", *typed, text="one unit")
    refusal(ws, "flash", sn, "--image", "FW-OXI@1.4.2", "--station", "FLASH-1", "--verify",
            "pass", code=5, text="--mcu-uid")
    refusal(ws, "flash", sn, "--image", "FW-OXI@1.4.2", "--station", "FLASH-1", code=5,
            text="--verify")
    # Tampered stored copy: integrity failure (exit 7), nothing recorded.
    stored = ws.path / images(ws)["FW-OXI@1.4.2"]["stored_path"]
    os.chmod(stored, 0o644)
    stored.write_bytes(stored.read_bytes() + b"\x00")
    refusal(ws, "flash", sn, "--image", "FW-OXI@1.4.2", *typed, code=7, text="no longer matches")
    assert images(ws)["FW-OXI@1.4.2"]["file_ok"] is False


def test_flash_refused_before_earlier_ops_pass(plant: Workspace) -> None:
    ws = plant
    registered(ws)
    _, serials = lot_at(ws, PCBA, 60, 1)  # ops 10-50 passed, 60 (ICT) not yet
    refusal(ws, "flash", serials[0], "--station", "FLASH-1", "--image", "FW-OXI@1.4.2",
            "--mcu-uid", UID, "--verify", "pass", text="op 60")


def test_flash_needs_qualification_and_role(at70: tuple[Workspace, str, list[str]]) -> None:
    ws, _, serials = at70
    registered(ws)
    r = ws.mes("flash", serials[0], "--station", "FLASH-1", "--image", "FW-OXI@1.4.2",
               "--mcu-uid", UID, "--verify", "pass", user="youssef")
    assert r.code == 6, r
    assert sql(ws, "SELECT count(*) FROM flashes") == [(0,)]
