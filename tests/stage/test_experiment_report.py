"""`octothinker experiment` on fixture seed directories: verdicts, missing runs, report files, runner per seed, CLI."""
import json
import re

import pytest
import yaml

from octothinker import pipeline
from octothinker.cli import main
from octothinker.config import recipe_from_dict
from octothinker.experiment.fixtures import fixture_recipe_dict, write_eval_summary, write_rl_run
from octothinker.experiment.runner import run_experiment

SHORT = [0.50, 0.55, 0.52]  # final validation accuracy of RL from "short" per seed
BASE = [0.10, 0.12, 0.08]  # far below: "short > base" clearly holds
LONG_NOISE = [0.03, -0.04, 0.01]  # long - short: noise around zero


def write_seed(run_dir, i):
    """One seed's files: RL runs short/base/long (hybrid never ran) and few-shot summaries of base/short."""
    write_rl_run(run_dir, "short", {"toy_gsm": [0.05, 0.3, SHORT[i]], "toy_math": [0.0, 0.2, SHORT[i]]},
                 truncation=[0.0] * 8 + [0.1, 0.2])
    write_rl_run(run_dir, "base", {"toy_gsm": [0.0, 0.05, BASE[i]], "toy_math": [0.0, 0.1, BASE[i]]},
                 truncation=[0.9] * 10)
    long_acc = SHORT[i] + LONG_NOISE[i]
    write_rl_run(run_dir, "long", {"toy_gsm": [0.02, 0.4, long_acc], "toy_math": [0.0, 0.3, long_acc]})
    write_eval_summary(run_dir, "base", {"toy_gsm": 2.0 + i, "toy_math": 1.0 + i})  # "base > short" reverses
    write_eval_summary(run_dir, "short", {"toy_gsm": 20.0 + i, "toy_math": 18.0 + 2 * i})


@pytest.fixture
def recipe(tmp_path):
    return recipe_from_dict(fixture_recipe_dict(tmp_path / "runs"))


def fake_pipeline(calls, fail_seed=None):
    def run_pipeline(recipe, dry_run=False, echo=print, **kw):
        calls.append((recipe.run_dir, recipe.run.seed, recipe.run.name, recipe.toyworld.seed))
        if recipe.run.seed == fail_seed:
            raise pipeline.StageFailed("stage rl:short failed after 1s: RuntimeError: boom")
        write_seed(recipe.run_dir, recipe.run.seed)
        (recipe.run_dir / "pipeline.json").write_text(json.dumps({"rl:short": {"status": "done", "wall_s": 2.5},
                                                                  "eval:base": {"status": "done", "wall_s": 1.0}}))
        return recipe.run_dir
    return run_pipeline


