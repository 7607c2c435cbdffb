"""verl engine and import: verl's metric names mapped, checkpoints laid out as a native run, report and eval read it."""
import json
import os
import shutil
import subprocess

import pyarrow.parquet as pq
import pytest
import torch
import yaml
from test_rl_trainer import cfg, last_digit_grader, prompts, tiny_model, word_tokenizer

from octothinker.cli import main
from octothinker.model.checkpoint import resolve_model
from octothinker.paths import read_jsonl
from octothinker.report.collect import collect
from octothinker.rl import verl_engine
from octothinker.rl.trainer import RLTrainer
from octothinker.rl.verl_import import VerlImportError, import_verl, map_train, map_validation

# one verl training row as verl/trainer/ppo/ray_trainer.py `fit` logs it (a subset of its keys)
VERL_TRAIN = {
    "critic/score/mean": 0.25, "critic/rewards/mean": 0.25, "critic/advantages/mean": 0.0,
    "response_length/mean": 2.5, "response_length/max": 3.0, "response_length/clip_ratio": 0.5,
    "actor/entropy": 1.5, "actor/pg_clipfrac": 0.1, "actor/grad_norm": 0.7, "actor/pg_loss": -0.02,
    "actor/kl_loss": 0.0, "actor/ppo_kl": 0.001, "actor/lr": 1e-2,
    "timing_s/gen": 2.0, "timing_s/reward": 0.5, "timing_s/old_log_prob": 0.25, "timing_s/update_actor": 1.0,
    "timing_s/step": 4.0, "timing_per_token_ms/gen": 4.0, "training/global_step": 1, "training/epoch": 0,
}


@pytest.mark.parametrize("data, expected", [
    (VERL_TRAIN, {"reward_mean": 0.25, "accuracy": 0.25, "response_len_mean": 2.5, "response_len_max": 3.0,
                  "truncation_rate": 0.5, "entropy": 1.5, "clip_frac": 0.1, "grad_norm": 0.7, "loss": -0.02,
                  "lr": 1e-2, "time_gen": 2.0, "time_reward": 0.5, "time_old_logp": 0.25, "time_update": 1.0,
                  "time_step": 4.0, "gen_tokens_per_s": 250.0}),
    ({"actor/kl_loss": 0.03, "actor/kl_coef": 0.1}, {"kl": 0.03}),  # kl only when a KL term was in the loss
    ({"actor/kl_loss": 0.0, "critic/score/mean": True, "response_length/mean": "x"}, {}),
])
def test_map_train(data, expected):
    assert map_train(data) == expected


@pytest.mark.parametrize("data, expected", [
    ({"val-core/toy_gsm/reward/mean@1": 0.5}, {"val/toy_gsm/accuracy": 0.5, "val_samples": 0}),
    ({"val-core/octothinker/toy_rl/reward/mean@1": 0.1}, {"val/toy_rl/accuracy": 0.1, "val_samples": 0}),
    ({"val-aux/b/reward/mean@4": 0.2, "val-core/b/acc/mean@4": 0.3, "val-aux/b/reward/std@4": 0.1},
     {"val/b/sampled_accuracy": 0.3, "val_samples": 4}),
    ({"critic/score/mean": 1.0}, {}),
])
def test_map_validation(data, expected):
    assert map_validation(data) == expected


def _rows(*pairs):
    return "".join(json.dumps({"step": s, "data": d}) + "\n" for s, d in pairs)


def make_verl_dir(root, tok, model, sharded_latest=False):
    """A verl job dir as verl leaves it: checkpoints/global_step_{1,2}/actor, the tracker file, file-logger rows."""
    ck = root / "checkpoints"
    for step in (1, 2):
        actor = ck / f"global_step_{step}" / "actor"
        hf = actor / "huggingface"
        hf.mkdir(parents=True)
        (actor / "model_world_size_1_rank_0.pt").write_bytes(b"shard")
        (actor / "fsdp_config.json").write_text('{"FSDP_version": 2, "world_size": 1}')
        tok.save_pretrained(str(hf))
        if step == 2 and not sharded_latest:
            model.save_pretrained(str(hf))  # actor.checkpoint.save_contents had hf_model
        else:
            model.config.save_pretrained(str(hf))  # verl always writes config and tokenizer
    (ck / "latest_checkpointed_iteration.txt").write_text("2")
    val = {"val-core/toy_gsm/reward/mean@1": 0.5}
    # an earlier attempt (renamed by run_verl.sh) then the resumed one, which redoes step 1
    (root / "tracking.1.jsonl").write_text(_rows((0, val), (1, {**VERL_TRAIN, "critic/score/mean": 0.9})))
    (root / "tracking.jsonl").write_text(_rows((1, VERL_TRAIN), (2, {**VERL_TRAIN, **val}), (3, VERL_TRAIN))
                                         + '{"step": 4, "da')  # a torn last line
    (root / "rollouts").mkdir()
    (root / "rollouts" / "1.jsonl").write_text("".join(json.dumps(
        {"input": "show 3", "output": o, "gts": "3", "score": s, "step": 1}) + "\n" for o, s in
        [("wait \\boxed{3}", 1.0), ("5 5 5 5 5", 0.0)]))
    (root / "verl_grpo.yaml").write_text(yaml.safe_dump({"data": {"max_response_length": 3}}))
    return root


