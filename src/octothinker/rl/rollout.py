"""Rollouts: n samples per prompt from the current policy, with the token ids that were sampled.

`sample` lays the shared KV-cache sampler's output (`octothinker.model.sampling`) out group by
group, so the trainer scores exactly the sampled ids (no re-tokenisation). `VLLMBackend` does the
same on a GPU, as a thin adapter over the shared `octothinker.model.vllm_engine.VLLMEngine`.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..model import sampling


@dataclass
class Rollouts:
    """n rollouts per prompt, laid out group by group."""

    prompt_ids: list[list[int]]
    response_ids: list[list[int]]  # sampled ids, ending with EOS or the stop string's tokens when either ended it
    texts: list[str]  # decoded response, cut before any stop string, special tokens removed
    truncated: list[bool]  # hit the length cap without EOS or a stop string


def max_tokens_at(step: int, default: int, schedule: dict[int, int] | None) -> int:
    """Max response length at `step`: the value of the last schedule entry at or before it, else default."""
    value = default
    for start in sorted(schedule or {}):
        if step >= int(start):
            value = int(schedule[start])
    return value


def sample(
    model,
    tokenizer,
    prompts: list[str],
    n: int,
    max_new_tokens: int,
    temperature: float = 1.0,
    top_p: float = 1.0,
    stop: list[str] | None = None,
    generator=None,
    batch_size: int | None = None,
) -> Rollouts:
    """Sample `n` responses per prompt (temperature 0 = greedy); draws come from `generator` (seed 0 if None).

    `batch_size` (prompts per forward pass) defaults to all prompts in one batch.
    """
    groups = sampling.sample(model, tokenizer, prompts, n=n, max_new_tokens=max_new_tokens, temperature=temperature,
                             top_p=top_p, stop=stop, generator=generator, batch_size=batch_size)
    flat = [s for group in groups for s in group]
    return Rollouts([s.prompt_ids for s in flat], [s.token_ids for s in flat], [s.text for s in flat],
                    [s.truncated for s in flat])


class VLLMBackend:
    """Sampling through vLLM on a GPU (`VLLMEngine` outputs as `Rollouts`); the policy's weights are pushed
    into the engine after each update. The engine shares the GPU with training, hence its memory cap."""

    def __init__(self, model_dir: str, gpu_memory_utilization: float = 0.4, dtype: str = "bfloat16"):
        from ..model.vllm_engine import VLLMEngine

        self.engine = VLLMEngine(model_dir, gpu_memory_utilization=gpu_memory_utilization, dtype=dtype,
                                 prefix_caching=True)

    def sync_weights(self, model) -> None:
        """Load the policy's current parameters into the engine's model (in place, no reload)."""
        self.engine.sync_weights(model)

    def sample(self, tokenizer, prompts, n, max_new_tokens, temperature, top_p, stop, seed) -> Rollouts:
        """`n` rollouts per prompt, group by group; `tokenizer` is unused (vLLM returns ids and text)."""
        outs = self.engine.generate(prompts, n=n, max_tokens=max_new_tokens, temperature=temperature, top_p=top_p,
                                    stop=stop, seed=seed)
        prompt_ids, response_ids, texts, truncated = [], [], [], []
        for out in outs:
            for comp in out.outputs:
                prompt_ids.append(list(out.prompt_token_ids))
                response_ids.append(list(comp.token_ids))
                texts.append(comp.text)
                truncated.append(comp.finish_reason == "length")
        return Rollouts(prompt_ids, response_ids, texts, truncated)
