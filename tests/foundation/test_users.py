"""Users, roles, qualifications, lock-out, station sessions."""

from __future__ import annotations

import json
from datetime import timedelta

from mes import clock
from tests.conftest import PASSWORDS, Workspace
from tests.conftest import TestClock as Clock
from tests.foundation.helpers import assert_only_denied, audit_actions, sql


def users(ws: Workspace) -> dict[str, dict]:
    return {u["username"]: u for u in json.loads(ws.ok("user", "list", "--json",
                                                       user="amina").out)}


def test_add_users_with_roles(workspace: Workspace) -> None:
    u = users(workspace)
    assert {k: v["role"] for k, v in u.items()} == {
        "amina": "admin", "fatima": "operator", "youssef": "quality", "tarik": "technician"}
    assert u["youssef"]["full_name"] == "Youssef Benali"
    assert not u["fatima"]["locked"] and u["fatima"]["active"]
    assert audit_actions(workspace).count("user.add") == 4


def test_user_list_csv(workspace: Workspace) -> None:
    out = workspace.ok("user", "list", "--csv", user="amina").out.splitlines()
    assert out[0] == "username,full_name,role,active,locked,qualifications,sites"
    assert any(line.startswith("fatima,Fatima Zahra Alaoui,operator,") for line in out)


def test_only_admin_adds_users(workspace: Workspace) -> None:
    before = workspace.dump()
    r = workspace.mes("user", "add", "omar", "--role", "operator", "--name", "Omar",
                      "--password-stdin", user="youssef", stdin="omar-pass-1\n")
    assert r.code == 6, r
    assert r.err.startswith("mes: ") and "admin" in r.err
    assert_only_denied(workspace, before)


def test_user_names_never_reused(workspace: Workspace) -> None:
    before = workspace.dump()
    r = workspace.mes("user", "add", "fatima", "--role", "quality", "--name", "Another Fatima",
                      "--password-stdin", user="amina", stdin="other-pass-1\n")
    assert r.code == 4, r
    assert "never reused" in r.err
    assert workspace.dump() == before


def test_bad_user_fields(workspace: Workspace) -> None:
    before = workspace.dump()
    cases = [
        (["Omar", "--role", "operator", "--name", "Omar"], "omar-pass-1", "user name"),
        (["omar", "--role", "boss", "--name", "Omar"], "omar-pass-1", "role"),
        (["omar", "--role", "operator", "--name", " "], "omar-pass-1", "full name"),
        (["omar", "--role", "operator", "--name", "Omar"], "short", "10 characters"),
    ]
    for args, pw, words in cases:
        r = workspace.mes("user", "add", *args, "--password-stdin", user="amina",
                          stdin=pw + "\n")
        assert r.code == 5, r
        assert r.err.startswith("mes: ") and words in r.err
    assert workspace.dump() == before


def test_qualify(workspace: Workspace) -> None:
    workspace.ok("user", "qualify", "fatima", "smt-pnp", "--until", "2030-01-31",
                 user="youssef")
    assert users(workspace)["fatima"]["qualifications"] == {"smt-pnp": "2030-01-31"}
    assert workspace.mes("user", "qualify", "nobody", "smt-pnp", "--until", "2030-01-31",
                         user="youssef").code == 3
    assert workspace.mes("user", "qualify", "fatima", "smt-pnp", "--until", "31/01/2030",
                         user="youssef").code == 5
    before = workspace.dump()
    r = workspace.mes("user", "qualify", "fatima", "aoi", "--until", "2030-01-31",
                      user="tarik")
    assert r.code == 6, r
    assert_only_denied(workspace, before)


def test_latest_grant_is_in_force(plant: Workspace, test_clock: Clock) -> None:
    """A re-grant with an earlier end date shortens the qualification (issue 11)."""
    plant.ok("user", "add", "omar", "--role", "operator", "--name", "Omar Tazi",
             "--password-stdin", user="amina", stdin="omar-pass-1\n")
    plant.ok("user", "qualify", "omar", "smt-printer", "--until", "2099-12-31", user="youssef")
    plant.ok("user", "qualify", "omar", "smt-printer", "--until", "2026-11-02", user="youssef")
    assert users(plant)["omar"]["qualifications"] == {"smt-printer": "2026-11-02"}
    plant.ok("step", "start", _unit(plant), "--op", 10, "--station", "PRN-1", user="omar")
    test_clock.advance(timedelta(days=1))
    sn = _unit(plant)
    before = plant.dump()
    r = plant.mes("step", "start", sn, "--op", 10, "--station", "PRN-1", user="omar")
    assert r.code == 6 and "expired on 2026-11-02" in r.err, r
    assert_only_denied(plant, before)


