"""IPC-CFX message parsing."""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mes.errors import InvalidInput, MesError, NotFound
from mes.ingest.cfx import (
    MATERIALS_INSTALLED,
    SUPPORTED,
    UNITS_INSPECTED,
    UNITS_PROCESSED,
    UNITS_TESTED,
    Install,
    MaterialsInstalled,
    UnitsInspected,
    UnitsProcessed,
    UnitsTested,
    parse_file,
    parse_message,
)

DATA = Path(__file__).resolve().parent.parent / "data" / "cfx"


def _load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA / name).read_text(encoding="utf-8"))
    return data


def _refusal(message: dict[str, Any]) -> str:
    with pytest.raises(InvalidInput) as exc:
        parse_message(json.dumps(message), source="msg.json")
    return str(exc.value)


# --------------------------------------------------------------------------- happy paths


def test_materials_installed() -> None:
    raw = (DATA / "materials_installed.json").read_bytes()
    msg = parse_message(raw, source="materials_installed.json")
    assert msg.name == MATERIALS_INSTALLED
    assert msg.unique_id == "6f1c2a9e-3b7d-4e21-9c55-0a4de8f1b201"
    assert msg.version == "1.7"
    assert msg.source == "ma.casablanca.line1.smt.placement01"
    assert msg.timestamp.utcoffset() == timedelta(hours=1)
    assert msg.timestamp.microsecond == 109190  # 7 fractional digits truncated to 6
    assert msg.sha256 == hashlib.sha256(raw).hexdigest()
    assert msg.raw_text == raw.decode("utf-8")
    body = msg.body
    assert isinstance(body, MaterialsInstalled)
    assert body.transaction_id == "b5a0e2c4-71f3-4d8a-a6b2-3f9c1d7e5a10"
    assert body.installs[0] == Install(
        unit_id="PB-000001", material_id="R-000123", quantity=3.0, carrier_location="SLOT12",
        refdes=("R1", "R2", "R7"), position=1, part_number="RES-0402-10K-1%",
        carrier_id="FDR-08-0412",
    )
    assert body.installs[1].carrier_id is None and body.installs[1].refdes == ("U1",)
    assert [i.unit_id for i in body.installs] == ["PB-000001", "PB-000001", "PB-000002"]


def test_units_inspected() -> None:
    msg = parse_file(DATA / "units_inspected.json")[0]
    body = msg.body
    assert isinstance(body, UnitsInspected)
    assert body.method == "AOI"
    ok, bad = body.results
    assert (ok.unit_id, ok.passed, ok.result_text, ok.position) == ("PB-000001", True, "Passed", 1)
    assert (bad.unit_id, bad.passed, bad.result_text) == ("PB-000002", False, "Failed")
    assert bad.details["checks"] == {"INSPECT_U1": "Passed", "INSPECT_R7": "Failed"}
    assert bad.details["defects"] == [
        {"code": "TMBSTN211", "description": "Tombstone on R7", "refdes": "R7"}
    ]


def test_units_tested() -> None:
    body = parse_file(DATA / "units_tested.json")[0].body
    assert isinstance(body, UnitsTested)
    assert body.method == "Automated"
    ok, bad = body.results
    assert ok.passed and not bad.passed
    assert ok.details["measurements"] == {"R1_RESISTANCE": 10030.0, "VCC_3V3": 3.301}
    assert bad.details["defects"][0]["code"] == "RESFAIL2"
    assert bad.details["defects"][0]["refdes"] == "R1"


def test_units_processed_flattens_zone_readings() -> None:
    body = parse_file(DATA / "units_processed.json")[0].body
    assert isinstance(body, UnitsProcessed)
    assert body.overall_result == "Succeeded"
    assert body.unit_ids == ["PB-000001", "PB-000002"]
    assert body.readings["conveyor_speed"] == 75.0
    assert body.readings["zone1_top_temperature"] == 151.2
    assert body.readings["zone1_bottom_temperature_setpoint"] == 150.0
    assert body.readings["zone3_o2"] == 480.0  # WholeZone is left out of the name
    assert body.unit_readings["PB-000002"] == {"peak_temperature": 244.1,
                                               "time_above_liquidus": 63.0}


