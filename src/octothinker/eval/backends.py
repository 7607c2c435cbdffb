"""Generation backends for evaluation: HF (`eval.generation.generate`, CPU or GPU) and vLLM (GPU).

Both take the same `Sampling` settings and prompts and return one list of `Completion` per
prompt. The vLLM backend is a thin adapter over `octothinker.model.vllm_engine.VLLMEngine` (shared
with RL, which also owns the settings mapping); vLLM is imported only when that backend is built.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional, Sequence

from .generation import Completion, cut_at_stop


@dataclass(frozen=True)
class Sampling:
    """Decoding settings shared by every backend (temperature 0 = greedy)."""

    max_new_tokens: int = 1024
    temperature: float = 0.0
    top_p: float = 1.0
    n: int = 1
    seed: int = 0
    stop: tuple = field(default_factory=tuple)

    def key(self) -> str:
        """Short stable hash of the settings (part of the generation cache key)."""
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:12]


def cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def vllm_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("vllm") is not None


def choose_backend(name: str) -> str:
    """Resolve "auto" to vllm when it is installed and a GPU is present, else hf; check explicit choices.

    An explicit vllm on a machine without the package or a GPU raises `VLLMUnavailable` (a ValueError, so the
    CLI prints one line); it is cheap, so callers check it before loading any model or benchmark.
    """
    if name == "auto":
        return "vllm" if vllm_installed() and cuda_available() else "hf"
    if name == "vllm" and not (vllm_installed() and cuda_available()):
        from ..model.vllm_engine import VLLMUnavailable

        why = "the vllm package is not installed" if not vllm_installed() else "no CUDA GPU is visible"
        raise VLLMUnavailable(f"backend vllm needs the vllm package and a CUDA GPU ({why}); use --backend hf "
                              "(recipe: eval.backend=hf)")
    if name not in ("hf", "vllm"):
        raise ValueError(f"backend: unknown {name!r}; choose hf, vllm or auto")
    return name


def resolve_device(device: str = "auto") -> str:
    if device == "auto":
        return "cuda" if cuda_available() else "cpu"
    return device


class HFBackend:
    """An HF model directory (AutoModelForCausalLM + AutoTokenizer) sampled with our KV-cache loop."""

    name = "hf"

    def __init__(self, model_dir: str | Path, device: str = "auto", batch_size: int = 32, dtype: Optional[str] = None):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.device = resolve_device(device)
        # bf16 on a GPU; fp32 on CPU, where bf16 matmuls are slow (explicit: transformers 5 would load a hub dir's bf16)
        torch_dtype = getattr(torch, dtype) if dtype else (torch.bfloat16 if self.device.startswith("cuda") else torch.float32)
        self.tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch_dtype).to(self.device)
        self.model.eval()
        self.batch_size = batch_size

    def generate(self, prompts: Sequence[str], s: Sampling) -> list[list[Completion]]:
        from .generation import generate

        return generate(self.model, self.tokenizer, prompts, max_new_tokens=s.max_new_tokens, temperature=s.temperature,
                        top_p=s.top_p, n=s.n, stop=list(s.stop), seed=s.seed, batch_size=self.batch_size)


class VLLMBackend:
    """vLLM over the same model directory (GPU only): `VLLMEngine` outputs as `Completion`s.

    Evaluation has the GPU to itself, so the engine may take most of its memory (vLLM's own default).
    """

    name = "vllm"

    def __init__(self, model_dir: str | Path, seed: int = 0, gpu_memory_utilization: float = 0.9):
        from ..model.vllm_engine import VLLMEngine

        self.engine = VLLMEngine(str(model_dir), seed=seed, gpu_memory_utilization=gpu_memory_utilization)

    def generate(self, prompts: Sequence[str], s: Sampling) -> list[list[Completion]]:
        outs = self.engine.generate(prompts, n=s.n, max_tokens=s.max_new_tokens, temperature=s.temperature,
                                    top_p=s.top_p, stop=list(s.stop), seed=s.seed)
        result = []
        for out in outs:
            comps = []
            for o in out.outputs:
                text, _ = cut_at_stop(o.text, s.stop)
                comps.append(Completion(text=text, n_tokens=len(o.token_ids), truncated=o.finish_reason == "length"))
            result.append(comps)
        return result


def make_backend(name: str, model_dir: str | Path, device: str = "auto", batch_size: int = 32, seed: int = 0):
    """Build the chosen backend ("auto" picks vllm on a GPU when installed, else hf)."""
    chosen = choose_backend(name)
    if chosen == "vllm":
        return VLLMBackend(model_dir, seed=seed)
    return HFBackend(model_dir, device=device, batch_size=batch_size)
