"""Build the model a recipe asks for: a tiny `LlamaConfig` model in-process, or `from_pretrained`."""
from __future__ import annotations

from ..config import ModelConfig


def tiny_llama_config(cfg: ModelConfig, vocab_size: int, pad_id: int = 0, eos_id: int = 1):
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=cfg.hidden_size,
        intermediate_size=cfg.intermediate_size,
        num_hidden_layers=cfg.num_layers,
        num_attention_heads=cfg.num_heads,
        num_key_value_heads=cfg.num_kv_heads,
        max_position_embeddings=cfg.max_position_embeddings,
        tie_word_embeddings=cfg.tie_embeddings,
        pad_token_id=pad_id,
        bos_token_id=eos_id,
        eos_token_id=eos_id,
        rms_norm_eps=1e-5,
    )


def build_model(cfg: ModelConfig, tokenizer=None, seed: int = 0):
    """A fresh tiny Llama (init=tiny, seeded) or a pretrained model (init=pretrained, hub id or dir)."""
    import torch
    from transformers import AutoModelForCausalLM, LlamaForCausalLM

    if cfg.init == "pretrained":  # fp32 weights like a tiny model (hub checkpoints are bf16; bf16 runs under autocast)
        return AutoModelForCausalLM.from_pretrained(cfg.path, dtype=torch.float32, attn_implementation=cfg.attn_implementation)
    if tokenizer is None:
        raise ValueError("build_model: a tiny model needs the tokenizer (for vocab size and special ids)")
    config = tiny_llama_config(cfg, len(tokenizer), tokenizer.pad_token_id, tokenizer.eos_token_id)
    config._attn_implementation = cfg.attn_implementation
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    return model


def count_parameters(model, non_embedding: bool = False) -> int:
    total = sum(p.numel() for p in model.parameters())
    if non_embedding:
        total -= model.get_input_embeddings().weight.numel()
    return total
