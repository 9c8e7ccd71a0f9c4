"""mes demo: a whole plant, from an empty workspace to a shipped, labelled lot.

The demo drives the real command line (in this process, so it takes seconds, not
minutes): every line it shows is a command a person could type, with its answer.
"""

from __future__ import annotations

import io
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer

from mes.cli.common import emit_json, say

PASSWORDS = {"amina": "Amina-2026!", "fatima": "Fatima-2026!", "karim": "Karim-2026!",
             "youssef": "Youssef-2026!", "tarik": "Tarik-2026!"}
USERS = [("fatima", "operator", "Fatima Zahra Alaoui"), ("karim", "operator", "Karim Tazi"),
         ("youssef", "quality", "Youssef Benali"), ("tarik", "technician", "Tarik Ouazzani")]
STATIONS = {
    "PRN-1": "smt-printer", "SPI-1": "spi", "PNP-1": "smt-pnp", "REFLOW-1": "reflow-oven",
    "AOI-1": "aoi", "ICT-1": "ict", "FLASH-1": "flash", "DRY-1": "dryer", "IMM-2": "imm",
    "VIS-1": "visual", "ASM-1": "assembly", "FT-1": "func-test", "LBL-1": "labeler",
    "PACK-1": "pack",
}
# What the receiving dock gets: part -> (qty, supplier, supplier lot, date code)
RECEIPTS = {
    "PCB-OXI-100": (50, "Shenzhen FastPCB Co.", "FP-2610-118", "2610"),
    "CAP-100N-0402": (10000, "Murata (via Arrow)", "2544-A17", "2544"),
    "CAP-1U-0402": (10000, "Samsung EM (via Arrow)", "SE-24-7781", "2441"),
    "CAP-10U-0603": (4000, "Samsung EM (via Arrow)", "SE-24-9102", "2443"),
    "RES-10K-0402": (10000, "Yageo (via Arrow)", "YG-2547-03", "2547"),
    "RES-4K7-0402": (10000, "Yageo (via Arrow)", "YG-2547-11", "2547"),
    "MCU-STM32L432": (100, "STMicroelectronics Bouskoura", "ST-MA-26-0415", "2615"),
    "AFE-MAX30101": (100, "Analog Devices (via Avnet)", "MX-2620-22", "2620"),
    "BLE-NRF52832": (100, "Nordic Semiconductor (via Avnet)", "NR-2618-09", "2618"),
    "PASTE-SAC305": (500, "Alpha Assembly Solutions", "AL-26-3051", "2609"),
    "RESIN-PC2458": (25, "Covestro", "CV-2458-26-114", "2607"),
    "SCREW-PT-K25X6": (1000, "Böllhoff", "BH-2611-5", "2611"),
    "BATT-LIPO-300": (100, "EEMB", "EE-2619-77", "2619"),
    "BOX-OXI-100": (200, "Imprimerie Najah, Casablanca", "NJ-2611-04", "2611"),
    "IFU-OXI-100": (200, "Imprimerie Najah, Casablanca", "NJ-2611-05", "2611"),
    "LBL-50X25": (1000, "Etiq Maroc", "EM-2611-50", "2611"),
    "LBL-100X50": (1000, "Etiq Maroc", "EM-2611-100", "2611"),
}
# Work instructions of the demo plant: document -> (the op it applies to, title).
WORK_INSTRUCTIONS = {
    "WI-SMT-PRINT": ("PCBA-OXI-100:10", "Solder paste printing, stencil STN-OXI-100-B"),
    "WI-ASM-OXI": ("DEV-OXI-100:10", "Final assembly of the OxiSense 100"),
}
PCBA_STATION = {10: "PRN-1", 20: "SPI-1", 30: "PNP-1", 40: "REFLOW-1", 50: "AOI-1",
                60: "ICT-1", 70: "FLASH-1"}
# Typical values a line would record, by data name (inside the validated windows).
TYPICAL: dict[str, str] = {
    "stencil_id": "STN-OXI-100-B", "program_rev": "OXI100-P07", "fw_version": "1.4.2",
    "feeder_setup_verified": "true", "inspected": "24", "rejected": "0",
}


class DemoFailed(Exception):
    pass


