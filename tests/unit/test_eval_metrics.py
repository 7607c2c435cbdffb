"""Exact values of the evaluation metrics (pass@k, avg@k, maj@k, length statistics)."""
import math

import pytest

from octothinker.eval.metrics import avg_at_k, ks_for, length_stats, majority_correct, pass_at_k, summarize


@pytest.mark.parametrize(
    "n,c,k,expected",
    [
        (4, 1, 1, 0.25),
        (4, 2, 2, 1 - 1 / 6),  # 1 - C(2,2)/C(4,2)
        (5, 0, 3, 0.0),
        (3, 3, 1, 1.0),
        (10, 3, 8, 1.0),  # n - c < k: every draw of 8 contains a correct one
        (256, 1, 1, 1 / 256),
        (10, 2, 3, 1 - math.comb(8, 3) / math.comb(10, 3)),
        (256, 5, 64, 1 - math.comb(251, 64) / math.comb(256, 64)),
    ],
)
def test_pass_at_k(n, c, k, expected):
    assert pass_at_k(n, c, k) == pytest.approx(expected, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("n,c,k", [(4, 5, 1), (4, -1, 1), (4, 1, 0), (4, 1, 5)])
def test_pass_at_k_rejects_bad_counts(n, c, k):
    with pytest.raises(ValueError):
        pass_at_k(n, c, k)


def test_avg_at_k():
    assert avg_at_k([True, False, False, True]) == 0.5
    assert avg_at_k([False]) == 0.0
    with pytest.raises(ValueError):
        avg_at_k([])


@pytest.mark.parametrize(
    "extracted,correct,expected",
    [
        (["2", "3", "2", None], [True, False, True, False], True),
        (["3", "3", "2"], [False, False, True], False),
        ([None, None], [False, False], False),
        (["2", "3"], [False, True], False),  # tie: the answer seen first wins
        ([None, "5", "5", "4"], [False, True, True, False], True),
    ],
)
def test_majority_correct(extracted, correct, expected):
    assert majority_correct(extracted, correct) is expected


def test_length_stats():
    assert length_stats([10, 20, 30], [True, False, True], [False, False, True]) == {
        "mean_tokens": 20.0, "mean_tokens_correct": 20.0, "truncation_rate": pytest.approx(1 / 3)}
    assert length_stats([4], [False], [False])["mean_tokens_correct"] is None


@pytest.mark.parametrize("n,ks", [(1, [1]), (5, [1, 2, 4, 5]), (8, [1, 2, 4, 8])])
def test_ks_for(n, ks):
    assert ks_for(n) == ks


def test_summarize_two_problems():
    problems = [
        {"correct": [True, False], "extracted": ["1", "2"], "n_tokens": [10, 30], "truncated": [False, True]},
        {"correct": [False, False], "extracted": ["7", "7"], "n_tokens": [20, 20], "truncated": [False, False]},
    ]
    m = summarize(problems)
    assert m["n_problems"] == 2 and m["n_samples"] == 2
    assert m["accuracy"] == 25.0 and m["avg@2"] == 25.0
    assert m["pass@1"] == 25.0 and m["pass@2"] == 50.0
    assert m["maj@2"] == 50.0  # problem 1: tie -> "1" (correct); problem 2: "7" wrong
    assert m["mean_tokens"] == 20.0 and m["mean_tokens_correct"] == 10.0 and m["truncation_rate"] == 0.25


def test_summarize_rejects_ragged_samples():
    with pytest.raises(ValueError, match="problem 1"):
        summarize([{"correct": [True], "extracted": ["1"], "n_tokens": [1], "truncated": [False]},
                   {"correct": [True, True], "extracted": ["1", "1"], "n_tokens": [1, 1], "truncated": [False] * 2}])
