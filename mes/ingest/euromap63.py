"""EUROMAP 63 injection-moulding machine reports (``REPORTS.DAT``), read and written.

A report file is what a machine writes for a ``REPORT ... CYCLIC SHOT 1 PARAMETERS ...`` job:

* line 1 is a header of parameter names separated by commas, e.g.
  ``DATE,TIME,ActCntCyc,ActTimCyc,SetTmpBrlZn[1,1]``. Array names carry a comma inside their
  brackets, so the header is split with a bracket-aware splitter. A long header may continue on
  the following lines; a continuation line starts with a space.
* then one line per shot, values in header order: ``DATE`` as ``YYYYMMDD``, ``TIME`` as
  ``HH:MM:SS``, numbers with a decimal point, strings in double quotes (``""`` escapes a quote).
  Data lines may continue the same way (a line starting with a space).

Decisions (why):

* Encoding: EUROMAP 63 is an ASCII protocol. The file is decoded as UTF-8 (a BOM is allowed) and,
  if that fails, as Latin-1, because Windows-based controllers write quoted strings (mould
  descriptions) in their ANSI code page; numbers, dates and names are ASCII either way, so no
  value can be misread. Files with NUL or other control bytes (binary data, UTF-16 exports) are
  refused.
* Values are strict: an unquoted value must be a finite decimal number (``DATE``/``TIME`` aside),
  a column keeps the kind (number or text) it has in the first shot, and empty values are
  refused. A validated process window must never be checked against a guessed value.
* Shot identity is the cycle counter ``ActCntCyc`` when present; it must be a whole number and
  must not repeat within a file.
* Problems are collected (up to ``MAX_PROBLEMS``) and raised together as ``ValidationFailed``,
  each as ``file:line: column: what is wrong``, so one pass tells the technician everything.

Speed: data lines are matched against one compiled regular expression built from the column
kinds of the first shot (one C-level match per line); only lines that fail it go through the
slow, diagnosing splitter. 100,000 shots parse in well under two seconds.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from mes.errors import InvalidInput, NotFound, Problem, ValidationFailed

Value = float | str
Row = dict[str, Value]

SHOT_COLUMN = "ActCntCyc"
MAX_PROBLEMS = 50
PROGRESS_EVERY = 10_000

_TEXT, _NUMBER, _DATE, _TIME = "text", "number", "date", "time"

# Parameter names: optional vendor '@', identifier, optional index list such as [1,12].
_NAME_RE = re.compile(r"@?[A-Za-z][A-Za-z0-9_.]*(?:\[\d+(?:,\d+)*\])?")
_NUMBER_SRC = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_FIELD_SRC = {
    _NUMBER: rf" *({_NUMBER_SRC}) *",
    _TEXT: r' *"((?:[^"]|"")*)" *',
    _DATE: r" *(\d{8}) *",
    _TIME: r" *(\d{2}:\d{2}:\d{2}) *",
}
_NUMBER_RE = re.compile(_NUMBER_SRC)
_SINGLE_INDEX_RE = re.compile(r"@?[A-Za-z][A-Za-z0-9_.]*\[\d+\]")
_DATE_RE = re.compile(r"\d{8}")
_TIME_RE = re.compile(r"\d{2}:\d{2}:\d{2}")
# Control bytes other than TAB, LF, CR mean the file is not a text report.
_CONTROL_RE = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass
class ShotReport:
    """A parsed report: column names in file order and one row per shot."""

    path: str
    columns: list[str]
    rows: list[Row]
    encoding: str = "utf-8"
    shot_column: str | None = None
    line_numbers: list[int] = field(default_factory=list, repr=False)

    def shot_id(self, index: int) -> int | None:
        """The machine's cycle counter of row ``index``, or None when the report has none."""
        if self.shot_column is None:
            return None
        return int(self.rows[index][self.shot_column])

    def column_for(self, name: str) -> str | None:
        """The column a routing's parameter name reads: the name itself, or the one indexed
        column of that name a machine writes for a single unit (``ActTimFill[1]``)."""
        if name in self.columns:
            return name
        indexed = [c for c in self.columns if _SINGLE_INDEX_RE.fullmatch(c)
                   and c.split("[", 1)[0] == name]
        return indexed[0] if len(indexed) == 1 else None

    def column_kinds(self) -> dict[str, str]:
        """``"number"`` or ``"text"`` per column, from the first shot."""
        if not self.rows:
            return {}
        first = self.rows[0]
        return {c: (_NUMBER if isinstance(first[c], float) else _TEXT) for c in self.columns}


