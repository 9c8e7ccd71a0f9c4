"""mes label print|verify|templates|preview and mes origin, through the real CLI.

A small catalog and routings of our own (tmp YAML): a serialized device whose final assembly
(origin-conferring) builds in a moulded enclosure lot and a purchased board, then functional
test, labeling (label: true) and packing. The board's material lot cost decides the origin
share: cheap board -> local share above 40 %, expensive imported board -> below.
"""

from __future__ import annotations

import io
import json
import re
import sqlite3
import unicodedata
from pathlib import Path

import pytest

from tests import conftest
from tests.conftest import Workspace, sql

pypdf = pytest.importorskip("pypdf")
pytest.importorskip("zxingcpp")
pytest.importorskip("pypdfium2")

GTIN = "06111234500014"
CATALOG = f"""
parts:
  - {{number: BOARD-T, name: Imported PCB assembly, kind: component, unit_cost: 100,
      origin: CN, incoming_inspection: false}}
  - {{number: SCREW-T, name: Screw, kind: component, unit_cost: 1.0, origin: CN,
      incoming_inspection: false}}
  - {{number: RESIN-T, name: PC resin, kind: component, unit: kg, unit_cost: 50, origin: DE,
      incoming_inspection: false}}
  - {{number: LBL-T, name: Label stock, kind: component, unit_cost: 0.2, origin: MA,
      incoming_inspection: false}}
  - {{number: KIT-T, name: Kit contents, kind: component, unit_cost: 10, origin: MA,
      incoming_inspection: false}}
  - {{number: ENC-T, name: Enclosure, kind: subassembly}}
  - number: DEV-T
    name: OxiSense 100 pulse oximeter
    kind: device
    ref: OXS-100
    gtin: "{GTIN}"
    serialized: true
    serial_prefix: SN-
    shelf_life_days: 1825
  - number: KITD-T
    name: OxiSense kit (relabelled)
    kind: device
    ref: OXS-KIT
    gtin: "06111234500021"
    serialized: true
    serial_prefix: KT-
    shelf_life_days: 365
"""
ENC = """
routing:
  part: ENC-T
  operations:
    - {op: 10, name: Injection moulding, station_type: imm, activity: molding,
       origin_conferring: true, conversion_cost: 20, result_required: false,
       molding: {cavities: 1},
       consumes: [{part: RESIN-T, qty: 0.1}]}
"""
DEV = """
routing:
  part: DEV-T
  operations:
    - op: 10
      name: Final assembly
      station_type: assembly
      activity: assembly
      origin_conferring: true
      serialize: true
      conversion_cost: 30
      result_required: false
      consumes:
        - {part: ENC-T, qty: 1}
        - {part: BOARD-T, qty: 1}
        - {part: SCREW-T, qty: 2}
    - {op: 20, name: Functional test, station_type: func-test, activity: test,
       conversion_cost: 5}
    - {op: 30, name: Labelling, station_type: labeler, activity: labeling, label: true,
       conversion_cost: 1, result_required: false, consumes: [{part: LBL-T, qty: 1}]}
    - {op: 40, name: Packing, station_type: pack, activity: packing, conversion_cost: 1,
       result_required: false}
"""
KIT = """
routing:
  part: KITD-T
  operations:
    - {op: 10, name: Kitting, station_type: pack, activity: kitting, serialize: true,
       conversion_cost: 2, result_required: false, consumes: [{part: KIT-T, qty: 1}]}
    - {op: 20, name: Labelling, station_type: labeler, activity: labeling, label: true,
       conversion_cost: 1, result_required: false}
"""
STATIONS = {"IMM-1": "imm", "ASM-1": "assembly", "FT-1": "func-test", "LBL-1": "labeler",
            "PACK-1": "pack"}
ARABIC = "صنع في المغرب"


