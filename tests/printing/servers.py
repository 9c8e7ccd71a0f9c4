"""A real CUPS server and a Zebra stand-in for the printing tests.

`cups` (session): Debian's cupsd on a free loopback port with its own config, spool and
state directories. Queues: LABELS on CUPS's own `socket` backend to a loopback listener that
takes the job; BROKEN on a `jam` backend of ours (a script that reads the job and exits 1,
CUPS_BACKEND_FAILED: with error policy abort-job the job ends aborted); HELD, a disabled
queue whose jobs wait, so a test can cancel them. ServerBin is a copy of the system's
(symlinks) with the `jam` backend added. Skipped with the reason when cupsd is not installed, unless
MES_REQUIRE_CUPS=1 (set by .ci/run), which makes it an error.

`Zebra`: a loopback TCP listener that answers ~HS like a ZPL printer and keeps what it is
sent; its flags (paper out, paused…) are set by the test.
"""

from __future__ import annotations

import os
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

CUPSD = shutil.which("cupsd") or "/usr/sbin/cupsd"
LPADMIN = shutil.which("lpadmin") or "/usr/sbin/lpadmin"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Loopback:
    """A TCP server on 127.0.0.1 that hands each connection to `handle`, one at a time."""

    def __init__(self) -> None:
        self.received: list[bytes] = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                self.handle(conn)

    def handle(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self.sock.close()


class Listener(_Loopback):
    """Accepts connections on loopback; `mode` capture (read to EOF) or reset (RST)."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        super().__init__()

    def handle(self, conn: socket.socket) -> None:
        if self.mode == "reset":  # take the data, then reset the connection
            conn.settimeout(0.3)
            try:
                while conn.recv(65536):
                    pass
            except (TimeoutError, OSError):
                pass
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
        self.received.append(data)


class Cups:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = _free_port()
        self.server = f"127.0.0.1:{self.port}"
        self.sink = Listener("capture")
        self._server_bin(root / "bin")
        for d in ("spool", "cache", "state", "log", "tmp", "ppd"):
            (root / d).mkdir(parents=True, exist_ok=True)
        (root / "cupsd.conf").write_text(
            f"Listen 127.0.0.1:{self.port}\nLogLevel warn\nWebInterface No\nBrowsing Off\n"
            "DefaultAuthType None\n<Location />\n  Order allow,deny\n  Allow all\n</Location>\n"
            "<Location /admin>\n  Order allow,deny\n  Allow all\n</Location>\n"
            "<Policy default>\n  <Limit All>\n    Order deny,allow\n  </Limit>\n</Policy>\n")
        (root / "cups-files.conf").write_text(
            f"ServerRoot {root}\nRequestRoot {root}/spool\nCacheDir {root}/cache\n"
            f"StateDir {root}/state\nTempDir {root}/tmp\nErrorLog {root}/log/error_log\n"
            f"AccessLog {root}/log/access_log\nPageLog {root}/log/page_log\n"
            f"ServerBin {root}/bin\nUser lp\nGroup lp\nSystemGroup root\n")
        self.proc = subprocess.Popen([CUPSD, "-f", "-c", str(root / "cupsd.conf"), "-s",
                                      str(root / "cups-files.conf")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                    raise RuntimeError(f"cupsd did not start: {err.strip()[:300]}") from None
                time.sleep(0.05)
        self.queue("LABELS", f"socket://127.0.0.1:{self.sink.port}")
        self.queue("BROKEN", "jam:/always")
        self.queue("HELD", f"socket://127.0.0.1:{self.sink.port}")
        subprocess.run(["cupsdisable", "-h", self.server, "HELD"], check=True,
                       capture_output=True)

    @staticmethod
    def _server_bin(bin_dir: Path) -> None:
        system = Path("/usr/lib/cups")
        (bin_dir / "backend").mkdir(parents=True)
        for sub in system.iterdir():
            if sub.name != "backend":
                (bin_dir / sub.name).symlink_to(sub)
        (bin_dir / "backend" / "socket").symlink_to(system / "backend" / "socket")
        jam = bin_dir / "backend" / "jam"
        jam.write_text("#!/bin/sh\n"
                       "if [ $# -eq 0 ]; then echo 'direct jam \"Unknown\" \"Jammed printer\"'; "
                       "exit 0; fi\n"
                       "cat > /dev/null\necho 'ERROR: paper jam (test printer)' >&2\nexit 1\n")
        jam.chmod(0o755)

    def queue(self, name: str, uri: str) -> None:
        subprocess.run([LPADMIN, "-h", self.server, "-p", name, "-E", "-v", uri, "-m", "raw",
                        "-o", "printer-error-policy=abort-job"], check=True, capture_output=True)

    def uri(self, queue: str) -> str:
        return f"ipp://{self.server}/printers/{queue}"

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.sink.close()


@pytest.fixture(scope="session")
def cups() -> Iterator[Cups]:
    required = os.environ.get("MES_REQUIRE_CUPS") == "1"
    reason = None
    if not (Path(CUPSD).exists() and shutil.which("cupsdisable")):
        reason = "no CUPS here (cupsd, cupsdisable): apt-get install cups cups-client cups-bsd"
    server = None
    root = Path(tempfile.mkdtemp(prefix="mes-cups-"))
    os.chmod(root, 0o755)
    if reason is None:
        try:
            server = Cups(root)
        except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
            reason = f"CUPS could not be started: {exc}"
    if server is None:
        shutil.rmtree(root, ignore_errors=True)
        if required:
            pytest.fail(f"MES_REQUIRE_CUPS=1 and {reason}", pytrace=False)
        pytest.skip(reason or "no CUPS")
    yield server
    server.stop()
    shutil.rmtree(root, ignore_errors=True)


class Zebra(_Loopback):
    """~HS answers from the flags; everything else sent is kept in `received`."""

    def __init__(self) -> None:
        self.paper_out = self.paused = self.head_up = False
        super().__init__()
        self.uri = f"tcp://127.0.0.1:{self.port}"

    def status(self) -> bytes:
        f = lambda b: "1" if b else "0"  # noqa: E731
        one = f"030,{f(self.paper_out)},{f(self.paused)},1245,000,0,0,0,000,0,0,0"
        two = f"000,0,{f(self.head_up)},0,0,2,4,0,00000000,1,000"
        return f"\x02{one}\x03\r\n\x02{two}\x03\r\n\x021234,0\x03\r\n".encode()

    def handle(self, conn: socket.socket) -> None:
        conn.settimeout(2)
        data = b""
        try:
            while chunk := conn.recv(65536):
                data += chunk
                if data == b"~HS":
                    conn.sendall(self.status())
                    data = b""
        except (TimeoutError, OSError):
            pass
        if data:
            self.received.append(data)


@pytest.fixture
def zebra() -> Iterator[Zebra]:
    z = Zebra()
    yield z
    z.close()