@dataclass
class Demo:
    workspace: Path
    quiet: bool = False
    transcript: list[dict[str, Any]] = field(default_factory=list)
    refusals: list[dict[str, Any]] = field(default_factory=list)

    def mes(self, *args: object, user: str | None = None, expect: int = 0,
            show: bool = True, extra_stdin: tuple[str, ...] = ()) -> str:
        """Run one mes command in this process, as a shell would, and check its exit code."""
        code, out, err = self._run(args, user, extra_stdin)
        shown = " ".join(_quote(a) for a in args)
        self.transcript.append({"command": f"mes {shown}", "user": user, "exit": code})
        if code != expect:
            raise DemoFailed(f"`mes {shown}` exited {code} (expected {expect}): "
                             f"{(err or out).strip()}")
        if show and not self.quiet:
            who = f"[{user}] " if user else ""
            say(f"  $ {who}mes {shown}")
            for line in (out if code == 0 else err).strip().splitlines()[:6]:
                say(f"      {line}")
        return out

    def _run(self, args: tuple[object, ...], user: str | None,
             extra_stdin: tuple[str, ...] = ()) -> tuple[int, str, str]:
        from mes.cli import main

        argv = ["--db", str(self.workspace / "mes.db")]
        lines = list(extra_stdin)
        if user:
            argv += ["--user", user, "--password-stdin"]
            lines.insert(0, PASSWORDS[user])
        argv += [str(a) for a in args]
        old = sys.stdin, sys.stdout, sys.stderr
        sys.stdin = io.StringIO("".join(line + "\n" for line in lines))
        sys.stdout, sys.stderr = io.StringIO(), io.StringIO()
        try:
            code = main(argv)
            return code, sys.stdout.getvalue(), sys.stderr.getvalue()
        finally:
            sys.stdin, sys.stdout, sys.stderr = old

    def json(self, *args: object, user: str | None = None) -> Any:
        return json.loads(self.mes(*args, "--json", user=user, show=False))

    def section(self, title: str) -> None:
        if not self.quiet:
            say(f"\n== {title}")

    def refuse(self, what: str, *args: object, user: str, expect: int) -> None:
        """Show a command that must be refused, and prove it recorded nothing but audit."""
        before = self.json("audit", "verify")["events"]
        code, _, err = self._run(args, user)
        if code != expect:
            raise DemoFailed(f"{what}: expected exit {expect}, got {code}: {err.strip()}")
        after = self.json("audit", "verify")["events"]
        self.refusals.append({"case": what, "command": "mes " + " ".join(map(_quote, args)),
                              "exit": code, "message": err.strip(),
                              "audit_events_written": after - before})
        if not self.quiet:
            say(f"  ✗ {what}: exit {code}\n      {err.strip()}")


def _quote(a: object) -> str:
    s = str(a)
    return f'"{s}"' if (" " in s or not s) else s


def typical(spec: dict[str, Any]) -> str:
    """A plausible in-window value for a data spec."""
    if spec["name"] in TYPICAL:
        return TYPICAL[spec["name"]]
    lo, hi = spec.get("min"), spec.get("max")
    if spec["type"] == "bool":
        return "true"
    if spec["type"] == "str":
        return "OK"
    if lo is not None and hi is not None:
        value = lo + (hi - lo) * 0.5
    elif lo is not None:
        value = lo + 1 if spec["type"] == "int" else lo * 1.1 + 1
    elif hi is not None:
        value = hi - 5 if hi != 0 else 0
    else:
        value = 1
    return str(round(value)) if spec["type"] == "int" else f"{value:.2f}"


def data_args(op: dict[str, Any]) -> list[str]:
    args: list[str] = []
    for spec in op["data"]:
        args += ["--data", f"{spec['name']}={typical(spec)}"]
    if op.get("result_required", True):
        args += ["--result", "pass"]
    return args


MAX_UNITS = 5000
ENCLOSURES_PER_DEVICE = 4  # the enclosure lot is molded with spares (4-cavity mold)


def material_needs(routing: dict[str, dict[int, dict[str, Any]]], units: int
                   ) -> dict[str, float]:
    """What building `units` devices consumes of each purchased part, from the routings."""
    made = {"PCBA-OXI-100": units, "ENC-OXI-100": units * ENCLOSURES_PER_DEVICE,
            "DEV-OXI-100": units}
    needs: dict[str, float] = {}
    for part, n in made.items():
        for op in routing[part].values():
            for line in op.get("consumes", ()):
                needs[line["part"]] = needs.get(line["part"], 0) + line["qty"] * n
    return needs


