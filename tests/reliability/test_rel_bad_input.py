"""Bad input never crashes mes and a refused command changes nothing (issue: bad input).

Hypothesis drives routing YAML, EUROMAP 63 reports, IPC-CFX messages, GS1 scans,
identifiers, numbers, dates and whole argument lists through the real CLI entry point.
For every example: stderr has no "Traceback", the exit code is in the documented table
{0, 2, 3, 4, 5, 6, 7} (1 = internal error = a bug), and when the command was refused
(exit ≠ 0) the database is unchanged apart from `auth.denied` audit events.
Files that are huge (50 MB), binary, empty, UTF-16 or missing are tried on every
file-reading command. Example counts are modest by default, larger under `-m slow`.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import PASSWORDS, ROOT, ROUTINGS, Workspace, run_cli
from tests.reliability.conftest import PCBA, step_args

DATA = ROOT / "tests" / "data"
DOCUMENTED = {0, 2, 3, 4, 5, 6, 7}
FAST = settings(max_examples=int(os.environ.get("MES_FUZZ_EXAMPLES", "25")), deadline=None,
                suppress_health_check=list(HealthCheck), derandomize=True)
SLOW = settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
TRIED: dict[str, int] = {}


class Fuzz:
    """The workspace under test with a technician's station session; checks each run."""

    def __init__(self, ws: Workspace, info: dict[str, Any]) -> None:
        self.ws, self.info = ws, info
        self.before = ws.dump()
        self.n = 0

    def file(self, data: bytes | str, name: str = "input") -> Path:
        self.n += 1
        path = self.ws.path / "fuzz" / f"{self.n}-{name}"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(data.encode("utf-8", "surrogatepass") if isinstance(data, str)
                         else data)
        return path

    def run(self, kind: str, *args: object, stdin: str = "") -> Any:
        TRIED[kind] = TRIED.get(kind, 0) + 1
        r = run_cli([str(a) for a in args], stdin)
        assert "Traceback" not in r.err and "Traceback" not in r.out, str(r)
        assert r.code in DOCUMENTED, (args, str(r))
        after = self.ws.dump()
        if r.code != 0:
            a, b = set(self.before), set(after)
            gone = [x for x in self.before if x not in b]
            new = [x for x in after if x not in a]
            assert gone == [], (args, str(r), gone[:3])
            assert all(x.startswith('INSERT INTO "audit"') and "'auth.denied'" in x
                       for x in new), (args, str(r), new[:3])
        self.before = after
        return r


@pytest.fixture(scope="module")
def fz(plant_template: tuple[Path, dict[str, Any]], tmp_path_factory: pytest.TempPathFactory
       ) -> Iterator[Fuzz]:
    src, info = plant_template
    path = tmp_path_factory.mktemp("fuzz") / "plant"
    shutil.copytree(src, path)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MES_HOME", str(path))
        mp.delenv("MES_DB", raising=False)
        mp.chdir(path)
        ws = Workspace(path)
        lot = json.loads(ws.ok("lot", "create", PCBA, "--qty", 2, "--json", user="fatima").out)
        out = ws.ok("material", "receive", "RESIN-PC2458", "--qty", 1000, user="fatima").out
        resin = out.split()[1]
        if "quarantine" in out:
            ws.ok("material", "release", resin, user="youssef")
        ws.ok("station", "load", "DRY-1", resin, "--slot", "H1", user="fatima")
        enc = json.loads(ws.ok("routing", "show", "ENC-OXI-100", "--json").out)
        enc_lot = json.loads(ws.ok("lot", "create", "ENC-OXI-100", "--qty", 40, "--json",
                                   user="fatima").out)["lot"]
        ws.ok(*step_args(enc, enc_lot, 10), user="fatima")
        ws.ok("login", "tarik", "--station", "PNP-1", "--password-stdin",
              stdin=PASSWORDS["tarik"] + "\n")
        yield Fuzz(ws, {**info, "lot": lot["lot"], "serials": lot["serials"],
                        "enc_lot": enc_lot})
    print("bad-input examples tried:", TRIED, "total", sum(TRIED.values()))


# -- strategies -----------------------------------------------------------------------------

