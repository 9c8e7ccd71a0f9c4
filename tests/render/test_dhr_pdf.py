"""Device History Record PDF: content a reviewer relies on, page furniture, large lots."""

from __future__ import annotations

import copy
import hashlib
import io
import re
from typing import Any

import pytest

pypdf = pytest.importorskip("pypdf")

from mes.render.dhr_pdf import render_dhr_pdf  # noqa: E402

CHAIN_HASH = hashlib.sha256(b"chain head").hexdigest()
OPS = [
    (10, "Solder paste print", "SPI"),
    (20, "Pick and place", "PNP"),
    (30, "Reflow", "REFLOW"),
    (40, "AOI", "AOI"),
    (50, "Firmware flash", "FLASH"),
    (60, "ICT", "ICT"),
    (70, "Enclosure assembly", "ASSY"),
    (80, "Ultrasonic weld", "WELD"),
    (90, "Functional test SpO2 simulator", "FCT"),
    (100, "Leak test", "LEAK"),
    (110, "UDI labeling", "LABEL"),
    (120, "Final inspection and packing", "PACK"),
]


def _h(s: str) -> str:
    return hashlib.sha256(s.encode()).hexdigest()


def _ts(minute: int) -> str:
    day, rest = divmod(minute, 24 * 60)
    hour, m = divmod(rest, 60)
    return f"2026-11-{20 + day:02d}T{hour:02d}:{m:02d}:00+00:00"


def _sig(name: str, user: str, meaning: str, rtype: str, rid: str, minute: int) -> dict[str, Any]:
    utc = _ts(minute)
    local = utc[:10] + " " + f"{int(utc[11:13]) + 1:02d}" + utc[13:16] + " (+01:00)"
    return {
        "full_name": name,
        "username": user,
        "meaning": meaning,
        "signed_at_utc": utc,
        "utc_offset": "+01:00",
        "local_time": local,
        "record_type": rtype,
        "record_id": rid,
        "record_sha256": _h(rid + meaning),
    }


