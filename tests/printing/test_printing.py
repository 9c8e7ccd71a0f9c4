"""mes label print --printer: a real CUPS server (IPP) and a Zebra stand-in on raw TCP;
the job's final state recorded; a label that did not print blocks the labelling op;
mes label list reconciles a lot's labels."""

from __future__ import annotations

import json
import subprocess
import threading
import time

import pytest

from tests.conftest import Workspace, assert_unchanged, sql
from tests.labels.test_label_print import build_device, shop  # noqa: F401 (fixture)
from tests.printing.servers import Cups, Zebra, cups, zebra  # noqa: F401 (fixtures)

pytest.importorskip("zxingcpp")


def _use(ws: Workspace, cups: Cups) -> None:  # noqa: F811
    ws.ok("config", "set", "print.cups_server", cups.server, user="amina")
    ws.ok("config", "set", "print.timeout_s", "10", user="amina")


def _label_op(ws: Workspace, scan: str):
    return ws.mes("step", "complete", scan, "--op", 30, "--station", "LBL-1", "--consume",
                  _label_stock(ws), user="fatima")


def _label_stock(ws: Workspace) -> str:
    out = ws.ok("material", "receive", "LBL-T", "--qty", 10, "--origin", "MA", "--unit-cost",
                0.2, user="fatima").out
    return out.split("OK ")[1].split()[0]


def test_cups_job_completed_is_recorded_and_labelling_passes(shop: Workspace, cups: Cups  # noqa: F811
                                                             ) -> None:
    _use(shop, cups)
    lot, serials = build_device(shop, board_cost=20)
    n = len(cups.sink.received)
    d = json.loads(shop.ok("label", "print", lot, "--printer", "LABELS", "--json",
                           user="fatima").out)
    job = d["print_job"]
    assert job["state"] == "completed" and job["job_id"].isdigit()
    assert job["printer"] == cups.uri("LABELS")
    assert len(cups.sink.received) == n + 1 and cups.sink.received[-1].startswith(b"%PDF")
    rows = sql(shop, "SELECT state, job_id, labels FROM print_jobs")
    assert rows == [("completed", job["job_id"], len(serials))]
    rec = json.loads(shop.ok("label", "list", lot, "--json", user="fatima").out)
    assert rec["summary"] == {"issued": 2, "printed": 2, "not_printed": 0, "verified": 2,
                              "reprinted": 0, "voided": 0}
    r = _label_op(shop, lot)
    assert r.code == 0, r
    # what these commands wrote is covered by the audit trail (issue 13)
    shop.ok("audit", "verify", "--reconcile")


def test_aborted_job_leaves_labels_not_printed_and_blocks_labelling(shop: Workspace,  # noqa: F811
                                                                    cups: Cups) -> None:  # noqa: F811
    _use(shop, cups)
    lot, serials = build_device(shop, board_cost=20, n=1)
    r = shop.mes("label", "print", lot, "--printer", "BROKEN", user="fatima")
    assert r.code == 4 and "aborted" in r.err and "not printed" in r.err, r
    rec = json.loads(shop.ok("label", "list", lot, "--json", user="fatima").out)
    assert rec["summary"]["issued"] == 1 and rec["summary"]["not_printed"] == 1
    assert rec["labels"][0]["job_state"] == "aborted"
    stock = _label_stock(shop)
    before = shop.dump()
    r = shop.mes("step", "complete", lot, "--op", 30, "--station", "LBL-1", "--consume", stock,
                 user="fatima")
    assert r.code == 4 and "was not printed" in r.err, r
    assert_unchanged(shop, before)
    shop.ok("label", "print", serials[0], "--reprint", "--reason", "printer jammed",
            "--printer", "LABELS", user="fatima")
    rec = json.loads(shop.ok("label", "list", lot, "--json", user="fatima").out)
    assert rec["summary"]["reprinted"] == 1 and rec["reprint_reasons"] == ["printer jammed"]
    r = shop.mes("step", "complete", lot, "--op", 30, "--station", "LBL-1", "--consume", stock,
                 user="fatima")
    assert r.code == 0, r
    # what these commands wrote is covered by the audit trail (issue 13)
    shop.ok("audit", "verify", "--reconcile")


def test_cancelled_job_is_not_printed(shop: Workspace, cups: Cups) -> None:  # noqa: F811
    _use(shop, cups)
    lot, _ = build_device(shop, board_cost=20, n=1)
    stop = time.monotonic() + 8

    def canceller() -> None:  # someone at the print server cancels the waiting job
        while time.monotonic() < stop:
            jobs = subprocess.run(["lpstat", "-h", cups.server, "-o", "HELD"],
                                  capture_output=True, text=True).stdout
            if jobs.strip():
                subprocess.run(["cancel", "-h", cups.server, "-a", "HELD"], capture_output=True)
                return
            time.sleep(0.1)

    t = threading.Thread(target=canceller)
    t.start()
    r = shop.mes("label", "print", lot, "--printer", cups.uri("HELD"), user="fatima")
    t.join()
    assert r.code == 4 and "canceled" in r.err, r
    assert sql(shop, "SELECT state FROM print_jobs") == [("canceled",)]


def test_zebra_raw_tcp_status_checked_first(shop: Workspace, zebra: Zebra) -> None:  # noqa: F811
    lot, _ = build_device(shop, board_cost=20, n=1)
    zebra.paper_out = True
    before = shop.dump()
    r = shop.mes("label", "print", lot, "--format", "zpl", "--printer", zebra.uri,
                 user="fatima")
    assert r.code == 4 and "paper out" in r.err, r
    assert_unchanged(shop, before)
    assert zebra.received == []
    r = shop.mes("label", "print", lot, "--printer", zebra.uri, user="fatima")
    assert r.code == 5 and "ZPL" in r.err, r
    zebra.paper_out = False
    d = json.loads(shop.ok("label", "print", lot, "--format", "zpl", "--printer", zebra.uri,
                           "--json", user="fatima").out)
    assert d["print_job"]["state"] == "completed"
    assert len(zebra.received) == 1 and zebra.received[0].startswith(b"^XA")
    # what these commands wrote is covered by the audit trail (issue 13)
    shop.ok("audit", "verify", "--reconcile")
