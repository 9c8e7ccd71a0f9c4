"""Label print (with decode-back), pack, ship and EPCIS export of one device lot (issue 19).

    python bench/packing.py [--units N] [--keep]

Builds a workspace of its own: `mes init`, a catalog and routing (a device with
box 10 / case 4 / pallet 50, assembly then labelling), users, stations; one lot of N units
through assembly; then measures, in one process through the services (what a print
station or packing line runs):
- `label print LOT`: render + write + decode every page back + record, labels/s;
- packing every unit into boxes of 10, the boxes into cases, the cases into pallets
  (each full container closed and its logistic label rendered and decoded), units/s;
- shipping the pallets by SSCC in one shipment; the EPCIS export of the lot.
Beside them, measured in the same run: the decode-back alone (the symbol's box at the
printer's dpi, as label print does it; and the whole page at 300 dpi, as it was done before)
and, as the floor of pack, ship and export, reading the lot's units and labels once.
Default N = 500 (about a minute here); the issue's 5,000 takes a few minutes.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mes.services.context import Context  # noqa: E402

PASSWORDS = {"amina": "Amina-2026!", "fatima": "Fatima-2026!", "youssef": "Youssef-2026!",
             "tarik": "Tarik-2026!"}
CATALOG = """
parts:
  - number: DEV-B
    name: OxiSense 100 pulse oximeter (bench)
    kind: device
    ref: OXS-100
    gtin: "06111234500014"
    serialized: true
    serial_prefix: SN-
    shelf_life_days: 1825
    packaging:
      - {level: box, contains: 10}
      - {level: case, contains: 4}
      - {level: pallet, contains: 50}
"""
ROUTING = """
routing:
  part: DEV-B
  operations:
    - {op: 10, name: Final assembly, station_type: assembly, activity: assembly,
       origin_conferring: true, serialize: true, conversion_cost: 30, result_required: false}
    - {op: 20, name: Labelling, station_type: labeler, activity: labeling, label: true,
       conversion_cost: 1, result_required: false}
