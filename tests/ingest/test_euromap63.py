"""EUROMAP 63 report parsing, writing and synthetic data."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mes.errors import InvalidInput, MesError, NotFound, ValidationFailed
from mes.ingest.euromap63 import (
    SHOT_COLUMN,
    parse_report,
    split_fields,
    synthetic_columns,
    synthetic_report,
    write_report,
)

DATA = Path(__file__).resolve().parent.parent / "data" / "euromap63"
WINDOW = {
    "ActTimCyc": (18.0, 22.0),
    "ActStrCsh": (4.0, 6.0),
    "ActPrsXfrSpec": (600.0, 900.0),
    "ActTmpBrlZn[1,1]": (233.0, 243.0),
}


def _write(tmp_path: Path, text: str | bytes, name: str = "REPORTS.DAT") -> Path:
    path = tmp_path / name
    if isinstance(text, str):
        text = text.encode("utf-8")
    path.write_bytes(text)
    return path


# --------------------------------------------------------------------------- happy paths


def test_sample_report_with_continuation_header_and_array_columns() -> None:
    report = parse_report(DATA / "REPORTS.DAT")
    assert len(report.rows) == 20
    assert report.columns[:3] == ["DATE", "TIME", "ActCntCyc"]
    assert "SetTmpBrlZn[1,1]" in report.columns and "ActTmpBrlZn[1,4]" in report.columns
    assert report.columns[-1] == "SetTmpBrlZn[1,4]"  # last name sits on a continuation line
    first = report.rows[0]
    assert first["DATE"] == "20261123" and first["TIME"] == "06:00:00"
    assert first["ActStsMach"] == "0A000"
    assert isinstance(first["ActTimCyc"], float)
    assert first["SetTmpBrlZn[1,1]"] == 238.0
    assert report.shot_column == SHOT_COLUMN
    assert [report.shot_id(i) for i in range(3)] == [48213, 48214, 48215]
    assert report.line_numbers[0] == 5  # after the 4 header lines
    assert report.column_kinds()["ActStsMach"] == "text"
    assert report.column_kinds()["ActStrCsh"] == "number"


def test_out_of_window_sample_has_out_of_window_shots() -> None:
    report = parse_report(DATA / "REPORTS_out_of_window.DAT")
    outside = [
        i for i, row in enumerate(report.rows)
        if any(not lo <= float(row[c]) <= hi for c, (lo, hi) in WINDOW.items())
    ]
    assert outside == [6, 13]  # every 7th shot


def test_simple_header_and_rows(tmp_path: Path) -> None:
    path = _write(tmp_path, "DATE,TIME,ActCntCyc,ActTimCyc,SetTmpBrlZn[1,1]\r\n"
                            "20261123,14:03:22,1,19.84,230.0\r\n"
                            "20261123,14:03:42,2,20.02,230.0\r\n")
    report = parse_report(path)
    assert report.columns == ["DATE", "TIME", "ActCntCyc", "ActTimCyc", "SetTmpBrlZn[1,1]"]
    assert report.rows[1] == {"DATE": "20261123", "TIME": "14:03:42", "ActCntCyc": 2.0,
                              "ActTimCyc": 20.02, "SetTmpBrlZn[1,1]": 230.0}


def test_continuation_without_trailing_comma_and_lf_endings(tmp_path: Path) -> None:
    path = _write(tmp_path, "DATE,TIME,ActCntCyc\n ActTimCyc,@ActPrsHldMax[1]\n"
                            "20261123,14:03:22,7,19.5,410.5\n\n")
    report = parse_report(path)
    assert report.columns == ["DATE", "TIME", "ActCntCyc", "ActTimCyc", "@ActPrsHldMax[1]"]
    assert report.rows[0]["@ActPrsHldMax[1]"] == 410.5


def test_continued_data_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "DATE,TIME,ActCntCyc,ActTimCyc\r\n20261123,14:03:22,\r\n 7,19.5\r\n")
    report = parse_report(path)
    assert report.rows == [{"DATE": "20261123", "TIME": "14:03:22", "ActCntCyc": 7.0,
                            "ActTimCyc": 19.5}]


def test_quoted_strings_with_commas_quotes_and_latin1() -> None:
    report = parse_report(DATA / "latin1_strings.DAT")
    assert report.encoding == "latin-1"
    assert report.rows[0]["SetDescMld"] == 'Moule 4 emp. étui, 240°C "PB"'
    assert report.columns[-1] == "ActTmpBrlZn[1,2]"


def test_report_without_cycle_counter_has_no_shot_ids(tmp_path: Path) -> None:
    report = parse_report(_write(tmp_path, "DATE,TIME,ActTimCyc\n20261123,14:03:22,19.5\n"))
    assert report.shot_column is None and report.shot_id(0) is None


def test_numbers_with_exponent_sign_and_padding(tmp_path: Path) -> None:
    path = _write(tmp_path, "ActCntCyc,ActTimCyc,ActPrsXfrSpec\n1, -0.5 ,7.5e2\n")
    assert parse_report(path).rows[0] == {"ActCntCyc": 1.0, "ActTimCyc": -0.5,
                                          "ActPrsXfrSpec": 750.0}


def test_split_fields_respects_brackets_and_quotes() -> None:
    assert split_fields('A[1,2],"x, y",B') == [("A[1,2]", False), ("x, y", True), ("B", False)]
    with pytest.raises(ValueError):
        split_fields('"open')
    with pytest.raises(ValueError):
        split_fields("A[1,2")


def test_progress_callback(tmp_path: Path) -> None:
    columns, rows = synthetic_report(25_000, seed=3)
    path = tmp_path / "R.DAT"
    write_report(path, columns, rows)
    seen: list[int] = []
    parse_report(path, on_progress=seen.append)
    assert seen == [10_000, 20_000, 25_000]


# --------------------------------------------------------------------------- refusals


def _problem_text(exc: pytest.ExceptionInfo[MesError]) -> str:
    return str(exc.value)


def test_missing_file_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="no such file"):
        parse_report(tmp_path / "nope.DAT")


def test_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="directory"):
        parse_report(tmp_path)


@pytest.mark.parametrize("name", ["empty.DAT"])
def test_empty_file(name: str) -> None:
    with pytest.raises(InvalidInput, match="empty"):
        parse_report(DATA / name)


def test_blank_lines_only(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="empty"):
        parse_report(_write(tmp_path, "\r\n  \r\n"))


def test_binary_file() -> None:
    with pytest.raises(InvalidInput, match=r"binary\.DAT:1: binary data \(byte 0x00\)"):
        parse_report(DATA / "binary.DAT")


def test_utf16_file_is_refused_with_advice() -> None:
    with pytest.raises(InvalidInput, match="UTF-16"):
        parse_report(DATA / "utf16.DAT")


def test_wrong_field_count_names_line() -> None:
    with pytest.raises(ValidationFailed) as exc:
        parse_report(DATA / "wrong_field_count.DAT")
    assert "wrong_field_count.DAT:7: row: 17 values but the header names 18" in str(exc.value)


def test_non_numeric_value_names_line_and_column() -> None:
    with pytest.raises(ValidationFailed) as exc:
        parse_report(DATA / "non_numeric.DAT")
    assert "non_numeric.DAT:8: ActStrCsh: '4O8' is not a number" in str(exc.value)


def test_missing_header() -> None:
    with pytest.raises(ValidationFailed, match="missing header"):
        parse_report(DATA / "missing_header.DAT")


def test_duplicate_column() -> None:
    with pytest.raises(ValidationFailed, match=r":1: ActTimCyc: duplicate column name"):
        parse_report(DATA / "duplicate_column.DAT")


def test_header_without_shots() -> None:
    with pytest.raises(InvalidInput, match="no shots"):
        parse_report(DATA / "header_only.DAT")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("DATE,TIME,ActCntCyc\n2026-11-23,14:03:22,1\n",
         ":2: DATE: '2026-11-23': expected YYYYMMDD"),
        ("DATE,TIME,ActCntCyc\n20261123,14h03,1\n", ":2: TIME: '14h03': expected HH:MM:SS"),
        ("ActCntCyc,ActTimCyc\n1,19.5\n2,\n", ":3: ActTimCyc: empty value"),
        ("ActCntCyc,ActTimCyc\n1,19.5\n2,nan\n", ":3: ActTimCyc: 'nan' is not a number"),
        ("ActCntCyc,ActTimCyc\n1,19.5\n2,1_000\n", ":3: ActTimCyc: '1_000' is not a number"),
        ("ActCntCyc,ActTimCyc\n1,19.5\n2,1e999\n", ":3: ActTimCyc: '1e999' is out of range"),
        ("ActCntCyc,ActTimCyc\n1,19.5\n2,\"19.5\"\n", ":3: ActTimCyc: '19.5' is not a number"),
        ('ActCntCyc,Desc\n1,"a"\n2,b\n', ":3: Desc: 'b': expected a quoted string"),
        ('ActCntCyc,Desc\n1,"a\n', ':2: row: a quoted string is not closed'),
        ("ActCntCyc,ActTimCyc\n1,19.5\n1,19.6\n", ":3: ActCntCyc: cycle 1 repeats line 2"),
        ("ActCntCyc,ActTimCyc\n1.5,19.5\n", ":2: ActCntCyc: 1.5: the cycle counter must be"),
        ("DATE,,ActCntCyc\n20261123,1,1\n", ":1: column 2: empty parameter name"),
        ("DATE,Act Tim,ActCntCyc\n20261123,1,1\n", ":1: column 2: 'Act Tim' is not a EUROMAP"),
        ("DATE,SetTmpBrlZn[1,1\n20261123,1\n", ":1: header: a '[' is not closed"),
    ],
)
def test_refusals_name_line_and_field(tmp_path: Path, body: str, expected: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        parse_report(_write(tmp_path, body))
    assert expected in str(exc.value)


def test_all_bad_lines_are_reported_together(tmp_path: Path) -> None:
    body = "ActCntCyc,ActTimCyc\n1,19.5\n2,x\n3,20.1\n4,y\n"
    with pytest.raises(ValidationFailed) as exc:
        parse_report(_write(tmp_path, body))
    assert [(p.line, p.field) for p in exc.value.problems] == [(3, "ActTimCyc"), (5, "ActTimCyc")]
    assert "(and 1 more problem)" in str(exc.value)


def test_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path, "ActCntCyc\n1\n")

    def deny(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "read_bytes", deny)
    with pytest.raises(InvalidInput, match="cannot be read \\(Permission denied\\)"):
        parse_report(path)


# --------------------------------------------------------------------------- writer / synthetic


def test_round_trip_100k_shots(tmp_path: Path) -> None:
    columns, rows = synthetic_report(100_000, seed=7, window=WINDOW, out_of_window_every=1000)
    path = tmp_path / "REPORTS.DAT"
    assert write_report(path, columns, rows) == 100_000
    report = parse_report(path)
    assert report.columns == columns
    assert len(report.rows) == 100_000
    assert report.rows == rows
    assert report.shot_id(99_999) == 100_000


def test_synthetic_values_are_plausible_and_deterministic() -> None:
    columns, rows = synthetic_report(500, seed=11)
    assert synthetic_report(500, seed=11) == (columns, rows)
    assert columns == synthetic_columns()
    for row in rows:
        assert 18.0 <= float(row["ActTimCyc"]) <= 22.0
        assert 0.8 <= float(row["ActTimFill"]) <= 1.2
        assert 4.0 <= float(row["ActStrCsh"]) <= 6.0
        assert 600.0 <= float(row["ActPrsXfrSpec"]) <= 900.0
        assert 220.0 <= float(row["ActTmpBrlZn[1,1]"]) <= 240.0
    # time advances by the cycle time (whole seconds on the clock)
    assert rows[0]["TIME"] == "06:00:00"
    assert rows[1]["TIME"] in ("06:00:18", "06:00:19", "06:00:20", "06:00:21", "06:00:22")


def test_synthetic_out_of_window_every_nth_shot() -> None:
    _, rows = synthetic_report(100, seed=5, window=WINDOW, out_of_window_every=10)
    outside = [
        i for i, row in enumerate(rows)
        if any(not lo <= float(row[c]) <= hi for c, (lo, hi) in WINDOW.items())
    ]
    assert outside == [9, 19, 29, 39, 49, 59, 69, 79, 89, 99]


def test_synthetic_window_for_extra_parameter() -> None:
    columns, rows = synthetic_report(50, seed=5, window={"ActTmpMld[1]": (40.0, 50.0)})
    assert columns[-1] == "ActTmpMld[1]"
    assert all(40.0 <= float(r["ActTmpMld[1]"]) <= 50.0 for r in rows)


def test_synthetic_refuses_bad_arguments() -> None:
    with pytest.raises(InvalidInput):
        synthetic_report(10, seed=1, out_of_window_every=5)  # no window
    with pytest.raises(InvalidInput):
        synthetic_report(10, seed=1, window={"ActTimCyc": (22.0, 18.0)})


def test_writer_refuses_bad_columns_and_values(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput):
        write_report(tmp_path / "a", ["A", "A"], [])
    with pytest.raises(InvalidInput):
        write_report(tmp_path / "a", ["bad name"], [])
    with pytest.raises(InvalidInput):
        write_report(tmp_path / "a", ["ActTimCyc"], [{"ActTimCyc": float("nan")}])
    with pytest.raises(InvalidInput):
        write_report(tmp_path / "a", ["Desc"], [{"Desc": "two\nlines"}])


def test_writer_wraps_header_with_leading_space(tmp_path: Path) -> None:
    columns, rows = synthetic_report(2, seed=1)
    path = tmp_path / "R.DAT"
    write_report(path, columns, rows, header_width=40)
    lines = path.read_bytes().split(b"\r\n")
    assert lines[1].startswith(b" ") and all(len(ln) <= 41 for ln in lines[:3])
    assert parse_report(path).rows == rows


# --------------------------------------------------------------------------- property

# tmp_path is shared across examples; each example overwrites the same file, which is fine.
_FIXTURE_OK = [HealthCheck.function_scoped_fixture]


@settings(max_examples=300, deadline=None, suppress_health_check=_FIXTURE_OK)
@given(st.binary(max_size=400))
def test_arbitrary_bytes_raise_only_mes_errors(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "fuzz.DAT"
    path.write_bytes(data)
    with contextlib.suppress(MesError):
        parse_report(path)


_report_text = st.lists(
    st.sampled_from(["DATE", "TIME", "ActCntCyc", "SetTmpBrlZn[1,1]", ",", " ", "\n", "\r\n",
                     '"', "[", "]", "1", "2.5", "20261123", "14:03:22", "-", "e", "x", "\t"]),
    max_size=60,
).map("".join)


@settings(max_examples=300, deadline=None, suppress_health_check=_FIXTURE_OK)
@given(_report_text)
def test_report_like_text_raises_only_mes_errors(tmp_path: Path, text: str) -> None:
    path = tmp_path / "fuzz.DAT"
    path.write_text(text, encoding="utf-8")
    with contextlib.suppress(MesError):
        parse_report(path)
