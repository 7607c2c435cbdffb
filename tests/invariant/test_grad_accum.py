"""Gradient accumulation 4 x B equals one batch of 4B (fp32, float tolerance)."""
import torch

from octothinker.train.midtrain import run_midtrain

from midtrain_helpers import load_weights, make_run

STAGE = {"stable": {"mixture": "gen", "tokens": 4 * 8 * 32, "lr": 3e-3}}


def test_accumulation_matches_big_batch(tmp_path, toy_data):
    _, big = make_run(tmp_path / "a", toy_data, STAGE, micro_batch_size=8, grad_accum=1, precision="fp32")
    _, acc = make_run(tmp_path / "b", toy_data, STAGE, micro_batch_size=2, grad_accum=4, precision="fp32")
    run_midtrain(big)
    run_midtrain(acc)
    wa, wb = load_weights(tmp_path / "a/r/midtrain/stable/final"), load_weights(tmp_path / "b/r/midtrain/stable/final")
    assert wa.keys() == wb.keys()
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], rtol=1e-4, atol=2e-6)
