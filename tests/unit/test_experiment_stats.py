"""Across-seed statistics: t quantiles, mean / sd / interval with exact values, verdict rules."""
import math

import pytest

from octothinker.experiment import stats
from octothinker.experiment.stats import comparison_verdict, finding_verdict, summarize, t975


@pytest.mark.parametrize("df, q", [(1, 12.706), (2, 4.303), (3, 3.182), (4, 2.776), (5, 2.571), (9, 2.262),
                                   (10, 2.228), (19, 2.093), (29, 2.045), (30, 2.042), (31, 2.040), (40, 2.021),
                                   (60, 2.000), (120, 1.980), (1000, 1.962)])
def test_t_quantiles(df, q):
    assert round(t975(df), 3) == q


def test_t_quantiles_decrease_to_the_normal():
    qs = [t975(df) for df in range(1, 2000)]
    assert all(a > b for a, b in zip(qs, qs[1:])) and 1.96 < qs[-1] < 1.962
    with pytest.raises(ValueError, match="degrees of freedom"):
        t975(0)


@pytest.mark.parametrize("values, mean, sd, low, high", [
    # mean 2, sd 1, half-width 4.3027 / sqrt(3)
    ([1.0, 2.0, 3.0], 2.0, 1.0, 2.0 - 4.3027 / math.sqrt(3), 2.0 + 4.3027 / math.sqrt(3)),
    # two seeds: sd = |a - b| / sqrt(2); half-width 12.7062 * sd / sqrt(2) = 12.7062 * 2 / 2
    ([4.0, 6.0], 5.0, math.sqrt(2.0), 5.0 - 12.7062, 5.0 + 12.7062),
    # identical values: zero-width interval
    ([7.0, 7.0, 7.0, 7.0], 7.0, 0.0, 7.0, 7.0),
])
def test_summarize_exact(values, mean, sd, low, high):
    s = summarize(values)
    assert s.n == len(values)
    assert s.mean == pytest.approx(mean, abs=1e-12)
    assert s.sd == pytest.approx(sd, abs=1e-12)
    assert s.low == pytest.approx(low, abs=1e-9) and s.high == pytest.approx(high, abs=1e-9)


def test_summarize_one_and_none():
    one = summarize([3.5])
    assert (one.n, one.mean, one.sd, one.low, one.high) == (1, 3.5, None, None, None)
    assert "no interval" in one.note
    empty = summarize([])
    assert empty.n == 0 and empty.mean is None and empty.note == "no values"


@pytest.mark.parametrize("diffs, expect, verdict", [
    ([10.0, 12.0, 11.0], "greater", "reproduced"),
    ([10.0, 12.0, 11.0], "less", "not reproduced"),
    ([-10.0, -12.0, -11.0], "greater", "not reproduced"),
    ([-10.0, -12.0, -11.0], "less", "reproduced"),
    ([3.0, -4.0, 1.0], "greater", "inconclusive"),
    ([3.0, -4.0, 1.0], "less", "inconclusive"),
    ([5.0], "greater", "inconclusive"),  # one seed: no interval
    ([], "less", "inconclusive"),
    ([1.0, 9.0], "greater", "inconclusive"),  # mean 5 but t(0.975, 1) = 12.7 makes the interval [-45.8, 55.8]
    ([0.0, 0.0, 0.0], "greater", "inconclusive"),  # interval [0, 0] is not above zero
])
def test_comparison_verdict(diffs, expect, verdict):
    assert comparison_verdict(diffs, expect) == verdict


def test_comparison_verdict_rejects_unknown_expect():
    with pytest.raises(ValueError, match="expect"):
        comparison_verdict([1.0, 2.0], "equal")


@pytest.mark.parametrize("verdicts, out", [
    (["reproduced", "reproduced"], "reproduced"),
    (["not reproduced"], "not reproduced"),
    (["inconclusive", "inconclusive"], "inconclusive"),
    (["reproduced", "inconclusive"], "mixed"),
    (["reproduced", "not reproduced"], "mixed"),
    (["reproduced", "missing"], "incomplete"),
    (["missing", "missing"], "missing"),
    ([], "inconclusive"),
])
def test_finding_verdict(verdicts, out):
    assert finding_verdict(verdicts) == out
    assert out in (stats.REPRODUCED, stats.NOT_REPRODUCED, stats.INCONCLUSIVE, stats.MIXED, stats.INCOMPLETE, stats.MISSING)


@pytest.mark.parametrize("xs, ranks", [
    ([3.0, 1.0, 2.0], [3.0, 1.0, 2.0]),
    ([1.0, 2.0, 2.0, 3.0], [1.0, 2.5, 2.5, 4.0]),  # a tie shares the mean of ranks 2 and 3
    ([5.0, 5.0, 5.0], [2.0, 2.0, 2.0]),
    ([0.5, 0.1, 0.5, 0.1, 0.9], [3.5, 1.5, 3.5, 1.5, 5.0]),
])
def test_average_ranks(xs, ranks):
    assert stats.average_ranks(xs) == ranks


