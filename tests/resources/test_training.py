"""Work instructions and training (issue 18, part 4): controlled documents per operation,
training records, the op refusing an operator whose training is not current, the FDA's two
questions, the DHR."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from datetime import timedelta
from pathlib import Path

from tests.conftest import PASSWORDS, Workspace, assert_unchanged, sql
from tests.foundation.helpers import PCBA, complete_args, load_paste, new_lot

DOC = "WI-SMT-PRINT"


def wi_file(ws: Workspace, rev: str, text: str | None = None) -> Path:
    path = ws.path / "wi-sources" / f"{DOC}-{rev}.txt"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text or f"{DOC} rev {rev}: paste printing, stencil check first\n")
    return path


def load(ws: Workspace, rev: str, *ops: str, user: str = "tarik"):
    return ws.mes("wi", "load", DOC, "--file", wi_file(ws, rev), "--revision", rev,
                  *[a for op in (ops or (f"{PCBA}:10",)) for a in ("--op", op)], user=user)


def in_force(ws: Workspace, rev: str) -> None:
    r = load(ws, rev)
    assert r.code == 0, r
    ws.ok("wi", "approve", DOC, "--revision", rev, user="youssef")


def print_step(ws: Workspace, user: str = "fatima"):
    _lot, (sn, _) = new_lot(ws)
    return sn, ws.mes(*complete_args(ws, sn, 10), user=user)


def auth_denied(ws: Workspace) -> int:
    return sql(ws, "SELECT count(*) FROM audit WHERE action = 'auth.denied'")[0][0]


def test_a_revision_is_a_controlled_copy_approved_by_signature(plant: Workspace) -> None:
    r = load(plant, "A")
    assert r.code == 0, r
    assert f"work instruction {DOC} rev A: draft" in r.out and f"{PCBA}:10" in r.out
    shown = json.loads(plant.ok("wi", "show", DOC, "--json").out)
    assert shown["status"] == "draft" and shown["ops"] == [f"{PCBA}:10"]
    copy = Path(shown["file"])
    data = wi_file(plant, "A").read_bytes()
    assert copy.parent == plant.path / "instructions" and copy.read_bytes() == data
    assert shown["sha256"] == hashlib.sha256(data).hexdigest() and shown["file_ok"]
    assert not os.stat(copy).st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    # a draft is not in force: the op runs without it
    load_paste(plant)
    sn, r = print_step(plant)
    assert r.code == 0, r
    assert sql(plant, "SELECT instruction_doc FROM steps WHERE serial = ?", (sn,)) == [(None,)]
    # approval: quality only, signed
    r = plant.mes("wi", "approve", DOC, "--revision", "A", user="tarik")
    assert r.code == 6 and "approve work instructions" in r.err, r
    out = plant.ok("wi", "approve", DOC, "--revision", "A", user="youssef").out
    assert "approved by Youssef Benali" in out
    shown = json.loads(plant.ok("wi", "show", DOC, "--json").out)
    assert shown["status"] == "approved" and shown["approved_by"] == "youssef"
    assert [s["meaning"] for s in shown["signatures"]] == ["approved"]
    r = plant.mes("wi", "approve", DOC, "--revision", "A", user="youssef")
    assert r.code == 4 and "not a draft" in r.err
    plant.ok("audit", "verify", "--files", "--reconcile")


def test_segregation_of_duties_the_author_may_not_approve(plant: Workspace) -> None:
    assert load(plant, "A", user="youssef").code == 0
    denied = auth_denied(plant)
    r = plant.mes("wi", "approve", DOC, "--revision", "A", user="youssef")
    assert r.code == 6 and "segregation of duties" in r.err, r
    assert auth_denied(plant) == denied + 1
    assert sql(plant, "SELECT status FROM instructions WHERE doc_id = ?", (DOC,)) == [
        ("draft",)]


def test_an_untrained_operator_is_refused_at_the_op_and_nothing_changes(plant: Workspace
                                                                         ) -> None:
    in_force(plant, "A")
    load_paste(plant)
    _lot, (sn, _) = new_lot(plant)
    before = plant.dump()
    r = plant.mes(*complete_args(plant, sn, 10), user="fatima")
    assert r.code == 4, r
    assert f"{DOC} rev A" in r.err and "fatima has no training" in r.err
    assert f"mes training record fatima {DOC} --revision A" in r.err
    assert r.err.startswith("mes: ") and len(r.err.strip().splitlines()) == 1
    assert_unchanged(plant, before)
    r = plant.mes("step", "start", sn, "--op", 10, "--station", "PRN-1", user="fatima")
    assert r.code == 4 and "no training" in r.err
    assert_unchanged(plant, before)
    out = plant.ok("training", "record", "fatima", DOC, "--revision", "A", user="youssef").out
    assert "fatima on WI-SMT-PRINT rev A (signed by Youssef Benali)" in out
    plant.ok(*complete_args(plant, sn, 10), user="fatima")
    assert sql(plant, "SELECT instruction_doc, instruction_rev, username FROM steps WHERE "
               "serial = ?", (sn,)) == [(DOC, "A", "fatima")]
    assert sql(plant, "SELECT s.meaning, s.username FROM signatures s JOIN trainings t ON "
               "t.signature_id = s.id WHERE t.doc_id = ?", (DOC,)) == [("trained", "youssef")]


def test_a_new_revision_makes_training_stale_with_a_configurable_grace(
        plant: Workspace, test_clock) -> None:
    in_force(plant, "A")
    plant.ok("training", "record", "fatima", DOC, "--revision", "A", user="youssef")
    load_paste(plant)
    assert print_step(plant)[1].code == 0
    in_force(plant, "B")
    assert json.loads(plant.ok("wi", "show", DOC, "--revision", "A", "--json").out)[
        "status"] == "superseded"
    _lot, (sn, _) = new_lot(plant)
    before = plant.dump()
    r = plant.mes(*complete_args(plant, sn, 10), user="fatima")
    assert r.code == 4 and f"follows {DOC} rev B" in r.err and "rev A only" in r.err, r
    assert "--revision B" in r.err
    assert_unchanged(plant, before)
    plant.ok("config", "set", "training.grace_days", "7", user="amina")
    r = plant.ok(*complete_args(plant, sn, 10), user="fatima")
    assert "not yet on rev B: retrain before" in r.err
    assert sql(plant, "SELECT instruction_rev FROM steps WHERE serial = ?", (sn,)) == [("B",)]
    test_clock.advance(timedelta(days=8))  # the grace is over
    _lot, (sn2, _) = new_lot(plant)
    r = plant.mes(*complete_args(plant, sn2, 10), user="fatima")
    assert r.code == 4 and "no longer current" in r.err, r
    # training on a superseded revision is refused; on the current one it is current again
    r = plant.mes("training", "record", "tarik", DOC, "--revision", "A", user="youssef")
    assert r.code == 4 and "superseded by rev B" in r.err
    plant.ok("training", "record", "fatima", DOC, "--revision", "B", user="youssef")
    plant.ok(*complete_args(plant, sn2, 10), user="fatima")


def test_training_refusals_change_nothing(plant: Workspace) -> None:
    in_force(plant, "A")
    plant.ok("training", "record", "fatima", DOC, "--revision", "A", user="youssef")
    for args, user, code, words in [
        (["fatima", DOC, "--revision", "A"], "fatima", 6, "may not record training"),
        (["tarik", DOC, "--revision", "A"], "tarik", 6, "their own training"),
        (["nobody", DOC, "--revision", "A"], "youssef", 3, "no user nobody"),
        (["tarik", DOC, "--revision", "Z"], "youssef", 3, "its revisions are A"),
        (["tarik", "WI-NONE", "--revision", "A"], "youssef", 3, "no work instruction"),
        (["tarik", DOC, "--revision", "a b"], "youssef", 5, "--revision"),
        (["fatima", DOC, "--revision", "A"], "youssef", 4, "already trained"),
    ]:
        before, denied = plant.dump(), auth_denied(plant)
        r = plant.mes("training", "record", *args, user=user)
        assert r.code == code and words in r.err, (args, r)
        assert "Traceback" not in r.err
        if code == 6:
            assert auth_denied(plant) == denied + 1
        else:
            assert_unchanged(plant, before)


def test_load_refusals_change_nothing(plant: Workspace) -> None:
    in_force(plant, "A")
    empty = plant.path / "empty.txt"
    empty.write_text("")
    for args, user, code, words in [
        ([DOC, "--file", wi_file(plant, "C"), "--revision", "C", "--op", "PCBA-OXI-100"],
         "tarik", 5, "PART:OP"),
        ([DOC, "--file", wi_file(plant, "C"), "--revision", "C", "--op", "NOPE-1:10"],
         "tarik", 3, "no routing for NOPE-1"),
        ([DOC, "--file", wi_file(plant, "C"), "--revision", "C", "--op", f"{PCBA}:15"],
         "tarik", 3, "has op 15"),
        ([DOC, "--file", wi_file(plant, "C"), "--revision", "A", "--op", f"{PCBA}:10"],
         "tarik", 4, "already loaded"),
        (["WI-OTHER", "--file", wi_file(plant, "C"), "--revision", "A", "--op", f"{PCBA}:10"],
         "tarik", 4, f"already follows {DOC} rev A"),
        ([DOC, "--file", plant.path / "missing.txt", "--revision", "C", "--op", f"{PCBA}:10"],
         "tarik", 3, "no such file"),
        ([DOC, "--file", empty, "--revision", "C", "--op", f"{PCBA}:10"], "tarik", 5, "empty"),
        ([DOC, "--file", wi_file(plant, "C"), "--revision", "C", "--op", f"{PCBA}:10"],
         "fatima", 6, "load work instructions"),
    ]:
        before, denied = plant.dump(), auth_denied(plant)
        r = plant.mes("wi", "load", *args, user=user)
        assert r.code == code and words in r.err, (args, r)
        if code == 6:
            assert auth_denied(plant) == denied + 1
        else:
            assert_unchanged(plant, before)
    # no refused load left a copy behind
    assert len(list((plant.path / "instructions").glob(f"{DOC}-*"))) == 1


def test_the_fda_questions_one_command_each(plant: Workspace) -> None:
    in_force(plant, "A")
    plant.ok("training", "record", "fatima", DOC, "--revision", "A", user="youssef")
    plant.ok("training", "record", "tarik", DOC, "--revision", "A", user="youssef")
    load_paste(plant)
    sn_a, _ = print_step(plant, "fatima")
    in_force(plant, "B")
    plant.ok("training", "record", "tarik", DOC, "--revision", "B", user="youssef")
    sn_b, _ = print_step(plant, "tarik")
    trained = json.loads(plant.ok("training", "list", DOC, "--json").out)
    assert [(t["user"], t["revision"], t["revision_status"], t["trainer"]) for t in trained] == [
        ("fatima", "A", "superseded", "Youssef Benali"),
        ("tarik", "A", "superseded", "Youssef Benali"),
        ("tarik", "B", "approved", "Youssef Benali")]
    built = json.loads(plant.ok("wi", "units", DOC, "--json").out)
    assert [(b["item"], b["revision"], b["user"], b["op"]) for b in built] == [
        (sn_a, "A", "fatima", 10), (sn_b, "B", "tarik", 10)]
    only_b = json.loads(plant.ok("wi", "units", DOC, "--revision", "B", "--json").out)
    assert [b["item"] for b in only_b] == [sn_b]
    csv_ = plant.ok("wi", "units", DOC, "--csv").out.splitlines()
    assert csv_[0].startswith("revision,item,lot") and len(csv_) == 3
    assert plant.mes("wi", "units", "WI-NONE").code == 3
    assert plant.mes("training", "list", "WI-NONE").code == 3


def test_the_dhr_lists_the_revisions_in_force(plant: Workspace) -> None:
    in_force(plant, "A")
    plant.ok("training", "record", "fatima", DOC, "--revision", "A", user="youssef")
    load_paste(plant)
    lot, (sn, sn2) = new_lot(plant)
    plant.ok(*complete_args(plant, sn, 10), user="fatima")
    in_force(plant, "B")
    plant.ok("training", "record", "fatima", DOC, "--revision", "B", user="youssef")
    plant.ok(*complete_args(plant, sn2, 10), user="fatima")
    d = json.loads(plant.ok("dhr", lot, "--json", user="youssef").out)
    rows = [(x["op"], x["document"], x["revision"], x["steps"], x["operators"])
            for x in d["instructions"]]
    assert rows == [(10, DOC, "A", 1, ["Fatima Zahra Alaoui"]),
                    (10, DOC, "B", 1, ["Fatima Zahra Alaoui"])]
    assert all(x["approved_by"] == "Youssef Benali" and len(x["sha256"]) == 64
               for x in d["instructions"])
    assert {s["serial"]: s["instruction"] for s in d["steps"]} == {
        sn: f"{DOC} rev A", sn2: f"{DOC} rev B"}
    import pypdf

    plant.ok("dhr", lot, user="youssef")
    reader = pypdf.PdfReader(plant.path / "lots" / lot / "dhr.pdf")
    text = " ".join(p.extract_text() for p in reader.pages)
    assert "Work instructions" in text and DOC in text, text


def test_the_test_plant_has_instructions_in_force_and_trained_operators(plant: Workspace
                                                                         ) -> None:
    listed = json.loads(plant.ok("wi", "list", "--json").out)
    assert {(w["doc_id"], w["revision"], w["status"], tuple(w["ops"])) for w in listed} == {
        ("WI-SMT-PNP", "A", "approved", (f"{PCBA}:30",)),
        ("WI-ASM-OXI", "A", "approved", ("DEV-OXI-100:10",))}
    assert {t["user"] for t in json.loads(plant.ok("training", "list", "WI-SMT-PNP",
                                                   "--json").out)} == {"fatima", "tarik"}


def test_the_station_loop_shows_the_instruction_and_refuses_the_untrained(plant: Workspace
                                                                          ) -> None:
    in_force(plant, "A")
    load_paste(plant)
    _lot, (sn, _) = new_lot(plant)
    plant.ok("login", "fatima", "--station", "PRN-1", "--password-stdin",
             stdin=PASSWORDS["fatima"] + "\n")
    r = plant.mes("station", "run", "PRN-1", stdin=f"{sn}\n")
    assert "REFUSED (refused)" in r.out and "no training on WI-SMT-PRINT" in r.out, r
    plant.ok("training", "record", "fatima", DOC, "--revision", "A", user="youssef")
    r = plant.mes("station", "run", "PRN-1", stdin=f"{sn}\nOP:10\nWI\n")
    assert f"op 10 Solder paste print; instruction {DOC} rev A" in r.out, r
    assert f"OK op 10; instruction {DOC} rev A" in r.out, r
    copy = next((plant.path / "instructions").glob(f"{DOC}-A-*"))
    assert f"OK {DOC} rev A (" in r.out and f"{copy} (sha256" in r.out, r
    copy.chmod(0o644)
    copy.write_text("edited\n")
    r = plant.mes("station", "run", "PRN-1", stdin=f"{sn}\nWI\n")
    assert "no longer matches its sha256" in r.out, r


def test_the_grace_covers_only_the_revision_just_replaced(plant: Workspace) -> None:
    plant.ok("config", "set", "training.grace_days", "30", user="amina")
    in_force(plant, "A")
    plant.ok("training", "record", "fatima", DOC, "--revision", "A", user="youssef")
    load_paste(plant)
    in_force(plant, "B")
    assert print_step(plant)[1].code == 0  # trained on A, B just approved: in grace
    in_force(plant, "C")
    sn, r = print_step(plant)
    assert r.code == 4 and "rev A only, which is no longer current" in r.err, r
    assert sql(plant, "SELECT count(*) FROM steps WHERE serial = ?", (sn,)) == [(0,)]
