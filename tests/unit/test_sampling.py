"""The shared KV-cache sampler: exact greedy agreement (cache-free loop, `model.generate`), stops, EOS, seeding."""
from types import SimpleNamespace

import pytest
import torch

from octothinker.config import ModelConfig
from octothinker.data.tokenizer import train_toy_tokenizer
from octothinker.model.build import build_model
from octothinker.model.sampling import cut_at_stop, draw, eos_ids, sample, sample_next, top_p_filter

PROMPTS = ["Question: what is 3 plus 4?\nAnswer:", "Hi", "Question: 7?", "Question: what is 12 plus 30 plus 5?\nAnswer:"]


@pytest.fixture(scope="module")
def tiny():
    texts = [f"Question: what is {i} plus {i + 1}?\nAnswer: \\boxed{{{2 * i + 1}}}\n\n" for i in range(60)]
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


def test_greedy_kv_cache_equals_cache_free_loop_with_left_padding(tiny):
    model, tok = tiny
    groups = sample(model, tok, PROMPTS, n=2, max_new_tokens=6, batch_size=3)
    assert [len(g) for g in groups] == [2] * len(PROMPTS)
    for prompt, group in zip(PROMPTS, groups):
        want = _greedy_no_cache(model, tok, prompt, 6)
        for s in group:
            assert s.token_ids == want and s.prompt_ids == tok(prompt)["input_ids"]
            assert s.text == tok.decode(want, skip_special_tokens=True) and s.n_tokens == 6
            assert s.truncated and s.finish == "length"


def test_batched_greedy_equals_model_generate_per_prompt(tiny):
    model, tok = tiny
    groups = sample(model, tok, PROMPTS, max_new_tokens=10, batch_size=4)
    for prompt, (s,) in zip(PROMPTS, groups):
        ids = tok(prompt, return_tensors="pt")
        ref = model.generate(**ids, max_new_tokens=10, do_sample=False, pad_token_id=tok.pad_token_id)
        new = ref[0, ids["input_ids"].shape[1]:].tolist()
        assert s.token_ids == new
        assert s.text == tok.decode(new, skip_special_tokens=True)
        assert s.n_tokens == len([t for t in new if t != tok.eos_token_id])


def test_stop_strings_cut_text_and_ids_consistently_and_free_the_row(tiny):
    model, tok = tiny
    free = sample(model, tok, PROMPTS, max_new_tokens=12, batch_size=4)
    stop = free[0][0].text[4:6]
    cut = sample(model, tok, PROMPTS, max_new_tokens=12, stop=[stop], batch_size=4)
    for (f,), (c,) in zip(free, cut):
        if stop in f.text:  # ids end at the token that completed the stop; text ends before it
            assert c.finish == "stop" and not c.truncated and c.n_tokens < 12
            assert c.token_ids == f.token_ids[: len(c.token_ids)]
            assert c.text == f.text[: f.text.find(stop)]
            assert stop in tok.decode(c.token_ids) and stop not in tok.decode(c.token_ids[:-1])
        else:  # rows that never stop decode on unchanged after the others left the batch
            assert c == f
    assert cut[0][0].finish == "stop"


class Chain(torch.nn.Module):
    """A fake LM whose next token is `table[last input token]` (per row, so rows follow their own scripts)."""

    def __init__(self, table: dict[int, int], vocab: int):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.table, self.vocab = table, vocab

    def forward(self, input_ids, past_key_values=None, **_):
        logits = torch.full((input_ids.shape[0], input_ids.shape[1], self.vocab), -1e9)
        for b, last in enumerate(input_ids[:, -1].tolist()):
            logits[b, -1, self.table.get(last, last)] = 0.0
        return SimpleNamespace(logits=logits, past_key_values=past_key_values)


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


def test_eos_ends_a_row_and_truncation_flags(tiny):
    _, tok = tiny
    a, b, c, d = (tok.convert_tokens_to_ids(t) for t in ("a", "b", "c", "d"))
    eos = tok.eos_token_id
    (ga,), (gc,) = sample(Chain({a: b, b: eos, c: d, d: c}, len(tok)), tok, ["a", "c"], max_new_tokens=9)
    assert (ga.token_ids, ga.n_tokens, ga.finish, ga.truncated, ga.text) == ([b, eos], 1, "eos", False, "b")
    assert (gc.token_ids, gc.n_tokens, gc.finish, gc.truncated) == ([d, c] * 4 + [d], 9, "length", True)


