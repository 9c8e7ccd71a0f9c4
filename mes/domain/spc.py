"""Statistical process control: chart constants, phase-I limits, run rules, capability.

Pure arithmetic (stdlib only). The formulas are the textbook ones (Montgomery,
*Introduction to Statistical Quality Control*; NIST/SEMATECH e-Handbook §6.3): every
number the tests check comes from a published worked example, not from this code.

A chart plots one statistic per subgroup: the value itself (I-MR), the subgroup mean
(X̄-R, X̄-S), the fraction defective (p) or defects per unit (u). The run rules look at
where each plotted point falls in units of its own sigma (z), so they work the same on
charts whose limits vary with the subgroup size (p, u).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from statistics import NormalDist

CHARTS = ("i-mr", "xbar-r", "xbar-s", "p", "u")
VARIABLE_CHARTS = frozenset({"i-mr", "xbar-r", "xbar-s"})
RULE_SETS = {"western-electric": (1, 2, 3, 4), "nelson": (1, 2, 3, 4, 5, 6, 7, 8)}
ACTIONS = ("record", "alert", "hold")

RULE_TEXT = {
    ("western-electric", 1): "one point beyond 3 sigma",
    ("western-electric", 2): "2 of 3 points beyond 2 sigma on one side",
    ("western-electric", 3): "4 of 5 points beyond 1 sigma on one side",
    ("western-electric", 4): "8 points in a row on one side of the centre line",
    ("nelson", 1): "one point beyond 3 sigma",
    ("nelson", 2): "9 points in a row on one side of the centre line",
    ("nelson", 3): "6 points in a row steadily increasing or decreasing",
    ("nelson", 4): "14 points in a row alternating up and down",
    ("nelson", 5): "2 of 3 points beyond 2 sigma on one side",
    ("nelson", 6): "4 of 5 points beyond 1 sigma on one side",
    ("nelson", 7): "15 points in a row within 1 sigma",
    ("nelson", 8): "8 points in a row beyond 1 sigma (either side)",
}
SPREAD_RULE_TEXT = "range/deviation beyond its control limit"

# d2 and d3 (mean and standard deviation of the range of n standard normal values),
# n = 2..25, as tabulated (Montgomery, Appendix VI; the SixSigma package's table).
_D2_D3 = {
    2: (1.1284, 0.8525), 3: (1.6926, 0.8884), 4: (2.0588, 0.8798), 5: (2.3259, 0.8641),
    6: (2.5344, 0.8480), 7: (2.7044, 0.8332), 8: (2.8472, 0.8198), 9: (2.9700, 0.8078),
    10: (3.0775, 0.7971), 11: (3.1729, 0.7873), 12: (3.2585, 0.7785), 13: (3.3360, 0.7704),
    14: (3.4068, 0.7630), 15: (3.4718, 0.7562), 16: (3.5320, 0.7499), 17: (3.5879, 0.7441),
    18: (3.6401, 0.7386), 19: (3.6890, 0.7335), 20: (3.7349, 0.7287), 21: (3.7783, 0.7242),
    22: (3.8194, 0.7199), 23: (3.8583, 0.7159), 24: (3.8953, 0.7121), 25: (3.9306, 0.7084),
}
MAX_SUBGROUP = 25


@dataclass(frozen=True)
class Constants:
    n: int
    d2: float
    d3: float
    c4: float

    @property
    def a2(self) -> float:
        return 3 / (self.d2 * math.sqrt(self.n))

    @property
    def d3_factor(self) -> float:  # D3
        return max(0.0, 1 - 3 * self.d3 / self.d2)

    @property
    def d4(self) -> float:
        return 1 + 3 * self.d3 / self.d2

    @property
    def a3(self) -> float:
        return 3 / (self.c4 * math.sqrt(self.n))

    @property
    def b3(self) -> float:
        return max(0.0, 1 - 3 * math.sqrt(1 - self.c4 ** 2) / self.c4)

    @property
    def b4(self) -> float:
        return 1 + 3 * math.sqrt(1 - self.c4 ** 2) / self.c4


def c4(n: int) -> float:
    """E[s]/sigma for samples of n: sqrt(2/(n-1)) Γ(n/2)/Γ((n-1)/2)."""
    return math.sqrt(2 / (n - 1)) * math.exp(math.lgamma(n / 2) - math.lgamma((n - 1) / 2))


def constants(n: int) -> Constants:
    if n not in _D2_D3:
        raise ValueError(f"subgroup size {n}: use 2 to {MAX_SUBGROUP}")
    d2, d3 = _D2_D3[n]
    return Constants(n, d2, d3, c4(n))


# -- observations and plotted points ---------------------------------------------------------

@dataclass(frozen=True)
class Point:
    """One plotted point: the statistic, its subgroup size, and its spread (R, s or MR)."""

    stat: float
    n: float
    spread: float | None = None
    mean: float | None = None  # variables: subgroup mean (== stat), for capability
    sd: float | None = None  # variables: subgroup standard deviation (n > 1)


def subgroup_point(chart: str, values: Sequence[float], previous: float | None = None
                   ) -> Point:
    """The plotted point of one complete subgroup of raw observations.

    Attribute charts take (count, inspected) pairs flattened as [count, n, count, n, …].
    I-MR takes one value and the previous individual (for the moving range).
    """
    if chart == "i-mr":
        x = values[0]
        return Point(x, 1, abs(x - previous) if previous is not None else None, x, None)
    if chart in ("p", "u"):
        counts, sizes = values[0::2], values[1::2]
        total = sum(sizes)
        return Point(sum(counts) / total, total)
    n = len(values)
    mean = sum(values) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    spread = (max(values) - min(values)) if chart == "xbar-r" else sd
    return Point(mean, n, spread, mean, sd)


def points(chart: str, subgroups: Iterable[Sequence[float]]) -> list[Point]:
    out: list[Point] = []
    previous: float | None = None
    for g in subgroups:
        p = subgroup_point(chart, g, previous)
        previous = p.stat
        out.append(p)
    return out


# -- control limits ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Limits:
    """Phase-I control limits of one characteristic (as stored, never recomputed)."""

    chart: str
    n: int  # subgroup size (1 for I-MR; inspection units per subgroup for p/u)
    center: float  # x̿, p̄ or ū
    sigma: float  # variables: sigma of one observation (within); attributes: unused (0)
    spread_center: float | None = None  # R̄, s̄ or MR̄
    spread_lcl: float | None = None
    spread_ucl: float | None = None

    def at(self, n: float | None = None) -> tuple[float, float, float]:
        """(lcl, ucl, sigma of the plotted statistic) for a point of subgroup size n."""
        size = n or self.n or 1
        if self.chart == "p":
            s = math.sqrt(self.center * (1 - self.center) / size)
        elif self.chart == "u":
            s = math.sqrt(self.center / size)
        else:
            s = self.sigma / math.sqrt(self.n if self.chart != "i-mr" else 1)
        lcl = self.center - 3 * s
        if self.chart in ("p", "u"):
            lcl = max(0.0, lcl)
        return lcl, self.center + 3 * s, s

    def z(self, p: Point) -> float:
        _lcl, _ucl, s = self.at(p.n)
        if s == 0:
            return 0.0 if p.stat == self.center else math.copysign(math.inf, p.stat - self.center)
        return (p.stat - self.center) / s

    def as_dict(self) -> dict[str, float | int | str | None]:
        lcl, ucl, _ = self.at()
        return {"chart": self.chart, "n": self.n, "center": self.center, "sigma": self.sigma,
                "lcl": lcl, "ucl": ucl, "spread_center": self.spread_center,
                "spread_lcl": self.spread_lcl, "spread_ucl": self.spread_ucl}


def phase1_limits(chart: str, n: int, pts: Sequence[Point]) -> Limits:
    """Limits from a phase-I study: the plotted points of its subgroups."""
    if len(pts) < 2:
        raise ValueError("a phase-I study needs at least 2 subgroups")
    if chart in ("p", "u"):
        total = sum(p.n for p in pts)
        center = sum(p.stat * p.n for p in pts) / total
        return Limits(chart, n, center, 0.0)
    center = sum(p.stat for p in pts) / len(pts)
    spreads = [p.spread for p in pts if p.spread is not None]
    spread_center = sum(spreads) / len(spreads)
    if chart == "i-mr":
        k = constants(2)
        sigma = spread_center / k.d2
        return Limits(chart, 1, center, sigma, spread_center, 0.0, k.d4 * spread_center)
    k = constants(n)
    if chart == "xbar-r":
        return Limits(chart, n, center, spread_center / k.d2, spread_center,
                      k.d3_factor * spread_center, k.d4 * spread_center)
    return Limits(chart, n, center, spread_center / k.c4, spread_center,
                  k.b3 * spread_center, k.b4 * spread_center)


# -- run rules ------------------------------------------------------------------------------

class RuleChecker:
    """Western Electric / Nelson rules over a stream of z values, O(1) per point.

    `push(z)` returns the rule numbers (of the chosen set) that the new point completes.
    A checker can be warmed with the points before (their signals are discarded) so that
    a check on arrival sees the same history as a check over the whole series.
    """

    def __init__(self, rule_set: str, use: Sequence[int] | None = None) -> None:
        if rule_set not in RULE_SETS:
            raise ValueError(f"rule set {rule_set!r}: use {' or '.join(RULE_SETS)}")
        self.rule_set = rule_set
        self.use = frozenset(use or RULE_SETS[rule_set])
        self.last: deque[float] = deque(maxlen=5)
        self.side_run = 0  # consecutive points on the current side (signed)
        self.trend = 0  # consecutive increases (>0) or decreases (<0)
        self.alternating = 0  # consecutive differences alternating in sign
        self.last_diff = 0.0
        self.inside1 = 0
        self.outside1 = 0

    def push(self, z: float) -> list[int]:
        prev = self.last[-1] if self.last else None
        self.last.append(z)
        side = 1 if z > 0 else -1 if z < 0 else 0
        if side and self.side_run and (self.side_run > 0) == (side > 0):
            self.side_run += side
        else:
            self.side_run = side
        if prev is not None:
            diff = z - prev
            if diff > 0:
                self.trend = self.trend + 1 if self.trend > 0 else 1
            elif diff < 0:
                self.trend = self.trend - 1 if self.trend < 0 else -1
            else:
                self.trend = 0
            if diff and self.last_diff and (diff > 0) != (self.last_diff > 0):
                self.alternating += 1
            else:
                self.alternating = 1 if diff else 0
            self.last_diff = diff
        self.inside1 = self.inside1 + 1 if abs(z) < 1 else 0
        self.outside1 = self.outside1 + 1 if abs(z) > 1 else 0
        found = self._western() if self.rule_set == "western-electric" else self._nelson()
        return [r for r in found if r in self.use]

    def _beyond(self, k: float, of: int, need: int) -> bool:
        z = self.last[-1]
        if abs(z) <= k:
            return False
        window = list(self.last)[-of:]
        return sum(1 for v in window if v * z > 0 and abs(v) > k) >= need

    def _western(self) -> list[int]:
        out = []
        if abs(self.last[-1]) > 3:
            out.append(1)
        if self._beyond(2, 3, 2):
            out.append(2)
        if self._beyond(1, 5, 4):
            out.append(3)
        if abs(self.side_run) >= 8:
            out.append(4)
        return out

    def _nelson(self) -> list[int]:
        out = []
        if abs(self.last[-1]) > 3:
            out.append(1)
        if abs(self.side_run) >= 9:
            out.append(2)
        if abs(self.trend) >= 5:  # 6 points: 5 steps the same way
            out.append(3)
        if self.alternating >= 13:  # 14 points: 13 differences alternating
            out.append(4)
        if self._beyond(2, 3, 2):
            out.append(5)
        if self._beyond(1, 5, 4):
            out.append(6)
        if self.inside1 >= 15:
            out.append(7)
        if self.outside1 >= 8:
            out.append(8)
        return out


def rule_signals(limits: Limits, pts: Sequence[Point], rule_set: str,
                 use: Sequence[int] | None = None, warm: Sequence[Point] = ()
                 ) -> list[tuple[int, str, int]]:
    """(index into pts, chart 'x' or 'spread', rule number) for every signal in pts."""
    checker = RuleChecker(rule_set, use)
    for p in warm:
        checker.push(limits.z(p))
    out: list[tuple[int, str, int]] = []
    for i, p in enumerate(pts):
        for rule in checker.push(limits.z(p)):
            out.append((i, "x", rule))
        if (p.spread is not None and limits.spread_ucl is not None
                and (p.spread > limits.spread_ucl
                     or ((limits.spread_lcl or 0) > 0 and p.spread < (limits.spread_lcl or 0)))):
            out.append((i, "spread", 1))
    return out


# -- capability -----------------------------------------------------------------------------

def _lower_gamma_regularized(a: float, x: float) -> float:
    """P(a, x): series for x < a + 1, continued fraction otherwise (Numerical Recipes)."""
    if x <= 0:
        return 0.0
    gln = math.lgamma(a)
    if x < a + 1:
        term = total = 1.0 / a
        ap = a
        for _ in range(1000):
            ap += 1
            term *= x / ap
            total += term
            if abs(term) < abs(total) * 1e-15:
                break
        return total * math.exp(-x + a * math.log(x) - gln)
    b = x + 1 - a
    c = 1 / 1e-300
    d = 1 / b
    h = d
    for i in range(1, 1000):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = 1e-300 if abs(d) < 1e-300 else d
        c = b + an / c
        c = 1e-300 if abs(c) < 1e-300 else c
        d = 1 / d
        delta = d * c
        h *= delta
        if abs(delta - 1) < 1e-15:
            break
    return 1 - math.exp(-x + a * math.log(x) - gln) * h


def chi2_quantile(p: float, df: float) -> float:
    """The p quantile of the chi-square distribution with df degrees of freedom."""
    lo, hi = 0.0, max(10.0, df * 10)
    for _ in range(200):
        mid = (lo + hi) / 2
        if _lower_gamma_regularized(df / 2, mid / 2) < p:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


@dataclass(frozen=True)
class Index:
    value: float | None
    lower: float | None
    upper: float | None

    def as_dict(self) -> dict[str, float | None]:
        return {"value": self.value, "lower": self.lower, "upper": self.upper}


def _cp(lsl: float | None, usl: float | None, sigma: float, n: int, conf: float) -> Index:
    if lsl is None or usl is None or sigma <= 0:
        return Index(None, None, None)
    value = (usl - lsl) / (6 * sigma)
    a = (1 - conf) / 2
    df = n - 1
    return Index(value, value * math.sqrt(chi2_quantile(a, df) / df),
                 value * math.sqrt(chi2_quantile(1 - a, df) / df))


def _cpk(lsl: float | None, usl: float | None, mean: float, sigma: float, n: int,
         conf: float) -> Index:
    """Cpk with Bissell's (1990) normal-approximation bounds."""
    sides = [x for x in ((usl - mean) if usl is not None else None,
                         (mean - lsl) if lsl is not None else None) if x is not None]
    if not sides or sigma <= 0:
        return Index(None, None, None)
    value = min(sides) / (3 * sigma)
    z = NormalDist().inv_cdf(1 - (1 - conf) / 2)
    half = z * math.sqrt(1 / (9 * n) + value ** 2 / (2 * (n - 1)))
    return Index(value, value - half, value + half)