def test_runner_drives_pipeline_per_seed_and_writes_findings(recipe, tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(pipeline, "run_pipeline", fake_pipeline(calls))
    out = run_experiment(recipe, echo=lambda s: None)
    exp = tmp_path / "runs" / "exp"
    assert out == exp
    assert calls == [(exp / f"seed_{s}", s, f"seed_{s}", 0) for s in (0, 1, 2)]  # distinct dirs, run.seed varies, world fixed
    facts = json.loads((exp / "experiment.json").read_text())
    assert facts["seeds"] == [0, 1, 2] and facts["scale"] == 1.0
    assert {s: r["status"] for s, r in facts["seed_runs"].items()} == {"0": "done", "1": "done", "2": "done"}
    assert all(r["compute_s"] == 3.5 and r["wall_s"] >= 0 for r in facts["seed_runs"].values())
    assert facts["total_wall_s"] >= 0 and "python" in facts["versions"]

    res = json.loads((exp / "findings.json").read_text())
    f = res["findings"]
    helps = f["midtrain_helps"]["comparisons"][0]
    assert helps["verdict"] == "reproduced" and f["midtrain_helps"]["verdict"] == "reproduced"
    assert helps["mean_diff"] == pytest.approx(100 * (sum(SHORT) - sum(BASE)) / 3)
    assert helps["per_seed"]["1"]["a"] == pytest.approx(55.0) and helps["per_seed"]["1"]["b"] == pytest.approx(12.0)
    fewshot = f["base_fewshot"]["comparisons"][0]
    assert fewshot["verdict"] == "not reproduced" and fewshot["ci_high"] < 0
    noise, hybrid = f["long_vs_short"]["comparisons"]
    assert noise["verdict"] == "inconclusive" and noise["ci_low"] < 0 < noise["ci_high"]
    assert hybrid["verdict"] == "missing" and hybrid["n"] == 0
    assert "seed_0/rl/hybrid/metrics.jsonl: not found" in hybrid["missing"]["0"]
    assert f["long_vs_short"]["verdict"] == "incomplete" and f["long_vs_short"]["verdict_measured"] == "inconclusive"
    curve = f["midtrain_helps"]["curves"]["short"]
    assert curve["val_accuracy"]["x"] == [0.0, 5.0, 10.0] and curve["val_accuracy"]["n_seeds"] == [3, 3, 3]
    assert curve["val_accuracy"]["max"][-1] == pytest.approx(55.0) and curve["val_accuracy"]["min"][-1] == pytest.approx(50.0)

    md = (exp / "findings.md").read_text()
    assert "| finding | paper's claim | comparison | mean difference | 95% CI | resolvable | per-seed values | verdict |" in md
    d = helps["mean_diff"]
    lo, hi = helps["ci_low"], helps["ci_high"]
    assert (f"| Mid-training helps RL | RL from a mid-trained model beats RL from the base. | short vs base "
            f"(rl_accuracy, avg; claim short > base) | {d:+.1f} pp | [{lo:+.1f}, {hi:+.1f}] pp | ±{(hi - lo) / 2:.1f} pp | "
            f"s0 +40.0, s1 +43.0, s2 +44.0 | reproduced |") in md
    assert "| base vs short (fewshot_accuracy, avg; claim base > short) | -18.0 pp |" in md
    assert "| hybrid vs short (rl_accuracy, avg; claim hybrid > short) | — | — | — | s0 missing, s1 missing, s2 missing | missing |" in md
    assert "## Long vs short: incomplete (measured comparisons: inconclusive)" in md
    assert "Missing for hybrid vs short, seed 2:" in md
    assert "| -0.0 pp |" not in md and "| long vs short (rl_accuracy, avg; claim long > short) | +0.0 pp |" in md
    assert md.count("training truncation rate (%)") == 2  # both curve figures: short truncates at the end
    assert "](finding_midtrain_helps.png)" in md and (exp / "finding_midtrain_helps.png").read_bytes()[:4] == b"\x89PNG"
    assert "## What the toy world can and cannot show" in md and "## Facts" in md and "| seed 1 | done;" in md

    html = (exp / "index.html").read_text()
    srcs = re.findall(r'<img[^>]*src="([^"]+)"', html)
    assert len(srcs) == 2 and all(s.startswith("data:image/png;base64,") for s in srcs)  # two findings have curves
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert "<td>not reproduced</td>" in html and "<td>inconclusive</td>" in html


def test_failed_seed_stops_and_rerun_resumes(recipe, tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(pipeline, "run_pipeline", fake_pipeline(calls, fail_seed=1))
    with pytest.raises(pipeline.StageFailed, match="stage rl:short failed"):
        run_experiment(recipe, echo=lambda s: None)
    exp = tmp_path / "runs" / "exp"
    facts = json.loads((exp / "experiment.json").read_text())
    assert facts["seed_runs"]["0"]["status"] == "done" and facts["seed_runs"]["1"]["status"] == "failed"
    assert "boom" in facts["seed_runs"]["1"]["error"] and "2" not in facts["seed_runs"]
    assert [c[1] for c in calls] == [0, 1] and not (exp / "findings.json").exists()
    monkeypatch.setattr(pipeline, "run_pipeline", fake_pipeline(calls))
    run_experiment(recipe, echo=lambda s: None)
    facts = json.loads((exp / "experiment.json").read_text())
    assert {r["status"] for r in facts["seed_runs"].values()} == {"done"} and (exp / "findings.json").exists()


def test_seeds_override_and_analyze_only(recipe, tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(pipeline, "run_pipeline", fake_pipeline(calls))
    run_experiment(recipe, seeds=[1, 2], echo=lambda s: None)
    assert [c[1] for c in calls] == [1, 2]
    res = json.loads((tmp_path / "runs" / "exp" / "findings.json").read_text())
    assert res["seeds"] == [1, 2]
    calls.clear()
    run_experiment(recipe, analyze_only=True, echo=lambda s: None)  # recipe seeds 0,1,2: seed 0 has no files
    assert calls == []
    res = json.loads((tmp_path / "runs" / "exp" / "findings.json").read_text())
    helps = res["findings"]["midtrain_helps"]["comparisons"][0]
    assert sorted(helps["per_seed"]) == ["1", "2"] and "seed_0" in helps["missing"]["0"]
    md = (tmp_path / "runs" / "exp" / "findings.md").read_text()
    assert "| s0 missing, s1 +43.0, s2 +44.0 | reproduced (2 of 3 seeds) |" in md


def test_truncation_panel_only_when_something_truncates():
    from octothinker.experiment.document import curves_figure

    flat = {"x": [1.0, 2.0], "mean": [0.0, 0.0], "min": [0.0, 0.0], "max": [0.0, 0.0], "n_seeds": [3, 3]}
    acc = {"x": [0.0, 5.0], "mean": [1.0, 9.0], "min": [0.0, 8.0], "max": [2.0, 10.0], "n_seeds": [3, 3]}
    curves = {"long": {"val_accuracy": acc, "val_response_len": acc, "truncation_rate": flat}}
    fig = curves_figure("f", "F", curves)
    assert fig.png[:4] == b"\x89PNG" and "truncation" not in fig.caption and "response length" in fig.caption
    curves["long"]["truncation_rate"] = dict(flat, max=[0.0, 12.5])
    assert "training truncation rate" in curves_figure("f", "F", curves).caption
    empty = {"x": [], "mean": [], "min": [], "max": [], "n_seeds": []}
    assert curves_figure("f", "F", {"x": {"val_accuracy": empty, "val_response_len": empty, "truncation_rate": empty}}) is None


def test_dry_run_prints_plans_and_total(recipe, tmp_path):
    lines = []
    run_experiment(recipe, scale=4.0, dry_run=True, echo=lines.append)
    text = "\n".join(lines)
    for s in (0, 1, 2):
        assert f"plan for run 'seed_{s}' in {tmp_path / 'runs' / 'exp' / f'seed_{s}'}" in text
    assert "experiment 'exp': 3 seed(s), scale 4 (data x4, RL steps x2, width x2); estimated work for all seeds" in text
    assert not (tmp_path / "runs").exists()


def test_cli_analyze_only_and_errors(recipe, tmp_path, capsys):
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(fixture_recipe_dict(tmp_path / "runs")))
    assert main(["experiment", str(path), "--analyze-only"]) == 1
    assert "experiment directory not found" in capsys.readouterr().err
    for s in (0, 1, 2):
        write_seed(tmp_path / "runs" / "exp" / f"seed_{s}", s)
    assert main(["experiment", str(path), "--analyze-only", "--seeds", "0,1,2"]) == 0
    assert (tmp_path / "runs" / "exp" / "index.html").is_file()
    md = (tmp_path / "runs" / "exp" / "findings.md").read_text()
    assert "| reproduced |" in md and "| not reproduced |" in md and "| inconclusive |" in md
    with pytest.raises(SystemExit):
        main(["experiment", str(path), "--seeds", "0,0"])
    with pytest.raises(SystemExit):
        main(["experiment", str(path), "--scale", "-1"])


def test_limits_text_fills_its_slot(tmp_path):
    from octothinker.experiment.document import build_blocks, find_limits_text

    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "toy_findings_limits.md").write_text("# Limits\n\nTiny models, few steps.\n\nNo pass@256.\n")
    text = find_limits_text((tmp_path,))
    blocks = build_blocks({"seeds": [0], "findings": {}}, {"scale": 2.0, "seeds": [0]}, "T", text)
    i = blocks.index(("h", 2, "What the toy world can and cannot show"))
    assert blocks[i + 1:i + 4] == [("h", 3, "Limits"), ("p", "Tiny models, few steps."), ("p", "No pass@256.")]
    assert ("p", "The recipe's experiment section lists no findings.") in blocks
    assert ["scale", "2"] in blocks[-1][2]
