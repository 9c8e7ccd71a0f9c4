"""Part 11 §11.300 password controls (issue 13, item 6): `mes user passwd`, ageing,
history, minimum strength, admin reset forcing a change, lockouts shown to quality."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from tests import conftest
from tests.conftest import PASSWORDS, Workspace, assert_unchanged, run_cli, sql
from tests.foundation.helpers import assert_only_denied, audit_actions


def passwd(ws: Workspace, who: str, current: str, new: str, *target: str) -> conftest.Result:
    return run_cli(["--user", who, "--password-stdin", "user", "passwd", *target],
                   f"{current}\n{new}\n")


def days_after_change(ws: Workspace, who: str, clock: conftest.TestClock, days: int) -> None:
    """Move the test clock to `days` after `who` last set a password (the workspace may
    come from a template built earlier in the session)."""
    (changed,) = sql(ws, "SELECT pw_changed_at FROM users WHERE username = ?", (who,))[0]
    clock.advance(datetime.fromisoformat(changed) + timedelta(days=days) - clock.current)


def acts(ws: Workspace, who: str, password: str) -> conftest.Result:
    return run_cli(["--user", who, "--password-stdin", "whoami"], password + "\n")


def test_change_own_password(workspace: Workspace) -> None:
    r = passwd(workspace, "fatima", PASSWORDS["fatima"], "new-secret-42")
    assert r.code == 0 and "password of fatima changed" in r.out, r
    assert acts(workspace, "fatima", "new-secret-42").code == 0
    assert acts(workspace, "fatima", PASSWORDS["fatima"]).code == 6
    assert "user.passwd" in audit_actions(workspace)


def test_change_from_a_station_session(workspace: Workspace) -> None:
    workspace.ok("--password-stdin", "login", "fatima", stdin=PASSWORDS["fatima"] + "\n")
    r = workspace.mes("user", "passwd", "--password-stdin",
                      stdin=f"{PASSWORDS['fatima']}\nnew-secret-42\n")
    assert r.code == 0, r
    # the current password is asked even in a session: a wrong one is counted
    r = workspace.mes("user", "passwd", "--password-stdin", stdin="not-it-at-all\nother-pw-99\n")
    assert r.code == 6 and "wrong password" in r.err, r


def test_minimum_strength(workspace: Workspace) -> None:
    before = workspace.dump()
    for weak, why in (("short-1", "10 characters"), ("onlyletters", "digit or symbol"),
                      ("1234567890", "digit or symbol"), ("ab1ab1ab1ab1", "three different"),
                      ):
        r = passwd(workspace, "fatima", PASSWORDS["fatima"], weak)
        assert r.code == 5 and why in r.err, (weak, r)
    assert_unchanged(workspace, before)


def test_no_reuse_of_the_last_five(workspace: Workspace) -> None:
    current = PASSWORDS["fatima"]
    chain = [f"fatima-pw-{i}x" for i in range(1, 6)]
    for new in chain:
        assert passwd(workspace, "fatima", current, new).code == 0
        current = new
    before = workspace.dump()
    for old in [PASSWORDS["fatima"], *chain]:  # the current one and the five before it
        r = passwd(workspace, "fatima", current, old)
        assert r.code == 5 and "used before" in r.err, r
    assert_unchanged(workspace, before)
    assert passwd(workspace, "fatima", current, "fatima-pw-6x").code == 0
    # the original has now left the history of the last five
    assert passwd(workspace, "fatima", "fatima-pw-6x", PASSWORDS["fatima"]).code == 0


def test_password_ageing(workspace: Workspace, test_clock: conftest.TestClock) -> None:
    days_after_change(workspace, "fatima", test_clock, 89)
    assert acts(workspace, "fatima", PASSWORDS["fatima"]).code == 0
    test_clock.advance(timedelta(days=2))
    before = workspace.dump()
    r = acts(workspace, "fatima", PASSWORDS["fatima"])
    assert r.code == 6 and "older than 90 days" in r.err and "mes user passwd" in r.err, r
    assert_only_denied(workspace, before)
    assert passwd(workspace, "fatima", PASSWORDS["fatima"], "fresh-secret-7").code == 0
    assert acts(workspace, "fatima", "fresh-secret-7").code == 0


def test_ageing_is_a_setting(workspace: Workspace, test_clock: conftest.TestClock) -> None:
    workspace.ok("config", "set", "password.max_age_days", "30", user="amina")
    days_after_change(workspace, "youssef", test_clock, 31)
    r = acts(workspace, "youssef", PASSWORDS["youssef"])
    assert r.code == 6 and "older than 30 days" in r.err, r


def test_admin_reset_forces_a_change_at_next_login(workspace: Workspace) -> None:
    r = passwd(workspace, "amina", PASSWORDS["amina"], "temporary-77", "fatima")
    assert r.code == 0 and "must change it" in r.out, r
    before = workspace.dump()
    r = acts(workspace, "fatima", "temporary-77")
    assert r.code == 6 and "reset by an admin" in r.err, r
    assert_only_denied(workspace, before)
    r = workspace.mes("--password-stdin", "login", "fatima", stdin="temporary-77\n")
    assert r.code == 6 and not (workspace.path / ".mes-session").exists(), r
    assert passwd(workspace, "fatima", "temporary-77", "her-own-pw-8").code == 0
    assert acts(workspace, "fatima", "her-own-pw-8").code == 0
    actions = audit_actions(workspace)
    assert actions.count("user.reset_password") == 1 and actions[-1] == "user.passwd"


def test_only_an_admin_resets_another_users_password(workspace: Workspace) -> None:
    before = workspace.dump()
    r = passwd(workspace, "youssef", PASSWORDS["youssef"], "temporary-77", "fatima")
    assert r.code == 6 and "may not reset passwords" in r.err, r
    assert_only_denied(workspace, before)
    assert passwd(workspace, "amina", PASSWORDS["amina"], "temporary-77", "nobody").code == 3


def test_lockouts_are_shown_to_quality(workspace: Workspace) -> None:
    for i in range(5):
        acts(workspace, "fatima", f"wrong-{i}-password")
    alerts = json.loads(workspace.ok("audit", "alerts", "--json", user="youssef").out)
    assert [(a["kind"], a["subject"], a["open"]) for a in alerts] == [
        ("lockout", "fatima", True)]
    workspace.ok("user", "unlock", "fatima", user="amina")
    assert json.loads(workspace.ok("audit", "alerts", "--open", "--json",
                                   user="amina").out) == []
    human = workspace.ok("audit", "alerts", user="youssef").out
    assert "lockout" in human and "fatima" in human
    assert workspace.mes("audit", "alerts", user="tarik").code == 6
