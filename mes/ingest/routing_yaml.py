"""Part catalogs and routings written by people in YAML, read with line numbers.

A file is either a catalog (top-level ``parts:``) or one routing (top-level ``routing:``),
never both. Every problem in a file is reported at once, each with its line and a field
path such as ``routing.operations[3].data[0].max`` (indexes count from 0), so an engineer
fixes a file in one pass instead of one error per run.

Format (the contract; comments are welcome anywhere)::

    # ---- catalog file ----
    parts:
      - number: CAP-100N-0402       # required; [0-9A-Z-]{1,20} (GS1 AI 10/21 safe)
        name: Capacitor 100 nF 0402 # required
        kind: component             # required: component | subassembly | device | firmware
        unit: ea                    # default ea
        unit_cost: 0.02             # purchased parts only, workspace currency (MAD), >= 0
        origin: CN                  # purchased parts only, ISO 3166 alpha-2, capitals
        incoming_inspection: true   # default true; false = lots released on receipt
        description: ...
      - number: DEV-OXI-100
        kind: device                # a device needs gtin and ref (UDI label, REF symbol)
        ref: OXS-100
        gtin: "06111234500014"      # GTIN-14, quote it; mod-10 check digit verified
                                    # (optional on a subassembly: its EPC in EPCIS)
        serialized: true            # default false
        serial_prefix: SN-          # only with serialized; [0-9A-Z-]{0,14}
        shelf_life_days: 1825       # > 0

    # ---- routing file ----
    routing:
      part: PCBA-OXI-100            # required
      description: ...
      operations:                   # required, at least one, op numbers strictly increasing
        - op: 10                    # required, 1..9999
          name: Solder paste print  # required
          station_type: smt-printer # required; [a-z0-9][a-z0-9-]*
          activity: smt             # default other; see model.Activity
          conversion_cost: 1.20     # per unit, >= 0 (local value when done in MA)
          ideal_cycle_s: 20         # seconds per unit (per shot when molding) at the rated
                                    # pace, > 0: OEE performance in `mes report efficiency`
          result_required: true     # default true
          optional: false           # default false
          serialize: false          # serial numbers are assigned here (one op at most)
          label: false              # labels are printed here
          origin_conferring: false  # never on labeling / packing / kitting (DESIGN §8)
          flash: {part: FW-OXI, versions: ["1.4.2"]}   # only and always on activity flashing
          molding: {cavities: 4, hold_reject_rate_pct: 2.0, mold: M-ENC-01}
                                    # only and always on activity molding; then every data
                                    # spec names its EUROMAP 63 column (euromap:)
          consumes:
            - {part: PASTE-SAC305, qty: 0.35, by_serial: false}   # qty > 0 per unit made
          data:
            - {name: paste_height_um, type: float, unit: um, min: 100, max: 150,
               required: true, euromap: ActTimCyc}
                                    # name [a-z][a-z0-9_]*; type float|int|str|bool;
                                    # min/max only for float/int, min <= max

YAML details: ``null`` (or an empty value) means "not given"; text fields take the text as
written (``versions: [1.40]`` is "1.40", ``gtin: 0611...`` keeps its leading zero);
numbers must be written as numbers (``"120"`` in quotes is text and refused); anchors,
aliases and ``<<`` merge keys work; other tags (``!foo``) are refused.
"""

from __future__ import annotations

import difflib
import hashlib
import math
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import MISSING, asdict, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, Literal, NoReturn, TypeAlias, TypeGuard, get_args

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from mes.domain.model import (
    NON_CONFERRING_ACTIVITIES,
    Activity,
    BomLine,
    DataSpec,
    DataType,
    FlashSpec,
    Labeling,
    MoldingSpec,
    Operation,
    PackLevel,
    Part,
    PartKind,
    Routing,
    SpcSpec,
)
from mes.domain.spc import ACTIONS as SPC_ACTIONS
from mes.domain.spc import CHARTS as SPC_CHARTS
from mes.domain.spc import MAX_SUBGROUP as SPC_MAX_SUBGROUP
from mes.domain.spc import RULE_SETS as SPC_RULE_SETS
from mes.domain.words import limits
from mes.errors import InvalidInput, MesError, NotFound, Problem, ValidationFailed

__all__ = [
    "LoadedFile",
    "catalog_to_yaml_dict",
    "diff_routings",
    "dump_yaml",
    "gtin_check_digit",
    "load_bytes",
    "load_file",
    "load_text",
    "routing_to_yaml_dict",
]

MAX_BYTES = 2_000_000  # a routing is a few kB; refuse anything that is clearly not one
MAX_VISITS = 200_000  # mappings and list entries checked per file

IDENT_RE = re.compile(r"[0-9A-Z-]{1,20}")  # DESIGN §6: valid in GS1 AI (10)/(21), file names
# Serials are prefix + 6 digits (mes.domain.ids.serial_number) and must stay IDENT_RE.
SERIAL_PREFIX_RE = re.compile(r"[0-9A-Z-]{0,14}")
STATION_TYPE_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")
# Data names are typed at the station (`--data peak_temp_c=245`) and used as JSON keys.
DATA_NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,39}")
# EUROMAP 63 parameter names: ActTimCyc, SetTmpBrlZn[1,1]
EUROMAP_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]*(\[[0-9]+(,[0-9]+)*\])?")
# Printed in GS1 AI (8012): at most 20 characters; keep to a safe subset.
VERSION_RE = re.compile(r"[0-9A-Za-z][0-9A-Za-z.+_-]{0,19}")

# ISO 3166-1 alpha-2, officially assigned codes (249). "UK" and "EU" are not among them.
_ISO_3166_TABLE = """
AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS
BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE
EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM
HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC
LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA
NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW
SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO
TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW
"""
ISO_3166_ALPHA2 = frozenset(_ISO_3166_TABLE.split())
_COUNTRY_HINTS = {"UK": "GB", "EL": "GR", "EU": "the country where it was made"}

PART_KINDS: tuple[str, ...] = get_args(PartKind)
ACTIVITIES: tuple[str, ...] = get_args(Activity)
DATA_TYPES: tuple[str, ...] = get_args(DataType)
MADE_KINDS = frozenset({"subassembly", "device"})  # parts with a routing; cost is rolled up

