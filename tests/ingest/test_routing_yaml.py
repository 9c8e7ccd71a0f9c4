"""Routing and catalog YAML: the example files, every refusal with its line, diff, fuzzing."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import re
import textwrap
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mes.domain.model import Part, Routing
from mes.errors import InvalidInput, MesError, NotFound, ValidationFailed
from mes.ingest.routing_yaml import (
    LoadedFile,
    catalog_to_yaml_dict,
    diff_routings,
    dump_yaml,
    gtin_check_digit,
    load_bytes,
    load_file,
    load_text,
    routing_to_yaml_dict,
)

ROUTINGS = Path(__file__).resolve().parents[2] / "routings"
ROUTING_FILES = ["pcba-oxi-100.yaml", "enc-oxi-100.yaml", "dev-oxi-100.yaml"]


def _yaml(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


def problems_of(text: str, catalog: dict[str, Part] | None = None
                ) -> list[tuple[int | None, str, str]]:
    with pytest.raises(ValidationFailed) as exc:
        load_text(_yaml(text), "t.yaml", catalog=catalog)
    return [(p.line, p.field, p.message) for p in exc.value.problems]


def routing_with(op_lines: str, part: str = "PCBA-OXI-100") -> str:
    """A routing whose only operation is `op_lines` (indented as under `- `)."""
    body = textwrap.indent(textwrap.dedent(op_lines).strip("\n"), " " * 6)
    return f"routing:\n  part: {part}\n  operations:\n    - op: 10\n{body}\n"


def catalog_with(part_lines: str) -> str:
    body = textwrap.indent(textwrap.dedent(part_lines).strip("\n"), " " * 4)
    return f"parts:\n  - number: P-1\n{body}\n"


@pytest.fixture(scope="module")
def catalog() -> dict[str, Part]:
    return {p.number: p for p in load_file(ROUTINGS / "catalog.yaml").parts}


@pytest.fixture(scope="module")
def routings() -> dict[str, Routing]:
    out = {}
    for name in ROUTING_FILES:
        r = load_file(ROUTINGS / name).routing
        assert r is not None
        out[name] = r
    return out


# ----------------------------------------------------------------------------- examples


def test_catalog_loads_with_every_part_the_routings_need(catalog: dict[str, Part]) -> None:
    loaded = load_file(ROUTINGS / "catalog.yaml")
    raw = (ROUTINGS / "catalog.yaml").read_bytes()
    assert loaded.kind == "catalog" and loaded.routing is None
    assert loaded.text == raw.decode() and loaded.sha256 == hashlib.sha256(raw).hexdigest()
    device = catalog["DEV-OXI-100"]
    assert device.kind == "device" and device.serialized and device.serial_prefix == "SN-"
    assert device.gtin == "06111234500014" and device.ref == "OXS-100"
    assert catalog["PCBA-OXI-100"].serial_prefix == "PB-"
    assert not catalog["ENC-OXI-100"].serialized
    assert catalog["FW-OXI"].kind == "firmware" and not catalog["FW-OXI"].incoming_inspection
    assert catalog["RESIN-PC2458"].origin == "DE" and catalog["BOX-OXI-100"].origin == "MA"


@pytest.mark.parametrize("name", ROUTING_FILES)
def test_example_routing_loads_and_checks_against_the_catalog(
        name: str, catalog: dict[str, Part]) -> None:
    loaded = load_file(ROUTINGS / name, catalog=catalog)
    assert loaded.kind == "routing" and loaded.parts == [] and loaded.routing is not None
    ops = [o.op for o in loaded.routing.operations]
    assert ops == sorted(ops) and len(set(ops)) == len(ops)
    assert any(o.origin_conferring for o in loaded.routing.operations)


def test_example_routings_have_the_special_rules(routings: dict[str, Routing]) -> None:
    pcba, enc, dev = (routings[n] for n in ROUTING_FILES)
    reflow = pcba.operation(40)
    assert reflow is not None and reflow.origin_conferring
    assert reflow.data_spec("peak_temp_c") == reflow.data[0]
    assert (reflow.data[0].min, reflow.data[0].max, reflow.data[0].unit) == (235, 250, "°C")
    flash = pcba.operation(70)
    assert flash is not None and flash.flash is not None
    assert (flash.activity, flash.flash.part, flash.flash.versions) == (
        "flashing", "FW-OXI", ("1.4.2",))
    molding = enc.operation(20)
    assert molding is not None and molding.molding is not None
    assert (molding.molding.cavities, molding.molding.mold) == (4, "M-ENC-01")
    assert {d.euromap for d in molding.data} == {
        "ActTimCyc", "ActTimFill", "ActStrCsh", "ActPrsXfrSpec"}
    assembly = dev.operation(10)
    assert assembly is not None
    pcba_line = next(b for b in assembly.consumes if b.part == "PCBA-OXI-100")
    assert pcba_line.by_serial and pcba_line.qty == 1
    assert [o.activity for o in dev.operations] == ["assembly", "test", "labeling", "packing"]
    assert [o.op for o in dev.operations if o.label] == [30]


@pytest.mark.parametrize("name", ROUTING_FILES)
def test_routing_round_trips_through_yaml(name: str, routings: dict[str, Routing]) -> None:
    original = routings[name]
    again = load_text(dump_yaml(routing_to_yaml_dict(original)), "dumped.yaml").routing
    assert again == original
    assert diff_routings(original, again) == []


def test_catalog_round_trips_through_yaml(catalog: dict[str, Part]) -> None:
    parts = list(catalog.values())
    assert load_text(dump_yaml(catalog_to_yaml_dict(parts))).parts == parts


# ------------------------------------------------------------------ all problems at once


def test_a_file_with_several_mistakes_reports_all_of_them_where_they_are() -> None:
    found = problems_of("""
        routing:
          part: PCBA-OXI-100
          operations:
            - op: 10
              name: Solder paste print
              stationtype: smt-printer
              activity: smt
              data:
                - {name: paste_height_um, type: float, min: 150, max: 100}
            - op: 20
              name: SPI
              station_type: spi
              activity: inspektion
            - op: 20
              name: Reflow
              station_type: reflow-oven
              activity: reflow
              consumes:
                - {part: PASTE-SAC305, qty: "0.35"}
              data:
                - {name: peak_temp_c, type: float, min: 235, max: 250}
                - {name: tal_s, type: float, min: 45, max: 90}
                - {name: tal_s, type: double}
        """)
    assert [(line, where) for line, where, _ in found] == [
        (4, "routing.operations[0].station_type"),        # missing: reported on the op
        (6, "routing.operations[0].stationtype"),         # the typo itself
        (9, "routing.operations[0].data[0].max"),
        (13, "routing.operations[1].activity"),
        (14, "routing.operations[2].op"),
        (19, "routing.operations[2].consumes[0].qty"),
        (23, "routing.operations[2].data[2].type"),
        (23, "routing.operations[2].data[2].name"),       # and it is there twice
    ]
    messages = [m for _, _, m in found]
    assert "did you mean 'station_type'" in messages[1]
    assert messages[2] == "max 100 is below min 150"
    assert "did you mean 'inspection'" in messages[3]
    assert messages[4] == "op 20 appears twice (first on line 10)"
    assert "without quotes" in messages[5]


def test_validation_failed_says_how_many_and_lists_each() -> None:
    with pytest.raises(ValidationFailed) as exc:
        load_text(routing_with("name: A\nstation_type: X\nactivity: nope"), "r.yaml")
    assert str(exc.value).startswith("r.yaml:")
    assert str(exc.value).endswith("(and 1 more problem)")
    assert isinstance(exc.value, InvalidInput) and exc.value.exit_code == 5


# ----------------------------------------------------------------------- refusals


REFUSALS = [
    # (why, text, line, field, message fragment)
    ("unknown key", routing_with("name: A\nstation_type: a\nactivty: smt"),
     7, "routing.operations[0].activty", "did you mean 'activity'"),
    ("missing key", routing_with("station_type: a"),
     4, "routing.operations[0].name", "needs name:"),
    ("empty value", routing_with("name:\nstation_type: a"),
     5, "routing.operations[0].name", "has no value"),
    ("wrong type", routing_with("name: A\nstation_type: a\noptional: 1"),
     7, "routing.operations[0].optional", "expected true or false"),
    ("list instead of mapping", routing_with("name: A\nstation_type: a\nflash: [FW-OXI]"),
     7, "routing.operations[0].flash", "expected a mapping"),
    ("non-integer op", "routing:\n  part: P\n  operations:\n    - {op: 10.5, name: A, "
     "station_type: a}\n", 4, "routing.operations[0].op", "whole number"),
    ("duplicate key", routing_with("name: A\nname: B\nstation_type: a"),
     6, "routing.operations[0].name", "appears twice (first on line 5)"),
    ("data type", routing_with("name: A\nstation_type: a\ndata:\n  - {name: x, type: double}"),
     8, "routing.operations[0].data[0].type", "not one of float, int, str, bool"),
    ("data name", routing_with("name: A\nstation_type: a\ndata:\n  - {name: Peak Temp}"),
     8, "routing.operations[0].data[0].name", "lower case"),
    ("duplicate data", routing_with("name: A\nstation_type: a\ndata:\n  - {name: x}\n"
                                    "  - {name: x}"),
     9, "routing.operations[0].data[1].name", "data name x appears twice (first on line 8)"),
    ("min > max", routing_with("name: A\nstation_type: a\ndata:\n"
                               "  - {name: x, min: 2, max: 1}"),
     8, "routing.operations[0].data[0].max", "below min 2"),
    ("limits on text", routing_with("name: A\nstation_type: a\ndata:\n"
                                    "  - {name: x, type: str, min: 1}"),
     8, "routing.operations[0].data[0].min", "only applies to float or int"),
    ("infinite limit", routing_with("name: A\nstation_type: a\ndata:\n"
                                    "  - {name: x, max: .inf}"),
     8, "routing.operations[0].data[0].max", "not a usable number"),
    ("bad activity", routing_with("name: A\nstation_type: a\nactivity: welding"),
     7, "routing.operations[0].activity", "not one of"),
    ("station type", routing_with("name: A\nstation_type: Reflow Oven"),
     6, "routing.operations[0].station_type", "lower case letters"),
    ("origin on labeling", routing_with("name: A\nstation_type: a\nactivity: labeling\n"
                                        "origin_conferring: true"),
     8, "routing.operations[0].origin_conferring", "never confers origin"),
    ("origin on packing", routing_with("name: A\nstation_type: a\nactivity: packing\n"
                                       "origin_conferring: true"),
     8, "routing.operations[0].origin_conferring", "never confers origin"),
    ("origin on kitting", routing_with("name: A\nstation_type: a\nactivity: kitting\n"
                                       "origin_conferring: true"),
     8, "routing.operations[0].origin_conferring", "never confers origin"),
    ("flash without part", routing_with("name: A\nstation_type: a\nactivity: flashing\n"
                                        "flash: {versions: [\"1.4.2\"]}"),
     8, "routing.operations[0].flash.part", "needs part:"),
    ("flash on other activity", routing_with("name: A\nstation_type: a\nactivity: test\n"
                                             "flash: {part: FW-OXI}"),
     8, "routing.operations[0].flash", "only for activity flashing"),
    ("flashing without flash", routing_with("name: A\nstation_type: a\nactivity: flashing"),
     4, "routing.operations[0].flash", "needs flash:"),
    ("molding without molding", routing_with("name: A\nstation_type: a\nactivity: molding"),
     4, "routing.operations[0].molding", "needs molding:"),
    ("molding data without euromap", routing_with(
        "name: A\nstation_type: imm\nactivity: molding\nmolding: {cavities: 4}\n"
        "data:\n  - {name: cycle_time_s, min: 20, max: 30}"),
     10, "routing.operations[0].data[0].euromap", "EUROMAP 63 column"),
    ("euromap outside molding", routing_with("name: A\nstation_type: a\ndata:\n"
                                             "  - {name: x, euromap: ActTimCyc}"),
     8, "routing.operations[0].data[0].euromap", "only applies to data of a molding"),
    ("euromap column twice", routing_with(
        "name: A\nstation_type: imm\nactivity: molding\nmolding: {cavities: 4}\n"
        "data:\n  - {name: a, euromap: ActTimCyc}\n  - {name: b, euromap: ActTimCyc}"),
     11, "routing.operations[0].data[1].euromap", "already feeds a (line 10)"),
    ("cavities", routing_with("name: A\nstation_type: a\nactivity: molding\n"
                              "molding: {cavities: 0}"),
     8, "routing.operations[0].molding.cavities", "out of range: it must be between 1 and 256"),
    ("qty zero", routing_with("name: A\nstation_type: a\nconsumes:\n  - {part: X, qty: 0}"),
     8, "routing.operations[0].consumes[0].qty", "greater than 0"),
    ("qty by serial", routing_with("name: A\nstation_type: a\nconsumes:\n"
                                   "  - {part: X, qty: 0.5, by_serial: true}"),
     8, "routing.operations[0].consumes[0].qty", "consumed whole"),
    ("duplicate consumes", routing_with("name: A\nstation_type: a\nconsumes:\n"
                                        "  - {part: X, qty: 1}\n  - {part: X, qty: 2}"),
     9, "routing.operations[0].consumes[1].part", "part X appears twice (first on line 8)"),
    ("consumes itself", routing_with("name: A\nstation_type: a\nconsumes:\n"
                                     "  - {part: PCBA-OXI-100, qty: 1}"),
     4, "routing.operations[0].consumes[0].part", "cannot consume itself"),
    ("routing part id", routing_with("name: A\nstation_type: a", part="pcba_oxi"),
     2, "routing.part", "0-9, A-Z and '-'"),
    ("no operations", "routing:\n  part: P\n  operations: []\n",
     3, "routing.operations", "at least one operation"),
    ("two serialize ops", "routing:\n  part: P\n  operations:\n"
     "    - {op: 10, name: A, station_type: a, serialize: true}\n"
     "    - {op: 20, name: B, station_type: a, serialize: true}\n",
     5, "routing.operations[1].serialize", "already assigned at op 10"),
    ("ops not increasing", "routing:\n  part: P\n  operations:\n"
     "    - {op: 20, name: A, station_type: a}\n    - {op: 10, name: B, station_type: a}\n",
     5, "routing.operations[1].op", "op 10 comes after op 20"),
    ("op out of range", "routing:\n  part: P\n  operations:\n"
     "    - {op: 0, name: A, station_type: a}\n",
     4, "routing.operations[0].op", "out of range: it must be between 1 and 9999"),
    # catalog
    ("part number", catalog_with("name: A\nkind: component").replace("P-1", "cap 100n"),
     2, "parts[0].number", "0-9, A-Z and '-'"),
    ("part number too long", catalog_with("name: A\nkind: component").replace(
        "P-1", "C" * 21), 2, "parts[0].number", "1-20 characters"),
    ("part kind", catalog_with("name: A\nkind: purchased"),
     4, "parts[0].kind", "component, subassembly, device, firmware"),
    ("duplicate part", "parts:\n  - {number: A, name: A, kind: component}\n"
     "  - {number: A, name: B, kind: component}\n",
     3, "parts[1].number", "part number A appears twice (first on line 2)"),
    ("gtin check digit", catalog_with("name: D\nkind: device\nref: R\ngtin: \"06111234500017\""),
     6, "parts[0].gtin", "check digit 7, expected 4"),
    ("gtin length", catalog_with("name: D\nkind: device\nref: R\ngtin: \"6111234500014\""),
     6, "parts[0].gtin", "not a GTIN-14"),
    ("gtin on a component", catalog_with("name: A\nkind: component\ngtin: \"06111234500014\""),
     5, "parts[0].gtin", "for devices"),
    ("device without gtin", catalog_with("name: D\nkind: device\nref: R"),
     2, "parts[0].gtin", "needs gtin"),
    ("origin lower case", catalog_with("name: A\nkind: component\norigin: ma"),
     5, "parts[0].origin", "write it in capitals, MA"),
    ("origin not ISO", catalog_with("name: A\nkind: component\norigin: UK"),
     5, "parts[0].origin", "use GB"),
    ("origin three letters", catalog_with("name: A\nkind: component\norigin: MAR"),
     5, "parts[0].origin", "not an ISO 3166 alpha-2"),
    ("origin on a made part", catalog_with("name: A\nkind: subassembly\norigin: MA"),
     5, "parts[0].origin", "computed for a subassembly"),
    ("negative cost", catalog_with("name: A\nkind: component\nunit_cost: -1"),
     5, "parts[0].unit_cost", "out of range"),
    ("prefix without serialized", catalog_with("name: A\nkind: subassembly\nserial_prefix: PB-"),
     5, "parts[0].serial_prefix", "without serialized: true"),
    ("serial prefix charset", catalog_with("name: A\nkind: subassembly\nserialized: true\n"
                                           "serial_prefix: pb_"),
     6, "parts[0].serial_prefix", "0-14 characters"),
    ("shelf life", catalog_with("name: A\nkind: component\nshelf_life_days: 0"),
     5, "parts[0].shelf_life_days", "out of range"),
    ("empty catalog", "parts: []\n", 1, "parts", "lists no parts"),
    # whole file
    ("both kinds", "parts:\n  - {number: A, name: A, kind: component}\nrouting: {}\n",
     1, "(file)", "not both"),
    ("neither kind", "routings:\n  part: A\n", 1, "routings", "did you mean 'routing'"),
    ("not a mapping", "- just\n- a list\n", 1, "(file)", "expected a mapping"),
    ("syntax", "routing:\n  part: A\n  operations: [\n", 4, "(yaml)", "YAML syntax error"),
    ("tab", "routing:\n\tpart: A\n", 2, "(yaml)", "spaces, not tabs"),
    ("two documents", "routing: {}\n---\nrouting: {}\n", 2, "(yaml)", "single document"),
    ("custom tag", routing_with("name: !!python/name:os.system A\nstation_type: a"),
     5, "routing.operations[0].name", "not allowed"),
    ("control character", "routing:\n  part: A\x07\n", 2, "(yaml)", "not allowed"),
]


@pytest.mark.parametrize(("why", "text", "line", "where", "fragment"), REFUSALS,
                         ids=[r[0] for r in REFUSALS])
def test_refusal(why: str, text: str, line: int, where: str, fragment: str) -> None:
    found = [(ln, f, m) for ln, f, m in problems_of(text) if f == where]
    assert found, problems_of(text)
    got_line, _, message = found[0]
    assert got_line == line, found
    assert fragment in message, message


def test_empty_file_and_comments_only_are_refused() -> None:
    for text in ("", "\n\n", "# nothing here yet\n"):
        assert problems_of(text) == [
            (None, "(file)",
             "the file is empty: expected parts: (a catalog) or routing: (one routing)")]


def test_missing_file_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        load_file(tmp_path / "nope.yaml")
    with pytest.raises(NotFound):
        load_file(tmp_path / "nope" / "deeper.yaml")


def test_directory_is_invalid_input(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="is a directory"):
        load_file(tmp_path)


def test_non_utf8_file_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("routing:\n  description: Réflow\n".encode("latin-1"))
    with pytest.raises(ValidationFailed) as exc:
        load_file(path)
    (problem,) = exc.value.problems
    assert (problem.file, problem.line, problem.field) == (str(path), 2, "(file)")
    assert "not UTF-8" in problem.message and "0xe9" in problem.message


@pytest.mark.parametrize("data", [b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
                                  "routing: {}\n".encode("utf-16")])
def test_binary_or_utf16_file_is_refused(data: bytes) -> None:
    with pytest.raises(ValidationFailed, match="binary data"):
        load_bytes(data, "x.yaml")


def test_utf8_bom_is_accepted_and_hashed_as_stored() -> None:
    data = b"\xef\xbb\xbf" + (ROUTINGS / "enc-oxi-100.yaml").read_bytes()
    loaded = load_bytes(data, "bom.yaml")
    assert loaded.routing is not None and loaded.sha256 == hashlib.sha256(data).hexdigest()


# ------------------------------------------------------------------- YAML details


def test_values_are_read_as_written() -> None:
    loaded = load_text(_yaml("""
        routing:
          part: 100-200
          operations:
            - op: 010                       # decimal 10, not YAML 1.1 octal 8
              name: yes                     # text fields keep their text
              station_type: flash
              activity: flashing
              flash: {part: FW-OXI, versions: [1.40, 2.0.1]}
    """))
    assert loaded.routing is not None
    (op,) = loaded.routing.operations
    assert (op.op, op.name, loaded.routing.part) == (10, "yes", "100-200")
    assert op.flash is not None and op.flash.versions == ("1.40", "2.0.1")


def test_unquoted_gtin_keeps_its_leading_zero() -> None:
    loaded = load_text(catalog_with("name: D\nkind: device\nref: R\ngtin: 06111234500014"))
    assert loaded.parts[0].gtin == "06111234500014"


def test_anchors_and_merge_keys_work_and_explicit_keys_win() -> None:
    loaded = load_text(_yaml("""
        routing:
          part: PCBA-OXI-100
          operations:
            - &inspect {op: 20, name: AOI top, station_type: aoi, activity: inspection,
                        data: [{name: defects, type: int, min: 0, max: 0}]}
            - <<: *inspect
              op: 30
              name: AOI bottom
    """))
    assert loaded.routing is not None
    top, bottom = loaded.routing.operations
    assert (bottom.op, bottom.name, bottom.station_type) == (30, "AOI bottom", "aoi")
    assert bottom.data == top.data


def test_alias_bombs_are_cut_short() -> None:
    lines = ["routing:", "  part: A", "  x0: &x0 [{name: a}, {name: b}]"]
    lines += [f"  x{i}: &x{i} [*x{i - 1}, *x{i - 1}, *x{i - 1}]" for i in range(1, 14)]
    lines += ["  operations:", "    - {op: 1, name: A, station_type: a, data: *x13}"]
    with pytest.raises(ValidationFailed):
        load_text("\n".join(lines) + "\n")


def test_recursive_alias_does_not_hang() -> None:
    with pytest.raises(ValidationFailed):
        load_text("routing: &a {part: A, operations: [*a]}\n")
    with pytest.raises(ValidationFailed):
        load_text("routing: &a {<<: *a, part: A}\n")


def test_gtin_check_digit() -> None:
    assert gtin_check_digit("0003600029145") == 2  # UPC-A 036000291452 as a GTIN-14
    assert gtin_check_digit("0611123450001") == 4


# --------------------------------------------------------------- against a catalog


def test_references_are_checked_against_a_catalog(catalog: dict[str, Part]) -> None:
    found = problems_of("""
        routing:
          part: CAP-100N-0402
          operations:
            - op: 10
              name: Assemble
              station_type: assembly
              activity: assembly
              consumes:
                - {part: ENC-OXI-100, qty: 1, by_serial: true}
                - {part: SCREW-PT-K25X7, qty: 4}
            - op: 20
              name: Flash
              station_type: flash
              activity: flashing
              serialize: true
              flash: {part: PCBA-OXI-100}
    """, catalog=catalog)
    assert [(line, where) for line, where, _ in found] == [
        (2, "routing.part"),                              # a component has no routing
        (2, "routing.part"),                              # serialize on a non-serialized part
        (9, "routing.operations[0].consumes[0].by_serial"),
        (10, "routing.operations[0].consumes[1].part"),
        (16, "routing.operations[1].flash.part"),
    ]
    assert "did you mean 'SCREW-PT-K25X6'" in found[3][2]
    assert "not firmware" in found[4][2]


# ------------------------------------------------------------------------------ diff


def test_diff_lists_every_change_in_words(routings: dict[str, Routing]) -> None:
    a = routings["pcba-oxi-100.yaml"]
    text = (ROUTINGS / "pcba-oxi-100.yaml").read_text()
    text = text.replace("unit: \"°C\", min: 235, max: 250}", "unit: \"°C\", min: 235, max: 248}")
    text = text.replace("- {part: CAP-100N-0402, qty: 14}", "- {part: CAP-100N-0402, qty: 16}")
    text = text.replace("        - {part: RES-4K7-0402, qty: 2}\n", "")
    text = text.replace('versions: ["1.4.2"]', 'versions: ["1.4.2", "1.4.3"]')
    text = text.replace("    - op: 60\n", "    - op: 55\n      name: Conformal coating\n"
                        "      station_type: coater\n      data:\n"
                        "        - {name: thickness_um, min: 25, max: 75}\n\n    - op: 60\n")
    text = text.replace("name: Automated optical inspection", "name: AOI")
    b = load_text(text).routing
    assert b is not None
    assert diff_routings(a, b) == [
        "op 30 Pick and place: consumes CAP-100N-0402 qty 14 -> 16",
        "op 30 Pick and place: consumes RES-4K7-0402 removed",
        "op 40 Reflow: data peak_temp_c max 250 -> 248",
        "op 50 Automated optical inspection: name Automated optical inspection -> AOI",
        "op 55 added: Conformal coating (other, at coater)",
        "op 70 Firmware flashing: flash versions [1.4.2] -> [1.4.2, 1.4.3]",
    ]
    assert diff_routings(b, a)[4] == "op 55 removed: Conformal coating"


def test_diff_of_added_data_flash_and_molding() -> None:
    op = routing_with("name: A\nstation_type: a\nactivity: molding\n"
                      "molding: {cavities: 4, mold: M-1}")
    a = load_text(op).routing
    b = load_text(op.replace("cavities: 4", "cavities: 8").replace(
        "mold: M-1}", "mold: M-1}\n      data:\n"
        "        - {name: cycle_s, unit: s, min: 20, max: 30, euromap: ActTimCyc}")).routing
    assert a is not None and b is not None
    assert diff_routings(a, b) == [
        "op 10 A: data cycle_s added (float s, between 20 and 30)",
        "op 10 A: molding cavities 4 -> 8",
    ]
    c = dataclasses.replace(b, description="v2", operations=(
        dataclasses.replace(b.operations[0], molding=None),))
    assert diff_routings(b, c) == ["description '' -> 'v2'", "op 10 A: molding removed"]


# -------------------------------------------------------------------------- fuzzing

ALLOWED = (InvalidInput, NotFound)  # ValidationFailed is an InvalidInput


def _load_or_refuse(text: str) -> LoadedFile | None:
    try:
        return load_text(text, "fuzz.yaml")
    except ALLOWED:
        return None


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_arbitrary_text_only_raises_mes_errors(text: str) -> None:
    _load_or_refuse(text)


@settings(max_examples=200, deadline=None)
@given(st.binary())
def test_arbitrary_bytes_only_raise_mes_errors(data: bytes) -> None:
    with contextlib.suppress(*ALLOWED):
        load_bytes(data, "fuzz.yaml")


_EXAMPLE_TEXTS = [(ROUTINGS / n).read_text() for n in ["catalog.yaml", *ROUTING_FILES]]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(_EXAMPLE_TEXTS), st.data())
def test_mutated_example_files_only_raise_mes_errors(text: str, data: st.DataObject) -> None:
    # Deleting, duplicating or overwriting a line reaches the deep checks, not just the parser.
    lines = text.splitlines()
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(lines) - 1))
        how = data.draw(st.sampled_from(["delete", "duplicate", "replace", "splice"]))
        if how == "delete":
            del lines[i]
        elif how == "duplicate":
            lines.insert(i, lines[i])
        elif how == "replace":
            lines[i] = data.draw(st.text(alphabet=" -:{}[],#&*!\"'0123456789.abcdeop_",
                                         max_size=30))
        else:
            at = data.draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:at] + data.draw(st.sampled_from(
                ["", " ", "  ", ":", "-", "null", "[", "true", "1e999", "0", "\t", "&a", "*a"]))
        if not lines:
            lines = [""]
    _load_or_refuse("\n".join(lines))


_scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**30),
                     st.floats(allow_nan=True), st.text(max_size=12),
                     st.sampled_from(["FW-OXI", "smt", "molding", "flashing", "float",
                                      "ActTimCyc"]))
_keys = st.sampled_from(["op", "name", "station_type", "activity", "data", "consumes", "flash",
                         "molding", "part", "qty", "min", "max", "type", "euromap", "by_serial",
                         "versions", "cavities", "origin_conferring", "serialize", "x"])
_values = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4)
                       | st.dictionaries(_keys, inner, max_size=6), max_leaves=25)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["routing", "parts"]), _values)
def test_random_structures_only_raise_mes_errors(top: str, value: object) -> None:
    if top == "routing" and isinstance(value, list):
        value = {"part": "A", "operations": value}
    _load_or_refuse(yaml.safe_dump({top: value}))


def test_problem_lines_point_into_the_file() -> None:
    # Every reported line exists in the file (a guard against off-by-one in marks).
    text = (ROUTINGS / "pcba-oxi-100.yaml").read_text()
    broken = re.sub(r"min: (\d+), max: (\d+)", r"min: \2, max: \1", text)
    with pytest.raises(ValidationFailed) as exc:
        load_text(broken)
    lines = broken.splitlines()
    assert len(exc.value.problems) > 5
    for p in exc.value.problems:
        assert p.line is not None and "max" in lines[p.line - 1], p


def test_only_mes_errors_escape_for_odd_inputs() -> None:
    deep = "routing: " + "[" * 5000 + "]" * 5000
    for text in [deep, "\ud800", "routing:\n  part: " + "9" * 5000]:
        with pytest.raises(MesError) as exc:
            load_text(text)
        assert isinstance(exc.value, ALLOWED), exc.value