def receipt_qty(base: float, need: float) -> float:
    """The dock's usual delivery, or enough for the run with 10 % to spare."""
    import math

    return max(base, math.ceil(need * 1.1))


def _each(d: Demo, items: list[Any], what: str) -> Any:
    """The per-unit loops: a progress bar on a terminal (long runs), plain otherwise."""
    if d.quiet or not sys.stderr.isatty() or len(items) < 20:
        return items
    from rich.console import Console
    from rich.progress import track

    return track(items, description=what, console=Console(stderr=True), transient=True)


def run_demo(workspace: Path, *, units: int = 6, quiet: bool = False) -> dict[str, Any]:
    from mes.ingest.euromap63 import synthetic_report, write_report

    d = Demo(workspace, quiet=quiet)
    workspace.mkdir(parents=True, exist_ok=True)
    os.environ["MES_HOME"] = str(workspace)
    # Tables are captured, not printed to a terminal: give them room to stay legible.
    os.environ.setdefault("COLUMNS", "150")
    routings_dir = Path(__file__).resolve().parents[2] / "routings"
    # The packaged copies of the plant's labels/ (a test keeps them identical).
    labels_dir_src = Path(__file__).resolve().parents[1] / "data" / "labels"
    if not routings_dir.is_dir():
        routings_dir = Path.cwd() / "routings"

    d.section("1. A new workspace: site, users, stations")
    d.mes("init", "--site-name", "Usine Casablanca", "--country", "MA", "--manufacturer",
          "OxiMaroc SA", "--address", "Technopark, Route de Nouaceur, 20270 Casablanca, Maroc",
          "--admin", "amina", "--admin-name", "Amina El Idrissi", "--password-stdin",
          extra_stdin=(PASSWORDS["amina"],))
    for name, role, full in USERS:
        d.mes("user", "add", name, "--role", role, "--name", full, "--password-stdin",
              user="amina", extra_stdin=(PASSWORDS[name],), show=name == "fatima")
    for sid, stype in STATIONS.items():
        d.mes("station", "add", sid, "--type", stype, "--calibration-due", "2027-06-30",
              user="tarik", show=sid in ("PNP-1",))
    d.mes("tool", "add", "M-ENC-01", "--kind", "mold", "--cavities", "4", "--life", "500000",
          "--maintenance-every", "50000", user="tarik", show=False)
    for stype in sorted(set(STATIONS.values())):
        for who in ("fatima", "karim"):
            d.mes("user", "qualify", who, stype, "--until", "2027-06-30", user="youssef",
                  show=(who, stype) == ("fatima", "smt-pnp"))

    d.section("2. Routings and work instructions: loaded as drafts, approved by quality "
              "(signed); operators trained")
    files = sorted(routings_dir.glob("*.yaml"))
    d.mes("routing", "validate", *files)
    loaded = d.mes("routing", "load", *files, user="tarik", show=False)
    for line in loaded.splitlines():
        if line.startswith("routing ") and line.endswith("draft"):
            part, version = line.split()[1], line.split()[2].strip("v:")
            d.mes("routing", "approve", part, "--version", version, user="youssef")
    d.section("2b. Label templates: controlled documents, loaded as drafts, approved (signed)")
    loaded = d.mes("label", "template", "load", *sorted(labels_dir_src.glob("*.yaml")),
                   user="tarik", show=False)
    for line in loaded.splitlines():
        if ": draft" in line:
            name, version = line.split()[2], line.split()[3].strip("v:")
            d.mes("label", "template", "approve", name, "--version", version, user="youssef")
    routing = {p: {o["op"]: o for o in d.json("routing", "show", p)["operations"]}
               for p in ("PCBA-OXI-100", "ENC-OXI-100", "DEV-OXI-100")}
    # Work instructions (issue 18): controlled documents for two ops; fatima is trained on
    # them, karim (who molds) is not.
    documents = workspace / "documents"
    documents.mkdir(exist_ok=True)
    for doc, (op_ref, title) in WORK_INSTRUCTIONS.items():
        source = documents / f"{doc}-A.txt"
        source.write_text(f"{doc} rev A — {title}\nApplies to {op_ref}.\n", encoding="utf-8")
        first = doc == "WI-SMT-PRINT"
        d.mes("wi", "load", doc, "--file", source, "--revision", "A", "--op", op_ref,
              "--title", title, user="tarik", show=first)
        d.mes("wi", "approve", doc, "--revision", "A", user="youssef", show=first)
        d.mes("training", "record", "fatima", doc, "--revision", "A", user="youssef",
              show=first)

    d.section("3. Receiving: material lots with origin and cost, released after inspection")
    material: dict[str, str] = {}
    needs = material_needs(routing, units)
    for part, (base, supplier, slot_, dc) in RECEIPTS.items():
        qty = receipt_qty(base, needs.get(part, 0))
        row = d.mes("material", "receive", part, "--qty", qty, "--supplier", supplier,
                    "--supplier-lot", slot_, "--date-code", dc, "--expiry", "2028-06-30",
                    "--cert", f"COC-{slot_}", user="karim", show=part == "CAP-100N-0402")
        material[part] = row.split()[1]
        status = row.split(":")[-1].strip()
        if status == "quarantine":
            d.mes("material", "release", material[part], user="youssef",
                  show=part == "CAP-100N-0402")
    expired = d.mes("material", "receive", "CAP-100N-0402", "--qty", 5000, "--supplier",
                    "Murata (via Arrow)", "--supplier-lot", "2301-X02", "--expiry",
                    "2025-12-31", user="karim", show=False).split()[1]
    d.refuse("expired material", "material", "release", expired, user="youssef", expect=4)

    d.section("4. Firmware: registered by a technician, approved by quality")
    build = workspace / "build"
    build.mkdir(exist_ok=True)
    image = build / "oxi-fw-1.4.2.bin"
    image.write_bytes(b"OXFW" + b"1.4.2\0" + bytes((i * 7 + 3) % 256 for i in range(65536)))
    rc = build / "oxi-fw-1.5.0-rc1.bin"
    rc.write_bytes(b"OXFW" + b"1.5.0rc1\0" + bytes((i * 11) % 256 for i in range(65536)))
    d.mes("firmware", "register", image, "--part", "FW-OXI", "--version", "1.4.2", user="tarik")
    d.mes("firmware", "approve", "FW-OXI", "--version", "1.4.2", user="youssef")
    d.mes("firmware", "register", rc, "--part", "FW-OXI", "--version", "1.5.0-rc1",
          user="tarik", show=False)

    d.section("5. PCB assembly: paste, SPI, pick-and-place, reflow, AOI, ICT, flashing")
    out = d.mes("lot", "create", "PCBA-OXI-100", "--qty", units, user="fatima")
    pcba_lot, boards = out.split()[0], out.split()[1:]
    d.mes("station", "load", "PRN-1", material["PASTE-SAC305"], "--slot", "S1", user="fatima",
          show=False)
    for i, part in enumerate(("PCB-OXI-100", "CAP-100N-0402", "CAP-1U-0402", "CAP-10U-0603",
                              "RES-10K-0402", "RES-4K7-0402", "MCU-STM32L432",
                              "AFE-MAX30101", "BLE-NRF52832")):
        d.mes("station", "load", "PNP-1", material[part], "--slot", f"F{i + 1}",
              user="fatima", show=i == 1)
    for op_no in (10, 20, 30, 40, 50, 60):
        d.mes("step", "complete", pcba_lot, "--op", op_no, "--station", PCBA_STATION[op_no],
              *data_args(routing["PCBA-OXI-100"][op_no]), user="fatima")
    programmer = Path(__file__).resolve().parent.parent / "data" / "demo" / "programmer.py"
    for board in _each(d, boards, "flashing boards"):
        d.mes("flash", board, "--station", "FLASH-1", "--image", "FW-OXI@1.4.2", "--",
              sys.executable, programmer, "--image", "{image}", "--serial", "{serial}",
              user="fatima", show=board == boards[0])

    d.section("6. Injection molding: resin dried, EUROMAP 63 shot report imported")
    enc_qty = units * ENCLOSURES_PER_DEVICE
    enc_lot = d.mes("lot", "create", "ENC-OXI-100", "--qty", enc_qty, user="karim").split()[0]
    d.mes("station", "load", "DRY-1", material["RESIN-PC2458"], "--slot", "HOPPER",
          user="karim", show=False)
    d.mes("step", "complete", enc_lot, "--op", 10, "--station", "DRY-1",
          *data_args(routing["ENC-OXI-100"][10]), user="karim")
    window = {s["euromap"]: (s["min"], s["max"]) for s in routing["ENC-OXI-100"][20]["data"]
              if s.get("euromap")}
    columns, rows = synthetic_report(enc_qty // 4, seed=2611, window=window)
    report = workspace / "machines" / "IMM-2" / "REPORTS.DAT"
    report.parent.mkdir(parents=True, exist_ok=True)
    write_report(report, columns, rows)
    d.mes("molding", "import", enc_lot, "--station", "IMM-2", "--report", report, "--mold",
          "M-ENC-01", user="karim")
    d.mes("step", "complete", enc_lot, "--op", 30, "--station", "VIS-1", "--data",
          f"inspected={enc_qty}", "--data", "rejected=0", "--result", "pass", user="karim")

    d.section("7. Final assembly, functional test, labels, packing")
    out = d.mes("lot", "create", "DEV-OXI-100", "--qty", units, user="fatima")
    dev_lot, devices = out.split()[0], out.split()[1:]
    for part, station, slot in (("SCREW-PT-K25X6", "ASM-1", "BIN-1"),
                                ("BATT-LIPO-300", "ASM-1", "BIN-2"),
                                ("LBL-50X25", "LBL-1", "ROLL-1"),
                                ("LBL-100X50", "LBL-1", "ROLL-2"),
                                ("BOX-OXI-100", "PACK-1", "BIN-1"),
                                ("IFU-OXI-100", "PACK-1", "BIN-2")):
        d.mes("station", "load", station, material[part], "--slot", slot, user="fatima",
              show=False)
    for device, board in _each(d, list(zip(devices, boards, strict=True)),
                               "assembling and testing devices"):
        first = device == devices[0]
        d.mes("step", "complete", device, "--op", 10, "--station", "ASM-1", "--consume", board,
              "--consume", f"{enc_lot}:1", *data_args(routing["DEV-OXI-100"][10]),
              user="fatima", show=first)
        d.mes("step", "complete", device, "--op", 20, "--station", "FT-1",
              *data_args(routing["DEV-OXI-100"][20]), user="fatima", show=first)
    d.mes("origin", dev_lot, user="youssef")
    # first article: one label and its preview, approved (signed) before the rest prints
    first = d.json("label", "print", dev_lot, "--template", "udi-100x50", "--first-article",
                   user="fatima")["first_article"]
    d.mes("label", "approve-first", first["id"], user="karim")
    d.mes("step", "complete", dev_lot, "--op", 30, "--station", "LBL-1",
          *data_args(routing["DEV-OXI-100"][30]), user="fatima")
    d.mes("step", "complete", dev_lot, "--op", 40, "--station", "PACK-1",
          *data_args(routing["DEV-OXI-100"][40]), user="fatima")

    d.section("8. Release, shipping, device history record")
    d.mes("dhr", "review", pcba_lot, user="youssef", show=False)
    d.mes("lot", "release", pcba_lot, user="youssef", show=False)
    d.mes("dhr", "review", dev_lot, user="youssef")
    d.mes("lot", "release", dev_lot, user="youssef")
    d.mes("ship", dev_lot, "--to", "CHU Ibn Rochd, Casablanca", "--ref", "BL-2026-0412",
          user="youssef")
    dhr_files = d.mes("dhr", dev_lot, user="youssef").split()

    d.section("9. Refused, as they must be (nothing is recorded)")
    refused_lot = d.mes("lot", "create", "PCBA-OXI-100", "--qty", 2, user="fatima",
                        show=False).split()[0]
    d.refuse("wrong step (reflow before paste print)", "step", "complete", refused_lot,
             "--op", 40, "--station", "REFLOW-1", *data_args(routing["PCBA-OXI-100"][40]),
             user="fatima", expect=4)
    d.mes("lot", "hold", refused_lot, "--reason", "stencil damage suspected", user="youssef",
          show=False)
    d.refuse("lot on hold", "step", "complete", refused_lot, "--op", 10, "--station", "PRN-1",
             *data_args(routing["PCBA-OXI-100"][10]), user="fatima", expect=4)
    d.mes("lot", "unhold", refused_lot, "--reason", "stencil inspected: OK", user="youssef",
          show=False)
    d.refuse("operator not trained on the work instruction", "step", "complete",
             refused_lot, "--op", 10, "--station", "PRN-1",
             *data_args(routing["PCBA-OXI-100"][10]), user="karim", expect=4)
    d.refuse("unapproved firmware", "flash", boards[0], "--station", "FLASH-1", "--image",
             "FW-OXI@1.5.0-rc1", "--mcu-uid", "0x1", "--verify", "pass", user="fatima",
             expect=4)
    d.refuse("quality may not record steps", "step", "complete", refused_lot, "--op", 10,
             "--station", "PRN-1", *data_args(routing["PCBA-OXI-100"][10]), user="youssef",
             expect=6)

    d.section("10. What quality sees")
    trace_back = d.json("trace", "back", devices[0])
    trace_fwd = d.json("trace", "forward", material["CAP-100N-0402"], "--finished")
    origin = d.json("origin", dev_lot, user="youssef")
    verify = d.json("audit", "verify")
    d.mes("training", "list", "WI-SMT-PRINT")
    d.mes("wi", "units", "WI-ASM-OXI")
    d.mes("trace", "back", devices[0], "--depth", "2")
    d.mes("trace", "forward", material["CAP-100N-0402"], "--finished")
    d.mes("audit", "verify", "--reconcile")
    labels_dir = workspace / "labels"
    summary = {
        "workspace": str(workspace), "database": str(workspace / "mes.db"),
        "lots": {"pcba": pcba_lot, "enclosure": enc_lot, "device": dev_lot},
        "devices": devices, "boards": boards,
        "label_pdfs": sorted(str(p) for p in labels_dir.rglob("*.pdf")),
        "dhr": {"pdf": dhr_files[0], "json": dhr_files[1]},
        "trace_back": trace_back, "trace_forward": trace_fwd, "origin": origin,
        "refusals": d.refusals, "audit": verify, "commands_run": len(d.transcript),
    }
    return summary


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def demo(
    dir_: Annotated[Path, typer.Option("--dir", help="workspace to create (must be new)")]
    = Path("demo-workspace"),
    units: Annotated[int, typer.Option(
        help=f"devices to build (1-{MAX_UNITS}; materials are received to match)")] = 6,
    json_: Annotated[bool, typer.Option("--json", help="print the summary as JSON")] = False,
) -> None:
    """Run a whole plant in a new workspace: build, test, label, release, ship, trace."""
    from mes.errors import InvalidInput, Refused

    workspace = dir_.resolve()
    if (workspace / "mes.db").exists():
        raise Refused(f"{workspace} already has a mes.db: give a new --dir")
    if not 1 <= units <= MAX_UNITS:
        raise InvalidInput(f"--units must be between 1 and {MAX_UNITS}", field="units")
    try:
        summary = run_demo(workspace, units=units, quiet=json_)
    except DemoFailed as exc:
        from mes.errors import MesError

        raise MesError(f"demo stopped: {exc}") from exc
    if json_:
        emit_json(summary)
    else:
        _print_summary(summary)


def _print_summary(s: dict[str, Any]) -> None:
    o = s["origin"]
    say("\n== Summary")
    say(f"  workspace      {s['workspace']}  ({s['commands_run']} commands)")
    say(f"  lots           PCBA {s['lots']['pcba']}, enclosure {s['lots']['enclosure']}, "
        f"devices {s['lots']['device']} ({len(s['devices'])} units, shipped)")
    say(f"  label PDFs     {', '.join(s['label_pdfs'])}")
    say(f"  DHR            {s['dhr']['pdf']}")
    say(f"  origin         {'Made in Morocco: PERMITTED' if o.get('positive') else 'NOT permitted'}"
        f" (local value {o.get('local_pct', 0):.1f} % vs {o.get('threshold_pct', 0):g} %)")
    say(f"  audit chain    OK, {s['audit']['events']} events, head {s['audit']['head_hash']}")
    written = sum(r["audit_events_written"] for r in s["refusals"])
    say(f"  refusals       {len(s['refusals'])} shown, "
        f"{written} audit event{'' if written == 1 else 's'} written by "
        "them (only the authority refusal, which is audited)")
