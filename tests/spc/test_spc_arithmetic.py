"""The SPC arithmetic against published worked examples (tests/spc/published.py cites them).

The expected numbers are the sources', rounded as printed there; the tolerance is the
printed precision.
"""

from __future__ import annotations

import pytest

from mes.domain import spc
from tests.spc.published import (
    AMPLIFIERS_DB,
    CHI2_24,
    CONSTANTS,
    PISTON_RINGS,
    WAFER_CHIPS,
    WAFER_DEFECTIVES,
)


@pytest.mark.parametrize("n", sorted(CONSTANTS))
def test_chart_constants_match_the_textbook_table(n: int) -> None:
    a2, a3, c4, b3, b4, d2, d3, d4 = CONSTANTS[n]
    k = spc.constants(n)
    assert k.a2 == pytest.approx(a2, abs=0.0015)
    assert k.a3 == pytest.approx(a3, abs=0.0015)
    assert k.c4 == pytest.approx(c4, abs=0.00015)
    assert k.b3 == pytest.approx(b3, abs=0.0015)
    assert k.b4 == pytest.approx(b4, abs=0.0015)
    assert k.d2 == pytest.approx(d2, abs=0.0015)
    assert k.d3_factor == pytest.approx(d3, abs=0.0015)
    assert k.d4 == pytest.approx(d4, abs=0.0015)


def test_xbar_r_limits_and_capability_of_the_piston_rings() -> None:
    pts = spc.points("xbar-r", PISTON_RINGS)
    lim = spc.phase1_limits("xbar-r", 5, pts)
    lcl, ucl, _ = lim.at()
    assert lim.center == pytest.approx(74.001, abs=0.0005)
    assert lim.spread_center == pytest.approx(0.023, abs=0.0005)
    assert (lcl, ucl) == (pytest.approx(73.988, abs=0.0005), pytest.approx(74.014, abs=0.001))
    assert lim.spread_lcl == 0 and lim.spread_ucl == pytest.approx(0.049, abs=0.0005)
    assert lim.sigma == pytest.approx(0.0099, abs=0.0001)
    cap = spc.capability("xbar-r", pts, 73.95, 74.05)
    assert cap.cp.value == pytest.approx(1.68, abs=0.015)
    # The phase-I samples are in control: no rule of either set fires.
    assert spc.rule_signals(lim, pts, "western-electric") == []


def test_xbar_s_limits_of_the_piston_rings() -> None:
    pts = spc.points("xbar-s", PISTON_RINGS)
    lim = spc.phase1_limits("xbar-s", 5, pts)
    lcl, ucl, _ = lim.at()
    assert lim.spread_center == pytest.approx(0.0094, abs=0.00005)
    assert (lcl, ucl) == (pytest.approx(73.988, abs=0.0005), pytest.approx(74.014, abs=0.001))
    assert lim.spread_ucl == pytest.approx(0.0196, abs=0.00005) and lim.spread_lcl == 0


def test_p_chart_of_the_nist_wafers_flags_samples_15_and_23() -> None:
    pts = spc.points("p", [[d, WAFER_CHIPS] for d in WAFER_DEFECTIVES])
    lim = spc.phase1_limits("p", WAFER_CHIPS, pts)
    lcl, ucl, _ = lim.at()
    assert lim.center == pytest.approx(0.2313, abs=0.00005)
    assert ucl == pytest.approx(0.4102, abs=0.00005)
    assert lcl == pytest.approx(0.0524, abs=0.00005)
    beyond = [i + 1 for i, chart, rule in spc.rule_signals(lim, pts, "western-electric")
              if rule == 1]
    assert beyond == [15, 23]


def test_ppk_confidence_interval_of_the_amplifiers() -> None:
    pts = spc.points("i-mr", [[v] for v in AMPLIFIERS_DB])
    cap = spc.capability("i-mr", pts, 4, 6, confidence=0.90)
    assert cap.n == 75
    assert cap.ppk.lower == pytest.approx(0.328, abs=0.0006)
    assert cap.ppk.upper == pytest.approx(0.496, abs=0.0006)


def test_chi_square_quantiles_match_the_table() -> None:
    for p, value in CHI2_24.items():
        assert spc.chi2_quantile(p, 24) == pytest.approx(value, abs=0.0006)


# -- the run rules, each on a pattern made to fire it (and only where it completes) ---------

def fired(rule_set: str, zs: list[float]) -> list[tuple[int, list[int]]]:
    checker = spc.RuleChecker(rule_set)
    return [(i, r) for i, z in enumerate(zs) if (r := checker.push(z))]


def test_western_electric_rules() -> None:
    assert fired("western-electric", [0.5, -0.5, 3.2]) == [(2, [1])]
    assert fired("western-electric", [2.5, 0.1, 2.2]) == [(2, [2])]
    assert fired("western-electric", [1.5, 1.2, -0.5, 1.1, 1.3]) == [(4, [3])]
    assert fired("western-electric", [0.3] * 8) == [(7, [4])]
    assert fired("western-electric", [0.3, -0.3] * 10) == []


def test_nelson_rules() -> None:
    assert fired("nelson", [0.2] * 9)[0] == (8, [2])
    assert fired("nelson", [-0.9, -0.6, -0.3, 0.1, 0.4, 0.8]) == [(5, [3])]
    alternating = [0.5 if i % 2 else -0.5 for i in range(14)]
    assert fired("nelson", alternating) == [(13, [4])]
    assert fired("nelson", [2.5, -0.1, 2.1]) == [(2, [5])]
    assert fired("nelson", [1.5, 1.2, -0.5, 1.1, 1.3]) == [(4, [6])]
    hugging = [0.5 if i % 2 else -0.5 for i in range(15)]  # also alternates: rule 4 at 13
    assert (14, [4, 7]) in fired("nelson", hugging)
    assert fired("nelson", [1.5, -1.5, 1.6, -1.4, 1.2, -1.3, 1.8, -1.1]) == [(7, [8])]


def test_rules_can_be_restricted() -> None:
    checker = spc.RuleChecker("nelson", use=[1])
    assert [checker.push(z) for z in [0.2] * 9] == [[]] * 9
