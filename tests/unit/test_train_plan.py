"""Plan resolution and the --dry-run memory estimate (real 1B/3B recipes on the meta device, CPU only)."""
from pathlib import Path

import pytest

from octothinker.config import load_recipe, recipe_from_dict
from octothinker.train.midtrain import run_midtrain
from octothinker.train.plan import GiB, memory_estimate, resolve_plans
from octothinker.train.synthetic import tiny_recipe_dict

RECIPES = Path(__file__).resolve().parents[2] / "recipes"


@pytest.mark.parametrize("size, params, micro", [("1b", "1.236B", 2), ("3b", "3.213B", 1)])
def test_dry_run_real_recipes(size, params, micro, capsys):
    recipe = load_recipe(RECIPES / f"octothinker_llama32_{size}.yaml")
    run_midtrain(recipe, dry_run=True, world_size=8)
    out = capsys.readouterr().out
    assert f"{params} parameters, built on meta device" in out
    accum = 512 // (8 * micro)
    assert f"47,683 steps x 4,194,304 tokens/step (micro {micro} x accum {accum} x world 8 x seq 8192)" in out
    assert out.count("4,768 steps") == 3 and "init from stage stable (step last)" in out
    plans = resolve_plans(recipe, world=8)
    assert [p.name for p in plans] == ["stable", "short", "long", "hybrid"]
    assert plans[0].tokens_per_rank == 47_683 * 4_194_304 // 8
    assert not (Path(recipe.run_dir) / "midtrain").exists()


def test_memory_estimate_shards_states_by_world():
    class Cfg:
        hidden_size, intermediate_size, num_hidden_layers, vocab_size, tie_word_embeddings = 4, 8, 2, 10, True

    one = memory_estimate(Cfg, 1000, 1, 16, 1, False)
    two = memory_estimate(Cfg, 1000, 1, 16, 2, False)
    assert one["params"] * GiB == 4000 and one["optimizer"] * GiB == 8000 and two["grads"] * GiB == 2000
    assert one["activations"] * GiB == 2 * 16 * (20 * 4 + 8 * 8)
    assert one["logits"] * GiB == 16 * 10 * 10
    ckpt = memory_estimate(Cfg, 1000, 1, 16, 1, True)
    assert ckpt["activations"] * GiB == 2 * 16 * 4 * 4 + 16 * (20 * 4 + 8 * 8)


def test_global_batch_must_divide(tmp_path):
    d = tiny_recipe_dict(tmp_path, {"s": {"mixture": "gen"}}, global_batch_tokens=1000)
    with pytest.raises(ValueError, match="global_batch_tokens: 1000 is not a multiple of micro_batch_size x seq_len x world = 4 x 32 x 1"):
        resolve_plans(recipe_from_dict(d))
    d["midtrain"]["global_batch_tokens"] = 4 * 32 * 2 * 3
    plan = resolve_plans(recipe_from_dict(d), world=2)[0]
    assert (plan.grad_accum, plan.tokens_per_step, plan.total_steps) == (3, 768, 100_000 // 768)


def test_unknown_stage_is_named(tmp_path):
    d = tiny_recipe_dict(tmp_path, {"s": {"mixture": "gen"}})
    with pytest.raises(ValueError, match="--stage: unknown stage.*nope; declared: s"):
        run_midtrain(recipe_from_dict(d), stages=["nope"], dry_run=True)
