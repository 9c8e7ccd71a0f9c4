"""The quality suite's built plant (3 devices of one lot), labelled and released, with the
site's GS1 identities set: ready to pack."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Workspace
from tests.quality.conftest import built, built_template  # noqa: F401 (fixtures)
from tests.quality.helpers import Scenario

PREFIX = "6111234"
SITE_GLN = "6111234000002"
CATALOG = Path(__file__).resolve().parents[2] / "routings" / "catalog.yaml"


@pytest.fixture
def packable(built: tuple[Workspace, Scenario]) -> Iterator[tuple[Workspace, Scenario]]:  # noqa: F811
    ws, sc = built
    ws.ok("config", "set", "gs1.company_prefix", PREFIX, user="amina")
    ws.ok("config", "set", "gs1.site_gln", SITE_GLN, user="amina")
    # the devices were labelled (PDF, verified) by run_ops before their labelling op
    ws.ok("dhr", "review", sc.dev_lot, user="youssef")
    ws.ok("lot", "release", sc.dev_lot, user="youssef")
    yield ws, sc


def small_boxes(ws: Workspace, tmp: Path, box: int = 2, case: int = 2) -> None:
    """The catalog again with a box of `box` devices and a case of `case` boxes."""
    text = CATALOG.read_text(encoding="utf-8")
    text = text.replace("{level: box, contains: 10}", f"{{level: box, contains: {box}}}")
    text = text.replace("{level: case, contains: 4}", f"{{level: case, contains: {case}}}")
    f = tmp / "catalog.yaml"
    f.write_text(text, encoding="utf-8")
    ws.ok("routing", "load", f, user="tarik")
