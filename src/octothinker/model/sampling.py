"""The one batched KV-cache sampler for any HF causal LM: eval's `generate` and RL's rollouts both use it.

Prompts are sorted by length and left-padded into batches; each batch is prefilled once, its cache
repeated n times for n samples per prompt, then decoded token by token (through the lean decoder of
`fast_decode` for Llama/Qwen2 models, else the HF forward). Rows that emit EOS or complete a stop
string are finished at once and leave the batch (and the cache) when a quarter of it has finished.
Every sample keeps its prompt and token ids next to its text, so a trainer can score exactly what
was sampled.
"""
from __future__ import annotations

import inspect
import weakref
from dataclasses import dataclass
from typing import Optional, Sequence

FINISH_REASONS = ("eos", "stop", "length")


@dataclass
class Sample:
    """One sampled continuation.

    `token_ids` run up to and including the token that ended it: the EOS id, or the token that
    completed a stop string (the stop's tokens stay, as vLLM keeps them). `text` is those ids decoded
    without special tokens and cut before the first stop string. `n_tokens` counts the ids minus a
    final EOS. `finish` is "eos", "stop" or "length"; `truncated` means "length" (the cap was hit).
    """

    prompt_ids: list[int]
    token_ids: list[int]
    text: str
    n_tokens: int
    finish: str

    @property
    def truncated(self) -> bool:
        return self.finish == "length"


def eos_ids(model, tokenizer) -> set[int]:
    """Every id that ends a sequence: the tokenizer's EOS plus the model's generation-config ones (Llama-3 has several)."""
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


def top_p_filter(probs, top_p: float):
    """Keep the smallest set of most likely tokens whose mass reaches top_p (renormalised); 1.0 keeps all."""
    import torch

    if top_p >= 1.0:
        return probs
    sorted_p, order = probs.sort(dim=-1, descending=True)
    above = sorted_p.cumsum(dim=-1) - sorted_p  # mass strictly above each token
    sorted_p = sorted_p.masked_fill(above >= top_p, 0.0)
    out = torch.zeros_like(probs).scatter(-1, order, sorted_p)
    return out / out.sum(dim=-1, keepdim=True)


def draw(probs, generator=None):
    """One index per row with probability probs[row, index], by inverting the row's CDF at a uniform draw.

    Zero-probability entries are never drawn (the first index whose cumulative mass exceeds u * total
    wins). Ten times faster than `torch.multinomial` on small CPU batches.
    """
    import torch

    cdf = probs.double().cumsum(dim=-1)
    u = torch.rand((probs.shape[0], 1), generator=generator, device=probs.device, dtype=torch.float64)
    return (cdf <= u * cdf[:, -1:]).sum(dim=-1).clamp(max=probs.shape[-1] - 1)


def sample_next(logits, temperature: float, top_p: float, generator=None):
    """Greedy argmax at temperature 0; otherwise temperature scaling, nucleus filtering and one draw per row."""
    import torch

    if temperature <= 0:
        return logits.argmax(dim=-1)
    return draw(top_p_filter(torch.softmax(logits.float() / temperature, dim=-1), top_p), generator)


_TOKEN_TEXTS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _token_texts(tokenizer) -> list[str]:
    """Each id's own decoded text (cached per tokenizer): a cheap first test for "could this token end a stop"."""
    size = len(tokenizer)
    cached = _TOKEN_TEXTS.get(tokenizer)
    if cached is None or len(cached) != size:
        cached = tokenizer.batch_decode([[i] for i in range(size)])
        _TOKEN_TEXTS[tokenizer] = cached
    return cached


def _stop_candidates(tokenizer, stop: Sequence[str]) -> list[bool]:
    """Per id, whether it may complete a stop string: its text holds a stop's last character, or a partial byte."""
    lasts = {s[-1] for s in stop} | {"\ufffd"}
    return [any(c in text for c in lasts) for text in _token_texts(tokenizer)]


def pad_rows(rows: list[list[int]], pad_id: int, left: bool):
    """Token-id rows as one padded [N, width] tensor (left- or right-padded) and its 0/1 attention mask."""
    import torch

    width = max(max((len(r) for r in rows), default=1), 1)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        if r:
            cols = slice(width - len(r), width) if left else slice(0, len(r))
            ids[i, cols] = torch.tensor(r, dtype=torch.long)
            mask[i, cols] = 1
    return ids, mask


