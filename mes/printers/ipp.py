"""A small IPP/1.1 client (RFC 8010/8011) for CUPS queues: Print-Job, Get-Job-Attributes,
Cancel-Job. Stdlib only (http.client).

Why not the `lp`/`lpstat` tools: `lp` gives the job id as localised text, and `lpstat` shows
no job state that tells completed from aborted or cancelled (all are "completed" jobs to
it); a label that did not print must never be recorded as printed. IPP returns the
job-state enum (3 pending … 7 canceled, 8 aborted, 9 completed) and its reasons, exactly,
in one request, without a subprocess. pycups would need libcups headers to build.
"""

from __future__ import annotations

import http.client
import itertools
import struct
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from mes.errors import NotFound, Refused

PRINT_JOB, CANCEL_JOB, GET_JOB_ATTRIBUTES, GET_PRINTER_ATTRIBUTES = 0x02, 0x08, 0x09, 0x0B
OPERATION, JOB, PRINTER, END = 0x01, 0x02, 0x04, 0x03
INTEGER, BOOLEAN, ENUM = 0x21, 0x22, 0x23
TEXT, NAME, KEYWORD, URI, CHARSET, LANGUAGE, MIME = 0x41, 0x42, 0x44, 0x45, 0x47, 0x48, 0x49
JOB_STATES = {3: "pending", 4: "pending-held", 5: "processing", 6: "processing-stopped",
              7: "canceled", 8: "aborted", 9: "completed"}
FINAL = frozenset({"canceled", "aborted", "completed"})
_ids = itertools.count(1)


class PrinterError(Refused):
    """The printer or its server refused or is not reachable (exit 4: nothing printed)."""


@dataclass
class Job:
    printer_uri: str
    job_id: int
    state: str
    reasons: list[str] = field(default_factory=list)


def _attr(tag: int, name: str, value: Any) -> bytes:
    if tag in (INTEGER, ENUM):
        raw = struct.pack(">i", int(value))
    elif tag == BOOLEAN:
        raw = b"\x01" if value else b"\x00"
    else:
        raw = str(value).encode("utf-8")
    n = name.encode("ascii")
    return struct.pack(">BH", tag, len(n)) + n + struct.pack(">H", len(raw)) + raw


def _request(op: int, attrs: list[tuple[int, str, Any]]) -> bytes:
    body = struct.pack(">BBHI", 1, 1, op, next(_ids)) + bytes([OPERATION])
    body += _attr(CHARSET, "attributes-charset", "utf-8")
    body += _attr(LANGUAGE, "attributes-natural-language", "en")
    for tag, name, value in attrs:
        body += _attr(tag, name, value)
    return body + bytes([END])


def parse_response(data: bytes) -> tuple[int, dict[str, list[Any]]]:
    """(status-code, attribute name -> values) over all groups."""
    if len(data) < 9:
        raise PrinterError("the print server sent no IPP response")
    status = struct.unpack(">H", data[2:4])[0]
    attrs: dict[str, list[Any]] = {}
    pos, last = 8, ""
    while pos < len(data):
        tag = data[pos]
        pos += 1
        if tag == END:
            break
        if tag < 0x10:  # a group delimiter
            continue
        nlen = struct.unpack(">H", data[pos:pos + 2])[0]
        name = data[pos + 2:pos + 2 + nlen].decode("ascii", "replace")
        pos += 2 + nlen
        vlen = struct.unpack(">H", data[pos:pos + 2])[0]
        raw = data[pos + 2:pos + 2 + vlen]
        pos += 2 + vlen
        value: Any
        if tag in (INTEGER, ENUM) and vlen == 4:
            value = struct.unpack(">i", raw)[0]
        elif tag == BOOLEAN:
            value = raw == b"\x01"
        else:
            value = raw.decode("utf-8", "replace")
        last = name or last
        attrs.setdefault(last, []).append(value)
    return status, attrs


def _post(printer_uri: str, body: bytes, timeout: float) -> tuple[int, dict[str, list[Any]]]:
    u = urlsplit(printer_uri)
    if u.scheme not in ("ipp", "http") or not u.hostname:
        raise NotFound(f"printer {printer_uri!r}: use ipp://host:port/printers/QUEUE")
    conn = http.client.HTTPConnection(u.hostname, u.port or 631, timeout=timeout)
    try:
        conn.request("POST", u.path or "/", body, {"Content-Type": "application/ipp"})
        resp = conn.getresponse()
        data = resp.read()
        if resp.status != 200:
            raise PrinterError(f"print server {u.hostname}:{u.port or 631} answered HTTP "
                               f"{resp.status}: check the queue name")
    except OSError as exc:
        raise PrinterError(f"print server {u.hostname}:{u.port or 631} is not reachable "
                           f"({exc}): check that CUPS runs and the address") from None
    finally:
        conn.close()
    return parse_response(data)


def _check(status: int, attrs: dict[str, list[Any]], what: str) -> None:
    if status > 0xFF:
        msg = (attrs.get("status-message") or [""])[0]
        if status == 0x0406:
            raise NotFound(f"{what}: no such queue ({msg})")
        raise PrinterError(f"{what}: the print server refused (IPP status 0x{status:04x} "
                           f"{msg})")


def print_job(printer_uri: str, data: bytes, *, document_format: str, job_name: str,
              user: str, timeout: float = 30.0) -> Job:
    body = _request(PRINT_JOB, [(URI, "printer-uri", printer_uri),
                                (NAME, "requesting-user-name", user),
                                (NAME, "job-name", job_name),
                                (MIME, "document-format", document_format)]) + data
    status, attrs = _post(printer_uri, body, timeout)
    _check(status, attrs, f"printing to {printer_uri}")
    job_id = int(attrs["job-id"][0])
    return Job(printer_uri, job_id, JOB_STATES.get(int(attrs.get("job-state", [3])[0]),
                                                   "pending"),
               [str(r) for r in attrs.get("job-state-reasons", [])])


def job_state(job: Job, timeout: float = 10.0) -> Job:
    body = _request(GET_JOB_ATTRIBUTES, [(URI, "printer-uri", job.printer_uri),
                                         (INTEGER, "job-id", job.job_id),
                                         (NAME, "requesting-user-name", "mes"),
                                         (KEYWORD, "requested-attributes", "job-state"),
                                         (KEYWORD, "", "job-state-reasons")])
    status, attrs = _post(job.printer_uri, body, timeout)
    _check(status, attrs, f"job {job.job_id} on {job.printer_uri}")
    return Job(job.printer_uri, job.job_id,
               JOB_STATES.get(int(attrs.get("job-state", [0])[0]), "unknown"),
               [str(r) for r in attrs.get("job-state-reasons", [])])


def wait(job: Job, timeout: float, poll: float = 0.05) -> Job:
    """Poll until the job is completed, canceled or aborted; 'timeout' after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        job = job_state(job)
        if job.state in FINAL:
            return job
        if time.monotonic() >= deadline:
            return Job(job.printer_uri, job.job_id, "timeout", job.reasons)
        time.sleep(poll)
        poll = min(poll * 2, 0.5)


def cancel(job: Job) -> None:
    body = _request(CANCEL_JOB, [(URI, "printer-uri", job.printer_uri),
                                 (INTEGER, "job-id", job.job_id),
                                 (NAME, "requesting-user-name", "mes")])
    status, attrs = _post(job.printer_uri, body, 10.0)
    _check(status, attrs, f"cancelling job {job.job_id}")
