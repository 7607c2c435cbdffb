"""Rollouts: batched sampling from the current policy.

`sample` is a KV-cache loop over an HF causal LM (CPU or GPU): each prompt is prefilled once and
its cache repeated for the group, finished rows leave the batch, and stop strings are checked only
on rows whose new token could complete one. It returns token ids, so the trainer scores exactly
what was sampled (no re-tokenisation). `VLLMBackend` does the same on a GPU through vLLM.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Rollouts:
    """n rollouts per prompt, laid out group by group."""

    prompt_ids: list[list[int]]
    response_ids: list[list[int]]
    texts: list[str]  # decoded response, cut before any stop string, special tokens removed
    truncated: list[bool]  # hit the length cap without EOS or a stop string


def max_tokens_at(step: int, default: int, schedule: dict[int, int] | None) -> int:
    """Max response length at `step`: the value of the last schedule entry at or before it, else default."""
    value = default
    for start in sorted(schedule or {}):
        if step >= int(start):
            value = int(schedule[start])
    return value


def _top_p_filter(probs: torch.Tensor, top_p: float) -> torch.Tensor:
    """Zero the tail of each row outside the smallest set whose mass reaches top_p (renormalised)."""
    if top_p >= 1.0:
        return probs
    sorted_p, idx = probs.sort(dim=-1, descending=True)
    cum = sorted_p.cumsum(dim=-1)
    drop = (cum - sorted_p) >= top_p
    sorted_p = sorted_p.masked_fill(drop, 0.0)
    out = torch.zeros_like(probs).scatter(-1, idx, sorted_p)
    return out / out.sum(dim=-1, keepdim=True)


def _token_texts(tokenizer) -> list[str]:
    cache = getattr(tokenizer, "_octo_token_texts", None)
    if cache is None:
        cache = [tokenizer.decode([i]) for i in range(len(tokenizer))]
        tokenizer._octo_token_texts = cache
    return cache


def _eos_ids(model, tokenizer) -> set[int]:
    """The tokenizer's EOS plus any the model's generation config lists (Llama-3 has several)."""
    ids = set()
    for src in (tokenizer.eos_token_id, getattr(getattr(model, "generation_config", None), "eos_token_id", None)):
        if src is not None:
            ids.update([src] if isinstance(src, int) else src)
    return ids


def _cut_at_stop(text: str, stop: list[str]) -> tuple[str, bool]:
    cut = min((text.find(s) for s in stop if s in text), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


@torch.no_grad()
def sample(
    model,
    tokenizer,
    prompts: list[str],
    n: int,
    max_new_tokens: int,
    temperature: float = 1.0,
    top_p: float = 1.0,
    stop: list[str] | None = None,
    generator: torch.Generator | None = None,
) -> Rollouts:
    """Sample `n` responses per prompt with a KV cache; temperature 0 means greedy."""
    from transformers import DynamicCache

    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    stop = [s for s in (stop or []) if s]
    eos = _eos_ids(model, tokenizer)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    enc = [tokenizer(p)["input_ids"] for p in prompts]
    if any(len(e) == 0 for e in enc):
        raise ValueError("sample: a prompt encodes to zero tokens")
    width = max(len(e) for e in enc)
    ids = torch.full((len(enc), width), pad, dtype=torch.long)
    attn = torch.zeros((len(enc), width), dtype=torch.long)
    for i, e in enumerate(enc):
        ids[i, width - len(e):] = torch.tensor(e)
        attn[i, width - len(e):] = 1
    ids, attn = ids.to(device), attn.to(device)
    pos = (attn.cumsum(-1) - 1).clamp(min=0)
    cache = DynamicCache()
    out = model(input_ids=ids, attention_mask=attn, position_ids=pos, past_key_values=cache, use_cache=True)
    logits = out.logits[:, -1].float().repeat_interleave(n, dim=0)
    cache = out.past_key_values
    if n > 1:
        cache.batch_repeat_interleave(n)
    attn = attn.repeat_interleave(n, dim=0)
    next_pos = pos[:, -1:].repeat_interleave(n, dim=0) + 1

    total = len(enc) * n
    responses: list[list[int]] = [[] for _ in range(total)]
    finished = [False] * total
    active = torch.arange(total, device=device)  # original row of each batch row
    stop_last = {s[-1] for s in stop}
    texts_of = _token_texts(tokenizer) if stop else None
    window = max((len(s) for s in stop), default=0) + 2
    for t in range(max_new_tokens):
        if temperature > 0:
            probs = _top_p_filter(torch.softmax(logits / temperature, dim=-1), top_p)
            nxt = torch.multinomial(probs, 1, generator=generator).squeeze(1)
        else:
            nxt = logits.argmax(dim=-1)
        keep = []
        nxt_list = nxt.tolist()
        for b, row in enumerate(active.tolist()):
            tok = nxt_list[b]
            responses[row].append(tok)
            done = tok in eos
            if not done and stop and any(c in texts_of[tok] for c in stop_last):
                tail = tokenizer.decode(responses[row][-window:])
                done = any(s in tail for s in stop)
            if done:
                finished[row] = True
            else:
                keep.append(b)
        if not keep or t == max_new_tokens - 1:
            break
        attn = torch.cat([attn, torch.ones((attn.shape[0], 1), dtype=attn.dtype, device=device)], dim=1)
        step_ids = nxt.unsqueeze(1)
        if len(keep) < active.numel():
            sel = torch.tensor(keep, device=device)
            cache.batch_select_indices(sel)
            active, attn, next_pos, step_ids = active[sel], attn[sel], next_pos[sel], step_ids[sel]
        out = model(input_ids=step_ids, attention_mask=attn, position_ids=next_pos, past_key_values=cache, use_cache=True)
        cache = out.past_key_values
        logits = out.logits[:, -1].float()
        next_pos = next_pos + 1
    if was_training:
        model.train()

    texts, truncated = [], []
    for row in range(total):
        text = tokenizer.decode(responses[row], skip_special_tokens=True)
        text, stopped = _cut_at_stop(text, stop) if stop else (text, False)
        texts.append(text)
        truncated.append(not finished[row] and not stopped)
    prompt_ids = [enc[row // n] for row in range(total)]
    return Rollouts(prompt_ids, responses, texts, truncated)


def vllm_sampling_kwargs(
    n: int, max_tokens: int, temperature: float, top_p: float, stop: list[str] | None, seed: int | None
) -> dict:
    """Keyword arguments for `vllm.SamplingParams` that match `sample`'s settings (pure, testable without vLLM)."""
    kwargs = {
        "n": n,
        "max_tokens": max_tokens,
        "temperature": temperature,
        "top_p": top_p,
        "stop": list(stop or []),
        "include_stop_str_in_output": False,
        "skip_special_tokens": True,
        "detokenize": True,
    }
    if seed is not None:
        kwargs["seed"] = seed
    if temperature == 0:
        kwargs["top_p"] = 1.0
    return kwargs


