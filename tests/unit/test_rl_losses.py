"""GRPO-family math against hand-computed tables."""
import math

import pytest
import torch

from octothinker.rl import losses as L


@pytest.mark.parametrize(
    "rewards, group, scale, expected",
    [
        ([1, 0, 0, 0], 4, True, [1.5, -0.5, -0.5, -0.5]),  # mean .25, unbiased std .5
        ([1, 0, 0, 0], 4, False, [0.75, -0.25, -0.25, -0.25]),  # Dr. GRPO: no std
        ([1, 0, 0, 1], 2, True, [1 / math.sqrt(2), -1 / math.sqrt(2), -1 / math.sqrt(2), 1 / math.sqrt(2)]),
        ([1, 1, 0, 0], 2, True, [0.0, 0.0, 0.0, 0.0]),  # zero-variance groups: no signal
        ([2, 0, 1, 1], 4, True, [1 / math.sqrt(2 / 3), -1 / math.sqrt(2 / 3), 0.0, 0.0]),
    ],
)
def test_group_advantages(rewards, group, scale, expected):
    got = L.group_advantages(torch.tensor(rewards, dtype=torch.float32), group, scale=scale)
    assert torch.allclose(got, torch.tensor(expected), atol=1e-5)


def test_group_advantages_rejects_ragged():
    with pytest.raises(ValueError, match="multiple of group_size"):
        L.group_advantages(torch.zeros(5), 2)


@pytest.mark.parametrize(
    "rewards, group, expected",
    [
        ([1, 1, 0, 1, 0, 0, 0, 0], 4, [False, True]),
        ([1, 1, 0, 1, 0, 0, 1, 1], 2, [True, False, True, True]),
    ],
)
def test_zero_variance_groups(rewards, group, expected):
    assert L.zero_variance_groups(torch.tensor(rewards, dtype=torch.float32), group).tolist() == expected


@pytest.mark.parametrize(
    "ratio, adv, loss, clipped",
    [
        (0.5, 1.0, -0.5, 0.0),  # below the low bound with A>0: pessimistic min keeps the unclipped term
        (1.3, 1.0, -1.28, 1.0),  # above 1+clip_high=1.28: clipped
        (1.1, 1.0, -1.1, 0.0),
        (0.5, -1.0, 0.8, 1.0),  # A<0 below 1-clip_low=0.8: clipped
        (1.3, -1.0, 1.3, 0.0),  # A<0 above: unclipped is the pessimistic one
        (1.0, 0.0, 0.0, 0.0),
    ],
)
def test_clipped_pg_loss_asymmetric(ratio, adv, loss, clipped):
    old = torch.zeros(1, 1)
    logp = torch.full((1, 1), math.log(ratio))
    got, was = L.clipped_pg_loss(logp, old, torch.tensor([adv]), clip_low=0.2, clip_high=0.28)
    assert got.item() == pytest.approx(loss, abs=1e-6)
    assert was.item() == clipped


PER_TOKEN = torch.tensor([[1.0, 2.0, 3.0], [4.0, 0.0, 0.0]])
MASK = torch.tensor([[1.0, 1.0, 1.0], [1.0, 0.0, 0.0]])


@pytest.mark.parametrize(
    "mode, kwargs, expected",
    [
        ("token_mean", {}, 10 / 4),
        ("seq_mean", {}, (2 + 4) / 2),
        ("dr_grpo", {"max_len": 5}, 10 / (2 * 5)),
        ("token_mean", {"n_tokens": 8}, 10 / 8),
        ("seq_mean", {"n_seqs": 4}, 6 / 4),
        ("dr_grpo", {"max_len": 5, "n_seqs": 4}, 10 / 20),
    ],
)
def test_aggregate(mode, kwargs, expected):
    assert L.aggregate(PER_TOKEN, MASK, mode, **kwargs).item() == pytest.approx(expected)