_T = "tag:yaml.org,2002:"
_STR, _INT, _FLOAT, _BOOL, _NULL = (_T + t for t in ("str", "int", "float", "bool", "null"))
_MAP, _SEQ, _MERGE = _T + "map", _T + "seq", _T + "merge"
# Timestamps resolve implicitly (e.g. a version "2024-01-02"); text fields take them as text.
_SCALAR_TAGS = frozenset({_STR, _INT, _FLOAT, _BOOL, _NULL, _T + "timestamp"})

# Only its scalar helpers are used (bool/int/float spelling rules of YAML 1.1).
_CONSTRUCTOR = SafeConstructor()

FILE_FIELD = "(file)"
YAML_FIELD = "(yaml)"


@dataclass(frozen=True)
class LoadedFile:
    """One checked file: its model objects plus the exact text, stored for audit."""

    path: str
    kind: Literal["catalog", "routing"]
    text: str
    sha256: str  # of the file's bytes (UTF-8)
    parts: list[Part] = field(default_factory=list)
    routing: Routing | None = None


# --------------------------------------------------------------------------------------
# Entry points


def load_file(path: Path, *, catalog: Mapping[str, Part] | None = None) -> LoadedFile:
    """Read and check one catalog or routing file.

    With `catalog` (part number -> Part), a routing's part references are checked too
    (exists, by_serial parts are serialized, flash parts are firmware), with line numbers.
    Raises NotFound (missing file), ValidationFailed (every problem) or InvalidInput.
    """
    with _only_mes_errors(str(path)):
        data = _read(Path(path))
    return load_bytes(data, str(path), catalog=catalog)


def load_bytes(data: bytes, file: str, *, catalog: Mapping[str, Part] | None = None) -> LoadedFile:
    with _only_mes_errors(file):
        return _load(_decode(data, file), file, hashlib.sha256(data).hexdigest(), catalog)


def load_text(
    text: str, file: str = "<text>", *, catalog: Mapping[str, Part] | None = None
) -> LoadedFile:
    with _only_mes_errors(file):
        if len(text) > MAX_BYTES:
            raise InvalidInput(f"{file}: larger than {MAX_BYTES} characters: not a routing file")
        try:
            digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        except UnicodeEncodeError:  # lone surrogates: could never have come from a file
            _fail(file, None, FILE_FIELD, "text is not valid Unicode")
        return _load(text, file, digest, catalog)


@contextmanager
def _only_mes_errors(file: str) -> Iterator[None]:
    """Callers rely on MesError only; anything else is our bug, reported as internal (exit 1)."""
    try:
        yield
    except MesError:
        raise
    except RecursionError as e:  # the composer recurses once per nesting level
        raise ValidationFailed([Problem(file, None, YAML_FIELD, "nested too deeply")]) from e
    except Exception as e:
        raise MesError(f"{file}: internal error while reading the file: {e!r}") from e


def _read(path: Path) -> bytes:
    try:
        if path.stat().st_size > MAX_BYTES:
            raise InvalidInput(f"{path}: larger than {MAX_BYTES} bytes: not a routing file")
        return path.read_bytes()
    except (FileNotFoundError, NotADirectoryError) as e:
        raise NotFound(f"{path}: no such file") from e
    except IsADirectoryError as e:
        raise InvalidInput(f"{path} is a directory: give a .yaml file") from e
    except OSError as e:
        raise InvalidInput(f"{path}: cannot read: {e.strerror or e}") from e


def _fail(file: str, line: int | None, where: str, message: str) -> NoReturn:
    raise ValidationFailed([Problem(file, line, where, message)])


def _decode(data: bytes, file: str) -> str:
    if len(data) > MAX_BYTES:
        raise InvalidInput(f"{file}: larger than {MAX_BYTES} bytes: not a routing file")
    if b"\x00" in data:  # also catches UTF-16, which editors on Windows sometimes write
        line = data[: data.index(b"\x00")].count(b"\n") + 1
        _fail(file, line, FILE_FIELD, "binary data (NUL byte): expected a UTF-8 text file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        _fail(file, line, FILE_FIELD,
              f"not UTF-8 text (byte 0x{data[e.start]:02x}): save the file as UTF-8")


def _load(text: str, file: str, digest: str, catalog: Mapping[str, Part] | None) -> LoadedFile:
    root = _compose(text, file)
    ch = _Checker(file, catalog)
    kind, parts, routing = _document(ch, root)
    if ch.problems:
        # Cross-checks run after the walk; people read a file top to bottom.
        raise ValidationFailed(sorted(ch.problems, key=lambda p: p.line or 0))
    return LoadedFile(path=file, kind=kind, text=text, sha256=digest, parts=parts, routing=routing)


def _compose(text: str, file: str) -> Node:
    """The node tree keeps every node's start mark: that is where line numbers come from."""
    loader: yaml.SafeLoader | None = None
    try:
        loader = yaml.SafeLoader(text)  # checks for unprintable characters already
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as e:
        _fail(file, e.problem_mark.line + 1 if e.problem_mark else None, YAML_FIELD,
              _syntax_message(e))
    except yaml.reader.ReaderError as e:
        line = text[: e.position].count("\n") + 1
        _fail(file, line, YAML_FIELD, f"character {e.character!r} is not allowed in YAML text")
    except yaml.YAMLError as e:
        _fail(file, None, YAML_FIELD, f"YAML syntax error: {e}")
    finally:
        if loader is not None:
            loader.dispose()
    if node is None:
        _fail(file, None, FILE_FIELD,
              "the file is empty: expected parts: (a catalog) or routing: (one routing)")
    return node


def _syntax_message(e: yaml.MarkedYAMLError) -> str:
    problem = e.problem or "invalid YAML"
    msg = f"YAML syntax error: {problem}"
    if e.problem_mark is not None:
        msg += f" (column {e.problem_mark.column + 1})"
    if e.context and e.context_mark is not None:
        msg += f", {e.context} on line {e.context_mark.line + 1}"
    if "'\\t'" in problem:
        msg += ": indent with spaces, not tabs"
    return msg


# --------------------------------------------------------------------------------------
# Node access: every reader reports its own problems and returns None when it cannot
# give a value, so checking goes on and every problem of the file is found.


def _line(node: Node) -> int:
    return int(node.start_mark.line) + 1


