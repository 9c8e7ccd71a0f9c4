"""The operator path imports no heavy library (DESIGN §3 habits, §10 budgets).

Each command runs in a fresh interpreter (as at a station) through the real entry point;
the wrapper reports `sys.modules` when it ends. No timing assertion: timings are bench/'s.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import PASSWORDS, Workspace
from tests.process.helpers import PCBA, lot_at, sql

HEAVY = ("reportlab", "yaml", "rich", "pypdf", "zxingcpp", "pypdfium2", "biip", "psycopg",
         "sqlite_utils", "PIL", "pystrich", "arabic_reshaper", "bidi", "matplotlib", "svglib")
# Our own label/PDF/import code has no business on the operator path either.
OURS = ("mes.render", "mes.services.labels", "mes.services.dhr", "mes.ingest")

WRAPPER = """\
import json, sys
from mes.cli import main
code = main(sys.argv[1:])
sys.stdout.flush()
sys.stderr.write("\\nMODULES " + json.dumps(sorted(sys.modules)) + "\\n")
sys.exit(code)
"""


def run_fresh(ws: Workspace, *args: object, stdin: str = "") -> tuple[int, str, set[str]]:
    env = {**os.environ, "MES_HOME": str(ws.path)}
    env.pop("MES_DB", None)
    env.pop("MES_DATABASE_URL", None)
    p = subprocess.run([sys.executable, "-c", WRAPPER, *map(str, args)], input=stdin,
                       capture_output=True, text=True, env=env, cwd=ws.path, timeout=120)
    err, _, mods = p.stderr.rpartition("\nMODULES ")
    assert mods, p.stderr
    return p.returncode, p.stdout + err, set(json.loads(mods))


def heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules
                  if m.split(".")[0] in HEAVY or any(m == o or m.startswith(o + ".")
                                                     for o in OURS))


@pytest.fixture
def station(plant: Workspace) -> tuple[Workspace, list[str]]:
    """A PCBA lot at op 70 (flash), the firmware approved, fatima logged in at REFLOW-1."""
    ws = plant
    _lot, serials = lot_at(ws, PCBA, 40, 3)
    image = ws.path / "oxi-fw-1.4.2.bin"
    image.write_bytes(b"\x7fFW" * 500)
    ws.ok("firmware", "register", image, "--part", "FW-OXI", "--version", "1.4.2", user="tarik")
    ws.ok("firmware", "approve", "FW-OXI", "--version", "1.4.2", user="youssef")
    ws.ok("login", "fatima", "--station", "REFLOW-1", "--password-stdin",
          stdin=PASSWORDS["fatima"] + "\n")
    return ws, serials


def test_operator_commands_import_nothing_heavy(station: tuple[Workspace, list[str]]) -> None:
    ws, serials = station
    reflow = ["--data", "peak_temp_c=243", "--data", "tal_s=62", "--data",
              "conveyor_speed_cm_min=80", "--result", "pass"]
    runs = {
        "step start": ("step", "start", serials[0], "--op", 40, "--station", "REFLOW-1"),
        "step complete": ("step", "complete", serials[0], "--op", 40, "--station", "REFLOW-1",
                          *reflow),
        "material receive": ("material", "receive", "PASTE-SAC305", "--qty", 500,
                             "--supplier-lot", "SL-1"),
    }
    for what, args in runs.items():
        code, out, modules = run_fresh(ws, *args)
        assert code == 0, f"{what}: {out}"
        assert out.startswith("OK"), f"{what}: {out}"
        assert heavy(modules) == [], f"`mes {what}` imported {heavy(modules)}"
    assert sql(ws, "SELECT status FROM steps WHERE serial = ? AND op = 40", (serials[0],)) \
        == [("passed",)]


def test_flash_typed_form_imports_nothing_heavy(station: tuple[Workspace, list[str]]) -> None:
    ws, serials = station
    from tests.process.helpers import advance

    advance(ws, serials[1], PCBA, 70, from_op=40)
    code, out, modules = run_fresh(
        ws, "--user", "fatima", "--password-stdin", "flash", serials[1], "--station", "FLASH-1",
        "--image", "FW-OXI@1.4.2", "--mcu-uid", "0x3A1F00C2D4E5F60718293A4B", "--verify",
        "pass", stdin=PASSWORDS["fatima"] + "\n")
    assert code == 0 and out.startswith("OK"), out
    assert heavy(modules) == [], f"`mes flash` imported {heavy(modules)}"


def test_station_loop_imports_nothing_heavy(station: tuple[Workspace, list[str]]) -> None:
    ws, serials = station
    lines = [serials[2], "DATA:peak_temp_c=243", "DATA:tal_s=62",
             "DATA:conveyor_speed_cm_min=80", "RESULT:PASS", "COMPLETE", "STATUS", "HELP",
             "nonsense here"]
    code, out, modules = run_fresh(ws, "station", "run", "REFLOW-1",
                                   stdin="\n".join(lines) + "\n")
    assert code == 0, out
    assert "OK op 40 (Reflow) passed on " + serials[2] in out, out
    assert heavy(modules) == [], f"`mes station run` imported {heavy(modules)}"


def test_importing_the_cli_imports_no_service_or_heavy_library() -> None:
    """Registering every command module must stay cheap: services load in command bodies."""
    code = ("import json, sys; import mes.cli; "
            "print(json.dumps(sorted(sys.modules)))")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=120, check=True)
    modules = set(json.loads(p.stdout))
    assert heavy(modules) == []
    loaded = sorted(m for m in modules if m.startswith("mes.services.")
                    and m != "mes.services.context")
    assert loaded == [], loaded