# --------------------------------------------------------------------------- reading


def parse_report(
    path: Path | str, *, on_progress: Callable[[int], None] | None = None
) -> ShotReport:
    """Parse a EUROMAP 63 report file; refuse it with every problem found.

    ``on_progress`` is called with the number of shots parsed so far, every
    ``PROGRESS_EVERY`` shots and once at the end.
    Raises NotFound (no such file), InvalidInput (unreadable, binary, empty) or ValidationFailed.
    """
    path = Path(path)
    name = str(path)
    text, encoding = _decode(_read_bytes(path), name)
    lines = _logical_lines(text)
    if not lines:
        raise _empty(name)
    header_no, header = lines[0]
    columns = _parse_header(header, name, header_no)
    data = [(no, line) for no, line in lines[1:] if line.strip()]
    if not data:
        raise InvalidInput(
            f"{name}:{header_no}: the report has a header but no shots; "
            "import it after the machine has recorded cycles",
            field="file",
        )
    rows, numbers = _parse_rows(columns, data, name, on_progress)
    shot_column = SHOT_COLUMN if SHOT_COLUMN in columns else None
    if shot_column:
        _check_shot_ids(rows, numbers, name)
    return ShotReport(name, columns, rows, encoding, shot_column, numbers)


def _empty(name: str) -> InvalidInput:
    return InvalidInput(f"{name}: the file is empty; export the machine report again", field="file")


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise NotFound(f"{path}: no such file; check the path to the machine report") from None
    except IsADirectoryError:
        raise InvalidInput(f"{path}: is a directory; give the report file itself") from None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise InvalidInput(f"{path}: cannot be read ({reason}); check the file and its permissions",
                           field="file") from None


def _decode(raw: bytes, name: str) -> tuple[str, str]:
    if not raw.strip():
        raise _empty(name)
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise InvalidInput(
            f"{name}: the file is UTF-16 text; save it as ASCII/UTF-8 (the EUROMAP 63 format)",
            field="file",
        )
    bad = _CONTROL_RE.search(raw)
    if bad:
        line = raw.count(b"\n", 0, bad.start()) + 1
        raise InvalidInput(
            f"{name}:{line}: binary data (byte 0x{raw[bad.start()]:02x}) in a text report; "
            "this is not a EUROMAP 63 report file",
            field="file",
        )
    try:
        return raw.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        return raw.decode("latin-1"), "latin-1"


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """Physical lines joined with their continuation lines, each with its first line number."""
    out: list[tuple[int, str]] = []
    for no, line in enumerate(text.split("\n"), start=1):
        line = line.rstrip("\r")
        if line.startswith((" ", "\t")) and out and line.strip():
            first_no, prev = out[-1]
            out[-1] = (first_no, _join_continuation(prev, line.strip()))
        elif line.strip() or out:
            out.append((no, line))
    while out and not out[-1][1].strip():
        out.pop()
    return out


def _join_continuation(prev: str, cont: str) -> str:
    # Machines wrap after a comma; when a wrap falls exactly between two names, add the comma.
    prev = prev.rstrip()
    if prev.endswith(",") or cont.startswith(","):
        return prev + cont
    return prev + "," + cont


