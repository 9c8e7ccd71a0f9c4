"""mes init, --version, --help, the error funnel and the schema version guard."""

from __future__ import annotations

from pathlib import Path

import pytest

from mes import __version__
from mes.store.schema import SCHEMA_VERSION
from tests.conftest import PASSWORDS, Workspace, run_cli
from tests.foundation.helpers import sql

INIT = ["init", "--site-name", "Usine Casablanca", "--country", "MA", "--manufacturer",
        "OxiMaroc SA", "--address", "Casablanca", "--admin", "amina", "--password-stdin"]


@pytest.fixture
def empty(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    monkeypatch.setenv("MES_HOME", str(tmp_path))
    monkeypatch.delenv("MES_DB", raising=False)
    monkeypatch.delenv("MES_DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    return Workspace(tmp_path)


def test_version() -> None:
    r = run_cli(["--version"])
    assert r.code == 0
    assert r.out.strip() == f"mes {__version__}"


def test_help_lists_nouns_and_exit_codes() -> None:
    r = run_cli(["--help"])
    assert r.code == 0
    for noun in ("init", "user", "station", "routing", "lot", "step", "material", "audit"):
        assert noun in r.out
    assert "7 integrity failure" in " ".join(r.out.split())


@pytest.mark.parametrize("argv", [["nosuch"], ["lot", "create"], ["lot", "list", "--bogus"],
                                  ["step", "complete", "X", "--op", "abc", "--station", "Y"]])
def test_usage_errors_exit_2_with_one_line(empty: Workspace, argv: list[str]) -> None:
    r = run_cli(argv)
    assert r.code == 2, r
    assert r.err.startswith("mes: "), r
    assert len(r.err.strip().splitlines()) == 1, r
    assert "Traceback" not in r.err


def test_no_arguments_shows_help() -> None:
    r = run_cli([])
    assert r.code == 2
    assert "Usage: mes" in r.err


def test_init_creates_workspace(empty: Workspace) -> None:
    r = empty.ok(*INIT, stdin=PASSWORDS["amina"] + "\n")
    assert "workspace ready" in r.out
    assert empty.db.exists()
    assert (empty.path / "labels").is_dir() and (empty.path / "lots").is_dir()
    assert sql(empty, "SELECT value FROM meta WHERE key='schema_version'") == [
        (str(SCHEMA_VERSION),)]
    users = empty.ok("user", "list", "--json", user="amina").out
    assert '"amina"' in users and '"admin"' in users
    assert empty.ok("audit", "verify").code == 0


def test_reinit_refused_and_changes_nothing(workspace: Workspace) -> None:
    before = workspace.dump()
    r = workspace.mes(*INIT, stdin=PASSWORDS["amina"] + "\n")
    assert r.code == 4, r
    assert r.err.startswith("mes: ") and "already" in r.err
    assert workspace.dump() == before


@pytest.mark.parametrize("country,field", [("MAR", "country"), ("M1", "country")])
def test_init_bad_input(empty: Workspace, country: str, field: str) -> None:
    args = list(INIT)
    args[args.index("MA")] = country
    r = empty.mes(*args, stdin=PASSWORDS["amina"] + "\n")
    assert r.code == 5, r
    assert r.err.startswith("mes: ") and field in r.err


def test_init_short_password_refused(empty: Workspace) -> None:
    r = empty.mes(*INIT, stdin="short\n")
    assert r.code == 5, r
    assert "10 characters" in r.err


def test_missing_database_exit_3_one_line(empty: Workspace) -> None:
    r = empty.mes("lot", "list")
    assert r.code == 3, r
    assert r.err.startswith("mes: ") and len(r.err.strip().splitlines()) == 1
    assert "mes init" in r.err
    assert not empty.db.exists()


def test_missing_database_via_db_option(workspace: Workspace, tmp_path: Path) -> None:
    r = workspace.mes("--db", tmp_path / "nowhere" / "x.db", "lot", "list")
    assert r.code == 3, r
    assert r.err.startswith("mes: ")


def test_not_a_database_is_integrity_failure(empty: Workspace) -> None:
    empty.db.write_bytes(b"this is not sqlite, it is a text file" * 100)
    r = empty.mes("lot", "list")
    assert r.code == 7, r
    assert r.err.startswith("mes: ") and "Traceback" not in r.err


def test_newer_schema_refused(workspace: Workspace) -> None:
    sql(workspace, "UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    before = workspace.dump()
    for argv in (["lot", "list"], ["audit", "verify"]):
        r = workspace.mes(*argv)
        assert r.code == 7, r
        assert r.err.startswith("mes: ") and "99" in r.err and "upgrade mes" in r.err
    r = workspace.mes("user", "list", user="amina")
    assert r.code == 7, r
    assert workspace.dump() == before


def test_config_show_and_set(workspace: Workspace) -> None:
    assert '"currency": "MAD"' in workspace.ok("config", "show", "--json").out
    workspace.ok("config", "set", "origin.threshold_pct", "45", user="amina")
    assert '"origin.threshold_pct": 45.0' in workspace.ok("config", "show", "--json").out
    r = workspace.mes("config", "set", "origin.threshold_pct", "lots", user="amina")
    assert r.code == 5
    r = workspace.mes("config", "set", "nosuch", "1", user="amina")
    assert r.code == 5
    r = workspace.mes("config", "set", "currency", "EUR", user="fatima")
    assert r.code == 6


@pytest.mark.parametrize("value", ["nan", "inf", "101", "1e3"])
def test_config_threshold_must_be_a_percentage(workspace: Workspace, value: str) -> None:
    before = workspace.dump()
    r = workspace.mes("config", "set", "origin.threshold_pct", value, user="amina")
    assert r.code == 5, r
    assert workspace.dump() == before


def test_unknown_site_is_not_found(workspace: Workspace) -> None:
    r = workspace.mes("station", "add", "S-1", "--type", "aoi", "--site", "NOPE", user="tarik")
    assert r.code == 3, r
    assert r.err.startswith("mes: ")
