"""Label templates as controlled documents (issue 17): load as draft, approve by signature,
print only an approved, unchanged template, every label records the template's sha256."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from tests import conftest
from tests.conftest import Workspace, assert_unchanged, sql
from tests.labels.test_label_print import build_device, shop  # noqa: F401 (fixture)

ROOT = Path(__file__).resolve().parents[2]


def test_packaged_templates_are_the_plants_labels_dir() -> None:
    """An installed mes prints with the same templates the plant edits in labels/."""
    plant = {f.name: f.read_bytes() for f in (ROOT / "labels").glob("*.yaml")}
    packaged = {f.name: f.read_bytes() for f in (ROOT / "mes" / "data" / "labels").glob("*.yaml")}
    assert plant and plant == packaged


def _template(tmp_path: Path, version: int, font: str = "8") -> Path:
    text = (ROOT / "labels" / "udi-100x50.yaml").read_text(encoding="utf-8")
    text = text.replace("version: 1", f"version: {version}")
    text = text.replace("{field: ref,          x: 3,    y: 11.2, w: 66,   h: 3.8, font_size: 8}",
                        f"{{field: ref,          x: 3,    y: 11.2, w: 66,   h: 3.8, "
                        f"font_size: {font}}}")
    f = tmp_path / f"udi-100x50-v{version}.yaml"
    f.write_text(text, encoding="utf-8")
    return f


def test_unapproved_template_is_refused_and_approval_is_signed(
        shop: Workspace, tmp_path: Path) -> None:  # noqa: F811
    _lot, serials = build_device(shop, board_cost=20, n=1)
    v2 = _template(tmp_path, 2, font="7.5")
    out = shop.ok("label", "template", "load", v2, user="tarik").out
    assert "udi-100x50 v2: draft" in out
    # loading the same text again changes nothing; the same version with other text is refused
    assert "unchanged" in shop.ok("label", "template", "load", v2, user="tarik").out
    other = _template(tmp_path / "..", 2, font="7")
    r = shop.mes("label", "template", "load", other, user="tarik")
    assert r.code == 4 and "raise `version:`" in r.err, r
    # diff between versions shows the changed line
    d = shop.ok("label", "template", "diff", "udi-100x50", "1", "2", user="fatima").out
    assert "-version: 1" in d and "+version: 2" in d and "font_size: 7.5" in d
    # the author may not approve; an operator may not either (exit 6, audited)
    r = shop.mes("label", "template", "approve", "udi-100x50", "--version", "2", user="fatima")
    assert r.code == 6 and r.err.startswith("mes: "), r
    # v1 is still the approved one: printing works and records v1's sha256
    d1 = json.loads(shop.ok("label", "print", serials[0], "--json", user="fatima").out)
    assert d1["template_version"] == 1
    v1_sha = hashlib.sha256((ROOT / "labels" / "udi-100x50.yaml").read_bytes()).hexdigest()
    assert d1["template_sha256"] == v1_sha
    assert sql(shop, "SELECT template_sha256 FROM labels")[0][0] == v1_sha
    shop.ok("label", "template", "approve", "udi-100x50", "--version", "2", user="youssef")
    rows = {(r[0], r[1]): r[2] for r in sql(
        shop, "SELECT name, version, status FROM label_templates")}
    assert rows[("udi-100x50", 1)] == "superseded" and rows[("udi-100x50", 2)] == "approved"
    shown = json.loads(shop.ok("label", "template", "show", "udi-100x50", "--json",
                               user="fatima").out)
    assert shown["version"] == 2 and shown["signatures"][0]["meaning"] == "approved"
    d2 = json.loads(shop.ok("label", "print", serials[0], "--reprint", "--reason", "v2",
                            "--json", user="fatima").out)
    assert d2["template_version"] == 2 and d2["template_sha256"] == shown["sha256"]


def test_no_approved_template_refuses_print(shop: Workspace) -> None:  # noqa: F811
    _lot, serials = build_device(shop, board_cost=20, n=1)
    before = shop.dump()
    r = shop.mes("label", "print", serials[0], "--template", "udi-50x25x", user="fatima")
    assert r.code == 4 and "not a controlled document" in r.err, r
    assert_unchanged(shop, before)


def test_changed_template_text_is_refused(shop: Workspace) -> None:  # noqa: F811
    _lot, serials = build_device(shop, board_cost=20, n=1)
    conftest.sql(shop, "UPDATE label_templates SET source_text = source_text || '# x' "
                       "WHERE name = 'udi-100x50'")
    r = shop.mes("label", "print", serials[0], user="fatima")
    assert r.code == 7 and "changed after it was approved" in r.err, r
    assert not sql(shop, "SELECT count(*) FROM labels")[0][0]


def test_first_article_prints_one_then_the_rest_after_signed_approval(
        shop: Workspace) -> None:  # noqa: F811
    lot, serials = build_device(shop, board_cost=20, n=3)
    d = json.loads(shop.ok("label", "print", lot, "--first-article", "--json",
                           user="fatima").out)
    assert [r["item"] for r in d["labels"]] == serials[:1]
    job = d["first_article"]
    png = shop.path / job["preview"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # while it awaits, no other job prints its items
    before = shop.dump()
    r = shop.mes("label", "print", serials[1], user="fatima")
    assert r.code == 4 and f"approve-first {job['id']}" in r.err, r
    assert_unchanged(shop, before)
    shop.ok("label", "approve-first", str(job["id"]), user="tarik")
    items = [r[0] for r in sql(shop, "SELECT item_id FROM labels WHERE voided_at IS NULL "
                                     "ORDER BY id")]
    assert items == serials
    row = sql(shop, "SELECT status, decided_by, signature_id, preview_sha256 FROM label_jobs")[0]
    assert row[:2] == ("approved", "tarik") and row[2]
    assert row[3] == hashlib.sha256(png.read_bytes()).hexdigest()
    r = shop.mes("label", "approve-first", str(job["id"]), user="tarik")
    assert r.code == 4 and "approved, not awaiting" in r.err, r


def test_rejected_first_article_voids_its_label(shop: Workspace) -> None:  # noqa: F811
    lot, serials = build_device(shop, board_cost=20, n=2)
    job = json.loads(shop.ok("label", "print", lot, "--first-article", "--json",
                             user="fatima").out)["first_article"]
    r = shop.mes("label", "reject-first", str(job["id"]), user="fatima")
    assert r.code == 5 and "--reason" in r.err, r
    shop.ok("label", "reject-first", str(job["id"]), "--reason", "smudged", user="fatima")
    voided = sql(shop, "SELECT item_id, void_reason FROM labels WHERE voided_at IS NOT NULL")
    assert voided == [(serials[0], "first article rejected: smudged")]
    listed = json.loads(shop.ok("label", "jobs", lot, "--json", user="fatima").out)
    assert listed[0]["status"] == "rejected" and listed[0]["reason"] == "smudged"
    # the job can be printed again from the start
    d = json.loads(shop.ok("label", "print", lot, "--json", user="fatima").out)
    assert [r["item"] for r in d["labels"]] == serials


def test_list_and_segregation_of_duties(shop: Workspace, tmp_path: Path) -> None:  # noqa: F811
    listed = json.loads(shop.ok("label", "template", "list", "--json", user="fatima").out)
    assert {(r["name"], r["status"]) for r in listed} >= {("udi-100x50", "approved"),
                                                          ("udi-100x80", "approved")}
    shop.ok("label", "template", "load", _template(tmp_path, 3), user="youssef")
    before = shop.dump()
    r = shop.mes("label", "template", "approve", "udi-100x50", "--version", "3", user="youssef")
    assert r.code == 6 and "segregation of duties" in r.err, r
    gone, new = conftest.changed_rows(before, shop.dump())
    assert not gone and len(new) == 1 and "auth.denied" in new[0], new


def test_first_article_of_a_reprint_job(shop: Workspace) -> None:  # noqa: F811
    lot, serials = build_device(shop, board_cost=20, n=2)
    shop.ok("label", "print", lot, user="fatima")
    job = json.loads(shop.ok("label", "print", lot, "--reprint", "--reason", "ribbon",
                             "--first-article", "--json", user="fatima").out)["first_article"]
    shop.ok("label", "approve-first", str(job["id"]), user="tarik")
    rows = sql(shop, "SELECT item_id, reprint, reason FROM labels ORDER BY id")
    assert rows[2:] == [(serials[0], 1, "ribbon"), (serials[1], 1, "ribbon")]
