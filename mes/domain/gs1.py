"""GS1 identifiers and UDI element strings (DESIGN §6). Stdlib only: imported by operator commands.

Two forms of the same element string:
- HRI, printed for people: ``(01)09506000134352(17)261231(10)L2611-0003``;
- data, encoded in the symbol and returned by scanners: no parentheses, a GS (``\\x1d``,
  the scanner's rendering of FNC1) after every variable-length field except the last.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date

from mes.errors import InvalidInput

GS = "\x1d"

# AI -> (fixed data length or None, max length, charset). Only the AIs a plant meets on
# device, shipper and supplier labels; an unknown AI is refused rather than guessed.
_N, _X = "N", "X"  # numeric / GS1 CSET 82
AIS: dict[str, tuple[int | None, int, str]] = {
    "00": (18, 18, _N),  # SSCC
    "01": (14, 14, _N),  # GTIN
    "02": (14, 14, _N),  # GTIN of contained trade items
    "10": (None, 20, _X),  # batch/lot
    "11": (6, 6, _N),  # production date
    "12": (6, 6, _N),  # due date
    "13": (6, 6, _N),  # packaging date
    "15": (6, 6, _N),  # best before
    "16": (6, 6, _N),  # sell by
    "17": (6, 6, _N),  # expiration (use-by)
    "20": (2, 2, _N),  # variant
    "21": (None, 20, _X),  # serial
    "22": (None, 20, _X),  # consumer product variant
    "240": (None, 30, _X),  # additional product id
    "241": (None, 30, _X),  # customer part number
    "30": (None, 8, _N),  # variable count of items
    "37": (None, 8, _N),  # count of trade items in a logistic unit
    "400": (None, 30, _X),  # customer purchase order
    "8012": (None, 20, _X),  # software version
    "8020": (None, 25, _X),  # payment slip reference
}
DATE_AIS = frozenset({"11", "12", "13", "15", "16", "17"})
# AI -> Udi field, so that errors name what the operator knows.
AI_FIELD = {
    "01": "gtin", "11": "mfg_date", "17": "expiry", "10": "lot", "21": "serial",
    "8012": "fw_version", "30": "count",
}

# GS1 CSET 82 (General Specifications, figure 7.11-1).
_CSET82 = re.compile(r"[!\"%&'()*+,\-./0-9:;<=>?A-Z_a-z]*")
# Our own lot/serial/material IDs: a subset of CSET 82, FDA ISO 646 invariant and file-name safe.
IDENTIFIER = re.compile(r"[0-9A-Z-]{1,20}")
_SYMBOLOGY_PREFIXES = ("]d2", "]C1", "]Q3", "]e0", "]J1")


def _fail(ai: str, message: str) -> InvalidInput:
    return InvalidInput(f"AI ({ai}): {message}", field=AI_FIELD.get(ai, f"AI ({ai})"))


def gtin_check_digit(first13: str) -> str:
    """Mod-10 check digit: weights 3,1,3,… from the right over the data digits."""
    if not first13.isascii() or not first13.isdigit():
        raise InvalidInput(f"GTIN digits expected, got {first13!r}", field="gtin")
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(first13)))
    return str((10 - total % 10) % 10)


def validate_gtin(gtin: str) -> str:
    """GTIN-14 from a GTIN-8/12/13/14 (left-padded with zeros); refuses a bad check digit."""
    g = gtin.strip()
    if not (g.isascii() and g.isdigit()) or len(g) not in (8, 12, 13, 14):
        raise InvalidInput(
            f"GTIN must be 8, 12, 13 or 14 digits, got {gtin!r}", field="gtin"
        )
    g = g.zfill(14)
    expected = gtin_check_digit(g[:13])
    if g[13] != expected:
        raise InvalidInput(
            f"GTIN {gtin}: check digit is {g[13]}, expected {expected}", field="gtin"
        )
    return g


def format_yymmdd(d: date) -> str:
    if not 2000 <= d.year <= 2099:
        raise InvalidInput(f"date {d.isoformat()} is outside 2000-2099", field="date")
    return d.strftime("%y%m%d")


def parse_yymmdd(value: str, ai: str, today: date) -> date:
    """GS1 date: century by the GS1 sliding window around `today` (the caller's clock, never
    the host calendar); day 00 means the last day of the month."""
    if len(value) != 6 or not value.isdigit():
        raise _fail(ai, f"date must be YYMMDD, got {value!r}")
    yy, mm, dd = int(value[:2]), int(value[2:4]), int(value[4:])
    this_year = today.year
    # GS1 GenSpecs 7.12: up to 49 years back, 50 ahead of the current year.
    diff = yy - this_year % 100
    century = this_year // 100 * 100
    if diff >= 51:
        century -= 100
    elif diff <= -50:
        century += 100
    year = century + yy
    if not 1 <= mm <= 12:
        raise _fail(ai, f"month {mm:02d} in {value} is not 01-12")
    last = calendar.monthrange(year, mm)[1]
    if dd == 0:
        dd = last
    if dd > last:
        raise _fail(ai, f"day {dd:02d} in {value} does not exist in {year}-{mm:02d}")
    return date(year, mm, dd)


def _check_value(ai: str, value: str) -> None:
    fixed, max_len, charset = AIS[ai]
    if fixed is not None and len(value) != fixed:
        raise _fail(ai, f"needs exactly {fixed} digits, got {len(value)} ({value!r})")
    if not value:
        raise _fail(ai, "value is empty")
    if len(value) > max_len:
        raise _fail(ai, f"at most {max_len} characters, got {len(value)}")
    if charset == _N and not (value.isascii() and value.isdigit()):
        raise _fail(ai, f"digits only, got {value!r}")
    if charset == _X and not _CSET82.fullmatch(value):
        bad = next(c for c in value if not _CSET82.fullmatch(c))
        raise _fail(ai, f"character {bad!r} is not allowed in GS1 data (CSET 82)")
    if ai in ("00", "01", "02"):
        expected = gtin_check_digit(value[:-1])
        if value[-1] != expected:
            what = "SSCC" if ai == "00" else "GTIN"
            raise _fail(ai, f"{what} check digit is {value[-1]}, expected {expected}")
    if ai in DATE_AIS:
        # month and day only, with no calendar: seen from 2049 every YY is 20YY, whose
        # leap years are those of any century the window can pick for YY (2000 is leap)
        parse_yymmdd(value, ai, date(2049, 1, 1))


def _match_ai(text: str, pos: int) -> str:
    for n in (2, 3, 4):  # GS1 AIs are prefix-free, so the first hit is the AI
        if text[pos : pos + n] in AIS:
            return text[pos : pos + n]
    head = text[pos : pos + 4]
    raise InvalidInput(
        f"unknown or unsupported GS1 Application Identifier at {head!r}", field="ai"
    )


def _strip_prefix(text: str) -> str:
    text = text.strip("\r\n")
    for prefix in _SYMBOLOGY_PREFIXES:
        if text.startswith(prefix):
            return text[len(prefix) :]
    return text


def _parse_hri(text: str) -> dict[str, str]:
    parts = re.split(r"\((\d{2,4})\)", text.strip())
    if parts[0].strip():
        raise InvalidInput(f"HRI must start with '(AI)', got {text[:10]!r}", field="ai")
    out: dict[str, str] = {}
    for ai, value in zip(parts[1::2], parts[2::2], strict=True):
        if ai not in AIS:
            raise InvalidInput(f"unknown or unsupported GS1 Application Identifier ({ai})",
                               field="ai")
        if ai in out:
            raise _fail(ai, "appears twice")
        _check_value(ai, value)
        out[ai] = value
    return out


def _parse_data(text: str) -> dict[str, str]:
    text = text.lstrip(GS)  # leading FNC1 rendered as GS by some scanners
    out: dict[str, str] = {}
    pos = 0
    while pos < len(text):
        ai = _match_ai(text, pos)
        pos += len(ai)
        fixed = AIS[ai][0]
        if fixed is not None:
            value = text[pos : pos + fixed]
            pos += fixed
        else:
            end = text.find(GS, pos)
            end = len(text) if end < 0 else end
            value = text[pos:end]
            pos = end
        if ai in out:
            raise _fail(ai, "appears twice")
        _check_value(ai, value)
        out[ai] = value
        while text.startswith(GS, pos):  # a GS after a fixed field is allowed (GenSpecs 7.8.6)
            pos += 1
    return out


def parse_element_string(text: str) -> dict[str, str]:
    """AI -> value, in scan order, from a scanner's output or an HRI string; checks every value."""
    body = _strip_prefix(text)
    if not body.strip(GS + " "):
        raise InvalidInput("empty scan: no GS1 data", field="ai")
    if body.lstrip().startswith("("):
        return _parse_hri(body)
    return _parse_data(body)


