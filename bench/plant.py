"""Plant-scale benchmarks (DESIGN §10): each figure beside its floor, measured in one run.

    python bench/plant.py [--scale S] [--out DIR] [--json] [--keep]
                          [--postgres auto|off|URL] [--pg-scale S]

Builds a synthetic plant (bench/synth.py: 1,000,000 devices at scale 1.0) in a real
workspace: `mes init`, the example routings loaded and approved through the command line
(subprocesses), users/stations/qualifications through the services, then everything else
through mes.store.bulk.BulkLoader. Then measures the operator step, the station loop,
trace back/forward, labels, audit verify, bulk load and database size, each beside a floor
measured in the same run on the same file, and prints/writes the ratios (OUT/results.json).

Then the same operator and trace figures on PostgreSQL (issue: plant-wide database): a
second plant, by default of min(scale, 0.1) devices, bulk-loaded through the same code into
a throw-away local server (tests/postgres/server.py; `--postgres URL` for an empty database
of your own), each figure beside the same floor run against that server.

Benchmarks are not tests; `--scale 0.001` runs in seconds so a test can keep this code
from rotting. Below scale 0.01 the repetition counts are cut down (see `runs`).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

import floor_step  # noqa: E402
import floor_trace  # noqa: E402
from synth import STATIONS, Plant  # noqa: E402

sys.path.insert(0, str(ROOT))

from mes import clock  # noqa: E402
from mes.services.context import Context  # noqa: E402
from mes.store import open_store  # noqa: E402
from mes.store.bulk import COLUMNS, BulkLoader  # noqa: E402
from mes.store.genealogy import GENEALOGY_COLUMNS  # noqa: E402

PASSWORDS = {"amina": "Amina-2026!", "fatima": "Fatima-2026!", "youssef": "Youssef-2026!",
             "tarik": "Tarik-2026!"}
USERS = [("tarik", "technician", "Tarik Ouazzani"), ("youssef", "quality", "Youssef Benali"),
         ("fatima", "operator", "Fatima Zahra Alaoui")]
SPI_DATA = {"paste_height_um": "125", "paste_volume_pct": "100", "bridges": "0"}
PRINT_DATA = {"stencil_id": "STN-OXI-100-B", "print_speed_mm_s": "40",
              "squeegee_pressure_n": "60"}
BULK_SAMPLE_DEVICES = 10_000
MACHINE = "2 cores, 24 GiB RAM, Python 3.11, SQLite 3.40.1"


# -- reporting -------------------------------------------------------------------------------

class Reporter:
    """A rich progress bar on a terminal, one line per phase otherwise (stderr)."""

    def __init__(self, quiet: bool = False) -> None:
        self.t0 = time.perf_counter()
        self.quiet = quiet
        self.progress: Any = None
        if sys.stderr.isatty() and not quiet:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self.progress = Progress(TextColumn("{task.description}"), BarColumn(),
                                     MofNCompleteColumn(), TimeElapsedColumn(),
                                     console=Console(stderr=True), transient=False)
            self.progress.start()
        self.task: Any = None

    @contextmanager
    def phase(self, name: str, total: int | None = None) -> Iterator[Callable[[int], None]]:
        start = time.perf_counter()
        if self.progress is not None:
            self.task = self.progress.add_task(name, total=total)
            yield lambda n: self.progress.advance(self.task, n)
            self.progress.update(self.task, completed=total or 1, total=total or 1)
        else:
            self.log(f"{name} …")
            yield lambda n: None
        self.log(f"{name}: {time.perf_counter() - start:.1f} s", bar=False)

    def log(self, message: str, bar: bool = True) -> None:
        if self.quiet or (self.progress is not None and bar):
            return
        line = f"[{time.perf_counter() - self.t0:7.1f} s] {message}"
        if self.progress is not None:
            self.progress.console.print(line, style="dim")
        else:
            sys.stderr.write(line + "\n")
            sys.stderr.flush()

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()


@dataclass
class Figure:
    name: str
    unit: str
    value: float
    floor: float | None
    target: str  # "<= 1.5x" or ">= 0.6x" or "<= 1.5 GiB"
    runs: int
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    backend: str = "SQLite"

    @property
    def ratio(self) -> float | None:
        return None if not self.floor else self.value / self.floor

    @property
    def holds(self) -> bool:
        op, limit = self.target.split(maxsplit=1)
        limit_v = float(limit.split()[0].rstrip("x"))
        measured = self.value if self.ratio is None else self.ratio
        return measured <= limit_v if op == "<=" else measured >= limit_v

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(ratio=self.ratio, holds=self.holds)
        return d


def genealogy_rows(items: list[tuple[Any, ...]], steps: list[tuple[Any, ...]],
                   edges: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Edges (by item ids) as `genealogy` stores them, for the bare bulk floor: items keyed
    1, 2, … in load order; the op, station and time a step already holds left NULL."""
    key = {r[0]: i + 1 for i, r in enumerate(items)}
    at_step = {r[0]: (r[3], r[4], r[7]) for r in steps}  # id -> (op, station, completed_at)
    out = []
    for n, (parent, child, qty, op, sid, station, refdes, feeder, at) in enumerate(edges, 1):
        own: tuple[Any, ...] = (op, station, at)
        if sid in at_step:
            own = tuple(None if v == sv else v for v, sv in zip(own, at_step[sid], strict=True))
        out.append((key[parent], key[child], n, qty, sid, feeder, refdes, *own))
    return out


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def timed(fn: Callable[[], Any]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def interleaved(a: Callable[[], Any], b: Callable[[], Any], runs: int, warmup: int = 1
                ) -> tuple[list[float], list[float]]:
    """Run a and b alternately (warm-up first), so drift hits both the same way."""
    for _ in range(warmup):
        a()
        b()
    ta, tb = [], []
    for _ in range(runs):
        ta.append(timed(a))
        tb.append(timed(b))
    return ta, tb


# -- the run ---------------------------------------------------------------------------------

class Bench:
    def __init__(self, scale: float, out: Path, rep: Reporter, workspace: Path | None,
                 pg_url: str | None = None) -> None:
        self.scale = scale
        self.out = out
        self.rep = rep
        self.quick = scale < 0.01
        self.backend = "PostgreSQL" if pg_url else "SQLite"
        self.ws = workspace or out / f"plant-{self.backend.lower()}-{scale:g}"
        self.db = self.ws / "mes.db"
        self.db_url = pg_url or str(self.db)  # what the services and the floors open
        self.env = {k: v for k, v in os.environ.items()
                    if k not in ("MES_DB", "MES_DATABASE_URL")} | {"MES_HOME": str(self.ws)}
        if pg_url:
            self.env["MES_DATABASE_URL"] = pg_url
        self.mes = _mes_command()
        self.figures: list[Figure] = []
        self.info: dict[str, Any] = {}
        self.rng = random.Random(2611)
        self.images = False  # rows loaded with their images in events (bench/verify.py)

    def runs(self, full: int, quick: int) -> int:
        return quick if self.quick else full

    # -- set-up through the command line and the services ------------------------------------
    def cli(self, *args: str, user: str | None = None, stdin: str = "",
            check: bool = True) -> subprocess.CompletedProcess[str]:
        argv = [*self.mes, *(["--user", user, "--password-stdin"] if user else []), *args]
        if user:
            stdin = PASSWORDS[user] + "\n" + stdin
        p = subprocess.run(argv, input=stdin, capture_output=True, text=True, cwd=self.ws,
                           env=self.env)
        if check and p.returncode != 0:
            raise SystemExit(f"`mes {' '.join(args)}` exited {p.returncode}: "
                             f"{(p.stderr or p.stdout).strip()}")
        return p

    def ctx(self, user: str | None = None) -> Context:
        return Context(workspace=self.ws, db=self.db_url, user=user,
                       password_source=(lambda _: PASSWORDS[user]) if user else None)

    def setup_workspace(self) -> None:
        from mes.services.auth import add_user, qualify
        from mes.services.stations import add_station

        if self.ws.exists():
            shutil.rmtree(self.ws)
        self.ws.mkdir(parents=True)
        with self.rep.phase("workspace: mes init, routings loaded and approved (CLI)"):
            self.cli("init", "--site-name", "Usine Casablanca", "--country", "MA",
                     "--manufacturer", "OxiMaroc SA", "--address",
                     "Technopark, Route de Nouaceur, 20270 Casablanca, Maroc", "--admin",
                     "amina", "--admin-name", "Amina El Idrissi", "--password-stdin",
                     stdin=PASSWORDS["amina"] + "\n")
            admin = self.ctx("amina")
            for name, role, full in USERS:
                add_user(admin, name, full, role, PASSWORDS[name])
            admin.close()
            files = sorted(str(p) for p in (ROOT / "routings").glob("*.yaml"))
            loaded = self.cli("routing", "load", *files, user="tarik").stdout
            for line in loaded.splitlines():
                if line.startswith("routing ") and line.endswith("draft"):
                    part, version = line.split()[1], line.split()[2].strip("v:")
                    self.cli("routing", "approve", part, "--version", version, user="youssef")
            tech, quality = self.ctx("tarik"), self.ctx("youssef")
            due = date.today() + timedelta(days=365)
            for sid, stype in STATIONS.items():
                add_station(tech, sid, stype, None, due)
            for stype in sorted(set(STATIONS.values())):
                qualify(quality, "fatima", stype, due)
            tech.close()
            # The mold the enclosure routing names (a step refuses an unregistered tool).
            self.cli("tool", "add", "M-ENC-01", "--kind", "mold", "--cavities", "4", "--life",
                     str(10**9), "--maintenance-every", str(10**9), user="tarik")
            quality.close()

    def load_plant(self) -> Plant:
        store = open_store(self.db_url)
        n = max(100, round(1_000_000 * self.scale))
        versions = {r["part"]: int(r["version"]) for r in store.all(
            "SELECT part, version FROM routings WHERE status = 'approved'")}
        parts = {r["number"]: json.loads(r["doc"]) for r in store.all(
            "SELECT number, doc FROM parts")}
        yymm = f"{clock.now():%y%m}"
        plant = Plant(devices=n, yymm=yymm, routing_versions=versions, parts=parts,
                      step_id0=int(store.scalar("SELECT coalesce(max(id), 0) + 1 FROM steps")))
        expected = plant.expected_rows()
        t = time.perf_counter()
        what = f"{self.backend} bulk load: {n:,} devices, ~{expected:,} rows"
        with self.rep.phase(what, expected) as adv, \
                BulkLoader(store, defer_indexes=("genealogy",), images=self.images,
                           progress=lambda _t, k: adv(k)) as bl:
            bl.items(plant.items())
            bl.insert("firmware", plant.firmware_columns(), plant.firmware())
            bl.material_lots(plant.material_lots())
            bl.lots(plant.lots())
            bl.units(plant.units())
            bl.steps(plant.steps())
            bl.edges(plant.edges())
            bl.flashes(plant.flashes())
            bl.insert("shipments", plant.SHIPMENT_COLUMNS, plant.shipments())
            bl.audit(plant.audit())
            bl.raise_counter(f"lot:{yymm}", plant.last_lot_seq)
            bl.raise_counter("material", plant.last_material_seq)
            bl.raise_counter("serial:PB-", n)
            bl.raise_counter("serial:SN-", n)
        seconds = time.perf_counter() - t
        rows = sum(bl.counts.values())
        self.info["plant"] = {"devices": n, "rows": bl.counts, "rows_total": rows,
                              "load_seconds": round(seconds, 1),
                              "load_rows_per_s": round(rows / seconds)}
        store.close()
        return plant

    def fixture(self, units: int) -> tuple[str, list[str]]:
        """A fresh PCBA lot through the services: paste received, released and loaded on
        the printer, op 10 done for the whole lot, so every unit is ready for op 20 (SPI)."""
        from mes.services.lots import create_lot
        from mes.services.materials import Receipt, load_on_station, receive, release
        from mes.services.steps import StepRequest, complete_step

        op, quality = self.ctx("fatima"), self.ctx("youssef")
        with self.rep.phase(f"fixture: PCBA lot of {units} units at op 20 (services)"):
            paste = receive(op, Receipt(part="PASTE-SAC305", qty=5000.0,
                                        supplier="Alpha Assembly Solutions",
                                        supplier_lot="AL-26-9999"))["id"]
            release(quality, paste)
            load_on_station(op, "PRN-1", paste, "S1", replace=True)
            lot = create_lot(op, "PCBA-OXI-100", units)
            complete_step(op, StepRequest(scan=lot["lot"], op=10, station="PRN-1",
                                          data=PRINT_DATA, result="pass"))
        op.close()
        quality.close()
        return lot["lot"], lot["serials"]

    # -- figures ---------------------------------------------------------------------------
    def step_cli(self, lot: str, serials: list[str], floor_serials: list[str]) -> None:
        runs = self.runs(20, 3)
        self.cli("login", "fatima", "--station", "SPI-1", "--password-stdin",
                 stdin=PASSWORDS["fatima"] + "\n")
        data = [a for k, v in SPI_DATA.items() for a in ("--data", f"{k}={v}")]
        todo, floors = iter(serials), iter(floor_serials)

        def mes() -> None:
            self.cli("step", "complete", next(todo), "--op", "20", "--station", "SPI-1", *data,
                     "--result", "pass")

        def floor() -> None:
            p = subprocess.run([sys.executable, str(BENCH / "floor_step.py"), "--db",
                                self.db_url, next(floors), "--lot", lot, "--op", "20",
                                "--station", "SPI-1", "--user", "fatima", *data,
                                "--result", "pass"], capture_output=True, text=True)
            if p.returncode:
                raise SystemExit(f"floor_step.py failed: {p.stderr}")

        with self.rep.phase(f"operator `mes step complete` × {runs} (subprocess)", runs):
            tm, tf = interleaved(mes, floor, runs, warmup=self.runs(2, 1))
        self.add(Figure("operator `mes step complete` (p50, whole process)", "ms",
                                   median(tm) * 1e3, median(tf) * 1e3, "<= 1.5x", runs,
                                   "floor: bench/floor_step.py (argparse + driver)",
                                   {"p90_ms": sorted(tm)[int(0.9 * (len(tm) - 1))] * 1e3}))

    def station_loop(self, lot: str, serials: list[str], floor_serials: list[str]) -> None:
        """Per scan = one unit recorded: with mes.services.station_loop, the lines a scanner
        sends (serial, DATA ×3, RESULT, COMPLETE); else complete_step on one Context."""
        from mes.services.steps import StepRequest, complete_step

        n = len(serials) - 5
        ctx = self.ctx("fatima")
        todo, floors = iter(serials), iter(floor_serials)
        if self.station_loop_available():
            from mes.services.station_loop import StationLoop

            loop = StationLoop(ctx=ctx, station="SPI-1")
            loop.begin()
            lines = [f"DATA:{k}={v}" for k, v in SPI_DATA.items()] + ["RESULT:PASS"]
            how = "mes.services.station_loop.StationLoop.handle, 6 lines per unit"

            def scan() -> None:
                for line in (next(todo), *lines):
                    loop.handle(line)
                reply = loop.handle("COMPLETE")
                if reply is None or reply.status != "OK":
                    raise SystemExit(f"station loop: {reply}")
        else:
            ctx.station = "SPI-1"
            how = "services.steps.complete_step on one open Context"

            def scan() -> None:
                complete_step(ctx, StepRequest(scan=next(todo), op=20, station="SPI-1",
                                               data=dict(SPI_DATA), result="pass"))

        conn = floor_step.connect(self.db_url)

        def raw() -> None:
            floor_step.record(conn, lot=lot, serial=next(floors), op=20, station="SPI-1",
                              user="fatima", data=dict(SPI_DATA), result="pass")

        with self.rep.phase(f"station loop × {n} units ({how})", n):
            tm, tf = interleaved(scan, raw, n, warmup=5)
        conn.close()
        ctx.close()
        self.add(Figure("station loop, per unit recorded (in-process)", "ms",
                                   median(tm) * 1e3, median(tf) * 1e3, "<= 2x", n,
                                   f"{how}; floor: the same raw transaction in a loop"))

    def traces(self, plant: Plant) -> None:
        from mes.services.trace import backward, forward
        from mes.store import genealogy

        ctx = self.ctx()
        store = ctx.store
        conn = floor_step.connect(self.db_url)
        n_dev = self.runs(30, 5)
        devices = [plant.device(i) for i in self.rng.sample(range(plant.devices),
                                                            min(n_dev, plant.devices))]
        reels = self.rng.sample(plant.all_reels, min(self.runs(20, 5), len(plant.all_reels)))
        resins = self.rng.sample(plant.ids["resin"], min(10, len(plant.ids["resin"])))
        reps = 3

        def compare(items: list[str], fn: Callable[[str], Any], sql: str
                    ) -> tuple[list[float], list[float], float]:
            tm, tf, sizes = [], [], []
            for item in items:
                a, b = interleaved(lambda i=item: fn(i),
                                   lambda i=item: floor_step.execute(conn, sql, (i,)).fetchall(),
                                   reps)
                tm += a
                tf += b
                sizes.append(len(floor_step.execute(conn, sql, (item,)).fetchall()))
            return tm, tf, statistics.mean(sizes)

        with self.rep.phase(f"trace back of {len(devices)} devices (in-process)"):
            tm, tf, size = compare(devices, lambda i: backward(ctx, i), floor_trace.BACKWARD)
            te, _, _ = compare(devices, lambda i: genealogy.backward_edges(store, i),
                               floor_trace.BACKWARD)
        self.add(Figure("trace back of a device (services.trace.backward)", "ms",
                                   median(tm) * 1e3, median(tf) * 1e3, "<= 1.5x", len(tm),
                                   f"~{size:.0f} edges; floor: one bare recursive CTE"))
        self.add(Figure("  … its edge query alone (genealogy.backward_edges)", "ms",
                                   median(te) * 1e3, median(tf) * 1e3, "<= 1.5x", len(te)))
        for what, items in (("reel", reels), ("resin lot", resins)):
            with self.rep.phase(f"trace forward of {len(items)} {what}s (in-process)"):
                tm, tf, size = compare(items, lambda i: forward(ctx, i), floor_trace.FORWARD)
                tq, _, _ = compare(items, lambda i: genealogy.forward_items(store, i),
                                   floor_trace.FORWARD)
            self.add(Figure(f"trace forward of a {what} (services.trace.forward)",
                                       "ms", median(tm) * 1e3, median(tf) * 1e3, "<= 1.5x",
                                       len(tm), f"~{size:.0f} units reached; floor: bare CTE"))
            self.add(Figure("  … its query alone (genealogy.forward_items)", "ms",
                                       median(tq) * 1e3, median(tf) * 1e3, "<= 1.5x", len(tq)))
        conn.close()
        ctx.close()
        runs = self.runs(10, 2)
        it = iter(reels * (runs + 1))
        cur = [reels[0]]

        def mes() -> None:
            cur[0] = next(it)
            p = subprocess.run([*self.mes, "trace", "forward", cur[0], "--json"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=self.ws,
                               env=self.env)
            if p.returncode:
                raise SystemExit(f"mes trace forward failed: {p.stderr.decode()}")

        def floor() -> None:
            subprocess.run([sys.executable, str(BENCH / "floor_trace.py"), "--db",
                            self.db_url, "forward", cur[0]], stdout=subprocess.DEVNULL,
                           check=True)

        with self.rep.phase(f"`mes trace forward REEL --json` × {runs} (subprocess)", runs):
            tm, tf = interleaved(mes, floor, runs)
        self.add(Figure("`mes trace forward` of a reel (whole process)", "ms",
                                   median(tm) * 1e3, median(tf) * 1e3, "<= 1.5x", runs,
                                   "floor: bench/floor_trace.py (argparse + driver + CTE)"))

    def labels(self, plant: Plant) -> None:
        from mes.domain.gs1 import Udi
        from mes.render.label_content import LabelContent
        from mes.render.label_pdf import render_label_pdf
        from mes.render.label_templates import (
            FONT,
            FONT_BOLD,
            PT_PER_MM,
            box_lines,
            load_template,
            register_fonts,
        )

        n = min(self.runs(200, 20), plant.devices)
        part = plant.parts["DEV-OXI-100"]
        store = open_store(str(self.db))
        site = store.one("SELECT * FROM sites") or {}
        store.close()
        template = load_template("udi-100x50", [])
        contents = []
        for i in range(n):
            mfg = plant.device_time(i).date()
            udi = Udi(gtin=part["gtin"], lot=plant.ids["dev_lots"][i // plant.lot_units],
                      serial=plant.device(i), mfg_date=mfg,
                      expiry=mfg + timedelta(days=int(part["shelf_life_days"])),
                      fw_version=plant.ids["fw"][i // plant.fw_units].split("@")[1])
            contents.append(LabelContent(
                product_name=part["name"], ref=part.get("ref") or part["number"],
                manufacturer_name=site.get("manufacturer") or site["name"],
                manufacturer_address=site.get("address") or "", mfg_date=mfg,
                lot=udi.lot or "", udi_hri=udi.hri(), udi_data=udi.data(), expiry=udi.expiry,
                serial=udi.serial, origin_claim=True))
        register_fonts()
        pages = [[(b, box_lines(b, c, template)) for b in template.boxes
                  if b.field != "datamatrix"] for c in contents]

        def bare() -> bytes:
            import io

            from reportlab.pdfgen.canvas import Canvas

            buf = io.BytesIO()
            h = template.height_mm
            canvas = Canvas(buf, pagesize=(template.width_mm * PT_PER_MM, h * PT_PER_MM),
                            invariant=True, pageCompression=1, initialFontName=FONT)
            for page in pages:
                for box, lines in page:
                    for k, (text, bold) in enumerate(lines):
                        canvas.setFont(FONT_BOLD if bold else FONT, box.font_size)
                        canvas.drawString(box.x * PT_PER_MM,
                                          (h - box.y - (k + 1) * box.font_size / PT_PER_MM * 1.18)
                                          * PT_PER_MM, text)
                canvas.showPage()
            canvas.save()
            return buf.getvalue()

        runs = 3
        with self.rep.phase(f"labels: {n} labels into one PDF × {runs}"):
            render_label_pdf(contents[:2], template)  # warm-up: imports, fonts
            tm, tf = interleaved(lambda: render_label_pdf(contents, template), bare, runs)
        self.figures.append(Figure(f"labels per second into one PDF ({n}, DataMatrix + Arabic)",
                                   "labels/s", n / median(tm), n / median(tf), ">= 0.6x", runs,
                                   "floor: bare reportlab drawing the same text, no barcode, "
                                   "no symbols"))

    def audit_verify(self) -> None:
        from mes.domain.audit import EVENT_FIELDS, GENESIS, canonical_json
        from mes.services.audit import verify

        ctx = self.ctx()
        conn = floor_step.connect(str(self.db))
        cols = ", ".join(EVENT_FIELDS)

        def bare() -> int:
            import hashlib

            prev, n = GENESIS, 0
            for row in conn.execute(f"SELECT {cols}, prev_hash, hash, row_images FROM audit "
                                    "ORDER BY seq"):
                body = dict(zip(EVENT_FIELDS, row[:10], strict=True))
                if row[12] is not None:
                    body["row_images"] = row[12]
                digest = hashlib.sha256((prev + canonical_json(body)).encode()).hexdigest()
                if digest != row[11] or row[10] != prev:
                    raise SystemExit(f"audit chain broken at {row[0]}")
                prev, n = digest, n + 1
            return n

        events = bare()
        runs = 3 if events > 20_000 else 15  # a short chain: more runs, less noise
        with self.rep.phase(f"audit verify: {events:,} events × {runs}"):
            out = verify(ctx)
            if not out["ok"] or out["events"] != events:
                raise SystemExit(f"audit verify: {out}")
            tm, tf = interleaved(lambda: verify(ctx), bare, runs)
        ctx.close()
        conn.close()
        self.figures.append(Figure("audit verify, events per second (services.audit.verify)",
                                   "events/s", events / median(tm), events / median(tf),
                                   ">= 0.7x", runs,
                                   f"{events:,} events; floor: bare cursor + sha256 loop"))

    def bulk(self, plant: Plant) -> None:
        """BulkLoader vs bare executemany of the same rows (a sample of the same plant)."""
        from mes.store.sqlite import SqliteStore

        k = min(plant.devices, BULK_SAMPLE_DEVICES)
        sp = Plant(devices=k, yymm=plant.yymm, routing_versions=plant.routing_versions,
                   parts=plant.parts)
        tables = [("items", COLUMNS["items"], list(sp.items())),
                  ("firmware", sp.firmware_columns(), list(sp.firmware())),
                  ("material_lots", COLUMNS["material_lots"], list(sp.material_lots())),
                  ("lots", COLUMNS["lots"], list(sp.lots())),
                  ("units", COLUMNS["units"], list(sp.units())),
                  ("steps", COLUMNS["steps"], list(sp.steps())),
                  ("edges", COLUMNS["edges"], list(sp.edges())),
                  ("flashes", COLUMNS["flashes"], list(sp.flashes())),
                  ("shipments", sp.SHIPMENT_COLUMNS, list(sp.shipments()))]
        events = list(sp.audit())
        rows = sum(len(t[2]) for t in tables) + len(events)
        tmp = Path(tempfile.mkdtemp(prefix="bulk-", dir=self.out))
        audit_rows: list[tuple[Any, ...]] = []

        def fresh(name: str) -> Path:
            path = tmp / name
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
            store = SqliteStore(path, create=True)
            store.migrate()
            store.close()
            return path

        def mes_path(path: Path) -> None:
            store = SqliteStore(path)
            with BulkLoader(store, defer_indexes=("genealogy",)) as bl:
                for table, cols, data in tables:
                    if table in ("items", "edges"):  # keys given, edges by keys
                        getattr(bl, table)(data)
                    else:
                        bl.insert(table, cols, data)
                bl.audit(events)
            store.close()

        # The bare path gets the rows as stored: items with their keys, genealogy rows.
        bare_tables = [(t, c, d) for t, c, d in tables if t not in ("items", "edges")]
        bare_tables[:0] = [("items", (*COLUMNS["items"], "key"),
                            [(*r, i + 1) for i, r in enumerate(tables[0][2])])]
        bare_tables.append(("genealogy", GENEALOGY_COLUMNS,
                            genealogy_rows(tables[0][2], tables[5][2], tables[6][2])))

        def bare(path: Path) -> None:
            conn = floor_step.connect(str(path))
            ddl = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND "
                               "tbl_name = 'genealogy' AND sql IS NOT NULL").fetchall()
            conn.execute("BEGIN IMMEDIATE")
            for name, _ in ddl:
                conn.execute(f"DROP INDEX {name}")
            for table, cols, data in [*bare_tables, ("audit", None, audit_rows)]:
                marks = ", ".join("?" for _ in data[0])
                names = f" ({', '.join(cols)})" if cols else ""
                conn.executemany(f"INSERT INTO {table}{names} VALUES ({marks})", data)
            for _, sql in ddl:
                conn.execute(sql)
            conn.execute("COMMIT")
            conn.close()

        runs = self.runs(3, 1)
        tm, tf = [], []
        with self.rep.phase(f"bulk load sample: {rows:,} rows × {runs} (BulkLoader vs bare)"):
            path = fresh("warm.db")
            mes_path(path)
            src = sqlite3.connect(path)
            audit_rows = src.execute("SELECT * FROM audit ORDER BY seq").fetchall()
            src.close()
            for _ in range(runs):
                a, b = fresh("mes.db"), fresh("bare.db")
                tm.append(timed(lambda a=a: mes_path(a)))
                tf.append(timed(lambda b=b: bare(b)))
        shutil.rmtree(tmp, ignore_errors=True)
        plant_info = self.info["plant"]
        self.figures.append(Figure("bulk load, rows per second (mes.store.bulk.BulkLoader)",
                                   "rows/s", rows / median(tm), rows / median(tf), ">= 0.5x",
                                   runs, f"sample of {k:,} devices = {rows:,} rows, edge "
                                   f"indexes deferred in both; whole plant: "
                                   f"{plant_info['load_rows_per_s']:,} rows/s incl. generation "
                                   "and index builds"))

    def size(self, plant: Plant) -> None:
        with self.rep.phase("database size"):
            conn = floor_step.connect(str(self.db))
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            by: dict[str, int] = {}
            try:
                for name, size in conn.execute(
                        "SELECT name, sum(pgsize) FROM dbstat GROUP BY name"):
                    by[name] = int(size)
            except sqlite3.DatabaseError:
                pass
            conn.close()
        size = self.db.stat().st_size
        per_m = size / plant.devices * 1_000_000 / 2**30
        edges = plant.devices * 33
        top = sorted(by.items(), key=lambda kv: -kv[1])[:8]
        self.info["db"] = {"bytes": size, "by_object": dict(top),
                           "bytes_per_edge_incl_indexes": round(
                               sum(by.get(k, 0) for k in ("genealogy", "genealogy_child"))
                               / edges, 1)}
        self.figures.append(Figure("database size per 1 M devices", "GiB", per_m, None,
                                   "<= 1.5 GiB", 1, f"{size / 2**30:.3f} GiB for "
                                   f"{plant.devices:,} devices"))

    def station_loop_available(self) -> bool:
        try:
            import mes.services.station_loop  # noqa: F401
        except ImportError:
            return False
        return True

    def add(self, figure: Figure) -> None:
        figure.backend = self.backend
        self.figures.append(figure)

    def run(self) -> dict[str, Any]:
        """Every figure on SQLite; on PostgreSQL the operator and trace figures only."""
        t0 = time.perf_counter()
        self.out.mkdir(parents=True, exist_ok=True)
        self.setup_workspace()
        plant = self.load_plant()
        n_cli, n_loop = self.runs(20, 3) + 2, self.runs(200, 30) + 5
        lot, serials = self.fixture(2 * (n_cli + n_loop))
        cli_units, loop_units = serials[:n_cli], serials[n_cli:n_cli + n_loop]
        floor_units = serials[n_cli + n_loop:]
        self.step_cli(lot, cli_units, floor_units[:n_cli])
        self.station_loop(lot, loop_units, floor_units[n_cli:])
        self.traces(plant)
        if self.backend == "SQLite":
            self.labels(plant)
            self.audit_verify()
            self.bulk(plant)
            self.size(plant)
        self.info["station_loop_service"] = self.station_loop_available()
        self.info["seconds"] = round(time.perf_counter() - t0, 1)
        return {"date": date.today().isoformat(), "machine": MACHINE, "scale": self.scale,
                "backend": self.backend, "workspace": str(self.ws),
                "figures": [f.as_dict() for f in self.figures], **self.info}


@contextmanager
def postgres_database(choice: str, rep: Reporter) -> Iterator[str | None]:
    """The PostgreSQL database for the second plant: `off`, a URL, or `auto` (a throw-away
    server on loopback, as the tests start it; skipped with the reason when none starts)."""
    if choice == "off":
        yield None
        return
    if choice != "auto":
        yield choice
        return
    from tests.postgres.server import PgServer

    try:
        server = PgServer()
        server.start()
    except Exception as exc:  # no binaries, no postgres user…: say why, keep the SQLite run
        rep.log(f"PostgreSQL figures skipped: no local server could be started ({exc})",
                bar=False)
        yield None
        return
    try:
        yield server.url(server.new_database())
    finally:
        server.stop()


def _mes_command() -> list[str]:
    script = Path(sys.executable).with_name("mes")
    if script.exists():
        return [str(script)]
    found = shutil.which("mes")
    if found:
        return [found]
    return [sys.executable, "-c", "import sys; from mes.cli import main; sys.exit(main())"]


def _fmt(v: float | None) -> str:
    if v is None:
        return "—"
    if v >= 1000:
        return f"{v:,.0f}"
    return f"{v:.3g}" if v < 10 else f"{v:.1f}"


def print_table(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    p = result["plant"]
    title = (f"mes plant benchmark — scale {result['scale']:g} ({p['devices']:,} devices, "
             f"{p['rows_total']:,} rows, loaded in {p['load_seconds']} s)")
    pg = result.get("postgres")
    if pg:
        q = pg["plant"]
        title += (f"; PostgreSQL {pg['server']}: scale {pg['scale']:g} ({q['devices']:,} "
                  f"devices, loaded in {q['load_seconds']} s)")
    t = Table(title=title)
    for col in ("figure", "backend", "value", "floor", "ratio", "target", "holds"):
        t.add_column(col, justify="left" if col in ("figure", "backend") else "right")
    for f in result["figures"]:
        ratio = "—" if f["ratio"] is None else f"{f['ratio']:.2f}x"
        t.add_row(f["name"], f["backend"], f"{_fmt(f['value'])} {f['unit']}",
                  "—" if f["floor"] is None else f"{_fmt(f['floor'])} {f['unit']}", ratio,
                  f["target"], "[green]yes[/]" if f["holds"] else "[red]NO[/]")
    console = Console(width=None if sys.stdout.isatty() else 150)
    console.print(t)
    console.print(f"whole run {result['seconds']} s; workspace {result['workspace']}",
                  style="dim")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=1.0,
                    help="1.0 = 1,000,000 devices (default); 0.01 for a quick run")
    ap.add_argument("--out", type=Path, default=BENCH / "out",
                    help="results.json and the workspace go here (default bench/out)")
    ap.add_argument("--workspace", type=Path, help="build the plant here instead")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    ap.add_argument("--keep", action="store_true", help="keep the workspace afterwards")
    ap.add_argument("--postgres", default="auto", metavar="auto|off|URL",
                    help="operator and trace figures on PostgreSQL too: auto (default) starts "
                    "a throw-away local server; or the URL of an empty database")
    ap.add_argument("--pg-scale", type=float,
                    help="size of the PostgreSQL plant (default: min(scale, 0.1))")
    a = ap.parse_args(argv)
    if not 0 < a.scale <= 2:
        ap.error("--scale must be in (0, 2]")
    pg_scale = a.pg_scale or min(a.scale, 0.1)
    if not 0 < pg_scale <= 2:
        ap.error("--pg-scale must be in (0, 2]")
    out = a.out.resolve()
    rep = Reporter(quiet=False)
    bench = Bench(a.scale, out, rep, a.workspace.resolve() if a.workspace else None)
    workspaces = [bench.ws]
    try:
        result = bench.run()
        with postgres_database(a.postgres, rep) as pg_url:
            if pg_url:
                pg = Bench(pg_scale, out, rep, None, pg_url=pg_url)
                workspaces.append(pg.ws)
                pg_result = pg.run()
                store = open_store(pg_url)
                server = store.server_version()  # type: ignore[attr-defined]
                store.close()
                result["figures"] += pg_result.pop("figures")
                result["postgres"] = {**pg_result, "server": server, "scale": pg_scale}
    finally:
        rep.close()
    (out / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    if a.json:
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
    else:
        print_table(result)
    if not a.keep:
        for ws in workspaces:
            shutil.rmtree(ws, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
