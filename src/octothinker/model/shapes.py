"""Model configs without weights: a local dir's config, a built-in table of Llama-3.2 shapes, or a tiny Llama.

Used by `--dry-run` to build a model on the meta device where the hub is unreachable.
"""
from __future__ import annotations

from pathlib import Path

from ..config import ModelConfig
from .build import tiny_llama_config

_LLAMA32_COMMON = dict(
    vocab_size=128256, num_key_value_heads=8, max_position_embeddings=131072, rope_theta=500000.0,
    rms_norm_eps=1e-5, tie_word_embeddings=True, bos_token_id=128000, eos_token_id=128001,
    rope_scaling={"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                  "original_max_position_embeddings": 8192, "rope_type": "llama3"},
)
KNOWN_SHAPES = {
    "meta-llama/Llama-3.2-1B": dict(hidden_size=2048, intermediate_size=8192, num_hidden_layers=16, num_attention_heads=32, head_dim=64, **_LLAMA32_COMMON),
    "meta-llama/Llama-3.2-3B": dict(hidden_size=3072, intermediate_size=8192, num_hidden_layers=28, num_attention_heads=24, head_dim=128, **_LLAMA32_COMMON),
}


def hf_config(cfg: ModelConfig, vocab_size: int | None = None, pad_id: int = 0, eos_id: int = 1):
    """The transformers config a recipe's model section describes, without touching weights."""
    from transformers import AutoConfig, LlamaConfig

    if cfg.init == "tiny":
        if vocab_size is None:
            raise ValueError("model: a tiny model's vocab size comes from the tokenizer; none given")
        return tiny_llama_config(cfg, vocab_size, pad_id, eos_id)
    path = str(cfg.path)
    if Path(path).is_dir():
        return AutoConfig.from_pretrained(path)
    for name, shape in KNOWN_SHAPES.items():
        if path == name or path.startswith(name + "-"):  # e.g. -Instruct shares the shape
            return LlamaConfig(**shape)
    try:
        return AutoConfig.from_pretrained(path)
    except OSError as exc:
        raise ValueError(
            f"model.path: {path!r} is not a local directory, not in the built-in shape table "
            f"({', '.join(KNOWN_SHAPES)}) and the hub could not be reached: {exc}"
        ) from None


def meta_model(config):
    """Instantiate the architecture on the meta device (no memory, no weights)."""
    import torch
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(config)
