"""Catalog changes that need a signature (issue 12): a reload that changes a field that
reaches labels or the origin decision is a draft; the values in force stay until quality
approves it, signed, and the approver is not who loaded it."""

from __future__ import annotations

import json
from pathlib import Path

from mes.domain.gs1 import gtin_check_digit
from tests.conftest import ROUTINGS, Workspace, sql
from tests.foundation.helpers import assert_only_denied

DEV = "DEV-OXI-100"
OLD_GTIN = "06111234500014"
NEW_GTIN = "0611123450002" + gtin_check_digit("0611123450002")


def changed_catalog(tmp: Path, old: str, new: str, name: str = "catalog.yaml") -> Path:
    text = (ROUTINGS / "catalog.yaml").read_text(encoding="utf-8")
    assert old in text
    f = tmp / name
    f.write_text(text.replace(old, new), encoding="utf-8")
    return f


def new_gtin_catalog(tmp: Path) -> Path:
    return changed_catalog(tmp, f'gtin: "{OLD_GTIN}"', f'gtin: "{NEW_GTIN}"')


def reprinted_gtin(ws: Workspace, lot: str, n: int) -> str:
    ws.ok("label", "print", lot, "--reprint", "--reason", f"check {n}", "--no-origin-claim",
          user="fatima")
    (element,) = sql(ws, "SELECT element_string FROM labels ORDER BY id DESC LIMIT 1")[0]
    assert element.startswith("(01)"), element
    return str(element[4:18])


def drafts(ws: Workspace) -> list[dict]:
    return list(json.loads(ws.ok("catalog", "list", "--drafts", "--json").out))


def test_gtin_change_is_a_draft_until_quality_signs(built, tmp_path: Path) -> None:
    ws, sc = built
    out = ws.ok("routing", "load", new_gtin_catalog(tmp_path), user="tarik").out
    assert f"part {DEV}: draft v2 (gtin in force only once quality approves" in out, out
    assert "part CAP-100N-0402: unchanged" in out
    [d] = drafts(ws)
    assert (d["part"], d["version"], d["status"], d["changed"]) == (DEV, 2, "draft", "gtin")
    diff = ws.ok("catalog", "diff", DEV).out
    assert f"gtin: {OLD_GTIN} -> {NEW_GTIN} (needs quality's signature)" in diff, diff
    # Until approved, the old values stay in force: labels, the catalog listing.
    assert reprinted_gtin(ws, sc.dev_lot, 1) == OLD_GTIN
    parts = {p["number"]: p for p in json.loads(ws.ok("routing", "parts", "--json").out)}
    assert parts[DEV]["gtin"] == OLD_GTIN
    # Loading the same file again keeps the one draft.
    again = ws.ok("routing", "load", new_gtin_catalog(tmp_path), user="tarik").out
    assert f"part {DEV}: unchanged (draft v2 waits for quality" in again
    r = ws.ok("catalog", "approve", DEV, "--version", 2, user="youssef")
    assert f"part {DEV} v2 in force, signed by Youssef Benali (approved)" in r.out
    actions = [a for (a,) in sql(ws, "SELECT action FROM audit ORDER BY seq DESC LIMIT 2")]
    assert actions == ["signature", "part.approve"]
    assert reprinted_gtin(ws, sc.dev_lot, 2) == NEW_GTIN
    versions = {(v["version"], v["status"]) for v in
                json.loads(ws.ok("catalog", "list", DEV, "--json").out)}
    assert versions == {(1, "superseded"), (2, "in-force")}
    signed = json.loads(ws.ok("catalog", "diff", DEV, "--version", 2, "--json").out)
    assert [s["meaning"] for s in signed["signatures"]] == ["approved"]
    assert ws.ok("audit", "verify", "--reconcile").code == 0