def left_pad_positions(mask):
    """Rotary positions of a left-padded batch: 0 at each row's first real token (pads get 0 too)."""
    return (mask.long().cumsum(-1) - 1).clamp(min=0)


def last_logits_kwargs(model) -> dict:
    """Ask for the last position's logits only when the model supports it (saves a prompt x vocab tensor)."""
    try:
        params = inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        return {}
    return {"logits_to_keep": 1} if "logits_to_keep" in params else {}


def _batch_decoder(tokenizer):
    """ids lists -> texts without special tokens: the Rust backend's batch decode when it gives the same
    text as `batch_decode` (no clean-up pass), which skips transformers' per-call Python overhead."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None and not getattr(tokenizer, "clean_up_tokenization_spaces", False):
        return lambda rows: backend.decode_batch(rows, skip_special_tokens=True)
    return lambda rows: tokenizer.batch_decode(rows, skip_special_tokens=True)


class _StopCheck:
    """Finds rows whose newest token completed a stop string, decoding only a short tail of candidate rows."""

    def __init__(self, tokenizer, stop: Sequence[str]):
        self.tokenizer, self.stop = tokenizer, list(stop)
        self.candidate = _stop_candidates(tokenizer, self.stop) if self.stop else []
        self.window = 4 * max((len(s) for s in self.stop), default=0) + 4  # tokens: a char is at most 4 bytes
        self.decode = _batch_decoder(tokenizer)

    def hits(self, rows: list[list[int]]) -> list[bool]:
        """For each token list, whether a stop string occurs in the text of its last `window` tokens."""
        if not self.stop:
            return [False] * len(rows)
        size = len(self.candidate)
        todo = [i for i, r in enumerate(rows) if r[-1] >= size or self.candidate[r[-1]]]
        out = [False] * len(rows)
        if todo:
            tails = self.decode([rows[i][-self.window:] for i in todo])
            for i, text in zip(todo, tails):
                out[i] = any(s in text for s in self.stop)
        return out


class _HFStepper:
    """The HF forward with a DynamicCache behind the prefill / step / repeat / select interface."""

    def __init__(self, model):
        self.model = model

    def prefill(self, ids, mask):
        from transformers import DynamicCache

        self.mask = mask
        positions = left_pad_positions(mask)
        self.cache = DynamicCache()  # filled in place by the forward (the `cache` argument, transformers >= 5.24)
        out = self.model(input_ids=ids, attention_mask=mask, position_ids=positions, cache=self.cache,
                         use_cache=True, **last_logits_kwargs(self.model))
        self.last_pos = positions[:, -1]
        return out.logits[:, -1, :].float()

    def step(self, tokens):
        self.mask = _append_one(self.mask)
        self.last_pos = self.last_pos + 1
        out = self.model(input_ids=tokens[:, None], attention_mask=self.mask, position_ids=self.last_pos[:, None],
                         cache=self.cache, use_cache=True)
        return out.logits[:, -1, :].float()

    def repeat(self, n: int) -> None:
        self.cache.batch_repeat_interleave(n)
        self.mask, self.last_pos = self.mask.repeat_interleave(n, dim=0), self.last_pos.repeat_interleave(n, dim=0)

    def select(self, idx) -> None:
        self.cache.batch_select_indices(idx)
        self.mask, self.last_pos = self.mask[idx], self.last_pos[idx]


def _append_one(mask):
    """The attention mask with one more attended position per row."""
    import torch

    return torch.cat([mask, mask.new_ones((mask.shape[0], 1))], dim=1)


def _stepper(model, rows: int, capacity: int, fast: bool):
    """The lean decoder where the architecture allows (and `fast`), else the HF forward."""
    from . import fast_decode

    if fast and fast_decode.supports(model):
        return fast_decode.FastDecoder(model, rows, capacity)
    return _HFStepper(model)


def _sample_batch(model, tokenizer, rows, n, max_new_tokens, temperature, top_p, stops: _StopCheck, eos, generator,
                  fast: bool = True):
    """n samples for each prompt of one batch of token-id rows; returns one list of `Sample` per row.

    Finished rows stay in the batch (fed a pad token, outputs ignored) until a quarter of it has
    finished; then the batch and its cache are compacted, which saves a cache copy per finished row.
    """
    import torch

    device = next(model.parameters()).device
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else min(eos, default=0)
    ids, mask = (t.to(device) for t in pad_rows(rows, pad_id, left=True))
    dec = _stepper(model, len(rows), ids.shape[1] + max_new_tokens, fast)
    logits = dec.prefill(ids, mask)
    if n > 1:
        dec.repeat(n)
        logits = logits.repeat_interleave(n, dim=0)
    total = len(rows) * n
    tokens: list[list[int]] = [[] for _ in range(total)]
    finish = ["length"] * total
    slots: list[int] = list(range(total))  # row r of the decoder's batch holds sequence slots[r] (-1: finished)
    for step in range(max_new_tokens):
        nxt = sample_next(logits, temperature, top_p, generator).tolist()
        rows_now = [r for r, seq in enumerate(slots) if seq >= 0]
        for r in rows_now:
            tokens[slots[r]].append(nxt[r])
        stopped = stops.hits([tokens[slots[r]] for r in rows_now])
        for r, hit in zip(rows_now, stopped):
            if nxt[r] in eos:
                finish[slots[r]], slots[r] = "eos", -1
            elif hit:
                finish[slots[r]], slots[r] = "stop", -1
        keep = [r for r, seq in enumerate(slots) if seq >= 0]
        if not keep or step == max_new_tokens - 1:
            break
        if len(keep) <= 0.75 * len(slots):
            dec.select(torch.tensor(keep, device=device))
            slots = [slots[r] for r in keep]
            nxt = [nxt[r] for r in keep]
        else:
            nxt = [t if seq >= 0 else pad_id for t, seq in zip(nxt, slots)]
        logits = dec.step(torch.tensor(nxt, device=device))
    texts = stops.decode(tokens)
    samples = []
    for seq, text in enumerate(texts):
        text, _ = cut_at_stop(text, stops.stop)
        n_tok = len(tokens[seq]) - (finish[seq] == "eos")
        samples.append(Sample(list(rows[seq // n]), tokens[seq], text, n_tok, finish[seq]))
    return [samples[i * n:(i + 1) * n] for i in range(len(rows))]


def sample(
    model,
    tokenizer,
    prompts: Sequence[str],
    n: int = 1,
    max_new_tokens: int = 256,
    temperature: float = 0.0,
    top_p: float = 1.0,
    stop: Optional[Sequence[str]] = None,
    seed: int = 0,
    generator=None,
    batch_size: Optional[int] = 32,
    progress: bool = False,
    fast: bool = True,
) -> list[list[Sample]]:
    """Sample `n` continuations of every prompt; returns one list of n `Sample` per prompt, in prompt order.

    temperature 0 is greedy. Draws come from `generator` when given (on the model's device), else
    from a fresh one seeded with `seed`; results are reproducible for a given seed, prompt list and
    batch size. `batch_size` counts prompts per forward pass (each carries n rows); None = all.
    `fast` uses the lean decoder of `octothinker.model.fast_decode` where the architecture allows
    (same logits to float rounding); False forces the HF forward.
    """
    import torch

    if n < 1 or max_new_tokens < 1 or (batch_size is not None and batch_size < 1):
        raise ValueError(f"sample: n, max_new_tokens and batch_size must be >= 1 (got {n}, {max_new_tokens}, {batch_size})")
    if temperature < 0 or not 0 < top_p <= 1:
        raise ValueError(f"sample: need temperature >= 0 and 0 < top_p <= 1 (got {temperature}, {top_p})")
    encoded = [tokenizer(p)["input_ids"] for p in prompts]
    empty = [i for i, e in enumerate(encoded) if not e]
    if empty:
        raise ValueError(f"sample: prompt {empty[0]} encodes to zero tokens")
    stops = _StopCheck(tokenizer, [s for s in (stop or []) if s])
    eos = eos_ids(model, tokenizer)
    if generator is None:
        generator = torch.Generator(device=next(model.parameters()).device)
        generator.manual_seed(seed)
    order = sorted(range(len(prompts)), key=lambda i: -len(encoded[i]))
    size = batch_size or max(len(order), 1)
    bar = None
    if progress:
        from ..progress import progress

        bar = progress(total=len(order), desc="sample", unit="prompt")
    results: list = [None] * len(prompts)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for start in range(0, len(order), size):
                chunk = order[start:start + size]
                outs = _sample_batch(model, tokenizer, [encoded[i] for i in chunk], n, max_new_tokens, temperature,
                                     top_p, stops, eos, generator, fast)
                for i, group in zip(chunk, outs):
                    results[i] = group
                if bar is not None:
                    bar.update(len(chunk))
    finally:
        model.train(was_training)
        if bar is not None:
            bar.close()
    return results
