"""export-verl: parquet schema, reward shim scoring real-format answers, config with the paper's settings."""
import importlib.util
import json

import pyarrow.parquet as pq
import yaml

from octothinker.cli import main
from octothinker.rl.verl_export import _hydra_value, flatten


def test_export_verl_files(tmp_path):
    prompts = tmp_path / "p.jsonl"
    prompts.write_text("\n".join(json.dumps({"question": f"What is {i}+{i}?", "answer": str(2 * i)}) for i in range(5)) + "\n")
    out = tmp_path / "verl"
    assert main(["rl", "export-verl", "--out", str(out), "--prompts", str(prompts), "--model", "/m"]) == 0

    rows = pq.read_table(out / "train.parquet").to_pylist()
    assert len(rows) == 5 and set(rows[0]) == {"data_source", "prompt", "ability", "reward_model", "extra_info"}
    assert rows[3]["prompt"][0]["role"] == "user" and "What is 3+3?" in rows[3]["prompt"][0]["content"]
    assert rows[3]["reward_model"] == {"style": "rule", "ground_truth": "6"} and rows[3]["ability"] == "math"
    assert rows[3]["extra_info"]["index"] == 3

    cfg = yaml.safe_load((out / "verl_grpo.yaml").read_text())
    assert cfg["data"]["train_batch_size"] == 128 and cfg["data"]["max_response_length"] == 4096
    actor, rollout = cfg["actor_rollout_ref"]["actor"], cfg["actor_rollout_ref"]["rollout"]
    assert rollout["n"] == 16 and rollout["temperature"] == 1.0 and actor["ppo_mini_batch_size"] == 64
    assert actor["optim"]["lr"] == 1e-6 and actor["use_kl_loss"] is False and cfg["algorithm"]["kl_ctrl"]["kl_coef"] == 0
    assert cfg["algorithm"]["adv_estimator"] == "grpo" and cfg["actor_rollout_ref"]["model"]["path"] == "/m"
    assert cfg["custom_reward_function"] == {"path": str((out / "octothinker_reward.py").resolve()), "name": "compute_score"}
    script = (out / "run_verl.sh").read_text()
    assert "verl.trainer.main_ppo" in script and "actor_rollout_ref.rollout.n=16" in script

    spec = importlib.util.spec_from_file_location("octo_reward", out / "octothinker_reward.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    score = mod.compute_score
    assert score("octothinker/p", "2+2 is 4, so the answer is \\boxed{4}.", "4") == 1.0
    assert score("octothinker/p", "<think>halve it</think> \\boxed{\\frac{1}{2}}", "0.5", {"answer_kind": "math"}) == 1.0
    assert score("octothinker/p", "I think it is \\boxed{5}", "4") == 0.0
    assert score("octothinker/p", None, "4") == 0.0


def test_hydra_values_and_flatten():
    assert flatten({"a": {"b": 1, "c": {"d": True}}, "e": [1, 2]}) == [("a.b", 1), ("a.c.d", True), ("e", [1, 2])]
    assert _hydra_value(True) == "true" and _hydra_value(["console"]) == "[console]" and _hydra_value(1e-6) == "1e-06"
    assert _hydra_value('{{ m.content }}') == '"{{ m.content }}"'
