"""Routing files: validate, load as drafts, approve with a signature, show, list, diff, freeze."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import PASSWORDS, ROUTINGS, Workspace
from tests.foundation.helpers import (
    PCBA,
    assert_only_denied,
    audit_actions,
    changed_rows,
    complete_args,
    load_paste,
    new_lot,
    routing,
    sql,
)

ALL = sorted(ROUTINGS.glob("*.yaml"))
BAD = """\
routing:
  part: PCBA-OXI-100
  operations:
    - op: 10
      name: Print
      station_type: smt-printer
      activity: smtt
      data:
        - {name: speed, type: floaty, min: 5, max: 1}
    - op: 5
      name: Inspect
      station_type: spi
      bogus_key: 1
"""


def modified_pcba(tmp_path: Path) -> Path:
    """A new version of the PCBA routing: print speed up to 100 mm/s and a new data item."""
    text = (ROUTINGS / "pcba-oxi-100.yaml").read_text()
    old = "{name: print_speed_mm_s, type: float, unit: mm/s, min: 25, max: 60}"
    assert old in text
    text = text.replace(old, "{name: print_speed_mm_s, type: float, unit: mm/s, min: 25, "
                        "max: 100}\n        - {name: paste_lot_age_h, type: float, "
                        "required: false}")
    path = tmp_path / "v2" / "pcba-oxi-100.yaml"
    path.parent.mkdir()
    path.write_text(text)
    return path


def test_validate_good_files(workspace: Workspace) -> None:
    r = workspace.ok("routing", "validate", *ALL)
    assert "ok " in r.out and "PCBA-OXI-100 (7 operations)" in r.out
    data = json.loads(workspace.ok("routing", "validate", *ALL, "--json").out)
    assert {d["kind"] for d in data} == {"catalog", "routing"}


def test_validate_needs_no_database(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MES_HOME", str(tmp_path))
    ws = Workspace(tmp_path)
    assert ws.ok("routing", "validate", *ALL).code == 0
    assert not ws.db.exists()


def test_validate_bad_file_lists_every_problem(workspace: Workspace, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD)
    other = tmp_path / "other.yaml"
    other.write_text("routing: [\n")
    r = workspace.mes("routing", "validate", bad, ALL[0], other)
    assert r.code == 5, r
    lines = r.err.strip().splitlines()
    expected = [f"{bad}:7: ", f"{bad}:9: ", f"{bad}:10: ", f"{bad}:13: ", f"{other}:2: "]
    for start in expected:
        assert any(line.startswith(start) for line in lines), (start, r.err)
    assert "smtt" in r.err and "floaty" in r.err and "max 1 is below min 5" in r.err
    assert "bogus_key" in r.err and "increasing order" in r.err
    assert lines[-1].startswith("mes: ") and "more problems" in lines[-1]
    assert "Traceback" not in r.err


def test_validate_missing_file(workspace: Workspace) -> None:
    r = workspace.mes("routing", "validate", "nope.yaml")
    assert r.code == 3 and r.err.startswith("mes: ")


def test_load_makes_drafts(workspace: Workspace) -> None:
    r = workspace.ok("routing", "load", *ALL, user="tarik")
    assert "routing PCBA-OXI-100 v1: draft" in r.out
    assert "part PCB-OXI-100: added" in r.out
    rows = json.loads(workspace.ok("routing", "list", "--json").out)
    assert [(x["part"], x["version"], x["status"]) for x in rows] == [
        ("DEV-OXI-100", 1, "draft"), ("ENC-OXI-100", 1, "draft"), (PCBA, 1, "draft")]
    # A draft cannot be used for a lot.
    r = workspace.mes("lot", "create", PCBA, "--qty", 1, user="fatima")
    assert r.code == 4 and "no approved routing" in r.err
    # Loading the same files again changes nothing.
    again = workspace.ok("routing", "load", *ALL, user="tarik").out
    assert "routing PCBA-OXI-100 v1: unchanged" in again and "part PCB-OXI-100: unchanged" in again


def test_load_bad_file_changes_nothing(workspace: Workspace, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD)
    before = workspace.dump()
    r = workspace.mes("routing", "load", *ALL, bad, user="tarik")
    assert r.code == 5, r
    assert f"{bad}:13:" in r.err
    assert workspace.dump() == before


def test_load_routing_of_unknown_part(workspace: Workspace) -> None:
    before = workspace.dump()
    r = workspace.mes("routing", "load", ROUTINGS / "pcba-oxi-100.yaml", user="tarik")
    assert r.code == 5, r  # a file problem, reported with its line like validate does
    assert "pcba-oxi-100.yaml:9: routing.part: part PCBA-OXI-100 is not in the catalog" in r.err
    assert workspace.dump() == before


def test_operator_may_not_load(workspace: Workspace) -> None:
    before = workspace.dump()
    r = workspace.mes("routing", "load", *ALL, user="fatima")
    assert r.code == 6, r
    assert_only_denied(workspace, before)


def test_approve_needs_quality(workspace: Workspace) -> None:
    workspace.ok("routing", "load", *ALL, user="tarik")
    before = workspace.dump()
    r = workspace.mes("routing", "approve", PCBA, "--version", 1, user="tarik")
    assert r.code == 6, r
    assert "quality" in r.err
    assert_only_denied(workspace, before)


def test_approve_wrong_password_changes_nothing_but_failed_login(workspace: Workspace) -> None:
    workspace.ok("routing", "load", *ALL, user="tarik")
    before = workspace.dump()
    r = workspace.mes("--user", "youssef", "--password-stdin", "routing", "approve", PCBA,
                      "--version", 1, stdin="not-his-password\n")
    assert r.code == 6, r
    gone, new = changed_rows(before, workspace.dump())
    # Only the failure counter of youssef changed, and one audit event was added.
    assert len(gone) == 1 and gone[0].startswith('INSERT INTO "users" VALUES(\'youssef\'')
    assert len(new) == 2, new
    users = [line for line in new if line.startswith('INSERT INTO "users"')]
    assert len(users) == 1 and ",1,0,1," in users[0]
    assert sum(line.startswith('INSERT INTO "audit"') for line in new) == 1
    assert audit_actions(workspace)[-1] == "user.login_failed"
    assert sql(workspace, "SELECT status FROM routings WHERE part=?", (PCBA,)) == [("draft",)]
    assert sql(workspace, "SELECT count(*) FROM signatures") == [(0,)]


def test_approve_signed(workspace: Workspace) -> None:
    workspace.ok("routing", "load", *ALL, user="tarik")
    r = workspace.ok("routing", "approve", PCBA, "--version", 1, user="youssef")
    assert "approved, signed by Youssef Benali (approved)" in r.out
    d = routing(workspace)
    assert d["status"] == "approved" and d["version"] == 1 and d["approved_at"]
    [sig] = d["signatures"]
    assert sig["full_name"] == "Youssef Benali" and sig["meaning"] == "approved"
    assert sig["username"] == "youssef" and len(sig["record_sha256"]) == 64
    assert sig["local_time"].endswith(f"({sig['utc_offset']})")
    assert audit_actions(workspace)[-2:] == ["routing.approve", "signature"]
    # Approving twice is refused, approving a version that does not exist is not found.
    assert workspace.mes("routing", "approve", PCBA, "--version", 1, user="youssef").code == 4
    assert workspace.mes("routing", "approve", PCBA, "--version", 9, user="youssef").code == 3


def test_approve_from_a_session_re_enters_the_password(workspace: Workspace) -> None:
    workspace.ok("routing", "load", *ALL, user="tarik")
    workspace.ok("--password-stdin", "login", "youssef", stdin=PASSWORDS["youssef"] + "\n")
    before = workspace.dump()
    r = workspace.mes("routing", "approve", PCBA, "--version", 1)  # no terminal, no stdin
    assert r.code == 6, r
    assert workspace.dump() == before
    r = workspace.mes("--password-stdin", "routing", "approve", PCBA, "--version", 1,
                      stdin="wrong-password\n")
    assert r.code == 6, r
    assert audit_actions(workspace)[-1] == "user.login_failed"
    workspace.ok("--password-stdin", "routing", "approve", PCBA, "--version", 1,
                 stdin=PASSWORDS["youssef"] + "\n")
    assert routing(workspace)["status"] == "approved"


def test_show_and_list(plant: Workspace) -> None:
    d = routing(plant)
    assert [o["op"] for o in d["operations"]] == [10, 20, 30, 40, 50, 60, 70]
    op40 = d["operations"][3]
    assert op40["origin_conferring"] and op40["station_type"] == "reflow-oven"
    peak = next(s for s in op40["data"] if s["name"] == "peak_temp_c")
    assert (peak["min"], peak["max"], peak["unit"]) == (235, 250, "°C")
    human = plant.ok("routing", "show", PCBA).out
    assert "op  40 Reflow @ reflow-oven" in human and "signed: Youssef Benali" in human
    csv = plant.ok("routing", "list", "--csv").out.splitlines()
    assert csv[0] == "part,version,status,source_file,loaded_at,approved_at"
    assert len(csv) == 4
    assert plant.mes("routing", "show", "NOPE").code == 3
    parts = json.loads(plant.ok("routing", "parts", "--json").out)
    assert any(p["number"] == "DEV-OXI-100" and p["gtin"] == "06111234500014" for p in parts)


def test_diff_of_two_versions(plant: Workspace, tmp_path: Path) -> None:
    r = plant.ok("routing", "load", modified_pcba(tmp_path), user="tarik")
    assert "routing PCBA-OXI-100 v2: draft" in r.out
    out = plant.ok("routing", "diff", PCBA, 1, 2).out
    assert "print_speed_mm_s" in out and "60" in out and "100" in out
    assert "paste_lot_age_h" in out
    lines = json.loads(plant.ok("routing", "diff", PCBA, 1, 2, "--json").out)
    assert len(lines) >= 2
    assert "no differences" in plant.ok("routing", "diff", PCBA, 1, 1).out
    assert plant.mes("routing", "diff", PCBA, 1, 7).code == 3
    # The approved version is still v1 until quality approves v2.
    assert routing(plant)["version"] == 1
    assert routing(plant, version=2)["status"] == "draft"


def test_lot_frozen_to_its_routing_version(plant: Workspace, tmp_path: Path) -> None:
    load_paste(plant)
    old_lot, [old_unit, _] = new_lot(plant)
    plant.ok("routing", "load", modified_pcba(tmp_path), user="tarik")
    plant.ok("routing", "approve", PCBA, "--version", 2, user="youssef")
    versions = {(x["version"], x["status"]) for x in
                json.loads(plant.ok("routing", "list", "--json").out) if x["part"] == PCBA}
    assert versions == {(1, "superseded"), (2, "approved")}
    new_lot_id, [new_unit, _] = new_lot(plant)
    lots = {x["lot"]: x["routing_version"] for x in
            json.loads(plant.ok("lot", "list", "--json").out)}
    assert lots == {old_lot: 1, new_lot_id: 2}
    # 80 mm/s is inside v2's window but outside v1's: the old lot still follows v1.
    r = plant.ok(*complete_args(plant, old_unit, 10, print_speed_mm_s=80), user="fatima")
    assert r.out.startswith("FAIL") and "above max 60" in r.out
    r = plant.ok(*complete_args(plant, new_unit, 10, print_speed_mm_s=80), user="fatima")
    assert r.out.startswith("OK")