def _is_null(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag == _NULL


def _describe(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    if node.tag == _NULL:
        return "nothing"
    if node.tag == _STR:
        return f"text {node.value!r}"
    return f"{node.value}"


def _a(noun: str) -> str:
    return f"an {noun}" if noun[:1] in "aeiou" else f"a {noun}"


def _did_you_mean(word: str, choices: Any) -> str:
    by_lower = {str(c).lower(): str(c) for c in choices}
    close = difflib.get_close_matches(word.lower(), list(by_lower), n=1, cutoff=0.6)
    return f" (did you mean {by_lower[close[0]]!r}?)" if close else ""


Reader: TypeAlias = Callable[["_Checker", Node, str], Any]


@dataclass(frozen=True)
class _Schema:
    what: str  # "part", "operation"…, for messages
    fields: Mapping[str, Reader]
    required: tuple[str, ...] = ()


@dataclass
class _Record:
    """A checked mapping: the valid values, and every value's node for line numbers."""

    path: str
    node: Node
    values: dict[str, Any] = field(default_factory=dict)
    nodes: dict[str, Node] = field(default_factory=dict)
    complete: bool = True  # every required key is present and valid

    def given(self, key: str) -> bool:
        """The key is there with a value (valid or not); `key:` alone means not given."""
        return key in self.nodes and not _is_null(self.nodes[key])

    def at(self, key: str) -> Node:
        return self.nodes.get(key, self.node)

    def sub(self, key: str) -> str:
        return f"{self.path}.{key}"


@dataclass(frozen=True)
class _Item:
    """One valid list element with where it came from."""

    value: Any
    node: Node
    path: str


class _Checker:
    def __init__(self, file: str, catalog: Mapping[str, Part] | None = None) -> None:
        self.file = file
        self.catalog = catalog
        self.problems: list[Problem] = []
        self.visits = 0
        # Every valid op number with its item, even of operations with other problems, so
        # that order and duplicates are checked on all of them.
        self.op_numbers: list[_Item] = []

    def report(self, node: Node | None, where: str, message: str) -> None:
        self.problems.append(
            Problem(self.file, _line(node) if node is not None else None, where, message))

    # -- structure

    def pairs(self, node: Node, path: str) -> list[tuple[str, Node, Node]] | None:
        """Key/value pairs of a mapping; duplicate and non-text keys reported, merges resolved."""
        if not self.collection(node, path, MappingNode, _MAP, "a mapping (key: value lines)"):
            return None
        assert isinstance(node, MappingNode)
        merged: dict[str, tuple[str, Node, Node]] = {}
        for pair in self._merged(node, path, {id(node)}):
            merged.setdefault(pair[0], pair)  # the first merged mapping wins, as in YAML
        explicit: dict[str, tuple[str, Node, Node]] = {}
        for knode, vnode in node.value:
            if knode.tag == _MERGE:
                continue
            key = self._key(knode, path)
            if key is None:
                continue
            if key in explicit:
                self.report(knode, f"{path}.{key}",
                            f"{key}: appears twice (first on line {_line(explicit[key][1])})")
                continue
            explicit[key] = (key, knode, vnode)
        return list({**merged, **explicit}.values())  # explicit keys override merged ones

    def _merged(self, node: MappingNode, path: str, seen: set[int]) -> list[tuple[str, Node, Node]]:
        out: list[tuple[str, Node, Node]] = []
        for knode, vnode in node.value:
            if knode.tag != _MERGE:
                continue
            sources = vnode.value if isinstance(vnode, SequenceNode) else [vnode]
            for src in sources:
                if not isinstance(src, MappingNode) or id(src) in seen:
                    self.report(vnode, path, "<< must merge a mapping (or a list of mappings)")
                    continue
                # A source's own keys override what it merges itself: they come first.
                for k, v in src.value:
                    key = self._key(k, path) if k.tag != _MERGE else None
                    if key is not None:
                        out.append((key, k, v))
                out += self._merged(src, path, seen | {id(src)})
        return out

    def _key(self, knode: Node, path: str) -> str | None:
        if not isinstance(knode, ScalarNode) or knode.tag == _NULL or not knode.value:
            self.report(knode, path, f"a key must be a plain name, got {_describe(knode)}")
            return None
        return str(knode.value)

    def sequence(self, node: Node, path: str) -> list[Node] | None:
        if not self.collection(node, path, SequenceNode, _SEQ, "a list ('- ' lines or [a, b])"):
            return None
        self.spend(len(node.value))
        return list(node.value)

    def collection(self, node: Node, path: str, cls: type[Node], tag: str, what: str) -> bool:
        if not isinstance(node, cls):
            self.report(node, path, f"expected {what}, got {_describe(node)}")
            return False
        if node.tag != tag:
            self.report(node, path, f"YAML tag {node.tag!r} is not allowed here")
            return False
        return True

    def spend(self, visits: int) -> None:
        """Aliases can make a small file expand enormously (billion laughs): cap the work."""
        self.visits += visits
        if self.visits > MAX_VISITS:
            self.report(None, FILE_FIELD, "too many entries (aliases expand too far)")
            raise ValidationFailed(self.problems)

    def record(self, node: Node, path: str, schema: _Schema) -> _Record | None:
        pairs = self.pairs(node, path)
        if pairs is None:
            return None
        self.spend(1)
        rec = _Record(path, node)
        for key, knode, vnode in pairs:
            reader = schema.fields.get(key)
            if reader is None:
                self.report(knode, f"{path}.{key}", f"unknown key {key!r} in {_a(schema.what)}"
                            f"{_did_you_mean(key, schema.fields)}")
                continue
            rec.nodes[key] = vnode
            value = None if _is_null(vnode) else reader(self, vnode, rec.sub(key))
            if value is not None:
                rec.values[key] = value
        for key in schema.required:
            if key in rec.values:
                continue
            rec.complete = False
            if key not in rec.nodes:
                self.report(node, rec.sub(key), f"missing: {_a(schema.what)} needs {key}:")
            elif _is_null(rec.nodes[key]):
                self.report(rec.nodes[key], rec.sub(key), f"{key}: has no value")
        return rec

    # -- scalars

    def scalar(self, node: Node, path: str, expected: str) -> TypeGuard[ScalarNode]:
        if not isinstance(node, ScalarNode):
            self.report(node, path, f"expected {expected}, got {_describe(node)}")
            return False
        if node.tag not in _SCALAR_TAGS:
            self.report(node, path, f"YAML tag {node.tag!r} is not allowed here")
            return False
        return True


# --------------------------------------------------------------------------------------
# Value readers (Reader): (checker, node, path) -> value or None (problem reported)


def _text(ch: _Checker, node: Node, path: str) -> str | None:
    # The text as written: `1.40` stays "1.40", `0611…` keeps its zero, `yes` stays "yes".
    if not ch.scalar(node, path, "text"):
        return None
    value = str(node.value)
    if not value.strip():
        ch.report(node, path, "must not be empty")
        return None
    return value


def _matching(regex: re.Pattern[str], rule: str) -> Reader:
    def read(ch: _Checker, node: Node, path: str) -> str | None:
        value = _text(ch, node, path)
        if value is not None and not regex.fullmatch(value):
            ch.report(node, path, f"{value!r} is not valid: {rule}")
            return None
        return value
    return read


_ident = _matching(IDENT_RE, "use 1-20 characters among 0-9, A-Z and '-'")


def _one_of(choices: tuple[str, ...]) -> Reader:
    def read(ch: _Checker, node: Node, path: str) -> str | None:
        value = _text(ch, node, path)
        if value is not None and value not in choices:
            ch.report(node, path, f"{value!r} is not one of {', '.join(choices)}"
                      f"{_did_you_mean(value, choices)}")
            return None
        return value
    return read


def _boolean(ch: _Checker, node: Node, path: str) -> bool | None:
    if not ch.scalar(node, path, "true or false"):
        return None
    if node.tag != _BOOL:
        ch.report(node, path, f"expected true or false, got {_describe(node)}")
        return None
    return bool(_CONSTRUCTOR.construct_yaml_bool(node))


def _numeric(ch: _Checker, node: Node, path: str, whole: bool) -> int | float | None:
    expected = "a whole number" if whole else "a number"
    if not ch.scalar(node, path, expected):
        return None
    if node.tag not in ((_INT,) if whole else (_INT, _FLOAT)):
        quoted = " (numbers are written without quotes)" if node.tag == _STR else ""
        ch.report(node, path, f"expected {expected}, got {_describe(node)}{quoted}")
        return None
    raw = str(node.value)
    try:
        if node.tag == _INT:
            # Plain decimal, so `op: 010` is 10 and not YAML 1.1's octal 8.
            digits = raw.replace("_", "")
            value: int | float = (int(digits, 10) if re.fullmatch(r"[-+]?[0-9]+", digits)
                                  else int(_CONSTRUCTOR.construct_yaml_int(node)))
        else:
            value = float(_CONSTRUCTOR.construct_yaml_float(node))
        finite = math.isfinite(float(value))
    except (ValueError, OverflowError):
        finite = False
    if not finite:
        ch.report(node, path, f"{raw} is not a usable number")
        return None
    return value


def _integer(lo: int, hi: int) -> Reader:
    def read(ch: _Checker, node: Node, path: str) -> int | None:
        value = _numeric(ch, node, path, whole=True)
        if value is not None and not lo <= value <= hi:
            ch.report(node, path, f"{value} is out of range: it must be {limits(lo, hi)}")
            return None
        return None if value is None else int(value)
    return read


def _number(lo: float | None = None, hi: float | None = None, positive: bool = False) -> Reader:
    def read(ch: _Checker, node: Node, path: str) -> float | None:
        value = _numeric(ch, node, path, whole=False)
        if value is None:
            return None
        if positive and value <= 0:
            ch.report(node, path, f"{value} must be greater than 0")
            return None
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            ch.report(node, path, f"{value} is out of range: it must be {limits(lo, hi)}")
            return None
        return float(value)
    return read


def gtin_check_digit(first13: str) -> int:
    """GS1 mod-10: weights 3,1,3,… from the right over the first 13 digits (DESIGN §6)."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(first13)))
    return (10 - total % 10) % 10


def _gtin(ch: _Checker, node: Node, path: str) -> str | None:
    value = _text(ch, node, path)
    if value is None:
        return None
    if not re.fullmatch(r"[0-9]{14}", value):
        ch.report(node, path, f"{value!r} is not a GTIN-14: 14 digits, in quotes "
                  "(a GTIN-13 gets a leading 0)")
        return None
    expected = gtin_check_digit(value[:13])
    if int(value[13]) != expected:
        ch.report(node, path, f"GTIN {value} has check digit {value[13]}, expected {expected}: "
                  "copy it again from the GS1 allocation")
        return None
    return value


def _country(ch: _Checker, node: Node, path: str) -> str | None:
    value = _text(ch, node, path)
    if value is None or value in ISO_3166_ALPHA2:
        return value
    if value.upper() in ISO_3166_ALPHA2:
        hint = f": write it in capitals, {value.upper()}"
    elif value.upper() in _COUNTRY_HINTS:
        hint = f": use {_COUNTRY_HINTS[value.upper()]}"
    else:
        hint = ""
    ch.report(node, path, f"{value!r} is not an ISO 3166 alpha-2 country code{hint}")
    return None


def _list_of(item: Reader, key: Callable[[Any], object] | None = None, key_field: str = "",
             what: str = "") -> Reader:
    """A list whose valid elements come back as _Item; duplicates by `key` are reported."""
    def read(ch: _Checker, node: Node, path: str) -> list[_Item] | None:
        nodes = ch.sequence(node, path)
        if nodes is None:
            return None
        items: list[_Item] = []
        first: dict[object, Node] = {}
        for i, n in enumerate(nodes):
            p = f"{path}[{i}]"
            if _is_null(n):
                ch.report(n, p, "empty list entry")
                continue
            value = item(ch, n, p)
            if value is None:
                continue
            if key is not None:
                k = key(value)
                if k in first:
                    ch.report(n, f"{p}.{key_field}" if key_field else p,
                              f"{what} {k} appears twice (first on line {_line(first[k])})")
                    continue
                first[k] = n
            items.append(_Item(value, n, p))
        return items
    return read


def _values(items: list[_Item] | None) -> tuple[Any, ...]:
    return tuple(i.value for i in items or ())


# --------------------------------------------------------------------------------------
# Catalog


def _part(ch: _Checker, node: Node, path: str) -> Part | None:
    rec = ch.record(node, path, _PART)
    if rec is None:
        return None
    v = rec.values
    kind = v.get("kind")
    if kind is not None:
        _check_part_kind(ch, rec, kind)
    if "serial_prefix" in v and v.get("serialized") is not True:
        ch.report(rec.at("serial_prefix"), rec.sub("serial_prefix"),
                  "serial_prefix without serialized: true: add it, or remove the prefix")
    if "labeling" in v and kind is not None and kind != "device":
        ch.report(rec.at("labeling"), rec.sub("labeling"),
                  f"labeling is for devices, not a {kind}")
    if "packaging" in v:
        v["packaging"] = _values(v["packaging"])
        if kind is not None and kind != "device":
            ch.report(rec.at("packaging"), rec.sub("packaging"),
                      f"packaging levels are for devices, not a {kind}")
    return Part(**v) if rec.complete else None


_PACK = _Schema("packaging level", {
    "level": _matching(STATION_TYPE_RE, "lower case letters, digits and '-' (e.g. box)"),
    "contains": _integer(1, 100_000),
}, required=("level", "contains"))


def _pack_level(ch: _Checker, node: Node, path: str) -> PackLevel | None:
    rec = ch.record(node, path, _PACK)
    return PackLevel(**rec.values) if rec is not None and rec.complete else None


def _check_part_kind(ch: _Checker, rec: _Record, kind: str) -> None:
    v = rec.values
    if kind == "device":
        for key, why in (("gtin", "the UDI on its label"), ("ref", "the REF on its label")):
            if not rec.given(key):
                ch.report(rec.at(key), rec.sub(key), f"missing: a device needs {key}: for {why}")
    elif "gtin" in v and kind != "subassembly":  # a PCBA may carry one (EPCIS, issue 19)
        ch.report(rec.at("gtin"), rec.sub("gtin"),
                  f"a GTIN is for devices and subassemblies, not a {kind}")
    if kind in MADE_KINDS:
        for key in ("unit_cost", "origin"):
            if key in v:
                ch.report(rec.at(key), rec.sub(key),
                          f"{key} is computed for a {kind} from its routing: remove it "
                          "(a bought-in assembly is a component)")


def _msl(ch: _Checker, node: Node, path: str) -> str | None:
    """Moisture sensitivity level (J-STD-033): 1, 2, 2a, 3, 4, 5 or 5a."""
    from mes.domain.moisture import MSL_LEVELS

    if not ch.scalar(node, path, "a moisture sensitivity level such as 3 or 2a"):
        return None
    value = str(node.value).strip().lower()
    if value not in MSL_LEVELS:
        ch.report(node, path, f"MSL {value!r} is not one of {', '.join(MSL_LEVELS)} (MSL 6, "
                  "bake before use, is not supported)")
        return None
    return value


# Issue 17: what the device's label says for its markets.
_LANG_TEXT = _Schema("label text", {"name": _text, "text": _text}, required=("name",))
LABEL_LANGUAGES = ("en", "fr", "ar")


def _lang_text(ch: _Checker, node: Node, path: str) -> tuple[str, str] | None:
    rec = ch.record(node, path, _LANG_TEXT)
    if rec is None or not rec.complete:
        return None
    return rec.values["name"], rec.values.get("text", "")


_TEXTS = _Schema("label texts", dict.fromkeys(LABEL_LANGUAGES, _lang_text))
_STORAGE = _Schema("storage", {"min_c": _number(lo=-273.15), "max_c": _number(lo=-273.15),
                               "keep_dry": _boolean})
_EU = _Schema("EU market", {
    "notified_body": _matching(re.compile(r"\d{4}"), "the notified body's 4-digit number"),
    "authorised_rep": _text, "importer": _text})
_LABELING = _Schema("labeling", {
    "text": lambda ch, n, p: ch.record(n, p, _TEXTS),
    "consult_ifu": _boolean,
    "storage": lambda ch, n, p: ch.record(n, p, _STORAGE),
    "markets": _list_of(_matching(re.compile(r"[A-Z]{2}"), "a market code such as MA or EU")),
    "eu": lambda ch, n, p: ch.record(n, p, _EU),
})


def _labeling(ch: _Checker, node: Node, path: str) -> Labeling | None:
    rec = ch.record(node, path, _LABELING)
    if rec is None:
        return None
    v = rec.values
    texts = v["text"].values if "text" in v else {}
    storage = v["storage"].values if "storage" in v else {}
    eu = v["eu"].values if "eu" in v else {}
    lo, hi = storage.get("min_c"), storage.get("max_c")
    if lo is not None and hi is not None and lo >= hi:
        ch.report(rec.at("storage"), rec.sub("storage"),
                  f"min_c {lo:g} must be below max_c {hi:g}")
    return Labeling(
        texts=tuple((lang, *texts[lang]) for lang in LABEL_LANGUAGES if lang in texts),
        consult_ifu=bool(v.get("consult_ifu", False)), temp_min_c=lo, temp_max_c=hi,
        keep_dry=bool(storage.get("keep_dry", False)),
        markets=_values(v.get("markets")), notified_body=eu.get("notified_body"),
        authorised_rep=eu.get("authorised_rep"), importer=eu.get("importer"))


_PART = _Schema("part", {
    "number": _ident,
    "name": _text,
    "kind": _one_of(PART_KINDS),
    "unit": _text,
    "ref": _text,
    "gtin": _gtin,
    "serialized": _boolean,
    "serial_prefix": _matching(SERIAL_PREFIX_RE, "use 0-14 characters among 0-9, A-Z and '-'"),
    "shelf_life_days": _integer(1, 36500),
    "unit_cost": _number(lo=0),
    "origin": _country,
    "incoming_inspection": _boolean,
    "msl": _msl,
    "description": _text,
    # issue 19: box of N units, case of M boxes, pallet… (innermost first)
    "packaging": _list_of(_pack_level, key=lambda p: p.level, key_field="level",
                          what="packaging level"),
    "labeling": _labeling,
}, required=("number", "name", "kind"))

_parts_list = _list_of(_part, key=lambda p: p.number, key_field="number", what="part number")


def _catalog(ch: _Checker, node: Node, path: str) -> list[Part]:
    items = _parts_list(ch, node, path)
    if items is None:
        return []
    if not items and isinstance(node, SequenceNode) and not node.value:
        ch.report(node, path, "the catalog lists no parts")
    seen: dict[str, _Item] = {}
    for item in items:  # one GTIN identifies one trade item
        gtin = item.value.gtin
        if gtin is not None and gtin in seen:
            ch.report(item.node, f"{item.path}.gtin", f"GTIN {gtin} is also part "
                      f"{seen[gtin].value.number} (line {_line(seen[gtin].node)})")
        elif gtin is not None:
            seen[gtin] = item
    return [i.value for i in items]


# --------------------------------------------------------------------------------------
# Routing


def _catalog_part(ch: _Checker, node: Node, path: str, number: str) -> Part | None:
    """With a catalog given, a referenced part must be in it."""
    if ch.catalog is None:
        return None
    part = ch.catalog.get(number)
    if part is None:
        ch.report(node, path, f"part {number} is not in the catalog: add it there first"
                  f"{_did_you_mean(number, ch.catalog)}")
    return part


def _bom_line(ch: _Checker, node: Node, path: str) -> BomLine | None:
    rec = ch.record(node, path, _BOM)
    if rec is None:
        return None
    v = rec.values
    by_serial, qty = v.get("by_serial", False), v.get("qty")
    if by_serial and qty is not None and qty != int(qty):
        ch.report(rec.at("qty"), rec.sub("qty"),
                  f"qty {_fmt(qty)} by serial: units are consumed whole")
    part = _catalog_part(ch, rec.at("part"), rec.sub("part"), v["part"]) if "part" in v else None
    if part is not None and by_serial and not part.serialized:
        ch.report(rec.at("by_serial"), rec.sub("by_serial"),
                  f"{part.number} is not serialized, so it cannot be consumed by serial")
    return BomLine(**v) if rec.complete else None


_BOM = _Schema("consumes line", {
    "part": _ident, "qty": _number(positive=True), "by_serial": _boolean,
}, required=("part", "qty"))


def _data_spec(ch: _Checker, node: Node, path: str) -> DataSpec | None:
    rec = ch.record(node, path, _DATA)
    if rec is None:
        return None
    v = rec.values
    if v.get("type", "float") in ("str", "bool"):
        for key in ("min", "max"):
            if key in v:
                ch.report(rec.at(key), rec.sub(key),
                          f"{key}: only applies to float or int data, not {v['type']}")
    elif "min" in v and "max" in v and v["min"] > v["max"]:
        ch.report(rec.at("max"), rec.sub("max"),
                  f"max {_fmt(v['max'])} is below min {_fmt(v['min'])}")
    return DataSpec(**v) if rec.complete else None


_DATA = _Schema("data spec", {
    "name": _matching(DATA_NAME_RE, "use lower case letters, digits and _ (e.g. peak_temp_c)"),
    "type": _one_of(DATA_TYPES),
    "unit": _text,
    "min": _number(),
    "max": _number(),
    "required": _boolean,
    "euromap": _matching(EUROMAP_RE, "a EUROMAP 63 parameter name such as ActTimCyc"),
    "spc": lambda ch, node, path: _spc(ch, node, path),
}, required=("name",))


_SPC = _Schema("spc characteristic", {
    "id": _ident,
    "chart": _one_of(SPC_CHARTS),
    "subgroup": _integer(1, 10_000),
    "rules": _one_of(tuple(SPC_RULE_SETS)),
    "use": _list_of(_integer(1, 8), key=lambda n: n, what="rule number"),
    "action": _one_of(SPC_ACTIONS),
}, required=("id",))


def _spc(ch: _Checker, node: Node, path: str) -> SpcSpec | None:
    rec = ch.record(node, path, _SPC)
    if rec is None or not rec.complete:
        return None
    v = dict(rec.values)
    v["use"] = _values(v.get("use"))
    chart, n = v.get("chart", "i-mr"), v.get("subgroup", 1)
    rules = v.get("rules", "western-electric")
    if chart in ("xbar-r", "xbar-s") and not 2 <= n <= SPC_MAX_SUBGROUP:
        ch.report(rec.at("subgroup"), rec.sub("subgroup"),
                  f"an {chart} chart needs a subgroup of 2 to {SPC_MAX_SUBGROUP}")
    elif chart == "i-mr" and n != 1:
        ch.report(rec.at("subgroup"), rec.sub("subgroup"),
                  "an i-mr chart plots single values: subgroup: 1 (or use xbar-r)")
    for r in v["use"]:
        if r not in SPC_RULE_SETS[rules]:
            ch.report(rec.at("use"), rec.sub("use"), f"{rules} has rules "
                      f"{SPC_RULE_SETS[rules][0]}-{SPC_RULE_SETS[rules][-1]}, not {r}")
    return SpcSpec(**v)


def _flash(ch: _Checker, node: Node, path: str) -> FlashSpec | None:
    rec = ch.record(node, path, _FLASH)
    if rec is None or not rec.complete:
        return None
    spec = FlashSpec(part=rec.values["part"], versions=_values(rec.values.get("versions")))
    fw = _catalog_part(ch, rec.at("part"), rec.sub("part"), spec.part)
    if fw is not None and fw.kind != "firmware":
        ch.report(rec.at("part"), rec.sub("part"), f"{spec.part} is a {fw.kind}, not firmware")
    return spec


_FLASH = _Schema("flash spec", {
    "part": _ident,
    "versions": _list_of(_matching(VERSION_RE, "1-20 characters, e.g. 1.4.2"), key=lambda s: s,
                         what="version"),
}, required=("part",))

_MOLDING = _Schema("molding spec", {
    "cavities": _integer(1, 256),
    "hold_reject_rate_pct": _number(lo=0, hi=100),
    "mold": _ident,
})


def _molding(ch: _Checker, node: Node, path: str) -> MoldingSpec | None:
    rec = ch.record(node, path, _MOLDING)
    return MoldingSpec(**rec.values) if rec is not None else None


_OPERATION = _Schema("operation", {
    "op": _integer(1, 9999),
    "name": _text,
    "station_type": _matching(STATION_TYPE_RE, "lower case letters, digits and '-' "
                              "(e.g. reflow-oven)"),
    "activity": _one_of(ACTIVITIES),
    "conversion_cost": _number(lo=0),
    "ideal_cycle_s": _number(hi=86_400, positive=True),
    "result_required": _boolean,
    "optional": _boolean,
    "serialize": _boolean,
    "label": _boolean,
    "origin_conferring": _boolean,
    "flash": _flash,
    "molding": _molding,
    "consumes": _list_of(_bom_line, key=lambda b: b.part, key_field="part", what="part"),
    "data": _list_of(_data_spec, key=lambda d: d.name, key_field="name", what="data name"),
}, required=("op", "name", "station_type"))


def _operation(ch: _Checker, node: Node, path: str) -> Operation | None:
    rec = ch.record(node, path, _OPERATION)
    if rec is None:
        return None
    if "op" in rec.values:
        ch.op_numbers.append(_Item(rec.values["op"], node, path))
    _check_activity_rules(ch, rec)
    _check_euromap(ch, rec)
    if not rec.complete:
        return None
    v = dict(rec.values)
    v["consumes"] = _values(v.get("consumes"))
    v["data"] = _values(v.get("data"))
    return Operation(**v)


def _check_activity_rules(ch: _Checker, rec: _Record) -> None:
    v = rec.values
    if rec.given("activity") and "activity" not in v:
        return  # invalid, already reported
    activity = v.get("activity", "other")
    if v.get("origin_conferring") and activity in NON_CONFERRING_ACTIVITIES:
        ch.report(rec.at("origin_conferring"), rec.sub("origin_conferring"),
                  f"{_a(activity)} operation never confers origin (labeling, packing and "
                  "kitting never do): remove origin_conferring or correct the activity")
    # A flash/molding block on the wrong activity is a copy-paste slip; its absence on the
    # right one leaves the flashing/EUROMAP interlocks nothing to check against.
    for key, needed in (("flash", "flashing"), ("molding", "molding")):
        if rec.given(key) and activity != needed:
            ch.report(rec.at(key), rec.sub(key),
                      f"{key}: is only for activity {needed}, this is {activity}")
        elif not rec.given(key) and activity == needed:
            example = ("{part: FW-OXI, versions: [\"1.4.2\"]}" if key == "flash"
                       else "{cavities: 4, mold: M-ENC-01}")
            ch.report(rec.node, rec.sub(key),
                      f"missing: {_a(needed)} operation needs {key}: {example}")


def _check_euromap(ch: _Checker, rec: _Record) -> None:
    """Molding data comes from the machine's EUROMAP 63 report, so each spec names its column."""
    molding = rec.given("molding") or rec.values.get("activity") == "molding"
    columns: dict[str, _Item] = {}
    for item in rec.values.get("data") or ():
        spec: DataSpec = item.value
        if molding and spec.euromap is None:
            ch.report(item.node, f"{item.path}.euromap",
                      f"data {spec.name} of a molding operation must name its EUROMAP 63 "
                      "column (euromap: ActTimCyc); record manual checks in an inspection op")
        elif not molding and spec.euromap is not None:
            ch.report(item.node, f"{item.path}.euromap",
                      "euromap: only applies to data of a molding operation")
        elif spec.euromap is not None and spec.euromap in columns:
            first = columns[spec.euromap]
            ch.report(item.node, f"{item.path}.euromap", f"column {spec.euromap} already feeds "
                      f"{first.value.name} (line {_line(first.node)})")
        elif spec.euromap is not None:
            columns[spec.euromap] = item
    for item in rec.values.get("data") or ():
        spec = item.value
        if spec.spc is not None and spec.type in ("str", "bool"):
            ch.report(item.node, f"{item.path}.spc", f"spc: needs numbers, {spec.name} is "
                      f"{spec.type}")
        elif spec.spc is not None and spec.spc.chart in ("p", "u") and spec.type != "int":
            ch.report(item.node, f"{item.path}.spc", f"a {spec.spc.chart} chart counts "
                      f"defects: {spec.name} must be type: int")


_ROUTING = _Schema("routing", {
    "part": _ident,
    "description": _text,
    "operations": _list_of(_operation),
}, required=("part", "operations"))


def _routing(ch: _Checker, node: Node, path: str) -> Routing | None:
    rec = ch.record(node, path, _ROUTING)
    if rec is None:
        return None
    ops: list[_Item] = rec.values.get("operations") or []
    ops_node = rec.nodes.get("operations")
    if isinstance(ops_node, SequenceNode) and not ops_node.value:
        ch.report(ops_node, rec.sub("operations"), "a routing needs at least one operation")
    _check_op_order(ch, ch.op_numbers)
    serializing = [i for i in ops if i.value.serialize]
    for extra in serializing[1:]:
        ch.report(extra.node, f"{extra.path}.serialize", f"serial numbers are already assigned "
                  f"at op {serializing[0].value.op}: one operation only")
    part = rec.values.get("part")
    if part is not None:
        _check_routing_part(ch, rec, part, ops, bool(serializing))
    if not rec.complete or ch.problems:
        return None
    return Routing(part=rec.values["part"], operations=_values(ops),
                   description=rec.values.get("description", ""))


def _check_op_order(ch: _Checker, numbers: list[_Item]) -> None:
    # Step order is enforced by op number (21 CFR 11.10(f)), so the file order must agree.
    seen: dict[int, _Item] = {}
    previous: int | None = None
    for item in numbers:
        num = item.value
        if num in seen:
            ch.report(item.node, f"{item.path}.op",
                      f"op {num} appears twice (first on line {_line(seen[num].node)})")
            continue
        if previous is not None and num < previous:
            ch.report(item.node, f"{item.path}.op", f"op {num} comes after op {previous}: "
                      "operations must be in increasing order")
        seen[num] = item
        previous = num if previous is None else max(previous, num)


def _check_routing_part(ch: _Checker, rec: _Record, number: str, ops: list[_Item],
                        serializing: bool) -> None:
    for item in ops:
        for j, line in enumerate(item.value.consumes):
            if line.part == number:
                ch.report(item.node, f"{item.path}.consumes[{j}].part",
                          f"{number} cannot consume itself")
    part = _catalog_part(ch, rec.at("part"), rec.sub("part"), number)
    if part is None:
        return
    if part.kind not in MADE_KINDS:
        ch.report(rec.at("part"), rec.sub("part"),
                  f"{number} is a {part.kind}: only subassemblies and devices have routings")
    if serializing and not part.serialized:
        ch.report(rec.at("part"), rec.sub("part"), f"an operation has serialize: true but "
                  f"{number} is not serialized in the catalog")


# --------------------------------------------------------------------------------------
# Document


_TOP_KEYS = ("parts", "routing")


def _document(ch: _Checker, root: Node) -> tuple[Literal["catalog", "routing"], list[Part],
                                                 Routing | None]:
    pairs = ch.pairs(root, FILE_FIELD)
    found: dict[str, Node] = {}
    for key, knode, vnode in pairs or ():
        if key in _TOP_KEYS:
            found[key] = vnode
        else:
            ch.report(knode, key, f"unknown top-level key {key!r}: a file holds parts: "
                      f"(a catalog) or routing: (one routing){_did_you_mean(key, _TOP_KEYS)}")
    if len(found) == 2:
        ch.report(root, FILE_FIELD, "a file holds either parts: (a catalog) or routing: "
                  "(one routing), not both: split it in two")
    elif not found and pairs is not None:
        ch.report(root, FILE_FIELD, "expected parts: (a catalog) or routing: (one routing)")
    if "parts" in found and _is_null(found["parts"]):
        ch.report(found["parts"], "parts", "the catalog lists no parts")
    elif "parts" in found:
        return "catalog", _catalog(ch, found["parts"], "parts"), None
    if "routing" in found and not _is_null(found["routing"]):
        return "routing", [], _routing(ch, found["routing"], "routing")
    if "routing" in found:
        ch.report(found["routing"], "routing", "the routing is empty")
    return "routing", [], None


# --------------------------------------------------------------------------------------
# Back to YAML (show/export) and diff


def _non_defaults(obj: Any, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """Fields that differ from their default, in declaration order (the format's order)."""
    out: dict[str, Any] = {}
    for f in fields(obj):
        value = getattr(obj, f.name)
        if f.name in skip or (f.default is not MISSING and value == f.default):
            continue
        out[f.name] = [asdict(v) if is_dataclass(v) and not isinstance(v, type) else v
                       for v in value] if isinstance(value, tuple) else value
    return out


def _operation_to_dict(op: Operation) -> dict[str, Any]:
    d = _non_defaults(op, skip=("consumes", "data", "flash", "molding"))
    if op.flash is not None:
        d["flash"] = {"part": op.flash.part, **({"versions": list(op.flash.versions)}
                                                if op.flash.versions else {})}
    if op.molding is not None:
        d["molding"] = _non_defaults(op.molding)
    if op.consumes:
        d["consumes"] = [_non_defaults(b) for b in op.consumes]
    if op.data:
        d["data"] = [_data_to_dict(s) for s in op.data]
    return d


def _data_to_dict(s: DataSpec) -> dict[str, Any]:
    d = _non_defaults(s, skip=("spc",))
    if s.spc is not None:
        d["spc"] = _non_defaults(s.spc)
    return d


def routing_to_yaml_dict(routing: Routing) -> dict[str, Any]:
    """The routing in the file format (defaults left out); loading it gives it back."""
    body: dict[str, Any] = {"part": routing.part}
    if routing.description:
        body["description"] = routing.description
    body["operations"] = [_operation_to_dict(op) for op in routing.operations]
    return {"routing": body}


def catalog_to_yaml_dict(parts: list[Part]) -> dict[str, Any]:
    return {"parts": [_part_to_dict(p) for p in parts]}


def _part_to_dict(p: Part) -> dict[str, Any]:
    d = _non_defaults(p, skip=("labeling",))
    lab = p.labeling
    if lab is not None:  # the file's shape, not the model's (issue 17)
        out: dict[str, Any] = {}
        if lab.texts:
            out["text"] = {la: {"name": n, **({"text": t} if t else {})}
                           for la, n, t in lab.texts}
        if lab.consult_ifu:
            out["consult_ifu"] = True
        storage = {k: v for k, v in (("min_c", lab.temp_min_c), ("max_c", lab.temp_max_c),
                                     ("keep_dry", lab.keep_dry or None)) if v is not None}
        if storage:
            out["storage"] = storage
        if lab.markets:
            out["markets"] = list(lab.markets)
        eu = {k: getattr(lab, k) for k in ("notified_body", "authorised_rep", "importer")
              if getattr(lab, k)}
        if eu:
            out["eu"] = eu
        d["labeling"] = out
    return d


def dump_yaml(doc: dict[str, Any]) -> str:
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100)


def _fmt(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    if isinstance(value, str) and (not value or value != value.strip()):
        return repr(value)
    return str(value)


def _changes(a: Any, b: Any, skip: tuple[str, ...] = ()) -> list[str]:
    """'field old -> new' for every plain field that differs."""
    return [f"{f.name} {_fmt(getattr(a, f.name))} -> {_fmt(getattr(b, f.name))}"
            for f in fields(a)
            if f.name not in skip and getattr(a, f.name) != getattr(b, f.name)]


def _data_summary(s: DataSpec) -> str:
    window = limits(s.min, s.max)
    unit = f" {s.unit}" if s.unit else ""
    return f"({s.type}{unit}{', ' + window if window else ''})"


def _keyed_diff(label: str, a: dict[str, Any], b: dict[str, Any],
                added: Callable[[Any], str]) -> list[str]:
    out: list[str] = []
    for key in list(a) + [k for k in b if k not in a]:
        if key not in b:
            out.append(f"{label} {key} removed")
        elif key not in a:
            out.append(f"{label} {key} added {added(b[key])}")
        else:
            out += [f"{label} {key} {c}" for c in _changes(a[key], b[key], skip=("part", "name"))]
    return out


def _optional_diff(label: str, a: Any, b: Any) -> list[str]:
    if a is None and b is None:
        return []
    if a is None:
        return [f"{label} added: " + ", ".join(f"{k} {_fmt(v)}" for k, v in
                                               _non_defaults(b).items())]
    if b is None:
        return [f"{label} removed"]
    return [f"{label} {c}" for c in _changes(a, b)]


def _operation_diff(a: Operation, b: Operation) -> list[str]:
    out = _changes(a, b, skip=("consumes", "data", "flash", "molding"))
    out += _keyed_diff("consumes", {c.part: c for c in a.consumes},
                       {c.part: c for c in b.consumes},
                       lambda c: f"(qty {_fmt(c.qty)}{', by serial' if c.by_serial else ''})")
    out += _keyed_diff("data", {d.name: d for d in a.data}, {d.name: d for d in b.data},
                       _data_summary)
    out += _optional_diff("flash", a.flash, b.flash)
    out += _optional_diff("molding", a.molding, b.molding)
    return [f"op {a.op} {a.name}: {line}" for line in out]


def diff_routings(a: Routing, b: Routing) -> list[str]:
    """What changed from `a` to `b`, one line per change, for people reviewing a new version."""
    out: list[str] = []
    if a.part != b.part:
        out.append(f"part {a.part} -> {b.part}")
    if a.description != b.description:
        out.append(f"description {a.description!r} -> {b.description!r}")
    a_ops = {o.op: o for o in a.operations}
    b_ops = {o.op: o for o in b.operations}
    for num in sorted(a_ops.keys() | b_ops.keys()):
        if num not in b_ops:
            out.append(f"op {num} removed: {a_ops[num].name}")
        elif num not in a_ops:
            op = b_ops[num]
            out.append(f"op {num} added: {op.name} ({op.activity}, at {op.station_type})")
        else:
            out += _operation_diff(a_ops[num], b_ops[num])
    return out
