"""Per-seed metric values and curves read from a seed's run directory (files only; never imports torch).

RL runs: `<run_dir>/rl/<name>/metrics.jsonl`, parsed with the report's readers (validation keys
`val/<bench>/accuracy` as fractions and `val/<bench>/response_len`; a step-0 row holds the policy
before RL). Few-shot/eval accuracies: `<run_dir>/eval/<model>/summary.json` (percent). Accuracies
and rates come back in percent, lengths in tokens. A missing file or key raises `MetricMissing`
naming the file and what is absent, so one missing run does not stop the analysis.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from ..paths import RunPaths, read_jsonl
from ..report.collect import MEMORISATION_SETS, normalize_summary, num, split_validation
from ..study_config import EXPERIMENT_METRICS

RL_METRICS = tuple(m for m in EXPERIMENT_METRICS if m.startswith("rl_"))  # read from RL runs; the rest from eval
UNITS = {"rl_accuracy": "pp", "rl_gain": "pp", "rl_sampled_accuracy": "pp", "rl_sampled_gain": "pp", "rl_length": "tokens",
         "rl_truncation": "pp", "rl_peak_drop": "pp", "fewshot_accuracy": "pp"}  # unit of a value difference


class MetricMissing(LookupError):
    """A metric cannot be computed: the message names the file and what is missing."""


@dataclass
class RLSeries:
    """One RL run of one seed: validation points (percent / tokens) per step and training truncation."""

    path: Path
    val_steps: list[float] = field(default_factory=list)
    val_accuracy: list[dict[str, float]] = field(default_factory=list)  # per validation step: bench -> %
    val_length: list[dict[str, float]] = field(default_factory=list)  # per validation step: bench -> tokens
    val_sampled: list[dict[str, float]] = field(default_factory=list)  # per validation step: bench -> avg@k %
    train_steps: list[float] = field(default_factory=list)
    truncation: list[float] = field(default_factory=list)  # percent, per training row that logs it


def read_rl(run_dir: str | Path, name: str) -> RLSeries:
    """Parse `<run_dir>/rl/<name>/metrics.jsonl` into validation points and training truncation."""
    path = RunPaths(run_dir).rl(name) / "metrics.jsonl"
    if not path.is_file():
        raise MetricMissing(f"{path}: not found (RL run {name!r} has not run in this seed)")
    try:
        rows = read_jsonl(path)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MetricMissing(f"{path}: unreadable JSONL ({exc})") from None
    by_step: dict[float, dict] = {}
    for r in rows:  # a rewritten step (resume) keeps its last row
        if isinstance(r, dict) and num(r.get("step")) is not None:
            by_step[num(r["step"])] = r
    train, val = split_validation([by_step[s] for s in sorted(by_step)])
    out = RLSeries(path)
    points: dict[float, tuple[dict, dict, dict]] = {}
    for bench, d in val.items():
        if bench in MEMORISATION_SETS:  # RL prompts, not a benchmark: never part of a benchmark average
            continue
        sampled = d.get("sampled") or [None] * len(d["step"])
        for step, acc, length, avg in zip(d["step"], d["accuracy"], d["length"], sampled):
            accs, lens, avgs = points.setdefault(step, ({}, {}, {}))
            accs[bench] = acc
            if length is not None:
                lens[bench] = length
            if avg is not None:
                avgs[bench] = avg
    for step in sorted(points):
        out.val_steps.append(step)
        out.val_accuracy.append(points[step][0])
        out.val_length.append(points[step][1])
        out.val_sampled.append(points[step][2])
    for r in train:
        t = num(r.get("truncation_rate"))
        if t is not None and num(r.get("step")) is not None:
            out.train_steps.append(num(r["step"]))
            out.truncation.append(100.0 * t)
    return out


def _pick(values: dict[str, float], benchmark: str, where: str, key: str) -> float:
    """One benchmark's value, or the mean over every benchmark present ("avg"); MetricMissing names `where`."""
    if benchmark == "avg":
        if not values:
            raise MetricMissing(f"{where}: no {key.format(bench='<bench>')}")
        return sum(values.values()) / len(values)
    if benchmark not in values:
        raise MetricMissing(f"{where}: no {key.format(bench=benchmark)} "
                            f"(benchmarks there: {', '.join(sorted(values)) or 'none'})")
    return values[benchmark]


def _at(point: dict[str, float], benchmark: str, what: str, path: Path, step: float) -> float:
    """A validation point's value for one benchmark, or the mean over the benchmarks it holds ("avg")."""
    return _pick(point, benchmark, f"{path}", f"val/{{bench}}/{what} at step {step:g}")


