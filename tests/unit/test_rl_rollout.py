"""RL's view of the shared sampler: rollouts group by group with the sampled ids (sampler tested in test_sampling.py)."""
import pytest
import torch

from octothinker.config import ModelConfig
from octothinker.data.tokenizer import train_toy_tokenizer
from octothinker.model.build import build_model
from octothinker.model.sampling import sample as shared_sample
from octothinker.rl.rollout import Rollouts, sample


@pytest.fixture(scope="module")
def tiny():
    texts = [f"Question: what is {i} plus {i + 1}?\nAnswer: \\boxed{{{2 * i + 1}}}" for i in range(60)]
    tok = train_toy_tokenizer(texts, 280)
    model = build_model(ModelConfig(hidden_size=32, intermediate_size=64, num_layers=2, num_heads=2, num_kv_heads=2), tok, seed=1)
    return model, tok


def test_rollouts_flatten_the_shared_sampler_group_by_group(tiny):
    model, tok = tiny
    prompts = ["Question: what is 3 plus 4?\nAnswer:", "Hi", "Question: 7?"]
    # the trainer's positional call: prompts, n, max_new_tokens, temperature, top_p, stop, generator
    ro = sample(model, tok, prompts, 3, 5, 1.0, 0.9, ["?"], torch.Generator().manual_seed(3))
    want = shared_sample(model, tok, prompts, n=3, max_new_tokens=5, temperature=1.0, top_p=0.9, stop=["?"],
                         generator=torch.Generator().manual_seed(3), batch_size=None)
    flat = [s for group in want for s in group]
    assert isinstance(ro, Rollouts) and len(ro.response_ids) == 9
    assert ro.prompt_ids == [tok(p)["input_ids"] for p in prompts for _ in range(3)]
    assert ro.response_ids == [s.token_ids for s in flat]
    assert ro.texts == [s.text for s in flat] and ro.truncated == [s.truncated for s in flat]
