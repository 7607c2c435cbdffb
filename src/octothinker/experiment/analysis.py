"""Measure each finding of a recipe's `experiment:` section across the seed run directories.

The result is plain JSON-ready data (written as findings.json and rendered by `document`): per
comparison the per-seed values of both arms and their difference, the interval of the mean
difference and a verdict; per finding its verdict and the curves of its RL runs.
"""
from __future__ import annotations

from pathlib import Path

from ..config import ComparisonConfig, Recipe
from . import stats
from .metrics import UNITS, rl_curves, value_or_missing


def comparison_name(c: ComparisonConfig) -> str:
    return c.label or f"{c.a} vs {c.b}"


def measure_comparison(c: ComparisonConfig, seed_dirs: dict[int, Path]) -> dict:
    """Per-seed a, b and a - b over the seeds where both arms exist; summary and verdict of the differences."""
    per_seed, missing = {}, {}
    for seed, run_dir in seed_dirs.items():
        a, why_a = value_or_missing(run_dir, c.metric, c.a, c.benchmark)
        b, why_b = value_or_missing(run_dir, c.metric, c.b, c.benchmark)
        if a is None or b is None:
            missing[str(seed)] = "; ".join(w for w in (why_a, why_b) if w)
            continue
        per_seed[str(seed)] = {"a": a, "b": b, "diff": a - b}
    diffs = [v["diff"] for v in per_seed.values()]
    s = stats.summarize(diffs)
    verdict = stats.comparison_verdict(diffs, c.expect) if per_seed else stats.MISSING
    return {
        "name": comparison_name(c), "a": c.a, "b": c.b, "metric": c.metric, "benchmark": c.benchmark,
        "expect": c.expect, "label": c.label, "unit": UNITS[c.metric],
        "per_seed": per_seed, "missing": missing,
        "mean_a": _mean([v["a"] for v in per_seed.values()]), "mean_b": _mean([v["b"] for v in per_seed.values()]),
        "n": s.n, "mean_diff": s.mean, "sd_diff": s.sd, "ci_low": s.low, "ci_high": s.high, "note": s.note,
        # power: a true difference smaller than the interval's half-width cannot be told from zero with these seeds
        "resolvable": (s.high - s.low) / 2 if s.low is not None and s.high is not None else None,
        "verdict": verdict,
    }


def _mean(xs: list[float]):
    return sum(xs) / len(xs) if xs else None


def analyze(recipe: Recipe, seed_dirs: dict[int, Path]) -> dict:
    """Every finding of `recipe.experiment` measured over `seed_dirs` (seed -> that seed's run directory)."""
    findings = {}
    for fname, f in recipe.experiment.findings.items():
        comps = [measure_comparison(c, seed_dirs) for c in f.comparisons]
        verdicts = [c["verdict"] for c in comps]
        measured = [v for v in verdicts if v != stats.MISSING]
        findings[fname] = {
            "title": f.title or fname, "claim": f.claim, "comparisons": comps,
            "verdict": stats.finding_verdict(verdicts),
            "verdict_measured": stats.finding_verdict(measured) if measured else stats.MISSING,
            "curves": {name: rl_curves(seed_dirs, name).to_dict() for name in f.curves},
        }
    from .readiness import analyze_readiness

    return {"seeds": sorted(seed_dirs), "seed_dirs": {str(k): str(v) for k, v in seed_dirs.items()}, "findings": findings,
            "readiness": analyze_readiness(recipe, seed_dirs)}