def split_fields(line: str) -> list[tuple[str, bool]]:
    """Split one line at commas outside brackets and quotes: ``(text, was_quoted)`` per field.

    Raises ValueError on an unterminated quote or bracket.
    """
    fields: list[tuple[str, bool]] = []
    buf: list[str] = []
    depth, quoted, in_quote, i = 0, False, False, 0
    while i < len(line):
        ch = line[i]
        if in_quote:
            if ch == '"' and line[i + 1 : i + 2] == '"':
                buf.append('"')
                i += 1
            elif ch == '"':
                in_quote = False
            else:
                buf.append(ch)
        elif ch == '"':
            in_quote = quoted = True
        elif ch == "[":
            depth += 1
            buf.append(ch)
        elif ch == "]":
            depth -= 1
            buf.append(ch)
        elif ch == "," and depth == 0:
            fields.append(("".join(buf) if quoted else "".join(buf).strip(), quoted))
            buf, quoted = [], False
        else:
            buf.append(ch)
        i += 1
    if in_quote:
        raise ValueError("a quoted string is not closed")
    if depth != 0:
        raise ValueError("a '[' is not closed")
    fields.append(("".join(buf) if quoted else "".join(buf).strip(), quoted))
    return fields


def _parse_header(header: str, name: str, line_no: int) -> list[str]:
    def refuse(field_name: str, message: str) -> InvalidInput:
        return ValidationFailed([Problem(name, line_no, field_name, message)])

    try:
        fields = split_fields(header)
    except ValueError as exc:
        raise refuse("header", f"{exc}; the header must list parameter names") from None
    columns = [text for text, _ in fields]
    if all(not _NAME_RE.fullmatch(c) for c in columns):
        raise refuse(
            "header",
            "missing header: the first line holds values, not parameter names such as "
            "DATE,TIME,ActCntCyc; export the report with its header line",
        )
    problems: list[Problem] = []
    seen: set[str] = set()
    for pos, col in enumerate(columns, start=1):
        if not col:
            problems.append(Problem(name, line_no, f"column {pos}", "empty parameter name"))
        elif not _NAME_RE.fullmatch(col):
            problems.append(Problem(name, line_no, f"column {pos}",
                                    f"{col!r} is not a EUROMAP 63 parameter name"))
        elif col in seen:
            problems.append(Problem(name, line_no, col,
                                    "duplicate column name; each parameter may appear once"))
        seen.add(col)
    if problems:
        raise ValidationFailed(problems)
    return columns


def _kind_of(column: str, text: str, quoted: bool) -> str:
    if column == "DATE":
        return _DATE
    if column == "TIME":
        return _TIME
    return _TEXT if quoted else _NUMBER


def _row_regex(kinds: Sequence[str]) -> re.Pattern[str]:
    return re.compile(",".join(_FIELD_SRC[k] for k in kinds))


def _parse_rows(
    columns: list[str],
    data: list[tuple[int, str]],
    name: str,
    on_progress: Callable[[int], None] | None,
) -> tuple[list[Row], list[int]]:
    kinds = _first_row_kinds(columns, data[0], name)
    matcher = _row_regex(kinds).fullmatch
    numeric = [i for i, k in enumerate(kinds) if k == _NUMBER]
    text_cols = [i for i, k in enumerate(kinds) if k == _TEXT]
    calendar = [(i, k) for i, k in enumerate(kinds) if k in (_DATE, _TIME)]
    valid: set[str] = set()  # dates and times already checked (a report has few distinct)
    rows: list[Row] = []
    numbers: list[int] = []
    problems: list[Problem] = []
    for line_no, line in data:
        m = matcher(line)
        if m is not None:
            values: list[Value] = list(m.groups())
            for i in numeric:
                values[i] = float(values[i])
            for i in text_cols:
                values[i] = _unquote(str(values[i]))
            wrong = [(i, k) for i, k in calendar if values[i] not in valid
                     and not _real_calendar(k, str(values[i]), valid)]
            if wrong:
                problems.extend(Problem(name, line_no, columns[i], _calendar_problem(
                    k, str(values[i]))) for i, k in wrong)
                if len(problems) >= MAX_PROBLEMS:
                    break
                continue
            if _all_finite(values, numeric):
                rows.append(dict(zip(columns, values, strict=True)))
                numbers.append(line_no)
                if on_progress is not None and len(rows) % PROGRESS_EVERY == 0:
                    on_progress(len(rows))
                continue
        problems.extend(_diagnose(columns, kinds, line, line_no, name))
        if len(problems) >= MAX_PROBLEMS:
            break
    if problems:
        raise ValidationFailed(problems[:MAX_PROBLEMS])
    if on_progress is not None:
        on_progress(len(rows))
    return rows, numbers


