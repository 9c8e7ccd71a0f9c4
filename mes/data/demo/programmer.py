#!/usr/bin/env python3
"""A stand-in for a production flash programmer (think STM32_Programmer_CLI or pyOCD).

It behaves like one as far as mes can tell: it reads the image file, checks its header
and size, "writes" it, reads back and verifies, prints an MCU unique id, and exits
non-zero when anything fails (missing image, bad header, no target on the probe).
Usage: programmer.py --image FILE --serial SERIAL [--no-target]
"""

import argparse
import hashlib
import sys
import time

MAGIC = b"OXFW"


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--image", required=True)
    p.add_argument("--serial", required=True)
    p.add_argument("--no-target", action="store_true", help="simulate a board not seated")
    a = p.parse_args()
    try:
        with open(a.image, "rb") as f:
            image = f.read()
    except OSError as exc:
        print(f"Error: cannot open image: {exc}", file=sys.stderr)
        return 2
    if not image.startswith(MAGIC) or len(image) < 1024:
        print("Error: image header invalid (not an OXFW image)", file=sys.stderr)
        return 3
    print(f"ST-LINK SN 0668FF55 connected; target {'absent' if a.no_target else 'STM32L432KC'}")
    if a.no_target:
        print("Error: no device found on target", file=sys.stderr)
        return 4
    time.sleep(0.01)  # a real write takes seconds; keep the demo quick
    uid = hashlib.sha256(a.serial.encode()).hexdigest()[:24].upper()
    print(f"Erasing... Writing {len(image)} bytes... Verifying... OK")
    print(f"MCU_UID=0x{uid}")
    print(f"CRC32 verify OK, image sha256 {hashlib.sha256(image).hexdigest()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
