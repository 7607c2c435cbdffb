"""The HF generation backend of evaluation: a thin text-only view of `octothinker.model.sampling`.

`generate` keeps eval's stable signature and returns `Completion(text, n_tokens, truncated)` per
sample; the sampling itself (left padding, KV cache, n samples, stop strings, early exit of
finished rows) lives in the shared sampler, which RL rollouts use as well.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

from ..model.sampling import cut_at_stop, eos_ids, sample, sample_next

__all__ = ["Completion", "generate", "cut_at_stop", "eos_ids", "sample_next"]


@dataclass
class Completion:
    """One sampled continuation: text (cut before any stop string), generated token count
    (EOS excluded), and whether it ran to `max_new_tokens` without EOS or a stop string."""

    text: str
    n_tokens: int
    truncated: bool


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
) -> list[list[Completion]]:
    """Sample `n` completions for every prompt; returns one list of `Completion` per prompt, in order.

    temperature 0 is greedy. `batch_size` counts prompts per forward pass (each carries n rows).
    Sampling is reproducible for a given seed, prompt list and batch size.
    """
    groups = sample(model, tokenizer, prompts, n=n, max_new_tokens=max_new_tokens, temperature=temperature,
                    top_p=top_p, stop=stop, seed=seed, batch_size=batch_size, progress=progress)
    return [[Completion(s.text, s.n_tokens, s.truncated) for s in group] for group in groups]
