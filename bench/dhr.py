"""DHR at production-lot size (issue 14): pages and seconds for the DHR of an N-unit lot.

    python bench/dhr.py [--units 5000] [--out DIR] [--keep]

Builds a real workspace (bench/plant.py's set-up: `mes init`, routings loaded and approved
through the command line), then, through the services in this process: an N-board PCBA
lot (ops per lot, each board flashed), an enclosure lot, an N-device lot (op 10 per unit
consuming its board, the rest per lot), with a few exceptions (two functional-test
failures, one NCR used as is). Then times `write_dhr` (assembly + PDF + JSON + CSV) and
counts the PDF's pages. Goal: at most 12 pages plus the exceptions, in under 30 s.
Building the lot is not timed (it takes a few minutes at 5,000 units).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))

from plant import Bench, Reporter  # noqa: E402

STATION_OF = {"smt-printer": "PRN-1", "spi": "SPI-1", "smt-pnp": "PNP-1",
              "reflow-oven": "REFLOW-1", "aoi": "AOI-1", "ict": "ICT-1", "flash": "FLASH-1",
              "dryer": "DRY-1", "imm": "IMM-2", "visual": "VIS-1", "assembly": "ASM-1",
              "func-test": "FT-1", "labeler": "LBL-1", "pack": "PACK-1"}


def _value(spec: dict, rng: random.Random) -> str:
    if spec["type"] == "str":
        return "1.4.2"
    if spec["type"] == "bool":
        return "true"
    lo, hi = spec.get("min"), spec.get("max")
    lo = lo if lo is not None else (hi - 10 if hi is not None else 0)
    hi = hi if hi is not None else lo + 10
    x = lo + (hi - lo) * (0.3 + 0.4 * rng.random())
    return str(round(x)) if spec["type"] == "int" else f"{x:.3f}"


def _data(op: dict, rng: random.Random) -> dict[str, str]:
    return {d["name"]: _value(d, rng) for d in op["data"] if d["required"]}


def build(b: Bench, n: int) -> str:
    from mes.services.firmware import FlashRequest, approve, flash, register
    from mes.services.lots import create_lot
    from mes.services.materials import Receipt, load_on_station, receive, release
    from mes.services.quality import close_ncr, disposition, open_ncr
    from mes.services.routings import show
    from mes.services.steps import StepRequest, complete_step

    rng = random.Random(14)
    op, q, tech = b.ctx("fatima"), b.ctx("youssef"), b.ctx("tarik")
    for c in (op, q, tech):
        c.store.exec("PRAGMA synchronous=OFF")  # building the bench lot, not measuring it
    routing = {p: show(op, p, None) for p in ("PCBA-OXI-100", "ENC-OXI-100", "DEV-OXI-100")}

    def load(part_routing: dict, skip: set[str]) -> None:
        for o in part_routing["operations"]:
            for i, line in enumerate(o["consumes"]):
                if line.get("by_serial") or line["part"] in skip:
                    continue
                got = receive(op, Receipt(part=line["part"], qty=float(n * 20 + 1000),
                                          supplier="Bench Supplier", supplier_lot=f"BS-{i}",
                                          date_code="2544"))
                m = got["id"]
                if got.get("status") == "quarantine":
                    release(q, m)
                load_on_station(op, STATION_OF[o["station_type"]], m, f"F{i + 1}",
                                replace=True)

    with b.rep.phase("firmware and materials"):
        fw = b.ws / "fw.bin"
        fw.write_bytes(b"bench firmware 1.4.2\n" * 64)
        register(tech, fw, "FW-OXI", "1.4.2")
        approve(q, "FW-OXI", "1.4.2")
        for part in ("PCBA-OXI-100", "ENC-OXI-100", "DEV-OXI-100"):
            load(routing[part], {"ENC-OXI-100"})
    with b.rep.phase(f"PCBA lot of {n} boards (ops per lot, flash per board)", n) as adv:
        pcba = create_lot(op, "PCBA-OXI-100", n)
        for o in routing["PCBA-OXI-100"]["operations"]:
            if o.get("flash"):
                for i, sn in enumerate(pcba["serials"]):
                    flash(op, FlashRequest(serial=sn, station="FLASH-1", image="FW-OXI@1.4.2",
                                           mcu_uid=f"{0x3A000000 + i:024X}", verify="pass"))
                    adv(1)
                continue
            complete_step(op, StepRequest(scan=pcba["lot"], op=o["op"],
                                          station=STATION_OF[o["station_type"]],
                                          data=_data(o, rng), result="pass"))
    with b.rep.phase("enclosure lot"):
        enc = create_lot(op, "ENC-OXI-100", n + 10)
        for o in routing["ENC-OXI-100"]["operations"]:
            complete_step(op, StepRequest(scan=enc["lot"], op=o["op"],
                                          station=STATION_OF[o["station_type"]],
                                          data=_data(o, rng), result="pass"))
    with b.rep.phase(f"device lot of {n} units (op 10 per unit)", n) as adv:
        dev = create_lot(op, "DEV-OXI-100", n)
        ops = routing["DEV-OXI-100"]["operations"]
        for sn, board in zip(dev["serials"], pcba["serials"], strict=True):
            complete_step(op, StepRequest(scan=sn, op=ops[0]["op"], station="ASM-1",
                                          data=_data(ops[0], rng), result="pass",
                                          consume=[board, f"{enc['lot']}:1"]))
            adv(1)
        # Two units fail the functional test first (out of limits: held), then pass.
        for sn in dev["serials"][:2]:
            bad = {**_data(ops[1], rng), "spo2_error_pct": "2.6"}
            complete_step(op, StepRequest(scan=sn, op=ops[1]["op"], station="FT-1", data=bad,
                                          result="pass"))
            ncr = open_ncr(op, dev["lot"], f"SpO2 error 2.6 % on {sn}", [sn])
            disposition(q, ncr["id"], "rework", "sensor flex re-seated", ops[1]["op"], None)
            close_ncr(q, ncr["id"])
        ncr = open_ncr(op, dev["lot"], "cosmetic scratch on the window", dev["serials"][5:7])
        disposition(q, ncr["id"], "use-as-is", "outside the optical path, within spec", None,
                    None)
        close_ncr(q, ncr["id"])
        for o in ops[1:]:
            if o.get("label"):  # the labelling op passes only on verified labels
                label_lot(b, str(dev["lot"]))
            complete_step(op, StepRequest(scan=dev["lot"], op=o["op"],
                                          station=STATION_OF[o["station_type"]],
                                          data=_data(o, rng), result="pass"))
    for c in (op, q, tech):
        c.close()
    return str(dev["lot"])


def label_lot(b: Bench, lot: str) -> None:
    """Quality decides the lot's origin and approves the label template; its labels print."""
    b.cli("origin", lot, user="youssef")
    out = b.cli("label", "template", "load", str(BENCH.parent / "labels" / "udi-100x50.yaml"),
                user="tarik").stdout
    for line in out.splitlines():
        if ": draft" in line:
            name, version = line.split()[2], line.split()[3].rstrip(":").lstrip("v")
            b.cli("label", "template", "approve", name, "--version", version, user="youssef")
    b.cli("label", "print", lot, user="fatima")