_HRI_START = re.compile(r"\s*\(\d{2,4}\)")


def looks_like_gs1(text: str) -> bool:
    """A scanner's GS1 output (symbology prefix, or a GS inside) or an HRI string: never
    one of our identifiers or station commands, which have neither."""
    body = text.strip("\r\n ")
    return body.startswith(_SYMBOLOGY_PREFIXES) or GS in body or bool(_HRI_START.match(body))


def format_hri(elements: dict[str, str]) -> str:
    return "".join(f"({ai}){value}" for ai, value in elements.items())


def format_data(elements: dict[str, str]) -> str:
    """Raw form: GS after each variable-length field but the last."""
    out = []
    items = list(elements.items())
    for i, (ai, value) in enumerate(items):
        out.append(ai + value)
        if AIS[ai][0] is None and i < len(items) - 1:
            out.append(GS)
    return "".join(out)


def data_to_hri(text: str) -> str:
    return format_hri(parse_element_string(text))


@dataclass(frozen=True)
class Udi:
    """A UDI (UDI-DI + production identifiers). ``count`` is AI (30), for lot/shipper labels."""

    gtin: str
    lot: str | None = None
    serial: str | None = None
    mfg_date: date | None = None
    expiry: date | None = None
    fw_version: str | None = None
    count: int | None = None

    def elements(self) -> dict[str, str]:
        """AI -> value; fixed-length AIs first (01, 11, 17), then 10, 21, 30, 8012."""
        out = {"01": self.gtin}
        if self.mfg_date is not None:
            out["11"] = format_yymmdd(self.mfg_date)
        if self.expiry is not None:
            out["17"] = format_yymmdd(self.expiry)
        if self.lot is not None:
            out["10"] = self.lot
        if self.serial is not None:
            out["21"] = self.serial
        if self.count is not None:
            out["30"] = str(self.count)
        if self.fw_version is not None:
            out["8012"] = self.fw_version
        return out

    def hri(self) -> str:
        return format_hri(self.elements())

    def data(self) -> str:
        return format_data(self.elements())

    def validate(self, strict: bool = True) -> Udi:
        """Check every field; ``strict`` also holds lot/serial to our ``[0-9A-Z-]{1,20}``.

        Non-strict is for scans of other manufacturers' UDIs (any CSET 82 lot/serial).
        """
        try:
            validate_gtin(self.gtin)
        except InvalidInput as exc:
            raise _fail("01", exc.message) from None
        if len(self.gtin) != 14:
            raise _fail("01", f"store the GTIN as 14 digits, got {self.gtin!r}")
        for ai, value in (("10", self.lot), ("21", self.serial)):
            if value is None:
                continue
            _check_value(ai, value)
            if strict and not IDENTIFIER.fullmatch(value):
                raise _fail(ai, f"{value!r} must be 1-20 of 0-9, A-Z and '-'")
        if self.fw_version is not None:
            _check_value("8012", self.fw_version)
        if self.count is not None and not 0 < self.count < 10**8:
            raise _fail("30", f"count must be 1-99999999, got {self.count}")
        for ai, d in (("11", self.mfg_date), ("17", self.expiry)):
            if d is not None and not 2000 <= d.year <= 2099:
                raise _fail(ai, f"date {d.isoformat()} is outside 2000-2099")
        if self.mfg_date and self.expiry and self.expiry < self.mfg_date:
            raise _fail("17", f"use-by {self.expiry} is before manufacture {self.mfg_date}")
        return self


