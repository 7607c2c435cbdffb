"""The KV-cache sampler: exact greedy agreement with a cache-free loop, seeding, stop strings, truncation."""
from types import SimpleNamespace

import pytest
import torch

from octothinker.config import ModelConfig
from octothinker.data.tokenizer import train_toy_tokenizer
from octothinker.model.build import build_model
from octothinker.rl.rollout import _top_p_filter, sample


@pytest.fixture(scope="module")
def tiny():
    texts = [f"Question: what is {i} plus {i + 1}?\nAnswer: \\boxed{{{2 * i + 1}}}" for i in range(60)]
    tok = train_toy_tokenizer(texts, 280)
    model = build_model(ModelConfig(hidden_size=32, intermediate_size=64, num_layers=2, num_heads=2, num_kv_heads=2), tok, seed=1)
    return model, tok


def _greedy_no_cache(model, tok, prompt, steps):
    ids = tok(prompt)["input_ids"]
    out = []
    with torch.no_grad():
        for _ in range(steps):
            nxt = int(model(input_ids=torch.tensor([ids + out])).logits[0, -1].argmax())
            out.append(nxt)
            if nxt == tok.eos_token_id:
                break
    return out


def test_greedy_matches_cache_free_loop_with_left_padding(tiny):
    model, tok = tiny
    prompts = ["Question: what is 3 plus 4?\nAnswer:", "Hi", "Question: 7?"]
    ro = sample(model, tok, prompts, n=2, max_new_tokens=6, temperature=0.0)
    assert len(ro.response_ids) == 6
    for i, p in enumerate(prompts):
        want = _greedy_no_cache(model, tok, p, 6)
        assert ro.response_ids[2 * i] == want and ro.response_ids[2 * i + 1] == want
        assert ro.prompt_ids[2 * i] == tok(p)["input_ids"]


def test_sampling_is_seeded_and_bounded(tiny):
    model, tok = tiny
    a = sample(model, tok, ["Question: 1", "Q"], 4, 5, 1.0, 0.9, None, torch.Generator().manual_seed(3))
    b = sample(model, tok, ["Question: 1", "Q"], 4, 5, 1.0, 0.9, None, torch.Generator().manual_seed(3))
    assert a.response_ids == b.response_ids
    assert all(1 <= len(r) <= 5 for r in a.response_ids)
    assert all(t == (len(r) == 5 and r[-1] != tok.eos_token_id) for t, r in zip(a.truncated, a.response_ids))


def test_top_p_filter_keeps_smallest_nucleus():
    probs = torch.tensor([[0.5, 0.3, 0.15, 0.05]])
    out = _top_p_filter(probs, 0.7)
    assert torch.allclose(out, torch.tensor([[0.625, 0.375, 0.0, 0.0]]))
    assert torch.equal(_top_p_filter(probs, 1.0), probs)


class Scripted(torch.nn.Module):
    """A fake LM that emits a fixed token script whatever the input (to test stop handling)."""

    def __init__(self, script, vocab):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.script, self.vocab, self.calls = script, vocab, 0

    def forward(self, input_ids, past_key_values=None, **_):
        logits = torch.full((input_ids.shape[0], input_ids.shape[1], self.vocab), -1e9)
        logits[:, -1, self.script[min(self.calls, len(self.script) - 1)]] = 0.0
        self.calls += 1
        return SimpleNamespace(logits=logits, past_key_values=past_key_values)


def test_stop_string_ends_and_is_cut(tiny):
    _, tok = tiny
    script = tok(" 5\n\nQuestion: next one")["input_ids"]
    ro = sample(Scripted(script, len(tok)), tok, ["Question: 2+3?\nAnswer:"], 1, 40, 0.0, stop=["\n\nQuestion:"])
    assert ro.texts == [" 5"] and ro.truncated == [False]
    assert tok.decode(ro.response_ids[0]).endswith("Question:")  # the stop's tokens stay in the trained ids
