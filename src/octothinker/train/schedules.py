"""Learning-rate schedules as pure functions of the optimizer step (no torch, exact-table tested).

Step `s` is 0-based: `lr_at(s, ...)` is the rate used by the s-th optimizer update. Warmup is
linear, reaching the peak at step `warmup_steps - 1`. Decay shapes run from the peak at the first
post-warmup step towards `min_lr`, which is reached after the last step (progress = done/total).
"""
from __future__ import annotations

import math

SCHEDULES = ("constant", "cosine", "linear", "1-sqrt", "warmup_cosine")


def warmup_factor(step: int, warmup_steps: int) -> float:
    """Linear ramp (step+1)/warmup during warmup, 1.0 afterwards."""
    if warmup_steps <= 0 or step >= warmup_steps:
        return 1.0
    return (step + 1) / warmup_steps


def decay_shape(progress: float, shape: str) -> float:
    """Fraction of the (peak - floor) gap still left at `progress` in [0, 1] for a decay shape."""
    p = min(max(progress, 0.0), 1.0)
    if shape in ("cosine", "warmup_cosine"):
        return 0.5 * (1.0 + math.cos(math.pi * p))
    if shape == "linear":
        return 1.0 - p
    if shape == "1-sqrt":
        return 1.0 - math.sqrt(p)
    if shape == "constant":
        return 1.0
    raise ValueError(f"schedule: unknown shape {shape!r}; known: {', '.join(SCHEDULES)}")


def lr_at(step: int, *, schedule: str, lr: float, min_lr: float = 0.0, warmup_steps: int = 0, total_steps: int = 1) -> float:
    """The learning rate of optimizer step `step` (0-based) of a stage with `total_steps` updates.

    constant: warmup then `lr` for ever (the Stable stage). cosine / linear / 1-sqrt: warmup (usually
    none for a decay branch) then decay from `lr` (the stable LR) to `min_lr`. warmup_cosine: the
    paper's controlled-ablation schedule, warmup then cosine to `min_lr` over the whole budget.
    """
    if step < 0:
        raise ValueError(f"step: must be >= 0, got {step}")
    if step < warmup_steps:
        return lr * warmup_factor(step, warmup_steps)
    if schedule == "constant":
        return lr
    decay_steps = max(1, total_steps - warmup_steps)
    progress = (step - warmup_steps) / decay_steps
    return lr - (lr - min_lr) * (1.0 - decay_shape(progress, schedule))  # exactly `lr` at progress 0


def lr_table(total_steps: int, **kwargs) -> list[float]:
    """The LR of every step of a stage (for tests, plots and the dry-run plan)."""
    return [lr_at(s, total_steps=total_steps, **kwargs) for s in range(total_steps)]