def make_dhr(n_units: int = 3, *, positive: bool = True) -> dict[str, Any]:
    serials = [f"SN-{i:06d}" for i in range(1, n_units + 1)]
    users = [("fatima", "Fatima Zahra Alaoui"), ("karim", "Karim El Idrissi"), ("salma", "سلمى")]
    steps: list[dict[str, Any]] = [
        {
            "serial": None,
            "op": 5,
            "op_name": "Kitting",
            "station": "KIT-1",
            "user": "karim",
            "user_name": "Karim El Idrissi",
            "started_at": _ts(0),
            "completed_at": _ts(4),
            "status": "passed",
            "result": None,
            "attempt": 1,
            "data": {},
        }
    ]
    for u, serial in enumerate(serials):
        for k, (op, name, st) in enumerate(OPS):
            user, user_name = users[(u + k) % 3]
            data: dict[str, Any] = {}
            if op == 30:
                data = {"peak_temp_c": 243.0 + u % 3, "time_above_liquidus_s": 62}
            elif op == 90:
                data = {
                    "spo2_error_pct": 1.25,
                    "pr_error_bpm": 0.8,
                    "led_current_ma": 18.4,
                    "battery_v": 3.02,
                    "fw": "1.4.2",
                }
            elif op == 100:
                data = {"leak_rate_pa_s": 0.012}
            failed = u == 1 and op == 90
            steps.append(
                {
                    "serial": serial,
                    "op": op,
                    "op_name": name,
                    "station": f"{st}-1",
                    "user": user,
                    "user_name": user_name,
                    "started_at": _ts(10 + u * 3 + k * 5),
                    "completed_at": _ts(12 + u * 3 + k * 5),
                    "status": "failed" if failed else "passed",
                    "result": "fail" if failed else "pass",
                    "attempt": 1,
                    "data": data,
                }
            )
            if failed:
                steps.append({**steps[-1], "status": "passed", "result": "pass", "attempt": 2})
    lot_id = "L2611-0004"
    return {
        "generated_at": "2026-11-23T10:00:00+00:00",
        "chain_head": {"seq": 1234, "hash": CHAIN_HASH},
        "site": {
            "name": "Usine Casablanca",
            "country": "MA",
            "manufacturer": "Atlas Medical Devices SARL",
            "address": "Zone industrielle Sidi Maârouf, lot 42, 20270 Casablanca",
        },
        "lot": {
            "id": lot_id,
            "part_number": "DEV-OXI-100",
            "part_name": "Pulse oximeter OXI-100, fingertip, Bluetooth LE",
            "status": "released",
            "created_at": _ts(0),
            "completed_at": _ts(2000),
            "released_at": _ts(2100),
            "qty_planned": n_units + 2,
            "qty_manufactured": n_units,
            "qty_scrapped": 2,
            "qty_released": n_units,
            "qty_shipped": n_units,
            "serialized": True,
            "gtin": "06111234567896",
        },
        "routing": {
            "part": "DEV-OXI-100",
            "version": 2,
            "sha256": _h("routing"),
            "approval": _sig("Nadia Berrada", "nadia", "approved", "routing", "DEV-OXI-100@2", 0),
            "operations": [{"op": op, "name": n, "station_type": st} for op, n, st in OPS],
        },
        "units": [
            {"serial": s, "status": "released", "mcu_uid": f"0x{0x3A0000 + i:024X}"}
            for i, s in enumerate(serials)
        ],
        "steps": steps,
        "materials": [
            {
                "id": "R-000123",
                "part_number": "CAP-100N-0402",
                "part_name": "Capacitor 100 nF 16 V X7R 0402",
                "supplier": "Murata Electronics Europe",
                "supplier_lot": "MUR-7731-A",
                "mpn": "GRM155R71C104KA88D",
                "date_code": "2544",
                "expiry": None,
                "origin": "JP",
                "qty": 100.0,
                "op": 20,
                "station": "PNP-1",
                "at": _ts(15),
                "refdes": "C1,C2,C3,C4,C7,C9,C12,C15,C16,C21",
                "into": "PB-000001",
            },
            {
                "id": "R-000201",
                "part_number": "RES-PC-MED",
                "part_name": "Medical grade polycarbonate resin, natural",
                "supplier": "Plastiques du Maghreb",
                "supplier_lot": "PDM-2611-07",
                "mpn": None,
                "date_code": None,
                "expiry": "2028-01-31",
                "origin": "MA",
                "qty": 1.75,
                "op": 70,
                "station": "ASSY-1",
                "at": _ts(60),
                "refdes": None,
                "into": lot_id,
            },
        ],
        "components": [
            {
                "id": f"PB-{i:06d}",
                "kind": "unit",
                "part_number": "PCBA-OXI-100",
                "lot": "L2611-0001",
                "into": s,
                "op": 70,
                "at": _ts(60 + i),
            }
            for i, s in enumerate(serials[:5], start=1)
        ],
        "firmware": [
            {
                "image": "FW-OXI@1.4.2",
                "version": "1.4.2",
                "sha256": _h("fw"),
                "serial": "PB-000001",
                "mcu_uid": "0x3A000000000000000000001",
                "station": "FLASH-1",
                "attempts": 1,
                "verify": "pass",
                "at": _ts(40),
            }
        ],
        "ncrs": [
            {
                "id": "NCR-0001",
                "status": "closed",
                "description": "SpO2 error above limit at first functional test (2.6 % > 2.0 %).",
                "units": serials[1:2],
                "action": "rework",
                "justification": "Sensor flex connector re-seated; unit retested and passed.",
                "opened_at": _ts(55),
                "opened_by": "karim",
                "signatures": [
                    _sig("Nadia Berrada", "nadia", "dispositioned", "ncr", "NCR-0001", 70)
                ],
            }
        ],
        "labels": [
            {
                "item": s,
                "template": "udi-100x50",
                "template_version": 3,
                "element_string": f"(01)06111234567896(11)261123(10){lot_id}(21){s}",
                "content_sha256": _h("label" + s),
                "file": f"labels/{lot_id}/{s}.pdf",
                "printed_at": _ts(1900),
                "user": "salma",
                "reprint": 1 if i == 0 else 0,
                "reason": "label smudged" if i == 0 else None,
            }
            for i, s in enumerate(serials)
        ],
        "origin": {
            "positive": positive,
            "rule_name": "Made in Morocco (MCINET label)",
            "rule_version": "2024.1",
            "threshold_pct": 40.0,
            "local_pct": 63.2 if positive else 31.4,
            "claim": "Made in Morocco" if positive else None,
            "decided_at": _ts(2050),
            "worksheet": {
                "unit_cost": 412.5,
                "local_value": 260.7,
                "lines": [
                    {
                        "item": "PCBA-OXI-100",
                        "kind": "subassembly",
                        "origin": "MA",
                        "value": 180.0,
                        "local": True,
                    },
                    {
                        "item": "CAP-100N-0402",
                        "kind": "material",
                        "origin": "JP",
                        "value": 0.3,
                        "local": False,
                    },
                    {
                        "item": "Conversion op 70-120",
                        "kind": "conversion",
                        "origin": "MA",
                        "value": 80.7,
                        "local": True,
                    },
                ],
                "conferring_ops": [
                    {"op": 20, "name": "Pick and place", "site_country": "MA", "performed": True},
                    {
                        "op": 70,
                        "name": "Enclosure assembly",
                        "site_country": "MA",
                        "performed": True,
                    },
                ],
            },
        },
        "shipments": [
            {
                "consignee": "CHU Ibn Rochd, Casablanca",
                "ref": "BL-2026-0412",
                "qty": n_units,
                "serials": serials,
                "shipped_at": _ts(2200),
                "user": "karim",
            }
        ],
        "signatures": [
            _sig("Karim El Idrissi", "karim", "reviewed", "lot", lot_id, 2090),
            _sig("Youssef Benali", "youssef", "released", "lot", lot_id, 2100),
        ],
    }


