"""Does the RL-readiness probe predict the RL gain? Spearman's rho of each probe measure (and of the base's few-shot
accuracy) against the realised gain, over every probed RL run of every seed, with a bootstrap interval.

Reads files only: `<seed dir>/probe/<run>/probe.json` (pipeline stage `probe:<run>`, `experiment.probe`), the
run's RL validation (`rl_gain`: final minus step-0 greedy accuracy, and `rl_sampled_gain`: the same of avg@k, in
percentage points) and the initial model's eval
summary (`fewshot_accuracy`). The paper's observation to test: few-shot scores did not predict the RL outcome.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

from ..config import Recipe
from . import stats
from .metrics import value_or_missing

# (key in probe.json "measures" or "fewshot_accuracy", what it is); "pass@k" is the probe's largest k
PREDICTORS = (
    ("fewshot_accuracy", "base few-shot accuracy (eval, %)"),
    ("greedy_accuracy", "probe: greedy accuracy on RL prompts"),
    ("pass@1", "probe: pass@1 at the RL temperature"),
    ("pass@k", "probe: pass@k (k = samples)"),
    ("solved_share", "probe: share of prompts with pass@k > 0"),
    ("grpo_signal_share", "probe: share of GRPO groups with mixed rewards (expected)"),
    ("format_rate", "probe: answer extractable"),
    ("termination_rate", "probe: ends before the budget"),
    ("repetition_rate", "probe: repetitive responses"),
    ("lucky_rate", "probe: correct answers without the gold chain"),
    ("response_len_mean", "probe: mean response length (tokens)"),
)
MIN_PAIRS = 4


def probe_measures(path: Path) -> Optional[dict]:
    """The measures of one probe.json (with "pass@k" set to its largest-k pass), or None if absent/unreadable."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    m = dict(data.get("measures") or {})
    ks = [int(k[5:]) for k in m if k.startswith("pass@") and k[5:].isdigit()]
    if ks:
        m["pass@k"] = m[f"pass@{max(ks)}"]
    return m


def readiness_points(recipe: Recipe, seed_dirs: dict[int, Path], runs: list[str]) -> tuple[list[dict], dict]:
    """One point per (seed, probed run) with a probe and a realised gain: {"seed", "run", "gain", measures...};
    and why each other pair is missing."""
    points, missing = [], {}
    rl_runs = recipe.rl.runs()
    for seed, run_dir in seed_dirs.items():
        for run in runs:
            measures = probe_measures(Path(run_dir) / "probe" / run / "probe.json")
            gain, why = value_or_missing(Path(run_dir), "rl_gain", run, "avg")
            if measures is None or gain is None:
                missing[f"{seed}/{run}"] = why or f"{Path(run_dir) / 'probe' / run / 'probe.json'}: not found"
                continue
            sampled, _ = value_or_missing(Path(run_dir), "rl_sampled_gain", run, "avg")
            few, _ = value_or_missing(Path(run_dir), "fewshot_accuracy", rl_runs[run][0], "avg")
            points.append({"seed": seed, "run": run, "gain": gain, "sampled_gain": sampled, **measures,
                           "fewshot_accuracy": few})
    return points, missing


def correlations(points: list[dict], n_boot: int = 2000, target: str = "gain") -> list[dict]:
    """Per predictor: the pairs used, Spearman's rho with `target` ("gain": greedy, "sampled_gain": avg@k) and its
    95% percentile-bootstrap interval (None where fewer than MIN_PAIRS pairs, or a constant predictor or gain,
    leave rho undefined); and `rho_within` [low_within, high_within]: rho inside each seed, averaged over seeds."""
    rows = []
    for key, what in PREDICTORS:
        kept = [p for p in points if p.get(key) is not None and p.get(target) is not None]
        pairs = [(float(p[key]), float(p[target])) for p in kept]
        row = {"measure": key, "what": what, "n": len(pairs), "rho": None, "low": None, "high": None, "note": "",
               **_within_seed(kept, key, target, n_boot)}
        xs, ys = [x for x, _ in pairs], [y for _, y in pairs]
        if len(pairs) < MIN_PAIRS:
            row["note"] = f"fewer than {MIN_PAIRS} pairs"
        elif len(set(xs)) < 2 or len(set(ys)) < 2:
            row["note"] = "constant " + ("measure" if len(set(xs)) < 2 else "gain")
        else:
            try:
                row["rho"], row["low"], row["high"] = stats.spearman_bootstrap(xs, ys, n_boot=n_boot, seed=0)
            except ValueError as exc:
                row["note"] = str(exc)
        rows.append(row)
    return rows


def _within_seed(points: list[dict], key: str, target: str, n_boot: int) -> dict:
    """The same rank relation inside each seed (its runs share one stable model), averaged over seeds."""
    by_seed: dict = {}
    for p in points:
        xs, ys = by_seed.setdefault(p.get("seed"), ([], []))
        xs.append(float(p[key]))
        ys.append(float(p[target]))
    try:
        rho, low, high, n = stats.within_group_spearman(list(by_seed.values()), n_boot=n_boot, seed=0)
    except ValueError:
        return {"rho_within": None, "low_within": None, "high_within": None, "seeds_within": 0}
    return {"rho_within": rho, "low_within": low, "high_within": high, "seeds_within": n}


def reading(row: dict) -> str:
    """What the interval says: a rank relation of that sign, or none shown."""
    if row["rho"] is None:
        return row["note"] or "undefined"
    if row["low"] > 0:
        return "predicts: higher goes with more gain"
    if row["high"] < 0:
        return "predicts: higher goes with less gain"
    return "no rank relation shown (interval contains 0)"


def analyze_readiness(recipe: Recipe, seed_dirs: dict[int, Path]) -> Optional[dict]:
    """The readiness section of findings.json, or None when the recipe does not probe."""
    if not recipe.experiment.probe.enabled:
        return None
    from ..pipeline import readiness_probed

    runs = readiness_probed(recipe.rl.runs())
    points, missing = readiness_points(recipe, seed_dirs, runs)
    out = {"runs": runs, "points": points, "missing": missing}
    for name, target in (("correlations", "gain"), ("correlations_sampled", "sampled_gain")):
        rows = correlations(points, target=target)
        for r in rows:
            r["reading"] = reading(r)
        out[name] = rows
    return out
