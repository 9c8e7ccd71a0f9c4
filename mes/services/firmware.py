"""Firmware registry and flashing (IEC 62304 §5.8, MDR Annex VI C 6.5; DESIGN §9).

An image is registered by a technician: the file is copied into the workspace
(``firmware/<part>-<version>-<sha256[:12]>.bin``, read-only) so that a later change to the
original cannot alter what quality approved; its sha256 and size are recorded. Quality
approves it with a signature. Flashing re-hashes the stored copy every time.

A flash is one attempt on one unit: a ``flashes`` row (every attempt, pass or fail), the
routing's flash step (through ``services.steps``: every normal interlock applies), and, when
the step passes, the genealogy edge unit ← image and the unit's MCU unique id. Failed
attempts stay in ``flashes`` and in the failed step; the unit goes on hold per the step rules.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mes import clock
from mes.domain import interlocks
from mes.domain.ids import normalise_scan
from mes.domain.model import Operation, Routing
from mes.errors import IntegrityFailure, InvalidInput, NotFound, Refused
from mes.services.auth import (
    check_segregation,
    current_actor,
    prepare_signature,
    require,
    require_qualified,
    sign,
    signatures_for,
)
from mes.services.context import Context
from mes.services.files import read_controlled
from mes.services.files import record as record_file
from mes.services.lots import resolve
from mes.services.routings import get_part, routing_version
from mes.services.steps import StepRequest, complete_step, passed_ops
from mes.store import firmware as firmware_store
from mes.store import genealogy
from mes.store import lots as lots_store
from mes.store import steps as steps_store
from mes.store.base import Store

VERSION_RE = re.compile(r"[0-9A-Za-z][0-9A-Za-z.+_-]{0,31}")
MCU_UID_RE = re.compile(r"(?:0[xX])?([0-9A-Fa-f]{1,32})")
# The programmer output contract (README, `mes flash --help`): a line `MCU_UID=<hex>` (or
# `MCU_UID: <hex>`), 1-32 hex digits, `0x` optional, any case; the last such line counts.
OUTPUT_UID_RE = re.compile(r"^[ \t]*MCU_UID[ \t]*[=:][ \t]*(\S*)[ \t\r]*$", re.MULTILINE)
UID_CONTRACT = "a line MCU_UID=<1-32 hex digits> (0x optional, any case)"
MAX_IMAGE_BYTES = 64 * 1024 * 1024
DEFAULT_TIMEOUT_S = 300.0
MAX_TIMEOUT_S = 3600.0
# What the operator sees of the programmer's output: no terminal control sequences.
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-_]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
UNKNOWN_UID = "unknown"


def image_id(part: str, version: str) -> str:
    return f"{part}@{version}"


def _check_version(version: str) -> str:
    if not VERSION_RE.fullmatch(version):
        raise InvalidInput(f"--version {version!r}: use 1-32 characters of letters, digits, "
                           "'.', '+', '_' or '-', starting with a letter or digit",
                           field="version")
    return version


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def stored_file(ctx: Context, row: dict[str, Any]) -> Path:
    path = Path(row["stored_path"])
    return path if path.is_absolute() else ctx.workspace / path


def verify_image(ctx: Context, row: dict[str, Any]) -> None:
    """The stored copy must still hash to what was registered (and approved)."""
    path = stored_file(ctx, row)
    try:
        digest = _sha256_file(path)
    except OSError:
        raise IntegrityFailure(f"firmware {row['id']}: stored file {path} is missing: "
                               "do not flash; tell quality") from None
    if digest != row["sha256"]:
        raise IntegrityFailure(f"firmware {row['id']}: stored file {path} no longer matches "
                               f"its registered sha256 ({row['sha256'][:12]}…, now "
                               f"{digest[:12]}…): do not flash; tell quality")


# -- registry --------------------------------------------------------------------------------

def register(ctx: Context, source: Path, part: str, version: str) -> dict[str, Any]:
    actor = require(ctx, "firmware.register")
    store = ctx.store
    part, version = normalise_scan(part), _check_version(version.strip())
    the_part = get_part(store, part)
    if the_part.kind != "firmware":
        raise Refused(f"{part} is a {the_part.kind}, not a firmware part: register the image "
                      "under its firmware part number (kind: firmware in the catalog)")
    fid = image_id(part, version)
    existing = store.get("items", fid)
    if existing:
        raise Refused(f"{fid} is already registered: a new build needs a new version")
    data = read_controlled(source, path_of="the build",
                           empty="the image is empty: check the build", limit=MAX_IMAGE_BYTES)
    digest = hashlib.sha256(data).hexdigest()
    relative = Path("firmware") / f"{part}-{version}-{digest[:12]}.bin"
    target = ctx.workspace / relative
    created = _store_copy(target, data)
    row = {"id": fid, "part": part, "version": version, "sha256": digest, "size": len(data),
           "stored_path": str(relative), "source_name": source.name, "status": "registered",
           "registered_by": actor.username, "registered_at": clock.now_iso()}
    try:
        with store.transaction() as tx:
            tx.claim_id(fid, "firmware")
            tx.insert("firmware", row)
            tx.append_audit(username=actor.username, station=ctx.station,
                            action="firmware.register", entity_type="firmware", entity_id=fid,
                            new={**row, "files": [record_file(ctx.workspace, target, data)]})
    except BaseException:
        if created:
            target.unlink(missing_ok=True)
        raise
    return row


def _store_copy(target: Path, data: bytes) -> bool:
    """Write the read-only copy; True if this call created it (removed again on failure)."""
    if target.exists():
        if hashlib.sha256(target.read_bytes()).digest() == hashlib.sha256(data).digest():
            return False
        raise IntegrityFailure(f"{target} exists with other content: tell quality")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    tmp.write_bytes(data)
    os.chmod(tmp, 0o444)
    os.replace(tmp, target)
    return True


def get_image(store: Store, fid: str) -> dict[str, Any]:
    row = store.get("firmware", fid)
    if row is None:
        raise NotFound(f"no firmware image {fid}: see `mes firmware list` (ids are PART@VERSION)")
    return row


def parse_image_ref(ref: str) -> str:
    part, sep, version = ref.strip().partition("@")
    if not sep or not part or not version:
        raise InvalidInput(f"--image {ref!r}: write PART@VERSION, e.g. FW-OXI@1.4.2",
                           field="image")
    return image_id(normalise_scan(part), version)


def approve(ctx: Context, part: str, version: str) -> dict[str, Any]:
    require(ctx, "firmware.approve")  # the role before the record: a refusal learns nothing
    store = ctx.store
    fid = image_id(normalise_scan(part), version.strip())
    row = get_image(store, fid)
    if row["status"] != "registered":
        raise Refused(f"firmware {fid} is {row['status']}: only a registered image can be "
                      "approved")
    verify_image(ctx, row)
    signer = prepare_signature(ctx, "firmware.approve", "approved")
    check_segregation(ctx, signer.actor, "firmware.approve", f"firmware {fid}",
                      row["registered_by"])
    record = {k: row[k] for k in ("id", "part", "version", "sha256", "size")}
    with store.transaction() as tx:
        if tx.update("firmware", fid, {"status": "approved", "approved_at": clock.now_iso()},
                     expect={"status": "registered"}) != 1:
            raise Refused(f"firmware {fid} changed meanwhile: try again")
        tx.append_audit(username=signer.actor.username, station=ctx.station,
                        action="firmware.approve", entity_type="firmware", entity_id=fid,
                        old={"status": "registered"}, new={"status": "approved"})
        signature = sign(tx, signer, "firmware", fid, record)
    return {**row, "status": "approved", "signature": signature}


def list_images(ctx: Context) -> list[dict[str, Any]]:
    out = []
    for r in ctx.store.find("firmware", order="part, registered_at"):
        try:
            verify_image(ctx, r)
            file_ok = True
        except IntegrityFailure:
            file_ok = False
        out.append({**r, "file_ok": file_ok,
                    "signatures": signatures_for(ctx.store, "firmware", r["id"])})
    return out


# -- flashing --------------------------------------------------------------------------------

@dataclass
class FlashRequest:
    serial: str
    station: str
    image: str  # PART@VERSION
    op: int | None = None
    mcu_uid: str | None = None
    verify: str | None = None  # typed form: pass | fail
    command: Sequence[str] = ()  # wrapping form: the programmer's argv with placeholders
    timeout_s: float = DEFAULT_TIMEOUT_S


@dataclass
class _Run:
    verify: str
    exit_status: int | None
    duration_ms: int | None
    output_sha256: str | None
    mcu_uid: str | None
    problems: list[str] = field(default_factory=list)
    output_tail: str = ""


def check_timeout(seconds: float) -> float:
    """A programmer timeout is a positive, finite number of seconds, at most an hour."""
    if not 0 < seconds <= MAX_TIMEOUT_S:  # also false for nan
        raise InvalidInput(f"--timeout {seconds:g}: give the seconds the programmer may take, "
                           f"more than 0 and at most {MAX_TIMEOUT_S:g}", field="timeout")
    return seconds


def printable(text: str) -> str:
    """Programmer output as shown to a person: escape sequences dropped, other control
    bytes as `?` (the raw bytes stay in the log named by their sha256)."""
    return _CONTROL.sub("?", _ANSI.sub("", text.replace("\r\n", "\n")))


def _output_uid(text: str) -> tuple[str | None, str | None]:
    """(MCU UID, problem) from the programmer's output, by the contract above."""
    found = OUTPUT_UID_RE.findall(text)
    if not found:  # a problem only where the op records the id (see _record)
        return None, None
    m = MCU_UID_RE.fullmatch(found[-1])
    if not m:
        return None, (f"the programmer reported MCU_UID={printable(found[-1])[:40]!r}, "
                      f"expected {UID_CONTRACT}")
    return "0x" + m.group(1).upper(), None


