"""Pure rules: interlocks, the audit chain, identifiers, the permission table."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from mes.domain import auth, interlocks
from mes.domain.audit import GENESIS, canonical_json, event_hash, record_hash, verify_chain
from mes.domain.ids import check_id, lot_number, normalise_scan, serial_number
from mes.domain.model import BomLine, DataSpec, Operation, Routing
from mes.errors import ExitCode, InvalidInput, NotAuthorised, NotFound, Refused

TODAY = date(2026, 6, 15)
PRINT = Operation(op=10, name="Print", station_type="smt-printer",
                  consumes=(BomLine("PASTE", 0.35),),
                  data=(DataSpec("speed", "float", "mm/s", 25, 60),
                        DataSpec("stencil", "str"),
                        DataSpec("bridges", "int", None, 0, 0),
                        DataSpec("verified", "bool"),
                        DataSpec("note", "str", required=False)))
SPI = Operation(op=20, name="SPI", station_type="spi")
OPT = Operation(op=25, name="Rework", station_type="rework", optional=True)
AOI = Operation(op=30, name="AOI", station_type="aoi", result_required=False)
ROUTING = Routing("P", (PRINT, SPI, OPT, AOI))
GOOD = {"speed": "40", "stencil": "ST-1", "bridges": "0", "verified": "yes"}


def station(**kw: Any) -> dict[str, Any]:
    return {"active": 1, "type": "smt-printer", "calibration_due": "2026-06-15", **kw}


# -- stations ----------------------------------------------------------------------------

def test_station_ok_on_calibration_day() -> None:
    interlocks.check_station(station(), "PRN-1", PRINT, TODAY)
    interlocks.check_station(station(calibration_due=None), "PRN-1", PRINT, TODAY)


@pytest.mark.parametrize("row,exc,words", [
    (None, NotFound, "not registered"),
    (station(active=0), Refused, "inactive"),
    (station(type="spi"), Refused, "go to a smt-printer station"),
    (station(calibration_due="2026-06-14"), Refused, "calibration expired on 2026-06-14"),
])
def test_station_refusals(row: dict[str, Any] | None, exc: type, words: str) -> None:
    with pytest.raises(exc, match=words):
        interlocks.check_station(row, "PRN-1", PRINT, TODAY)


# -- qualifications ------------------------------------------------------------------------

def test_qualified() -> None:
    def grant(until: str, revoked: str | None = None) -> dict[str, str | None]:
        return {"valid_until": until, "revoked_reason": revoked}

    interlocks.check_qualified("fatima", "spi", grant("2026-06-15"), TODAY)
    with pytest.raises(NotAuthorised, match="not qualified"):
        interlocks.check_qualified("fatima", "spi", None, TODAY)
    with pytest.raises(NotAuthorised, match="expired on 2026-06-14"):
        interlocks.check_qualified("fatima", "spi", grant("2026-06-14"), TODAY)
    with pytest.raises(NotAuthorised, match=r"revoked on 2026-06-10 \(retraining\)"):
        interlocks.check_qualified("fatima", "spi", grant("2026-06-10", "retraining"), TODAY)


# -- holds and states ---------------------------------------------------------------------

def test_workable() -> None:
    interlocks.check_workable("unit", "PB-1", "in_process", False, None)
    with pytest.raises(Refused, match=r"unit PB-1 is on hold \(NCR-7\): ask quality"):
        interlocks.check_workable("unit", "PB-1", "in_process", True, "NCR-7")
    with pytest.raises(Refused, match="lot L-1 is on hold: ask quality"):
        interlocks.check_workable("lot", "L-1", "in_process", True, None)
    for status in interlocks.CLOSED_STATUSES:
        with pytest.raises(Refused, match="no more steps"):
            interlocks.check_workable("unit", "PB-1", status, False, None)


# -- operation order -------------------------------------------------------------------------

def test_order() -> None:
    interlocks.check_order(ROUTING, PRINT, set(), "PB-1")
    interlocks.check_order(ROUTING, SPI, {10}, "PB-1")
    interlocks.check_order(ROUTING, AOI, {10, 20}, "PB-1")  # optional 25 skipped
    with pytest.raises(Refused, match=r"op 10 .* has not passed yet: do op 10 before op 20"):
        interlocks.check_order(ROUTING, SPI, set(), "PB-1")
    with pytest.raises(Refused, match="op 20"):
        interlocks.check_order(ROUTING, AOI, {10}, "PB-1")
    with pytest.raises(Refused, match="already passed"):
        interlocks.check_order(ROUTING, SPI, {10, 20}, "PB-1")
    assert [o.op for o in ROUTING.required_before(30)] == [10, 20]


# -- data -----------------------------------------------------------------------------------

def test_data_parsed_by_type() -> None:
    check = interlocks.check_data(PRINT, GOOD)
    assert check.values == {"speed": 40.0, "stencil": "ST-1", "bridges": 0, "verified": True}
    assert check.out_of_limits == []
    assert interlocks.check_data(PRINT, {**GOOD, "note": "n"}).values["note"] == "n"


@pytest.mark.parametrize("raw,words", [
    ({k: v for k, v in GOOD.items() if k != "stencil"}, "needs stencil"),
    ({**GOOD, "speed": "fast"}, "not a number: enter a number, e.g. speed=243.5"),
    ({**GOOD, "speed": "nan"}, "not a number"),
    ({**GOOD, "speed": "inf"}, "not a number"),
    ({**GOOD, "bridges": "0.5"}, "not a whole number"),
    ({**GOOD, "verified": "maybe"}, "not true or false"),
    ({**GOOD, "humidity": "40"}, "does not capture humidity"),
])
def test_data_refusals(raw: dict[str, str], words: str) -> None:
    with pytest.raises(InvalidInput, match=words) as info:
        interlocks.check_data(PRINT, raw)
    assert info.value.exit_code == ExitCode.INVALID_INPUT
    assert info.value.field


@pytest.mark.parametrize("speed,problem", [
    ("25", None), ("60", None), ("24.9", "speed=24.9 mm/s below min 25 mm/s"),
    ("60.1", "speed=60.1 mm/s above max 60 mm/s")])
def test_limits(speed: str, problem: str | None) -> None:
    check = interlocks.check_data(PRINT, {**GOOD, "speed": speed})
    assert check.out_of_limits == ([problem] if problem else [])


def test_int_limits_and_bool_not_limited() -> None:
    check = interlocks.check_data(PRINT, {**GOOD, "bridges": "2"})
    assert check.out_of_limits == ["bridges=2 above max 0"]
    assert interlocks.limit_problem(DataSpec("b", "bool", None, 0, 0), True) is None


def test_result() -> None:
    assert interlocks.check_result(PRINT, "pass") == "pass"
    assert interlocks.check_result(AOI, None) is None
    with pytest.raises(InvalidInput, match="needs a result"):
        interlocks.check_result(PRINT, None)
    with pytest.raises(InvalidInput, match="pass or fail"):
        interlocks.check_result(PRINT, "ok")


# -- material ---------------------------------------------------------------------------------

def mat(**kw: Any) -> dict[str, Any]:
    return {"id": "R-1", "part": "PASTE", "on_hold": 0, "status": "released",
            "expiry": "2026-06-15", **kw}


def test_material_usable() -> None:
    interlocks.check_material_usable(mat(), PRINT, TODAY)
    interlocks.check_material_usable(mat(expiry=None), PRINT, TODAY)


@pytest.mark.parametrize("row,words", [
    (mat(part="PCB"), "scan the right material"),
    (mat(on_hold=1), "on hold"),
    (mat(status="quarantine"), "quarantine, not released"),
    (mat(status="rejected"), "rejected, not released"),
    (mat(expiry="2026-06-14"), "expired on 2026-06-14"),
])
def test_material_refusals(row: dict[str, Any], words: str) -> None:
    with pytest.raises(Refused, match=words):
        interlocks.check_material_usable(row, PRINT, TODAY)


# -- audit chain ------------------------------------------------------------------------------

def chain(n: int) -> list[dict[str, Any]]:
    rows, prev = [], GENESIS
    for seq in range(1, n + 1):
        ev = {"seq": seq, "at": f"2026-01-01T00:00:{seq:02d}.000000+00:00", "username": "u",
              "station": None, "action": "x", "entity_type": "lot", "entity_id": f"L{seq}",
              "old": None, "new": '{"a":1}', "reason": None}
        digest = event_hash(prev, ev)
        rows.append({**ev, "prev_hash": prev, "hash": digest})
        prev = digest
    return rows


def test_canonical_json_and_hashes() -> None:
    assert canonical_json({"b": 1, "a": "é"}) == '{"a":"é","b":1}'
    assert record_hash({"a": 1, "b": 2}) == record_hash({"b": 2, "a": 1})
    assert len(event_hash(GENESIS, chain(1)[0])) == 64


def test_verify_chain_ok_and_empty() -> None:
    rows = chain(5)
    report = verify_chain(rows)
    assert report.ok and report.events == 5 and report.head_seq == 5
    assert report.head_hash == rows[-1]["hash"]
    empty = verify_chain([])
    assert empty.ok and empty.events == 0 and empty.head_hash == GENESIS


def test_verify_chain_changed_field() -> None:
    rows = chain(5)
    rows[2]["reason"] = "edited"
    report = verify_chain(rows)
    assert not report.ok and report.first_bad_seq == 3 and "changed" in (report.problem or "")
    assert report.events == 2 and report.head_seq == 2


def test_verify_chain_deleted_and_inserted() -> None:
    rows = chain(5)
    report = verify_chain(rows[:2] + rows[3:])
    assert report.first_bad_seq == 3 and "missing" in (report.problem or "")
    dup = [*rows[:3], rows[2], *rows[3:]]
    report = verify_chain(dup)
    assert report.first_bad_seq == 4 and "inserted" in (report.problem or "")
    assert verify_chain(rows[1:]).first_bad_seq == 1


def test_verify_chain_broken_link() -> None:
    rows = chain(4)
    rows[3]["prev_hash"] = "0" * 64
    report = verify_chain(rows)
    assert report.first_bad_seq == 4 and "prev_hash" in (report.problem or "")


# -- identifiers -----------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["L2611-0001", "PB-000001", "R-000001", "A", "9" * 20])
def test_valid_ids(value: str) -> None:
    assert check_id(value) == value


@pytest.mark.parametrize("value", ["", "a1", "PB 1", "PB_1", "X" * 21, "É", "L1/2"])
def test_invalid_ids(value: str) -> None:
    with pytest.raises(InvalidInput, match="1-20 characters"):
        check_id(value, "lot")


def test_id_formats() -> None:
    assert lot_number("2611", 3) == "L2611-0003"
    assert serial_number("PB-", 12) == "PB-000012"
    assert normalise_scan("  pb-000001\r\n") == "PB-000001"
    assert check_id(lot_number("9912", 9999)) and check_id(serial_number("SN-", 999999))


# -- permissions -----------------------------------------------------------------------------

def test_permission_table() -> None:
    assert set(auth.ROLES) == {"operator", "technician", "quality", "admin"}
    for action, roles in auth.PERMISSIONS.items():
        assert roles, action
        assert roles <= set(auth.ROLES), action
        for role in auth.ROLES:
            assert auth.allowed(role, action) == (role in roles)
    assert not auth.allowed("admin", "no.such.action")


@pytest.mark.parametrize("action,roles", [
    ("user.add", {"admin"}), ("routing.approve", {"quality"}),
    ("step.record", {"operator", "technician"}), ("lot.hold", {"quality"}),
    ("material.release", {"quality"}), ("material.receive",
                                        {"operator", "technician", "quality"}),
])
def test_key_permissions(action: str, roles: set[str]) -> None:
    assert auth.PERMISSIONS[action] == roles


def test_signing_actions_exclude_admin() -> None:
    """Quality decisions are not an admin's: segregation of duties."""
    for action in ("routing.approve", "lot.hold", "lot.unhold", "material.release",
                   "material.reject", "ncr.disposition", "firmware.approve"):
        assert not auth.allowed("admin", action)
        assert not auth.allowed("operator", action)


def test_passwords() -> None:
    salt, digest = auth.hash_password("correct horse")
    assert auth.check_password("correct horse", salt, digest)
    assert not auth.check_password("correct horsE", salt, digest)
    assert auth.hash_password("same-pass", bytes.fromhex(salt))[1] != \
        auth.hash_password("same-pass")[1]
    assert auth.password_problem("short") and auth.password_problem("long enough") is None
    assert auth.MAX_FAILED_LOGINS == 5 and auth.SESSION_HOURS == 8
