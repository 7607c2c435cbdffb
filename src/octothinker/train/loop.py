"""The training loop of one stage: AdamW, grad accumulation, clipping, autocast, checkpoints, metrics.

One optimizer step consumes `grad_accum * micro_batch * world` rows. The loss of every micro-batch
is its summed token loss divided by the step's global target count (times world size, since FSDP
averages gradients over ranks), so 4 micro-batches of B rows give the same update as one of 4B
rows, and W ranks the same update as one process.
"""
from __future__ import annotations

import contextlib
import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from ..model import checkpoint as ckpt
from . import loss as loss_mod
from .data import ShardData, rank_rows
from .distributed import Dist, full_state_dict, load_optimizer_state, optimizer_state
from .schedules import lr_at


class NonFiniteLossError(RuntimeError):
    """Training produced a NaN/inf loss or gradient norm; the last good checkpoint is untouched."""


@dataclass
class LoopSpec:
    """Everything the loop needs for one stage, resolved by `plan.py`."""

    stage: str
    stage_dir: Path
    total_steps: int
    micro_batch: int
    grad_accum: int
    seq_len: int
    checkpoint_every_steps: int
    schedule: dict  # kwargs of schedules.lr_at (schedule, lr, min_lr, warmup_steps)
    weight_decay: float = 0.1
    betas: tuple[float, float] = (0.9, 0.95)
    grad_clip: float = 1.0
    precision: str = "bf16"
    doc_attention_mask: bool = False
    eval_every_steps: int = 50
    heldout_rows: int = 32
    config_hash: str = ""
    summary: dict = field(default_factory=dict)  # extra JSON fields for each checkpoint (mixture, parent, ...)
    tracking: Any = None  # the recipe's `report.tracking` (sinks the metrics rows also go to); None: the JSONL only
    run_name: str = "run"  # the tracker's run name is <run_name>/midtrain/<stage>


def param_groups(model, weight_decay: float) -> list[dict]:
    """Decay matrices only: no weight decay on norms, biases or embeddings."""
    emb = {id(model.get_input_embeddings().weight)}
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if p.ndim < 2 or id(p) in emb or "embed" in name or "norm" in name:
            no_decay.append(p)
        else:
            decay.append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def make_optimizer(model, spec: LoopSpec):
    return torch.optim.AdamW(param_groups(model, spec.weight_decay), lr=spec.schedule["lr"], betas=tuple(spec.betas), eps=1e-8)