def native_run(out, tok):
    """The cheapest native run with a validation point: 2 steps, one benchmark of 2 problems, greedy only."""
    c = cfg(steps=2, validate_every=2, validate_samples=0, save_every=0)
    bench = {"toy_gsm": [{"question": "show 3", "answer": "3"}, {"question": "show 8", "answer": "8"}]}
    RLTrainer(c, tiny_model(tok), tok, prompts(), out, benchmarks=bench, grader=last_digit_grader,
              lineage={"parent": "/x/midtrain/short/step_4", "init": "short", "template": "plain"}).train()
    return c


def test_import_lays_out_a_native_run(tmp_path):
    tok = word_tokenizer()
    run_dir = tmp_path / "runs" / "r"
    c = native_run(run_dir / "rl" / "native", tok)
    model = tiny_model(tok, seed=1)
    src = make_verl_dir(tmp_path / "job", tok, model)
    out = import_verl(src, run_dir / "rl" / "viaverl", c, 0,
                      {"parent": "/x/midtrain/short/step_4", "init": "short", "template": "plain"})

    rows = read_jsonl(out / "metrics.jsonl")
    assert [r["step"] for r in rows] == [0, 1, 2]  # step 3 is past the latest checkpoint; the torn line is ignored
    assert rows[0] == {"step": 0, "val/toy_gsm/accuracy": 0.5, "val_samples": 0, "val_max_tokens": 3,
                       "verl": {"val-core/toy_gsm/reward/mean@1": 0.5}}
    assert rows[1]["accuracy"] == 0.25 and rows[1]["max_response_tokens"] == 3  # the resumed attempt wins
    assert rows[1]["boxed_rate"] == 0.5 and rows[1]["reflection_rate"] == 0.5 and rows[1]["repetition_rate"] == 0.25
    assert rows[2]["val/toy_gsm/accuracy"] == 0.5 and "boxed_rate" not in rows[2]  # no dump for step 2
    native = read_jsonl(run_dir / "rl" / "native" / "metrics.jsonl")
    native_keys = set().union(*native)
    for r in rows:
        assert set(r) - {"verl"} <= native_keys, set(r) - native_keys
    assert set(rows[2]) - {"verl"} >= {"reward_mean", "accuracy", "response_len_mean", "truncation_rate", "entropy",
                                       "grad_norm", "lr", "time_step", "val/toy_gsm/accuracy"}

    assert (out / "LATEST").read_text() == "step_2\n" and os.readlink(out / "final") == "step_2"
    assert not (out / "step_1").exists()  # only FSDP shards there: the latest alone is merged or copied
    assert json.loads((out / "step_2" / "trainer_state" / "state.json").read_text())["engine"] == "verl"
    assert (out / "tokenizer" / "tokenizer.json").is_file()
    assert read_jsonl(out / "rollouts" / "step_1.jsonl")[0]["correct"] is True
    meta = json.loads((out / "rl_config.json").read_text())
    assert meta["engine"] == "verl" and meta["init"] == "short" and meta["verl"]["step"] == 2
    assert meta["verl"]["steps_imported"] == [2] and len(meta["verl"]["metrics_files"]) == 2

    from transformers import AutoModelForCausalLM

    loaded = AutoModelForCausalLM.from_pretrained(str(resolve_model(run_dir, "rl-viaverl")))
    for (k, v), w in zip(model.state_dict().items(), loaded.state_dict().values()):
        assert torch.equal(v, w), k

    data = collect(run_dir)
    a, b = data.rl["native"], data.rl["viaverl"]
    assert len(a.rows) == len(b.rows) == 2
    assert set(a.validation) == set(b.validation) == {"toy_gsm"}
    assert set(a.validation["toy_gsm"]) == set(b.validation["toy_gsm"]) and b.validation["toy_gsm"]["step"] == [0, 2]
    parents = {n.name: n.parent for n in data.nodes}
    assert parents["rl/native"] == parents["rl/viaverl"] == "midtrain/short"