@pytest.mark.parametrize("mode", ["token_mean", "seq_mean", "dr_grpo"])
def test_aggregate_micro_batches_add_up(mode):
    full = L.aggregate(PER_TOKEN, MASK, mode, max_len=5)
    kw = dict(max_len=5, n_tokens=float(MASK.sum()), n_seqs=2.0)
    parts = sum(L.aggregate(PER_TOKEN[i : i + 1], MASK[i : i + 1], mode, **kw) for i in range(2))
    assert parts.item() == pytest.approx(full.item())


def test_aggregate_errors():
    with pytest.raises(ValueError, match="max_len"):
        L.aggregate(PER_TOKEN, MASK, "dr_grpo")
    with pytest.raises(ValueError, match="unknown aggregation"):
        L.aggregate(PER_TOKEN, MASK, "sum")


def test_kl_k3_values():
    logp = torch.tensor([math.log(0.5), math.log(0.3)])
    ref = torch.tensor([math.log(0.25), math.log(0.3)])
    got = L.kl_k3(logp, ref)
    assert got[0].item() == pytest.approx(0.5 + math.log(0.5) * -1 - 1)  # exp(d) - d - 1, d = log .5
    assert got[1].item() == pytest.approx(0.0)


def test_entropy_and_token_logprobs():
    logits = torch.zeros(1, 1, 4)
    assert L.entropy_from_logits(logits).item() == pytest.approx(math.log(4))
    logits = torch.log(torch.tensor([[[0.1, 0.2, 0.7]]]))
    assert L.token_logprobs(logits, torch.tensor([[2]])).item() == pytest.approx(math.log(0.7), abs=1e-6)
    assert L.masked_mean(torch.tensor([1.0, 3.0, 5.0]), torch.tensor([1, 1, 0])).item() == 2.0


LN = math.log


@pytest.mark.parametrize(
    "logp, ref, mask, expected",
    [
        (LN(0.5), LN(0.25), 1.0, 0.5 + LN(2) - 1),  # d = ref - logp = -log 2
        (LN(0.25), LN(0.5), 1.0, 2 - LN(2) - 1),  # d = log 2
        (LN(0.3), LN(0.3), 1.0, 0.0),
        (-100.0, 0.0, 0.0, 0.0),  # masked: exp(100) would overflow; contributes exactly 0
        (0.0, -100.0, 0.0, 0.0),
        (-3.0, -1.0, 0.0, 0.0),
    ],
)
def test_kl_k3_masked_table(logp, ref, mask, expected):
    got = L.kl_k3(torch.tensor([logp]), torch.tensor([ref]), torch.tensor([mask]))
    assert got.item() == pytest.approx(expected, abs=1e-7)
    if mask:
        assert L.kl_k3(torch.tensor([logp]), torch.tensor([ref])).item() == pytest.approx(expected, abs=1e-7)
    else:
        assert got.item() == 0.0


def test_masked_positions_give_finite_loss_and_gradients():
    """Old/reference log-probs are 0 past a chunk's width: a pad position with logp -100 must not turn into NaN."""
    logp = torch.tensor([[LN(0.5), -100.0], [LN(0.2), 100.0]], requires_grad=True)
    ref = torch.tensor([[LN(0.25), 0.0], [LN(0.2), 0.0]])
    old = torch.tensor([[LN(0.5), 0.0], [LN(0.2), 0.0]])
    mask = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    kl = L.kl_k3(logp, ref, mask)
    pg, clipped = L.clipped_pg_loss(logp, old, torch.tensor([1.0, -1.0]), 0.2, 0.2, mask)
    assert kl[:, 1].tolist() == [0.0, 0.0] and pg[:, 1].tolist() == [0.0, 0.0] and clipped[:, 1].tolist() == [0.0, 0.0]
    loss = L.aggregate(pg, mask, "token_mean") + 0.1 * L.aggregate(kl, mask, "token_mean")
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(logp.grad).all()
    assert logp.grad[:, 1].tolist() == [0.0, 0.0]
    # the unmasked positions are unchanged: ratio 1, kl as in the table
    assert loss.item() == pytest.approx((-1.0 + 1.0) / 2 + 0.1 * (0.5 + LN(2) - 1) / 2, abs=1e-6)
