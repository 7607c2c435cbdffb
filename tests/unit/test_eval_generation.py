"""Eval's HF generation view of the shared sampler (behaviour tested in test_sampling.py), vLLM mapping, backend choice."""
import pytest
import torch

from octothinker.config import ModelConfig
from octothinker.data.tokenizer import train_toy_tokenizer
from octothinker.eval import generation
from octothinker.eval.backends import choose_backend, vllm_installed
from octothinker.eval.generation import Completion, generate
from octothinker.model import sampling
from octothinker.model.build import build_model
from octothinker.model.sampling import sample
from octothinker.model.vllm_engine import vllm_sampling_kwargs

PROMPTS = ["Question: 1 + 2?\nAnswer:", "Question: what is 3 + 4 + 5 times 2?\nAnswer:", "Hi"]


@pytest.fixture(scope="module")
def tiny():
    tok = train_toy_tokenizer(["Question: what is 3 + 4?\nAnswer: 7. The answer is 7.\n\n"] * 10, vocab_size=300)
    model = build_model(ModelConfig(hidden_size=32, intermediate_size=64, num_layers=2, num_heads=2, num_kv_heads=2), tok)
    return model, tok


def test_generate_is_a_text_view_of_the_shared_sampler(tiny):
    model, tok = tiny
    kwargs = dict(max_new_tokens=6, temperature=1.0, top_p=0.9, n=2, stop=["e"], seed=5, batch_size=2)
    outs = generate(model, tok, PROMPTS, **kwargs)
    want = sample(model, tok, PROMPTS, **kwargs)
    assert outs == [[Completion(s.text, s.n_tokens, s.truncated) for s in g] for g in want]
    assert [len(o) for o in outs] == [2, 2, 2]


def test_generate_reexports_the_helpers_eval_uses():
    assert (generation.cut_at_stop, generation.sample_next) == (sampling.cut_at_stop, sampling.sample_next)


def test_vllm_sampling_mapping():
    greedy = vllm_sampling_kwargs(1, 1024, 0.0, 0.9, ("\n\nQ:",), 3)
    assert greedy == {"n": 1, "temperature": 0.0, "top_p": 1.0, "max_tokens": 1024, "stop": ["\n\nQ:"], "seed": 3,
                      "include_stop_str_in_output": False, "skip_special_tokens": True}
    sampled = vllm_sampling_kwargs(16, 64, 0.6, 0.95, (), 0)
    assert (sampled["n"], sampled["temperature"], sampled["top_p"], sampled["max_tokens"], sampled["stop"]) == (
        16, 0.6, 0.95, 64, [])
    if vllm_installed():
        from vllm import SamplingParams

        SamplingParams(**sampled)


def test_backend_choice_without_vllm():
    if not (vllm_installed() and torch.cuda.is_available()):
        assert choose_backend("auto") == "hf"
        with pytest.raises(RuntimeError, match="vllm"):
            choose_backend("vllm")
    assert choose_backend("hf") == "hf"