def test_sharded_latest_without_verl_names_the_merge_command(tmp_path):
    tok = word_tokenizer()
    src = make_verl_dir(tmp_path / "job", tok, tiny_model(tok), sharded_latest=True)
    with pytest.raises(VerlImportError) as err:
        import_verl(src, tmp_path / "out", cfg(), 0, {})
    actor = src.resolve() / "checkpoints" / "global_step_2" / "actor"
    assert (f"python3 -m verl.model_merger merge --backend fsdp --local_dir {actor} "
            f"--target_dir {actor / 'huggingface'}") in str(err.value)


@pytest.mark.parametrize("layout, message", [
    ("empty", "no verl checkpoints"),
    ("no_metrics", "no verl metrics file (tracking.jsonl)"),
    ("bad_row", "tracking.jsonl:1: not a verl file-logger row"),
    ("stale_tracker", "names step 2, but global_step_2/actor/ is missing"),
])
def test_bad_verl_dirs_are_one_line_errors(tmp_path, layout, message):
    tok = word_tokenizer()
    src = tmp_path / "job"
    src.mkdir()
    if layout != "empty":
        make_verl_dir(src, tok, tiny_model(tok))
    if layout == "no_metrics":
        (src / "tracking.jsonl").unlink()
    if layout == "bad_row":
        (src / "tracking.jsonl").write_text('{"step": 1}\n{"step": 2, "data": {}}\n')
    if layout == "stale_tracker":
        shutil.rmtree(src / "checkpoints" / "global_step_2")
    with pytest.raises(VerlImportError, match="^[^\n]*" + message.replace("(", r"\(").replace(")", r"\)")):
        import_verl(src, tmp_path / "out", cfg(), 0, {})


def test_engine_writes_the_job_prints_the_command_then_imports(tmp_path, monkeypatch, capsys):
    tok = word_tokenizer()
    model_dir = tmp_path / "init"
    model = tiny_model(tok)
    model.save_pretrained(str(model_dir))
    tok.save_pretrained(str(model_dir))
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({
        "run": {"name": "r", "root": str(tmp_path / "runs")},
        "rl": {"engine": "verl", "init_from": [str(model_dir)], "steps": 2, "prompts_per_step": 4, "group_size": 2,
               "mini_batch_size": 4, "validate_every": 2, "validate_benchmarks": ["toy_gsm"], "validate_limit": 3,
               "verl": {"nnodes": 2, "gpus_per_node": 4, "overrides": ["trainer.save_freq=1", "+ray_kwargs.x=1"]}},
    }))
    monkeypatch.setattr(verl_engine, "has_verl", lambda: False)
    capsys.readouterr()  # the model save's progress bar
    assert main(["rl", str(recipe)]) == 2
    cap = capsys.readouterr()
    job = (tmp_path / "runs" / "r" / "rl" / "init" / "verl").resolve()
    assert f"  bash {job / 'run_verl.sh'}\n" in cap.out and "verl is not importable here" in cap.out
    assert f"octothinker rl import-verl {recipe} --run init --from {job}" in cap.out
    assert "ray start --head" in cap.out  # nnodes=2
    assert cap.err.count("\n") == 1 and "1 verl job(s) written but not run here (init)" in cap.err
    assert (job.parent / "prompts.json").is_file()  # the prompt record a native run writes

    stub = tmp_path / "python"  # stands in for the interpreter: prints what verl would be given
    stub.write_text('#!/usr/bin/env bash\nprintf "%s\\n" "VERL_FILE_LOGGER_PATH=$VERL_FILE_LOGGER_PATH" "$@"\n')
    stub.chmod(0o755)
    (job / "tracking.jsonl").write_text("old\n")
    args = subprocess.run(["bash", str(job / "run_verl.sh"), "trainer.val_only=true"], env={**os.environ, "PYTHON": str(stub)},
                          capture_output=True, text=True, check=True).stdout.splitlines()
    assert args[:3] == [f"VERL_FILE_LOGGER_PATH={job}/tracking.jsonl", "-m", "verl.trainer.main_ppo"]
    assert (job / "tracking.1.jsonl").read_text() == "old\n" and not (job / "tracking.jsonl").exists()
    for want in (f"data.train_files={job}/train.parquet", f"data.val_files={job}/val.parquet",
                 f"trainer.default_local_dir={job}/checkpoints", "trainer.logger=[console,file]", "trainer.nnodes=2",
                 "trainer.n_gpus_per_node=4", "trainer.save_freq=1", "trainer.total_training_steps=2",
                 "data.train_batch_size=4", "actor_rollout_ref.rollout.n=2", "actor_rollout_ref.actor.ppo_mini_batch_size=2",
                 f"actor_rollout_ref.model.path={model_dir.resolve()}", "trainer.test_freq=2", "trainer.val_before_train=true",
                 "actor_rollout_ref.actor.checkpoint.save_contents=[model,optimizer,extra,hf_model]",
                 "+ray_kwargs.x=1", "trainer.val_only=true"):
        assert want in args, want
    assert [a for a in args if a.startswith("trainer.save_freq=")] == ["trainer.save_freq=1"]  # replaced, not repeated
    val = pq.read_table(job / "val.parquet").to_pylist()
    assert [r["data_source"] for r in val] == ["toy_gsm"] * 3

    (job / "tracking.1.jsonl").unlink()
    make_verl_dir(tmp_path / "done", tok, model)  # verl ran elsewhere; its results are copied back into the job
    for name in ("checkpoints", "tracking.jsonl"):
        shutil.move(str(tmp_path / "done" / name), str(job / name))
    assert main(["rl", str(recipe)]) == 0  # the checkpoints reach rl.steps: imported, not launched
    out = job.parent
    assert os.readlink(out / "final") == "step_2" and json.loads((out / "rl_config.json").read_text())["engine"] == "verl"
    capsys.readouterr()
    assert main(["rl", str(recipe)]) == 0
    assert "verl results already imported" in capsys.readouterr().out