def mutated(base: bytes) -> st.SearchStrategy[bytes]:
    """A real file with a few random edits: deletions, insertions, replacements, truncation."""
    @st.composite
    def strat(draw: Any) -> bytes:
        data = bytearray(base)
        for _ in range(draw(st.integers(1, 6))):
            if not data:
                break
            i = draw(st.integers(0, len(data) - 1))
            op = draw(st.sampled_from(["del", "ins", "rep", "cut", "dup"]))
            blob = draw(st.binary(min_size=1, max_size=12) | st.sampled_from(
                [b"\n", b",", b":", b"-", b"{", b"}", b"\"", b"'", b"1e999", b"NaN",
                 b"-1", b"\x00", b"\xff\xfe", b"&a", b"*a", b"!!python/object:os.system",
                 b"9" * 40, b"\t", b" "]))
            if op == "del":
                del data[i:i + draw(st.integers(1, 40))]
            elif op == "ins":
                data[i:i] = blob
            elif op == "rep":
                data[i:i + len(blob)] = blob
            elif op == "cut":
                del data[i:]
            else:
                data[i:i] = data[i:i + draw(st.integers(1, 80))]
        return bytes(data)
    return strat()


YAML_FILES = sorted(ROUTINGS.glob("*.yaml"))
CFX_FILES = sorted((DATA / "cfx").glob("*.json*"))
E63 = (DATA / "euromap63" / "REPORTS.DAT").read_bytes()
junk_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=200)


def any_file(base: bytes) -> st.SearchStrategy[bytes]:
    return (mutated(base) | st.binary(max_size=400) | junk_text.map(str.encode)
            | st.just(b"") | mutated(base).map(lambda b: b.decode("latin-1").encode("utf-16")))


# -- properties -----------------------------------------------------------------------------

@FAST
@given(data=st.data())
def test_routing_yaml(fz: Fuzz, data: st.DataObject) -> None:
    base = data.draw(st.sampled_from(YAML_FILES)).read_bytes()
    path = fz.file(data.draw(any_file(base)), "routing.yaml")
    fz.run("routing yaml", "routing", data.draw(st.sampled_from(["validate", "load"])), path)


@FAST
@given(data=st.data())
def test_euromap63_report(fz: Fuzz, data: st.DataObject) -> None:
    path = fz.file(data.draw(any_file(E63)), "REPORTS.DAT")
    fz.run("euromap63", "molding", "import", fz.info["enc_lot"], "--station", "IMM-2",
           "--report", path)


@FAST
@given(data=st.data())
def test_cfx_message(fz: Fuzz, data: st.DataObject) -> None:
    base = data.draw(st.sampled_from(CFX_FILES)).read_bytes()
    path = fz.file(data.draw(any_file(base)), "msg.json")
    fz.run("cfx", "cfx", "import", path, "--station", data.draw(st.sampled_from(
        ["PNP-1", "REFLOW-1", "AOI-1", "ICT-1"])))


gs1 = st.lists(st.sampled_from(["]d2", "\x1d", "01", "10", "17", "21", "11", "(01)", "(17)",
                                "09506000134352", "04012345678901", "ABC", "991231", "000000",
                                "261300", "LOT-1", "1", "é", " ", "(", ")", "8012", "\x00"]),
               max_size=12).map("".join) | junk_text


@FAST
@given(scan=gs1)
def test_gs1_scan(fz: Fuzz, scan: str) -> None:
    fz.run("gs1 scan", "material", "receive", "--part", "CAP-100N-0402", "--qty", "5",
           "--scan", scan)


ident = (st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
         | st.from_regex(r"[0-9A-Za-z\- ]{0,30}", fullmatch=True)
         | st.sampled_from(["", " ", "-", "PB-000001 ", "pb-000001", "L2611-0001",
                            "../../etc/passwd", "A" * 5000, "NCR-0001", "R-000001"]))


@FAST
@given(value=ident, which=st.integers(0, 7))
def test_identifiers(fz: Fuzz, value: str, which: int) -> None:
    if value.startswith("-"):
        value = " " + value  # not an option: an identifier that starts with a dash
    cmds = [["lot", "show", value], ["trace", "back", value], ["material", "show", value],
            ["step", "complete", value, "--op", "10", "--station", "PRN-1"],
            ["ncr", "open", value, "--description", "x"], ["station", "add", value,
                                                            "--type", "visual"],
            ["lot", "create", value, "--qty", "1"], ["ncr", "show", value]]
    fz.run("identifier", *cmds[which])


number = (st.sampled_from(["nan", "NaN", "inf", "-inf", "-0", "0", "1e309", "-1", "0x10",
                           "1_000", "١٢", "1,5", "", " ", "99999999999999999999999",
                           "4.9e-324", "1e-400"])
          | st.integers(-10**30, 10**30).map(str) | st.floats().map(repr) | junk_text)


@FAST
@given(value=number, which=st.integers(0, 4))
def test_numbers(fz: Fuzz, value: str, which: int) -> None:
    sn = fz.info["serials"][0]
    op = next(o for o in fz.info["routing"]["operations"] if o["op"] == 10)
    name = next(s["name"] for s in op["data"])
    cmds = [["lot", "create", PCBA, "--qty", value],
            ["material", "receive", "CAP-100N-0402", "--qty", value],
            ["material", "receive", "CAP-100N-0402", "--qty", "1", "--unit-cost", value],
            [*step_args(fz.info["routing"], sn, 10)[:-2], "--data", f"{name}={value}"],
            ["step", "complete", sn, "--op", value, "--station", "PRN-1"]]
    fz.run("number", *cmds[which])


