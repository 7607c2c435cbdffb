"""Each decay branch's first step starts from exactly the stable checkpoint it names."""
import json

import torch

from octothinker.model.checkpoint import checkpoint_at
from octothinker.train.midtrain import init_source, load_model, run_midtrain, weights_hash
from octothinker.train.plan import resolve_plans

from midtrain_helpers import make_run

STAGES = {
    "stable": {"mixture": "gen", "tokens": 8 * 128, "lr": 3e-3, "warmup_steps": 2},
    "short": {"mixture": "short", "tokens": 3 * 128, "lr": 3e-3, "schedule": "cosine", "init_from": "stable"},
    "long": {"mixture": "long", "tokens": 3 * 128, "lr": 3e-3, "schedule": "linear", "init_from": "stable"},
    "hybrid": {"mixture": "hybrid", "tokens": 3 * 128, "lr": 3e-3, "schedule": "1-sqrt", "init_from": "stable", "init_step": 4},
}


def test_branches_start_from_stable_weights(tmp_path, toy_data):
    _, recipe = make_run(tmp_path, toy_data, STAGES, checkpoint_every_tokens=4 * 128)
    run_midtrain(recipe)
    stable = tmp_path / "r/midtrain/stable"
    tok = tmp_path / "r/data/tokenizer"
    for plan in resolve_plans(recipe)[1:]:
        lineage = json.loads((plan.stage_dir / "lineage.json").read_text())
        parent = checkpoint_at(stable, 4 if plan.name == "hybrid" else None)
        assert lineage["init"]["parent_checkpoint"] == str(parent)
        assert lineage["init"]["parent_step"] == (4 if plan.name == "hybrid" else 8)
        parent_model = load_model(recipe, tok, parent)
        assert lineage["init"]["weights_sha256"] == weights_hash(parent_model.state_dict())
        assert init_source(plan, recipe) == parent
        branch_start = load_model(recipe, tok, init_source(plan, recipe)).state_dict()
        for k, v in parent_model.state_dict().items():
            assert torch.equal(v, branch_start[k]), (plan.name, k)
    lr_first = [json.loads((tmp_path / f"r/midtrain/{b}/metrics.jsonl").read_text().splitlines()[0])["lr"] for b in ("short", "long", "hybrid")]
    assert lr_first == [3e-3, 3e-3, 3e-3]


def test_a_branch_never_starts_from_an_unfinished_parent(tmp_path, toy_data):
    """`--stop-after` leaves the stable stage part-trained: its branches do not start from that checkpoint
    (they would be marked complete, from a truncated model); after the stable stage finishes they start from
    its end. A branch asked for alone while its parent is unfinished is a one-line error."""
    import pytest

    _, recipe = make_run(tmp_path, toy_data, STAGES, checkpoint_every_tokens=2 * 128)
    run_midtrain(recipe, stop_after=2)
    root = tmp_path / "r/midtrain"
    assert not (root / "short").exists() and not (root / "long").exists() and not (root / "hybrid").exists()
    with pytest.raises(FileNotFoundError, match=r"midtrain short: its parent stage 'stable' has not finished"):
        run_midtrain(recipe, stages=["short"])
    run_midtrain(recipe)
    for name, step in (("short", 8), ("long", 8), ("hybrid", 4)):
        lineage = json.loads((root / name / "lineage.json").read_text())
        assert lineage["init"]["parent_step"] == step and lineage["complete"], name
