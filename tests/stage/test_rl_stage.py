"""`octothinker rl recipe.yaml` on the toy world from a tiny base: step dirs, metrics, rollouts, validation."""
import yaml

from octothinker.cli import main
from octothinker.config import ToyWorldConfig
from octothinker.data.tokenizer import train_toy_tokenizer
from octothinker.paths import read_jsonl
from octothinker.toyworld import rl_prompts


def _toy_rl_recipe(tmp_path, rl: dict | None = None, **sections):
    """A 2-step RL recipe from a tiny base on the toy world (its tokenizer written under the run): the YAML path and
    the run dir; `rl` adds RL settings, `sections` top-level ones."""
    run = tmp_path / "runs" / "t"
    texts = [r["question"] + " \\boxed{" + str(r["answer"]) + "}" for r in rl_prompts(ToyWorldConfig(rl_prompts=50))]
    train_toy_tokenizer(texts, 300).save_pretrained(str(run / "data" / "tokenizer"))
    recipe = {
        "run": {"name": "t", "root": str(tmp_path / "runs"), "device": "cpu"},
        "toyworld": {"rl_prompts": 20, "benchmark_size": 10},
        "model": {"hidden_size": 32, "intermediate_size": 64, "num_layers": 2, "num_heads": 2, "num_kv_heads": 2},
        "rl": {"steps": 2, "prompts_per_step": 2, "group_size": 2, "mini_batch_size": 4, "max_response_tokens": 6,
               "validate_every": 2, "validate_limit": 2, "validate_benchmarks": ["toy_gsm"], **(rl or {})},
        **sections,
    }
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path, run


def test_rl_stage_end_to_end(tmp_path):
    path, run = _toy_rl_recipe(tmp_path, {"length_schedule": {1: 8}, "save_every": 1, "template": "complex"})
    assert main(["rl", str(path), "rl.lr=1e-4"]) == 0
    out = run / "rl" / "base"
    rows = read_jsonl(out / "metrics.jsonl")
    assert [r["step"] for r in rows] == [0, 1, 2] and [r.get("max_response_tokens") for r in rows] == [None, 6, 8]
    assert "val/toy_gsm/accuracy" in rows[0] and "reward_mean" not in rows[0]  # the pre-RL point
    assert "val/toy_gsm/accuracy" in rows[2] and "val/toy_gsm/response_len" in rows[2]
    assert (out / "step_1" / "config.json").is_file() and (out / "final" / "trainer_state" / "state.json").is_file()
    assert len(read_jsonl(out / "rollouts" / "step_2.jsonl")) == 4


def test_rl_rows_go_to_the_recipes_tracking_sinks(tmp_path, monkeypatch):
    import sys
    import types

    logged = []
    trackio = types.ModuleType("trackio")
    trackio.init = lambda **kw: logged.append(("init", kw["name"]))
    trackio.log = lambda row, step=None: logged.append(("log", step))
    trackio.finish = lambda: logged.append(("finish",))
    monkeypatch.setitem(sys.modules, "trackio", trackio)
    path, run = _toy_rl_recipe(tmp_path, report={"tracking": {"sinks": ["trackio"]}})
    assert main(["rl", str(path)]) == 0
    assert logged == [("init", "t/rl/base"), ("log", 0), ("log", 1), ("log", 2), ("finish",)]
    assert [r["step"] for r in read_jsonl(run / "rl" / "base" / "metrics.jsonl")] == [0, 1, 2]