def _real_calendar(kind: str, text: str, valid: set[str]) -> bool:
    """A DATE (YYYYMMDD) or TIME (HH:MM:SS) that exists on the calendar; remembered."""
    try:
        if kind == _DATE:
            date(int(text[:4]), int(text[4:6]), int(text[6:8]))
        elif not (int(text[:2]) < 24 and int(text[3:5]) < 60 and int(text[6:8]) < 60):
            return False
    except ValueError:
        return False
    valid.add(text)
    return True


def _calendar_problem(kind: str, text: str) -> str:
    if kind == _DATE:
        return f"{text!r} is not a calendar date (YYYYMMDD)"
    return f"{text!r} is not a time of day (HH:MM:SS, 00:00:00 to 23:59:59)"


def _unquote(text: str) -> str:
    return text.replace('""', '"') if '"' in text else text


def _all_finite(values: list[Value], numeric: list[int]) -> bool:
    # One sum is cheaper than a check per value; only a huge or non-finite value gets here twice.
    total = sum(values[i] for i in numeric)  # type: ignore[misc]
    if math.isfinite(total):
        return True
    return all(math.isfinite(values[i]) for i in numeric)  # type: ignore[arg-type]


def _first_row_kinds(columns: list[str], first: tuple[int, str], name: str) -> list[str]:
    line_no, line = first
    try:
        fields = split_fields(line)
    except ValueError as exc:
        raise ValidationFailed([Problem(name, line_no, "row", str(exc))]) from None
    if len(fields) != len(columns):
        raise ValidationFailed([_count_problem(columns, fields, line_no, name)])
    return [_kind_of(c, t, q) for c, (t, q) in zip(columns, fields, strict=True)]


def _count_problem(
    columns: list[str], fields: list[tuple[str, bool]], line_no: int, name: str
) -> Problem:
    return Problem(
        name, line_no, "row",
        f"{len(fields)} values but the header names {len(columns)} parameters; "
        "the line is truncated or the header does not belong to this report",
    )


def _diagnose(
    columns: list[str], kinds: list[str], line: str, line_no: int, name: str
) -> list[Problem]:
    """Say precisely why a line failed the fast match (slow path, bad lines only)."""
    try:
        fields = split_fields(line)
    except ValueError as exc:
        return [Problem(name, line_no, "row", str(exc))]
    if len(fields) != len(columns):
        return [_count_problem(columns, fields, line_no, name)]
    problems = []
    for col, kind, (text, quoted) in zip(columns, kinds, fields, strict=True):
        message = _value_problem(kind, text, quoted)
        if message:
            problems.append(Problem(name, line_no, col, message))
    return problems or [Problem(name, line_no, "row", "cannot be read as a report line")]


def _value_problem(kind: str, text: str, quoted: bool) -> str | None:
    if kind == _TEXT:
        return None if quoted else f"{text!r}: expected a quoted string like the first shot"
    if not text and not quoted:
        return "empty value; the machine did not record this parameter"
    if kind == _DATE:
        return None if _DATE_RE.fullmatch(text) and not quoted else f"{text!r}: expected YYYYMMDD"
    if kind == _TIME:
        return None if _TIME_RE.fullmatch(text) and not quoted else f"{text!r}: expected HH:MM:SS"
    if quoted or not _NUMBER_RE.fullmatch(text):
        return f"{text!r} is not a number; this parameter is numeric"
    if not math.isfinite(float(text)):
        return f"{text!r} is out of range"
    return None