def test_units_processed_coating_readings_per_unit() -> None:
    msg = _load("units_processed.json")
    msg["MessageBody"]["CommonProcessData"] = None
    msg["MessageBody"]["UnitProcessData"] = [{
        "UnitIdentifier": "PB-000003", "UnitPositionNumber": 1, "UnitResult": "Succeeded",
        "UnitProcessData": {"$type": "CFX.Structures.Coating.CoatingProcessData, CFX",
                            "Readings": [{"MeasurementName": "FluidVolume", "ActualValue": 1.1}]},
    }]
    body = parse_message(json.dumps(msg)).body
    assert isinstance(body, UnitsProcessed)
    assert body.readings == {}
    assert body.unit_readings == {"PB-000003": {"FluidVolume": 1.1}}  # names kept verbatim


def test_utc_timestamp_with_z_and_str_input() -> None:
    msg = _load("units_tested.json")
    msg["TimeStamp"] = "2026-11-23T13:21:05Z"
    parsed = parse_message(json.dumps(msg))
    assert parsed.timestamp.utcoffset() == timedelta(0)


def test_parse_file_array_and_jsonl() -> None:
    names = [MATERIALS_INSTALLED, UNITS_PROCESSED, UNITS_INSPECTED, UNITS_TESTED]
    for file in ("batch_array.json", "batch.jsonl"):
        messages = parse_file(DATA / file)
        assert [m.name for m in messages] == names
        assert len({m.sha256 for m in messages}) == 4


def test_jsonl_line_hash_is_over_the_line() -> None:
    first_line = (DATA / "batch.jsonl").read_bytes().splitlines()[0]
    assert parse_file(DATA / "batch.jsonl")[0].sha256 == hashlib.sha256(first_line).hexdigest()


# --------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("file", "expected"),
    [
        ("missing_overall_result.json", "MessageBody.InspectedUnits[1].OverallResult: missing"),
        ("wrong_type_overall_result.json",
         "MessageBody.InspectedUnits[0].OverallResult: expected a string, got true/false"),
        ("quantity_as_string.json",
         "MessageBody.InstalledMaterials[2].QuantityInstalled: expected a number, got a string"),
        ("naive_timestamp.json", "TimeStamp: '2026-11-23T14:03:22' has no UTC offset"),
        ("unsupported_message.json", "'CFX.ResourcePerformance.StationStateChanged' is not "
                                     "supported; supported: CFX.Production.Assembly"),
        ("truncated.json", "truncated.json:17: not valid JSON"),
    ],
)
def test_sample_refusals(file: str, expected: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        parse_file(DATA / file)
    assert expected in str(exc.value)


def test_unsupported_message_lists_all_supported() -> None:
    text = _refusal(_load("unsupported_message.json"))
    assert all(name in text for name in SUPPORTED)


def _mutated(file: str, path: list[str | int], value: Any = ..., delete: bool = False) -> str:
    msg = copy.deepcopy(_load(file))
    node: Any = msg
    for key in path[:-1]:
        node = node[key]
    if delete:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return _refusal(msg)


@pytest.mark.parametrize(
    ("file", "path", "value", "delete", "expected"),
    [
        ("materials_installed.json", ["MessageName"], None, True, "MessageName: missing"),
        ("materials_installed.json", ["UniqueID"], 42, False,
         "UniqueID: expected a string, got a number"),
        ("materials_installed.json", ["TimeStamp"], "yesterday", False,
         "TimeStamp: 'yesterday' is not an ISO 8601"),
        ("materials_installed.json", ["MessageBody"], None, True, "MessageBody: missing"),
        ("materials_installed.json", ["MessageBody"], [], False,
         "MessageBody: expected an object, got a list"),
        ("materials_installed.json", ["MessageBody", "InstalledMaterials"], {}, False,
         "MessageBody.InstalledMaterials: expected a list, got an object"),
        ("materials_installed.json", ["MessageBody", "InstalledMaterials", 0, "Material"], None,
         True, "MessageBody.InstalledMaterials[0].Material: missing"),
        ("materials_installed.json",
         ["MessageBody", "InstalledMaterials", 1, "Material", "UniqueIdentifier"], "", False,
         "MessageBody.InstalledMaterials[1].Material.UniqueIdentifier: empty"),
        ("materials_installed.json", ["MessageBody", "InstalledMaterials", 0, "QuantityInstalled"],
         -1, False, "QuantityInstalled: must not be negative"),
        ("materials_installed.json", ["MessageBody", "InstalledMaterials", 0, "UnitPositionNumber"],
         1.5, False, "UnitPositionNumber: expected a whole number"),
        ("materials_installed.json",
         ["MessageBody", "InstalledMaterials", 0, "InstalledComponents", 1, "ReferenceDesignator"],
         None, True, "InstalledComponents[1].ReferenceDesignator: missing"),
        ("materials_installed.json", ["MessageBody", "TransactionId"], None, True,
         "MessageBody.TransactionId: missing"),
        ("units_inspected.json", ["MessageBody", "InspectedUnits", 0, "OverallResult"], "OK",
         False, "OverallResult: 'OK' is not one of Passed, Failed, Error, Aborted, Skipped"),
        ("units_tested.json", ["MessageBody", "TestedUnits", 1, "UnitIdentifier"], None, True,
         "MessageBody.TestedUnits[1].UnitIdentifier: missing"),
        ("units_processed.json", ["MessageBody", "OverallResult"], "Done", False,
         "MessageBody.OverallResult: 'Done' is not one of"),
        ("units_processed.json",
         ["MessageBody", "CommonProcessData", "ZoneData", 0, "Readings", 1, "ReadingValue"],
         "hot", False,
         "CommonProcessData.ZoneData[0].Readings[1].ReadingValue: expected a number"),
    ],
)
def test_field_path_refusals(
    file: str, path: list[str | int], value: Any, delete: bool, expected: str
) -> None:
    assert expected in _mutated(file, path, value, delete)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"", "empty message"),
        (b"   \n", "empty message"),
        (b"{", "not valid JSON"),
        (b"[1, 2]", "expected an object, got a list"),
        (b"\xff\xfe{\x00", "not UTF-8"),
        (b"1" * 5000, "not valid JSON"),
        (b"[" * 100_000, "nested too deeply"),
    ],
)
def test_malformed_raw_messages(raw: bytes, expected: str) -> None:
    with pytest.raises(InvalidInput, match=expected.replace("(", r"\(")):
        parse_message(raw)