@pytest.fixture
def shop(workspace: Workspace, tmp_path: Path) -> Workspace:
    ws = workspace
    for sid, stype in STATIONS.items():
        ws.ok("station", "add", sid, "--type", stype, "--calibration-due", "2099-12-31",
              user="tarik")
        ws.ok("user", "qualify", "fatima", stype, "--until", "2099-12-31", user="youssef")
    src = tmp_path / "yaml"
    src.mkdir()
    files = []
    for name, text in (("catalog", CATALOG), ("enc", ENC), ("dev", DEV), ("kit", KIT)):
        f = src / f"{name}.yaml"
        f.write_text(text, encoding="utf-8")
        files.append(f)
    out = ws.ok("routing", "load", *files, user="tarik").out
    for line in out.splitlines():
        if line.startswith("routing ") and line.endswith(": draft"):
            part, version = line.split()[1], line.split()[2].rstrip(":").lstrip("v")
            ws.ok("routing", "approve", part, "--version", version, user="youssef")
    conftest.approve_label_templates(ws)
    return ws


def receive(ws: Workspace, part: str, qty: float, origin: str, cost: float) -> str:
    out = ws.ok("material", "receive", part, "--qty", qty, "--origin", origin,
                "--unit-cost", cost, user="fatima").out
    m = re.search(r"OK (\S+)", out)
    assert m, out
    return m.group(1)


def build_device(ws: Workspace, board_cost: float, n: int = 2, decide: bool = True
                 ) -> tuple[str, list[str]]:
    """A DEV-T lot of n units that has passed ops 10 and 20 (ready for labeling), its origin
    decided by quality (unless `decide` is false)."""
    resin = receive(ws, "RESIN-T", 10, "DE", 50)
    board = receive(ws, "BOARD-T", 10, "CN", board_cost)
    screw = receive(ws, "SCREW-T", 100, "CN", 1)
    enc = ws.ok("lot", "create", "ENC-T", "--qty", n, user="fatima").out.split()[0]
    ws.ok("step", "complete", enc, "--op", 10, "--station", "IMM-1", "--consume", resin,
          user="fatima")
    lines = ws.ok("lot", "create", "DEV-T", "--qty", n, user="fatima").out.splitlines()
    lot, serials = lines[0].strip(), lines[1].split()
    ws.ok("step", "complete", lot, "--op", 10, "--station", "ASM-1", "--consume", enc,
          "--consume", board, "--consume", screw, user="fatima")
    ws.ok("step", "complete", lot, "--op", 20, "--station", "FT-1", "--result", "pass",
          user="fatima")
    if decide:
        ws.ok("origin", lot, user="youssef")
    return lot, serials


def labels_rows(ws: Workspace) -> list[dict]:
    con = sqlite3.connect(ws.db)
    con.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in con.execute("SELECT * FROM labels ORDER BY id")]
    finally:
        con.close()


def page_texts(pdf: bytes) -> list[str]:
    return [p.extract_text() for p in pypdf.PdfReader(io.BytesIO(pdf)).pages]


def has_arabic(text: str) -> bool:
    lines = [unicodedata.normalize("NFKC", line).strip() for line in text.splitlines()]
    return any(ARABIC in (line, line[::-1]) or line in (ARABIC, ARABIC[::-1]) for line in lines)


# -- printing ---------------------------------------------------------------------------------

def test_print_lot_verifies_records_and_claims_origin(shop: Workspace) -> None:
    from mes.domain.gs1 import GS
    from mes.render.label_verify import verify_pdf

    lot, serials = build_device(shop, board_cost=20)
    r = shop.ok("label", "print", lot, "--json", user="fatima")
    d = json.loads(r.out)
    assert d["verified"] is True and d["origin_claim"] is True
    path = Path(d["path"])
    assert path.parent == shop.path / "labels" / lot
    assert re.fullmatch(rf"{lot}-\d{{8}}T\d{{6}}Z-J\d{{6}}\.pdf", path.name)
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no temp left
    pdf = path.read_bytes()

    rows = labels_rows(shop)
    assert [row["item_id"] for row in rows] == serials
    for row in rows:
        assert row["lot_id"] == lot and row["template"] == "udi-100x50"
        assert row["format"] == "pdf" and row["reprint"] == 0 and row["reason"] is None
        assert row["file"] == f"labels/{lot}/{path.name}" and row["username"] == "fatima"
        assert re.fullmatch(r"[0-9a-f]{64}", row["content_sha256"])
    # decoded like a scanner: ]d2, GS1 content, the exact recorded element string
    pages = verify_pdf(pdf)
    assert len(pages) == len(serials)
    for page, row, serial in zip(pages, rows, serials, strict=True):
        assert page.symbology_identifier == "]d2" and page.content_type_gs1
        assert page.udi_hri == row["element_string"]
        assert row["element_string"].startswith(f"(01){GTIN}(11)")
        assert f"(10){lot}(21){serial}" in row["element_string"]
        assert page.data.startswith(f"01{GTIN}11") and f"10{lot}{GS}21{serial}" in page.data
    # exact stock, one label per page
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    for p in reader.pages:
        w, h = float(p.mediabox.width) * 25.4 / 72, float(p.mediabox.height) * 25.4 / 72
        assert abs(w - 100) < 0.01 and abs(h - 50) < 0.01
    text = page_texts(pdf)[0]
    assert "Made in Morocco" in text
    assert "Fabriqué au Maroc" in unicodedata.normalize("NFC", text)
    assert has_arabic(text), text
    assert "OxiMaroc SA" in text and serials[0] in text
    # every label is in the audit trail
    log = shop.ok("audit", "log", "--entity", serials[0], user="youssef").out
    assert "label.print" in log


