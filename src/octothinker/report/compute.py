"""Measured compute per stage for the report's run facts: tokens, FLOPs, wall time, device-hours (no torch).

Tokens come from each stage's own files: mid-training metrics (`tokens`), RL rows (tokens generated per step,
`gen_tokens_per_s x time_gen`, else mean length x rollouts) plus validation (mean lengths x problems x
samples), eval summaries (mean tokens x problems x samples). FLOPs use the formulas of `octothinker.budget`
on the run's model shape; wall time is pipeline.json's (run.json's for older runs). Each stage runs in one
process, so device-hours = wall time x 1 device.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ..budget import (
    Shape, benchmark_problems, forward_flops, gpu_peak, shape_of_config, train_flops,
)
from .collect import MEMORISATION_SETS, RunData, num


@dataclass
class Measured:
    """One stage's measured compute; None where the run's files do not say."""

    stage: str
    status: str = ""
    train_tokens: Optional[float] = None
    gen_tokens: Optional[float] = None
    flops: Optional[float] = None
    wall_s: Optional[float] = None

    @property
    def device_hours(self) -> Optional[float]:
        """Wall hours x 1 device."""
        return None if self.wall_s is None else self.wall_s / 3600

    @property
    def flops_per_s(self) -> Optional[float]:
        """Achieved FLOP/s over the stage's wall time."""
        return self.flops / self.wall_s if self.flops and self.wall_s else None


def run_shape(data: RunData) -> Optional[Shape]:
    """The run's model shape: a checkpoint's config.json, else the resolved recipe's model (shape table / tiny)."""
    if data.model_config:
        try:
            return Shape.from_hf(data.model_config)
        except (KeyError, TypeError, ValueError):
            pass
    cfg = data.facts.get("config") if isinstance(data.facts.get("config"), dict) else {}
    vocab = next((int(m["vocab_size"]) for m in data.manifests.values() if num(m.get("vocab_size"))), None)
    return shape_of_config(cfg, vocab)


def _section(data: RunData, name: str) -> dict:
    """One section of the resolved recipe in run.json ({} when absent)."""
    cfg = data.facts.get("config") if isinstance(data.facts.get("config"), dict) else {}
    return cfg.get(name) if isinstance(cfg.get(name), dict) else {}


def _midtrain(data: RunData, name: str, shape: Optional[Shape]) -> Measured:
    """Tokens trained: the largest `tokens` of the stage's metrics rows."""
    tokens = [num(r.get("tokens")) for r in data.midtrain.get(name, []) if num(r.get("tokens")) is not None]
    seq = num(_section(data, "data").get("seq_len"))
    m = Measured(f"midtrain:{name}", train_tokens=max(tokens) if tokens else None)
    if m.train_tokens and shape and seq:
        m.flops = train_flops(shape, m.train_tokens, seq)
    return m


def _rl(data: RunData, name: str, shape: Optional[Shape]) -> Measured:
    """Rollout tokens per step (generation + update FLOPs) and the validation points' decoding."""
    run = data.rl.get(name)
    rl = _section(data, "rl")
    rollouts = (num(rl.get("prompts_per_step")) or 0) * (num(rl.get("group_size")) or 0)
    epochs = num(rl.get("ppo_epochs")) or 1
    kl = (num(rl.get("kl_coef")) or 0) > 0
    m = Measured(f"rl:{name}")
    if run is None:
        return m
    gen = train = flops = 0.0
    for r in run.rows:
        rate, t_gen, mean = num(r.get("gen_tokens_per_s")), num(r.get("time_gen")), num(r.get("response_len_mean"))
        tokens = rate * t_gen if rate is not None and t_gen is not None else (mean or 0.0) * rollouts
        length = mean if mean is not None else (tokens / rollouts if rollouts else 0.0)
        forwards = 1 + 3 * epochs + (1 if (num(r.get("updates")) or 0) > 1 else 0) + (1 if kl else 0)
        gen, train = gen + tokens, train + tokens * epochs
        if shape:
            flops += forwards * forward_flops(shape, tokens, length)
    toy = num(_section(data, "toyworld").get("benchmark_size")) or 200
    limit = int(num(rl.get("validate_limit")) or 0) or None
    for bench, series in run.validation.items():
        memorisation = bench in MEMORISATION_SETS
        n = (num(rl.get("validate_rl_prompts")) or 0) if memorisation else benchmark_problems(bench, limit, int(toy))
        samples = series.get("samples") or [None] * len(series["step"])
        sampled = series.get("sampled_length") or [None] * len(series["step"])
        for greedy_len, k, k_len in zip(series["length"], samples, sampled):
            for count, length in ((1, greedy_len), (k or 0, k_len)):
                if count and length:
                    gen += n * count * length
                    flops += forward_flops(shape, n * count * length, length) if shape else 0.0
    m.gen_tokens, m.train_tokens = gen or None, train or None
    m.flops = flops or None
    return m


def _eval(data: RunData, model: str, shape: Optional[Shape]) -> Measured:
    """Generated tokens per benchmark: mean tokens x problems x samples."""
    ev = data.evals.get(model, {"benchmarks": {}})
    gen = flops = 0.0
    for metrics in ev["benchmarks"].values():
        mean, problems = num(metrics.get("mean_tokens")), num(metrics.get("n_problems"))
        if mean is None or problems is None:
            continue
        tokens = mean * problems * (num(metrics.get("n_samples")) or 1)
        gen += tokens
        flops += forward_flops(shape, tokens, mean) if shape else 0.0
    return Measured(f"eval:{model}", gen_tokens=gen or None, flops=flops or None)


def measured(data: RunData) -> list[Measured]:
    """One row per stage pipeline.json (else run.json) records, in its order."""
    shape = run_shape(data)
    stages = dict(data.facts.get("stages") or {}) if isinstance(data.facts.get("stages"), dict) else {}
    kinds = ("data", "midtrain", "rl", "eval", "report")
    ids = list(dict.fromkeys([*data.pipeline, *stages]))
    rank = {k: i for i, k in enumerate(kinds)}
    ids.sort(key=lambda sid: rank.get(sid.split(":")[0], len(kinds)))  # a stable sort: plan order within a kind
    out = []
    for sid in ids:
        rec = data.pipeline.get(sid) if isinstance(data.pipeline.get(sid), dict) else {}
        fact = stages.get(sid) if isinstance(stages.get(sid), dict) else {}
        kind, _, name = sid.partition(":")
        if kind == "midtrain":
            m = _midtrain(data, name, shape)
        elif kind == "rl":
            m = _rl(data, name, shape)
        elif kind == "eval":
            m = _eval(data, name, shape)
        else:
            m = Measured(sid)
        m.stage, m.status = sid, str(rec.get("status") or fact.get("status") or "")
        m.wall_s = num(rec.get("wall_s")) if num(rec.get("wall_s")) is not None else num(fact.get("wall_s"))
        out.append(m)
    return out


def device_peak(data: RunData) -> Optional[float]:
    """Peak FLOP/s of the run's GPU when run.json names a known one (None on a CPU)."""
    hw = data.facts.get("hardware") if isinstance(data.facts.get("hardware"), dict) else {}
    return gpu_peak(str(hw["gpu"])) if hw.get("cuda") and hw.get("gpu") else None
