"""DHR files are records (issue 13 items 2 and 4): a draft's PDF and JSON have their sha256
in a `dhr.draft` event, so `audit verify --files` checks them; the PDF prints the seal it
relies on."""

from __future__ import annotations

import json
import re

import pytest

from tests.quality.helpers import sql

pypdf = pytest.importorskip("pypdf")


def _pdf_text(path) -> str:
    reader = pypdf.PdfReader(str(path))
    return re.sub(r"\s+", "", "".join(p.extract_text() or "" for p in reader.pages))


def test_draft_files_are_recorded_and_checked(built) -> None:
    ws, sc = built
    r = ws.ok("dhr", sc.dev_lot, user="youssef")  # completed, not released: a draft
    pdf, js = (ws.path / p for p in (r.out.split()[0], r.out.split()[1]))
    assert pdf.name == "dhr.pdf" and js.name == "dhr.json"
    (new,) = sql(ws, "SELECT new FROM audit WHERE action = 'dhr.draft' ORDER BY seq DESC "
                 "LIMIT 1")[0]
    files = {f["path"]: f["sha256"] for f in json.loads(new)["files"]}
    import hashlib

    rel = f"lots/{sc.dev_lot}/dhr.json"
    assert files[rel] == hashlib.sha256(js.read_bytes()).hexdigest()
    assert f"lots/{sc.dev_lot}/dhr.pdf" in files
    assert ws.ok("audit", "verify", "--files").code == 0
    js.write_text(js.read_text().replace(sc.dev_lot, "L0000-0000"))
    r = ws.mes("audit", "verify", "--files")
    assert r.code == 7 and rel in r.err and "differs" in r.err, r
    pdf.unlink()
    r = ws.mes("audit", "verify", "--files")
    assert r.code == 7 and f"lots/{sc.dev_lot}/dhr.pdf" in r.err and "missing" in r.err, r
    # A new run files a new draft, recorded again.
    ws.ok("dhr", sc.dev_lot, user="youssef")
    assert ws.ok("audit", "verify", "--files").code == 0


def test_pdf_prints_the_seal_it_relies_on(built) -> None:
    ws, sc = built
    r = ws.ok("dhr", sc.dev_lot, user="youssef")
    seal = json.loads((ws.path / r.out.split()[1]).read_text())["seal"]
    text = _pdf_text(ws.path / r.out.split()[0])
    assert f"Chainheadevent#{seal['seq']}" in text, text[-600:]
    assert seal["hash"] in text and seal["key"] in text and "Ed25519" in text
    assert seal["at"][:10] in text
