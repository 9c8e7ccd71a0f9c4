"""mes epcis export: an EPCIS 2.0 document valid against GS1's schema, CBV 2.0 event hashes,
the export anchored in the audit chain."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from mes.domain.epcis import event_id, prehash
from tests.conftest import TEST_EPOCH, sql

jsonschema = pytest.importorskip("jsonschema")
STANDARDS = Path("/work/shared/standards/epcis")
SCHEMA = STANDARDS / "schema" / "EPCIS-JSON-Schema.json"


def validate(doc: dict) -> None:
    if not SCHEMA.exists():
        pytest.skip(f"GS1's EPCIS schema is not at {SCHEMA}")
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft7Validator(schema).validate(doc)


def test_prehash_matches_gs1_reference_implementation() -> None:
    # the shipping event of epcisDocWithShippingAndTransportingEvent in the reference
    # implementation's tests (expected/CBV2.0), as JSON with CBV short names
    event = {
        "type": "ObjectEvent", "eventTime": "2022-02-16T12:50:00+01:00",
        "eventTimeZoneOffset": "+01:00", "epcList": ["https://id.gs1.org/00/140123451122233341"],
        "action": "OBSERVE", "bizStep": "departing",
        "readPoint": {"id": "https://id.gs1.org/414/4012345000221"},
        "bizTransactionList": [{"type": "desadv",
                                "bizTransaction": "urn:epcglobal:cbv:bt:4012345000009:ASN1099"}],
        "sourceList": [{"type": "possessing_party",
                        "source": "https://id.gs1.org/417/4012345000009"}],
        "destinationList": [{"type": "possessing_party",
                             "destination": "https://id.gs1.org/417/4023333000000"}]}
    expected = ("eventType=ObjectEventeventTime=2022-02-16T11:50:00.000ZeventTimeZoneOffset=+01:00"
                "epcListepc=https://id.gs1.org/00/140123451122233341action=OBSERVEbizStep="
                "https://ref.gs1.org/cbv/BizStep-departingreadPointid=https://id.gs1.org/414/"
                "4012345000221bizTransactionListtype=https://ref.gs1.org/cbv/BTT-desadv"
                "bizTransaction=urn:epcglobal:cbv:bt:4012345000009:ASN1099sourceListtype="
                "https://ref.gs1.org/cbv/SDT-possessing_partysource=https://id.gs1.org/417/"
                "4012345000009destinationListtype=https://ref.gs1.org/cbv/SDT-possessing_party"
                "destination=https://id.gs1.org/417/4023333000000")
    assert prehash(event) == expected
    assert event_id(event) == ("ni:///sha-256;" + hashlib.sha256(expected.encode()).hexdigest()
                               + "?ver=CBV2.0")
    # the order of list entries does not matter, any field does
    twin = {**event, "sourceList": list(reversed(event["sourceList"]))}
    assert event_id(twin) == event_id(event)
    assert event_id({**event, "action": "ADD"}) != event_id(event)


def test_export_after_pack_and_ship(packable, tmp_path) -> None:
    ws, sc = packable
    box = json.loads(ws.ok("pack", *sc.devices, "--close", "--json", user="fatima").out)
    ws.ok("ship", box["sscc"], "--to", "CHU Ibn Rochd", "--ref", "BL-2026-0412",
          "--to-gln", "6111234000019", user="tarik")
    out = tmp_path / "events.jsonld"
    r = ws.ok("epcis", "export", "--lot", sc.dev_lot, "--out", out, user="youssef")
    doc = json.loads(out.read_text(encoding="utf-8"))
    validate(doc)
    events = doc["epcisBody"]["eventList"]
    kinds = [(e["type"], e.get("bizStep")) for e in events]
    assert kinds == [("ObjectEvent", "commissioning"), ("AggregationEvent", "packing"),
                     ("ObjectEvent", "shipping")]
    # the PCBA has no GTIN in this catalog: no EPC to transform from, and the export says so
    assert "no TransformationEvent for 3 PCBA-OXI-100" in r.err and "no gtin" in r.err
    commission, packing, shipping = events
    assert sorted(commission["epcList"]) == sorted(
        f"https://id.gs1.org/01/06111234500014/21/{s}" for s in sc.devices)
    assert commission["ilmd"]["cbvmda:lotNumber"] == sc.dev_lot
    assert commission["ilmd"]["cbvmda:itemExpirationDate"] > commission["ilmd"][
        "mes:productionDate"]
    assert commission["readPoint"]["id"] == "https://id.gs1.org/414/6111234000002/254/0"
    assert packing["parentID"] == f"https://id.gs1.org/00/{box['sscc']}"
    assert packing["action"] == "ADD" and len(packing["childEPCs"]) == 3
    assert shipping["epcList"] == [f"https://id.gs1.org/00/{box['sscc']}"]
    assert shipping["disposition"] == "in_transit"
    assert shipping["bizTransactionList"][0]["bizTransaction"].endswith(":BL-2026-0412")
    assert shipping["destinationList"][0]["destination"] == "https://id.gs1.org/417/6111234000019"
    for e in events:
        assert e["eventID"] == event_id(e)
    # anchored: the audit event carries the hash of the exact bytes written
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    assert digest in r.err
    rows = sql(ws, "SELECT new FROM audit WHERE action = 'epcis.export'")
    assert len(rows) == 1 and json.loads(rows[0][0])["sha256"] == digest
    # without --out, stdout is the document itself
    ws2 = ws.mes("epcis", "export", "--since", TEST_EPOCH.date().isoformat(), user="youssef")
    assert ws2.code == 0, ws2
    validate(json.loads(ws2.out))


def test_export_needs_site_gln_and_authority(built) -> None:
    ws, _sc = built
    r = ws.mes("epcis", "export", user="fatima")
    assert r.code == 6, r
    r = ws.mes("epcis", "export", user="youssef")
    assert r.code == 4 and "gs1.site_gln" in r.err, r


PCBA_GTIN = "06111234500106"


def test_transformation_pcba_to_device_when_the_pcba_has_a_gtin(packable, tmp_path) -> None:
    from tests.packing.conftest import CATALOG

    ws, sc = packable
    text = CATALOG.read_text(encoding="utf-8")
    anchor = "    kind: subassembly\n    serialized: true\n    serial_prefix: PB-\n"
    assert text.count(anchor) == 1
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(text.replace(anchor, anchor + f'    gtin: "{PCBA_GTIN}"\n'),
                       encoding="utf-8")
    loaded = ws.ok("routing", "load", catalog, user="tarik").out
    # a GTIN reaches labels: a draft until quality approves it (issue 12)
    assert "PCBA-OXI-100" in loaded and "draft" in loaded, loaded
    ws.ok("catalog", "approve", "PCBA-OXI-100", "--version", 2, user="youssef")
    out = tmp_path / "events.jsonld"
    r = ws.ok("epcis", "export", "--lot", sc.dev_lot, "--out", out, user="youssef")
    assert "no TransformationEvent" not in r.err
    doc = json.loads(out.read_text(encoding="utf-8"))
    validate(doc)
    events = [e for e in doc["epcisBody"]["eventList"] if e["type"] == "TransformationEvent"]
    built_from = dict(sql(ws, "SELECT e.parent, e.child FROM edges e JOIN units u ON "
                              "u.serial = e.child WHERE e.parent IN (?, ?, ?)",
                          tuple(sc.devices)))
    assert sorted(built_from) == sorted(sc.devices)
    assert len(events) == len(sc.devices)
    for e in events:
        (device,) = e["outputEPCList"]
        serial = device.rsplit("/", 1)[1]
        assert device == f"https://id.gs1.org/01/06111234500014/21/{serial}"
        assert e["inputEPCList"] == [f"https://id.gs1.org/01/{PCBA_GTIN}/21/"
                                     f"{built_from[serial]}"]
        assert e["bizStep"] == "assembling" and "action" not in e
        assert e["eventID"] == event_id(e)
    # an event is identified by what it says: the same records export the same IDs
    again = json.loads(ws.ok("epcis", "export", "--lot", sc.dev_lot, user="youssef").out)
    assert [e["eventID"] for e in again["epcisBody"]["eventList"]] == [
        e["eventID"] for e in doc["epcisBody"]["eventList"]]


def test_gtin_is_refused_on_a_component(workspace, tmp_path) -> None:
    from tests.packing.conftest import CATALOG

    text = CATALOG.read_text(encoding="utf-8")
    anchor = "  - number: CAP-100N-0402\n"
    bad = tmp_path / "catalog.yaml"
    bad.write_text(text.replace(anchor, anchor + f'    gtin: "{PCBA_GTIN}"\n'),
                   encoding="utf-8")
    r = workspace.mes("routing", "validate", bad)
    assert r.code == 5 and "a GTIN is for devices and subassemblies, not a component" in r.err