def test_stop_string_ends_a_scripted_row_and_keeps_its_tokens(tiny):
    _, tok = tiny
    script = tok(" 5\n\nQuestion: next one")["input_ids"]
    ((s,),) = sample(Scripted(script, len(tok)), tok, ["Question: 2+3?\nAnswer:"], max_new_tokens=40, stop=["\n\nQuestion:"])
    assert s.text == " 5" and s.finish == "stop" and not s.truncated
    assert tok.decode(s.token_ids).endswith("Question:")  # the stop's tokens stay in the ids (RL trains on them)
    assert s.token_ids == script[: len(s.token_ids)] and s.n_tokens == len(s.token_ids)


def test_sampling_is_seeded_returns_n_and_nucleus_tends_to_greedy(tiny):
    model, tok = tiny
    a = sample(model, tok, PROMPTS, n=3, max_new_tokens=6, temperature=1.0, top_p=0.9, seed=7)
    b = sample(model, tok, PROMPTS, n=3, max_new_tokens=6, temperature=1.0, top_p=0.9, seed=7)
    c = sample(model, tok, PROMPTS, n=3, max_new_tokens=6, temperature=1.0, top_p=0.9, seed=8)
    g = sample(model, tok, PROMPTS, n=3, max_new_tokens=6, temperature=1.0, top_p=0.9,
               generator=torch.Generator().manual_seed(7))
    assert [len(x) for x in a] == [3] * len(PROMPTS)
    assert a == b == g and a != c
    assert all(1 <= len(s.token_ids) <= 6 for grp in a for s in grp)
    assert all(s.truncated == (len(s.token_ids) == 6 and s.token_ids[-1] != tok.eos_token_id) for grp in a for s in grp)
    nucleus = sample(model, tok, PROMPTS, n=2, max_new_tokens=6, temperature=1.0, top_p=1e-9, seed=3)
    greedy = sample(model, tok, PROMPTS, max_new_tokens=6)
    assert [[s.token_ids for s in grp] for grp in nucleus] == [[grp[0].token_ids] * 2 for grp in greedy]


def test_top_p_filter_keeps_smallest_nucleus():
    probs = torch.tensor([[0.5, 0.3, 0.15, 0.05]])
    assert torch.allclose(top_p_filter(probs, 0.7), torch.tensor([[0.625, 0.375, 0.0, 0.0]]))
    assert torch.allclose(top_p_filter(probs, 0.5), torch.tensor([[1.0, 0.0, 0.0, 0.0]]))
    assert torch.equal(top_p_filter(probs, 1.0), probs)


def test_sample_next_greedy_and_nucleus():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.2]])).repeat(200, 1)
    gen = torch.Generator().manual_seed(0)
    assert set(sample_next(logits, 1.0, 0.5, gen).tolist()) == {0}
    assert set(sample_next(logits, 1.0, 0.6, gen).tolist()) == {0, 1}
    assert sample_next(logits[:1], 0.0, 1.0).tolist() == [0]


def test_draw_follows_the_distribution_and_never_picks_zero_mass():
    probs = torch.tensor([[0.0, 0.5, 0.0, 0.3, 0.2, 0.0]]).repeat(40000, 1)
    idx = draw(probs, torch.Generator().manual_seed(0))
    freq = torch.bincount(idx, minlength=6).double() / idx.numel()
    assert freq[[0, 2, 5]].tolist() == [0.0, 0.0, 0.0]
    torch.testing.assert_close(freq[[1, 3, 4]], torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64), atol=0.01, rtol=0)
    unnormalised = torch.tensor([[0.0, 2.0, 0.0]])  # any positive total: only index 1 has mass
    assert draw(unnormalised.repeat(100, 1), torch.Generator().manual_seed(1)).unique().tolist() == [1]


@pytest.mark.parametrize("text,stop,want", [
    ("a b\n\nQuestion: c", ["\n\nQuestion:", "b"], ("a ", True)),
    ("abc", ["x"], ("abc", False)),
    ("abc", [], ("abc", False)),
    ("xyz", ["", "z"], ("xy", True)),
])
def test_cut_at_stop(text, stop, want):
    assert cut_at_stop(text, stop) == want


def test_eos_ids_merge_tokenizer_and_generation_config(tiny):
    model, tok = tiny
    fake = SimpleNamespace(generation_config=SimpleNamespace(eos_token_id=[7, 9]))
    assert eos_ids(fake, tok) == {tok.eos_token_id, 7, 9}
    assert eos_ids(SimpleNamespace(), tok) == {tok.eos_token_id}


def test_bad_input_is_rejected(tiny):
    model, tok = tiny
    with pytest.raises(ValueError, match="prompt 1 encodes to zero tokens"):
        sample(model, tok, ["Hi", ""], max_new_tokens=2)
    with pytest.raises(ValueError, match="top_p"):
        sample(model, tok, ["Hi"], top_p=0.0)
    with pytest.raises(ValueError, match="max_new_tokens"):
        sample(model, tok, ["Hi"], max_new_tokens=0)
