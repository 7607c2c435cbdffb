"""Two ranks under torchrun (FSDP2 on CPU with gloo) match one process on the same global batch."""
import json

import torch
from midtrain_helpers import load_weights, make_run, run_cli

from octothinker.train.midtrain import run_midtrain

STAGE = {"stable": {"mixture": "gen", "tokens": 4 * 4 * 32, "lr": 3e-3, "warmup_steps": 1}}


def test_two_rank_fsdp_matches_single_process(tmp_path, toy_data):
    _, single = make_run(tmp_path / "a", toy_data, STAGE, micro_batch_size=4, precision="fp32", eval_every_steps=2, heldout_rows=5)
    d_two, _ = make_run(tmp_path / "b", toy_data, STAGE, micro_batch_size=2, precision="fp32", eval_every_steps=2, heldout_rows=5)
    run_midtrain(single)
    run_cli(d_two, tmp_path / "b.yaml", torchrun=2)
    wa, wb = load_weights(tmp_path / "a/r/midtrain/stable/final"), load_weights(tmp_path / "b/r/midtrain/stable/final")
    assert wa.keys() == wb.keys()
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], rtol=1e-4, atol=2e-6)
    ma = [json.loads(x) for x in (tmp_path / "a/r/midtrain/stable/metrics.jsonl").read_text().splitlines()]
    mb = [json.loads(x) for x in (tmp_path / "b/r/midtrain/stable/metrics.jsonl").read_text().splitlines()]
    assert [r["tokens"] for r in ma] == [r["tokens"] for r in mb]
    for ra, rb in zip(ma, mb):
        assert abs(ra["loss"] - rb["loss"]) < 1e-4
        if "heldout_loss" in ra:
            assert ra["heldout_loss"].keys() == rb["heldout_loss"].keys()
            for s in ra["heldout_loss"]:
                assert abs(ra["heldout_loss"][s] - rb["heldout_loss"][s]) < 1e-4
    summary = json.loads((tmp_path / "b/r/midtrain/stable/final/trainer_state/state.json").read_text())
    assert summary["world_size"] == 2