def rl_value(series: RLSeries, metric: str, benchmark: str = "avg") -> float:
    """One RL metric of one seed's run (see the module doc for units)."""
    p = series.path
    if metric == "rl_truncation":
        if not series.truncation:
            raise MetricMissing(f"{p}: no training rows with truncation_rate")
        k = max(1, math.ceil(len(series.truncation) / 4))
        tail = series.truncation[-k:]
        return sum(tail) / len(tail)
    if not series.val_steps:
        raise MetricMissing(f"{p}: no validation rows (val/<bench>/accuracy)")
    last = len(series.val_steps) - 1
    if metric == "rl_length":
        return _at(series.val_length[last], benchmark, "response_len", p, series.val_steps[last])
    accs = [_at(a, benchmark, "accuracy", p, s) for a, s in zip(series.val_accuracy, series.val_steps)]
    if metric == "rl_accuracy":
        return accs[-1]
    if metric in ("rl_gain", "rl_sampled_gain") and series.val_steps[0] != 0:  # a gain is measured from step 0
        raise MetricMissing(f"{p}: {metric} needs the step-0 validation row (the policy before RL); the first is at "
                            f"step {series.val_steps[0]:g} (an interrupted run that deferred step 0: rerun it)")
    if metric == "rl_gain":
        if len(accs) < 2:
            raise MetricMissing(f"{p}: rl_gain needs a step-0 and a later validation row, found one "
                                f"(step {series.val_steps[0]:g})")
        return accs[-1] - accs[0]
    if metric == "rl_peak_drop":
        return max(accs) - accs[-1]
    if metric in ("rl_sampled_accuracy", "rl_sampled_gain"):
        if not series.val_sampled[-1]:
            raise MetricMissing(f"{p}: no sampled validation (val/<bench>/sampled_accuracy) at step {series.val_steps[-1]:g}")
        last_avg = _at(series.val_sampled[-1], benchmark, "sampled_accuracy", p, series.val_steps[-1])
        if metric == "rl_sampled_accuracy":
            return last_avg
        if len(series.val_steps) < 2 or not series.val_sampled[0]:
            raise MetricMissing(f"{p}: rl_sampled_gain needs sampled validation at step 0 and later")
        return last_avg - _at(series.val_sampled[0], benchmark, "sampled_accuracy", p, series.val_steps[0])
    raise ValueError(f"metric: unknown RL metric {metric!r}; known: {', '.join(RL_METRICS)}")


def fewshot_value(run_dir: str | Path, model: str, benchmark: str = "avg") -> float:
    """Eval accuracy (percent) of `model` from `<run_dir>/eval/<model>/summary.json`."""
    path = RunPaths(run_dir).eval(model) / "summary.json"
    if not path.is_file():
        raise MetricMissing(f"{path}: not found (model {model!r} was not evaluated in this seed)")
    try:
        summary = normalize_summary(json.loads(path.read_text(encoding="utf-8")))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MetricMissing(f"{path}: unreadable JSON ({exc})") from None
    accs = {b: num(m.get("accuracy")) for b, m in summary["benchmarks"].items()}
    accs = {b: v for b, v in accs.items() if v is not None}
    return _pick(accs, benchmark, f"{path}", "benchmarks.{bench}.accuracy")


def metric_value(run_dir: str | Path, metric: str, arm: str, benchmark: str = "avg") -> float:
    """The value of `metric` for one arm (RL run or model name) in one seed's run directory."""
    if metric == "fewshot_accuracy":
        return fewshot_value(run_dir, arm, benchmark)
    if metric in RL_METRICS:
        return rl_value(read_rl(run_dir, arm), metric, benchmark)
    raise ValueError(f"metric: unknown metric {metric!r}; known: {', '.join(UNITS)}")


@dataclass
class Band:
    """A curve across seeds: per x, the mean, min and max over the seeds that have a point there."""

    x: list[float] = field(default_factory=list)
    mean: list[float] = field(default_factory=list)
    low: list[float] = field(default_factory=list)
    high: list[float] = field(default_factory=list)
    n: list[int] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"x": self.x, "mean": self.mean, "min": self.low, "max": self.high, "n_seeds": self.n}


def band(per_seed: list[tuple[list[float], list[float]]]) -> Band:
    """Combine per-seed (xs, ys) series into a mean / min / max band over the union of xs."""
    at: dict[float, list[float]] = {}
    for xs, ys in per_seed:
        for x, y in zip(xs, ys):
            at.setdefault(x, []).append(y)
    out = Band()
    for x in sorted(at):
        ys = at[x]
        out.x.append(x)
        out.mean.append(sum(ys) / len(ys))
        out.low.append(min(ys))
        out.high.append(max(ys))
        out.n.append(len(ys))
    return out


@dataclass
class Curves:
    """One RL run's curves over seeds, and the seeds where it is missing (seed -> reason)."""

    accuracy: Band
    length: Band
    truncation: Band
    missing: dict[int, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"val_accuracy": self.accuracy.to_dict(), "val_response_len": self.length.to_dict(),
                "truncation_rate": self.truncation.to_dict(), "missing": {str(k): v for k, v in self.missing.items()}}


def _avg_series(steps: list[float], points: list[dict[str, float]], benchmark: str) -> tuple[list, list]:
    xs, ys = [], []
    for s, p in zip(steps, points):
        if benchmark == "avg" and p:
            xs.append(s)
            ys.append(sum(p.values()) / len(p))
        elif benchmark in p:
            xs.append(s)
            ys.append(p[benchmark])
    return xs, ys


def rl_curves(seed_dirs: dict[int, Path], name: str, benchmark: str = "avg") -> Curves:
    """Validation accuracy, validation response length and training truncation of one RL run vs step."""
    acc, length, trunc, missing = [], [], [], {}
    for seed, run_dir in seed_dirs.items():
        try:
            s = read_rl(run_dir, name)
        except MetricMissing as exc:
            missing[seed] = str(exc)
            continue
        acc.append(_avg_series(s.val_steps, s.val_accuracy, benchmark))
        length.append(_avg_series(s.val_steps, s.val_length, benchmark))
        trunc.append((s.train_steps, s.truncation))
    return Curves(band(acc), band(length), band(trunc), missing)


def value_or_missing(run_dir: Path, metric: str, arm: str, benchmark: str) -> tuple[Optional[float], str]:
    """(value, "") or (None, why it is missing)."""
    try:
        return metric_value(run_dir, metric, arm, benchmark), ""
    except MetricMissing as exc:
        return None, str(exc)
