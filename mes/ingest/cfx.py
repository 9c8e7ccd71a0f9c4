"""IPC-CFX (IPC-2591) JSON messages: the four that feed PCB assembly traceability.

Every CFX message travels in an envelope (field names as in the CFX SDK's ``CFXEnvelope``)::

    {"MessageName": "CFX.Production.Assembly.MaterialsInstalled", "Version": "1.7",
     "TimeStamp": "2026-11-23T14:03:22.1234567+01:00", "UniqueID": "<guid>",
     "Source": "<CFX handle>", "Target": null, "RequestID": null, "MessageBody": {...}}

Supported bodies and what is kept (field paths as in the CFX 1.x SDK):

* ``CFX.Production.Assembly.MaterialsInstalled``: ``TransactionId``,
  ``InstalledMaterials[]`` with ``UnitIdentifier``, ``UnitPositionNumber``,
  ``QuantityInstalled``, ``Material.UniqueIdentifier`` (the reel / material lot id, required),
  ``Material.InternalPartNumber``, ``CarrierLocation.LocationName`` (slot) or
  ``.LocationIdentifier``, ``CarrierLocation.CarrierInformation.UniqueIdentifier`` (feeder) and
  ``InstalledComponents[].ReferenceDesignator``.
* ``CFX.Production.TestAndInspection.UnitsInspected`` / ``UnitsTested``: per unit
  ``UnitIdentifier`` and ``OverallResult`` (``Passed``, ``Failed``, ``Error``, ``Aborted``,
  ``Skipped``; only ``Passed`` passes), with a summary of the inspections/tests in ``details``.
* ``CFX.Production.Processing.UnitsProcessed``: ``TransactionId``, ``OverallResult``, unit ids
  from ``UnitProcessData[].UnitIdentifier`` (reflow ovens often send none: link by transaction),
  and the numeric readings of ``CommonProcessData`` flattened to snake_case names:

  - scalar numbers: ``ConveyorSpeed`` -> ``conveyor_speed``, ``PeakTemperature`` ->
    ``peak_temperature``;
  - zone readings: ``ZoneData[].Zone.StageName`` + ``SubZone`` + ``ReadingType`` ->
    ``zone1_top_temperature``; the ``WholeZone`` sub-zone is left out (``zone3_o2``);
  - zone setpoints likewise with a ``_setpoint`` suffix (``zone1_top_temperature_setpoint``);
  - per-unit measurements (``Readings[].MeasurementName``/``ActualValue``) go to
    ``unit_readings[unit_id]``.

Anything malformed is refused with ``InvalidInput`` naming the field path, e.g.
``MessageBody.InspectedUnits[2].OverallResult: missing``.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from mes.errors import InvalidInput, NotFound

MATERIALS_INSTALLED = "CFX.Production.Assembly.MaterialsInstalled"
UNITS_INSPECTED = "CFX.Production.TestAndInspection.UnitsInspected"
UNITS_TESTED = "CFX.Production.TestAndInspection.UnitsTested"
UNITS_PROCESSED = "CFX.Production.Processing.UnitsProcessed"

TEST_RESULTS = ("Passed", "Failed", "Error", "Aborted", "Skipped")
PROCESSING_RESULTS = ("Succeeded", "Failed", "Aborted")  # CFX ProcessingResult


@dataclass(frozen=True)
class Install:
    """One material package (reel, tray) installed on one unit."""

    unit_id: str
    material_id: str
    quantity: float
    carrier_location: str | None = None
    refdes: tuple[str, ...] = ()
    position: int | None = None
    part_number: str | None = None
    carrier_id: str | None = None


@dataclass(frozen=True)
class MaterialsInstalled:
    transaction_id: str
    installs: list[Install]


@dataclass(frozen=True)
class UnitResult:
    """Overall verdict for one unit; ``details`` summarises the individual checks."""

    unit_id: str
    passed: bool
    result_text: str
    details: dict[str, Any] = field(default_factory=dict)
    position: int | None = None


@dataclass(frozen=True)
class UnitsInspected:
    transaction_id: str
    method: str | None
    results: list[UnitResult]


@dataclass(frozen=True)
class UnitsTested:
    transaction_id: str
    method: str | None
    results: list[UnitResult]


@dataclass(frozen=True)
class UnitsProcessed:
    transaction_id: str
    unit_ids: list[str]
    readings: dict[str, float]
    overall_result: str = "Succeeded"
    unit_readings: dict[str, dict[str, float]] = field(default_factory=dict)


Body = MaterialsInstalled | UnitsInspected | UnitsTested | UnitsProcessed


@dataclass(frozen=True)
class CfxMessage:
    name: str
    unique_id: str
    timestamp: datetime
    body: Body
    raw_text: str
    sha256: str
    version: str | None = None
    source: str | None = None
    target: str | None = None
    request_id: str | None = None


# --------------------------------------------------------------------------- field access


class _Obj:
    """A JSON object with its path, so every complaint names the exact field."""

    def __init__(self, data: Any, path: str, origin: str) -> None:
        if not isinstance(data, dict):
            raise _bad(origin, path, f"expected an object, got {_kind(data)}")
        self.data, self.path, self.origin = data, path, origin

    def _at(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def _get(self, key: str, required: bool) -> Any:
        value = self.data.get(key)
        if value is None and required:
            raise _bad(self.origin, self._at(key), "missing")
        return value

    def text(self, key: str, *, required: bool = True) -> str | None:
        value = self._get(key, required)
        if value is None:
            return None
        if not isinstance(value, str):
            raise _bad(self.origin, self._at(key), f"expected a string, got {_kind(value)}")
        if required and not value.strip():
            raise _bad(self.origin, self._at(key), "empty")
        return value

    def req_text(self, key: str) -> str:
        value = self.text(key)
        assert value is not None
        return value

    def number(self, key: str, *, required: bool = True) -> float | None:
        value = self._get(key, required)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _bad(self.origin, self._at(key), f"expected a number, got {_kind(value)}")
        try:
            number = float(value)
        except OverflowError:
            number = float("inf")
        if not math.isfinite(number):
            raise _bad(self.origin, self._at(key), "not a finite number")
        return number

    def integer(self, key: str) -> int | None:
        value = self._get(key, False)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise _bad(self.origin, self._at(key), f"expected a whole number, got {_kind(value)}")
        return value

    def obj(self, key: str, *, required: bool = True) -> _Obj | None:
        value = self._get(key, required)
        return None if value is None else _Obj(value, self._at(key), self.origin)

    def objs(self, key: str, *, required: bool = True) -> list[_Obj]:
        value = self._get(key, required)
        if value is None:
            return []
        if not isinstance(value, list):
            raise _bad(self.origin, self._at(key), f"expected a list, got {_kind(value)}")
        return [_Obj(item, f"{self._at(key)}[{i}]", self.origin) for i, item in enumerate(value)]

    def choice(self, key: str, allowed: tuple[str, ...]) -> str:
        value = self.req_text(key)
        if value not in allowed:
            raise _bad(self.origin, self._at(key), f"{value!r} is not one of {', '.join(allowed)}")
        return value


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "a list", str: "a string", bool: "true/false"}.get(
        type(value), "a number" if isinstance(value, int | float) else type(value).__name__
    )


def _bad(origin: str, path: str, message: str) -> InvalidInput:
    return InvalidInput(f"{origin}: {path}: {message}", field=path)


# --------------------------------------------------------------------------- envelope


def parse_message(raw: bytes | str, *, source: str = "<stdin>") -> CfxMessage:
    """Parse one CFX envelope. Raises InvalidInput naming the field path of any problem."""
    raw_bytes = raw.encode("utf-8") if isinstance(raw, str) else raw
    text = _decode(raw_bytes, source)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            f"{source}:{exc.lineno}: not valid JSON ({exc.msg} at column {exc.colno})",
            field="json",
        ) from None
    except ValueError as exc:  # e.g. an integer longer than Python's digit limit
        raise InvalidInput(f"{source}: not valid JSON ({exc})", field="json") from None
    except RecursionError:
        raise InvalidInput(f"{source}: JSON nested too deeply", field="json") from None
    return _from_json(data, text, raw_bytes, source)


def _decode(raw: bytes, source: str) -> str:
    try:
        text = raw.decode("utf-8-sig")  # CFX is UTF-8 JSON; tolerate a BOM from Windows tools
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            f"{source}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
            "CFX messages are UTF-8 JSON",
            field="json",
        ) from None
    if not text.strip():
        raise InvalidInput(f"{source}: empty message", field="json")
    return text


def _from_json(data: Any, text: str, raw_bytes: bytes, source: str) -> CfxMessage:
    env = _Obj(data, "", source)
    name = env.req_text("MessageName")
    parser = _BODY_PARSERS.get(name)
    if parser is None:
        raise InvalidInput(
            f"{source}: MessageName: {name!r} is not supported; supported: "
            + ", ".join(sorted(_BODY_PARSERS)),
            field="MessageName",
        )
    body = env.obj("MessageBody")
    assert body is not None
    return CfxMessage(
        name=name,
        unique_id=env.req_text("UniqueID"),
        timestamp=_timestamp(env, source),
        body=parser(body),
        raw_text=text,
        sha256=hashlib.sha256(raw_bytes).hexdigest(),
        version=env.text("Version", required=False),
        source=env.text("Source", required=False),
        target=env.text("Target", required=False),
        request_id=env.text("RequestID", required=False),
    )


# .NET writes 7 fractional digits; Python reads at most 6.
_FRACTION_RE = re.compile(r"(\.\d{6})\d+")


def _timestamp(env: _Obj, source: str) -> datetime:
    value = env.req_text("TimeStamp")
    normal = _FRACTION_RE.sub(r"\1", value.strip())
    normal = normal[:-1] + "+00:00" if normal.endswith(("Z", "z")) else normal
    try:
        when = datetime.fromisoformat(normal)
    except ValueError:
        raise _bad(source, "TimeStamp", f"{value!r} is not an ISO 8601 date and time") from None
    if when.tzinfo is None or when.utcoffset() is None:
        raise _bad(source, "TimeStamp", f"{value!r} has no UTC offset; the machine clock "
                   "must send its offset (e.g. +01:00)")
    return when


# --------------------------------------------------------------------------- bodies


def _materials_installed(body: _Obj) -> MaterialsInstalled:
    installs = [_install(item) for item in body.objs("InstalledMaterials")]
    return MaterialsInstalled(body.req_text("TransactionId"), installs)


def _install(item: _Obj) -> Install:
    quantity = item.number("QuantityInstalled")
    assert quantity is not None
    if quantity < 0:
        raise _bad(item.origin, f"{item.path}.QuantityInstalled", "must not be negative")
    material = item.obj("Material")
    assert material is not None
    location = item.obj("CarrierLocation", required=False)
    slot = carrier = None
    if location is not None:
        slot = location.text("LocationName", required=False) or location.text(
            "LocationIdentifier", required=False)
        info = location.obj("CarrierInformation", required=False)
        if info is not None:
            carrier = info.text("UniqueIdentifier", required=False)
    refdes = tuple(c.req_text("ReferenceDesignator")
                   for c in item.objs("InstalledComponents", required=False))
    return Install(
        unit_id=item.req_text("UnitIdentifier"),
        material_id=material.req_text("UniqueIdentifier"),
        quantity=quantity,
        carrier_location=slot,
        refdes=refdes,
        position=item.integer("UnitPositionNumber"),
        part_number=material.text("InternalPartNumber", required=False),
        carrier_id=carrier,
    )


def _units_inspected(body: _Obj) -> UnitsInspected:
    results = [_unit_result(u, "Inspections", "InspectionName")
               for u in body.objs("InspectedUnits")]
    return UnitsInspected(body.req_text("TransactionId"),
                          body.text("InspectionMethod", required=False), results)


def _units_tested(body: _Obj) -> UnitsTested:
    results = [_unit_result(u, "Tests", "TestName") for u in body.objs("TestedUnits")]
    return UnitsTested(body.req_text("TransactionId"),
                       body.text("TestMethod", required=False), results)


def _unit_result(unit: _Obj, checks_key: str, name_key: str) -> UnitResult:
    result = unit.choice("OverallResult", TEST_RESULTS)
    checks: dict[str, str] = {}
    defects: list[dict[str, str | None]] = []
    measurements: dict[str, float] = {}
    for check in unit.objs(checks_key, required=False):
        label = check.text(name_key, required=False) or check.path.rsplit(".", 1)[-1]
        checks[label] = check.text("Result", required=False) or "unknown"
        for key in ("DefectsFound", "SymptomsFound"):
            defects.extend(_defect(d) for d in check.objs(key, required=False))
        measurements.update(_measurements(check))
    details: dict[str, Any] = {"checks": checks, "defects": defects, "measurements": measurements}
    return UnitResult(unit.req_text("UnitIdentifier"), result == "Passed", result, details,
                      unit.integer("UnitPositionNumber"))


def _defect(defect: _Obj) -> dict[str, str | None]:
    # Defects name one ComponentOfInterest, symptoms a list of ComponentsOfInterest.
    components = defect.objs("ComponentsOfInterest", required=False)
    single = defect.obj("ComponentOfInterest", required=False)
    refdes = [c.text("ReferenceDesignator", required=False) for c in [single, *components] if c]
    return {
        "code": defect.text("DefectCode", required=False)
        or defect.text("SymptomCode", required=False),
        "description": defect.text("Description", required=False),
        "refdes": ",".join(r for r in refdes if r) or None,
    }


def _measurements(check: _Obj) -> dict[str, float]:
    out: dict[str, float] = {}
    for m in check.objs("Measurements", required=False):
        name = m.text("MeasurementName", required=False)
        measured = m.obj("MeasuredValue", required=False)
        value = measured.number("Value", required=False) if measured else None
        if value is None:
            value = m.number("ActualValue", required=False)
        if name and value is not None:
            out[name] = value
    return out


def _units_processed(body: _Obj) -> UnitsProcessed:
    overall = body.text("OverallResult", required=False) or "Succeeded"
    if overall not in PROCESSING_RESULTS:
        raise _bad(body.origin, f"{body.path}.OverallResult",
                   f"{overall!r} is not one of {', '.join(PROCESSING_RESULTS)}")
    common = body.obj("CommonProcessData", required=False)
    readings = _flatten_process_data(common) if common else {}
    unit_ids: list[str] = []
    unit_readings: dict[str, dict[str, float]] = {}
    for unit in body.objs("UnitProcessData", required=False):
        unit_id = unit.req_text("UnitIdentifier")
        if unit_id not in unit_ids:
            unit_ids.append(unit_id)
        data = unit.obj("UnitProcessData", required=False)
        if data is not None:
            values = _flatten_process_data(data)
            values.update(_measurements(_Obj({"Measurements": data.data.get("Readings")},
                                             data.path, data.origin)))
            if values:
                unit_readings.setdefault(unit_id, {}).update(values)
    return UnitsProcessed(body.req_text("TransactionId"), unit_ids, readings, overall,
                          unit_readings)


def _snake(name: str) -> str:
    name = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    name = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def _flatten_process_data(data: _Obj) -> dict[str, float]:
    out: dict[str, float] = {}
    for key, value in data.data.items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            number = data.number(key)
            assert number is not None
            out[_snake(key)] = number
    for zone in data.objs("ZoneData", required=False):
        out.update(_zone_values(zone))
    return out


def _zone_values(zone: _Obj) -> dict[str, float]:
    info = zone.obj("Zone", required=False)
    stage = info.text("StageName", required=False) if info else None
    if not stage:
        seq = info.integer("StageSequence") if info else zone.integer("StageSequence")
        if seq is None:
            return {}
        stage = f"zone{seq}"
    prefix = _snake(stage)
    out: dict[str, float] = {}
    lists: tuple[tuple[str, str, str, str], ...] = (
        ("Readings", "ReadingType", "ReadingValue", ""),
        ("Setpoints", "SetpointType", "Setpoint", "_setpoint"),
    )
    for key, type_key, value_key, suffix in lists:
        for item in zone.objs(key, required=False):
            sub = item.text("SubZone", required=False) or "WholeZone"
            kind = item.req_text(type_key)
            value = item.number(value_key)
            assert value is not None
            parts = [prefix] + ([] if sub == "WholeZone" else [_snake(sub)]) + [_snake(kind)]
            out["_".join(parts) + suffix] = value
    return out


_BODY_PARSERS: dict[str, Callable[[_Obj], Body]] = {
    MATERIALS_INSTALLED: _materials_installed,
    UNITS_INSPECTED: _units_inspected,
    UNITS_TESTED: _units_tested,
    UNITS_PROCESSED: _units_processed,
}
SUPPORTED = tuple(sorted(_BODY_PARSERS))


# --------------------------------------------------------------------------- files


def parse_file(path: Path | str) -> list[CfxMessage]:
    """Messages in a file: one JSON envelope, a JSON array of envelopes, or JSON lines.

    Every message's ``sha256`` is over its own bytes (the array element re-serialised
    canonically for arrays, the line for JSON lines, the whole file for a single message).
    """
    path = Path(path)
    name = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise NotFound(f"{name}: no such file; check the path to the CFX export") from None
    except OSError as exc:
        raise InvalidInput(f"{name}: cannot be read ({exc.strerror or type(exc).__name__})",
                           field="file") from None
    text = _decode(raw, name)
    if text.lstrip().startswith("["):
        return _parse_array(text, name)
    lines = _numbered(text)
    if len(lines) > 1 and _is_json(lines[0][1]) and not _is_json(text):
        return [parse_message(ln.encode("utf-8"), source=f"{name}:{no}") for no, ln in lines]
    return [parse_message(raw, source=name)]


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except (ValueError, RecursionError):
        return False
    return True


def _numbered(text: str) -> list[tuple[int, str]]:
    return [(no, ln) for no, ln in enumerate(text.splitlines(), start=1) if ln.strip()]


def _parse_array(text: str, name: str) -> list[CfxMessage]:
    try:
        items = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{name}:{exc.lineno}: not valid JSON ({exc.msg})",
                           field="json") from None
    except ValueError as exc:
        raise InvalidInput(f"{name}: not valid JSON ({exc})", field="json") from None
    except RecursionError:
        raise InvalidInput(f"{name}: JSON nested too deeply", field="json") from None
    if not items:
        raise InvalidInput(f"{name}: the array holds no messages", field="json")
    out = []
    for i, item in enumerate(items):
        item_text = json.dumps(item, ensure_ascii=False, separators=(",", ":"))
        out.append(_from_json(item, item_text, item_text.encode("utf-8"), f"{name}[{i}]"))
    return out
