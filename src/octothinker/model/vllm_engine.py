"""The project's one vLLM glue: our sampling settings -> `SamplingParams`, and an engine wrapper.

Evaluation (`eval.backends.VLLMBackend`) and RL (`rl.rollout.VLLMBackend`) are thin adapters over
`VLLMEngine`, so both sample with the same settings mapping. vLLM is imported only when an engine
is built, so this module imports (and `vllm_sampling_kwargs` is tested) without vLLM or a GPU.
"""
from __future__ import annotations

from typing import Sequence

MISSING_VLLM = "the vLLM backend needs the `vllm` package and a CUDA GPU (pip install vllm); use the hf backend instead"


class VLLMUnavailable(RuntimeError, ValueError):
    """vLLM cannot run on this machine (package missing, or no CUDA GPU). A setting to change, not a crash:
    a ValueError, so the CLI shows it as one line (exit 2); a RuntimeError, as it was before."""


def vllm_missing() -> str | None:
    """Why the vLLM backend cannot run here (no `vllm` package, no CUDA GPU), or None when it can."""
    import importlib.util

    if importlib.util.find_spec("vllm") is None:
        return "the `vllm` package is not installed"
    try:
        import torch
    except ImportError:
        return "torch is not installed"
    if not torch.cuda.is_available():
        return "no CUDA GPU is visible"
    return None


def require_vllm(where: str = "backend vllm") -> None:
    """Raise `VLLMUnavailable` (one line, naming `where`, e.g. "rl.backend") unless vLLM can run here: call it
    before loading any model or data, so a machine without vLLM or a GPU fails at once."""
    why = vllm_missing()
    if why is not None:
        raise VLLMUnavailable(f"{where}: {MISSING_VLLM} ({why})")


def vllm_sampling_kwargs(
    n: int,
    max_tokens: int,
    temperature: float,
    top_p: float,
    stop: Sequence[str] | None = None,
    seed: int | None = None,
) -> dict:
    """Keyword arguments for `vllm.SamplingParams` (pure, so it is tested without vLLM).

    Greedy (temperature <= 0) is temperature 0.0 with top_p 1.0; `stop` is always a list (empty when
    none) and the stop string is left out of the text; special tokens are skipped when decoding;
    `seed` is set only when given.
    """
    greedy = temperature <= 0
    kwargs = {
        "n": int(n),
        "max_tokens": int(max_tokens),
        "temperature": 0.0 if greedy else float(temperature),
        "top_p": 1.0 if greedy else float(top_p),
        "stop": list(stop or []),
        "include_stop_str_in_output": False,
        "skip_special_tokens": True,
    }
    if seed is not None:
        kwargs["seed"] = int(seed)
    return kwargs


class VLLMEngine:
    """A `vllm.LLM` over an HF model directory: generate with our settings, and take new weights in place."""

    def __init__(
        self,
        model_dir: str,
        seed: int = 0,
        gpu_memory_utilization: float = 0.4,
        dtype: str = "bfloat16",
        prefix_caching: bool = True,
    ):
        try:
            from vllm import LLM
        except ImportError as exc:
            raise VLLMUnavailable(f"{MISSING_VLLM} (loading {model_dir})") from exc
        self.model_dir = str(model_dir)
        self.llm = LLM(model=self.model_dir, seed=seed, gpu_memory_utilization=gpu_memory_utilization, dtype=dtype,
                       enable_prefix_caching=prefix_caching)

    def generate(
        self,
        prompts: Sequence[str],
        *,
        max_tokens: int,
        n: int = 1,
        temperature: float = 0.0,
        top_p: float = 1.0,
        stop: Sequence[str] | None = None,
        seed: int | None = None,
    ) -> list:
        """One vLLM `RequestOutput` per prompt (in prompt order), sampled with `vllm_sampling_kwargs`."""
        from vllm import SamplingParams

        params = SamplingParams(**vllm_sampling_kwargs(n, max_tokens, temperature, top_p, stop, seed))
        return self.llm.generate(list(prompts), params, use_tqdm=False)

    def sync_weights(self, model) -> None:
        """Load an HF module's current parameters into the engine's model in place (no reload), then drop
        the prefix cache, whose KV entries were computed with the old weights."""
        state = [(name, tensor.detach()) for name, tensor in model.state_dict().items()]
        executor = getattr(self.llm.llm_engine, "model_executor", None)
        if executor is not None and hasattr(executor, "driver_worker"):
            executor.driver_worker.model_runner.model.load_weights(state)
        else:
            self.llm.collective_rpc(lambda worker: worker.model_runner.model.load_weights(state))
        if hasattr(self.llm, "reset_prefix_cache"):
            self.llm.reset_prefix_cache()