@dataclass(frozen=True)
class Capability:
    n: int
    mean: float
    sigma_within: float | None
    sigma_overall: float
    cp: Index
    cpk: Index
    pp: Index
    ppk: Index
    confidence: float

    def as_dict(self) -> dict[str, object]:
        return {"n": self.n, "mean": self.mean, "sigma_within": self.sigma_within,
                "sigma_overall": self.sigma_overall, "confidence": self.confidence,
                "cp": self.cp.as_dict(), "cpk": self.cpk.as_dict(),
                "pp": self.pp.as_dict(), "ppk": self.ppk.as_dict()}


def overall_sd(pts: Sequence[Point]) -> tuple[int, float, float]:
    """(N, mean, s) of every observation behind variables points (exact from the
    subgroup means and standard deviations: total sum of squares)."""
    n_total = sum(int(p.n) for p in pts)
    mean = sum((p.mean or 0.0) * p.n for p in pts) / n_total
    ss = sum((p.n - 1) * (p.sd or 0.0) ** 2 + p.n * ((p.mean or 0.0) - mean) ** 2 for p in pts)
    return n_total, mean, math.sqrt(ss / (n_total - 1)) if n_total > 1 else 0.0


def within_sigma(chart: str, pts: Sequence[Point]) -> float | None:
    """sigma within subgroups: R̄/d2, s̄/c4, or MR̄/d2(2) for individuals."""
    spreads = [p.spread for p in pts if p.spread is not None]
    if not spreads:
        return None
    bar = sum(spreads) / len(spreads)
    if chart == "i-mr":
        return bar / constants(2).d2
    n = int(pts[0].n)
    return bar / (constants(n).d2 if chart == "xbar-r" else constants(n).c4)


def capability(chart: str, pts: Sequence[Point], lsl: float | None, usl: float | None,
               confidence: float = 0.95, sigma_within: float | None = None) -> Capability:
    """Cp/Cpk from within-subgroup sigma, Pp/Ppk from overall sigma, with bounds.

    Confidence bounds: Cp and Pp from the chi-square distribution of s² (N-1 degrees of
    freedom); Cpk and Ppk by Bissell's approximation.
    """
    if chart not in VARIABLE_CHARTS:
        raise ValueError("capability indices apply to variables charts (I-MR, X̄-R, X̄-S)")
    n, mean, s_all = overall_sd(pts)
    s_within = sigma_within if sigma_within is not None else within_sigma(chart, pts)
    w = s_within or 0.0
    return Capability(n, mean, s_within, s_all,
                      _cp(lsl, usl, w, n, confidence), _cpk(lsl, usl, mean, w, n, confidence),
                      _cp(lsl, usl, s_all, n, confidence),
                      _cpk(lsl, usl, mean, s_all, n, confidence), confidence)
