"""Append-only is checked (issue 13 item 3): mes notices the audit table's protection gone,
refuses to write until an admin restores it (audited), on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest

from tests.conftest import Workspace, assert_unchanged, sql


def drop_protection(ws: Workspace) -> None:
    if ws.db_url:
        import psycopg

        with psycopg.connect(ws.db_url, autocommit=True) as con:
            con.execute("ALTER TABLE audit DISABLE TRIGGER audit_no_change")
    else:
        sql(ws, "DROP TRIGGER audit_no_delete")


@pytest.mark.parametrize("workspace", ["sqlite", "postgres"], indirect=True)
def test_writes_refused_until_an_admin_restores_protection(workspace: Workspace) -> None:
    ws = workspace
    drop_protection(ws)
    r = ws.mes("audit", "verify")
    assert r.code == 7 and "no longer append-only" in r.err, r
    assert ("audit_no_change is disabled" if ws.db_url else "audit_no_delete is missing") \
        in r.err
    before = ws.dump()
    r = ws.mes("user", "add", "omar", "--role", "operator", "--name", "Omar",
               "--password-stdin", user="amina", stdin="omar-pass-1\n")
    assert r.code == 7 and "mes db protect" in r.err, r
    assert_unchanged(ws, before)
    # Not an admin: refused, and the refusal is audited.
    r = ws.mes("db", "protect", user="youssef")
    assert r.code == 6, r
    r = ws.ok("db", "protect", user="amina")
    assert "restored" in r.out
    events = json.loads(ws.ok("audit", "log", "--json").out)
    assert events[-1]["action"] == "db.protect" and events[-1]["username"] == "amina"
    assert events[-2]["action"] == "auth.denied"
    ws.ok("audit", "verify", "--reconcile")
    ws.ok("user", "add", "omar", "--role", "operator", "--name", "Omar", "--password-stdin",
          user="amina", stdin="omar-pass-1\n")
    assert "nothing to restore" in ws.ok("db", "protect", user="amina").out


def test_a_trigger_replaced_by_a_harmless_one_is_noticed(workspace: Workspace) -> None:
    sql(workspace, "DROP TRIGGER audit_no_update")
    sql(workspace, "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN SELECT 1; END")
    r = workspace.mes("audit", "verify")
    assert r.code == 7 and "audit_no_update was changed" in r.err, r
