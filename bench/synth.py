"""The synthetic plant of `bench/plant.py`: row streams for mes.store.bulk.BulkLoader.

What one plant of N devices contains (N = 1,000,000 at scale 1.0):

- N PCBA units (PB-…) in lots of 500, each built from 29 material lots on 29 feeder
  slots (solder paste at the printer, bare PCB and 27 component reels at pick-and-place);
  each feeder's reel is changed every 1,500 boards, staggered per feeder, so a reel feeds
  ~1,500 boards; each board is flashed with one of N/50,000 firmware images (one
  `flashes` row and one edge per board).
- N/2,000 enclosure lots (ENC-OXI-100, not serialized, one molding shift each), fed by
  N/10,000 resin lots (a resin lot ends up in ~10,000 devices).
- N devices (SN-…) in lots of 500: each consumes its PCBA unit (by serial), one enclosure
  from a molding lot and one battery from a battery lot (N/5,000 lots). Screws, labels,
  cartons and IFUs are bulk consumables and not traced per unit.
- So ~33 genealogy edges per device (29 + 1 per board, 3 per device).
- Steps: one row per unit for the operation that consumed its materials (pick-and-place,
  final assembly) — the row its edges point to — and one per enclosure lot and op; the
  other operations are summarised in lot-level audit events.
- Audit: one event per lot-level operation (lot created, each op completed for the lot,
  release, shipment) and per material lot received: ~55 k events per 1 M devices.
- Device lots are released, 90 % of them shipped (one shipment row per lot).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from mes.store.bulk import AuditEvent

# (slot, part, qty per board, op, station): 29 material lots per board.
FEEDERS: list[tuple[str, str, float, int, str]] = [("S1", "PASTE-SAC305", 0.35, 10, "PRN-1"),
                                                   ("F01", "PCB-OXI-100", 1, 30, "PNP-1")]
for _part, _qtys in (("CAP-100N-0402", (2, 2, 2, 2, 1, 1, 1, 1, 1, 1)),
                     ("CAP-1U-0402", (2, 1, 1)), ("CAP-10U-0603", (1, 1, 1)),
                     ("RES-10K-0402", (1, 1, 1, 1, 1, 1)), ("RES-4K7-0402", (1, 1)),
                     ("MCU-STM32L432", (1,)), ("AFE-MAX30101", (1,)), ("BLE-NRF52832", (1,))):
    for _q in _qtys:
        FEEDERS.append((f"F{len(FEEDERS):02d}", _part, _q, 30, "PNP-1"))
SUPPLIERS = {"PASTE-SAC305": "Alpha Assembly Solutions", "PCB-OXI-100": "Shenzhen FastPCB Co.",
             "MCU-STM32L432": "STMicroelectronics Bouskoura", "RESIN-PC2458": "Covestro",
             "BATT-LIPO-300": "EEMB"}
STATIONS = {
    "PRN-1": "smt-printer", "SPI-1": "spi", "PNP-1": "smt-pnp", "REFLOW-1": "reflow-oven",
    "AOI-1": "aoi", "ICT-1": "ict", "FLASH-1": "flash", "DRY-1": "dryer", "IMM-2": "imm",
    "VIS-1": "visual", "ASM-1": "assembly", "FT-1": "func-test", "LBL-1": "labeler",
    "PACK-1": "pack",
}
PCBA_OPS, ENC_OPS, DEV_OPS = (10, 20, 30, 40, 50, 60, 70), (10, 20, 30), (10, 20, 30, 40)
BOARD_DATA = json.dumps({"feeder_setup_verified": True, "program_rev": "OXI100-P07"},
                        sort_keys=True, separators=(",", ":"))
DEVICE_DATA = json.dumps({"screw_torque_ncm": 21.0}, separators=(",", ":"))
START = datetime(2026, 1, 5, 6, 0, tzinfo=UTC)
BOARD_EVERY = timedelta(seconds=25)  # 1 M boards in ~290 days


def iso(t: datetime) -> str:
    return t.isoformat(timespec="microseconds")


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


@dataclass
class Plant:
    """Identifiers and row streams of one synthetic plant (deterministic for a given N)."""

    devices: int
    yymm: str
    routing_versions: dict[str, int]
    parts: dict[str, dict[str, Any]]
    site_id: str = "SITE-1"
    lot_units: int = 500
    reel_boards: int = 1500
    mold_lot: int = 2000
    resin_devices: int = 10_000
    batt_lot: int = 5000
    fw_units: int = 50_000
    lot_seq0: int = 1
    material_seq0: int = 1
    step_id0: int = 1
    operator: str = "fatima"
    quality: str = "youssef"
    ids: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = self.devices
        seq = iter(range(self.lot_seq0, 10**9))
        lot = lambda: f"L{self.yymm}-{next(seq):04d}"  # noqa: E731
        self.n_pcba_lots = _ceil(n, self.lot_units)
        self.n_enc = _ceil(n, self.mold_lot)
        self.n_resin = _ceil(self.n_enc * self.mold_lot, self.resin_devices)
        self.n_batt = _ceil(n, self.batt_lot)
        self.n_fw = _ceil(n, self.fw_units)
        self.ids["pcba_lots"] = [lot() for _ in range(self.n_pcba_lots)]
        self.ids["enc_lots"] = [lot() for _ in range(self.n_enc)]
        self.ids["dev_lots"] = [lot() for _ in range(self.n_pcba_lots)]
        mseq = iter(range(self.material_seq0, 10**9))
        mat = lambda: f"R-{next(mseq):06d}"  # noqa: E731
        # reel r of feeder f feeds boards [r*L - off_f, (r+1)*L - off_f)
        self.offsets = [(f * 53) % self.reel_boards for f in range(len(FEEDERS))]
        self.reels = [[mat() for _ in range((n - 1 + off) // self.reel_boards + 1)]
                      for off in self.offsets]
        self.ids["resin"] = [mat() for _ in range(self.n_resin)]
        self.ids["batt"] = [mat() for _ in range(self.n_batt)]
        self.ids["fw"] = [f"FW-OXI@1.{4 + k // 10}.{k % 10}" for k in range(self.n_fw)]
        self.fw_sha = [hashlib.sha256(f.encode()).hexdigest() for f in self.ids["fw"]]
        self.last_lot_seq = next(seq) - 1
        self.last_material_seq = next(mseq) - 1
        self.n_steps = 2 * n + self.n_enc * len(ENC_OPS)

    # -- identifiers -------------------------------------------------------------------
    @staticmethod
    def board(i: int) -> str:
        return f"PB-{i + 1:06d}"

    @staticmethod
    def device(i: int) -> str:
        return f"SN-{i + 1:06d}"

    def board_time(self, i: int) -> datetime:
        return START + i * BOARD_EVERY

    def device_time(self, i: int) -> datetime:
        return self.board_time(i) + timedelta(days=3)

    def shipped(self, lot_index: int) -> bool:
        return lot_index % 10 != 9

    @property
    def all_reels(self) -> list[str]:
        return [r for reels in self.reels for r in reels]

    def expected_rows(self) -> int:
        n = self.devices
        materials = len(self.all_reels) + self.n_resin + self.n_batt
        lots = 2 * self.n_pcba_lots + self.n_enc
        items = 2 * n + lots + materials + self.n_fw
        edges = n * (len(FEEDERS) + 1) + 3 * n + self.n_enc
        return (items + lots + 2 * n + materials + self.n_fw + edges + self.n_steps + n
                + self.n_pcba_lots + self.audit_count())

    def audit_count(self) -> int:
        dev_lots = self.n_pcba_lots
        shipped = sum(1 for k in range(dev_lots) if self.shipped(k))
        return (len(self.all_reels) + self.n_resin + self.n_batt + self.n_fw
                + self.n_pcba_lots * (2 + len(PCBA_OPS)) + self.n_enc * (2 + len(ENC_OPS))
                + dev_lots * (2 + len(DEV_OPS)) + shipped)

    # -- rows ---------------------------------------------------------------------------
    def items(self) -> Iterator[tuple[Any, ...]]:
        t0 = iso(START)
        for f in self.ids["fw"]:
            yield (f, "firmware", t0)
        for m in self.all_reels + self.ids["resin"] + self.ids["batt"]:
            yield (m, "material", t0)
        for key in ("pcba_lots", "enc_lots", "dev_lots"):
            for lot_id in self.ids[key]:
                yield (lot_id, "lot", t0)
        for i in range(self.devices):
            yield (self.board(i), "unit", t0)
        for i in range(self.devices):
            yield (self.device(i), "unit", t0)

    def firmware_columns(self) -> tuple[str, ...]:
        return ("id", "part", "version", "sha256", "size", "stored_path", "source_name",
                "status", "registered_by", "registered_at", "approved_at")

    def firmware(self) -> Iterator[tuple[Any, ...]]:
        t0 = iso(START)
        for f, sha in zip(self.ids["fw"], self.fw_sha, strict=True):
            version = f.split("@", 1)[1]
            yield (f, "FW-OXI", version, sha, 65546, f"firmware/{sha}.bin",
                   f"oxi-fw-{version}.bin", "approved", "tarik", t0, t0)

    def material_lots(self) -> Iterator[tuple[Any, ...]]:
        t0 = iso(START)

        def row(mid: str, part: str, qty: float) -> tuple[Any, ...]:
            p = self.parts.get(part, {})
            return (mid, part, SUPPLIERS.get(part, "Arrow Electronics"), f"SL-{mid[2:]}",
                    None, "2601", "2028-06-30", p.get("origin"), p.get("unit_cost"),
                    f"COC-{mid}", qty, 0.0, "released", t0, self.operator)

        for (_, part, qty, _, _), reels in zip(FEEDERS, self.reels, strict=True):
            for r in reels:
                yield row(r, part, qty * self.reel_boards)
        for r in self.ids["resin"]:
            yield row(r, "RESIN-PC2458", 0.0215 * self.resin_devices)
        for r in self.ids["batt"]:
            yield row(r, "BATT-LIPO-300", float(self.batt_lot))

    def lots(self) -> Iterator[tuple[Any, ...]]:
        n, size = self.devices, self.lot_units
        for k, lot_id in enumerate(self.ids["pcba_lots"]):
            qty = min(size, n - k * size)
            t = iso(self.board_time(k * size))
            yield (lot_id, "PCBA-OXI-100", self.routing_versions["PCBA-OXI-100"], self.site_id,
                   qty, 1, "released", qty, 0, 0.0, t, self.operator, t, t)
        for e, lot_id in enumerate(self.ids["enc_lots"]):
            used = min(self.mold_lot, n - e * self.mold_lot)
            t = iso(self.board_time(e * self.mold_lot))
            yield (lot_id, "ENC-OXI-100", self.routing_versions["ENC-OXI-100"], self.site_id,
                   self.mold_lot, 0, "released", self.mold_lot, 0,
                   float(self.mold_lot - used), t, self.operator, t, t)
        for k, lot_id in enumerate(self.ids["dev_lots"]):
            qty = min(size, n - k * size)
            t = iso(self.device_time(k * size))
            shipped = self.shipped(k)
            yield (lot_id, "DEV-OXI-100", self.routing_versions["DEV-OXI-100"], self.site_id,
                   qty, 1, "shipped" if shipped else "released", qty, qty if shipped else 0,
                   0.0, t, self.operator, t, t)

    def mcu_uid(self, i: int) -> str:
        return f"{0x3F00A5000000000000000000 + i:024X}"

    def units(self) -> Iterator[tuple[Any, ...]]:
        pcba, dev, size = self.ids["pcba_lots"], self.ids["dev_lots"], self.lot_units
        for i in range(self.devices):
            yield (self.board(i), pcba[i // size], "consumed", self.mcu_uid(i), self.device(i))
        for i in range(self.devices):
            status = "shipped" if self.shipped(i // size) else "released"
            yield (self.device(i), dev[i // size], status, None, None)

    def steps(self) -> Iterator[tuple[Any, ...]]:
        """Step ids: board i -> step_id0 + i, device i -> step_id0 + N + i, then enclosures."""
        pcba, dev, size, n = self.ids["pcba_lots"], self.ids["dev_lots"], self.lot_units, \
            self.devices
        op = self.operator
        for i in range(n):
            t = iso(self.board_time(i))
            yield (self.step_id0 + i, pcba[i // size], self.board(i), 30, "PNP-1", op, t, t,
                   "passed", "pass", BOARD_DATA, 1, None)
        for i in range(n):
            t = iso(self.device_time(i))
            yield (self.step_id0 + n + i, dev[i // size], self.device(i), 10, "ASM-1", op, t, t,
                   "passed", "pass", DEVICE_DATA, 1, None)
        sid = self.step_id0 + 2 * n
        for e, lot_id in enumerate(self.ids["enc_lots"]):
            t = iso(self.board_time(e * self.mold_lot))
            for op_no, station in zip(ENC_OPS, ("DRY-1", "IMM-2", "VIS-1"), strict=True):
                yield (sid, lot_id, None, op_no, station, op, t, t, "passed", "pass",
                       "{}", 1, None)
                sid += 1

    def edges(self) -> Iterator[tuple[Any, ...]]:
        """Boards (29 materials + firmware), then enclosure lots (resin), then devices."""
        n, rb = self.devices, self.reel_boards
        feeders = [(slot, qty, op, st, off, reels) for (slot, _, qty, op, st), off, reels
                   in zip(FEEDERS, self.offsets, self.reels, strict=True)]
        fw = self.ids["fw"]
        for i in range(n):
            pb, t, sid = self.board(i), iso(self.board_time(i)), self.step_id0 + i
            for slot, qty, op, station, off, reels in feeders:
                yield (pb, reels[(i + off) // rb], qty, op, sid if op == 30 else None,
                       station, None, slot, t)
            yield (pb, fw[i // self.fw_units], 1.0, 70, None, "FLASH-1", None, None, t)
        enc_sid = self.step_id0 + 2 * n
        resin = self.ids["resin"]
        per_enc = 0.0215 * self.mold_lot
        for e, lot_id in enumerate(self.ids["enc_lots"]):
            t = iso(self.board_time(e * self.mold_lot))
            yield (lot_id, resin[e * self.mold_lot // self.resin_devices], per_enc, 10,
                   enc_sid + e * len(ENC_OPS), "DRY-1", None, "HOPPER", t)
        enc, batt = self.ids["enc_lots"], self.ids["batt"]
        for i in range(n):
            sn, t, sid = self.device(i), iso(self.device_time(i)), self.step_id0 + n + i
            yield (sn, self.board(i), 1.0, 10, sid, "ASM-1", None, None, t)
            yield (sn, enc[i // self.mold_lot], 1.0, 10, sid, "ASM-1", None, None, t)
            yield (sn, batt[i // self.batt_lot], 1.0, 10, sid, "ASM-1", None, "BIN-2", t)

    def flashes(self) -> Iterator[tuple[Any, ...]]:
        fw, sha = self.ids["fw"], self.fw_sha
        for i in range(self.devices):
            k = i // self.fw_units
            yield (self.board(i), fw[k], sha[k], self.mcu_uid(i), "FLASH-1", 1, "pass", 0, 900,
                   None, iso(self.board_time(i)))

    SHIPMENT_COLUMNS = ("lot_id", "consignee", "ref", "qty", "serials", "shipped_at",
                        "username")

    def shipments(self) -> Iterator[tuple[Any, ...]]:
        size = self.lot_units
        for k, lot_id in enumerate(self.ids["dev_lots"]):
            if not self.shipped(k):
                continue
            first, last = k * size, min(self.devices, (k + 1) * size)
            serials = json.dumps([self.device(i) for i in range(first, last)],
                                 separators=(",", ":"))
            yield (lot_id, ("CHU Ibn Rochd, Casablanca", "CHU Mohammed VI, Marrakech",
                            "Clinique Agdal, Rabat")[k % 3], f"BL-2026-{k + 1:05d}",
                   last - first, serials, iso(self.device_time(last - 1)), self.quality)

    def audit(self) -> Iterator[AuditEvent]:
        """Lot-level events: receipts, lot creation, each op per lot, release, shipment."""
        op, q = self.operator, self.quality
        for f in self.ids["fw"]:
            yield AuditEvent("firmware.register", "firmware", f, "tarik",
                             new={"id": f, "status": "approved"})
        for (_, part, qty, _, _), reels in zip(FEEDERS, self.reels, strict=True):
            for r in reels:
                yield AuditEvent("material.receive", "material", r, op,
                                 new={"part": part, "qty": qty * self.reel_boards})
        for r in self.ids["resin"]:
            yield AuditEvent("material.receive", "material", r, op,
                             new={"part": "RESIN-PC2458", "qty": 0.0215 * self.resin_devices})
        for r in self.ids["batt"]:
            yield AuditEvent("material.receive", "material", r, op,
                             new={"part": "BATT-LIPO-300", "qty": self.batt_lot})
        size, n = self.lot_units, self.devices
        for key, part, ops, unit in (("pcba_lots", "PCBA-OXI-100", PCBA_OPS, self.board),
                                     ("dev_lots", "DEV-OXI-100", DEV_OPS, self.device)):
            for k, lot_id in enumerate(self.ids[key]):
                serials = [unit(i) for i in range(k * size, min(n, (k + 1) * size))]
                yield AuditEvent("lot.create", "lot", lot_id, op,
                                 new={"part": part, "qty": len(serials),
                                      "routing_version": self.routing_versions[part],
                                      "serials": serials})
                for o in ops:
                    yield AuditEvent("step.complete", "lot", lot_id, op,
                                     new={"op": o, "units": len(serials), "status": "passed"})
                yield AuditEvent("lot.release", "lot", lot_id, q,
                                 old={"status": "completed"}, new={"status": "released"})
                if key == "dev_lots" and self.shipped(k):
                    yield AuditEvent("ship", "lot", lot_id, q, old={"status": "released"},
                                     new={"status": "shipped", "qty": len(serials)})
        for lot_id in self.ids["enc_lots"]:
            yield AuditEvent("lot.create", "lot", lot_id, op,
                             new={"part": "ENC-OXI-100", "qty": self.mold_lot})
            for o in ENC_OPS:
                yield AuditEvent("step.complete", "lot", lot_id, op,
                                 new={"op": o, "qty": self.mold_lot, "status": "passed"})
            yield AuditEvent("lot.release", "lot", lot_id, q,
                             old={"status": "completed"}, new={"status": "released"})
