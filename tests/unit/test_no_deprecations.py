"""Our calls into transformers use its current API: a decode (HF and lean paths) and an RL scoring pass
raise no deprecation warning, so a future deprecation fails CI instead of breaking a later release.

The transformers deprecation of a keyword is reported from torch's module-call frame, not from our
module, so a filter on module `octothinker` alone would not see it: every DeprecationWarning /
FutureWarning raised during our calls is an error here, and so is any warning attributed to our own
modules and any "deprecated" message transformers logs instead of warning.
"""
import logging
import warnings

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from octothinker.config import ModelConfig
from octothinker.data.tokenizer import train_toy_tokenizer
from octothinker.model.build import build_model
from octothinker.model.sampling import sample
from octothinker.rl.policy_batch import build_batch, token_logps


@pytest.fixture(scope="module")
def tiny():
    tok = train_toy_tokenizer([f"a b c {i} d {i + 1}\n" for i in range(40)], 280)
    model = build_model(ModelConfig(hidden_size=32, intermediate_size=64, num_layers=2, num_heads=2, num_kv_heads=2), tok, seed=1)
    return model, tok


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@pytest.fixture
def strict():
    """Deprecations (any module) and any warning from octothinker are errors; transformers' logged ones are collected."""
    handler = _Collect()
    log = logging.getLogger("transformers")
    log.addHandler(handler)
    once = getattr(logging.Logger, "warning_once", None)
    if once is not None and hasattr(once, "cache_clear"):
        once.cache_clear()  # a once-only message logged by an earlier test must show again
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        warnings.simplefilter("error", FutureWarning)
        warnings.filterwarnings("error", module=r"octothinker(\.|$)")
        yield
    log.removeHandler(handler)
    deprecated = [m for m in handler.messages if "deprecat" in m.lower()]
    assert not deprecated, deprecated


def test_decode_both_paths_without_deprecations(tiny, strict):
    model, tok = tiny
    for fast in (False, True):
        out = sample(model, tok, ["a b", "c"], n=2, max_new_tokens=4, temperature=1.0, seed=0, fast=fast)
        assert len(out) == 2 and all(len(g) == 2 for g in out)


def test_policy_batch_scoring_without_deprecations(strict):
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=40, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                                         num_attention_heads=4, num_key_value_heads=2, pad_token_id=0, eos_token_id=1))
    batch = build_batch([[5, 6, 7], [5, 6, 7], [8]], [[9, 10, 1], [11], [12, 13]], pad=0)
    logp, ent, mask = token_logps(model, batch, torch.arange(3), True, entropy_grad=True)
    logp.sum().backward()
    assert logp.shape == (3, 3) and ent.shape == (3, 3) and mask.sum() == 6
