"""Rollout batches for the policy update, scored with each prompt's forward pass shared by its group.

The G rollouts of a prompt share its tokens, so a batch keeps each distinct prompt once (left-padded)
and the responses apart (right-padded). `token_logps` runs a prompt once, repeats its KV cache for the
rollouts that need it, and runs only the responses on top: the same log-probabilities as a forward
over every full prompt+response sequence, with the prompt's compute done once per group instead of
G times (gradients flow through the shared prompt pass).
"""
from __future__ import annotations

import torch


def _pad(rows: list[list[int]], pad: int, left: bool) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(max((len(r) for r in rows), default=1), 1)
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        if r:
            sl = slice(width - len(r), width) if left else slice(0, len(r))
            ids[i, sl] = torch.tensor(r, dtype=torch.long)
            mask[i, sl] = 1
    return ids, mask


def build_batch(prompt_ids: list[list[int]], response_ids: list[list[int]], pad: int) -> dict:
    """Distinct prompts left-padded ("prompt_ids", "prompt_attn" [P, Lp]), each rollout's prompt index
    ("row_prompt" [B]) and the responses right-padded ("resp" [B, R]) with "resp_mask" 1 on response tokens."""
    if len(prompt_ids) != len(response_ids) or not prompt_ids:
        raise ValueError("build_batch: need one prompt per response and at least one rollout")
    if any(not p for p in prompt_ids):
        raise ValueError("build_batch: every prompt needs at least one token")
    index: dict[tuple[int, ...], int] = {}
    row_prompt = [index.setdefault(tuple(p), len(index)) for p in prompt_ids]
    prompts, prompt_attn = _pad([list(p) for p in index], pad, left=True)
    resp, resp_mask = _pad(response_ids, pad, left=False)
    return {"prompt_ids": prompts, "prompt_attn": prompt_attn, "row_prompt": torch.tensor(row_prompt, dtype=torch.long),
            "resp": resp, "resp_mask": resp_mask.float()}


def _expand(cache, index: torch.Tensor) -> None:
    """Rows `index` of every cached layer; index_select's backward is ~3x cheaper than fancy indexing's."""
    layers = getattr(cache, "layers", None)
    if not layers or not all(hasattr(layer, "keys") and hasattr(layer, "values") for layer in layers):
        cache.batch_select_indices(index)
        return
    for layer in layers:
        layer.keys, layer.values = layer.keys.index_select(0, index), layer.values.index_select(0, index)


def token_logps(model, batch: dict, rows: torch.Tensor, with_entropy: bool, device=None):
    """Per-token log-probs of the sampled response tokens of rollouts `rows` ([b, R_b], R_b = their longest
    response), their entropies (or None) and their response mask; computed on `device`."""
    from transformers import DynamicCache

    from ..model.sampling import last_logits_kwargs

    device = device or next(model.parameters()).device
    mask = batch["resp_mask"][rows]
    width = max(int(mask.sum(1).max()), 1)
    mask = mask[:, :width].to(device)
    resp = batch["resp"][rows][:, :width].to(device)
    used, inverse = torch.unique(batch["row_prompt"][rows], return_inverse=True)
    p_ids = batch["prompt_ids"][used].to(device)
    p_attn = batch["prompt_attn"][used].to(device)
    keep_from = int((p_attn.sum(0) == 0).sum())  # columns that are padding in every used prompt
    p_ids, p_attn = p_ids[:, keep_from:], p_attn[:, keep_from:]
    p_pos = (p_attn.cumsum(-1) - 1).clamp(min=0)
    out = model(input_ids=p_ids, attention_mask=p_attn, position_ids=p_pos, past_key_values=DynamicCache(),
                use_cache=True, **last_logits_kwargs(model))
    cache = out.past_key_values
    inverse = inverse.to(device)
    _expand(cache, inverse)  # each rollout's copy of its prompt's keys and values
    first = out.logits[:, -1][inverse]  # predicts the first response token
    attn = torch.cat([p_attn[inverse], mask.long()], dim=1)
    pos = p_pos[inverse, -1:] + 1 + torch.arange(width, device=device)[None]
    if width > 1:
        rest = model(input_ids=resp[:, :-1], attention_mask=attn[:, :-1], position_ids=pos[:, :-1],
                     past_key_values=cache, use_cache=True).logits
        logits = torch.cat([first[:, None], rest], dim=1).float()
    else:
        logits = first[:, None].float()
    logp_all = torch.log_softmax(logits, dim=-1)
    logp = logp_all.gather(-1, resp.unsqueeze(-1)).squeeze(-1)
    ent = -(logp_all.exp() * logp_all).sum(-1) if with_entropy else None
    return logp, ent, mask
