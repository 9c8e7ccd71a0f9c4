"""SPC benchmarks (issue 16): what the run-rule check adds to a EUROMAP 63 import, and how
long a 10,000-point control chart takes to draw.

    python bench/spc.py [--scale S] [--chart-points N] [--runs R] [--json]

Import: a workspace made through the command line (subprocesses: init, users, stations,
the example routings, approved MOLD-CUSHION limits), then molding lots of 100,000 × S shots
imported in-process through `services.molding.import_report`, alternately with the SPC
check and with it switched off (`services.spc.on_shots` replaced by a no-op), on lots that
are otherwise identical. The check is everything the import does for SPC: parse the shot
values, store one observation per shot, judge every subgroup of 5 with the Nelson rules.

Chart: `render.spc_chart.render_control_chart` on N individuals (default 10,000) with
approved limits and signals, as PNG, SVG and PDF.

Benchmarks are not tests; results go to bench/RESULTS.md by hand.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PASSWORDS = {"amina": "admin-pass-1", "fatima": "fatima-pass-1", "youssef": "youssef-pass-1",
             "tarik": "tarik-pass-1"}
WINDOW = {"ActTimCyc": (18, 22), "ActTimFill": (0.8, 1.25), "ActStrCsh": (4.0, 6.0),
          "ActPrsXfrSpec": (600, 900)}


STATIONS = {
    "PRN-1": "smt-printer", "SPI-1": "spi", "PNP-1": "smt-pnp", "REFLOW-1": "reflow-oven",
    "AOI-1": "aoi", "ICT-1": "ict", "FLASH-1": "flash", "DRY-1": "dryer", "IMM-2": "imm",
    "VIS-1": "visual", "ASM-1": "assembly", "FT-1": "func-test", "LBL-1": "labeler",
    "PACK-1": "pack",
}


def mes(ws: Path, *args: object, user: str | None = None, stdin: str = "") -> str:
    cmd = [sys.executable, str(ROOT / "cli.py"), *(["--user", user, "--password-stdin"]
                                                    if user else []), *map(str, args)]
    if user:
        stdin = PASSWORDS[user] + "\n" + stdin
    p = subprocess.run(cmd, input=stdin, capture_output=True, text=True, cwd=ws,
                       env={**os.environ, "MES_HOME": str(ws)}, timeout=300)
    if p.returncode != 0:
        raise SystemExit(f"mes {' '.join(map(str, args))}: {p.stderr}")
    return p.stdout


def setup(ws: Path, lots: int, qty: int) -> list[str]:
    mes(ws, "init", "--site-name", "Bench", "--country", "MA", "--manufacturer", "Bench SA",
        "--address", "Casablanca", "--admin", "amina", "--admin-name", "Amina",
        "--password-stdin", stdin=PASSWORDS["amina"] + "\n")
    for name, role in (("fatima", "operator"), ("youssef", "quality"), ("tarik", "technician")):
        mes(ws, "user", "add", name, "--role", role, "--name", name.title(), "--password-stdin",
            user="amina", stdin=PASSWORDS[name] + "\n")
    # Every station type the example routings name is registered (routing load refuses an
    # unknown one); only the molding cell's two are used.
    for sid, stype in STATIONS.items():
        mes(ws, "station", "add", sid, "--type", stype, "--calibration-due", "2099-12-31",
            user="tarik")
    for stype in ("dryer", "imm"):
        mes(ws, "user", "qualify", "fatima", stype, "--until", "2099-12-31", user="youssef")
    mes(ws, "tool", "add", "M-ENC-01", "--kind", "mold", "--cavities", 4, "--life", 10**9,
        "--maintenance-every", 10**9, user="tarik")  # the mold the routing names
    out = mes(ws, "routing", "load", *sorted((ROOT / "routings").glob("*.yaml")), user="tarik")
    for line in out.splitlines():
        if line.startswith("routing ") and line.endswith(": draft"):
            part, version = line.split()[1], line.split()[2].rstrip(":").lstrip("v")
            mes(ws, "routing", "approve", part, "--version", version, user="youssef")
    resin = mes(ws, "material", "receive", "RESIN-PC2458", "--qty", 1_000_000,
                user="fatima").split()[1]
    mes(ws, "material", "release", resin, user="youssef")
    # The phase-I study: 25 subgroups of the same synthetic process (another seed), so the
    # measured imports are in control and the check is the common case, not a flood of
    # signals (each signal adds its record, audit event and hold).
    from mes.ingest.euromap63 import synthetic_report

    _cols, pq = synthetic_report(125, seed=99, window=WINDOW)
    cushions = [row["ActStrCsh"] for row in pq]
    study = ws / "cushion-pq.txt"
    study.write_text("\n".join(" ".join(f"{v:g}" for v in cushions[i:i + 5])
                               for i in range(0, 125, 5)) + "\n")
    mes(ws, "spc", "limits", "set", "MOLD-CUSHION", "--data", study, "--reason", "bench PQ",
        user="tarik")
    mes(ws, "spc", "limits", "approve", "MOLD-CUSHION", "--version", 1, user="youssef")
    made = []
    for _ in range(lots):
        lot = json.loads(mes(ws, "lot", "create", "ENC-OXI-100", "--qty", qty, "--json",
                             user="fatima"))["lot"]
        mes(ws, "step", "complete", lot, "--op", 10, "--station", "DRY-1", "--result", "pass",
            "--consume", resin, "--data", "temp_c=120", "--data", "time_h=3", "--data",
            "dew_point_c=-45", user="fatima")
        made.append(lot)
    return made


def bench_import(scale: float, runs: int) -> dict[str, Any]:
    """The import at two sizes (half and full), so the fixed cost of an import (imports,
    routing, step, hold checks) and the per-shot cost separate: the overhead of a 100,000-
    shot import is the check's per-shot cost over the import's per-shot cost."""
    half = _import_sizes(scale / 2, runs)
    full = _import_sizes(scale, runs)
    shots = full["shots"] - half["shots"]
    per_without = (full["without_check_s"] - half["without_check_s"]) / shots
    per_with = (full["with_check_s"] - half["with_check_s"]) / shots
    return {"half": half, "full": full,
            "import_us_per_shot": round(1e6 * per_without, 2),
            "check_us_per_shot": round(1e6 * (per_with - per_without), 2),
            "overhead_pct_per_shot": round(100 * (per_with - per_without) / per_without, 1)}


def _import_sizes(scale: float, runs: int) -> dict[str, Any]:
    from mes.ingest.euromap63 import synthetic_report, write_report
    from mes.services import spc
    from mes.services.context import Context
    from mes.services.molding import MoldingImport, import_report

    shots = max(10, int(100_000 * scale))
    with tempfile.TemporaryDirectory(prefix="mes-bench-spc-") as tmp:
        ws = Path(tmp)
        lots = setup(ws, 2 * runs + 2, shots * 4)
        cols, rows = synthetic_report(shots, seed=5, window=WINDOW)
        real = spc.on_shots
        times: dict[str, list[float]] = {"with": [], "without": []}
        signals = 0
        for i, lot in enumerate(lots):
            variant = "with" if i % 2 == 0 else "without"
            for r, row in enumerate(rows):  # a distinct file per lot (no duplicate import)
                row["ActCntCyc"] = i * 1_000_000 + r + 1
            path = ws / f"REPORTS-{i}.DAT"
            write_report(path, cols, rows)
            ctx = Context(workspace=ws, db=str(ws / "mes.db"), user="fatima",
                          password_source=lambda _: PASSWORDS["fatima"])
            spc.on_shots = real if variant == "with" else (lambda *a, **k: [])  # type: ignore[assignment]
            try:
                started = time.process_time()  # CPU: the machine is shared (HELPERS.md)
                out = import_report(ctx, MoldingImport(lot=lot, station="IMM-2", report=path))
                elapsed = time.process_time() - started
            finally:
                spc.on_shots = real  # type: ignore[assignment]
                ctx.close()
            if i >= 2:  # the first pair warms caches and the database file
                times[variant].append(elapsed)
            signals += len(out.get("spc", []))
        with_s, without_s = statistics.median(times["with"]), statistics.median(times["without"])
        return {"shots": shots, "runs": runs, "with_check_s": round(with_s, 4),
                "without_check_s": round(without_s, 4),
                "overhead_pct": round(100 * (with_s - without_s) / without_s, 1),
                "check_us_per_shot": round(1e6 * (with_s - without_s) / shots, 2),
                "signals_found": signals}


def bench_chart(points: int) -> dict[str, Any]:
    from mes.domain import spc as rules
    from mes.render.spc_chart import render_control_chart

    rng = random.Random(3)
    values = [rng.gauss(242, 1.0) for _ in range(points)]
    pts = rules.points("i-mr", [[v] for v in values])
    lim = rules.phase1_limits("i-mr", 1, pts[:100])
    found: dict[int, list[str]] = {}
    for i, chart, rule in rules.rule_signals(lim, pts, "western-electric"):
        found.setdefault(i, []).append(f"WE{rule}" + (" (spread)" if chart == "spread" else ""))
    lcl, ucl, _ = lim.at()
    data = {"characteristic": {"id": "REFLOW-PEAK", "data": "peak_temp_c", "unit": "°C",
                               "chart": "i-mr", "op": 40, "op_name": "Reflow",
                               "rules": "western-electric", "use": [1, 2, 3, 4],
                               "lsl": 235, "usl": 250},
            "limits": lim.as_dict(),
            "points": [{"subgroup": i, "stat": p.stat, "n": 1, "spread": p.spread, "lcl": lcl,
                        "ucl": ucl, "signals": found.get(i, []),
                        "out_of_spec": not 235 <= p.stat <= 250} for i, p in enumerate(pts)]}
    out: dict[str, Any] = {"points": points, "signals": len(found)}
    render_control_chart(data, "png")  # import and font cache warm-up, not measured
    for fmt in ("png", "svg", "pdf"):
        started, cpu = time.perf_counter(), time.process_time()
        blob = render_control_chart(data, fmt)
        out[f"{fmt}_s"] = round(time.perf_counter() - started, 3)
        out[f"{fmt}_cpu_s"] = round(time.process_time() - cpu, 3)
        out[f"{fmt}_bytes"] = len(blob)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", type=float, default=0.01, help="shots = 100,000 × scale")
    ap.add_argument("--chart-points", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    result = {"import": bench_import(args.scale, args.runs), "chart": bench_chart(
        args.chart_points)}
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        imp, ch = result["import"], result["chart"]
        for size in ("half", "full"):
            i = imp[size]
            print(f"EUROMAP import of {i['shots']} shots (CPU s): {i['without_check_s']} "
                  f"without the SPC check, {i['with_check_s']} with it: +{i['overhead_pct']} %"
                  f" ({i['signals_found']} signals)")
        print(f"per shot: import {imp['import_us_per_shot']} µs, check "
              f"{imp['check_us_per_shot']} µs: +{imp['overhead_pct_per_shot']} % on a large "
              "import (target ≤ 10 %)")
        print(f"control chart of {ch['points']} points, wall (CPU) seconds: PNG {ch['png_s']} "
              f"({ch['png_cpu_s']}), SVG {ch['svg_s']} ({ch['svg_cpu_s']}), PDF {ch['pdf_s']} "
              f"({ch['pdf_cpu_s']}) (target < 2 s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