def test_cost_change_keeps_the_origin_inputs_until_approved(built, tmp_path: Path) -> None:
    ws, _ = built
    f = changed_catalog(tmp_path, "unit_cost: 4.20", "unit_cost: 9.90")
    out = ws.ok("routing", "load", f, user="tarik").out
    assert "part PCB-OXI-100: draft v2 (unit_cost in force" in out, out
    parts = {p["number"]: p for p in json.loads(ws.ok("routing", "parts", "--json").out)}
    assert parts["PCB-OXI-100"]["unit_cost"] == 4.2
    # A receipt takes the cost in force as its default.
    rid = ws.ok("material", "receive", "PCB-OXI-100", "--qty", 5, user="fatima").out.split()[1]
    assert sql(ws, "SELECT unit_cost FROM material_lots WHERE id = ?", (rid,)) == [(4.2,)]
    ws.ok("catalog", "approve", "PCB-OXI-100@2", user="youssef")
    rid = ws.ok("material", "receive", "PCB-OXI-100", "--qty", 5, user="fatima").out.split()[1]
    assert sql(ws, "SELECT unit_cost FROM material_lots WHERE id = ?", (rid,)) == [(9.9,)]


def test_a_field_that_needs_no_signature_is_in_force_at_once(built, tmp_path: Path) -> None:
    ws, _ = built
    f = changed_catalog(tmp_path, "{level: box, contains: 10}", "{level: box, contains: 5}")
    out = ws.ok("routing", "load", f, user="tarik").out
    assert f"part {DEV}: updated" in out and drafts(ws) == []
    [v] = [v for v in json.loads(ws.ok("catalog", "list", DEV, "--json").out)
           if v["status"] == "in-force"]
    assert v["version"] == 2 and v["basis"] == "no field that needs a signature"


def test_a_newer_load_withdraws_the_pending_draft(built, tmp_path: Path) -> None:
    ws, _ = built
    ws.ok("routing", "load", new_gtin_catalog(tmp_path), user="tarik")
    ws.ok("routing", "load", ROUTINGS / "catalog.yaml", user="tarik")  # back to the values in force
    statuses = {v["version"]: v["status"] for v in
                json.loads(ws.ok("catalog", "list", DEV, "--json").out)}
    assert statuses == {1: "in-force", 2: "withdrawn"}
    r = ws.mes("catalog", "approve", DEV, "--version", 2, user="youssef")
    assert r.code == 4 and "only drafts can be approved" in r.err, r


def test_unqualified_approver_is_refused_before_the_state(built, tmp_path: Path) -> None:
    ws, _ = built
    ws.ok("routing", "load", new_gtin_catalog(tmp_path), user="tarik")
    for who, target in (("fatima", [DEV, "--version", 2]), ("tarik", [DEV, "--version", 2]),
                        ("fatima", [DEV, "--version", 99]), ("amina", ["NOPE@1"])):
        before = ws.dump()
        r = ws.mes("catalog", "approve", *target, user=who)
        assert r.code == 6 and "may not approve catalog changes" in r.err, r
        assert "quality" in r.err and "draft" not in r.err.split(": it needs")[0]
        assert_only_denied(ws, before)
    assert drafts(ws)[0]["status"] == "draft"


def test_author_may_not_approve_own_change(built, tmp_path: Path) -> None:
    ws, sc = built
    ws.ok("routing", "load", new_gtin_catalog(tmp_path), user="youssef")
    before = ws.dump()
    r = ws.mes("catalog", "approve", DEV, "--version", 2, user="youssef")
    assert r.code == 6 and "segregation of duties" in r.err, r
    assert_only_denied(ws, before)
    (reason,) = sql(ws, "SELECT reason FROM audit ORDER BY seq DESC LIMIT 1")[0]
    assert reason == f"segregation of duties: youssef authored catalog change {DEV} v2"
    assert reprinted_gtin(ws, sc.dev_lot, 3) == OLD_GTIN


def test_bad_approvals_are_one_line_errors(built, tmp_path: Path) -> None:
    ws, _ = built
    ws.ok("routing", "load", new_gtin_catalog(tmp_path), user="tarik")
    for args, code, words in (([DEV], 5, "name the draft's version"),
                              ([DEV, "ENC-OXI-100", "--version", 2], 5, "goes with one PART"),
                              ([f"{DEV}@7"], 3, "no catalog version"),
                              (["PCB-OXI-100@1"], 4, "only drafts")):
        before = ws.dump()
        r = ws.mes("catalog", "approve", *args, user="youssef")
        assert r.code == code and words in r.err and r.err.startswith("mes: "), (args, r)
        assert "Traceback" not in r.err
        assert ws.dump() == before
    assert ws.mes("catalog", "diff", "ENC-OXI-100").code == 3
