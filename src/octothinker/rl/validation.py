"""RL-time validation: the protocol that shows what RL did, on held-out problems, under one fixed budget.

Per validation set (a benchmark, or the memorisation pair `rl_seen` / `rl_fresh`): greedy accuracy,
sampled avg@k at the validation temperature, unbiased pass@j for j = 1, 2, 4, ... k, response length,
the share of correct samples without the gold chain of steps (lucky guesses; toy problems only) and the
same accuracies per depth (number of steps). `summarize` is pure; `validate_policy` generates and grades.
"""
from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from pathlib import Path
from typing import Callable, Sequence

from ..eval.metrics import ks_for, pass_at_k


SAMPLED_ROWS = 512  # rows per sampling batch: on a tiny CPU model 20% faster than 256, no faster at 800 or 1600


def validation_budget(cfg) -> int:
    """One max response length for every validation of a run: `validate_max_tokens`, else the largest scheduled."""
    return cfg.validate_max_tokens or max([cfg.max_response_tokens, *map(int, (cfg.length_schedule or {}).values())])


def memorisation_sets(prompts: list[dict], order: list[int], used: int, n: int) -> dict[str, list[dict]]:
    """`rl_seen`: the first `n` prompts the run trains on; `rl_fresh`: `n` prompts of the same stream it never
    reaches (its tail), so seen vs fresh separates memorised answers from a skill. Empty if the stream is short."""
    if n <= 0 or used + n > len(order):
        return {}
    return {"rl_seen": [prompts[i] for i in order[: min(n, used)]], "rl_fresh": [prompts[i] for i in order[-n:]]}


def _chain_ok(text: str, rec: dict) -> bool | None:
    if not rec.get("key"):
        return None
    from ..toyworld.chain import valid_chain

    return valid_chain(text, rec["key"])


def summarize(name: str, recs: Sequence[dict], greedy: Sequence[tuple[bool, int, str]],
              sampled: Sequence[Sequence[tuple[bool, int, str]]]) -> dict:
    """Metrics of one validation set from per-problem outcomes `(correct, n_tokens, text)`: greedy (one per
    problem) and sampled (k per problem, possibly none). Keys `val/<name>/...`."""
    p = f"val/{name}/"
    n = max(len(recs), 1)
    out = {p + "accuracy": sum(g[0] for g in greedy) / n, p + "response_len": sum(g[1] for g in greedy) / n}
    by_depth: dict[int, list[int]] = defaultdict(list)
    for i, r in enumerate(recs):
        if "steps" in r:
            by_depth[int(r["steps"])].append(i)
    for d, idx in sorted(by_depth.items()):
        out[f"{p}depth{d}/accuracy"] = sum(greedy[i][0] for i in idx) / len(idx)
    k = min((len(s) for s in sampled), default=0)
    if k == 0:
        return out
    corr = [[s[0] for s in group[:k]] for group in sampled]
    out[p + "sampled_accuracy"] = sum(map(sum, corr)) / (n * k)
    out[p + "sampled_len"] = sum(s[1] for group in sampled for s in group[:k]) / (n * k)
    for j in ks_for(k):
        out[f"{p}pass@{j}"] = sum(pass_at_k(k, sum(c), j) for c in corr) / n
    for d, idx in sorted(by_depth.items()):
        out[f"{p}depth{d}/sampled_accuracy"] = sum(sum(corr[i]) for i in idx) / (len(idx) * k)
    right = [(s[2], recs[i]) for i, group in enumerate(sampled) for s in group[:k] if s[0]]
    checks = [_chain_ok(t, r) for t, r in right]
    if right and all(c is not None for c in checks):
        out[p + "lucky_rate"] = sum(not c for c in checks) / len(checks)
    return out


