"""scale_recipe: identity at 1, data linear, RL steps by ceil(sqrt), width by round(sqrt), validated result."""
import pytest

from octothinker.config import recipe_from_dict
from octothinker.experiment.runner import scale_recipe, seed_recipe
from octothinker.experiment.scale import scale_factors


@pytest.fixture
def recipe(tmp_path):
    return recipe_from_dict({
        "run": {"name": "exp", "root": str(tmp_path)},
        "toyworld": {"seed": 7, "general_docs": 1000, "math_web_docs": 800, "qa_docs": 600, "instruct_docs": 0,
                     "benchmark_size": 50},
        "data": {"sources": {"g": {"kind": "toy", "corpus": "general"}},
                 "mixtures": {"a": {"weights": {"g": 1.0}, "tokens": 100_000}, "b": {"weights": {"g": 1.0}, "tokens": 30_000}}},
        "model": {"hidden_size": 96, "intermediate_size": 256, "num_heads": 6, "num_kv_heads": 2},
        "midtrain": {"stages": {"base": {"mixture": "a"}, "short": {"mixture": "b", "tokens": 20_000, "init_from": "base"}}},
        "rl": {"init_from": ["short"], "steps": 20, "length_schedule": {0: 64, 10: 96},
               "variants": {"short_complex": {"init_from": "short", "template": "complex", "steps": 12},
                            "short_plain": {"init_from": "short", "template": "plain"}}},
    })


@pytest.mark.parametrize("scale, data, steps, width", [
    (1.0, 1.0, 1, 1), (4.0, 4.0, 2, 2), (2.0, 2.0, 2, 1), (3.0, 3.0, 2, 2), (9.0, 9.0, 3, 3),
    (0.25, 0.25, 1, 1), (0.5, 0.5, 1, 1),
])
def test_factors(scale, data, steps, width):
    assert scale_factors(scale) == {"data": data, "rl_steps": steps, "width": width}


@pytest.mark.parametrize("bad", [0, -1.0, float("inf"), float("nan")])
def test_bad_scale(recipe, bad):
    with pytest.raises(ValueError, match="scale: must be a finite number > 0"):
        scale_recipe(recipe, bad)


def test_scale_one_is_identity(recipe):
    assert scale_recipe(recipe, 1.0) is recipe


def test_scale_four(recipe):
    r = scale_recipe(recipe, 4.0)
    assert r.data.mixtures["a"].tokens == 400_000 and r.data.mixtures["b"].tokens == 120_000
    assert r.midtrain.stages["short"].tokens == 80_000 and r.midtrain.stages["base"].tokens is None
    tw = r.toyworld
    assert (tw.general_docs, tw.math_web_docs, tw.qa_docs, tw.instruct_docs) == (4000, 3200, 2400, 0)
    assert tw.seed == 7 and tw.benchmark_size == 50  # the world's seed and benchmarks stay fixed
    assert r.rl.steps == 40 and r.rl.length_schedule == {0: 64, 20: 96}
    assert r.rl.variants["short_complex"].steps == 24 and r.rl.variants["short_plain"].steps is None
    assert r.rl.runs()["short_plain"][1].steps == 40
    m = r.model
    assert (m.hidden_size, m.intermediate_size, m.num_heads, m.num_kv_heads) == (192, 512, 6, 2)
    assert m.hidden_size % m.num_heads == 0
    # everything else untouched; the input recipe is not mutated
    assert r.rl.lr == recipe.rl.lr and r.run == recipe.run and r.eval == recipe.eval
    assert recipe.data.mixtures["a"].tokens == 100_000 and recipe.model.hidden_size == 96


def test_scale_down(recipe):
    r = scale_recipe(recipe, 0.25)
    assert r.data.mixtures["a"].tokens == 25_000 and r.toyworld.general_docs == 250
    assert r.rl.steps == 20 and r.model.hidden_size == 96  # ceil(sqrt(.25)) = 1, round(sqrt(.25)) -> at least 1


def test_pretrained_model_sizes_untouched(recipe):
    import dataclasses

    pre = dataclasses.replace(recipe, model=dataclasses.replace(recipe.model, init="pretrained", path="some/model"))
    assert scale_recipe(pre, 4.0).model.hidden_size == 96


def test_seed_recipe(recipe, tmp_path):
    r = seed_recipe(recipe, 3, tmp_path / "exp")
    assert r.run.seed == 3 and r.run.name == "seed_3" and r.run_dir == tmp_path / "exp" / "seed_3"
    assert r.toyworld.seed == 7 and r.rl == recipe.rl