def _pages(pdf: bytes) -> list[str]:
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    return [p.extract_text() or "" for p in reader.pages]


def _flat(s: str) -> str:
    return re.sub(r"\s+", "", s)


@pytest.fixture(scope="module")
def small_pdf() -> bytes:
    return render_dhr_pdf(make_dhr(3))


def test_is_a4_pdf(small_pdf: bytes) -> None:
    assert small_pdf.startswith(b"%PDF-")
    page = pypdf.PdfReader(io.BytesIO(small_pdf)).pages[0]
    assert round(float(page.mediabox.width)) == 595
    assert round(float(page.mediabox.height)) == 842


def test_title_block_and_key_facts(small_pdf: bytes) -> None:
    pages = _pages(small_pdf)
    text = "\n".join(pages)
    first = pages[0]
    assert "Device History Record" in first
    assert "L2611-0004" in first
    assert "DEV-OXI-100" in first
    assert CHAIN_HASH in first  # full 64 hex on one line, page 1
    assert "1234" in first
    assert "mes audit verify --anchor" in first
    # signer: printed name and meaning
    assert "Youssef Benali" in text
    assert "released" in text
    assert "2026-11-21 12:00 (+01:00)" in text  # local time with offset (11:00 UTC + 1 h)
    # traceability
    assert "MUR-7731-A" in text
    assert "NCR-0001" in text
    assert "Made in Morocco claim: PERMITTED" in text
    assert "NOT PERMITTED" not in text
    assert "FW-OXI@1.4.2" in text
    assert "BL-2026-0412" in text
    assert "CHU Ibn Rochd" in text
    # closing statement repeats the chain head
    assert CHAIN_HASH in pages[-1]


def test_sections_in_order(small_pdf: bytes) -> None:
    text = "\n".join(_pages(small_pdf))
    heads = [
        "1 Summary",
        "2 Review, release and signatures",
        "3 Routing",
        "4 Operations and acceptance records",
        "5 Materials and subassemblies",
        "6 Equipment",
        "7 Firmware",
        "8 Labeling reconciliation",
        "9 Exceptions",
        "10 Nonconformances",
        "11 Origin decision",
        "12 Distribution",
    ]
    norm = re.sub(r"[ \t]+", " ", text)
    positions = [norm.find(h) for h in heads]
    assert all(p >= 0 for p in positions), dict(zip(heads, positions, strict=True))
    assert positions == sorted(positions)