def measure(b: Bench, lot: str) -> dict[str, object]:
    import pypdf

    from mes.services.dhr import write_dhr

    ctx = b.ctx("youssef")
    t = time.perf_counter()
    res = write_dhr(ctx, lot)
    seconds = time.perf_counter() - t
    pages = len(pypdf.PdfReader(res["pdf"]).pages)
    d = res["dhr"]
    ctx.close()
    return {"lot": lot, "units": d["lot"]["units"], "seconds": round(seconds, 2),
            "pages": pages, "exceptions": len(d["exceptions"]), "pdf": res["pdf"],
            "pdf_bytes": Path(res["pdf"]).stat().st_size,
            "json_bytes": Path(res["json"]).stat().st_size}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--units", type=int, default=5000)
    ap.add_argument("--out", type=Path, default=BENCH / "out")
    ap.add_argument("--keep", action="store_true", help="keep the workspace")
    args = ap.parse_args()
    rep = Reporter()
    b = Bench(0.001, args.out, rep, args.out / f"dhr-{args.units}")
    b.setup_workspace()
    lot = build(b, args.units)
    result = measure(b, lot)
    rep.close()
    print(json.dumps(result, indent=2))
    (args.out / f"dhr-{args.units}.json").write_text(json.dumps(result, indent=2) + "\n")
    if not args.keep:
        shutil.rmtree(b.ws, ignore_errors=True)


if __name__ == "__main__":
    main()
