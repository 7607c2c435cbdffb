"""The GRPO trainer: sample -> reward (off-thread) -> old logprobs -> PPO mini-batch updates -> log.

`RLTrainer` works on an in-memory model, tokenizer and prompt list (tests drive it directly);
`run_rl` (below) builds those from a recipe. Every random draw of a step comes from
generators seeded by (seed, step), so resuming from a checkpoint replays the same run.
"""
from __future__ import annotations

import copy
import json
import random
import time
from pathlib import Path

import torch

from ..config import RLConfig, rl_run_name
from ..configio import to_dict
from ..paths import append_jsonl, atomic_write_json, atomic_write_text, read_jsonl
from . import losses as L
from .metrics import text_metrics
from .policy_batch import build_batch, plan_chunks, token_logps
from .rewards import finish_rewards, start_rewards
from .rollout import max_tokens_at, sample
from .templates import render, stop_strings


def _adamw(model, cfg: RLConfig):
    """AdamW with the fused kernel where this torch has it for the parameters' device (4x faster on CPU)."""
    kw = dict(lr=cfg.lr, betas=(0.9, 0.999), weight_decay=cfg.weight_decay)
    try:
        return torch.optim.AdamW(model.parameters(), fused=True, **kw)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.AdamW(model.parameters(), **kw)


def step_seed(seed: int, step: int, salt: int = 0) -> int:
    return (seed * 1_000_003 + step * 7919 + salt) % (2**63 - 1)


