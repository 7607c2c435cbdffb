"""Rollouts: n samples per prompt from the current policy, with the token ids that were sampled.

`sample` lays the shared KV-cache sampler's output (`octothinker.model.sampling`) out group by
group, so the trainer scores exactly the sampled ids (no re-tokenisation). `VLLMBackend` does the
same on a GPU through vLLM.
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
