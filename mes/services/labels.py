"""Printing, recording and verifying labels (DESIGN §6, §7; 21 CFR 820.184(e)).

Content comes from the records only:
- product name, REF, GTIN, shelf life: the part catalog;
- manufacturer name and address: the lot's site;
- manufacture date: the UTC date the unit's first routing step started (for a lot label, the
  lot's first step), else the lot's creation date; use-by = manufacture + shelf_life_days;
- LOT = lot id, SN = serial; (8012) firmware version = the image flashed into the PCBA built
  into the unit (genealogy: device -> PCBA unit -> firmware image), printed when present;
- the origin claim only when the lot's origin decision (computed now) is positive.

A print job writes ONE file (labels/<lot>/<lot>-<UTC>-<job>.pdf|zpl) through a temp file in
the same directory, verifies the PDF by rasterising and decoding it, then records every label
(+ audit) and renames the file into place in one transaction. A file whose decoded UDI differs
from the element string about to be recorded is never handed over (exit 7).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mes import clock
from mes.domain.gs1 import Udi
from mes.domain.model import Part
from mes.errors import IntegrityFailure, InvalidInput, MesError, NotFound, Refused
from mes.render.label_content import LabelContent
from mes.services.auth import check_site, require
from mes.services.context import Context
from mes.services.files import write_atomic
from mes.services.lots import resolve
from mes.services.routings import get_part, routing_version
from mes.services.steps import passed_ops
from mes.store import firmware as firmware_store
from mes.store import genealogy
from mes.store import labels as labels_store
from mes.store import steps as steps_store
from mes.store.base import Store
from mes.store.sites import acting_site, item_site

if TYPE_CHECKING:
    from mes.render.label_templates import Template

DEFAULT_TEMPLATE = {"unit": "udi-100x50", "shipper": "shipper-100x150"}
FORMATS = ("pdf", "zpl")


@dataclass
class PrintRequest:
    targets: list[str]
    template: str | None = None
    out_dir: Path | None = None
    fmt: str = "pdf"
    origin_claim: bool = True
    verify: bool = True
    reprint: bool = False
    reason: str | None = None
    printer: str | None = None  # issue 19: a CUPS queue / ipp:// / tcp://host:9100
    first_article: bool = False  # issue 17: print the first label only, await its approval
    job: dict[str, Any] | None = None  # the approved first-article job this print finishes


def template_dirs(ctx: Context) -> list[Path]:
    return [ctx.workspace / "labels"]


# -- what to label -----------------------------------------------------------------------------

def _targets(store: Store, scans: list[str]) -> tuple[dict[str, Any], list[dict[str, Any]], str]:
    """(lot, units, kind): units to label ('unit') or the lot itself ('shipper')."""
    if not scans:
        raise InvalidInput("give serials or one lot id to label", field="targets")
    lot: dict[str, Any] | None = None
    units: list[dict[str, Any]] = []
    kind = ""
    for scan in scans:
        k, row = resolve(store, scan.strip().upper())
        if k == "lot":
            this_lot = row
            if row["serialized"]:
                units += [u for u in store.find("units", {"lot_id": row["id"]}, order="serial")
                          if u["status"] not in ("scrapped", "consumed")]
                this_kind = "unit"
            else:
                this_kind = "shipper"
        elif k == "unit":
            this_lot = store.get("lots", row["lot_id"]) or {}
            units.append(row)
            this_kind = "unit"
        else:
            raise Refused(f"{scan} is a {k}: label a lot or unit serials")
        if lot is not None and this_lot["id"] != lot["id"]:
            raise InvalidInput(f"{scan} is from lot {this_lot['id']}, not {lot['id']}: one print "
                               "job labels one lot", field="targets")
        if kind and this_kind != kind:
            raise InvalidInput("mixing a lot label and unit labels in one job", field="targets")
        lot, kind = this_lot, this_kind
    assert lot is not None
    units = list({u["serial"]: u for u in units}.values())  # each unit once, scan order
    if kind == "unit" and not units:
        raise Refused(f"lot {lot['id']} has no unit left to label")
    return lot, units, kind


def _check_ready(store: Store, lot: dict[str, Any], units: list[dict[str, Any]]) -> None:
    if lot["on_hold"]:
        raise Refused(f"lot {lot['id']} is on hold ({lot['hold_reason']}): labels are not "
                      "printed for held product; ask quality")
    if lot["status"] == "scrapped":
        raise Refused(f"lot {lot['id']} is scrapped")
    routing = routing_version(store, lot["part"], lot["routing_version"])
    label_op = next((o for o in routing.operations if o.label), None)
    if label_op is None:
        raise Refused(f"routing {lot['part']} v{lot['routing_version']} has no labeling "
                      "operation (label: true): labels cannot be printed for it")
    needed = [o.op for o in routing.required_before(label_op.op)]
    holders: list[dict[str, Any] | None] = list(units) or [None]
    for u in holders:
        if u is not None and u["on_hold"]:
            raise Refused(f"unit {u['serial']} is on hold ({u['hold_reason']}): ask quality")
        passed = passed_ops(store, lot, u)
        missing = [op for op in needed if op not in passed]
        if missing:
            who = u["serial"] if u else lot["id"]
            raise Refused(f"{who} has not passed op {', '.join(map(str, missing))} before the "
                          f"labeling op {label_op.op} ({label_op.name}): finish those first")


def _mfg_date(store: Store, lot: dict[str, Any], serial: str | None) -> date:
    first = None
    if serial:
        first = steps_store.first_started_of_unit(store, serial)
    if first is None:
        first = steps_store.first_started_of_lot(store, lot["id"])
    from mes.services.localtime import local_date

    # the day at the lot's site (issue 20: each site its zone), not UTC
    return local_date(store, first or lot["created_at"], lot.get("site_id"))


def firmware_version(store: Store, serial: str) -> str | None:
    """The version flashed into the unit's PCBA (or the unit itself), from the genealogy."""
    items = [serial, *genealogy.subunits(store, serial)]
    for item in items:
        row = genealogy.firmware_in(store, item)
        if row is None:
            row = firmware_store.last_verified_flash(store, item)
        if row is not None:
            return str(row["version"])
    return None


