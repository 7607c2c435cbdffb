"""Next-token loss on packed rows: no loss on padding, none across a document boundary.

Rows hold documents each followed by EOS. The token after an EOS starts a new document and is
not predicted from the previous one (its target is ignored). With pad == eos (common for real
tokenizers) the trailing pads all follow an EOS, so the same rule drops them while the real EOS
that ends a document keeps its loss.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

IGNORE = -100


def shifted_targets(ids: torch.Tensor, eos_id: int, pad_id: int) -> torch.Tensor:
    """Targets for positions 0..T-2 (ids[:, 1:]) with boundary and pad positions set to IGNORE."""
    targets = ids[:, 1:].clone()
    targets[ids[:, :-1] == eos_id] = IGNORE
    if pad_id != eos_id:
        targets[ids[:, 1:] == pad_id] = IGNORE
    return targets


def doc_position_ids(ids: torch.Tensor, eos_id: int) -> torch.Tensor:
    """Positions that restart at 0 after every EOS (so each packed document sees positions 0..n)."""
    B, T = ids.shape
    starts = torch.zeros_like(ids, dtype=torch.bool)
    starts[:, 0] = True
    starts[:, 1:] = ids[:, :-1] == eos_id
    idx = torch.arange(T, device=ids.device).expand(B, T)
    last_start = torch.where(starts, idx, torch.zeros_like(idx)).cummax(dim=1).values
    return idx - last_start


def doc_block_mask(ids: torch.Tensor, eos_id: int, dtype: torch.dtype) -> torch.Tensor:
    """Additive 4D mask (B, 1, T, T): causal and within the same packed document only."""
    T = ids.shape[1]
    doc = torch.zeros_like(ids)
    doc[:, 1:] = (ids[:, :-1] == eos_id).long().cumsum(dim=1)
    same = doc[:, :, None] == doc[:, None, :]
    causal = torch.ones(T, T, dtype=torch.bool, device=ids.device).tril()
    allowed = same & causal
    mask = torch.zeros(allowed.shape, dtype=dtype, device=ids.device)
    mask.masked_fill_(~allowed, torch.finfo(dtype).min)
    return mask[:, None]


def loss_sum(model, ids: torch.Tensor, eos_id: int, pad_id: int, doc_mask: bool = False) -> tuple[torch.Tensor, int]:
    """Summed token cross-entropy of one micro-batch and the number of counted targets."""
    kwargs = {}
    if doc_mask:
        kwargs["position_ids"] = doc_position_ids(ids, eos_id)
        kwargs["attention_mask"] = doc_block_mask(ids, eos_id, torch.float32)
    logits = model(input_ids=ids, use_cache=False, **kwargs).logits[:, :-1]
    targets = shifted_targets(ids, eos_id, pad_id)
    total = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=IGNORE, reduction="sum")
    return total, int((targets != IGNORE).sum())
