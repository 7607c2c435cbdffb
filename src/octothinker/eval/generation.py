"""Batched sampling with a KV cache for any HF causal LM: the HF backend of eval and RL rollouts.

`generate` left-pads a batch of prompts, runs one prefill, copies the cache n times for n
samples per prompt, then decodes token by token. Rows that hit EOS or a stop string are
dropped from the batch (and the cache) as they finish, so the work shrinks with the batch
instead of running every row to the longest one as a plain `model.generate` loop does.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence


@dataclass
class Completion:
    """One sampled continuation: text (cut before any stop string), generated token count,
    and whether it ran to `max_new_tokens` without EOS or a stop string."""

    text: str
    n_tokens: int
    truncated: bool


def eos_ids(model, tokenizer) -> set[int]:
    """Every id that ends a sequence: the tokenizer's EOS plus the model's generation config ones."""
    ids: set[int] = set()
    for source in (tokenizer.eos_token_id, getattr(getattr(model, "generation_config", None), "eos_token_id", None)):
        if source is None:
            continue
        ids.update([source] if isinstance(source, int) else source)
    return ids


def cut_at_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    """Text before the earliest stop string, and whether one was found."""
    cut = min((i for i in (text.find(s) for s in stop if s) if i >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


def sample_next(logits, temperature: float, top_p: float, generator=None):
    """Greedy argmax at temperature 0; otherwise temperature scaling, nucleus filtering and a draw."""
    import torch

    if temperature <= 0:
        return logits.argmax(dim=-1)
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    if top_p < 1.0:
        sorted_probs, order = probs.sort(dim=-1, descending=True)
        before = sorted_probs.cumsum(dim=-1) - sorted_probs  # mass strictly above each token
        sorted_probs = sorted_probs.masked_fill(before >= top_p, 0.0)
        probs = torch.zeros_like(probs).scatter(-1, order, sorted_probs)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


def _left_pad(rows: list[list[int]], pad_id: int, device):
    import torch

    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        if r:
            ids[i, width - len(r):] = torch.tensor(r, dtype=torch.long)
            mask[i, width - len(r):] = 1
    return ids.to(device), mask.to(device)


def _generate_batch(model, tokenizer, rows, max_new_tokens, temperature, top_p, n, stop, eos, generator):
    """Sample n continuations for each prompt of one batch of token-id rows."""
    import torch

    device = next(model.parameters()).device
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else next(iter(eos), 0)
    ids, mask = _left_pad(rows, pad_id, device)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    out = model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True, logits_to_keep=1)
    cache, logits = out.past_key_values, out.logits[:, -1, :]
    last_pos = positions[:, -1]
    if n > 1:
        cache.batch_repeat_interleave(n)
        logits, mask, last_pos = (t.repeat_interleave(n, dim=0) for t in (logits, mask, last_pos))
    total = len(rows) * n
    tokens: list[list[int]] = [[] for _ in range(total)]
    ended = [False] * total  # by EOS or stop string
    alive = list(range(total))  # row r of the live batch is sequence alive[r]
    window = max((len(s) for s in stop), default=0) + 4
    for step in range(max_new_tokens):
        nxt = sample_next(logits, temperature, top_p, generator).tolist()
        keep = []
        tails = []
        for r, seq in enumerate(alive):
            tok = nxt[r]
            if tok in eos:
                ended[seq] = True
                continue
            tokens[seq].append(tok)
            keep.append(r)
            if stop:
                tails.append(tokens[seq][-window:])
        if stop and keep:
            texts = tokenizer.batch_decode(tails, skip_special_tokens=True)
            still = []
            for r, text in zip(keep, texts):
                if any(s in text for s in stop):
                    ended[alive[r]] = True
                else:
                    still.append(r)
            keep = still
        if not keep or step == max_new_tokens - 1:
            break
        if len(keep) < len(alive):
            idx = torch.tensor(keep, device=device)
            cache.batch_select_indices(idx)
            mask, last_pos = mask[idx], last_pos[idx]
            nxt_t = torch.tensor([nxt[r] for r in keep], device=device)
            alive = [alive[r] for r in keep]
        else:
            nxt_t = torch.tensor(nxt, device=device)
        mask = torch.cat([mask, mask.new_ones((len(alive), 1))], dim=1)
        last_pos = last_pos + 1
        out = model(
            input_ids=nxt_t[:, None], attention_mask=mask, position_ids=last_pos[:, None],
            past_key_values=cache, use_cache=True,
        )
        cache, logits = out.past_key_values, out.logits[:, -1, :]
    texts = tokenizer.batch_decode(tokens, skip_special_tokens=True)
    result = []
    for seq, text in enumerate(texts):
        text, _ = cut_at_stop(text, stop)
        result.append(Completion(text=text, n_tokens=len(tokens[seq]), truncated=not ended[seq]))
    return [result[i * n:(i + 1) * n] for i in range(len(rows))]


def generate(
    model,
    tokenizer,
    prompts: Sequence[str],
    max_new_tokens: int = 256,
    temperature: float = 0.0,
    top_p: float = 1.0,
    n: int = 1,
    stop: Optional[Sequence[str]] = None,
    seed: int = 0,
    batch_size: int = 32,
    progress: bool = False,
) -> list[list["Completion"]]:
    """Sample `n` completions for every prompt; returns one list of `Completion` per prompt, in order.

    temperature 0 is greedy (then n copies are identical). `stop` strings end a completion and
    are cut from its text; EOS ends it too. `batch_size` counts prompts per forward pass (each
    carries n rows). Prompts are sorted by length internally to reduce padding. Sampling is
    reproducible for a given seed, prompt order and batch size.
    """
    import torch

    if n < 1 or max_new_tokens < 1 or batch_size < 1:
        raise ValueError(f"generate: n, max_new_tokens and batch_size must be >= 1 (got {n}, {max_new_tokens}, {batch_size})")
    stop = [s for s in (stop or []) if s]
    eos = eos_ids(model, tokenizer)
    encoded = [tokenizer(p)["input_ids"] for p in prompts]
    order = sorted(range(len(prompts)), key=lambda i: -len(encoded[i]))
    device = next(model.parameters()).device
    generator = torch.Generator(device=device)
    generator.manual_seed(seed)
    results: list = [None] * len(prompts)
    starts = range(0, len(order), batch_size)
    if progress:
        from tqdm import tqdm

        starts = tqdm(starts, desc="generate", unit="batch")
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for start in starts:
                chunk = order[start:start + batch_size]
                outs = _generate_batch(
                    model, tokenizer, [encoded[i] for i in chunk], max_new_tokens, temperature, top_p, n, stop, eos, generator
                )
                for i, comps in zip(chunk, outs):
                    results[i] = comps
    finally:
        model.train(was_training)
    return results