def _udi(part: Part, lot: dict[str, Any], serial: str | None, mfg: date,
         fw: str | None, count: int | None) -> Udi:
    if not part.gtin:
        raise InvalidInput(f"part {part.number} has no GTIN in the catalog: a UDI label needs "
                           "one", field="gtin")
    expiry = mfg + timedelta(days=part.shelf_life_days) if part.shelf_life_days else None
    udi = Udi(gtin=part.gtin, lot=lot["id"], serial=serial, mfg_date=mfg, expiry=expiry,
              fw_version=fw, count=count)
    udi.validate(strict=True)  # InvalidInput naming the field (gtin, lot, serial, …)
    from mes.render.gs1_check import check_element_string

    check_element_string(udi.hri())  # second opinion (biip) before anything is encoded
    return udi


def manufacture_country(store: Store, lot: dict[str, Any]) -> str | None:
    """The country of the site of the lot's origin-conferring operation (issue 17)."""
    from mes.store.label_templates import conferring_country

    routing = routing_version(store, lot["part"], lot["routing_version"])
    return conferring_country(store, lot["id"],
                              [o.op for o in routing.operations if o.origin_conferring])


def market_content(part: Part, template: Template) -> dict[str, Any]:
    """The label fields of the part's catalog `labeling:` (issue 17). A part for the EU
    market is refused without its notified body, authorised representative and importer,
    or with a template that has no place for them."""
    lab = part.labeling
    if lab is None:
        return {}
    if "EU" in lab.markets:
        missing = [k for k in ("notified_body", "authorised_rep", "importer")
                   if not getattr(lab, k)]
        if missing:
            raise Refused(f"part {part.number} is for the EU market but its catalog has no "
                          f"labeling.eu.{missing[0]}: add it (`mes routing load` the catalog) "
                          "before printing")
        from mes.render.label_templates import EU_FIELDS

        absent = [f for f in EU_FIELDS if template.box(f) is None]
        if absent:
            raise Refused(f"part {part.number} is for the EU market but template "
                          f"{template.name} has no '{absent[0]}' box: use a template with the "
                          "CE mark, EU representative and importer (e.g. udi-100x80)")
    eu = "EU" in lab.markets
    return {"texts": {lang: (name, text) for lang, name, text in lab.texts},
            "consult_ifu": lab.consult_ifu, "temp_min_c": lab.temp_min_c,
            "temp_max_c": lab.temp_max_c, "keep_dry": lab.keep_dry,
            "notified_body": lab.notified_body if eu else None,
            "authorised_rep": lab.authorised_rep if eu else None,
            "importer": lab.importer if eu else None}