def test_reprint_flow(shop: Workspace) -> None:
    _lot, serials = build_device(shop, board_cost=20, n=1)
    shop.ok("label", "print", serials[0], user="fatima")
    again = shop.mes("label", "print", serials[0], user="fatima")
    assert again.code == 4 and "already labelled: use --reprint --reason" in again.err
    no_reason = shop.mes("label", "print", serials[0], "--reprint", user="fatima")
    assert no_reason.code == 5 and "--reason" in no_reason.err
    d = json.loads(shop.ok("label", "print", serials[0], "--reprint", "--reason",
                           "label damaged", "--json", user="fatima").out)
    assert d["labels"][0]["reprint"] == 1
    d2 = json.loads(shop.ok("label", "print", serials[0], "--reprint", "--reason",
                            "smudged", "--json", user="fatima").out)
    assert d2["labels"][0]["reprint"] == 2
    rows = labels_rows(shop)
    assert [(r["reprint"], r["reason"]) for r in rows] == [
        (0, None), (1, "label damaged"), (2, "smudged")]
    assert rows[1]["element_string"] == rows[0]["element_string"]
    assert "REPRINT" in page_texts(Path(d["path"]).read_bytes())[0]
    assert "REPRINT" not in page_texts((shop.path / rows[0]["file"]).read_bytes())[0]
    assert "label damaged" in shop.ok("audit", "log", "--entity", serials[0], user="youssef").out


def test_refused_on_hold_and_before_labeling_op(shop: Workspace) -> None:
    lot, serials = build_device(shop, board_cost=20)
    r = shop.mes("label", "print", serials[0], user="fatima")  # fine: only to compare below
    assert r.code == 0, r
    shop.ok("lot", "hold", lot, "--reason", "deviation DEV-7", user="youssef",
            stdin="youssef-pass-1\n")
    held = shop.mes("label", "print", serials[1], user="fatima")
    assert held.code == 4 and "on hold" in held.err
    # a new lot that has only passed op 10
    resin = receive(shop, "RESIN-T", 1, "DE", 50)
    board = receive(shop, "BOARD-T", 1, "CN", 20)
    screw = receive(shop, "SCREW-T", 2, "CN", 1)
    enc = shop.ok("lot", "create", "ENC-T", "--qty", 1, user="fatima").out.split()[0]
    shop.ok("step", "complete", enc, "--op", 10, "--station", "IMM-1", "--consume", resin,
            user="fatima")
    lot2 = shop.ok("lot", "create", "DEV-T", "--qty", 1, user="fatima").out.split()[0]
    shop.ok("step", "complete", lot2, "--op", 10, "--station", "ASM-1", "--consume", enc,
            "--consume", board, "--consume", screw, user="fatima")
    early = shop.mes("label", "print", lot2, user="fatima")
    assert early.code == 4 and "has not passed op 20" in early.err
    assert len(labels_rows(shop)) == 1  # only the first print
    assert not list((shop.path / "labels").glob(f"{lot2}/*"))