FAKE_MAIN_PPO = '''"""Stands in for verl.trainer.main_ppo: writes what verl writes, from the overrides it is given."""
import json, os, shutil, sys
args = dict(a.split("=", 1) for a in sys.argv[1:] if "=" in a)
ck = args["trainer.default_local_dir"]
hf = os.path.join(ck, "global_step_2", "actor", "huggingface")
shutil.copytree(args["actor_rollout_ref.model.path"], hf)
open(os.path.join(ck, "latest_checkpointed_iteration.txt"), "w").write("2")
with open(os.environ["VERL_FILE_LOGGER_PATH"], "w") as fh:
    for step in (1, 2):
        fh.write(json.dumps({"step": step, "data": {"critic/score/mean": step / 4}}) + "\\n")
        print(f"fake verl: step {step}", flush=True)
'''


def write_recipe(tmp_path, tok, **rl):
    model_dir = tmp_path / "init"
    tiny_model(tok).save_pretrained(str(model_dir))
    tok.save_pretrained(str(model_dir))
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({"run": {"name": "r", "root": str(tmp_path / "runs")},
                                      "rl": {"init_from": [str(model_dir)], "steps": 2, "prompts_per_step": 4,
                                             "group_size": 2, "validate_every": 0, **rl}}))
    return recipe


def test_engine_launches_verl_streams_it_and_imports(tmp_path, monkeypatch, capsys):
    fake = tmp_path / "fake" / "verl" / "trainer"
    fake.mkdir(parents=True)
    for d in (fake.parent, fake):
        (d / "__init__.py").write_text("")
    (fake / "main_ppo.py").write_text(FAKE_MAIN_PPO)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "fake"))
    monkeypatch.setattr(verl_engine, "has_verl", lambda: True)
    recipe = write_recipe(tmp_path, word_tokenizer(), engine="verl")
    capsys.readouterr()
    assert main(["rl", str(recipe)]) == 0
    out = tmp_path / "runs" / "r" / "rl" / "init"
    assert "fake verl: step 2\n" in capsys.readouterr().out
    assert "fake verl: step 1\n" in (out / "verl" / "verl.log").read_text()
    assert [(r["step"], r["accuracy"]) for r in read_jsonl(out / "metrics.jsonl")] == [(1, 0.25), (2, 0.5)]
    assert os.readlink(out / "final") == "step_2"


@pytest.mark.parametrize("argv, code, message", [
    (["--run", "init", "--from", "DONE"], 0, "import-verl: wrote"),
    (["--run", "nope", "--from", "DONE"], 2, "--run: 'nope' is not an RL run of"),
    (["--run", "init"], 2, "usage: rl import-verl <recipe> --run NAME --from DIR"),
    (["--run", "init", "--from", "MISSING"], 2, "no verl checkpoints"),
])
def test_import_verl_cli(tmp_path, capsys, argv, code, message):
    tok = word_tokenizer()
    recipe = write_recipe(tmp_path, tok)
    (tmp_path / "MISSING").mkdir()
    make_verl_dir(tmp_path / "DONE", tok, tiny_model(tok))
    capsys.readouterr()
    argv = [str(tmp_path / a) if a in ("DONE", "MISSING") else a for a in argv]
    assert main(["rl", "import-verl", str(recipe), *argv]) == code
    cap = capsys.readouterr()
    assert message in (cap.out if code == 0 else cap.err)
    if code == 0:
        assert (tmp_path / "runs" / "r" / "rl" / "init" / "final" / "config.json").is_file()
