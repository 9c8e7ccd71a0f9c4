"""Users, roles, qualifications, lock-out, station sessions."""

from __future__ import annotations

import json
from datetime import timedelta

from mes import clock
from tests.conftest import PASSWORDS, Workspace
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
    assert out[0] == "username,full_name,role,active,locked,qualifications"
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
