"""export-verl: parquet schema, reward shim scoring real-format answers, config with the paper's settings."""
import importlib.util
import json

import pyarrow.parquet as pq
import pytest
import yaml

from octothinker.cli import main
from octothinker.rl.verl_export import _hydra_value, deep_update, flatten, merge_overrides


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


def test_job_dir_can_be_moved(tmp_path):
    """run_verl.sh finds its own directory: a copied job still points verl at its own files."""
    import shutil
    import subprocess

    out = tmp_path / "job"
    assert main(["rl", "export-verl", "--out", str(out), "--model", "/m"]) == 0
    moved = tmp_path / "elsewhere" / "job"
    shutil.copytree(out, moved)
    stub = tmp_path / "python"
    stub.write_text('#!/usr/bin/env bash\nprintf "%s\\n" "$@"\n')
    stub.chmod(0o755)
    args = subprocess.run(["bash", str(moved / "run_verl.sh"), "trainer.nnodes=4"], env={"PYTHON": str(stub), "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, check=True).stdout.splitlines()
    assert f"data.train_files={moved}/train.parquet" in args and f"custom_reward_function.path={moved}/octothinker_reward.py" in args
    assert "actor_rollout_ref.model.path=/m" in args and args[-1] == "trainer.nnodes=4"


@pytest.mark.parametrize("args, extra, expected", [
    (["a=1", "b=2"], ["b=3", "c=4"], ["a=1", "b=3", "c=4"]),
    (["a=1"], ["+a=2", "~b"], ["a=1", "+a=2", "~b"]),
    (["a=1"], [], ["a=1"]),
])
def test_merge_overrides(args, extra, expected):
    assert merge_overrides(args, extra) == expected


def test_deep_update():
    assert deep_update({"a": {"b": 1, "c": 2}, "d": 3}, {"a": {"c": 5}, "e": {"f": 6}}) == {"a": {"b": 1, "c": 5}, "d": 3, "e": {"f": 6}}


@pytest.mark.parametrize("steps,default,schedule,want", [
    (5, 64, {}, [(5, 64)]),
    (300, 4096, {0: 2048, 100: 4096, 200: 8192}, [(100, 2048), (200, 4096), (300, 8192)]),
    (6, 64, {2: 128, 4: 128}, [(2, 64), (6, 128)]),
    (3, 64, {5: 128}, [(3, 64)]),
])
def test_length_segments(steps, default, schedule, want):
    from octothinker.rl.verl_engine import length_segments

    assert length_segments(steps, default, schedule) == want


def test_length_schedule_becomes_one_verl_launch_per_segment(tmp_path):
    import subprocess

    from octothinker.rl.verl_export import write_script

    args = ["data.max_response_length=8192", "trainer.total_training_steps=300", "actor_rollout_ref.rollout.n=16"]
    path = write_script(tmp_path, args, "tracking.jsonl", segments=[(100, 2048), (200, 4096), (300, 8192)])
    text = path.read_text()
    assert subprocess.run(["bash", "-n", str(path)]).returncode == 0
    calls = [x for x in text.splitlines() if x.startswith("segment ")]
    assert calls == [f"segment data.max_response_length={n} trainer.total_training_steps={e} trainer.resume_mode=auto \"$@\""
                     for e, n in ((100, 2048), (200, 4096), (300, 8192))]
    assert "data.max_response_length=8192 \\" not in text and "actor_rollout_ref.rollout.n=16" in text
    assert text.count("main_ppo") == 1 and text.index("VERL_FILE_LOGGER_PATH") < text.index("segment() {")
    # a stand-in python records each launch's arguments: three launches, each with its own length
    fake = tmp_path / "fakepy"
    fake.write_text('#!/usr/bin/env bash\necho "$@" >> "$(dirname "$0")/launches.txt"\n')
    fake.chmod(0o755)
    assert subprocess.run(["bash", str(path)], env={"PYTHON": str(fake), "PATH": "/usr/bin:/bin"}).returncode == 0
    launches = (tmp_path / "launches.txt").read_text().splitlines()
    assert len(launches) == 3 and all("data.max_response_length=" in x for x in launches)
    assert launches[1].endswith("data.max_response_length=4096 trainer.total_training_steps=200 trainer.resume_mode=auto")


def test_list_answers_and_options_reach_verl():
    """A record with several accepted answers is graded against all of them (was the list's repr, scoring 0);
    a multiple-choice record's prompt shows its options, as in native RL validation."""
    from octothinker.rl.verl_export import verl_rows
    from octothinker.rl.verl_reward import compute_score

    rows = verl_rows([{"question": "Half?", "answer": ["1/2", "0.5"]}, {"question": "Two?", "answer": 2}], "plain", "src")
    assert rows[0]["reward_model"]["ground_truth"] == "1/2" and rows[0]["extra_info"]["answers"] == ["1/2", "0.5"]
    assert rows[1]["reward_model"]["ground_truth"] == "2" and rows[1]["extra_info"]["answers"] == ["2"]
    assert compute_score("src", "so \\boxed{0.5}", rows[0]["reward_model"]["ground_truth"], rows[0]["extra_info"]) == 1.0
    assert compute_score("src", "so \\boxed{0.6}", rows[0]["reward_model"]["ground_truth"], rows[0]["extra_info"]) == 0.0
    mc = verl_rows([{"question": "Pick one.", "choices": ["red", "blue"], "answer": "B", "kind": "mc"}], "plain", "s")
    assert "blue" in mc[0]["prompt"][0]["content"] and mc[0]["extra_info"]["answer_kind"] == "mc"