def validate_policy(model, tok, sets: dict[str, list[dict]], cfg, stop, render, seed: int) -> dict:
    """Greedy and sampled responses to every set under the RL template, graded and summarised."""
    from ..eval.generation import generate
    from ..grading import grade_many

    max_new = validation_budget(cfg)
    out = {"val_max_tokens": max_new, "val_samples": cfg.validate_samples}
    for name, recs in sets.items():
        if not recs:
            continue
        prompts = [render(cfg.template, r["question"]) for r in recs]
        kind = recs[0].get("kind", cfg.answer_kind)
        golds = [r["answer"] for r in recs]
        comps = generate(model, tok, prompts, max_new, 0.0, 1.0, 1, stop, batch_size=64)
        texts = [c[0].text for c in comps]
        verdicts = grade_many(texts, golds, kind, cfg.reward_timeout)
        greedy = [(bool(v.correct), c[0].n_tokens, c[0].text) for v, c in zip(verdicts, comps)]
        sampled: list[list[tuple[bool, int, str]]] = [[] for _ in recs]
        k = cfg.validate_samples
        if k:
            groups = generate(model, tok, prompts, max_new, cfg.validate_temperature, 1.0, k, stop, seed=seed,
                              batch_size=max(1, SAMPLED_ROWS // k))
            flat = [c for g in groups for c in g]
            vs = grade_many([c.text for c in flat], [g for g in golds for _ in range(k)], kind, cfg.reward_timeout)
            for j, (c, v) in enumerate(zip(flat, vs)):
                sampled[j // k].append((bool(v.correct), c.n_tokens, c.text))
        out.update(summarize(name, recs, greedy, sampled))
    return out


def validation_key(model, sets: dict[str, list[dict]], cfg, stop, seed: int) -> str:
    """What a validation result depends on: the weights (`weights_fingerprint`), the problems, the protocol
    settings and the seed."""
    h = hashlib.sha256(weights_fingerprint(model).encode())
    settings = {"sets": sets, "template": cfg.template, "budget": validation_budget(cfg), "samples": cfg.validate_samples,
                "temperature": cfg.validate_temperature, "answer_kind": cfg.answer_kind, "timeout": cfg.reward_timeout,
                "stop": list(stop), "seed": seed, "device": str(next(model.parameters()).device)}
    h.update(json.dumps(settings, sort_keys=True, default=str).encode())
    return h.hexdigest()[:24]


def weights_fingerprint(model, chunk: int = 1 << 22) -> str:
    """The weights' identity without copying them off their device: per tensor its name, shape, dtype and two
    integer reductions of its raw bits, done where it lives (their sum and their sum weighted by each element's
    index + 1, both modulo 2^64), so changing any weight, or moving one, changes it. Integer sums are exact, so
    the key does not depend on the thread count or the reduction order (float sums do). Hashing every byte on
    the host would copy a large model's weights to CPU memory to validate it once (session 7's key did)."""
    import torch

    as_int = {1: torch.int8, 2: torch.int16, 4: torch.int32, 8: torch.int64}
    parts = []
    with torch.no_grad():
        for name, tensor in sorted(model.state_dict().items()):
            flat = tensor.detach().contiguous().reshape(-1)
            bits = flat.view(as_int[flat.element_size()]) if flat.element_size() in as_int else flat.view(torch.uint8)
            total = weighted = 0
            for lo in range(0, bits.numel(), chunk):
                part = bits[lo : lo + chunk].long()
                index = torch.arange(lo + 1, lo + 1 + part.numel(), dtype=torch.int64, device=part.device)
                total = (total + int(part.sum())) % (1 << 64)
                weighted = (weighted + int((part * index).sum())) % (1 << 64)
            parts.append(f"{name}|{tuple(tensor.shape)}|{tensor.dtype}|{total}|{weighted}")
    return "\n".join(parts)


def cache_path(cache_dir: Path, key: str) -> Path:
    """Where `cached` keeps the result of `key`."""
    return Path(cache_dir) / f"{key}.json"


def cached(cache_dir: Path, key: str, compute: Callable[[], dict]) -> dict:
    """`compute()` unless `cache_dir/<key>.json` holds its result already (e.g. the step-0 point of a control arm
    that starts from the same model as its treatment arm); the result is stored for the next run."""
    from ..paths import atomic_write_json

    path = cache_path(cache_dir, key)
    if path.is_file():
        try:
            return json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            pass  # a damaged entry: compute again and overwrite it
    out = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, out)
    return out
