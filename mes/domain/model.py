"""The routing and part model: plain data, built from YAML by mes.ingest.routing_yaml.

These dataclasses are the contract between the YAML files people write, the store
(which keeps them as JSON) and the rules that execute steps.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

PartKind = Literal["component", "subassembly", "device", "firmware"]
DataType = Literal["float", "int", "str", "bool"]
# What an operation does; labeling, packing and kitting never confer origin (DESIGN §8).
Activity = Literal[
    "smt", "inspection", "test", "reflow", "flashing", "drying", "molding",
    "assembly", "labeling", "packing", "kitting", "other",
]
NON_CONFERRING_ACTIVITIES = frozenset({"labeling", "packing", "kitting"})


@dataclass(frozen=True)
class PackLevel:
    """One packaging level of a device (issue 19): a box holds `contains` units, a case
    `contains` boxes, a pallet `contains` cases; each package is an SSCC-identified unit."""

    level: str  # box, case, pallet…
    contains: int


@dataclass(frozen=True)
class Labeling:
    """What a device's label says for its markets (issue 17): name and key text per language
    (en/fr/ar), ISO 15223-1 symbols from catalog data, and the EU market's CE content."""

    texts: tuple[tuple[str, str, str], ...] = ()  # (language, device name, key text)
    consult_ifu: bool = False  # 5.4.3
    temp_min_c: float | None = None  # 5.3.7 temperature limits
    temp_max_c: float | None = None
    keep_dry: bool = False  # 5.3.4
    markets: tuple[str, ...] = ()  # e.g. ("MA", "EU")
    notified_body: str | None = None  # CE 1234 (EU)
    authorised_rep: str | None = None  # 5.1.2 EU authorised representative: name, address
    importer: str | None = None  # 5.1.8 importer into the EU: name, address

    def text(self, lang: str) -> tuple[str, str] | None:
        return next(((n, t) for la, n, t in self.texts if la == lang), None)


@dataclass(frozen=True)
class Part:
    number: str
    name: str
    kind: PartKind
    unit: str = "ea"
    ref: str | None = None  # catalogue number printed as REF on labels
    gtin: str | None = None  # GTIN-14: devices; optional on subassemblies (EPCIS)
    serialized: bool = False
    serial_prefix: str = "SN-"
    shelf_life_days: int | None = None
    unit_cost: float | None = None  # purchased parts; currency in workspace config
    origin: str | None = None  # ISO 3166 alpha-2, purchased parts
    incoming_inspection: bool = True  # False: material lots are released on receipt
    msl: str | None = None  # moisture sensitivity level (J-STD-033), e.g. "3"
    description: str | None = None
    packaging: tuple[PackLevel, ...] = ()  # innermost first; devices only
    labeling: Labeling | None = None  # devices: market content of the label (issue 17)

    def to_dict(self) -> dict[str, Any]:
        """As stored (JSON): lists, and no `packaging` / `labeling` key when there is none,
        so a part stored before they existed compares equal."""
        d = asdict(self)
        if self.packaging:
            d["packaging"] = list(d["packaging"])
        else:
            del d["packaging"]
        if self.labeling is None:
            del d["labeling"]
        else:
            d["labeling"] = {k: [list(x) for x in v] if k == "texts" else
                             list(v) if isinstance(v, tuple) else v
                             for k, v in d["labeling"].items()}
        return d


@dataclass(frozen=True)
class SpcSpec:
    """A captured value declared an SPC characteristic (issue 16): how it is charted, which
    run rules watch it, and what a signal does (record | alert quality | hold + NCR)."""

    id: str  # the characteristic's name, e.g. REFLOW-PEAK (stable across routing versions)
    chart: str = "i-mr"  # i-mr | xbar-r | xbar-s | p | u
    subgroup: int = 1  # observations per plotted point (X̄ charts 2..25; p/u units inspected)
    rules: str = "western-electric"  # or nelson
    use: tuple[int, ...] = ()  # only these rule numbers (empty: the whole set)
    action: str = "record"


