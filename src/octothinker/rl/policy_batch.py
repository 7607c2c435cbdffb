"""Rollout batches for the policy update, scored with each prompt's forward pass shared by its group.

The G rollouts of a prompt share its tokens, so a batch keeps each distinct prompt once (left-padded)
and the responses apart (right-padded). `token_logps` runs a prompt once, repeats its KV cache for the
rollouts that need it, and runs only the responses on top: the same log-probabilities as a forward
over every full prompt+response sequence, with the prompt's compute done once per group instead of
G times (gradients flow through the shared prompt pass).
"""
from __future__ import annotations

import torch

from ..model.sampling import last_logits_kwargs, left_pad_positions, pad_rows


def build_batch(prompt_ids: list[list[int]], response_ids: list[list[int]], pad: int) -> dict:
    """Distinct prompts left-padded ("prompt_ids", "prompt_attn" [P, Lp]), each rollout's prompt index
    ("row_prompt" [B]) and the responses right-padded ("resp" [B, R]) with "resp_mask" 1 on response tokens."""
    if len(prompt_ids) != len(response_ids) or not prompt_ids:
        raise ValueError("build_batch: need one prompt per response and at least one rollout")
    if any(not p for p in prompt_ids):
        raise ValueError("build_batch: every prompt needs at least one token")
    index: dict[tuple[int, ...], int] = {}
    row_prompt = [index.setdefault(tuple(p), len(index)) for p in prompt_ids]
    prompts, prompt_attn = pad_rows([list(p) for p in index], pad, left=True)
    resp, resp_mask = pad_rows(response_ids, pad, left=False)
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


def token_logps(model, batch: dict, rows: torch.Tensor, with_entropy: bool, device=None, entropy_grad: bool = False,
                temperature: float = 1.0):
    """Per-token log-probs of the sampled response tokens of rollouts `rows` ([b, R_b], R_b = their longest
    response), their entropies (or None; differentiable only with `entropy_grad`) and their response mask;
    computed on `device`.

    Both come from the tempered distribution log_softmax(logits / temperature), the one rollouts are
    drawn from (pass the sampling temperature for the policy, the old policy and the reference alike).
    As in verl and TRL, a top-p cut at sampling is not applied here: this is the full tempered softmax,
    not one renormalised over the nucleus."""
    from transformers import DynamicCache

    if temperature <= 0:
        raise ValueError(f"token_logps: temperature must be > 0, got {temperature}")
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
    p_pos = left_pad_positions(p_attn)
    cache = DynamicCache()  # filled in place by the forward (the `cache` argument, transformers >= 5.24)
    out = model(input_ids=p_ids, attention_mask=p_attn, position_ids=p_pos, cache=cache,
                use_cache=True, **last_logits_kwargs(model))
    inverse = inverse.to(device)
    _expand(cache, inverse)  # each rollout's copy of its prompt's keys and values
    first = out.logits[:, -1][inverse]  # predicts the first response token
    attn = torch.cat([p_attn[inverse], mask.long()], dim=1)
    pos = p_pos[inverse, -1:] + 1 + torch.arange(width, device=device)[None]
    if width > 1:
        rest = model(input_ids=resp[:, :-1], attention_mask=attn[:, :-1], position_ids=pos[:, :-1],
                     cache=cache, use_cache=True).logits
        logits = torch.cat([first[:, None], rest], dim=1).float()
    else:
        logits = first[:, None].float()
    logp_all = torch.log_softmax(logits / temperature if temperature != 1.0 else logits, dim=-1)
    logp = logp_all.gather(-1, resp.unsqueeze(-1)).squeeze(-1)
    ent = None
    if with_entropy:
        with torch.set_grad_enabled(entropy_grad and torch.is_grad_enabled()):
            src = logp_all if entropy_grad else logp_all.detach()
            ent = -(src.exp() * src).sum(-1)
    return logp, ent, mask


CHUNK_OVERHEAD = 32  # positions' worth of fixed cost per forward pass: ties go to fewer chunks


def _cost(chunks: list[list[int]], resp_len: list[int], row_prompt: list[int], prompt_len: list[int]) -> int:
    """Token positions a set of forward chunks computes: padded responses plus each chunk's distinct prompts."""
    total = CHUNK_OVERHEAD * len(chunks)
    for rows in chunks:
        total += len(rows) * max(max(resp_len[r] for r in rows), 1)
        prompts = {row_prompt[r] for r in rows}
        total += len(prompts) * max(prompt_len[p] for p in prompts)
    return total


def plan_chunks(rows: list[int], batch: dict, micro: int = 0) -> list[list[int]]:
    """Split the rollouts `rows` of one mini-batch into forward chunks that waste the least compute.

    Candidates: rows in prompt order (a group shares its prompt pass) or in response-length order
    (less right padding), cut into chunks of `micro` rows, or (micro = 0) into 1, 2, 4 or 8 equal
    chunks; the plan with the fewest computed positions wins. The loss is summed over chunks with the
    mini-batch's normaliser, so the plan changes speed, not the update.
    """
    resp_len = batch["resp_mask"].sum(1).long().tolist()
    row_prompt = batch["row_prompt"].tolist()
    prompt_len = batch["prompt_attn"].sum(1).long().tolist()
    by_prompt = sorted(rows, key=lambda r: (row_prompt[r], r))
    by_length = sorted(rows, key=lambda r: (resp_len[r], row_prompt[r], r))
    sizes = [micro] if micro > 0 else sorted({-(-len(rows) // k) for k in (1, 2, 4, 8)}, reverse=True)
    best, best_cost = None, None
    for order in (by_prompt, by_length):
        for size in sizes:
            chunks = [order[i:i + size] for i in range(0, len(order), size)]
            cost = _cost(chunks, resp_len, row_prompt, prompt_len)
            if best_cost is None or cost < best_cost:
                best, best_cost = chunks, cost
    return best
