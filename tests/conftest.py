"""Fixtures shared by the unit and stage tests."""
import pytest


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A tiny random Llama with a toy tokenizer saved as an HF model directory (for eval and generation tests;
    tests read it, none writes into it)."""
    from octothinker.config import ModelConfig
    from octothinker.data.tokenizer import train_toy_tokenizer
    from octothinker.model.build import build_model

    d = tmp_path_factory.mktemp("tiny")
    tok = train_toy_tokenizer(["Question: what is 3 + 4?\nAnswer: 7. The answer is \\boxed{7}.\n\n"] * 10, vocab_size=300)
    cfg = ModelConfig(hidden_size=32, intermediate_size=64, num_layers=2, num_heads=2, num_kv_heads=2,
                      max_position_embeddings=4096)
    build_model(cfg, tok).save_pretrained(d)
    tok.save_pretrained(d)
    return d