class VLLMBackend:
    """Sampling through vLLM on a GPU; the policy's weights are pushed into the engine after each update."""

    def __init__(self, model_dir: str, gpu_memory_utilization: float = 0.4, dtype: str = "bfloat16"):
        try:
            from vllm import LLM
        except ImportError as exc:
            raise RuntimeError("rl.backend=vllm needs the `vllm` package and a CUDA GPU") from exc
        self.llm = LLM(model=model_dir, gpu_memory_utilization=gpu_memory_utilization, dtype=dtype, enable_prefix_caching=True)

    def sync_weights(self, model) -> None:
        """Load the policy's current parameters into the engine's model (in place, no reload)."""
        state = [(k, v.detach()) for k, v in model.state_dict().items()]
        engine = self.llm.llm_engine
        executor = getattr(engine, "model_executor", None)
        if executor is not None and hasattr(executor, "driver_worker"):
            executor.driver_worker.model_runner.model.load_weights(state)
        else:
            self.llm.collective_rpc(lambda worker: worker.model_runner.model.load_weights(state))
        if hasattr(self.llm, "reset_prefix_cache"):
            self.llm.reset_prefix_cache()

    def sample(self, tokenizer, prompts, n, max_new_tokens, temperature, top_p, stop, seed) -> Rollouts:
        from vllm import SamplingParams

        params = SamplingParams(**vllm_sampling_kwargs(n, max_new_tokens, temperature, top_p, stop, seed))
        outs = self.llm.generate(prompts, params, use_tqdm=False)
        prompt_ids, response_ids, texts, truncated = [], [], [], []
        for out in outs:
            for comp in out.outputs:
                prompt_ids.append(list(out.prompt_token_ids))
                response_ids.append(list(comp.token_ids))
                texts.append(comp.text)
                truncated.append(comp.finish_reason == "length")
        return Rollouts(prompt_ids, response_ids, texts, truncated)