def test_invalid_gtin_is_refused_naming_the_field(shop: Workspace) -> None:
    lot, _ = build_device(shop, board_cost=20, n=1)
    con = sqlite3.connect(shop.db)
    doc = json.loads(con.execute("SELECT doc FROM parts WHERE number = 'DEV-T'").fetchone()[0])
    doc["gtin"] = GTIN[:-1] + "9"  # wrong check digit
    con.execute("UPDATE parts SET doc = ? WHERE number = 'DEV-T'", (json.dumps(doc),))
    con.commit()
    con.close()
    r = shop.mes("label", "print", lot, user="fatima")
    assert r.code == 5 and "AI (01)" in r.err and "check digit" in r.err, r
    assert labels_rows(shop) == []
    assert not [p for p in (shop.path / "labels").rglob("*") if p.is_file()]


def test_permission_and_zpl(shop: Workspace) -> None:
    lot, serials = build_device(shop, board_cost=20, n=1)
    denied = shop.mes("label", "print", lot, user="amina")
    assert denied.code == 6
    r = shop.ok("label", "print", lot, "--format", "zpl", "--json", user="fatima")
    d = json.loads(r.out)
    assert d["verified"] is None and "no raster verification" in d["note"]
    zpl = Path(d["path"]).read_text(encoding="utf-8")
    assert zpl.startswith("^XA") and serials[0] in zpl
    assert labels_rows(shop)[0]["format"] == "zpl"


def test_verify_command(shop: Workspace) -> None:
    lot, serials = build_device(shop, board_cost=20)
    d = json.loads(shop.ok("label", "print", lot, "--json", user="fatima").out)
    rel = d["file"]
    v = json.loads(shop.ok("label", "verify", rel, "--json").out)
    assert v["ok"] and v["known"] and len(v["pages"]) == 2
    assert all(p["symbology_identifier"] == "]d2" and p["gs1"] for p in v["pages"])
    assert [p["item"] for p in v["pages"]] == serials
    human = shop.ok("label", "verify", rel).out
    assert "page 1: OK" in human and "]d2" in human
    # the record says another element string: the file no longer matches it (exit 7)
    con = sqlite3.connect(shop.db)
    con.execute("UPDATE labels SET element_string = '(01)06111234500014' WHERE id = 1")
    con.commit()
    con.close()
    bad = shop.mes("label", "verify", rel)
    assert bad.code == 7 and "page 1: FAIL" in bad.out


