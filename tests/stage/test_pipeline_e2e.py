"""`octothinker run` with the real stages on a tiny recipe: every artifact, then a cached rerun."""
import json

import pytest
import yaml

from octothinker.cli import main

TINY = {
    "run": {"name": "e2e", "seed": 0, "device": "cpu"},
    "toyworld": {"general_docs": 200, "math_web_docs": 200, "qa_docs": 200, "instruct_docs": 50,
                 "benchmark_size": 8, "rl_prompts": 40},
    "tokenizer": {"vocab_size": 300, "sample_docs": 100},
    "data": {
        "seq_len": 64, "heldout_docs": 4,
        "sources": {"general": {"kind": "toy", "corpus": "general"}, "qa": {"kind": "toy", "corpus": "qa_short"}},
        "mixtures": {"base": {"weights": {"general": 1.0}, "tokens": 6000},
                     "short": {"weights": {"general": 0.5, "qa": 0.5}, "tokens": 6000}},
    },
    "model": {"hidden_size": 32, "intermediate_size": 64, "num_layers": 2, "num_heads": 2, "num_kv_heads": 2},
    "midtrain": {"micro_batch_size": 8, "precision": "fp32", "checkpoint_every_tokens": 4096, "eval_every_steps": 5,
                 "stages": {"base": {"mixture": "base", "lr": 3e-3},
                            "short": {"mixture": "short", "lr": 3e-3, "schedule": "cosine", "init_from": "base"}}},
    "rl": {"init_from": ["base", "short"], "steps": 2, "prompts_per_step": 2, "group_size": 2, "mini_batch_size": 4,
           "max_response_tokens": 8, "validate_every": 2, "validate_limit": 2, "validate_benchmarks": ["toy_gsm"],
           "save_every": 1},
    "eval": {"benchmarks": ["toy_gsm", "toy_math"], "limit": 2, "max_new_tokens": 8},
}


def test_run_end_to_end_then_cached(tmp_path, capsys):
    recipe = dict(TINY, run=dict(TINY["run"], root=str(tmp_path / "runs")))
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    assert main(["run", str(path)]) == 0
    run = tmp_path / "runs" / "e2e"
    for d in ("data/base/manifest.json", "midtrain/short/lineage.json", "rl/short/metrics.jsonl",
              "eval/base/summary.json", "eval/rl-short/summary.json", "report/index.html", "report/report.md"):
        assert (run / d).is_file(), d
    state = json.loads((run / "pipeline.json").read_text())
    assert all(v["status"] == "done" for v in state.values()) and len(state) == 11
    capsys.readouterr()
    assert main(["run", str(path)]) == 0
    assert capsys.readouterr().out.count("cached (same config), skipped") == 11
    assert main(["run", str(path), "rl.steps=3", "--only", "rl:short"]) == 0
    out = capsys.readouterr().out
    assert "rl:short: done" in out and "rl:base" not in out.split("estimated work")[1]
    index = json.loads((run / "eval" / "summary.json").read_text())["models"]
    assert set(index) == {"base", "short", "rl-base", "rl-short"}
    assert index["rl-short"]["protocol"] == "rl_template" and index["short"]["protocol"] == "fewshot"


@pytest.mark.slow
def test_run_with_jobs_runs_stages_side_by_side(tmp_path, capfd):
    recipe = dict(TINY, run=dict(TINY["run"], root=str(tmp_path / "runs")))
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    assert main(["run", str(path), "--jobs", "2"]) == 0
    run = tmp_path / "runs" / "e2e"
    for d in ("midtrain/short/lineage.json", "rl/base/metrics.jsonl", "rl/short/metrics.jsonl",
              "eval/rl-short/summary.json", "report/index.html"):
        assert (run / d).is_file(), d
    state = json.loads((run / "pipeline.json").read_text())
    assert all(v["status"] == "done" for v in state.values()) and len(state) == 11
    assert all(1 <= v["threads"] <= 2 for v in state.values())
    cap = capfd.readouterr()
    assert "running up to 2 stages at a time" in cap.out and "[midtrain:base] " in cap.out + cap.err
    assert main(["run", str(path), "--jobs", "2"]) == 0
    assert capfd.readouterr().out.count("cached (same config), skipped") == 11
    assert main(["run", str(path), "--jobs", "0"]) == 1
    assert "--jobs: expected a positive number or 'auto', got '0'" in capfd.readouterr().err


def test_control_arm_reuses_the_shared_step0_validation(tmp_path):
    rl = dict(TINY["rl"], init_from=["short"], variants={"short-shuffled": {"init_from": "short", "reward_control": "shuffled"}})
    recipe = dict(TINY, run=dict(TINY["run"], root=str(tmp_path / "runs")), rl=rl,
                  eval=dict(TINY["eval"], models=["rl-short"]))
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    assert main(["run", str(path), "--only", "data,midtrain,rl", "--jobs", "2"]) == 0
    run = tmp_path / "runs" / "e2e"
    assert len(list((run / "rl" / ".validation_cache").glob("*.json"))) == 1  # computed once, by the first to end
    first = [json.loads((run / "rl" / name / "metrics.jsonl").read_text().splitlines()[0])
             for name in ("short", "short-shuffled")]
    assert first[0] == first[1] and first[0]["step"] == 0 and "val/toy_gsm/accuracy" in first[0]
    state = json.loads((run / "pipeline.json").read_text())
    assert state["rl:short"]["status"] == state["rl:short-shuffled"]["status"] == "done"
