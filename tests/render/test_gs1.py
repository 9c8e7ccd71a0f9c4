"""GS1 identifiers and UDI element strings (DESIGN §6)."""

from datetime import date

import pytest

from mes.domain.gs1 import (
    GS,
    Udi,
    data_to_hri,
    gtin_check_digit,
    parse_element_string,
    parse_udi,
    validate_gtin,
)
from mes.errors import InvalidInput

TODAY = date(2026, 11, 2)  # the GS1 century window needs a reference date

UDI = Udi("09506000134352", lot="L2611-0003", serial="SN-000123",
          mfg_date=date(2026, 1, 15), expiry=date(2031, 1, 31), fw_version="1.4.2")


@pytest.mark.parametrize("gtin", ["09506000134352", "04006381333931", "00012345600012"])
def test_known_gtins_check(gtin: str) -> None:
    assert gtin_check_digit(gtin[:13]) == gtin[13]
    assert validate_gtin(gtin) == gtin


def test_short_gtins_are_left_padded() -> None:
    assert validate_gtin("4006381333931") == "04006381333931"  # GTIN-13
    assert validate_gtin("96385074") == "00000096385074"  # GTIN-8


@pytest.mark.parametrize("bad", ["09506000134353", "0950600013435", "0950600013435X", ""])
def test_bad_gtins_are_refused(bad: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        validate_gtin(bad)
    assert exc.value.field == "gtin"


def test_hri_and_data_forms() -> None:
    assert UDI.hri() == ("(01)09506000134352(11)260115(17)310131(10)L2611-0003"
                         "(21)SN-000123(8012)1.4.2")
    assert UDI.data() == ("0109506000134352112601151731013110L2611-0003" + GS
                          + "21SN-000123" + GS + "80121.4.2")
    lot_only = Udi("09506000134352", lot="L1", expiry=date(2030, 6, 30))
    assert lot_only.data() == "01095060001343521730063010L1"  # no GS after the last field


@pytest.mark.parametrize("prefix", ["]d2", "]C1", "]Q3", "]e0", "", GS, "]d2" + GS])
def test_parse_scanner_output(prefix: str) -> None:
    assert parse_udi(prefix + UDI.data(), TODAY) == UDI


def test_parse_hri() -> None:
    assert parse_udi(UDI.hri(), TODAY) == UDI
    assert data_to_hri(UDI.data()) == UDI.hri()


def test_parse_other_ais() -> None:
    el = parse_element_string("]d2" + "00106141411234567897" + "0210614141000019" + "3750"
                              + GS + "400PO-1" + GS + "24012" + GS + "8020ABC")
    assert el == {"00": "106141411234567897", "02": "10614141000019", "37": "50",
                  "400": "PO-1", "240": "12", "8020": "ABC"}


def test_day_00_is_last_day_of_month() -> None:
    assert parse_udi("(01)09506000134352(17)280200", TODAY).expiry == date(2028, 2, 29)
    assert parse_udi("(01)09506000134352(17)270200", TODAY).expiry == date(2027, 2, 28)


@pytest.mark.parametrize(("scan", "field", "words"), [
    ("]d20109506000134353", "gtin", "AI (01): GTIN check digit is 3, expected 2"),
    ("]d2010950600013435", "gtin", "AI (01): needs exactly 14 digits"),
    ("]d2010950600013435217261301", "expiry", "AI (17): month 13"),
    ("]d2010950600013435217260231", "expiry", "AI (17): day 31"),
    ("]d2010950600013435210" + "A" * 21, "lot", "AI (10): at most 20"),
    ("]d2010950600013435221ab~c", "serial", "AI (21): character '~'"),
    ("]d2010950600013435299XYZ", "ai", "unknown or unsupported"),
    ("(01)09506000134352(10)L1(10)L2", "lot", "AI (10): appears twice"),
    ("]d2", "ai", "empty scan"),
    ("]d21730063010L1", "gtin", "no GTIN"),
])
def test_malformed_scans_name_the_field(scan: str, field: str, words: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        parse_udi(scan, TODAY)
    assert exc.value.field == field
    assert words in str(exc.value)


def test_validate_holds_our_lots_to_our_identifiers() -> None:
    with pytest.raises(InvalidInput) as exc:
        Udi("09506000134352", lot="l2611").validate()
    assert exc.value.field == "lot"
    Udi("09506000134352", lot="l2611").validate(strict=False)  # a supplier's lot may be
    with pytest.raises(InvalidInput) as exc:
        Udi("09506000134352", mfg_date=date(2026, 2, 1), expiry=date(2026, 1, 1)).validate()
    assert exc.value.field == "expiry"
    with pytest.raises(InvalidInput) as exc:
        Udi("09506000134352", fw_version="x" * 21).validate()
    assert exc.value.field == "fw_version"


def test_domain_module_stays_light() -> None:
    import subprocess
    import sys

    code = ("import sys, mes.domain.gs1; "
            "bad = [m for m in ('reportlab', 'pystrich', 'biip', 'yaml') if m in sys.modules]; "
            "sys.exit(1 if bad else 0)")
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
