"""mes.domain.origin: the Made-in-Morocco calculation on hand-built compositions (no store)."""

from __future__ import annotations

import pytest

from mes.domain.origin import Composition, MaterialUse, OpRecord, Rule, evaluate, worst

RULE = Rule(name="MCINET local value >= 40 %", version="2026-1", threshold_pct=40.0,
            country="MA")


def op(n: int, name: str, activity: str, cost: float, *, conferring: bool = False,
       country: str | None = "MA", performed: bool = True) -> OpRecord:
    return OpRecord(n, name, activity, cost, conferring, performed,
                    country if performed else None)


def mat(item: str, part: str, qty: float, cost: float | None, origin: str | None
        ) -> MaterialUse:
    return MaterialUse(item, part, qty, cost, origin)


def pcba(country: str = "MA") -> Composition:
    return Composition(
        "PB-000001", "PCBA",
        ops=(op(10, "Pick and place", "smt", 6.5, country=country),
             op(40, "Reflow", "reflow", 2.5, conferring=True, country=country)),
        materials=(mat("R-1", "AFE", 1, 46.0, "CN"), mat("R-2", "MCU", 1, 27.5, "MA")))


def device(sub: Composition, *, assembly_country: str = "MA") -> Composition:
    return Composition(
        "SN-000001", "DEV",
        ops=(op(10, "Final assembly", "assembly", 14.0, conferring=True,
                country=assembly_country),
             op(20, "Labelling", "labeling", 1.5),
             op(30, "Packing", "packing", 2.5, performed=False)),
        materials=(mat("R-3", "BATT", 1, 24.0, "CN"),),
        subassemblies=((1.0, sub),))


def test_rollup_through_subassemblies() -> None:
    w = evaluate(device(pcba()), RULE)
    # PCBA: 46 CN + 27.5 MA + 9 conversion MA = 82.5, local 36.5
    # device: 24 CN + 14 + 1.5 conversion MA + PCBA 82.5 (36.5 local); packing not performed
    assert w["unit_cost"] == pytest.approx(122.0)
    assert w["local_value"] == pytest.approx(52.0)
    assert w["local_pct"] == pytest.approx(42.62, abs=0.01)
    assert w["positive"] is True and w["reasons"] == []
    sub = next(li for li in w["lines"] if li["kind"] == "subassembly")
    assert sub["value"] == pytest.approx(82.5) and sub["local"] == pytest.approx(36.5)
    assert sub["origin"] == "MA"
    assert [(c["part"], c["op"]) for c in w["conferring_ops"]] == [("DEV", 10), ("PCBA", 40)]
    assert w["not_performed"] == [{"part": "DEV", "op": 30, "name": "Packing",
                                   "conversion_cost": 2.5}]
    assert {"rule_name", "rule_version", "threshold_pct", "local_pct", "lines",
            "conferring_ops", "unit_cost", "local_value", "positive", "reasons"} <= set(w)


def test_imported_pcba_fails_threshold() -> None:
    imported = Composition("PB-000002", "PCBA", ops=(op(40, "Reflow", "reflow", 0.5,
                                                       conferring=True, country="CN"),),
                           materials=(mat("R-9", "AFE", 1, 120.0, "CN"),))
    w = evaluate(device(imported), RULE)
    assert w["positive"] is False
    assert any("below the 40 % threshold" in r for r in w["reasons"])
    assert any("performed in CN" in r for r in w["reasons"])


def test_conferring_op_abroad_fails_even_with_enough_value() -> None:
    w = evaluate(device(pcba(), assembly_country="ES"), Rule("r", "1", 10.0, "MA"))
    assert w["local_pct"] > 10
    assert w["positive"] is False
    assert any("DEV op 10 (Final assembly)" in r and "ES" in r for r in w["reasons"])


def test_labeling_never_confers_even_if_flagged() -> None:
    c = Composition("SN-1", "KIT",
                    ops=(op(10, "Kitting", "kitting", 2.0, conferring=True),
                         op(20, "Labelling", "labeling", 1.0, conferring=True)),
                    materials=(mat("R-1", "KIT", 1, 10.0, "MA"),))
    w = evaluate(c, RULE)
    assert w["local_pct"] == pytest.approx(100.0)
    assert w["conferring_ops"] == []
    assert w["positive"] is False
    assert any("no origin-conferring operation" in r for r in w["reasons"])


def test_conferring_op_not_performed_is_negative() -> None:
    c = Composition("SN-1", "DEV", ops=(op(10, "Assembly", "assembly", 50.0, conferring=True,
                                           performed=False),),
                    materials=(mat("R-1", "X", 1, 10.0, "MA"),))
    w = evaluate(c, RULE)
    assert w["positive"] is False and any("not performed" in r for r in w["reasons"])


def test_missing_cost_makes_it_negative_and_missing_origin_counts_foreign() -> None:
    base = (op(10, "Assembly", "assembly", 50.0, conferring=True),)
    w = evaluate(Composition("SN-1", "DEV", ops=base,
                             materials=(mat("R-1", "X", 1, None, "MA"),)), RULE)
    assert w["positive"] is False and any("no unit cost" in r for r in w["reasons"])
    w = evaluate(Composition("SN-1", "DEV", ops=base,
                             materials=(mat("R-1", "X", 1, 10.0, None),)), RULE)
    assert w["positive"] is True and w["local_value"] == pytest.approx(50.0)
    assert any("no declared origin" in n for n in w["notes"])


def test_threshold_boundary_and_worst_unit() -> None:
    c = Composition("SN-1", "DEV", ops=(op(10, "Assembly", "assembly", 40.0, conferring=True),),
                    materials=(mat("R-1", "X", 1, 60.0, "CN"),))
    at = evaluate(c, RULE)
    assert at["local_pct"] == pytest.approx(40.0) and at["positive"] is True
    below = evaluate(Composition("SN-2", "DEV", ops=c.ops,
                                 materials=(mat("R-1", "X", 1, 61.0, "CN"),)), RULE)
    assert below["positive"] is False
    assert worst([at, below])["item"] == "SN-2"
    assert worst([at])["item"] == "SN-1"