@pytest.mark.parametrize("xs, ys, rho", [
    ([1, 2, 3, 4], [10, 20, 30, 40], 1.0),
    ([1, 2, 3, 4], [4, 3, 2, 1], -1.0),
    ([1, 2, 3, 4], [1, 3, 2, 4], 0.8),  # 1 - 6 * sum(d^2) / (n (n^2 - 1)) = 1 - 12 / 60
    ([1, 2, 2, 3], [1, 2, 3, 4], math.sqrt(0.9)),  # tied ranks 2.5, 2.5: cov 4.5 / sqrt(4.5 * 5)
    ([0.1, 0.4, 0.35, 0.8, 0.2, 0.6, 0.6, 0.9], [1, 3, 2.5, 7, 4, 5, 6.5, 6], 0.8383383833392813),
])
def test_spearman_exact(xs, ys, rho):
    assert stats.spearman(xs, ys) == pytest.approx(rho, abs=1e-12)


@pytest.mark.parametrize("xs, ys, match", [
    ([1, 2], [1], "differ in length"),
    ([1], [1], "at least 2 pairs"),
    ([1, 1, 1], [1, 2, 3], "constant"),
])
def test_spearman_rejects_bad_input(xs, ys, match):
    with pytest.raises(ValueError, match=match):
        stats.spearman(xs, ys)


def test_spearman_bootstrap_exact_and_seeded():
    xs, ys = [0.1, 0.4, 0.35, 0.8, 0.2, 0.6, 0.6, 0.9], [1, 3, 2.5, 7, 4, 5, 6.5, 6]
    rho, lo, hi = stats.spearman_bootstrap(xs, ys, n_boot=2000, seed=0)
    # cross-checked once against numpy.percentile of the same 2000 resamples' rank correlations
    assert (rho, lo, hi) == (pytest.approx(0.8383383833392813, abs=1e-12), pytest.approx(25 / 73, abs=1e-12), 1.0)
    assert stats.spearman_bootstrap(xs, ys, n_boot=2000, seed=0) == (rho, lo, hi)  # same seed, same interval
    assert stats.spearman_bootstrap(xs, ys, n_boot=2000, seed=1)[1] != lo


def test_spearman_bootstrap_monotone_and_degenerate():
    rho, lo, hi = stats.spearman_bootstrap([1, 2, 3, 4, 5], [10, 20, 30, 40, 50], n_boot=200)
    assert (rho, lo, hi) == (pytest.approx(1.0), pytest.approx(1.0), pytest.approx(1.0))  # every resample is monotone
    with pytest.raises(ValueError, match="n_boot"):
        stats.spearman_bootstrap([1, 2], [1, 2], n_boot=0)
    with pytest.raises(ValueError, match="none of the 1 resamples"):  # seed 0 draws the same pair twice
        stats.spearman_bootstrap([1, 2], [1, 2], n_boot=1, seed=0)


def test_within_group_spearman_removes_the_between_group_shift():
    # each group ranks perfectly backwards, but group 2 sits higher on both axes: pooled rho is positive
    a = ([1, 2, 3], [3, 2, 1])
    b = ([10, 11, 12], [12, 11, 10])
    assert stats.spearman(a[0] + b[0], a[1] + b[1]) == pytest.approx(1 - 6 * 16 / (6 * 35), abs=1e-12)  # +0.542857
    rho, lo, hi, n = stats.within_group_spearman([a, b], n_boot=500, seed=0)
    assert (rho, lo, hi, n) == (pytest.approx(-1.0), pytest.approx(-1.0), pytest.approx(-1.0), 2)
    assert stats.within_group_spearman([a, b], n_boot=500, seed=0) == (rho, lo, hi, n)  # seeded


def test_within_group_spearman_averages_groups_and_skips_small_or_constant_ones():
    up, down = ([1, 2, 3, 4], [1, 2, 3, 4]), ([1, 2, 3, 4], [4, 3, 2, 1])
    rho, lo, hi, n = stats.within_group_spearman([up, down, ([1, 2], [2, 1]), ([1, 1, 1], [1, 2, 3])], n_boot=200)
    assert (rho, n) == (pytest.approx(0.0), 2)
    assert lo == pytest.approx(0.0) and hi == pytest.approx(0.0)  # every defined resample of each group is +-1
    with pytest.raises(ValueError, match="no group has a defined rho"):
        stats.within_group_spearman([([1, 2], [1, 2]), ([5, 5, 5], [1, 2, 3])])
    with pytest.raises(ValueError, match="n_boot"):
        stats.within_group_spearman([up], n_boot=0)