def content_sha256(c: LabelContent) -> str:
    """Hash of everything the page says: UDI data and every printed text."""
    doc = {k: (v.isoformat() if isinstance(v, date) else v) for k, v in asdict(c).items()}
    text = json.dumps(doc, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _rel(ctx: Context, path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ctx.workspace.resolve()))
    except ValueError:
        return str(path.resolve())


# -- print ---------------------------------------------------------------------------------------

# on_progress(stage, done, total): stages "draw", "verify" and "record", per label.
Progress = Callable[[str, int, int | None], None]


def print_labels(ctx: Context, req: PrintRequest, on_progress: Progress | None = None
                 ) -> dict[str, Any]:
    actor = require(ctx, "label.print")
    for target in req.targets if actor.sites is not None else ():
        # a user limited to sites prints for their sites' lots only (issue 20)
        check_site(ctx, actor, "label.print", item_site(ctx.store, target))
    if req.fmt not in FORMATS:
        raise InvalidInput(f"--format must be pdf or zpl, not {req.fmt!r}", field="format")
    if req.reprint and not (req.reason or "").strip():
        raise InvalidInput("--reprint needs --reason (why the label is printed again)",
                           field="reason")
    if req.reason and not req.reprint:
        raise InvalidInput("--reason is for --reprint only", field="reason")
    if req.printer:  # issue 19: a printer that cannot print refuses before any record
        from mes.services.printing import preflight

        preflight(ctx, req.printer, req.fmt)
    store = ctx.store
    lot, units, kind = _targets(store, req.targets)
    _check_ready(store, lot, units)
    part = get_part(store, lot["part"])
    items = [u["serial"] for u in units] if kind == "unit" else [lot["id"]]

    # already labelled? (reprints are counted per item)
    previous: dict[str, int] = {}
    from mes.services import first_article as fa

    fa.check_not_awaiting(store, lot["id"], items, req.job)
    for item in items:
        # a label voided (a rejected first article, an unpacked box) no longer counts
        n = labels_store.last_reprint(store, item)
        if n is not None:
            previous[item] = n
    if not req.reprint and previous:
        first = sorted(previous)[0]
        raise Refused(f"{first} is already labelled: use --reprint --reason \"…\""
                      + (f" ({len(previous)} items already labelled)" if len(previous) > 1
                         else ""))
    if req.reprint:
        never = [i for i in items if i not in previous]
        if never:
            raise Refused(f"{never[0]} was never labelled: print it without --reprint")

    from mes.services.label_templates import for_print

    # The approved version of the controlled document, its text re-hashed (issue 17)
    template, template_sha256 = for_print(store, req.template or DEFAULT_TEMPLATE[kind])
    if req.job is not None and template_sha256 != req.job["template_sha256"]:
        raise Refused(f"label template {template.name} changed since first-article job "
                      f"J{req.job['id']} was printed: reject it and start a new job")
    if req.fmt == "zpl" and any(template.box(f) for f in ("symbols", "ce", "importer")):
        raise InvalidInput(f"template {template.name} has ISO 15223-1 / CE symbols the ZPL "
                           "renderer does not draw: print it as PDF", field="format")
    job_items = list(items)
    if req.first_article:
        if req.fmt != "pdf":
            raise InvalidInput("--first-article needs a PDF (its preview is rendered from it)",
                               field="format")
        items = items[:1]
    if template.kind != kind:
        raise InvalidInput(f"template {template.name} is a {template.kind} label; this job needs "
                           f"a {kind} label (e.g. {DEFAULT_TEMPLATE[kind]})", field="template")

    from mes.services.workspace import config, site

    cfg = config(ctx)
    the_site = site(ctx, lot["site_id"])
    origin: dict[str, Any] | None = None
    if req.origin_claim:
        from mes.services.origin import decision_for_label

        origin = decision_for_label(store, lot["id"], cfg)
    claim = origin is not None and bool(origin["positive"])
    texts = {k: str(cfg.get(f"origin.claim.{k}", "")) for k in ("en", "fr", "ar")}
    market = market_content(part, template)
    made_in = manufacture_country(store, lot) or str(
        the_site.get("country") or cfg.get("origin.country", "MA"))

    first_job: dict[str, Any] | None = None
    preview: bytes | None = None
    contents: list[LabelContent] = []
    for item in items:
        serial = item if kind == "unit" else None
        mfg = _mfg_date(store, lot, serial)
        fw = firmware_version(store, serial) if serial else None
        count = None if serial else int(lot["qty"] - lot["qty_scrapped"])
        udi = _udi(part, lot, serial, mfg, fw, count)
        contents.append(LabelContent(
            product_name=part.name, ref=part.ref or part.number,
            manufacturer_name=the_site.get("manufacturer") or the_site["name"],
            manufacturer_address=the_site.get("address") or "",
            mfg_date=mfg, lot=lot["id"], udi_hri=udi.hri(), udi_data=udi.data(),
            expiry=udi.expiry, serial=serial, quantity=count,
            origin_claim=claim, origin_texts=texts,
            # 5.1.11: where it was made, printed claim or not; the claim texts need the
            # positive decision
            country_code=made_in,
            template_version=template.version, is_reprint=req.reprint, **market))

    if req.fmt == "pdf":
        from mes.render.label_pdf import render_label_pdf

        total = len(contents)
        data = render_label_pdf(contents, template, on_page=(
            lambda n: on_progress("draw", n, total)) if on_progress else None)
        preview = fa.preview(data, template.dpi) if req.first_article else None
    else:
        from mes.render.label_zpl import render_label_zpl

        data = render_label_zpl(contents, template)

    out_root = req.out_dir or ctx.workspace / "labels"
    folder = out_root / lot["id"]
    folder.mkdir(parents=True, exist_ok=True)
    with store.transaction() as tx:
        job = tx.next_counter("label_job")
    stamp = clock.now().strftime("%Y%m%dT%H%M%SZ")
    final = folder / f"{lot['id']}-{stamp}-J{job:06d}.{req.fmt}"
    preview_file = final.with_suffix(".first-article.png")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=folder)
    tmp = Path(tmp_name)
    renamed = False
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        verified: bool | None = None
        if req.fmt == "pdf" and req.verify:
            _verify_written(tmp, contents, template, on_page=(
                lambda n, total: on_progress("verify", n, total)) if on_progress else None)
            verified = True
        printed_at = clock.now_iso()
        rel = _rel(ctx, final)
        file_sha256 = hashlib.sha256(data).hexdigest()
        records = []
        with store.transaction() as tx:
            # Ready and not held, again, as things are now: a hold committed while the
            # labels were drawn and verified stops them before they reach the hot folder.
            _check_ready(tx, tx.get("lots", lot["id"]) or lot,
                         [tx.get("units", u["serial"]) or u for u in units])
            for done, (c, item) in enumerate(zip(contents, items, strict=True), 1):
                if on_progress is not None and (done % 50 == 0 or done == len(items)):
                    on_progress("record", done, len(items))
                n = previous[item] + 1 if req.reprint else 0
                digest = content_sha256(c)
                label_id = tx.insert("labels", {
                    "item_id": item, "lot_id": lot["id"], "template": template.name,
                    "template_version": template.version, "format": req.fmt,
                    "template_sha256": template_sha256,
                    "element_string": c.udi_hri, "content_sha256": digest, "file": rel,
                    "username": actor.username, "printed_at": printed_at, "reprint": n,
                    "reason": req.reason if req.reprint else None,
                    "site_id": acting_site(tx, ctx.station, lot["id"]),
                    # the decision this claim relies on (issue 13); none: no claim printed
                    "origin_decision": origin["id"] if c.origin_claim and origin else None},
                    returning="id")
                tx.append_audit(
                    username=actor.username, station=ctx.station,
                    action="label.reprint" if req.reprint else "label.print",
                    entity_type="unit" if kind == "unit" else "lot", entity_id=item,
                    new={"label": label_id, "template": template.name,
                         "template_version": template.version, "format": req.fmt,
                         "template_sha256": template_sha256,
                         "element_string": c.udi_hri, "content_sha256": digest, "file": rel,
                         "reprint": n, "origin_claim": c.origin_claim,
                         "origin_decision": origin["id"] if origin else None,
                         "verified": verified,
                         "files": [{"path": rel, "sha256": file_sha256}]},
                    reason=req.reason if req.reprint else None)
                records.append({"id": label_id, "item": item, "element_string": c.udi_hri,
                                "content_sha256": digest, "reprint": n})
            if req.first_article and preview is not None:
                first_job = fa.record_job(tx, ctx, actor.username, lot["id"], template,
                                          template_sha256, job_items, req, records[0]["id"],
                                          _rel(ctx, preview_file), preview)
                write_atomic(preview_file, preview)
            os.replace(tmp, final)  # last step inside the transaction: no record, no file
            renamed = True
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        if req.first_article and not renamed:
            with contextlib.suppress(FileNotFoundError):
                preview_file.unlink()
        if renamed:
            with contextlib.suppress(FileNotFoundError):
                final.unlink()
        raise
    result = {"lot": lot["id"], "file": rel, "path": str(final), "format": req.fmt,
            "template": template.name, "template_version": template.version,
            "template_sha256": template_sha256, "labels": records, "reprint": req.reprint,
            "reason": req.reason,
            "verified": verified, "origin_claim": claim,
            "origin": None if origin is None else {
                "decision": origin["id"], "positive": origin["positive"],
                "local_pct": origin["local_pct"], "threshold_pct": origin["threshold_pct"]},
            "first_article": first_job if req.first_article else None,
            "note": None if req.fmt == "pdf" else
            "ZPL: no raster verification possible; verify the printed labels with a scanner"}
    if req.printer:  # issue 19: to a real printer, its final state recorded
        from mes.services.printing import send

        sent = send(ctx, actor.username, rel, data, req.fmt, req.printer, len(records))
        result["print_job"] = sent
        if sent["state"] != "completed":
            raise Refused(f"print job {sent['job_id'] or '-'} on {sent['printer']} "
                          f"{sent['state']} ({sent['reasons'] or 'no reason given'}): the labels "
                          "are recorded as not printed; reprint with --reprint --reason")
    return result