def _unit(ws: Workspace) -> str:
    return str(json.loads(ws.ok("lot", "create", "PCBA-OXI-100", "--qty", 1, "--json",
                                user="fatima").out)["serials"][0])


def test_unqualify(plant: Workspace) -> None:
    plant.ok("user", "add", "omar", "--role", "operator", "--name", "Omar Tazi",
             "--password-stdin", user="amina", stdin="omar-pass-1\n")
    plant.ok("user", "qualify", "omar", "smt-printer", "--until", "2099-12-31", user="youssef")
    sn = _unit(plant)
    # only quality revokes; a reason is required
    before = plant.dump()
    r = plant.mes("user", "unqualify", "omar", "smt-printer", "--reason", "x", user="amina")
    assert r.code == 6, r
    assert_only_denied(plant, before)
    before = plant.dump()
    r = plant.mes("user", "unqualify", "omar", "smt-printer", "--reason", " ", user="youssef")
    assert r.code == 5 and r.err.startswith("mes: ") and "--reason" in r.err, r
    assert plant.dump() == before
    r = plant.mes("user", "unqualify", "omar", "aoi", "--reason", "x", user="youssef")
    assert r.code == 4 and "no qualification in force for aoi" in r.err, r
    assert plant.dump() == before

    plant.ok("user", "unqualify", "omar", "smt-printer", "--reason", "failed audit 11/26",
             user="youssef")
    event = sql(plant, "SELECT action, username, entity_id, reason FROM audit "
                       "ORDER BY seq DESC LIMIT 1")[0]
    assert event == ("user.unqualify", "youssef", "omar", "failed audit 11/26")
    assert users(plant)["omar"]["qualifications"] == {}
    before = plant.dump()
    r = plant.mes("step", "start", sn, "--op", 10, "--station", "PRN-1", user="omar")
    assert r.code == 6 and "revoked on 2026-11-02 (failed audit 11/26)" in r.err, r
    assert_only_denied(plant, before)
    # requalifying is a new grant, which is then the one in force
    plant.ok("user", "qualify", "omar", "smt-printer", "--until", "2027-03-31", user="youssef")
    plant.ok("step", "start", sn, "--op", 10, "--station", "PRN-1", user="omar")


def test_past_dates_refused(plant: Workspace) -> None:
    """A qualification or calibration that would already be over is refused, unchanged."""
    before = plant.dump()
    for args, option in (
            (["user", "qualify", "fatima", "aoi", "--until", "2026-11-01"], "--until"),
            (["station", "update", "PRN-1", "--calibration-due", "2026-11-01"],
             "--calibration-due"),
            (["station", "add", "PRN-9", "--type", "smt-printer", "--calibration-due",
              "2025-01-31"], "--calibration-due")):
        r = plant.mes(*args, user="youssef" if args[0] == "user" else "tarik")
        assert r.code == 5, r
        assert r.err.startswith(f"mes: {option} ") and "already past" in r.err, r
        assert len(r.err.strip().splitlines()) == 1
    assert plant.dump() == before
    plant.ok("user", "qualify", "fatima", "aoi", "--until", "2026-11-02", user="youssef")
    plant.ok("station", "update", "PRN-1", "--calibration-due", "2026-11-02", user="tarik")


def test_wrong_password_with_user_option(workspace: Workspace) -> None:
    r = workspace.mes("--user", "fatima", "--password-stdin", "whoami", stdin="nope-nope\n")
    assert r.code == 6, r
    assert r.err.startswith("mes: ") and "wrong password" in r.err and "4 attempts left" in r.err
    assert audit_actions(workspace)[-1] == "user.login_failed"


def test_unknown_user_refused_and_audited(workspace: Workspace) -> None:
    r = workspace.mes("--user", "ghost", "--password-stdin", "whoami", stdin="whatever-1\n")
    assert r.code == 6, r
    assert audit_actions(workspace)[-1] == "auth.denied"


