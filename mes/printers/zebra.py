"""ZPL straight to a Zebra printer on raw TCP port 9100, host status (~HS) checked first.

~HS answers three STX…ETX lines (ZPL II programming guide): line 1 field 2 paper out,
field 3 pause, field 5 formats in the receive buffer; line 2 field 3 head up, field 4
ribbon out, field 9 labels remaining in the batch. A printer that is out of paper, paused,
head open or out of ribbon is not sent anything. After sending, the status is polled
until the buffer is empty and no label remains: then the job is 'completed'.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from mes.printers.ipp import PrinterError


@dataclass
class Status:
    paper_out: bool
    paused: bool
    head_up: bool
    ribbon_out: bool
    formats_in_buffer: int
    labels_remaining: int
    raw: list[str] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        return [name for name, bad in (("paper out", self.paper_out), ("paused", self.paused),
                                       ("head open", self.head_up),
                                       ("ribbon out", self.ribbon_out)) if bad]


def address(uri: str) -> tuple[str, int]:
    u = urlsplit(uri)
    if u.scheme not in ("tcp", "zebra", "socket") or not u.hostname:
        raise PrinterError(f"printer {uri!r}: use tcp://host:9100 for a raw Zebra printer")
    return u.hostname, u.port or 9100


def parse_status(text: str) -> Status:
    lines = [seg.strip("\r\n") for seg in text.split("\x02")[1:]]
    lines = [ln.split("\x03")[0] for ln in lines]
    if len(lines) < 2:
        raise PrinterError(f"the printer's host status is not a ~HS answer: {text[:40]!r}")
    one, two = lines[0].split(","), lines[1].split(",")
    try:
        return Status(paper_out=one[1] == "1", paused=one[2] == "1", head_up=two[2] == "1",
                      ribbon_out=two[3] == "1", formats_in_buffer=int(one[4]),
                      labels_remaining=int(two[8]), raw=lines)
    except (IndexError, ValueError):
        raise PrinterError(f"the printer's host status does not parse: {lines!r}") from None


def host_status(uri: str, timeout: float = 5.0) -> Status:
    host, port = address(uri)
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.sendall(b"~HS")
            data = b""
            while data.count(b"\x03") < 3:
                chunk = s.recv(1024)
                if not chunk:
                    break
                data += chunk
    except OSError as exc:
        raise PrinterError(f"printer {host}:{port} is not reachable ({exc}): check it is on "
                           "and the address") from None
    return parse_status(data.decode("ascii", "replace"))


def send(uri: str, zpl: bytes, timeout: float = 30.0) -> tuple[str, list[str]]:
    """(state, reasons): 'completed', or 'aborted' with what the printer said."""
    before = host_status(uri)
    if before.problems:
        raise PrinterError(f"printer {uri} reports {', '.join(before.problems)}: fix it, "
                           "then print again (nothing was sent)")
    host, port = address(uri)
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.sendall(zpl)
    except OSError as exc:
        return "aborted", [f"send failed: {exc}"]
    deadline = time.monotonic() + timeout
    poll = 0.05
    while True:
        st = host_status(uri)
        if st.problems:
            return "aborted", st.problems
        if st.formats_in_buffer == 0 and st.labels_remaining == 0:
            return "completed", []
        if time.monotonic() >= deadline:
            return "timeout", [f"{st.labels_remaining} labels still to print"]
        time.sleep(poll)
        poll = min(poll * 2, 0.5)