def _verify_written(path: Path, contents: list[LabelContent],
                    template: Template | None = None,
                    on_page: Callable[[int, int], None] | None = None) -> None:
    from mes.render.label_verify import verify_pdf

    box = next((b for b in template.boxes if b.field == "datamatrix"), None) \
        if template is not None else None
    if template is not None and box is not None:  # the symbol only, at the printer's dpi
        pages = verify_pdf(path, dpi=template.dpi,
                           region_mm=(box.x - 1, box.y - 1, box.w + 2, box.h + 2),
                           on_page=on_page)
    else:
        pages = verify_pdf(path, on_page=on_page)
    if len(pages) != len(contents):
        raise IntegrityFailure(f"the label file has {len(pages)} pages for {len(contents)} "
                               "labels: not handed over")
    for page, c in zip(pages, contents, strict=True):
        if not page.ok or page.udi_hri != c.udi_hri:
            got = page.udi_hri or ("no GS1 DataMatrix found" if not page.found else
                                   f"{page.symbology_identifier} {page.data!r}")
            raise IntegrityFailure(f"label page {page.page}: the symbol reads {got!r}, expected "
                                   f"{c.udi_hri}: file not handed over to the printer")


# -- verify --------------------------------------------------------------------------------------

def verify_file(ctx: Context, path: Path) -> dict[str, Any]:
    """Decode every page; compare with the recorded element strings when the file is known."""
    if not path.is_file():
        raise NotFound(f"{path}: no such file")
    if path.suffix.lower() == ".zpl":
        raise InvalidInput("a ZPL file cannot be verified by rasterising: scan the printed "
                           "labels", field="file")
    from mes.render.label_verify import verify_pdf

    pages = verify_pdf(path)
    rows: list[dict[str, Any]] = []
    try:
        store = ctx.store
        rel = _rel(ctx, path)
        rows = labels_store.of_file(store, rel)
    except MesError:  # no workspace database: decode only
        rows = []
    known = bool(rows)
    report = []
    all_ok = True
    # The file itself against the sha256 its print event recorded (issue 13 item 4).
    file_problem = None
    if known:
        from mes.services.files import recorded, sha256_of

        hit = recorded(store, rows[0]["item_id"], rel)
        if hit is None:
            file_problem = "no print event records this file's sha256"
        elif sha256_of(path) != hit[0]:
            file_problem = f"the file differs from what event {hit[1]} recorded (sha256)"
        all_ok = file_problem is None
    for i, p in enumerate(pages):
        expected = rows[i]["element_string"] if known and i < len(rows) else None
        ok = p.ok and (not known or p.udi_hri == expected)
        all_ok = all_ok and ok
        report.append({"page": p.page, "found": p.found,
                       "symbology_identifier": p.symbology_identifier,
                       "gs1": p.content_type_gs1, "udi_hri": p.udi_hri,
                       "expected": expected, "item": rows[i]["item_id"]
                       if known and i < len(rows) else None, "ok": ok})
    if known and len(rows) != len(pages):
        all_ok = False
    return {"file": str(path), "known": known, "recorded_labels": len(rows),
            "file_problem": file_problem, "pages": report, "ok": all_ok and bool(pages)}