def _normalise_uid(raw: str) -> str:
    m = MCU_UID_RE.fullmatch(raw.strip())
    if not m:
        raise InvalidInput(f"--mcu-uid {raw!r}: give the MCU unique id in hex, e.g. "
                           "0x3A1F00C2…", field="mcu_uid")
    return "0x" + m.group(1).upper()


def _flash_op(routing: Routing, op_no: int | None, lot_part: str) -> Operation:
    if op_no is not None:
        op = routing.operation(op_no)
        if op is None:
            raise NotFound(f"routing {lot_part} has no op {op_no}")
        if op.flash is None:
            raise Refused(f"op {op_no} ({op.name}) does not flash firmware: "
                          "use `mes step complete`")
        return op
    ops = [o for o in routing.operations if o.flash is not None]
    if not ops:
        raise Refused(f"routing {lot_part} v{routing.version} has no firmware flashing op")
    if len(ops) > 1:
        raise InvalidInput(f"routing {lot_part} flashes at ops "
                           f"{', '.join(str(o.op) for o in ops)}: give --op", field="op")
    return ops[0]


def flash(ctx: Context, req: FlashRequest) -> dict[str, Any]:
    """Check everything, run (or take) the programming result, record it in one transaction."""
    actor = require(ctx, "step.record")
    store = ctx.store
    serial = normalise_scan(req.serial)
    kind, unit = resolve(store, serial)
    if kind != "unit":
        raise Refused(f"{serial} is a {kind}: flash one unit at a time, scan its serial")
    lot = store.get("lots", unit["lot_id"]) or {}
    routing = routing_version(store, lot["part"], lot["routing_version"])
    op = _flash_op(routing, req.op, lot["part"])
    assert op.flash is not None
    fid = parse_image_ref(req.image)
    image = get_image(store, fid)
    # Approval first: an unapproved image must never reach a board, whatever the routing says.
    if image["status"] != "approved":
        raise Refused(f"firmware {fid} is not approved ({image['status']}): ask quality to "
                      f"approve it (`mes firmware approve {image['part']} --version "
                      f"{image['version']}`)")
    if image["part"] != op.flash.part:
        raise Refused(f"op {op.op} ({op.name}) flashes {op.flash.part}, not {image['part']}: "
                      f"use a {op.flash.part} image")
    if op.flash.versions and image["version"] not in op.flash.versions:
        raise Refused(f"op {op.op} allows {op.flash.part} version "
                      f"{', '.join(op.flash.versions)}, not {image['version']}: "
                      "flash an allowed version (the routing decides)")
    verify_image(ctx, image)
    require_qualified(ctx, actor, op.station_type)
    today = clock.now().date()
    interlocks.check_station(store.get("stations", req.station), req.station, op, today)
    interlocks.check_workable("lot", lot["id"], lot["status"], bool(lot["on_hold"]),
                              lot["hold_reason"])
    interlocks.check_workable("unit", serial, unit["status"], bool(unit["on_hold"]),
                              unit["hold_reason"])
    interlocks.check_order(routing, op, passed_ops(store, lot, unit), serial)
    check_timeout(req.timeout_s)
    given_uid = _normalise_uid(req.mcu_uid) if req.mcu_uid else None
    attempt = firmware_store.flash_count(store, serial) + 1
    if req.command:
        if req.verify is not None:
            raise InvalidInput("--verify is for a typed result: with a programmer command "
                               "after --, its exit status is the verify result", field="verify")
        run = _run_programmer(ctx, req, image, serial, given_uid)
    else:
        if req.verify not in ("pass", "fail"):
            raise InvalidInput("give --verify pass|fail, or the programmer command after --",
                               field="verify")
        spec = op.data_spec("mcu_uid")
        if req.verify == "pass" and given_uid is None and spec is not None and spec.required:
            raise InvalidInput(f"op {op.op} records the MCU unique id: add --mcu-uid 0x…",
                               field="mcu_uid")
        run = _Run(req.verify, None, None, None, given_uid)
    return _record(ctx, req, op, image, serial, attempt, run)