class RLTrainer:
    """R1-Zero GRPO on one policy; writes step dirs, metrics.jsonl and rollouts/ under `out_dir`."""

    def __init__(self, cfg: RLConfig, model, tokenizer, prompts: list[dict], out_dir: str | Path, seed: int = 0,
                 benchmarks: dict[str, list[dict]] | None = None, grader=None, lineage: dict | None = None):
        if not prompts:
            raise ValueError("rl: the prompt set is empty")
        self.cfg, self.model, self.tok = cfg, model, tokenizer
        self.prompts, self.seed, self.grader = prompts, seed, grader
        self.benchmarks = benchmarks or {}
        self.out = Path(out_dir)
        self.lineage = lineage or {}
        self.device = next(model.parameters()).device
        self.pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self.stop = stop_strings(cfg.template)
        self.ref = None
        if cfg.kl_coef > 0:  # the reference is the initial policy, taken before any resume
            self.ref = copy.deepcopy(model).eval().requires_grad_(False)
        self.opt = _adamw(model, cfg)
        self.step = 0
        self.backend = None

    # ------------------------------------------------------------------ prompts
    def batch_prompts(self, step: int) -> list[dict]:
        """The prompts of `step`: consecutive slices of per-epoch seeded permutations of the prompt set."""
        k, n = self.cfg.prompts_per_step, len(self.prompts)
        out = []
        for j in range(step * k, step * k + k):
            epoch, idx = divmod(j, n)
            perm = list(range(n))
            random.Random(step_seed(self.seed, epoch, salt=17)).shuffle(perm)
            out.append(self.prompts[perm[idx]])
        return out

    # ------------------------------------------------------------------ one step
    def train_step(self, step: int) -> dict:
        cfg, G = self.cfg, self.cfg.group_size
        max_len = max_tokens_at(step, cfg.max_response_tokens, cfg.length_schedule)
        recs = self.batch_prompts(step)
        texts_in = [render(cfg.template, r["question"]) for r in recs]
        t0 = time.perf_counter()
        gen = torch.Generator(device=self.device).manual_seed(step_seed(self.seed, step))
        if self.backend is not None:
            ro = self.backend.sample(self.tok, texts_in, G, max_len, cfg.temperature, cfg.top_p, self.stop, step_seed(self.seed, step))
        else:
            ro = sample(self.model, self.tok, texts_in, G, max_len, cfg.temperature, cfg.top_p, self.stop, gen)
        t_gen = time.perf_counter() - t0
        golds = [recs[i // G]["answer"] for i in range(len(ro.texts))]
        pending = start_rewards(ro.texts, golds, cfg.answer_kind, cfg.reward_timeout, self.grader)

        t1 = time.perf_counter()
        batch = build_batch(ro.prompt_ids, [r if r else [self.pad] for r in ro.response_ids], self.pad)
        n_roll = batch["resp"].shape[0]
        n_updates = cfg.ppo_epochs * -(-n_roll // cfg.mini_batch_size)
        old_logp = ref_logp = None
        if n_updates > 1 or self.ref is not None:
            old_logp, ref_logp = self._score(batch)
        t_old = time.perf_counter() - t1

        t2 = time.perf_counter()
        rb = finish_rewards(pending, ro.texts, ro.truncated, cfg.template, cfg.format_reward, cfg.truncation, cfg.truncation_penalty)
        t_reward_wait = time.perf_counter() - t2
        rewards = torch.tensor(rb.rewards, dtype=torch.float32)
        if cfg.reward_control == "shuffled":  # same reward rate, no link to the responses: what noise alone does
            rewards = rewards[torch.randperm(n_roll, generator=torch.Generator().manual_seed(step_seed(self.seed, step, 41)))]
        adv = L.group_advantages(rewards, G, scale=cfg.loss_agg != "dr_grpo")
        zero_var = L.zero_variance_groups(rewards, G)
        keep = torch.ones(n_roll, dtype=torch.bool)
        if cfg.filter_zero_variance:
            keep = ~zero_var.repeat_interleave(G)
        seq_mask = torch.tensor(rb.loss_mask, dtype=torch.float32)

        t3 = time.perf_counter()
        upd = self._update(step, batch, adv, seq_mask, keep, old_logp, ref_logp, max_len)
        t_update = time.perf_counter() - t3
        if self.backend is not None:
            self.backend.sync_weights(self.model)

        lengths = [len(r) for r in ro.response_ids]
        row = {
            "step": step + 1,
            "max_response_tokens": max_len,
            "reward_mean": float(rewards.mean()),
            "reward_std": float(rewards.std()) if n_roll > 1 else 0.0,
            "accuracy": sum(rb.correct) / n_roll,
            "format_rate": sum(rb.formatted) / n_roll,
            "zero_var_share": float(zero_var.float().mean()),
            "reward_timeouts": rb.timeouts,
            **text_metrics(ro.texts, lengths, rb.correct, ro.truncated),
            **upd,
            "time_gen": t_gen,
            "time_reward": rb.seconds,
            "time_reward_wait": t_reward_wait,
            "time_old_logp": t_old,
            "time_update": t_update,
            "time_step": time.perf_counter() - t0,
            "gen_tokens_per_s": sum(lengths) / max(t_gen, 1e-9),
        }
        self._save_rollouts(step + 1, recs, ro, rb, rewards.tolist())
        return row

    @torch.no_grad()
    def _score(self, batch: dict):
        """Old-policy (and reference) log-probs [B, R] of the whole batch, once per rollout batch."""
        n, width = batch["resp"].shape
        olds = torch.zeros((n, width))
        refs = torch.zeros((n, width)) if self.ref is not None else None
        mb = self.cfg.micro_batch_size or self.cfg.mini_batch_size
        for chunk in plan_chunks(list(range(n)), batch, mb):
            rows = torch.tensor(chunk)
            logp = token_logps(self.model, batch, rows, False, self.device)[0]
            olds[rows, : logp.shape[1]] = logp.cpu()
            if refs is not None:
                ref = token_logps(self.ref, batch, rows, False, self.device)[0]
                refs[rows, : ref.shape[1]] = ref.cpu()
        return olds, refs

    def _update(self, step, batch, adv, seq_mask, keep, old_logp, ref_logp, max_len) -> dict:
        """PPO epochs over shuffled mini-batches of the kept rollouts; one optimizer step per mini-batch."""
        cfg = self.cfg
        idx_all = torch.nonzero(keep & (seq_mask > 0)).squeeze(1)
        stats = {"entropy": [], "kl": [], "clip_frac": [], "grad_norm": [], "loss": []}
        if idx_all.numel() == 0:
            return {"updates": 0, "rollouts_used": 0}
        g = torch.Generator().manual_seed(step_seed(self.seed, step, salt=29))
        self.model.train()
        updates = 0
        for _ in range(cfg.ppo_epochs):
            order = idx_all[torch.randperm(idx_all.numel(), generator=g)]
            for lo in range(0, order.numel(), cfg.mini_batch_size):
                mini = order[lo : lo + cfg.mini_batch_size]
                mask_all = batch["resp_mask"][mini] * seq_mask[mini].unsqueeze(1)
                n_tok, n_seq = float(mask_all.sum()), float(mini.numel())
                self.opt.zero_grad(set_to_none=True)
                for chunk in plan_chunks(mini.tolist(), batch, cfg.micro_batch_size):
                    part = torch.tensor(chunk)
                    logp, ent, mask = token_logps(self.model, batch, part, True, self.device, bool(cfg.entropy_coef))
                    width = logp.shape[1]
                    mask = mask * seq_mask[part].unsqueeze(1).to(self.device)
                    old = old_logp[part, :width].to(self.device) if old_logp is not None else logp.detach()
                    pg, clipped = L.clipped_pg_loss(logp, old, adv[part].to(self.device), cfg.clip_low, cfg.clip_high)
                    agg = dict(mode=cfg.loss_agg, max_len=max_len, n_tokens=n_tok, n_seqs=n_seq)
                    loss = L.aggregate(pg, mask, **agg)
                    if cfg.entropy_coef:
                        loss = loss - cfg.entropy_coef * L.aggregate(ent, mask, **agg)
                    if ref_logp is not None:
                        kl = L.kl_k3(logp, ref_logp[part, :width].to(self.device))
                        loss = loss + cfg.kl_coef * L.aggregate(kl, mask, **agg)
                        stats["kl"].append(float(L.masked_mean(kl.detach(), mask)))
                    loss.backward()
                    stats["entropy"].append(float(L.masked_mean(ent.detach(), mask)))
                    stats["clip_frac"].append(float(L.masked_mean(clipped, mask)))
                    stats["loss"].append(float(loss.detach()))
                gn = torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip if cfg.grad_clip > 0 else float("inf"))
                stats["grad_norm"].append(float(gn))
                self.opt.step()
                updates += 1
        out = {k: sum(v) / len(v) for k, v in stats.items() if v}
        out.update(updates=updates, rollouts_used=int(idx_all.numel()), lr=cfg.lr)
        return out

    # ------------------------------------------------------------------ logging / validation
    def _save_rollouts(self, step: int, recs, ro, rb, trained: list[float]) -> None:
        """The first rollouts of the step; `reward` is what the update used (shuffled under the control)."""
        k = min(self.cfg.rollout_samples, len(ro.texts))
        if k <= 0:
            return
        G = self.cfg.group_size
        rows = [
            {"prompt_id": recs[i // G].get("id"), "question": recs[i // G]["question"], "gold": recs[i // G]["answer"],
             "response": ro.texts[i], "extracted": rb.extracted[i], "reward": trained[i], "correct": rb.correct[i],
             "truncated": ro.truncated[i], "tokens": len(ro.response_ids[i])}
            for i in range(k)
        ]
        path = self.out / "rollouts" / f"step_{step}.jsonl"
        atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in rows))

    def validate(self, step: int) -> dict:
        """Greedy zero-shot accuracy and mean response length per benchmark under the RL template."""
        from ..eval.generation import generate
        from ..grading import grade_many

        cfg = self.cfg
        max_new = cfg.validate_max_tokens or max_tokens_at(step, cfg.max_response_tokens, cfg.length_schedule)
        out = {}
        for name, recs in self.benchmarks.items():
            recs = recs[: cfg.validate_limit] if cfg.validate_limit else recs
            comps = generate(self.model, self.tok, [render(cfg.template, r["question"]) for r in recs], max_new, 0.0, 1.0, 1, self.stop)
            texts = [c[0].text for c in comps]
            kind = recs[0].get("kind", cfg.answer_kind) if recs else cfg.answer_kind
            verdicts = grade_many(texts, [r["answer"] for r in recs], kind, cfg.reward_timeout)
            out[f"val/{name}/accuracy"] = sum(v.correct for v in verdicts) / max(len(recs), 1)
            out[f"val/{name}/response_len"] = sum(c[0].n_tokens for c in comps) / max(len(recs), 1)
        return out

    # ------------------------------------------------------------------ checkpoints
    def save(self, step: int) -> Path:
        from ..model.checkpoint import save_checkpoint

        tok_dir = self.out / "tokenizer"
        if not (tok_dir / "tokenizer_config.json").is_file():
            self.tok.save_pretrained(str(tok_dir))
        state = {"optimizer": self.opt.state_dict(), "step": step, "torch_rng": torch.get_rng_state(),
                 "python_rng": random.getstate()}
        summary = {"step": step, "stage": "rl", "seed": self.seed, "config": to_dict(self.cfg), **self.lineage}
        model_state = {k: v for k, v in self.model.state_dict().items()}
        return save_checkpoint(self.out, step, model_state, self.model.config, tok_dir, state, summary)

    def resume(self) -> int:
        """Load the latest checkpoint under out_dir if any; trims metrics rows past it. Returns the step."""
        from safetensors.torch import load_file

        from ..model.checkpoint import latest_checkpoint, load_trainer_state

        ck = latest_checkpoint(self.out)
        if ck is None:
            return 0
        weights = load_file(str(ck / "model.safetensors"))
        missing, unexpected = self.model.load_state_dict(weights, strict=False)
        if unexpected or [m for m in missing if m != "lm_head.weight"]:
            raise RuntimeError(f"{ck}: checkpoint does not match the model (missing {missing}, unexpected {unexpected})")
        st = load_trainer_state(ck)
        self.opt.load_state_dict(st["optimizer"])
        torch.set_rng_state(st["torch_rng"])
        random.setstate(st["python_rng"])
        self.step = int(st["step"])
        metrics = self.out / "metrics.jsonl"
        rows = [r for r in read_jsonl(metrics) if r.get("step", 0) <= self.step]
        atomic_write_text(metrics, "".join(json.dumps(r) + "\n" for r in rows))
        return self.step

    def train(self) -> Path:
        """Run (or resume) to `cfg.steps`; the last step is always checkpointed and marked final."""
        from tqdm import tqdm

        from ..model.checkpoint import mark_final

        cfg = self.cfg
        self.out.mkdir(parents=True, exist_ok=True)
        atomic_write_json(self.out / "rl_config.json", {"config": to_dict(cfg), "seed": self.seed, **self.lineage})
        start = self.resume()
        if self.backend is not None and start:
            self.backend.sync_weights(self.model)
        if start == 0:  # a fresh run: drop rows of an earlier attempt that saved no checkpoint
            atomic_write_text(self.out / "metrics.jsonl", "")
            if self.benchmarks and cfg.validate_every:  # the step-0 point: the policy before any update
                append_jsonl(self.out / "metrics.jsonl", {"step": 0, **self.validate(0)})
        last = None
        for step in tqdm(range(start, cfg.steps), desc=f"rl {self.out.name}", unit="step", initial=start, total=cfg.steps):
            row = self.train_step(step)
            done = step + 1
            if self.benchmarks and cfg.validate_every and (done % cfg.validate_every == 0 or done == cfg.steps):
                row.update(self.validate(step))
            append_jsonl(self.out / "metrics.jsonl", row)
            if (cfg.save_every and done % cfg.save_every == 0) or done == cfg.steps:
                last = self.save(done)
        if last is None:
            from ..model.checkpoint import latest_checkpoint

            last = latest_checkpoint(self.out)
        if last is not None:
            mark_final(self.out, last)
        return self.out


# ---------------------------------------------------------------------- recipe entry point


def load_prompts(path: str | Path) -> list[dict]:
    """RL prompts from a JSONL file of {"question", "answer"} records (errors name file:line)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"rl.prompts_path: {path} does not exist")
    out = []
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}:{i}: not valid JSON ({exc.msg})") from None
        if not isinstance(rec, dict) or "question" not in rec or "answer" not in rec:
            raise ValueError(f"{path}:{i}: a prompt record needs 'question' and 'answer' fields")
        out.append({"id": str(rec.get("id", i)), "question": str(rec["question"]), "answer": rec["answer"]})
    return out


def _device(name: str) -> str:
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


def _load_policy(recipe, target: str):
    """(model, tokenizer, parent dir or None) for an init target: stage name, directory or 'base'."""
    from ..data.tokenizer import load_tokenizer
    from ..model.build import build_model
    from ..model.checkpoint import resolve_model_dir
    from ..paths import RunPaths

    rp = RunPaths(recipe.run_dir)
    path = None
    if "/" not in target and "\\" not in target and rp.midtrain(target).is_dir():
        path = resolve_model_dir(rp.midtrain(target))
    elif Path(target).is_dir():
        path = resolve_model_dir(target)
    elif target != "base":
        stages = ", ".join(sorted(p.name for p in (rp.root / "midtrain").glob("*") if p.is_dir())) or "(none)"
        raise FileNotFoundError(f"rl.init_from: {target!r} is neither a mid-training stage of {rp.root} ({stages}) nor a directory")
    if path is not None:
        from transformers import AutoModelForCausalLM

        return AutoModelForCausalLM.from_pretrained(str(path)), load_tokenizer(path), path
    if recipe.model.init == "pretrained":
        return build_model(recipe.model), load_tokenizer(recipe.model.path), None
    if not rp.tokenizer.is_dir():
        raise FileNotFoundError(f"{rp.tokenizer}: a tiny base model needs the run's tokenizer (run `octothinker data` first)")
    tok = load_tokenizer(rp.tokenizer)
    return build_model(recipe.model, tok, seed=recipe.run.seed), tok, None


def select_runs(runs: dict[str, tuple], names: list[str]) -> dict[str, tuple]:
    """The runs `names` ask for: a run's own name selects that run only (a pipeline stage `rl:<name>`);
    a name that is no run's name but an init source (e.g. a directory) selects every run starting from it."""
    out = {}
    for n in names:
        if n in runs:
            out[n] = runs[n]
        else:
            out.update({k: v for k, v in runs.items() if v[0] == n})
    return {k: runs[k] for k in runs if k in out}


def run_rl(recipe, names: list[str] | None = None) -> Path:
    """RL every run of the recipe (init_from entries and variants), or those named by run name or init source."""
    from ..paths import RunPaths

    runs = recipe.rl.runs() or {"base": ("base", recipe.rl)}
    if names:
        unknown = [n for n in names if n not in runs and n not in {src for src, _ in runs.values()}]
        if unknown and not recipe.rl.variants:  # an ad-hoc target (`--only DIR`) with the recipe's settings
            runs.update({rl_run_name(n): (n, recipe.rl) for n in unknown})
        elif unknown:
            raise ValueError(f"rl: unknown run(s) {', '.join(unknown)}; this recipe has {', '.join(runs)}")
        runs = select_runs(runs, names)
    rp = RunPaths(recipe.run_dir)
    device = _device(recipe.run.device)
    prompt_sets: dict = {}  # prompts_path -> prompts, and (benchmark, limit) -> records: loaded once per call
    for out_name, (target, cfg) in runs.items():
        if cfg.prompts_path not in prompt_sets:
            from ..toyworld import rl_prompts

            prompt_sets[cfg.prompts_path] = load_prompts(cfg.prompts_path) if cfg.prompts_path else rl_prompts(recipe.toyworld)
        prompts = prompt_sets[cfg.prompts_path]
        benchmarks = {}
        if cfg.validate_every:
            from ..eval.benchmarks import load_benchmark

            for b in cfg.validate_benchmarks or recipe.eval.benchmarks:
                key = (b, cfg.validate_limit)
                if key not in prompt_sets:
                    prompt_sets[key] = load_benchmark(b, recipe.eval.benchmark_dir, cfg.validate_limit or None, recipe.toyworld)
                benchmarks[b] = prompt_sets[key]
        model, tok, parent = _load_policy(recipe, target)
        model.to(device)
        lineage = {"parent": str(parent) if parent else None, "init": target, "template": cfg.template}
        trainer = RLTrainer(cfg, model, tok, prompts, rp.rl(out_name), seed=recipe.run.seed, benchmarks=benchmarks,
                            lineage=lineage)
        if cfg.backend == "vllm" or (cfg.backend == "auto" and device == "cuda" and _has_vllm()):
            from .rollout import VLLMBackend

            init_dir = parent or trainer.save(0)
            trainer.backend = VLLMBackend(str(init_dir))
        trainer.train()
    return rp.root / "rl"


def _has_vllm() -> bool:
    import importlib.util

    return importlib.util.find_spec("vllm") is not None
