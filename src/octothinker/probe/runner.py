"""Run a probe: the RL run's first prompts, k samples each at its temperature plus greedy, graded like RL's rewards.

Everything random is seeded (the prompt stream by run.seed as in RL, the samples by the probe seed), so the
same model, recipe and seed write a byte-identical probe.json; wall times go to timing.json beside it.
"""
from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace
from typing import Optional

from ..paths import RunPaths, atomic_write_json
from .summary import summarize_probe, verdict
from .target import Target, resolve_target

PROBE_VERSION = 1
SEED_SALT = 61  # the probe's draws differ from every RL step's (trainer.step_seed salts 0, 17, 29, 41, 53)


def stream_prompts(prompts: list[dict], seed: int, n: int) -> list[dict]:
    """The first `n` prompts RL's stream hands out (epoch 0 of the trainer's seeded order): steps 1, 2, ... in turn."""
    from ..rl.trainer import RLTrainer

    order = RLTrainer.epoch_order(SimpleNamespace(prompts=prompts, seed=seed), 0)
    return [prompts[i] for i in order[:n]]


def rl_budget(cfg) -> int:
    """The response budget of RL's first step (its length schedule at step 0)."""
    from ..rl.rollout import max_tokens_at

    return max_tokens_at(0, cfg.max_response_tokens, cfg.length_schedule)