def _run_programmer(ctx: Context, req: FlashRequest, image: dict[str, Any], serial: str,
                    uid: str | None) -> _Run:
    path = str(stored_file(ctx, image).resolve())
    if any("{mcu_uid}" in a for a in req.command) and uid is None:
        raise InvalidInput("the programmer command uses {mcu_uid}: add --mcu-uid 0x…",
                           field="mcu_uid")
    argv = [a.replace("{image}", path).replace("{serial}", serial)
            .replace("{mcu_uid}", uid or "") for a in req.command]
    exe = shutil.which(argv[0])
    if exe is None:
        raise NotFound(f"programmer {argv[0]!r} not found: check the command after -- "
                       "(give its full path or put it on PATH); nothing was recorded")
    started = time.monotonic()
    try:
        output, status, problems = _run_in_own_group([exe, *argv[1:]], req.timeout_s)
    except OSError as exc:
        raise InvalidInput(f"programmer {argv[0]!r} cannot be run ({exc.strerror}): check "
                           "the command after --; nothing was recorded") from None
    duration = int((time.monotonic() - started) * 1000)
    digest = hashlib.sha256(output).hexdigest()
    _keep_log(ctx, serial, digest, output)
    text = output.decode("utf-8", "replace")
    out_uid, uid_problem = _output_uid(text)
    if uid_problem:
        problems.append(uid_problem)
    if uid and out_uid and uid != out_uid:
        problems.append(f"programmer read MCU_UID {out_uid}, not {uid}")
    verify = "pass" if not problems else "fail"
    return _Run(verify, status, duration, digest, out_uid or uid, problems,
                printable(text[-2000:]))


