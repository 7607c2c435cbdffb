"""Across-seed statistics (pure, no numpy): mean, sample sd, Student-t 95% interval, verdicts, and Spearman's
rank correlation with a bootstrap interval (probe measures against realised RL gains).

A comparison's verdict comes from the interval of the per-seed differences d_s = metric(a, s) -
metric(b, s): the paper's claim is reproduced when the whole interval lies on the claimed side of
zero, not reproduced when it lies wholly on the other side, and inconclusive otherwise.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

# Two-sided 95% quantiles t(0.975, df) of Student's t for df = 1..30; larger df: the Cornish-Fisher series
# around the normal quantile (`t975`), within 1e-4 of the exact value from df 31 on.
T975 = {
    1: 12.7062, 2: 4.3027, 3: 3.1824, 4: 2.7764, 5: 2.5706, 6: 2.4469, 7: 2.3646, 8: 2.3060, 9: 2.2622,
    10: 2.2281, 11: 2.2010, 12: 2.1788, 13: 2.1604, 14: 2.1448, 15: 2.1314, 16: 2.1199, 17: 2.1098,
    18: 2.1009, 19: 2.0930, 20: 2.0860, 21: 2.0796, 22: 2.0739, 23: 2.0687, 24: 2.0639, 25: 2.0595,
    26: 2.0555, 27: 2.0518, 28: 2.0484, 29: 2.0452, 30: 2.0423,
}
Z975 = 1.959963985

REPRODUCED = "reproduced"
NOT_REPRODUCED = "not reproduced"
INCONCLUSIVE = "inconclusive"
MIXED = "mixed"
MISSING = "missing"
INCOMPLETE = "incomplete"


def t975(df: int) -> float:
    """The 97.5% quantile of Student's t with `df` degrees of freedom (the table to 30, then a series in 1/df:
    the normal 1.96 alone made 32-60-seed intervals 2-4% too narrow)."""
    if df < 1:
        raise ValueError(f"t975: degrees of freedom must be >= 1, got {df}")
    if df in T975:
        return T975[df]
    z = Z975
    return (z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)
            + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * df**3))


@dataclass(frozen=True)
class Summary:
    """Mean, sample sd and 95% interval of the mean of n values; sd and interval are None when n < 2."""

    n: int
    mean: Optional[float]
    sd: Optional[float]
    low: Optional[float]
    high: Optional[float]
    note: str = ""


def summarize(values: Sequence[float]) -> Summary:
    """Mean with a two-sided 95% Student-t interval (mean +- t975(n-1) * sd / sqrt(n))."""
    xs = [float(v) for v in values]
    n = len(xs)
    if n == 0:
        return Summary(0, None, None, None, None, "no values")
    mean = sum(xs) / n
    if n == 1:
        return Summary(1, mean, None, None, None, "one seed: no interval")
    sd = math.sqrt(sum((x - mean) ** 2 for x in xs) / (n - 1))
    half = t975(n - 1) * sd / math.sqrt(n)
    return Summary(n, mean, sd, mean - half, mean + half)


def comparison_verdict(diffs: Sequence[float], expect: str) -> str:
    """Verdict of the claim "a is `expect` (greater/less) than b" from the per-seed differences a - b."""
    if expect not in ("greater", "less"):
        raise ValueError(f"expect: must be 'greater' or 'less', got {expect!r}")
    s = summarize(diffs)
    if s.n < 2:
        return INCONCLUSIVE
    above, below = s.low > 0, s.high < 0
    if expect == "greater":
        return REPRODUCED if above else NOT_REPRODUCED if below else INCONCLUSIVE
    return REPRODUCED if below else NOT_REPRODUCED if above else INCONCLUSIVE


def finding_verdict(verdicts: Sequence[str]) -> str:
    """One verdict for a finding from its comparisons' verdicts.

    All the same (reproduced / not reproduced / inconclusive) -> that verdict; any other mix ->
    "mixed". Comparisons that could not be measured ("missing") make the finding "incomplete",
    or "missing" when none was measured; a finding without comparisons is "inconclusive".
    """
    vs = list(verdicts)
    if not vs:
        return INCONCLUSIVE
    if all(v == MISSING for v in vs):
        return MISSING
    if MISSING in vs:
        return INCOMPLETE
    if len(set(vs)) == 1:
        return vs[0]
    return MIXED


def average_ranks(xs: Sequence[float]) -> list[float]:
    """1-based ranks of `xs`, tied values sharing the mean of the ranks they span (Spearman's convention)."""
    order = sorted(range(len(xs)), key=lambda i: xs[i])
    ranks = [0.0] * len(xs)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and xs[order[j + 1]] == xs[order[i]]:
            j += 1
        for pos in range(i, j + 1):
            ranks[order[pos]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def _pearson(xs: Sequence[float], ys: Sequence[float]) -> Optional[float]:
    """Pearson correlation; None when either side is constant (undefined)."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    if sxx == 0 or syy == 0:
        return None
    return sxy / math.sqrt(sxx * syy)


def _check_pairs(xs: Sequence[float], ys: Sequence[float], what: str) -> tuple[list[float], list[float]]:
    xs, ys = [float(x) for x in xs], [float(y) for y in ys]
    if len(xs) != len(ys):
        raise ValueError(f"{what}: xs and ys differ in length ({len(xs)} vs {len(ys)})")
    if len(xs) < 2:
        raise ValueError(f"{what}: need at least 2 pairs, got {len(xs)}")
    return xs, ys


def _rank_rho(xs: Sequence[float], ys: Sequence[float]) -> Optional[float]:
    """Spearman's rho of checked pairs; None when either side is constant."""
    return _pearson(average_ranks(xs), average_ranks(ys))


def _resampled_rho(xs: Sequence[float], ys: Sequence[float], rng) -> Optional[float]:
    """Spearman's rho of one bootstrap resample: len(xs) pairs drawn with replacement from `rng`."""
    idx = [rng.randrange(len(xs)) for _ in range(len(xs))]
    return _rank_rho([xs[i] for i in idx], [ys[i] for i in idx])


def spearman(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Spearman's rank correlation: the Pearson correlation of the average ranks (ties share their mean rank)."""
    xs, ys = _check_pairs(xs, ys, "spearman")
    rho = _rank_rho(xs, ys)
    if rho is None:
        raise ValueError("spearman: undefined when xs or ys is constant")
    return rho


def _percentile(sorted_xs: Sequence[float], q: float) -> float:
    """The q-quantile (0..1) of sorted values, linear between order statistics (numpy's default)."""
    pos = q * (len(sorted_xs) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_xs) - 1)
    return sorted_xs[lo] + (sorted_xs[hi] - sorted_xs[lo]) * (pos - lo)


def spearman_bootstrap(xs: Sequence[float], ys: Sequence[float], n_boot: int = 2000,
                       seed: int = 0) -> tuple[float, float, float]:
    """(rho, low, high): Spearman's rho and a 95% percentile bootstrap interval over resampled (x, y) pairs.

    Each of `n_boot` resamples draws len(xs) pairs with replacement (seeded, so the interval is reproducible);
    resamples where x or y is constant have no rho and are left out of the percentiles.
    """
    import random

    xs, ys = _check_pairs(xs, ys, "spearman_bootstrap")
    if n_boot < 1:
        raise ValueError(f"spearman_bootstrap: n_boot must be >= 1, got {n_boot}")
    rho = spearman(xs, ys)
    rng = random.Random(seed)
    boots = [r for r in (_resampled_rho(xs, ys, rng) for _ in range(n_boot)) if r is not None]
    if not boots:
        raise ValueError(f"spearman_bootstrap: none of the {n_boot} resamples had a defined rho (too few distinct pairs)")
    boots.sort()
    return rho, _percentile(boots, 0.025), _percentile(boots, 0.975)


def within_group_spearman(groups: Sequence[tuple[Sequence[float], Sequence[float]]], n_boot: int = 2000,
                          seed: int = 0) -> tuple[float, float, float, int]:
    """(mean rho, low, high, groups used): Spearman's rho computed inside each group (e.g. the runs of one seed,
    which share a base model), averaged over the groups where it is defined; 95% percentile-bootstrap interval
    from resampling pairs within each group (stratified, seeded). Between-group differences (a seed whose every
    arm is better) cannot make it large: it asks whether the measure ranks the arms of one base. Groups of fewer
    than 3 pairs are skipped."""
    import random

    if n_boot < 1:
        raise ValueError(f"within_group_spearman: n_boot must be >= 1, got {n_boot}")
    usable, rhos = [], []
    for xs, ys in groups:
        if len(xs) < 3 and len(xs) == len(ys):  # two points always rank +-1: no evidence
            continue
        xs, ys = _check_pairs(xs, ys, "within_group_spearman")
        r = _rank_rho(xs, ys)
        if r is not None:
            usable.append((xs, ys))
            rhos.append(r)
    if not usable:
        raise ValueError("within_group_spearman: no group has a defined rho (each needs >= 2 distinct x and y)")
    rho = sum(rhos) / len(rhos)
    rng = random.Random(seed)
    boots = []
    for _ in range(n_boot):
        rs = [r for r in (_resampled_rho(xs, ys, rng) for xs, ys in usable) if r is not None]
        if rs:
            boots.append(sum(rs) / len(rs))
    if not boots:
        raise ValueError(f"within_group_spearman: none of the {n_boot} resamples had a defined rho")
    boots.sort()
    return rho, _percentile(boots, 0.025), _percentile(boots, 0.975), len(usable)