def parse_udi(text: str, today: date) -> Udi:
    """A UDI from a scan or HRI; needs (01); other manufacturers' CSET 82 lots are accepted."""
    el = parse_element_string(text)
    if "01" not in el:
        raise InvalidInput("AI (01): the scan has no GTIN, it is not a UDI", field="gtin")

    def _d(ai: str) -> date | None:
        return parse_yymmdd(el[ai], ai, today) if ai in el else None

    udi = Udi(
        gtin=el["01"], lot=el.get("10"), serial=el.get("21"), mfg_date=_d("11"),
        expiry=_d("17"), fw_version=el.get("8012"),
        count=int(el["30"]) if "30" in el else None,
    )
    return udi.validate(strict=False)


# -- logistic units, locations, Digital Link (issue 19) ---------------------------------------

def validate_company_prefix(prefix: str) -> str:
    """A GS1 Company Prefix: 6-12 digits (the SSCC leaves 16 - len digits of serial)."""
    p = prefix.strip()
    if not (p.isascii() and p.isdigit()) or not 6 <= len(p) <= 12:
        raise InvalidInput(f"GS1 company prefix must be 6-12 digits, got {prefix!r}",
                           field="gs1.company_prefix")
    return p


def sscc_capacity(prefix: str) -> int:
    """How many serial references one extension digit gives under this prefix."""
    return 10 ** (16 - len(validate_company_prefix(prefix)))