def test_lock_out_after_five_wrong_passwords(workspace: Workspace) -> None:
    for i in range(5):
        r = workspace.mes("--user", "fatima", "--password-stdin", "whoami",
                          stdin=f"wrong-{i}-pass\n")
        assert r.code == 6, r
    assert "now locked" in r.err
    assert audit_actions(workspace)[-5:] == ["user.login_failed"] * 5
    assert sql(workspace, "SELECT locked, failed_logins FROM users WHERE username='fatima'") \
        == [(1, 5)]
    log = json.loads(workspace.ok("audit", "log", "--entity", "fatima", "--json").out)
    assert log[-1]["new"] == {"failed_logins": 5, "locked": True}
    # The right password is refused too until an admin unlocks the account.
    r = workspace.mes("whoami", user="fatima")
    assert r.code == 6 and "locked" in r.err, r
    assert audit_actions(workspace)[-1] == "auth.denied"
    assert workspace.mes("user", "unlock", "fatima", user="youssef").code == 6
    workspace.ok("user", "unlock", "fatima", user="amina")
    assert audit_actions(workspace)[-1] == "user.unlock"
    assert "Fatima Zahra Alaoui" in workspace.ok("whoami", user="fatima").out
    assert not users(workspace)["fatima"]["locked"]


def test_good_password_resets_failure_count(workspace: Workspace) -> None:
    for i in range(4):
        workspace.mes("--user", "fatima", "--password-stdin", "whoami", stdin=f"bad-{i}-pass\n")
    workspace.ok("whoami", user="fatima")
    for i in range(4):
        workspace.mes("--user", "fatima", "--password-stdin", "whoami", stdin=f"bad-{i}-pass\n")
    assert workspace.ok("whoami", user="fatima").code == 0


def test_unlock_unknown_user(workspace: Workspace) -> None:
    assert workspace.mes("user", "unlock", "ghost", user="amina").code == 3


def test_login_whoami_logout(workspace: Workspace) -> None:
    assert workspace.mes("whoami").code == 6
    r = workspace.ok("--password-stdin", "login", "fatima", stdin=PASSWORDS["fatima"] + "\n")
    assert "logged in: Fatima Zahra Alaoui (operator)" in r.out
    session = workspace.path / ".mes-session"
    assert session.exists() and oct(session.stat().st_mode)[-3:] == "600"
    me = json.loads(workspace.ok("whoami", "--json").out)
    assert me["username"] == "fatima" and me["role"] == "operator"
    assert "logged out fatima" in workspace.ok("logout").out
    assert not session.exists()
    r = workspace.mes("whoami")
    assert r.code == 6 and "not logged in" in r.err
    assert "no session" in workspace.ok("logout").out
    actions = audit_actions(workspace)
    assert actions[-2:] == ["user.login", "user.logout"]


def test_login_at_station(workspace: Workspace) -> None:
    workspace.ok("station", "add", "PNP-1", "--type", "smt-pnp", user="tarik")
    workspace.ok("--password-stdin", "login", "fatima", "--station", "PNP-1",
                 stdin=PASSWORDS["fatima"] + "\n")
    assert json.loads(workspace.ok("whoami", "--json").out)["station"] == "PNP-1"
    r = workspace.mes("--password-stdin", "login", "fatima", "--station", "NOPE-9",
                      stdin=PASSWORDS["fatima"] + "\n")
    assert r.code == 3


def test_login_wrong_password(workspace: Workspace) -> None:
    r = workspace.mes("--password-stdin", "login", "fatima", stdin="wrong-pass-1\n")
    assert r.code == 6, r
    assert not (workspace.path / ".mes-session").exists()


def test_ended_session_refused(workspace: Workspace) -> None:
    workspace.ok("--password-stdin", "login", "fatima", stdin=PASSWORDS["fatima"] + "\n")
    token = (workspace.path / ".mes-session").read_text()
    workspace.ok("logout")
    (workspace.path / ".mes-session").write_text(token)
    r = workspace.mes("whoami")
    assert r.code == 6 and "ended" in r.err


def test_session_expires_after_eight_hours(workspace: Workspace) -> None:
    # the longest idle timeout allowed, so that only the 8 h bound is tested here
    workspace.ok("config", "set", "session.idle_minutes", "480", user="amina")
    workspace.ok("--password-stdin", "login", "fatima", stdin=PASSWORDS["fatima"] + "\n")
    later = clock.now() + timedelta(hours=7, minutes=59)
    with clock.use_clock(lambda: later):
        assert workspace.ok("whoami").code == 0
    much_later = clock.now() + timedelta(hours=9)
    with clock.use_clock(lambda: much_later):
        r = workspace.mes("whoami")
        assert r.code == 6, r
        assert "expired" in r.err


def test_session_user_locked_meanwhile(workspace: Workspace) -> None:
    workspace.ok("--password-stdin", "login", "fatima", stdin=PASSWORDS["fatima"] + "\n")
    for i in range(5):
        workspace.mes("--user", "fatima", "--password-stdin", "whoami", stdin=f"bad-{i}-pass\n")
    r = workspace.mes("whoami")
    assert r.code == 6 and "can no longer act" in r.err
