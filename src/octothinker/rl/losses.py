"""GRPO-family math as pure tensor functions: advantages, clipped policy loss, aggregation, KL, entropy.

Shapes: B rollouts laid out group by group (rollout i belongs to prompt i // group_size),
T response positions; `mask` is 1 on response tokens that count for the loss.
"""
from __future__ import annotations

import torch

AGGREGATIONS = ("token_mean", "seq_mean", "dr_grpo")


def _groups(rewards: torch.Tensor, group_size: int) -> torch.Tensor:
    if rewards.dim() != 1 or rewards.numel() % group_size:
        raise ValueError(f"rewards: need a 1-D tensor whose length is a multiple of group_size={group_size}")
    return rewards.view(-1, group_size)


def group_advantages(rewards: torch.Tensor, group_size: int, scale: bool = True, eps: float = 1e-6) -> torch.Tensor:
    """GRPO advantage of each rollout: reward minus its group's mean, divided by the group's std.

    `scale=False` is Dr. GRPO (no std normalisation). The std is the unbiased one (as in
    verl/TRL); a group whose rewards are all equal gets advantage 0 everywhere.
    """
    g = _groups(rewards.float(), group_size)
    centered = g - g.mean(dim=1, keepdim=True)
    if scale:
        centered = centered / (g.std(dim=1, keepdim=True) + eps)
    return centered.reshape(-1)


def zero_variance_groups(rewards: torch.Tensor, group_size: int) -> torch.Tensor:
    """Boolean per group: True where every rollout of the prompt got the same reward (no signal)."""
    g = _groups(rewards.float(), group_size)
    return (g.max(dim=1).values - g.min(dim=1).values) == 0


def clipped_pg_loss(
    logp: torch.Tensor, old_logp: torch.Tensor, adv: torch.Tensor, clip_low: float, clip_high: float,
    mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token PPO loss -min(r*A, clip(r, 1-clip_low, 1+clip_high)*A) and where the clip was active.

    `adv` is per rollout [B] or per token [B, T]; asymmetric bounds give DAPO's clip-higher. Where
    `mask` is 0 the log-ratio is taken as 0 before the exponential and loss and clip flag are exactly 0,
    so filler log-probs there (padding) cannot overflow into inf/NaN values or gradients.
    """
    if adv.dim() == 1:
        adv = adv.unsqueeze(1)
    log_ratio = logp - old_logp
    keep = None
    if mask is not None:
        keep = mask > 0
        log_ratio = torch.where(keep, log_ratio, torch.zeros_like(log_ratio))
    ratio = torch.exp(log_ratio)
    unclipped = ratio * adv
    clipped = torch.clamp(ratio, 1.0 - clip_low, 1.0 + clip_high) * adv
    loss = -torch.minimum(unclipped, clipped)
    was_clipped = (clipped < unclipped).float()
    if keep is not None:
        loss = torch.where(keep, loss, torch.zeros_like(loss))
        was_clipped = was_clipped * keep
    return loss, was_clipped


def aggregate(
    per_token: torch.Tensor,
    mask: torch.Tensor,
    mode: str,
    max_len: int | None = None,
    n_tokens: float | None = None,
    n_seqs: float | None = None,
) -> torch.Tensor:
    """Reduce a [B, T] per-token loss to a scalar.

    token_mean (DAPO): sum over all tokens / number of tokens.
    seq_mean (GRPO): mean over rollouts of each rollout's token mean.
    dr_grpo: sum over all tokens / (rollouts * max_len), a constant normaliser.
    `n_tokens` / `n_seqs` override the denominators so that micro-batches of one mini-batch
    add up to the mini-batch's loss (gradient accumulation).
    """
    mask = mask.to(per_token.dtype)
    total = per_token * mask
    if mode == "token_mean":
        denom = n_tokens if n_tokens is not None else mask.sum()
        return total.sum() / max(float(denom), 1.0)
    if mode == "seq_mean":
        per_seq = total.sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
        denom = n_seqs if n_seqs is not None else per_token.shape[0]
        return per_seq.sum() / max(float(denom), 1.0)
    if mode == "dr_grpo":
        if max_len is None:
            raise ValueError("dr_grpo aggregation needs max_len (the max response length)")
        denom = n_seqs if n_seqs is not None else per_token.shape[0]
        return total.sum() / (max(float(denom), 1.0) * max_len)
    raise ValueError(f"loss_agg: unknown aggregation {mode!r}; choose one of {', '.join(AGGREGATIONS)}")


def kl_k3(logp: torch.Tensor, ref_logp: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Per-token k3 estimator of KL(policy || reference): exp(ref - logp) - (ref - logp) - 1 (>= 0).

    Where `mask` is 0 the difference is set to 0 before the exponential: those positions are exactly 0
    with zero gradient, however far apart the (filler) log-probs there are (exp would overflow past ~88).
    """
    d = ref_logp - logp
    if mask is not None:
        d = torch.where(mask > 0, d, torch.zeros_like(d))
    return torch.exp(d) - d - 1.0


def entropy_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """Per-position entropy of the softmax over the last dimension."""
    logp = torch.log_softmax(logits.float(), dim=-1)
    return -(logp.exp() * logp).sum(dim=-1)


def token_logprobs(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """log p(target) at each position from [B, T, V] logits and [B, T] target ids."""
    logp = torch.log_softmax(logits.float(), dim=-1)
    return logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1)


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    mask = mask.to(x.dtype)
    return (x * mask).sum() / mask.sum().clamp(min=1.0)
