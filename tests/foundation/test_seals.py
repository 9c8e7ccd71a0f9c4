"""Seals of the chain head outside the database (issue 13 item 2)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from mes.store.schema import SQLITE_AUDIT_GUARDS
from tests.conftest import Workspace, sql


def journal(ws: Workspace) -> list[dict]:
    path = ws.path / "seals" / "journal.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def _delete_last_event(ws: Workspace) -> None:
    """What someone with the database file can do: cut the tail, put the triggers back."""
    sql(ws, "DROP TRIGGER audit_no_delete")
    sql(ws, "DELETE FROM audit WHERE seq = (SELECT max(seq) FROM audit)")
    sql(ws, SQLITE_AUDIT_GUARDS[1])


def test_signatures_seal_the_head_with_a_key_outside_the_database(plant: Workspace) -> None:
    seals = journal(plant)
    assert seals and {s["reason"] for s in seals} == {"signature"}  # routing approvals
    signatures = sql(plant, "SELECT seq FROM audit WHERE action = 'signature'")
    assert {s["seq"] for s in seals} == {seq for (seq,) in signatures}
    key = plant.path / "seals" / "site-key.pem"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(key.parent.stat().st_mode) == 0o700
    assert not sql(plant, "SELECT 1 FROM meta WHERE value LIKE '%PRIVATE KEY%'")
    out = json.loads(plant.ok("audit", "verify", "--json").out)
    assert out["seals"]["seals"] == len(seals)
    assert out["seals"]["newest"]["seq"] == max(s["seq"] for s in seals)


def test_every_n_events_and_by_command(plant: Workspace) -> None:
    plant.ok("config", "set", "seal.every", "3", user="amina")
    before = len(journal(plant))
    for _ in range(3):
        plant.ok("lot", "create", "PCBA-OXI-100", "--qty", 1, user="fatima")
    assert any(s["reason"] == "every 3 events" for s in journal(plant)[before:])
    r = plant.ok("audit", "seal")
    head = json.loads(plant.ok("audit", "verify", "--json").out)["head_seq"]
    assert journal(plant)[-1]["seq"] == head and journal(plant)[-1]["reason"] == "manual"
    assert f"sealed event {head}" in r.out


def test_deleted_tail_is_caught_by_the_newest_seal(plant: Workspace) -> None:
    plant.ok("lot", "create", "PCBA-OXI-100", "--qty", 1, user="fatima")
    plant.ok("audit", "seal")
    _delete_last_event(plant)
    r = plant.mes("audit", "verify")
    assert r.code == 7 and "its tail was deleted" in r.err, r


def test_forged_or_edited_seal_is_refused(plant: Workspace) -> None:
    path = plant.path / "seals" / "journal.jsonl"
    lines = path.read_text().splitlines()
    forged = {**json.loads(lines[-1]), "seq": 1}
    path.write_text("\n".join([*lines, json.dumps(forged)]) + "\n")
    r = plant.mes("audit", "verify")
    assert r.code == 7 and "not signed by the site key" in r.err, r


def test_mirror_keeps_what_the_workspace_journal_lost(plant: Workspace, tmp_path: Path
                                                      ) -> None:
    share = tmp_path / "share"
    plant.ok("config", "set", "seal.mirror", str(share), user="amina")
    plant.ok("lot", "create", "PCBA-OXI-100", "--qty", 1, user="fatima")
    plant.ok("audit", "seal")
    assert (share / "journal.jsonl").read_text().splitlines()[-1] == \
        (plant.path / "seals" / "journal.jsonl").read_text().splitlines()[-1]
    # Someone with the workspace cuts the tail and the last seal of the workspace journal.
    _delete_last_event(plant)
    path = plant.path / "seals" / "journal.jsonl"
    path.write_text("".join(line + "\n" for line in path.read_text().splitlines()[:-1]))
    r = plant.mes("audit", "verify")
    assert r.code == 7 and "is in " in r.err and "workspace journal was cut" in r.err, r


def test_no_journal_is_a_note_not_a_pass_in_silence(plant: Workspace) -> None:
    (plant.path / "seals" / "journal.jsonl").unlink()
    r = plant.ok("audit", "verify")
    assert "no seal journal" in r.err


def test_the_dhr_carries_the_seal_it_relies_on(plant: Workspace) -> None:
    lot = json.loads(plant.ok("lot", "create", "PCBA-OXI-100", "--qty", 1, "--json",
                              user="fatima").out)["lot"]
    dhr = json.loads(plant.ok("dhr", lot, "--json", user="youssef").out)
    seal = dhr["seal"]
    assert (seal["seq"], seal["hash"]) == (dhr["chain_head"]["seq"], dhr["chain_head"]["hash"])
    assert journal(plant)[-1]["sig"] == seal["sig"]
    written = json.loads((plant.path / "lots" / lot / "dhr.json").read_text())
    assert written["seal"] == seal
