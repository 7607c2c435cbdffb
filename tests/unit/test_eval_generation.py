"""HF generation backend: batched greedy equals `model.generate`, stops, sampling, vLLM mapping."""
import pytest
import torch

from octothinker.config import ModelConfig
from octothinker.data.tokenizer import train_toy_tokenizer
from octothinker.eval.backends import Sampling, choose_backend, vllm_installed, vllm_sampling_kwargs
from octothinker.eval.generation import cut_at_stop, generate, sample_next
from octothinker.model.build import build_model

PROMPTS = ["Question: 1 + 2?\nAnswer:", "Question: what is 3 + 4 + 5 times 2?\nAnswer:", "Hi"]


@pytest.fixture(scope="module")
def tiny():
    tok = train_toy_tokenizer(["Question: what is 3 + 4?\nAnswer: 7. The answer is 7.\n\n"] * 10, vocab_size=300)
    model = build_model(ModelConfig(hidden_size=32, intermediate_size=64, num_layers=2, num_heads=2, num_kv_heads=2), tok)
    return model, tok


def test_batched_greedy_matches_model_generate(tiny):
    model, tok = tiny
    outs = generate(model, tok, PROMPTS, max_new_tokens=10, batch_size=3)
    for prompt, comps in zip(PROMPTS, outs):
        ids = tok(prompt, return_tensors="pt")
        ref = model.generate(**ids, max_new_tokens=10, do_sample=False, pad_token_id=tok.pad_token_id)
        new = ref[0, ids["input_ids"].shape[1]:]
        assert comps[0].text == tok.decode(new, skip_special_tokens=True)
        assert comps[0].n_tokens == len([t for t in new.tolist() if t != tok.eos_token_id])


def test_stop_string_cuts_and_ends(tiny):
    model, tok = tiny
    free = generate(model, tok, PROMPTS[:1], max_new_tokens=12)[0][0]
    assert free.truncated and free.n_tokens == 12
    stop = free.text[4:6]
    cut = generate(model, tok, PROMPTS[:1], max_new_tokens=12, stop=[stop])[0][0]
    assert cut.text == free.text[: free.text.find(stop)]
    assert not cut.truncated and cut.n_tokens < 12


def test_sampling_is_seeded_and_returns_n(tiny):
    model, tok = tiny
    a = generate(model, tok, PROMPTS, max_new_tokens=6, temperature=1.0, n=3, seed=7)
    b = generate(model, tok, PROMPTS, max_new_tokens=6, temperature=1.0, n=3, seed=7)
    c = generate(model, tok, PROMPTS, max_new_tokens=6, temperature=1.0, n=3, seed=8)
    assert [len(x) for x in a] == [3, 3, 3]
    assert a == b and a != c
    nucleus = generate(model, tok, PROMPTS, max_new_tokens=6, temperature=1.0, top_p=1e-9, n=2, seed=3)
    greedy = generate(model, tok, PROMPTS, max_new_tokens=6)
    assert [[x.text for x in p] for p in nucleus] == [[g[0].text] * 2 for g in greedy]


def test_sample_next_top_p_keeps_the_nucleus():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.2]])).repeat(200, 1)
    gen = torch.Generator().manual_seed(0)
    assert set(sample_next(logits, 1.0, 0.5, gen).tolist()) == {0}
    assert set(sample_next(logits, 1.0, 0.6, gen).tolist()) == {0, 1}
    assert sample_next(logits[:1], 0.0, 1.0).tolist() == [0]


def test_cut_at_stop():
    assert cut_at_stop("a b\n\nQuestion: c", ["\n\nQuestion:", "b"]) == ("a ", True)
    assert cut_at_stop("abc", ["x"]) == ("abc", False)


def test_vllm_sampling_mapping():
    greedy = vllm_sampling_kwargs(Sampling(max_new_tokens=1024, temperature=0.0, top_p=0.9, n=1, seed=3, stop=("\n\nQ:",)))
    assert greedy == {"n": 1, "temperature": 0.0, "top_p": 1.0, "max_tokens": 1024, "stop": ["\n\nQ:"], "seed": 3,
                      "skip_special_tokens": True}
    sampled = vllm_sampling_kwargs(Sampling(max_new_tokens=64, temperature=0.6, top_p=0.95, n=16))
    assert (sampled["n"], sampled["temperature"], sampled["top_p"], sampled["max_tokens"], sampled["stop"]) == (
        16, 0.6, 0.95, 64, None)
    if vllm_installed():
        from vllm import SamplingParams

        SamplingParams(**sampled)


def test_backend_choice_without_vllm():
    if not (vllm_installed() and torch.cuda.is_available()):
        assert choose_backend("auto") == "hf"
        with pytest.raises(RuntimeError, match="vllm"):
            choose_backend("vllm")
    assert choose_backend("hf") == "hf"