def sample_and_grade(model, tok, recs: list[dict], cfg, k: int, seed: int, batch_size: Optional[int]) -> dict:
    """k samples per prompt at the RL temperature and one greedy answer, graded with RL's rewards."""
    import torch

    from ..grading import grade_many
    from ..model.sampling import sample
    from ..rl.rewards import finish_rewards, start_rewards
    from ..rl.templates import render, stop_strings
    from ..rl.trainer import step_seed

    device = next(model.parameters()).device
    texts_in = [render(cfg.template, r["question"]) for r in recs]
    stop, budget = stop_strings(cfg.template), rl_budget(cfg)
    bs = batch_size or max(1, 256 // k)
    gen = torch.Generator(device=device).manual_seed(step_seed(seed, 0, SEED_SALT))
    t0 = time.perf_counter()
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.precision == "bf16"):
        groups = sample(model, tok, texts_in, n=k, max_new_tokens=budget, temperature=cfg.temperature,
                        top_p=cfg.top_p, stop=stop, generator=gen, batch_size=bs)
        t1 = time.perf_counter()
        greedy = [g[0] for g in sample(model, tok, texts_in, n=1, max_new_tokens=budget, temperature=0.0,
                                       stop=stop, batch_size=bs * k)]
    t2 = time.perf_counter()
    flat = [s for g in groups for s in g]
    texts = [s.text for s in flat]
    golds = [recs[i // k]["answer"] for i in range(len(flat))]
    chains = None
    if all(r.get("key") for r in recs):
        from ..toyworld.chain import valid_chain

        chains = [valid_chain(t, recs[i // k]["key"]) for i, t in enumerate(texts)]
    pending = start_rewards(texts, golds, cfg.answer_kind, cfg.reward_timeout)
    rb = finish_rewards(pending, texts, [s.truncated for s in flat], cfg.template, cfg.format_reward, cfg.truncation,
                        cfg.truncation_penalty, cfg.reward_on_timeout, chains, cfg.require_valid_chain)
    gv = grade_many([s.text for s in greedy], [r["answer"] for r in recs], cfg.answer_kind, cfg.reward_timeout)
    t3 = time.perf_counter()
    sampled = [[(rb.correct[i * k + j], flat[i * k + j].n_tokens, texts[i * k + j], flat[i * k + j].truncated)
                for j in range(k)] for i in range(len(recs))]
    rewards = [rb.rewards[i * k:(i + 1) * k] for i in range(len(recs))]
    tokens = sum(s.n_tokens for s in flat) + sum(s.n_tokens for s in greedy)
    return {
        "sampled": sampled,
        "greedy": [(bool(v.correct), s.n_tokens, s.text, s.truncated) for v, s in zip(gv, greedy)],
        "rewards": rewards,
        "reward_timeouts": rb.timeouts,
        "timing": {"sample_s": t1 - t0, "greedy_s": t2 - t1, "grade_s": t3 - t2,
                   "tokens_per_s": tokens / max(t2 - t0, 1e-9)},
    }


def _settings(recipe, t: Target, k: int, seed: int, device: str) -> dict:
    c = t.cfg
    return {"rl_run": t.rl_run, "template": c.template, "temperature": c.temperature, "top_p": c.top_p,
            "max_response_tokens": rl_budget(c), "group_size": c.group_size, "answer_kind": c.answer_kind,
            "format_reward": c.format_reward, "truncation": c.truncation, "require_valid_chain": c.require_valid_chain,
            "precision": c.precision, "samples_per_prompt": k, "seed": seed, "stream_seed": recipe.run.seed,
            "device": device}


def run_probe(recipe, target: str, n_prompts: int = 64, k: int = 16, seed: Optional[int] = None,
              out: Optional[str | Path] = None, rl_run: Optional[str] = None,
              batch_size: Optional[int] = None) -> tuple[dict, Path]:
    """Probe `target` under the recipe's RL settings; writes `<out>/probe.json` (default runs/<run>/probe/<model>/)."""
    if n_prompts < 1 or k < 1:
        raise ValueError(f"probe: --prompts and --samples must be >= 1 (got {n_prompts}, {k})")
    if batch_size is not None and batch_size < 1:
        raise ValueError(f"probe: --batch-size must be >= 1 (got {batch_size})")
    from ..rl.prompt_sets import content_hash, load_prompt_set

    t0 = time.perf_counter()
    t = resolve_target(recipe, target, rl_run)
    seed = recipe.run.seed if seed is None else seed
    out_dir = Path(out) if out else RunPaths(recipe.run_dir).root / "probe" / t.label
    ps = load_prompt_set(t.cfg, recipe.toyworld, recipe.eval.benchmark_dir, recipe.data.decontamination.ngram)
    recs = stream_prompts(ps.prompts, recipe.run.seed, n_prompts)

    from ..rl.run import load_policy, rl_device

    device = rl_device(recipe.run.device)
    model, tok, _ = load_policy(recipe, str(t.model_dir) if t.model_dir is not None else "base")
    model.to(device)
    t_load = time.perf_counter() - t0
    got = sample_and_grade(model, tok, recs, t.cfg, k, seed, batch_size)
    m = summarize_probe(recs, got["sampled"], got["greedy"], t.cfg.answer_kind, t.cfg.group_size, got["rewards"])
    report = {
        "probe_version": PROBE_VERSION,
        "model": t.label,
        "model_dir": str(t.model_dir) if t.model_dir is not None else None,
        "recipe": recipe.source,
        "run": recipe.run.name,
        "settings": _settings(recipe, t, k, seed, device),
        "prompts": {"source": ps.record["source"], "kind": ps.record["kind"], "available": len(ps.prompts),
                    "used": len(recs), "sha256": content_hash(recs),
                    "order": "the first prompts of the RL run's stream (epoch 0, seeded by run.seed)"},
        "measures": m,
        "reward_timeouts": got["reward_timeouts"],
        "verdict": verdict(m, t.cfg.group_size, rl_budget(t.cfg)),
        "per_prompt": [{"id": r.get("id"), "steps": r.get("steps"), "correct": sum(s[0] for s in g),
                        "greedy_correct": gr[0]} for r, g, gr in zip(recs, got["sampled"], got["greedy"])],
    }
    path = atomic_write_json(out_dir / "probe.json", report)
    atomic_write_json(out_dir / "timing.json", {"load_s": t_load, **got["timing"], "total_s": time.perf_counter() - t0})
    return report, path
