"""Eval stage on a tiny random model: every benchmark through the CLI, and a recipe-driven RL-template run."""
import json

from octothinker.config import recipe_from_dict
from octothinker.eval.benchmarks import ALL
from octothinker.eval.fixtures import write_fixture_benchmarks


def test_cli_runs_every_benchmark(tiny_model_dir, tmp_path, capsys):
    from octothinker.cli import main

    bench = write_fixture_benchmarks(tmp_path / "bench")
    out = tmp_path / "out"
    rc = main(["eval", str(tiny_model_dir), "--benchmarks", ",".join(ALL), "--benchmark-dir", str(bench), "--limit", "2",
               "--max-new-tokens", "4", "--out", str(out)])
    assert rc == 0
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["benchmarks"]) == set(ALL)
    for b in ALL:
        rows = [json.loads(line) for line in (out / f"{b}.jsonl").read_text().splitlines()]
        assert len(rows) == 2 and all(len(r["outputs"]) == 1 and r["outputs"][0]["n_tokens"] <= 4 for r in rows)
        assert summary["benchmarks"][b]["n_problems"] == 2
    header = capsys.readouterr().out.splitlines()[0]
    assert "gsm8k" in header and "toy_olympiad" in header and "avg" in header


def test_run_eval_recipe_rl_template_sampling(tiny_model_dir, tmp_path):
    from octothinker.eval import run_eval

    recipe = recipe_from_dict({
        "run": {"name": "r", "root": str(tmp_path / "runs")},
        "eval": {"benchmarks": ["toy_gsm", "toy_math"], "models": [str(tiny_model_dir)], "protocol": "rl_template",
                 "template": "complex", "limit": 2, "max_new_tokens": 4, "temperature": 1.0, "n_samples": 2},
        "toyworld": {"benchmark_size": 4},
    })
    root = run_eval(recipe, progress=False)
    summary = json.loads((root / tiny_model_dir.name / "summary.json").read_text())
    m = summary["benchmarks"]["toy_gsm"]
    assert {"avg@2", "pass@1", "pass@2", "maj@2", "mean_tokens", "truncation_rate"} <= set(m)
    assert summary["protocol"] == "rl_template" and summary["template"] == "complex"
    assert (root / "summary.json").is_file() and "toy_math" in (root / "table.md").read_text()
    rows = [json.loads(line) for line in (root / tiny_model_dir.name / "toy_gsm.jsonl").read_text().splitlines()]
    assert rows[0]["prompt"].endswith("Assistant: <think>") and len(rows[0]["outputs"]) == 2