# -- templates and preview -------------------------------------------------------------------

def templates(ctx: Context) -> list[dict[str, Any]]:
    from mes.render.label_templates import list_templates

    return [{"name": t.name, "version": t.version, "kind": t.kind,
             "stock": f"{t.width_mm:g}x{t.height_mm:g} mm", "dpi": t.dpi,
             "module_mm": round(t.module_mm, 3), "path": t.path}
            for t in list_templates(template_dirs(ctx))]


SPECIMEN_GTIN = "09506000134352"  # GS1's own example GTIN: never a real product


def specimen(t: Template) -> LabelContent:
    """Obviously sample data, every text saying SPECIMEN, cut to the template's limits."""
    lim = t.limits

    def fit(text: str, key: str) -> str:
        return text[: lim.get(key, len(text))].rstrip(" -")

    mfg = date(2026, 1, 15)
    unit = t.kind == "unit"
    serial = fit("SPECIMEN-0001", "serial") if unit else None
    count = None if unit else 10
    fw = fit("0.0.0", "fw_version") if unit and lim.get("fw_version") else None
    udi = Udi(SPECIMEN_GTIN, lot=fit("SPECIMEN", "lot"), serial=serial, mfg_date=mfg,
              expiry=date(2031, 1, 15), fw_version=fw, count=count).validate()
    return LabelContent(
        product_name=fit("SPECIMEN - not a device", "product_name"),
        ref=fit("SPECIMEN", "ref"),
        manufacturer_name=fit("SPECIMEN manufacturer", "manufacturer_name"),
        manufacturer_address=fit("SPECIMEN address", "manufacturer_address"),
        mfg_date=mfg, lot=udi.lot or "", udi_hri=udi.hri(), udi_data=udi.data(),
        expiry=udi.expiry, serial=serial, quantity=count, origin_claim=True,
        template_version=t.version, is_reprint=False)


def preview(ctx: Context, name: str, out: Path) -> dict[str, Any]:
    from mes.render.label_pdf import render_label_pdf
    from mes.render.label_templates import load_template
    from mes.render.label_verify import preview_png

    t = load_template(name, template_dirs(ctx))
    png = preview_png(render_label_pdf([specimen(t)], t))
    out.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(out, png)
    return {"template": t.name, "version": t.version, "out": str(out), "bytes": len(png)}


def labels_for(store: Store, lot_id: str) -> list[dict[str, Any]]:
    return store.find("labels", {"lot_id": lot_id}, order="id")