def _check_shot_ids(rows: list[Row], numbers: list[int], name: str) -> None:
    problems: list[Problem] = []
    first_line: dict[float, int] = {}
    for row, line_no in zip(rows, numbers, strict=True):
        shot = row[SHOT_COLUMN]
        if not isinstance(shot, float) or not shot.is_integer():
            problems.append(Problem(name, line_no, SHOT_COLUMN,
                                    f"{shot!r}: the cycle counter must be a whole number"))
        elif shot in first_line:
            problems.append(Problem(
                name, line_no, SHOT_COLUMN,
                f"cycle {int(shot)} repeats line {first_line[shot]}; a shot may appear once "
                "(was the counter reset? split the report at the reset)",
            ))
        else:
            first_line[shot] = line_no
        if len(problems) >= MAX_PROBLEMS:
            break
    if problems:
        raise ValidationFailed(problems)


# --------------------------------------------------------------------------- writing


def _format_value(column: str, value: Value) -> str:
    if isinstance(value, str):
        if column in ("DATE", "TIME"):
            return value
        if "\n" in value or "\r" in value:
            raise InvalidInput(f"{column}: a report string cannot hold a line break", field=column)
        return '"' + value.replace('"', '""') + '"'
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(f"{column}: {value!r} is neither a number nor a string", field=column)
    number = float(value)
    if not math.isfinite(number):
        raise InvalidInput(f"{column}: {value!r} cannot be written to a report", field=column)
    if number.is_integer() and abs(number) < 1e15:
        return str(int(number))
    return repr(number)


def _wrap_header(columns: Sequence[str], width: int | None) -> list[str]:
    if width is None:
        return [",".join(columns)]
    lines: list[str] = []
    current = ""
    for col in columns:
        piece = col if not current else "," + col
        if current and len(current) + len(piece) > width:
            lines.append(current + ",")
            current = " " + col  # continuation lines start with a space
        else:
            current += piece
    lines.append(current)
    return lines


def write_report(
    path: Path | str,
    columns: Sequence[str],
    rows: Iterable[Mapping[str, Value]],
    *,
    header_width: int | None = 80,
) -> int:
    """Write a report in the machine's format (CRLF lines, header wrapped at ``header_width``).

    Returns the number of shots written. Strings are quoted except DATE and TIME.
    """
    if len(set(columns)) != len(columns):
        raise InvalidInput("duplicate column names", field="columns")
    for col in columns:
        if not _NAME_RE.fullmatch(col):
            raise InvalidInput(f"{col!r} is not a EUROMAP 63 parameter name", field="columns")
    count = 0
    with open(path, "w", encoding="utf-8", newline="\r\n") as out:
        out.write("\n".join(_wrap_header(columns, header_width)) + "\n")
        for row in rows:
            out.write(",".join(_format_value(c, row[c]) for c in columns) + "\n")
            count += 1
    return count


# --------------------------------------------------------------------------- synthetic data

# Plausible spreads for a small medical part (PP/PC housing), EUROMAP 63 names.
_DEFAULT_RANGES: dict[str, tuple[float, float, int]] = {
    "ActTimCyc": (18.0, 22.0, 2),  # s
    "ActTimFill": (0.8, 1.2, 3),  # s
    "ActTimPlst": (5.5, 7.0, 2),  # s, screw recovery
    "ActStrCsh": (4.0, 6.0, 2),  # mm, cushion
    "ActPrsXfrSpec": (600.0, 900.0, 1),  # bar, specific pressure at V/P transfer
    "ActTmpBrlZn[1,1]": (236.0, 240.0, 1),  # degC, nozzle side
    "ActTmpBrlZn[1,2]": (231.0, 235.0, 1),
    "ActTmpBrlZn[1,3]": (226.0, 230.0, 1),
    "ActTmpBrlZn[1,4]": (220.0, 224.0, 1),  # feed side
}
_SETPOINTS = {"SetTmpBrlZn[1,1]": 238.0, "SetTmpBrlZn[1,2]": 233.0,
              "SetTmpBrlZn[1,3]": 228.0, "SetTmpBrlZn[1,4]": 222.0}
