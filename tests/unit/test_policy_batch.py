"""Shared-prompt scoring equals a forward over every full prompt+response sequence (values and gradients)."""
import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from octothinker.rl.policy_batch import build_batch, plan_chunks, token_logps

PROMPTS = [[3, 4, 5], [3, 4, 5], [7, 8], [7, 8], [9, 10, 11, 12], [9, 10, 11, 12]]
RESPS = [[20, 21, 1], [22], [23, 24, 25, 26, 1], [27, 1], [30, 31], [32, 33, 34]]


def model():
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=50, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                      num_key_value_heads=2)
    return LlamaForCausalLM(cfg)


def full_sequence_logps(m, r, temperature=1.0, entropy=False):
    seq = torch.tensor([PROMPTS[r] + RESPS[r]])
    logp = torch.log_softmax(m(seq).logits[0].float() / temperature, -1)[len(PROMPTS[r]) - 1:-1]
    picked = logp.gather(-1, torch.tensor(RESPS[r])[:, None]).squeeze(-1)
    return (picked, -(logp.exp() * logp).sum(-1)) if entropy else picked


@pytest.mark.parametrize("rows", [[5, 0, 2, 3], [1], [0, 1, 2, 3, 4, 5]])
def test_logps_match_full_sequences(rows):
    m = model()
    batch = build_batch(PROMPTS, RESPS, pad=0)
    logp, ent, mask = token_logps(m, batch, torch.tensor(rows), with_entropy=True)
    assert logp.shape == mask.shape == ent.shape == (len(rows), max(len(RESPS[r]) for r in rows))
    for j, r in enumerate(rows):
        n = len(RESPS[r])
        assert mask[j].tolist() == [1.0] * n + [0.0] * (mask.shape[1] - n)
        torch.testing.assert_close(logp[j, :n], full_sequence_logps(m, r), atol=1e-5, rtol=0)


def test_gradients_match_full_sequences():
    """The prompt pass is shared by a group, so its gradient is the sum over the group's rollouts."""
    m = model()
    rows = [0, 1, 2, 4, 5]
    logp, _, mask = token_logps(m, build_batch(PROMPTS, RESPS, pad=0), torch.tensor(rows), with_entropy=False)
    (logp * mask).sum().backward()
    shared = {k: p.grad.clone() for k, p in m.named_parameters()}
    m.zero_grad()
    sum(full_sequence_logps(m, r).sum() for r in rows).backward()
    for k, p in m.named_parameters():
        torch.testing.assert_close(shared[k], p.grad, atol=1e-5, rtol=1e-4, msg=k)


def test_bad_batches_are_refused():
    with pytest.raises(ValueError, match="one prompt per response"):
        build_batch([[1]], [[2], [3]], pad=0)
    with pytest.raises(ValueError, match="at least one token"):
        build_batch([[]], [[2]], pad=0)


def test_entropy_is_differentiable_only_when_asked():
    m = model()
    batch = build_batch(PROMPTS, RESPS, pad=0)
    _, ent, _ = token_logps(m, batch, torch.tensor([0, 2]), with_entropy=True)
    assert not ent.requires_grad
    _, ent, _ = token_logps(m, batch, torch.tensor([0, 2]), with_entropy=True, entropy_grad=True)
    assert ent.requires_grad


def lengths_batch(resp_lens, prompt_len, group):
    prompts = [[3 + i // group] * prompt_len for i in range(len(resp_lens))]
    return build_batch(prompts, [[7] * n for n in resp_lens], pad=0)


def test_plan_chunks_covers_every_row_once_and_respects_micro():
    batch = lengths_batch([5, 40, 3, 38, 6, 41, 4, 39], prompt_len=4, group=2)
    rows = [7, 0, 3, 5, 1]
    for micro in (0, 2, 3):
        chunks = plan_chunks(rows, batch, micro)
        assert sorted(r for c in chunks for r in c) == sorted(rows)
        if micro:
            assert all(len(c) <= micro for c in chunks)


def test_plan_chunks_sorts_by_length_when_padding_dominates():
    """Short prompts, very uneven responses: length order in two chunks beats one padded forward."""
    batch = lengths_batch([2, 60, 2, 60, 2, 60, 2, 60], prompt_len=2, group=2)
    chunks = plan_chunks(list(range(8)), batch)
    assert sorted(map(sorted, chunks)) == [[0, 2, 4, 6], [1, 3, 5, 7]]


def test_plan_chunks_keeps_groups_together_when_prompts_dominate():
    """Long shared prompts, equal responses: one chunk in prompt order runs each prompt once."""
    batch = lengths_batch([3] * 8, prompt_len=50, group=4)
    assert plan_chunks(list(range(8)), batch) == [[0, 1, 2, 3, 4, 5, 6, 7]]


@pytest.mark.parametrize("rows", [[5, 0, 2, 3], [0, 1, 2, 3, 4, 5]])
def test_tempered_logps_match_full_sequences(rows):
    """The policy is scored on the distribution rollouts are drawn from: log_softmax(logits / T)."""
    m = model()
    batch = build_batch(PROMPTS, RESPS, pad=0)
    logp, ent, mask = token_logps(m, batch, torch.tensor(rows), with_entropy=True, temperature=0.7)
    plain, plain_ent, _ = token_logps(m, batch, torch.tensor(rows), with_entropy=True)
    for j, r in enumerate(rows):
        n = len(RESPS[r])
        want, want_ent = full_sequence_logps(m, r, temperature=0.7, entropy=True)
        torch.testing.assert_close(logp[j, :n], want, atol=1e-5, rtol=0)
        torch.testing.assert_close(ent[j, :n], want_ent, atol=1e-5, rtol=0)
        assert (logp[j, :n] - plain[j, :n]).abs().max() > 1e-3  # the temperature does change the scores
    once, once_ent, _ = token_logps(m, batch, torch.tensor(rows), with_entropy=True, temperature=1.0)
    assert torch.equal(once, plain) and torch.equal(once_ent, plain_ent)  # T = 1 is the untempered softmax