"""


def mes(ws: Path, *args: object, user: str | None = None, stdin: str = "") -> str:
    cmd = [sys.executable, "-m", "mes.cli"] if False else [str(ROOT / ".venv" / "bin" / "mes")]
    if user:
        cmd += ["--user", user, "--password-stdin"]
        stdin = PASSWORDS[user] + "\n" + stdin
    r = subprocess.run(cmd + [str(a) for a in args], input=stdin, capture_output=True,
                       text=True, cwd=ws, env={"MES_HOME": str(ws), "PATH": "/usr/bin:/bin"})
    if r.returncode:
        raise SystemExit(f"mes {' '.join(map(str, args))}: {r.stderr.strip()}")
    return r.stdout


def ctx(ws: Path, user: str) -> Context:
    return Context(workspace=ws, db=str(ws / "mes.db"), user=user,
                   password_source=lambda _: PASSWORDS[user])


def setup(ws: Path, units: int) -> tuple[str, list[str]]:
    mes(ws, "init", "--site-name", "Usine Casablanca", "--country", "MA", "--manufacturer",
        "OxiMaroc SA", "--address", "Technopark, Casablanca", "--admin", "amina",
        "--admin-name", "Amina El Idrissi", "--password-stdin", stdin=PASSWORDS["amina"] + "\n")
    for name, role, full in (("tarik", "technician", "Tarik Ouazzani"),
                             ("youssef", "quality", "Youssef Benali"),
                             ("fatima", "operator", "Fatima Zahra Alaoui")):
        mes(ws, "user", "add", name, "--role", role, "--name", full, "--password-stdin",
            user="amina", stdin=PASSWORDS[name] + "\n")
    for key, value in (("gs1.company_prefix", "6111234"), ("gs1.site_gln", "6111234000002")):
        mes(ws, "config", "set", key, value, user="amina")
    for sid, stype in (("ASM-1", "assembly"), ("LBL-1", "labeler")):
        mes(ws, "station", "add", sid, "--type", stype, "--calibration-due", "2099-12-31",
            user="tarik")
        mes(ws, "user", "qualify", "fatima", stype, "--until", "2099-12-31", user="youssef")
    (ws / "catalog.yaml").write_text(CATALOG, encoding="utf-8")
    (ws / "dev.yaml").write_text(ROUTING, encoding="utf-8")
    mes(ws, "routing", "load", "catalog.yaml", "dev.yaml", user="tarik")
    mes(ws, "routing", "approve", "DEV-B", "--version", "1", user="youssef")
    # Labels print only from an approved template (a controlled document).
    out = mes(ws, "label", "template", "load", ROOT / "labels" / "udi-100x50.yaml",
              user="tarik")
    for line in out.splitlines():
        if ": draft" in line:
            name, version = line.split()[2], line.split()[3].rstrip(":").lstrip("v")
            mes(ws, "label", "template", "approve", name, "--version", version, user="youssef")
    out = mes(ws, "lot", "create", "DEV-B", "--qty", units, user="fatima").splitlines()
    lot, serials = out[0].strip(), out[1].split()
    mes(ws, "step", "complete", lot, "--op", 10, "--station", "ASM-1", user="fatima")
    # labels state an origin only from a signed decision (issue 13): quality decides it
    mes(ws, "origin", lot, user="youssef")
    return lot, serials


def timed(fn):  # type: ignore[no-untyped-def]
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def run(units: int, keep: bool) -> dict[str, object]:
    from mes.services import epcis, packing
    from mes.services.labels import PrintRequest, print_labels

    ws = Path(tempfile.mkdtemp(prefix="mes-bench-pack-"))
    try:
        t_setup, (lot, serials) = timed(lambda: setup(ws, units))
        c = ctx(ws, "fatima")
        t_print, printed = timed(lambda: print_labels(c, PrintRequest(targets=[lot])))
        from mes.render.label_templates import load_template
        from mes.services.labels import template_dirs

        assert printed["verified"]
        pdf = (ws / printed["file"]).read_bytes()
        from mes.render.label_verify import verify_pdf

        template = load_template("udi-100x50", template_dirs(c))
        box = next(b for b in template.boxes if b.field == "datamatrix")
        # the decode-back as label print does it (the symbol's box at the printer's dpi),
        # and as it was done before (the whole page at 300 dpi)
        t_decode, _ = timed(lambda: verify_pdf(pdf, dpi=template.dpi, region_mm=(
            box.x - 1, box.y - 1, box.w + 2, box.h + 2)))
        t_verify_only, _ = timed(lambda: verify_pdf(pdf))
        mes(ws, "step", "complete", lot, "--op", 20, "--station", "LBL-1", user="fatima")
        mes(ws, "dhr", "review", lot, user="youssef")
        mes(ws, "lot", "release", lot, user="youssef")
        boxes, cases, pallets = [], [], []

        def pack_all() -> None:
            for i in range(0, len(serials), 10):
                boxes.append(packing.pack(c, serials[i:i + 10], close=True)["sscc"])
            for i in range(0, len(boxes), 4):
                cases.append(packing.pack(c, boxes[i:i + 4], close=True)["sscc"])
            for i in range(0, len(cases), 50):
                pallets.append(packing.pack(c, cases[i:i + 50], close=True)["sscc"])
        t_pack, _ = timed(pack_all)
        t_ship, shipped = timed(lambda: packing.ship_containers(
            ctx(ws, "tarik"), pallets, "CHU Ibn Rochd", "BL-BENCH-1", "6111234000019"))
        t_export, exported = timed(lambda: epcis.export(ctx(ws, "youssef"), lot, None,
                                                        ws / "events.jsonld"))
        # floor for pack, ship and export: reading the lot's units and labels once
        store = ctx(ws, "youssef").store
        t_read, rows = timed(lambda: store.all(
            "SELECT u.serial, b.element_string, b.printed_at FROM units u JOIN labels b ON "
            "b.item_id = u.serial WHERE u.lot_id = ?", (lot,)))
        assert len(rows) == units
        return {
            "units": units, "setup_s": round(t_setup, 1),
            "label_print_s": round(t_print, 2), "labels_per_s": round(units / t_print, 1),
            "decode_back_region_s": round(t_decode, 2),
            "decode_back_whole_page_300dpi_s": round(t_verify_only, 2),
            "read_units_and_labels_s": round(t_read, 3),
            "pack_s": round(t_pack, 2), "containers": len(boxes) + len(cases) + len(pallets),
            "units_packed_per_s": round(units / t_pack, 1),
            "ship_s": round(t_ship, 2), "shipped": shipped["qty"],
            "epcis_export_s": round(t_export, 2), "epcis_events": exported["events"],
        }
    finally:
        if keep:
            print(f"workspace kept: {ws}", file=sys.stderr)
        else:
            shutil.rmtree(ws, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--units", type=int, default=500)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    print(json.dumps(run(args.units, args.keep), indent=1))


if __name__ == "__main__":
    main()