@dataclass(frozen=True)
class DataSpec:
    name: str
    type: DataType = "float"
    unit: str | None = None
    min: float | None = None
    max: float | None = None
    required: bool = True
    euromap: str | None = None  # EUROMAP 63 column that feeds this parameter (molding)
    spc: SpcSpec | None = None


@dataclass(frozen=True)
class BomLine:
    part: str
    qty: float  # per unit made (per lot unit for non-serialized lots)
    by_serial: bool = False  # consumes a unit of a serialized subassembly by its serial


@dataclass(frozen=True)
class FlashSpec:
    part: str  # firmware part number, e.g. FW-OXI
    versions: tuple[str, ...] = ()  # allowed versions; empty = any approved


@dataclass(frozen=True)
class MoldingSpec:
    cavities: int = 1
    hold_reject_rate_pct: float = 2.0  # above this reject rate the lot goes on hold
    mold: str | None = None


@dataclass(frozen=True)
class Operation:
    op: int
    name: str
    station_type: str
    activity: Activity = "other"
    consumes: tuple[BomLine, ...] = ()
    data: tuple[DataSpec, ...] = ()
    result_required: bool = True
    optional: bool = False
    serialize: bool = False
    label: bool = False
    origin_conferring: bool = False
    conversion_cost: float = 0.0  # per unit; counts as local value when done in MA
    flash: FlashSpec | None = None
    molding: MoldingSpec | None = None
    # seconds per unit (per shot on a molding op) at the rated pace: OEE performance
    ideal_cycle_s: float | None = None

    def data_spec(self, name: str) -> DataSpec | None:
        return next((d for d in self.data if d.name == name), None)


@dataclass(frozen=True)
class Routing:
    part: str
    operations: tuple[Operation, ...]
    description: str = ""
    version: int = 0  # assigned by the store when loaded

    def operation(self, op: int) -> Operation | None:
        return next((o for o in self.operations if o.op == op), None)

    def required_before(self, op: int) -> list[Operation]:
        """Operations that must have passed before `op` may run."""
        return [o for o in self.operations if o.op < op and not o.optional]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def routing_from_dict(d: dict[str, Any]) -> Routing:
    """Rebuild a Routing from its JSON form (as stored); trusted input."""
    ops = []
    for o in d["operations"]:
        ops.append(
            Operation(
                op=o["op"], name=o["name"], station_type=o["station_type"],
                activity=o.get("activity", "other"),
                consumes=tuple(BomLine(**b) for b in o.get("consumes", ())),
                data=tuple(_data_spec(s) for s in o.get("data", ())),
                result_required=o.get("result_required", True),
                optional=o.get("optional", False), serialize=o.get("serialize", False),
                label=o.get("label", False), origin_conferring=o.get("origin_conferring", False),
                conversion_cost=o.get("conversion_cost", 0.0),
                flash=FlashSpec(o["flash"]["part"], tuple(o["flash"].get("versions", ())))
                if o.get("flash") else None,
                molding=MoldingSpec(**o["molding"]) if o.get("molding") else None,
                ideal_cycle_s=o.get("ideal_cycle_s"),
            )
        )
    return Routing(part=d["part"], operations=tuple(ops), description=d.get("description", ""),
                   version=d.get("version", 0))


def _data_spec(s: dict[str, Any]) -> DataSpec:
    spc = s.get("spc")
    return DataSpec(**{**s, "spc": SpcSpec(**{**spc, "use": tuple(spc.get("use", ()))})
                       if spc else None})


def part_from_dict(d: dict[str, Any]) -> Part:
    levels = tuple(PackLevel(**p) for p in d.get("packaging") or ())
    lab = d.get("labeling")
    labeling = None if lab is None else Labeling(**{
        **lab, "texts": tuple(tuple(t) for t in lab.get("texts", ())),
        "markets": tuple(lab.get("markets", ()))})
    return Part(**{**d, "packaging": levels, "labeling": labeling})