def test_infinite_numbers_are_refused() -> None:
    text = (DATA / "materials_installed.json").read_text().replace(
        '"QuantityInstalled": 3.0', '"QuantityInstalled": Infinity', 1)
    with pytest.raises(InvalidInput, match="QuantityInstalled: not a finite number"):
        parse_message(text)
    text = text.replace("Infinity", "1" + "0" * 400)
    with pytest.raises(InvalidInput, match="QuantityInstalled: not a finite number"):
        parse_message(text)


def test_parse_file_refusals(tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        parse_file(tmp_path / "none.json")
    (tmp_path / "empty.json").write_text("[]")
    with pytest.raises(InvalidInput, match="no messages"):
        parse_file(tmp_path / "empty.json")
    bad_line = json.dumps(_load("units_tested.json")) + "\n{\"MessageName\": 1}\n"
    (tmp_path / "two.jsonl").write_text(bad_line)
    with pytest.raises(InvalidInput, match=r"two\.jsonl:2: MessageName: expected a string"):
        parse_file(tmp_path / "two.jsonl")
    with pytest.raises(InvalidInput, match="cannot be read"):
        parse_file(tmp_path)


# --------------------------------------------------------------------------- property


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_raise_only_mes_errors(raw: bytes) -> None:
    with contextlib.suppress(MesError):
        parse_message(raw)


_json = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from([
        "MessageName", "UniqueID", "TimeStamp", "MessageBody", "TransactionId",
        "InstalledMaterials", "InspectedUnits", "TestedUnits", "UnitIdentifier", "OverallResult",
        "Material", "UniqueIdentifier", "QuantityInstalled", "CommonProcessData", "ZoneData",
        "Readings", "UnitProcessData", "InstalledComponents", "Tests", "Inspections",
    ]), children, max_size=5),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(_json, st.sampled_from([MATERIALS_INSTALLED, UNITS_INSPECTED, UNITS_TESTED,
                               UNITS_PROCESSED]))
def test_structured_garbage_raises_only_mes_errors(body: Any, name: str) -> None:
    msg = {"MessageName": name, "UniqueID": "x", "TimeStamp": "2026-11-23T14:03:22+01:00",
           "MessageBody": body}
    with contextlib.suppress(MesError):
        parse_message(json.dumps(msg))
