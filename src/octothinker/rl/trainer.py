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

from ..config import RLConfig
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


STEP0_KEY = "step0_key.json"  # the step-0 point's cache key, kept for a run that starts without that point


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
        self.step0_from = None  # () -> the initial policy, reloaded: for a step-0 point computed after training
        self.defer_step0 = False  # start training before the step-0 point when it is not cached (see `_first_point`)
        self.tracker = None  # report.tracking.Tracker over metrics.jsonl (the recipe's sinks); None: the JSONL only

    # ------------------------------------------------------------------ prompts
    def epoch_order(self, epoch: int) -> list[int]:
        """The seeded order in which epoch `epoch` walks the prompt set."""
        perm = list(range(len(self.prompts)))
        random.Random(step_seed(self.seed, epoch, salt=17)).shuffle(perm)
        return perm

    def batch_prompts(self, step: int) -> list[dict]:
        """The prompts of `step`: consecutive slices of per-epoch seeded permutations of the prompt set (a stream
        that repeats a prompt only after the whole set is used; `run_rl` warns when a run gets that far)."""
        k, n = self.cfg.prompts_per_step, len(self.prompts)
        out = []
        for j in range(step * k, step * k + k):
            epoch, idx = divmod(j, n)
            out.append(self.prompts[self.epoch_order(epoch)[idx]])
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
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=cfg.precision == "bf16"):
                ro = self.backend.sample(self.tok, texts_in, G, max_len, cfg.temperature, cfg.top_p, self.stop, step_seed(self.seed, step))
        else:
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=cfg.precision == "bf16"):
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
        chains = None
        if all(r.get("key") for r in recs):  # toy problems: the process check of every rollout
            from ..toyworld.chain import valid_chain

            chains = [valid_chain(t, recs[i // G]["key"]) for i, t in enumerate(ro.texts)]
        rb = finish_rewards(pending, ro.texts, ro.truncated, cfg.template, cfg.format_reward, cfg.truncation,
                            cfg.truncation_penalty, cfg.reward_on_timeout, chains, cfg.require_valid_chain)
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
            **_chain_metrics(rb),
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
        """Old-policy (and reference) log-probs [B, R] of the whole batch, once per rollout batch, at the
        sampling temperature; positions past a chunk's width stay 0 (masked in the loss)."""
        cfg = self.cfg
        n, width = batch["resp"].shape
        olds = torch.zeros((n, width))
        refs = torch.zeros((n, width)) if self.ref is not None else None
        mb = cfg.micro_batch_size or cfg.mini_batch_size
        for chunk in plan_chunks(list(range(n)), batch, mb):
            rows = torch.tensor(chunk)
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=cfg.precision == "bf16"):
                logp = token_logps(self.model, batch, rows, False, self.device, temperature=cfg.temperature)[0]
                if refs is not None:
                    ref = token_logps(self.ref, batch, rows, False, self.device, temperature=cfg.temperature)[0]
            olds[rows, : logp.shape[1]] = logp.cpu()
            if refs is not None:
                refs[rows, : ref.shape[1]] = ref.cpu()
        return olds, refs

    def _update(self, step, batch, adv, seq_mask, keep, old_logp, ref_logp, max_len) -> dict:
        """PPO epochs over shuffled mini-batches of the kept rollouts; one optimizer step per mini-batch.

        Logged per mini-batch, then averaged over updates: `loss` is the mini-batch's (the sum of its
        chunks' shares), `entropy`/`clip_frac`/`kl` are means over its loss tokens, so the forward
        chunking (micro_batch_size, plan_chunks) does not change them."""
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
                sums = {"loss": 0.0, "entropy": 0.0, "clip_frac": 0.0, "kl": 0.0, "tokens": 0.0}
                live, idle = self._split_idle(mini, adv)
                for chunk in plan_chunks(idle, batch, cfg.micro_batch_size) if idle else []:
                    self._idle_stats(batch, torch.tensor(chunk), seq_mask, sums)
                if not live:  # every rollout's advantage is 0: a zero gradient, but AdamW still steps (momentum)
                    for p in self.model.parameters():
                        p.grad = torch.zeros_like(p)
                for chunk in plan_chunks(live, batch, cfg.micro_batch_size) if live else []:
                    part = torch.tensor(chunk)
                    logp, ent, mask = self._policy_forward(batch, part, seq_mask, bool(cfg.entropy_coef))
                    width = logp.shape[1]
                    old = old_logp[part, :width].to(self.device) if old_logp is not None else logp.detach()
                    pg, clipped = L.clipped_pg_loss(logp, old, adv[part].to(self.device), cfg.clip_low, cfg.clip_high, mask)
                    agg = dict(mode=cfg.loss_agg, max_len=max_len, n_tokens=n_tok, n_seqs=n_seq)
                    loss = L.aggregate(pg, mask, **agg)
                    if cfg.entropy_coef:
                        loss = loss - cfg.entropy_coef * L.aggregate(ent, mask, **agg)
                    if ref_logp is not None:
                        kl = L.kl_k3(logp, ref_logp[part, :width].to(self.device), mask)
                        loss = loss + cfg.kl_coef * L.aggregate(kl, mask, **agg)
                        sums["kl"] += float((kl.detach() * mask).sum())
                    loss.backward()
                    sums["loss"] += float(loss.detach())
                    sums["entropy"] += float((ent.detach() * mask).sum())
                    sums["clip_frac"] += float((clipped * mask).sum())
                    sums["tokens"] += float(mask.sum())
                stats["loss"].append(sums["loss"])
                for key in ("entropy", "clip_frac") + (("kl",) if ref_logp is not None else ()):
                    stats[key].append(sums[key] / max(sums["tokens"], 1.0))
                gn = torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip if cfg.grad_clip > 0 else float("inf"))
                stats["grad_norm"].append(float(gn))
                self.opt.step()
                updates += 1
        out = {k: sum(v) / len(v) for k, v in stats.items() if v}
        out.update(updates=updates, rollouts_used=int(idx_all.numel()), lr=cfg.lr)
        return out

    def _policy_forward(self, batch: dict, part: torch.Tensor, seq_mask: torch.Tensor, entropy_grad: bool):
        """The policy's tempered token log-probs, entropies and loss mask (response mask x the rollout's loss mask)
        of rollouts `part`, under bf16 autocast when configured: the one forward of the update and of idle rollouts."""
        cfg = self.cfg
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=cfg.precision == "bf16"):
            logp, ent, mask = token_logps(self.model, batch, part, True, self.device, entropy_grad,
                                          temperature=cfg.temperature)
        return logp, ent, mask * seq_mask[part].unsqueeze(1).to(self.device)

    def _split_idle(self, mini: torch.Tensor, adv: torch.Tensor) -> tuple[list[int], list[int]]:
        """Rollouts of a mini-batch that carry a gradient, and those that carry none: with advantage exactly 0
        and no entropy or KL term, a rollout's loss and gradient are 0, so its backward pass can be skipped
        (the update is the same up to float rounding; the normalisers count every rollout either way)."""
        rows = mini.tolist()
        if self.cfg.entropy_coef or self.ref is not None:
            return rows, []
        zero = (adv[mini] == 0).tolist()
        return [r for r, z in zip(rows, zero) if not z], [r for r, z in zip(rows, zero) if z]

    @torch.no_grad()
    def _idle_stats(self, batch: dict, part: torch.Tensor, seq_mask: torch.Tensor, sums: dict) -> None:
        """The logged entropy of rollouts without a gradient (a forward pass, no backward); their loss,
        clipped share and KL are exactly 0."""
        _, ent, mask = self._policy_forward(batch, part, seq_mask, False)
        sums["entropy"] += float((ent * mask).sum())
        sums["tokens"] += float(mask.sum())

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

    def _validation_sets(self) -> tuple[dict, int]:
        from .validation import memorisation_sets

        sets = dict(self.benchmarks)
        used = self.cfg.steps * self.cfg.prompts_per_step
        sets.update(memorisation_sets(self.prompts, self.epoch_order(0), used, self.cfg.validate_rl_prompts))
        return sets, step_seed(self.seed, 0, 53)  # the same sampling seed at every step: paired draws, less noisy differences

    def step0_key(self) -> str:
        """The shared-cache key of the step-0 point: the current (initial) weights, problems, settings and seed."""
        from .validation import validation_key

        sets, seed = self._validation_sets()
        return validation_key(self.model, sets, self.cfg, self.stop, seed)

    def validate(self, step: int, initial=None, key: str | None = None) -> dict:
        """The validation protocol (rl/validation.py) on the benchmarks and the memorisation pair, one fixed budget.
        The step-0 point depends only on the initial weights, so runs from the same model share it (a cache
        beside the runs, keyed by the weights, problems, settings and seed). When the step-0 point is computed
        after training (`_deferred_point`), `key` is the initial policy's and `initial` a callable returning that
        policy: called only on a cache miss (no entry, or a damaged one), so a recomputed step 0 never
        validates the trained weights."""
        from .validation import cached, validate_policy

        sets, seed = self._validation_sets()
        if step != 0:
            return validate_policy(self.model, self.tok, sets, self.cfg, self.stop, seed)
        run = lambda: validate_policy(initial() if initial is not None else self.model, self.tok, sets,  # noqa: E731
                                      self.cfg, self.stop, seed)
        return cached(self.cache_dir, key or self.step0_key(), run)

    def memorisation_note(self) -> str | None:
        """The warning line when `rl.validate_rl_prompts` cannot be honoured by this prompt set (else None)."""
        from .validation import memorisation_note

        if not (self.benchmarks and self.cfg.validate_every):
            return None
        note = memorisation_note(self.cfg, len(self.prompts))
        return f"rl {self.out.name}: {note}" if note else None

    @property
    def cache_dir(self) -> Path:
        return self.out.parent / ".validation_cache"

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
        return save_checkpoint(self.out, step, model_state, self.model.config, tok_dir, state, summary,
                               generation_config=getattr(self.model, "generation_config", None))

    def resume(self) -> int:
        """Load the newest checkpoint under out_dir that verifies, if any; trims metrics rows past it.
        Returns the step. A damaged newer checkpoint is named in one warning line; when none verifies,
        raises CheckpointError (see `model.checkpoint.resume_checkpoint`)."""
        from safetensors.torch import load_file

        from ..model.checkpoint import load_trainer_state, resume_checkpoint

        ck = resume_checkpoint(self.out, f"rl {self.out.name}")
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
        from ..progress import progress

        from ..model.checkpoint import mark_final

        cfg = self.cfg
        self.out.mkdir(parents=True, exist_ok=True)
        atomic_write_json(self.out / "rl_config.json", {"config": to_dict(cfg), "seed": self.seed, **self.lineage})
        note = self.memorisation_note()
        if note:
            print(note, flush=True)
        start = self.resume()
        if self.backend is not None and start:
            self.backend.sync_weights(self.model)
        if start == 0:  # a fresh run: drop rows of an earlier attempt that saved no checkpoint
            atomic_write_text(self.out / "metrics.jsonl", "")
            if self.benchmarks and cfg.validate_every:  # the step-0 point: the policy before any update
                self._first_point()
        last = None
        for step in progress(range(start, cfg.steps), desc=f"rl {self.out.name}", unit="step", initial=start, total=cfg.steps):
            row = self.train_step(step)
            done = step + 1
            if self.benchmarks and cfg.validate_every and (done % cfg.validate_every == 0 or done == cfg.steps):
                row.update(self.validate(step))
            self._log(row)
            if (cfg.save_every and done % cfg.save_every == 0) or done == cfg.steps:
                last = self.save(done)
        if self.benchmarks and cfg.validate_every:
            self._deferred_point()
        if last is None:
            from ..model.checkpoint import latest_checkpoint

            last = latest_checkpoint(self.out)
        if last is not None:
            mark_final(self.out, last)
        return self.out

    def _first_point(self) -> None:
        """The step-0 row, from the shared cache or computed now; with `defer_step0` and no cached result it is
        left to the end (`_deferred_point`): a run from the same model may compute it meanwhile."""
        from .validation import cache_path

        key = self.step0_key()
        atomic_write_json(self.out / STEP0_KEY, {"key": key})
        if self.defer_step0 and self.step0_from is not None and not cache_path(self.cache_dir, key).is_file():
            return
        self._log({"step": 0, **self.validate(0, key=key)})

    def _log(self, row: dict) -> None:
        """Append a metrics row to metrics.jsonl, and send it to the tracking sinks when there are any."""
        if self.tracker is not None:
            self.tracker.log(row)
        else:
            append_jsonl(self.out / "metrics.jsonl", row)

    def _deferred_point(self) -> None:
        """Put the step-0 row first in metrics.jsonl if training started without it: the cached result when a
        sibling computed it, else a validation of the initial policy (`step0_from()`)."""
        metrics = self.out / "metrics.jsonl"
        rows = read_jsonl(metrics)
        if any(r.get("step") == 0 for r in rows):
            return
        key_file = self.out / STEP0_KEY
        key = json.loads(key_file.read_text())["key"] if key_file.is_file() else None
        if key is None or self.step0_from is None:
            raise RuntimeError(f"{metrics}: the step-0 validation row is missing and the initial policy is unknown")
        row = {"step": 0, **self.validate(0, initial=self.step0_from, key=key)}  # reloaded only on a cache miss
        atomic_write_text(metrics, "".join(json.dumps(r) + "\n" for r in [row, *rows]))
        if self.tracker is not None:  # the file has it first; the sinks get it last
            self.tracker.send(row)


def _chain_metrics(rb) -> dict:
    """`chain_rate`: rollouts that write out every gold step; `lucky_rate`: correct answers that do not."""
    if rb.valid_chain is None:
        return {}
    right = [ok for c, ok in zip(rb.correct, rb.valid_chain) if c]
    return {"chain_rate": sum(rb.valid_chain) / max(len(rb.valid_chain), 1),
            "lucky_rate": (sum(not ok for ok in right) / len(right)) if right else 0.0}