def rng_state() -> dict:
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _autocast(device: torch.device, precision: str):
    """bf16 autocast for `bf16`, and for `auto` on an accelerator; fp32 otherwise (on CPUs without native bf16
    matmuls, bf16 autocast ran 20x slower than fp32 here)."""
    if precision == "bf16" or (precision == "auto" and device.type != "cpu"):
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def heldout_losses(model, heldout: dict[str, np.ndarray], data: ShardData, spec: LoopSpec, dist: Dist) -> dict[str, float]:
    """Mean token loss per source on its held-out rows (rank r takes rows r, r+W, ...)."""
    out = {}
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for source, rows in heldout.items():
            mine = rows[dist.rank :: dist.world]
            batches = -(-(-(-len(rows) // dist.world)) // spec.micro_batch)  # the same count on every rank
            s, n = 0.0, 0
            for i in range(batches):
                chunk = mine[i * spec.micro_batch : (i + 1) * spec.micro_batch]
                if len(chunk) == 0:
                    _dummy_forward(model, data, dist)
                    continue
                ids = torch.from_numpy(chunk).to(dist.device)
                with _autocast(dist.device, spec.precision):
                    ls, ln = loss_mod.loss_sum(model, ids, data.eos_id, data.pad_id, spec.doc_attention_mask)
                s, n = s + float(ls), n + ln
            s, n = dist.all_sum([s, n])
            if n:
                out[source] = s / n
    model.train(was_training)
    return out


def _dummy_forward(model, data: ShardData, dist: Dist) -> None:
    """Keep FSDP collectives matched on a rank that has fewer held-out rows than the others."""
    ids = torch.full((1, 2), data.eos_id, dtype=torch.long, device=dist.device)
    model(input_ids=ids, use_cache=False)


def save(model, optimizer, spec: LoopSpec, dist: Dist, step: int, position: int, tokenizer_dir, lr: float) -> Path | None:
    """Collective checkpoint: every rank gathers, rank 0 writes; returns the step dir on rank 0."""
    msd = full_state_dict(model, dist)
    osd = optimizer_state(model, optimizer, dist)
    path = None
    if dist.is_main:
        tokens = step * spec.micro_batch * spec.grad_accum * dist.world * spec.seq_len
        summary = {"stage": spec.stage, "step": step, "tokens": tokens, "data_position": position, "lr": lr,
                   "total_steps": spec.total_steps, "config_hash": spec.config_hash, "world_size": dist.world, **spec.summary}
        state = {"step": step, "data_position": position, "optimizer": osd, "rng": rng_state(), "config_hash": spec.config_hash}
        cfg = getattr(model, "config")
        path = ckpt.save_checkpoint(spec.stage_dir, step, msd, cfg, tokenizer_dir, state, summary,
                                    generation_config=getattr(model, "generation_config", None))
    dist.barrier()
    return path


def train_loop(model, data: ShardData, spec: LoopSpec, dist: Dist, tokenizer_dir, resume: dict | None = None,
               stop_after: int | None = None, loss_fn: Callable | None = None) -> dict[str, Any]:
    """Train `model` (already wrapped) for the stage; returns {"step", "complete", "checkpoint"}.

    `resume` is a loaded trainer state (continue exactly); `stop_after` ends the run early after that
    step with a checkpoint (used to test resume). Raises NonFiniteLossError on NaN/inf.
    """
    from ..progress import progress

    loss_fn = loss_fn or loss_mod.loss_sum
    optimizer = make_optimizer(model, spec)
    step, position = 0, 0
    if resume is not None:
        load_optimizer_state(model, optimizer, resume["optimizer"], dist)
        set_rng_state(resume["rng"])
        step, position = int(resume["step"]), int(resume["data_position"])
    rows_per_step = spec.micro_batch * spec.grad_accum * dist.world
    tokens_per_step = rows_per_step * spec.seq_len
    heldout = data.heldout(spec.heldout_rows) if spec.eval_every_steps > 0 else {}
    metrics_path = spec.stage_dir / "metrics.jsonl"
    end = spec.total_steps if stop_after is None else min(spec.total_steps, stop_after)
    bar = progress(total=spec.total_steps, initial=step, desc=f"midtrain {spec.stage}", unit="step", disable=not dist.is_main, dynamic_ncols=True)
    fsdp = dist.enabled and hasattr(model, "set_requires_gradient_sync")
    last_ckpt = None
    lr = lr_at(max(step - 1, 0), total_steps=spec.total_steps, **spec.schedule)
    model.train()
    from ..report.tracking import Tracker  # light: a sink's package is imported only when enabled

    tracker = Tracker.open(spec.tracking if dist.is_main else None, metrics_path, f"{spec.run_name}/midtrain/{spec.stage}",
                           {"stage": spec.stage, "schedule": spec.schedule, "total_steps": spec.total_steps})
    try:
        while step < end:
            t0 = time.perf_counter()
            lr = lr_at(step, total_steps=spec.total_steps, **spec.schedule)
            for g in optimizer.param_groups:
                g["lr"] = lr
            micro = [torch.from_numpy(data.take(rank_rows(position, spec.micro_batch, m, dist.rank, dist.world))) for m in range(spec.grad_accum)]
            local_n = sum(int((loss_mod.shifted_targets(ids, data.eos_id, data.pad_id) != loss_mod.IGNORE).sum()) for ids in micro)
            (global_n,) = dist.all_sum([local_n])
            denom = max(global_n, 1.0)
            local_loss = 0.0
            for m, ids in enumerate(micro):
                if fsdp:
                    model.set_requires_gradient_sync(m == len(micro) - 1)
                with _autocast(dist.device, spec.precision):
                    s, _ = loss_fn(model, ids.to(dist.device), data.eos_id, data.pad_id, spec.doc_attention_mask)
                (s * (dist.world / denom)).backward()
                local_loss += float(s.detach())
            grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), spec.grad_clip if spec.grad_clip > 0 else float("inf"))
            if hasattr(grad_norm, "full_tensor"):
                grad_norm = grad_norm.full_tensor()
            grad_norm = float(grad_norm)
            (loss_total,) = dist.all_sum([local_loss])
            loss = loss_total / denom
            if not (math.isfinite(loss) and math.isfinite(grad_norm)):
                optimizer.zero_grad(set_to_none=True)
                bar.close()
                good = ckpt.latest_checkpoint(spec.stage_dir)
                raise NonFiniteLossError(
                    f"stage {spec.stage}: non-finite loss {loss} / grad norm {grad_norm} at step {step + 1}; "
                    f"no update applied; last good checkpoint: {good or 'none (stage start)'}"
                )
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            position += rows_per_step
            dt = time.perf_counter() - t0
            record = {"stage": spec.stage, "step": step, "tokens": step * tokens_per_step, "loss": loss, "lr": lr,
                      "grad_norm": grad_norm, "tokens_per_s": tokens_per_step / dt if dt > 0 else None,
                      "epoch": position / data.rows}
            if heldout and (step % spec.eval_every_steps == 0 or step == spec.total_steps):
                record["heldout_loss"] = heldout_losses(model, heldout, data, spec, dist)
            if dist.is_main:
                tracker.log(record)
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.3f}", lr=f"{lr:.2e}")
            if step % spec.checkpoint_every_steps == 0 or step == end:
                last_ckpt = save(model, optimizer, spec, dist, step, position, tokenizer_dir, lr)
    finally:
        tracker.close()
    bar.close()
    if last_ckpt is None and step > 0 and dist.is_main:
        last_ckpt = ckpt.latest_checkpoint(spec.stage_dir)
    return {"step": step, "complete": step >= spec.total_steps, "checkpoint": last_ckpt}
