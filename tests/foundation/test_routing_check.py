"""`routing validate` reports everything `routing load` would refuse: one checker (issue 12).

Checked against the workspace: parts referenced but in no catalog (files or database),
station types no registered station has, a device made here with no origin-conferring
operation, a device name longer than its label templates fit.
"""

from __future__ import annotations

from pathlib import Path

from tests.conftest import ROUTINGS, Workspace
from tests.foundation.helpers import assert_unchanged

CATALOG = """\
parts:
  - {number: GIZMO-1, name: "Gizmo monitor with a name far too long for the UDI label",
     kind: device, gtin: "06111234567895", ref: GZ-1, serialized: true}
  - {number: SCREW-M2, name: Screw M2, kind: component, unit_cost: 0.01, origin: CN}
"""
ROUTING = """\
routing:
  part: GIZMO-1
  operations:
    - {op: 10, name: Assemble, station_type: assembly, activity: assembly, serialize: true,
       consumes: [{part: SCREW-M2, qty: 4}, {part: NUT-M2, qty: 4}]}
    - {op: 20, name: Test, station_type: func-testt, activity: test}
"""
EXPECTED = [
    "gizmo.yaml:5: routing.operations[0].consumes[1].part: part NUT-M2 is not in the catalog",
    "gizmo.yaml: routing.operations[1].station_type: op 20: no station of type func-testt",
    "gizmo.yaml: routing.operations: GIZMO-1 is a device made here (op 10, 20) but no "
    "operation has origin_conferring: true",
    "catalog.yaml: parts.GIZMO-1.name: 'Gizmo monitor with a name far too long for the UDI "
    "label' has 56 characters; label templates shipper-100x150, udi-100x50 fit 40",
]


def files(tmp_path: Path) -> list[Path]:
    out = []
    for name, text in (("catalog", CATALOG), ("gizmo", ROUTING)):
        f = tmp_path / f"{name}.yaml"
        f.write_text(text)
        out.append(f)
    return out


def test_validate_and_load_report_the_same_problems(plant: Workspace, tmp_path: Path) -> None:
    ws = plant
    paths = files(tmp_path)
    before = ws.dump()
    v = ws.mes("routing", "validate", *paths)
    load = ws.mes("routing", "load", *paths, user="tarik")
    assert v.code == load.code == 5, (v, load)
    for expected in EXPECTED:
        assert expected in v.err, (expected, v.err)
    problems = [line for line in v.err.splitlines() if not line.startswith("mes: ")]
    assert len(problems) == len(EXPECTED), v.err
    assert [line for line in load.err.splitlines() if not line.startswith("mes: ")] == problems
    assert "(and 3 more problems)" in load.err
    assert_unchanged(ws, before)


def test_validate_uses_the_workspace_catalog(plant: Workspace) -> None:
    """A routing alone validates against the catalog already loaded in the workspace."""
    r = plant.ok("routing", "validate", ROUTINGS / "pcba-oxi-100.yaml")
    assert "PCBA-OXI-100 (7 operations)" in r.out


def test_without_a_catalog_a_lone_routing_is_refused_by_both(workspace: Workspace) -> None:
    v = workspace.mes("routing", "validate", ROUTINGS / "pcba-oxi-100.yaml")
    assert v.code == 5 and "PCBA-OXI-100 is not in the catalog" in v.err, v