def test_footer_page_x_of_y(small_pdf: bytes) -> None:
    pages = _pages(small_pdf)
    n = len(pages)
    assert "page 1 of" in pages[0]
    assert f"page {n} of {n}" in pages[-1]
    for i, p in enumerate(pages, start=1):
        assert f"page {i} of {n}" in p
        assert "L2611-0004" in p


def test_not_permitted_and_empty_sections() -> None:
    d = make_dhr(2, positive=False)
    for key in ("materials", "components", "firmware", "ncrs", "labels", "shipments"):
        d[key] = []
    text = "\n".join(_pages(render_dhr_pdf(d)))
    assert "Made in Morocco claim: NOT PERMITTED" in text
    assert text.count("none recorded") >= 6

    d["origin"] = None
    text = "\n".join(_pages(render_dhr_pdf(d)))
    assert "Made in Morocco claim: NOT PERMITTED" in text


def test_missing_values_print_as_dash() -> None:
    d = make_dhr(1)
    d["lot"]["completed_at"] = None
    d["lot"]["gtin"] = None
    d["routing"]["approval"] = None
    d["units"][0]["mcu_uid"] = None
    d["steps"][1]["completed_at"] = None
    d["steps"][1]["result"] = None
    text = "\n".join(_pages(render_dhr_pdf(d)))
    assert "—" in text


def test_escapes_markup_and_long_values() -> None:
    d = make_dhr(1)
    d["ncrs"][0]["description"] = "Solder bridge <U3> pins 4 & 5 " + "x" * 300
    d["steps"][1]["data"] = {f"k{i}": i * 1.5 for i in range(60)}
    text = "\n".join(_pages(render_dhr_pdf(d)))
    assert "<U3>" in text and "&" in text


def test_deterministic(small_pdf: bytes) -> None:
    assert render_dhr_pdf(make_dhr(3)) == small_pdf


def test_large_lot_stays_short_and_rows_never_split() -> None:
    """Review by exception: 2,000 units and 200 material lots; the page count follows the
    consolidated tables, every page carries the footer, and no table row is split (a
    material lot's id and its supplier lot are always on the same page)."""
    d = make_dhr(2000)
    d["materials"] = [
        {**d["materials"][0], "id": f"R-{i:06d}", "supplier_lot": f"SUP-{i:05d}", "units": 5,
         "qty": 50.0, "cert": f"COC-{i}", "refdes": None}
        for i in range(200)
    ]
    pdf = render_dhr_pdf(d)  # its time is bench/dhr.py's, not a test's
    pages = _pages(pdf)
    n = len(pages)
    assert n <= 12 + 2, n  # 200 material rows need ~8 pages; no per-unit pages
    for i, p in enumerate(pages, start=1):
        assert f"page {i} of {n}" in p, i
        assert "L2611-0004" in p
    for i in range(200):
        where = {k for k, p in enumerate(pages) if f"R-{i:06d}" in p}
        assert len(where) == 1 and f"SUP-{i:05d}" in pages[where.pop()], i
    mat_pages = [p for p in pages if "SUP-00" in p]
    assert len(mat_pages) >= 2 and all("Supplier lot" in p for p in mat_pages)  # header repeats
    assert _flat(CHAIN_HASH) in _flat(pages[-1])
    with_units = _pages(render_dhr_pdf(d, units=True))
    assert len(with_units) > n and "SN-002000" in with_units[-1]


def test_arabic_text_renders() -> None:
    d = copy.deepcopy(make_dhr(1))
    d["site"]["name"] = "مصنع الدار البيضاء"
    pdf = render_dhr_pdf(d)
    assert pdf.startswith(b"%PDF-")


def test_long_text_is_cut_not_split() -> None:
    d = make_dhr(2)
    d["ncrs"][0]["description"] = "measurement " * 3000
    d["shipments"][0]["serials"] = [f"SN-{i * 2:06d}" for i in range(1500)]  # no runs
    pages = _pages(render_dhr_pdf(d))
    n = len(pages)
    assert all(f"page {i} of {n}" in p for i, p in enumerate(pages, start=1))
    assert "full text in dhr.json" in "".join(pages)
