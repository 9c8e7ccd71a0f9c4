"""Identifiers: lot numbers, serials, material ids share one alphabet (DESIGN §6).

[0-9A-Z-]{1,20} is valid in GS1 AI (10)/(21), in FDA's ISO 646 invariant set and in
file names, so a scan resolves without a type prefix.
"""

from __future__ import annotations

import re

from mes.errors import InvalidInput

ID_RE = re.compile(r"[0-9A-Z-]{1,20}")
COUNTRY_RE = re.compile(r"[A-Z]{2}")


def check_id(value: str, what: str = "identifier") -> str:
    if not ID_RE.fullmatch(value):
        raise InvalidInput(
            f"{what} {value!r} is not valid: use 1-20 characters of 0-9, A-Z and '-'", field=what
        )
    return value


def normalise_scan(value: str) -> str:
    """A scanner may add whitespace or send lower case from a keyboard wedge."""
    return value.strip().upper()


def lot_number(yymm: str, seq: int) -> str:
    return f"L{yymm}-{seq:04d}"


def serial_number(prefix: str, seq: int) -> str:
    return f"{prefix}{seq:06d}"
