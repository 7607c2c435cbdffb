"""RL-time validation: the protocol that shows what RL did, on held-out problems, under one fixed budget.

Per validation set (a benchmark, or the memorisation pair `rl_seen` / `rl_fresh`): greedy accuracy,
sampled avg@k at the validation temperature, unbiased pass@j for j = 1, 2, 4, ... k, response length,
the share of correct samples without the gold chain of steps (lucky guesses; toy problems only) and the
same accuracies per depth (number of steps). `summarize` is pure; `validate_policy` generates and grades:
prompts are eval's RL-template prompts (`eval.prompts.rl_prompt`: multiple-choice records show their options)
and each record is graded by its own kind (`grade_by_kind`).
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


def memorisation_fits(used: int, n: int, n_prompts: int | None) -> bool:
    """Whether the memorisation pair applies: `n` (`rl.validate_rl_prompts`) > 0 and a stream of `n_prompts`
    prompts keeps `n` the run never reaches after the `used` (steps x prompts_per_step) it trains on. An unknown
    `n_prompts` (None: a prompt file not read yet) counts as fitting. Torch-free: budget and ETA code use it."""
    return n > 0 and (n_prompts is None or used + n <= n_prompts)


def planned_rl_prompts(cfg, toy_cfg=None) -> int | None:
    """The size of a run's RL prompt stream known before reading it: the toy world's `rl_prompts` (given its
    config), a named set's documented size (before decontamination); None when unknown (a prompt file)."""
    if cfg.prompt_set:
        from .prompt_sets import REGISTRY  # torch-free

        spec = REGISTRY.get(cfg.prompt_set)
        return spec.size if spec is not None else None
    if cfg.prompts_path or toy_cfg is None:
        return None
    return int(toy_cfg.rl_prompts)


def memorisation_problems(cfg, toy_cfg=None, n_prompts: int | None = None) -> int:
    """Problems the memorisation pair adds to each validation (`rl_seen` + `rl_fresh`), 0 where it does not
    apply; `n_prompts` defaults to `planned_rl_prompts(cfg, toy_cfg)`."""
    n, used = cfg.validate_rl_prompts, cfg.steps * cfg.prompts_per_step
    total = planned_rl_prompts(cfg, toy_cfg) if n_prompts is None else n_prompts
    return min(n, used) + n if memorisation_fits(used, n, total) else 0


def memorisation_note(cfg, n_prompts: int) -> str | None:
    """The warning when `rl.validate_rl_prompts` asks for a memorisation pair the prompt stream cannot hold."""
    n, used = cfg.validate_rl_prompts, cfg.steps * cfg.prompts_per_step
    if n <= 0 or memorisation_fits(used, n, n_prompts):
        return None
    return (f"rl.validate_rl_prompts={n} is ignored: the run trains on {cfg.steps} steps x {cfg.prompts_per_step} "
            f"prompts = {used} of the {n_prompts} prompts, leaving {max(n_prompts - used, 0)} never-used ones "
            f"(needs {n}); the memorisation check (val/rl_seen, val/rl_fresh) is off for this run")


def memorisation_sets(prompts: list[dict], order: list[int], used: int, n: int) -> dict[str, list[dict]]:
    """`rl_seen`: the first `n` prompts the run trains on; `rl_fresh`: `n` prompts of the same stream it never
    reaches (its tail), so seen vs fresh separates memorised answers from a skill. Empty if the stream is short
    (`memorisation_fits`; the trainer warns, `memorisation_note`)."""
    if not memorisation_fits(used, n, len(order)):
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


def validation_prompts(recs: Sequence[dict], template: str) -> list[str]:
    """The prompts of a validation set: eval's RL-template prompt (`eval.prompts.rl_prompt`), so a
    multiple-choice record shows its lettered options; a plain {question, answer} record renders as in training."""
    from ..eval.prompts import rl_prompt

    return [rl_prompt(r, template)[0] for r in recs]


def record_kinds(recs: Sequence[dict], default: str) -> list[str]:
    """The grader kind of each record (its own `kind`, else `default`: `rl.answer_kind`)."""
    return [r.get("kind", default) for r in recs]


def grade_by_kind(texts: Sequence[str], golds: Sequence, kinds: Sequence[str], timeout: float) -> list:
    """`grade_many` per grader kind (rows grouped by kind, in order of first appearance), verdicts in row order.
    A set of one kind is graded by a single call, as before per-record kinds."""
    from ..grading import grade_many

    groups: dict[str, list[int]] = {}
    for i, k in enumerate(kinds):
        groups.setdefault(k, []).append(i)
    out: list = [None] * len(texts)
    for k, idx in groups.items():
        for i, v in zip(idx, grade_many([texts[i] for i in idx], [golds[i] for i in idx], k, timeout)):
            out[i] = v
    return out


def validate_policy(model, tok, sets: dict[str, list[dict]], cfg, stop, seed: int) -> dict:
    """Greedy and sampled responses to every set under the RL template, each graded by its record's kind,
    summarised."""
    from ..eval.generation import generate

    max_new = validation_budget(cfg)
    out = {"val_max_tokens": max_new, "val_samples": cfg.validate_samples}
    for name, recs in sets.items():
        if not recs:
            continue
        prompts = validation_prompts(recs, cfg.template)
        kinds = record_kinds(recs, cfg.answer_kind)
        golds = [r["answer"] for r in recs]
        comps = generate(model, tok, prompts, max_new, 0.0, 1.0, 1, stop, batch_size=64)
        texts = [c[0].text for c in comps]
        verdicts = grade_by_kind(texts, golds, kinds, cfg.reward_timeout)
        greedy = [(bool(v.correct), c[0].n_tokens, c[0].text) for v, c in zip(verdicts, comps)]
        sampled: list[list[tuple[bool, int, str]]] = [[] for _ in recs]
        k = cfg.validate_samples
        if k:
            groups = generate(model, tok, prompts, max_new, cfg.validate_temperature, 1.0, k, stop, seed=seed,
                              batch_size=max(1, SAMPLED_ROWS // k))
            flat = [c for g in groups for c in g]
            vs = grade_by_kind([c.text for c in flat], [g for g in golds for _ in range(k)],
                               [x for x in kinds for _ in range(k)], cfg.reward_timeout)
            for j, (c, v) in enumerate(zip(flat, vs)):
                sampled[j // k].append((bool(v.correct), c.n_tokens, c.text))
        out.update(summarize(name, recs, greedy, sampled))
    return out


def _protocol(sets: dict[str, list[dict]], default_kind: str) -> str | None:
    """A tag for the cache key where this protocol differs from the first one (a question without its options,
    one grader kind per set), so no result of that one is reused; None (no tag: keys unchanged) elsewhere."""
    for recs in sets.values():
        kinds = record_kinds(recs, default_kind)
        if any(r.get("choices") for r in recs) or len(set(kinds)) > 1:
            return "options+per-record-kind"
    return None


def validation_key(model, sets: dict[str, list[dict]], cfg, stop, seed: int) -> str:
    """What a validation result depends on: the weights (`weights_fingerprint`), the problems, the protocol
    settings and the seed."""
    h = hashlib.sha256(weights_fingerprint(model).encode())
    settings = {"sets": sets, "template": cfg.template, "budget": validation_budget(cfg), "samples": cfg.validate_samples,
                "temperature": cfg.validate_temperature, "answer_kind": cfg.answer_kind, "timeout": cfg.reward_timeout,
                "stop": list(stop), "seed": seed, "device": str(next(model.parameters()).device)}
    protocol = _protocol(sets, cfg.answer_kind)
    if protocol is not None:
        settings["protocol"] = protocol
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
