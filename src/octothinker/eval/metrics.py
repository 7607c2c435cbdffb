"""Evaluation metrics: avg@k, unbiased pass@k, maj@k and response-length statistics (pure).

Each problem contributes a list of per-sample outcomes `(correct, extracted, n_tokens, truncated)`;
these functions turn them into the numbers the paper reports. No torch, no I/O.
"""
from __future__ import annotations

from collections import Counter
from typing import Optional, Sequence


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from n samples of which c are correct (Chen et al. 2021).

    1 - C(n-c, k) / C(n, k), computed as a running product so that n=256 stays exact
    enough in floating point and never overflows.
    """
    if not 0 <= c <= n:
        raise ValueError(f"pass_at_k: need 0 <= c <= n, got c={c}, n={n}")
    if not 1 <= k <= n:
        raise ValueError(f"pass_at_k: need 1 <= k <= n, got k={k}, n={n}")
    if n - c < k:
        return 1.0
    prob_all_wrong = 1.0
    for i in range(n - c + 1, n + 1):
        prob_all_wrong *= 1.0 - k / i
    return 1.0 - prob_all_wrong


def avg_at_k(correct: Sequence[bool]) -> float:
    """Mean accuracy over the k samples of one problem."""
    if not correct:
        raise ValueError("avg_at_k: no samples")
    return sum(bool(c) for c in correct) / len(correct)


def majority_correct(extracted: Sequence[Optional[str]], correct: Sequence[bool]) -> bool:
    """maj@k for one problem: is the most frequent extracted answer a correct one?

    Samples without an extracted answer do not vote; ties go to the answer seen first.
    Samples with the same extracted string share a verdict, so any one of them decides.
    """
    if len(extracted) != len(correct):
        raise ValueError("majority_correct: extracted and correct differ in length")
    votes = Counter(a for a in extracted if a is not None)
    if not votes:
        return False
    best = max(votes.values())
    winner = next(a for a in extracted if a is not None and votes[a] == best)
    return any(c for a, c in zip(extracted, correct) if a == winner)


def _mean(xs: Sequence[float]) -> Optional[float]:
    return sum(xs) / len(xs) if xs else None


def length_stats(n_tokens: Sequence[int], correct: Sequence[bool], truncated: Sequence[bool]) -> dict:
    """Mean response tokens over all and over correct samples, and the share cut off at the cap."""
    if not (len(n_tokens) == len(correct) == len(truncated)):
        raise ValueError("length_stats: inputs differ in length")
    return {
        "mean_tokens": _mean([float(t) for t in n_tokens]),
        "mean_tokens_correct": _mean([float(t) for t, c in zip(n_tokens, correct) if c]),
        "truncation_rate": _mean([1.0 if t else 0.0 for t in truncated]),
    }


def ks_for(n: int) -> list[int]:
    """The k values reported for n samples: powers of two up to n, plus n itself."""
    ks, k = [], 1
    while k < n:
        ks.append(k)
        k *= 2
    ks.append(n)
    return ks


def summarize(problems: Sequence[dict]) -> dict:
    """Aggregate per-problem sample lists into benchmark metrics.

    Each problem dict has equal-length lists `correct`, `extracted`, `n_tokens`, `truncated`
    (one entry per sample). Returns accuracy (= avg@n, in percent), pass@k and maj@n for the
    k of `ks_for(n)` (all in percent), length statistics and the problem count.
    """
    if not problems:
        return {"n_problems": 0, "accuracy": None}
    n = len(problems[0]["correct"])
    for i, p in enumerate(problems):
        if len(p["correct"]) != n:
            raise ValueError(f"summarize: problem {i} has {len(p['correct'])} samples, expected {n}")
    out: dict = {"n_problems": len(problems), "n_samples": n}
    out["accuracy"] = 100.0 * sum(avg_at_k(p["correct"]) for p in problems) / len(problems)
    out[f"avg@{n}"] = out["accuracy"]
    for k in ks_for(n):
        out[f"pass@{k}"] = 100.0 * sum(pass_at_k(n, sum(map(bool, p["correct"])), k) for p in problems) / len(problems)
    out[f"maj@{n}"] = 100.0 * sum(majority_correct(p["extracted"], p["correct"]) for p in problems) / len(problems)
    flat = lambda key: [x for p in problems for x in p[key]]  # noqa: E731
    out.update(length_stats(flat("n_tokens"), flat("correct"), flat("truncated")))
    return out