def test_verification_failure_hands_nothing_over(shop: Workspace,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import mes.render.label_verify as lv

    lot, _ = build_device(shop, board_cost=20, n=1)
    real = lv.verify_pdf

    def tampered(pdf: object, dpi: int = 300, **kw: object) -> list:
        pages = real(pdf, dpi, **kw)  # type: ignore[arg-type]
        return [lv.PageCheck(p.page, p.found, p.symbology_identifier, p.content_type_gs1,
                             p.data, p.udi_hri.replace("(21)", "(21)X")) for p in pages]

    monkeypatch.setattr(lv, "verify_pdf", tampered)
    r = shop.mes("label", "print", lot, user="fatima")
    assert r.code == 7 and "not handed over" in r.err, r
    assert labels_rows(shop) == []
    assert not [p for p in (shop.path / "labels").rglob("*") if p.is_file()]


def test_templates_and_preview(shop: Workspace) -> None:
    rows = json.loads(shop.ok("label", "templates", "--json").out)
    names = {r["name"]: r for r in rows}
    assert {"udi-100x50", "udi-50x25", "shipper-100x150"} <= set(names)
    assert names["udi-100x50"]["kind"] == "unit"
    out = shop.path / "preview.png"
    for name in ("udi-100x50", "udi-50x25", "shipper-100x150"):
        shop.ok("label", "preview", name, "--out", out)
        assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from mes.render.label_templates import load_template
    from mes.services.labels import specimen

    c = specimen(load_template("udi-50x25", []))
    assert "SPECIMEN" in c.product_name and c.lot == "SPECIMEN"
    assert "(01)09506000134352" in c.udi_hri  # GS1's example GTIN, never a product
    missing = shop.mes("label", "preview", "nope", "--out", out)
    assert missing.code == 3


# -- origin -----------------------------------------------------------------------------------

def test_imported_board_fails_threshold_and_blocks_claim(shop: Workspace) -> None:
    lot, _ = build_device(shop, board_cost=100)
    d = json.loads(shop.ok("origin", lot, "--json", user="youssef").out)
    # per unit: board 100 CN + screws 2 CN + enclosure (5 DE + 20 MA) + conversion 35 MA
    assert d["unit_cost"] == pytest.approx(162) and d["local_value"] == pytest.approx(55)
    assert d["local_pct"] == pytest.approx(33.95, abs=0.01)
    assert d["positive"] is False
    assert any("below the 40 % threshold" in r for r in d["reasons"])
    assert all(c["site_country"] == "MA" for c in d["conferring_ops"])
    refused = shop.mes("label", "print", lot, user="fatima")
    assert refused.code == 4 and "--no-origin-claim" in refused.err
    r = json.loads(shop.ok("label", "print", lot, "--no-origin-claim", "--json",
                           user="fatima").out)
    assert r["origin_claim"] is False
    text = "\n".join(page_texts(Path(r["path"]).read_bytes()))
    assert "Made in" not in text and "Fabriqué" not in text and not has_arabic(text), text
    assert not any("\u0600" <= ch <= "\u06ff" or "\ufe70" <= ch <= "\ufeff" for ch in text)
    human = shop.ok("origin", lot, user="youssef").out
    assert "NEGATIVE" in human and "33.95" in human


def test_moroccan_moulding_and_assembly_pass(shop: Workspace) -> None:
    lot, _ = build_device(shop, board_cost=20, decide=False)
    d = json.loads(shop.ok("origin", lot, "--json", user="youssef").out)
    assert d["unit_cost"] == pytest.approx(82) and d["local_value"] == pytest.approx(55)
    assert d["positive"] is True and d["reasons"] == []
    assert {(c["part"], c["op"]) for c in d["conferring_ops"]} == {("DEV-T", 10), ("ENC-T", 10)}
    kinds = {li["kind"] for li in d["lines"]}
    assert kinds == {"material", "conversion", "subassembly"}
    enc = next(li for li in d["lines"] if li["kind"] == "subassembly")
    assert enc["value"] == pytest.approx(25) and enc["local"] == pytest.approx(20)
    assert {n["op"] for n in d["not_performed"]} == {30, 40}
    con = sqlite3.connect(shop.db)
    stored = con.execute("SELECT positive, local_pct, rule_version, worksheet FROM "
                         "origin_decisions WHERE lot_id = ?", (lot,)).fetchall()
    con.close()
    assert len(stored) == 1 and stored[0][0] == 1 and stored[0][2] == "2026-1"
    assert json.loads(stored[0][3])["lines"] == d["lines"]
    assert "origin.decide" in shop.ok("audit", "log", "--entity", lot, user="youssef").out


def test_threshold_is_configuration(shop: Workspace) -> None:
    lot, _ = build_device(shop, board_cost=20)
    shop.ok("config", "set", "origin.threshold_pct", "70", user="amina")
    d = json.loads(shop.ok("origin", lot, "--json", user="youssef").out)
    assert d["threshold_pct"] == 70 and d["positive"] is False


def test_conferring_op_abroad_is_negative(shop: Workspace) -> None:
    con = sqlite3.connect(shop.db)
    con.execute("INSERT INTO sites (id, name, country, manufacturer, address, created_at) "
                "VALUES ('SITE-ES', 'Planta Sevilla', 'ES', 'OxiMaroc SA', 'Sevilla', "
                "'2026-01-01T00:00:00+00:00')")
    con.commit()
    con.close()
    shop.ok("station", "add", "IMM-ES", "--type", "imm", "--site", "SITE-ES",
            "--calibration-due", "2099-12-31", user="tarik")
    resin = receive(shop, "RESIN-T", 1, "MA", 50)
    board = receive(shop, "BOARD-T", 1, "MA", 20)
    screw = receive(shop, "SCREW-T", 2, "MA", 1)
    enc = shop.ok("lot", "create", "ENC-T", "--qty", 1, user="fatima").out.split()[0]
    shop.ok("step", "complete", enc, "--op", 10, "--station", "IMM-ES", "--consume", resin,
            user="fatima")
    lot = shop.ok("lot", "create", "DEV-T", "--qty", 1, user="fatima").out.split()[0]
    shop.ok("step", "complete", lot, "--op", 10, "--station", "ASM-1", "--consume", enc,
            "--consume", board, "--consume", screw, user="fatima")
    shop.ok("step", "complete", lot, "--op", 20, "--station", "FT-1", "--result", "pass",
            user="fatima")
    d = json.loads(shop.ok("origin", lot, "--json", user="youssef").out)
    assert d["local_pct"] > 40  # value alone would pass…
    assert d["positive"] is False  # …but the enclosure was moulded in Spain
    assert any("performed in ES" in r for r in d["reasons"])


def test_labeling_alone_never_confers_origin(shop: Workspace) -> None:
    kit = receive(shop, "KIT-T", 5, "MA", 10)
    lines = shop.ok("lot", "create", "KITD-T", "--qty", 1, user="fatima").out.splitlines()
    lot = lines[0].strip()
    shop.ok("step", "complete", lot, "--op", 10, "--station", "PACK-1", "--consume", kit,
            user="fatima")
    d = json.loads(shop.ok("origin", lot, "--json", user="youssef").out)
    assert d["local_pct"] == pytest.approx(100)  # all Moroccan value…
    assert d["positive"] is False  # …but nothing was transformed here
    assert any("no origin-conferring operation" in r for r in d["reasons"])
    assert shop.mes("label", "print", lot, user="fatima").code == 4
    shop.ok("label", "print", lot, "--no-origin-claim", user="fatima")


def test_hold_committed_while_labels_are_drawn_stops_them(
        shop: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    """A hold that quality commits while the PDF is being drawn and verified: the labels
    are refused at the recording step and no file reaches the hot folder."""
    import mes.render.label_verify as lv

    lot, _serials = build_device(shop, board_cost=20, n=1)
    real = lv.verify_pdf

    def verify_then_hold(pdf: object, dpi: int = 300, **kw: object) -> list:
        pages = real(pdf, dpi, **kw)  # type: ignore[arg-type]
        sql(shop, "UPDATE lots SET on_hold = 1, hold_reason = 'complaint C-12' WHERE id = ?",
            (lot,))  # quality, on another PC, commits
        return pages

    monkeypatch.setattr(lv, "verify_pdf", verify_then_hold)
    r = shop.mes("label", "print", lot, user="fatima")
    assert r.code == 4 and "on hold (complaint C-12)" in r.err, r
    assert labels_rows(shop) == []
    assert not [p for p in (shop.path / "labels").rglob("*") if p.is_file()]


def test_progress_bar_on_a_terminal_only(shop: Workspace) -> None:
    """`mes label print` draws a progress bar on a terminal (here a pseudo-terminal as its
    stderr), per stage; piped, as in scripts and the other tests, nothing but the result."""
    import os
    import pty
    import subprocess
    import sys
    import threading

    from tests.conftest import PASSWORDS

    lot, serials = build_device(shop, board_cost=20, n=3)
    master, slave = pty.openpty()
    chunks: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                data = os.read(master, 4096)
            except OSError:  # the terminal's other side closed
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    mes = Path(sys.executable).parent / "mes"
    proc = subprocess.run([str(mes), "--user", "fatima", "--password-stdin", "label", "print",
                           lot], input=PASSWORDS["fatima"] + "\n", stdout=subprocess.PIPE,
                          stderr=slave, text=True, cwd=shop.path, timeout=120, check=False)
    os.close(slave)
    reader.join(timeout=10)
    os.close(master)
    drawn = b"".join(chunks).decode("utf-8", "replace")
    assert proc.returncode == 0, drawn
    assert "OK 3 label(s)" in proc.stdout
    assert "labels: draw" in drawn and "labels: verify" in drawn, drawn
    piped = shop.ok("label", "print", lot, "--reprint", "--reason", "smudged", user="fatima")
    assert "labels:" not in piped.err and len(labels_rows(shop)) == 2 * len(serials)
