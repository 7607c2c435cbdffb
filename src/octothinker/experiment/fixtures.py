"""Made-up seed run directories in the RL trainer's and eval runner's file layouts, for tests and smoke runs.

`write_rl_run` writes `rl/<name>/metrics.jsonl` as the trainer does (a step-0 validation-only row,
training rows, validation keys as fractions on every `validate_every`-th row); `write_eval_summary`
writes `eval/<model>/summary.json` (accuracies in percent). No training happens.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from ..paths import RunPaths, atomic_write_json, atomic_write_text


def write_rl_run(run_dir: str | Path, name: str, val_accuracy: dict[str, Sequence[float]],
                 val_length: dict[str, Sequence[float]] | None = None, truncation: Sequence[float] = (),
                 validate_every: int = 5, val_sampled: dict[str, Sequence[float]] | None = None) -> Path:
    """metrics.jsonl with validation points at steps 0, v, 2v, ... (one per entry of each benchmark's list).

    `val_accuracy[bench][i]` (a fraction) is the point at step i * validate_every, `val_sampled[bench][i]` its
    sampled avg@k (`sampled_accuracy`, a fraction; none by default); `truncation[j]` is the training truncation
    rate (a fraction) of step j + 1 (default 0 for every training step).
    """
    n_points = max(len(v) for v in val_accuracy.values())
    steps = (n_points - 1) * validate_every
    truncation = list(truncation) or [0.0] * steps
    rows = []
    for step in range(0, max(steps, len(truncation)) + 1):
        row: dict = {"step": step}
        if step:
            t = truncation[step - 1] if step - 1 < len(truncation) else 0.0
            row.update(accuracy=0.5, reward_mean=0.5, response_len_mean=40.0 + step, truncation_rate=t)
        if step % validate_every == 0 and step // validate_every < n_points:
            i = step // validate_every
            for bench, accs in val_accuracy.items():
                row[f"val/{bench}/accuracy"] = accs[i]
                lengths = (val_length or {}).get(bench)
                row[f"val/{bench}/response_len"] = lengths[i] if lengths else 30.0 + 2 * step
                if (val_sampled or {}).get(bench):
                    row[f"val/{bench}/sampled_accuracy"] = val_sampled[bench][i]
        rows.append(row)
    path = RunPaths(run_dir).rl(name) / "metrics.jsonl"
    atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in rows))
    return path


def write_eval_summary(run_dir: str | Path, model: str, accuracy: dict[str, float]) -> Path:
    """eval/<model>/summary.json in `evaluate_model`'s layout (accuracy in percent per benchmark)."""
    benches = {b: {"accuracy": a, "n_problems": 100, "n_samples": 1} for b, a in accuracy.items()}
    summary = {"model": model, "protocol": "fewshot", "benchmarks": benches,
               "average": sum(accuracy.values()) / len(accuracy) if accuracy else None}
    return atomic_write_json(RunPaths(run_dir).eval(model) / "summary.json", summary)


def fixture_recipe_dict(root: str | Path, name: str = "exp", seeds: Sequence[int] = (0, 1, 2)) -> dict:
    """A small valid recipe with RL runs base/short/long/hybrid and three findings over them."""
    stages = {"base": {"mixture": "m"}, "short": {"mixture": "m", "init_from": "base"},
              "long": {"mixture": "m", "init_from": "base"}, "hybrid": {"mixture": "m", "init_from": "base"}}
    return {
        "run": {"name": name, "root": str(root)},
        "data": {"sources": {"g": {"kind": "toy", "corpus": "general"}},
                 "mixtures": {"m": {"weights": {"g": 1.0}, "tokens": 1000}}},
        "midtrain": {"stages": stages},
        "rl": {"init_from": ["base", "short", "long", "hybrid"], "steps": 10},
        "experiment": {"seeds": list(seeds), "findings": {
            "midtrain_helps": {"title": "Mid-training helps RL", "claim": "RL from a mid-trained model beats RL from the base.",
                               "comparisons": [{"a": "short", "b": "base", "metric": "rl_accuracy", "label": "short vs base"}],
                               "curves": ["short", "base"]},
            "base_fewshot": {"title": "Base few-shot", "claim": "The base model is better few-shot (a reversed claim).",
                             "comparisons": [{"a": "base", "b": "short", "metric": "fewshot_accuracy"}],
                             "curves": []},
            "long_vs_short": {"title": "Long vs short", "claim": "Long-CoT mid-training gives higher RL accuracy.",
                              "comparisons": [{"a": "long", "b": "short", "metric": "rl_accuracy"},
                                              {"a": "hybrid", "b": "short", "metric": "rl_accuracy"}],
                              "curves": ["long", "short", "hybrid"]},
        }},
    }