_CAVITIES = 4


def synthetic_columns(window: Mapping[str, tuple[float, float]] | None = None) -> list[str]:
    """The columns ``synthetic_report`` produces (window names not in the defaults appended)."""
    base = ["DATE", "TIME", "ActCntCyc", "ActCntPrt", "ActStsMach",
            *_DEFAULT_RANGES, *_SETPOINTS]
    return base + [c for c in (window or {}) if c not in base]


def synthetic_report(
    n_shots: int,
    *,
    seed: int,
    window: Mapping[str, tuple[float, float]] | None = None,
    out_of_window_every: int | None = None,
    start: datetime | None = None,
    first_cycle: int = 1,
) -> tuple[list[str], list[Row]]:
    """Realistic shots for demos and benchmarks: ``(columns, rows)``, deterministic per seed.

    Windowed parameters (``window``: column -> (low, high)) stay inside the central 80 % of
    their window; every ``out_of_window_every``-th shot has one windowed parameter (taken in
    turn) pushed 5-15 % of the window's width outside it. Date and time advance by each
    shot's cycle time from ``start`` (default 2026-11-23 06:00:00, plant local time).
    """
    if n_shots < 0:
        raise InvalidInput("n_shots must not be negative", field="n_shots")
    if out_of_window_every is not None and (out_of_window_every < 1 or not window):
        raise InvalidInput("out_of_window_every needs a window and must be at least 1",
                           field="out_of_window_every")
    window = dict(window or {})
    for col, (lo, hi) in window.items():
        if not lo < hi:
            raise InvalidInput(f"window for {col}: low must be below high", field=col)
    rng = random.Random(seed)
    columns = synthetic_columns(window)
    windowed = list(window)
    clock = start or datetime(2026, 11, 23, 6, 0, 0)
    elapsed = 0.0
    rows: list[Row] = []
    for k in range(n_shots):
        cycle = first_cycle + k
        row: Row = {}
        for col in columns[5:]:
            row[col] = _synthetic_value(col, window.get(col), rng)
        if out_of_window_every and (k + 1) % out_of_window_every == 0:
            col = windowed[((k + 1) // out_of_window_every - 1) % len(windowed)]
            row[col] = _outside(window[col], rng)
        when = clock + timedelta(seconds=elapsed)
        row["DATE"] = f"{when.year:04d}{when.month:02d}{when.day:02d}"
        row["TIME"] = f"{when.hour:02d}:{when.minute:02d}:{when.second:02d}"
        row["ActCntCyc"] = float(cycle)
        row["ActCntPrt"] = float(cycle * _CAVITIES)
        row["ActStsMach"] = "0A000"  # automatic mode, no alarm
        elapsed += float(row.get("ActTimCyc", 20.0))
        rows.append({c: row[c] for c in columns})
    return columns, rows


def _synthetic_value(col: str, win: tuple[float, float] | None, rng: random.Random) -> float:
    if col in _SETPOINTS:
        return _SETPOINTS[col]
    digits = _DEFAULT_RANGES.get(col, (0.0, 0.0, 2))[2]
    if win is not None:
        lo, hi = win
        margin = (hi - lo) * 0.1
        lo, hi = lo + margin, hi - margin
    else:
        lo, hi = _DEFAULT_RANGES[col][:2]
    mid, half = (lo + hi) / 2, (hi - lo) / 2
    value = min(hi, max(lo, rng.gauss(mid, half / 2.5)))
    rounded = round(value, digits)
    return rounded if lo <= rounded <= hi else value  # rounding must not leave the window


def _outside(win: tuple[float, float], rng: random.Random) -> float:
    lo, hi = win
    width = hi - lo
    offset = width * rng.uniform(0.05, 0.15)
    value = hi + offset if rng.random() < 0.5 else lo - offset
    rounded = round(value, 3)
    return rounded if not lo <= rounded <= hi else value