def make_sscc(extension: int, prefix: str, serial_ref: int) -> str:
    """AI (00): extension digit + company prefix + serial reference + mod-10 check digit."""
    p = validate_company_prefix(prefix)
    if not 0 <= extension <= 9:
        raise InvalidInput(f"SSCC extension digit must be 0-9, got {extension}",
                           field="gs1.sscc_extension")
    width = 16 - len(p)
    if not 0 <= serial_ref < 10**width:
        raise InvalidInput(f"SSCC serial reference {serial_ref} does not fit in {width} digits "
                           f"under prefix {p}: ask GS1 for another prefix or use another "
                           "extension digit", field="sscc")
    body = f"{extension}{p}{serial_ref:0{width}d}"
    return body + gtin_check_digit(body)


def validate_sscc(sscc: str) -> str:
    s = sscc.strip()
    _check_value("00", s)
    return s


def is_sscc_text(text: str) -> bool:
    """18 digits, or a scan of an SSCC label ((00)… / ]d2 00…): worth resolving as an SSCC."""
    s = _strip_prefix(text.strip())
    return (len(s) == 18 and s.isdigit()) or s.startswith("(00)") or (
        s.startswith("00") and len(s) >= 20 and s[2:20].isdigit())


def sscc_from_scan(text: str) -> str:
    """The SSCC of a scanned logistic label (data or HRI) or of 18 typed digits."""
    s = _strip_prefix(text.strip())
    if len(s) == 18 and s.isdigit():
        return validate_sscc(s)
    el = parse_element_string(s)
    if "00" not in el:
        raise InvalidInput("the scan has no AI (00): it is not an SSCC label", field="sscc")
    return el["00"]


def validate_gln(gln: str, what: str = "gln") -> str:
    g = gln.strip()
    if not (g.isascii() and g.isdigit()) or len(g) != 13:
        raise InvalidInput(f"a GLN is 13 digits, got {gln!r}", field=what)
    if g[12] != gtin_check_digit(g[:12]):
        raise InvalidInput(f"GLN {g}: check digit is {g[12]}, expected "
                           f"{gtin_check_digit(g[:12])}", field=what)
    return g


def logistic_elements(sscc: str, gtin: str | None = None, count: int | None = None,
                      lot: str | None = None, expiry: date | None = None) -> dict[str, str]:
    """The logistic label's element string: (00), then, for homogeneous content, (02)+(37)
    (GS1 allows (02) only with (37), on an SSCC-identified unit), (17) and (10) when the
    content is one lot. Fixed-length AIs first; (37) last (it is variable length)."""
    out = {"00": validate_sscc(sscc)}
    if (gtin is None) != (count is None):
        raise InvalidInput("(02) and (37) go together", field="content")
    if gtin is not None and count is not None:
        _check_value("02", gtin)
        out["02"] = gtin
        if expiry is not None:
            out["17"] = format_yymmdd(expiry)
        if lot is not None:
            _check_value("10", lot)
            out["10"] = lot
        if not 0 < count < 10**8:
            raise _fail("37", f"count must be 1-99999999, got {count}")
        out["37"] = str(count)
    return out


DIGITAL_LINK = "https://id.gs1.org"


def dl_sgtin(gtin: str, serial: str) -> str:
    return f"{DIGITAL_LINK}/01/{gtin}/21/{_dl_escape(serial)}"


def dl_lgtin(gtin: str, lot: str) -> str:
    return f"{DIGITAL_LINK}/01/{gtin}/10/{_dl_escape(lot)}"


def dl_sscc(sscc: str) -> str:
    return f"{DIGITAL_LINK}/00/{sscc}"


def dl_sgln(gln: str, extension: str = "0") -> str:
    return f"{DIGITAL_LINK}/414/{gln}/254/{_dl_escape(extension)}"


def dl_pgln(gln: str) -> str:
    return f"{DIGITAL_LINK}/417/{gln}"


def _dl_escape(value: str) -> str:
    """GS1 Digital Link percent-encodes what is not unreserved in a URI path segment."""
    safe = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
    return "".join(c if c in safe else "".join(f"%{b:02X}" for b in c.encode()) for c in value)