date_text = (st.dates().map(str) | st.sampled_from(
    ["2026-02-30", "2026-13-01", "0000-01-01", "9999-12-31", "26-01-01", "2026/01/01",
     "20260101", "2026-1-1", "today", "", "2026-01-01T00:00:00", "2026-01-01 "]) | junk_text)


@FAST
@given(value=date_text, which=st.integers(0, 3))
def test_dates(fz: Fuzz, value: str, which: int) -> None:
    cmds = [["material", "receive", "CAP-100N-0402", "--qty", "1", "--expiry", value],
            ["station", "update", "VIS-1", "--calibration-due", value],
            ["user", "qualify", "omar", "visual", "--until", value],
            ["report", "yield", "--since", value]]
    fz.run("date", *cmds[which])


WORDS = ["lot", "create", "show", "list", "step", "complete", "start", "material", "receive",
         "ncr", "open", "disposition", "close", "trace", "back", "forward", "routing", "audit",
         "verify", "log", "station", "load", "report", "yield", "cfx", "import", "molding",
         "firmware", "flash", "label", "print", "dhr", "recall", "ship", "backup", "origin",
         "--json", "--csv", "--op", "--station", "--qty", "--data", "--consume", "--reason",
         "--units", "--to", "--ref", "--anchor", "--limit", "--depth", "--result", "--slot",
         "--version", "--help", "-x", "--", "PCBA-OXI-100", "PNP-1", "10", "-1", "1e9", "=",
         "x=y", "PB-000001", "L2611-0001", "R-000001", "", " ", "é", "\x00", "pass", "fail"]


@FAST
@given(argv=st.lists(st.sampled_from(WORDS) | junk_text, max_size=9))
def test_command_lines(fz: Fuzz, argv: list[str]) -> None:
    argv = [a.replace("\x00", "") for a in argv]
    if argv and argv[0] in ("login", "logout", "init", "demo"):
        return
    fz.run("argv", *argv)


# -- files that are huge, binary, empty, wrongly encoded, missing --------------------------

def test_hostile_files_on_every_file_command(fz: Fuzz, tmp_path: Path) -> None:
    huge = tmp_path / "huge.bin"
    with huge.open("wb") as f:
        chunk = os.urandom(1 << 20)
        for i in range(50):
            f.write(chunk if i % 2 else chunk.replace(b"\n", b","))
    files = {
        "huge 50 MB": huge,
        "binary": fz.file(bytes(range(256)) * 40, "binary"),
        "empty": fz.file(b"", "empty"),
        "utf-16 yaml": fz.file(YAML_FILES[0].read_text().encode("utf-16"), "u16.yaml"),
        "utf-16 report": fz.file(E63.decode().encode("utf-16"), "u16.DAT"),
        "utf-16 cfx": fz.file(CFX_FILES[0].read_text().encode("utf-16"), "u16.json"),
        "missing": tmp_path / "does-not-exist.yaml",
        "a directory": tmp_path,
    }
    commands = [
        lambda p: ["routing", "validate", p], lambda p: ["routing", "load", p],
        lambda p: ["molding", "import", fz.info["enc_lot"], "--station", "IMM-2", "--report",
                   p],
        lambda p: ["cfx", "import", p, "--station", "PNP-1"],
        lambda p: ["label", "verify", p],
        lambda p: ["backup", "verify", p],
    ]
    for name, path in files.items():
        for make in commands:
            r = fz.run(f"file: {name}", *make(path))
            assert r.code != 0, (name, make(path), str(r))


@pytest.mark.slow
@SLOW
@given(data=st.data())
def test_all_inputs_long(fz: Fuzz, data: st.DataObject) -> None:
    which = data.draw(st.integers(0, 2))
    if which == 0:
        base = data.draw(st.sampled_from(YAML_FILES)).read_bytes()
        fz.run("routing yaml", "routing", "load", fz.file(data.draw(any_file(base)), "r.yaml"))
    elif which == 1:
        fz.run("euromap63", "molding", "import", fz.info["enc_lot"], "--station", "IMM-2",
               "--report", fz.file(data.draw(any_file(E63)), "R.DAT"))
    else:
        base = data.draw(st.sampled_from(CFX_FILES)).read_bytes()
        fz.run("cfx", "cfx", "import", fz.file(data.draw(any_file(base)), "m.json"),
               "--station", "PNP-1")