def _run_in_own_group(argv: list[str], timeout_s: float) -> tuple[bytes, int | None, list[str]]:
    """Run the programmer as the leader of its own process group; when it times out, or
    when it exits leaving children behind (which would keep holding the probe), the whole
    group is killed."""
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout_s)
        status: int | None = proc.returncode
        problems = [] if status == 0 else [f"programmer exit status {status}"]
    except subprocess.TimeoutExpired:
        _kill_group(proc.pid)
        out, err = proc.communicate()
        status, problems = None, [f"programmer timed out after {timeout_s:g} s (killed with "
                                  "its child processes)"]
    _kill_group(proc.pid)
    return out + err, status, problems


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _keep_log(ctx: Context, serial: str, digest: str, output: bytes) -> None:
    """The programmer's output, named by its sha256 (recorded in `flashes.output_sha256`)."""
    path = ctx.workspace / "firmware" / "logs" / f"{serial}-{digest[:12]}.log"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(output)
    except OSError:
        pass  # the hash is the record; a full disk must not lose the flash result


def _record(ctx: Context, req: FlashRequest, op: Operation, image: dict[str, Any],
            serial: str, attempt: int, run: _Run) -> dict[str, Any]:
    store = ctx.store
    problems = list(run.problems)
    if run.verify == "pass" and run.mcu_uid is None and op.data_spec("mcu_uid") is not None:
        problems.append(f"the programmer reported no MCU UID (expected {UID_CONTRACT}): "
                        "the unit's MCU id is unknown")
    data: dict[str, str] = {}
    if op.data_spec("mcu_uid") is not None:
        data["mcu_uid"] = run.mcu_uid or UNKNOWN_UID
    if op.data_spec("attempts") is not None:
        data["attempts"] = str(attempt)
    result = "pass" if run.verify == "pass" and not problems else "fail"
    extra = {"image": image["id"], "image_sha256": image["sha256"],
             "programmer_verify": run.verify,
             "exit_status": run.exit_status, "flash_attempt": attempt,
             "flash_problems": problems}
    step_req = StepRequest(scan=serial, op=op.op, station=req.station, data=data,
                           result=result, source=f"flash:{image['id']}")
    now = clock.now_iso()
    with store.transaction() as tx:
        outcome = complete_step(ctx, step_req, extra=extra)
        # One outcome: the flash verified only if its step passed (no "pass" beside a
        # failed step in flashes, the DHR or the trace).
        verify = "pass" if outcome["status"] == "passed" else "fail"
        step_id = steps_store.latest_id_of_unit(tx, serial, op.op)
        flash_row = {"serial": serial, "image_id": image["id"], "image_sha256": image["sha256"],
                     "mcu_uid": run.mcu_uid, "station_id": req.station, "attempt": attempt,
                     "verify": verify, "exit_status": run.exit_status,
                     "duration_ms": run.duration_ms, "output_sha256": run.output_sha256,
                     "step_id": step_id, "at": now}
        flash_id = tx.insert("flashes", flash_row, returning="id")
        username = current_actor(ctx).username
        tx.append_audit(username=username, station=req.station, action="firmware.flash",
                        entity_type="unit", entity_id=serial,
                        new={**flash_row, "id": flash_id}, reason="; ".join(problems) or None)
        if outcome["status"] == "passed":
            genealogy.add_edges(tx, [{"parent": serial, "child": image["id"], "qty": 1,
                                      "op": op.op, "step_id": step_id,
                                      "station_id": req.station, "at": now}])
            old = lots_store.unit_mcu_uid(tx, serial)
            if run.mcu_uid and old != run.mcu_uid:
                tx.update("units", serial, {"mcu_uid": run.mcu_uid})
                tx.append_audit(username=username, station=req.station, action="unit.mcu_uid",
                                entity_type="unit", entity_id=serial, old={"mcu_uid": old},
                                new={"mcu_uid": run.mcu_uid})
    return {"serial": serial, "image": image["id"], "sha256": image["sha256"], "op": op.op,
            "station": req.station, "attempt": attempt, "verify": verify,
            "status": outcome["status"], "held": bool(outcome["held"]),
            "problems": outcome["problems"] + [p for p in problems
                                               if p not in outcome["problems"]],
            "mcu_uid": run.mcu_uid, "exit_status": run.exit_status,
            "duration_ms": run.duration_ms, "output_sha256": run.output_sha256,
            "output_tail": run.output_tail, "completed": outcome["completed"]}
