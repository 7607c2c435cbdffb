"""The readiness analysis: probe measures and few-shot accuracy rank-correlated with realised RL gains (files only)."""
import json

import pytest

from octothinker.config import recipe_from_dict
from octothinker.experiment.analysis import analyze
from octothinker.experiment.document import build_blocks, render
from octothinker.experiment.fixtures import fixture_recipe_dict, write_eval_summary, write_rl_run
from octothinker.experiment.readiness import correlations, probe_measures, reading
from octothinker.paths import atomic_write_json

RUNS = ("base", "short", "long", "hybrid")


def _recipe(tmp_path, probe=True):
    d = fixture_recipe_dict(tmp_path)
    d["experiment"]["probe"] = {"enabled": probe, "prompts": 8, "samples": 4}
    return recipe_from_dict(d)


def _seed(run_dir, seed):
    """Per run: gain = 10 * rank + seed; probe pass@4 rises with the gain, format_rate falls, few-shot is flat."""
    for rank, run in enumerate(RUNS):
        start = 0.1
        write_rl_run(run_dir, run, {"toy_gsm": [start, start + (10 * rank + seed) / 100]})
        atomic_write_json(run_dir / "probe" / run / "probe.json",
                          {"measures": {"pass@1": 0.01 * rank, "pass@2": 0.02 * rank, "pass@4": 0.04 * rank + 0.001 * seed,
                                        "format_rate": 1.0 - 0.1 * rank, "solved_share": 0.5}})
        write_eval_summary(run_dir, run, {"toy_gsm": 20.0})


def test_probe_measures_take_the_largest_k(tmp_path):
    p = tmp_path / "probe.json"
    p.write_text(json.dumps({"measures": {"pass@1": 0.1, "pass@16": 0.6, "pass@4": 0.3}}))
    assert probe_measures(p)["pass@k"] == 0.6
    assert probe_measures(tmp_path / "absent.json") is None


def test_correlations_exact_and_degenerate_cases():
    pts = [{"gain": g, "pass@1": x, "format_rate": -x, "solved_share": 0.5} for g, x in [(1, 1), (2, 2), (3, 3), (4, 5)]]
    rows = {r["measure"]: r for r in correlations(pts, n_boot=200)}
    assert rows["pass@1"]["rho"] == pytest.approx(1.0) and rows["pass@1"]["n"] == 4
    assert rows["format_rate"]["rho"] == pytest.approx(-1.0)
    assert rows["solved_share"]["rho"] is None and rows["solved_share"]["note"] == "constant measure"
    assert rows["lucky_rate"]["n"] == 0 and rows["lucky_rate"]["note"] == "fewer than 4 pairs"
    assert reading(rows["pass@1"]).startswith("predicts: higher goes with more")
    assert reading(rows["format_rate"]).startswith("predicts: higher goes with less")


def test_correlations_within_seed():
    # seed 1's arms all gained more and probed higher: pooled rho is high, inside each seed the ranking is reversed
    pts = [{"seed": s, "gain": g + 10 * s, "pass@1": x + 10 * s} for s in (0, 1) for g, x in [(1, 3), (2, 2), (3, 1)]]
    row = {r["measure"]: r for r in correlations(pts, n_boot=200)}["pass@1"]
    assert row["rho"] == pytest.approx(1 - 6 * 16 / (6 * 35))
    assert (row["rho_within"], row["low_within"], row["high_within"], row["seeds_within"]) == (
        pytest.approx(-1.0), pytest.approx(-1.0), pytest.approx(-1.0), 2)
    assert {r["measure"]: r for r in correlations(pts, n_boot=200)}["lucky_rate"]["rho_within"] is None


def test_analysis_and_document_show_the_readiness_table(tmp_path):
    recipe = _recipe(tmp_path)
    dirs = {}
    for seed in (0, 1, 2):
        dirs[seed] = tmp_path / f"seed_{seed}"
        _seed(dirs[seed], seed)
    result = analyze(recipe, dirs)
    r = result["readiness"]
    assert r["runs"] == list(RUNS) and len(r["points"]) == 12 and not r["missing"]
    rows = {c["measure"]: c for c in r["correlations"]}
    assert rows["pass@k"]["rho"] > 0.9 and rows["pass@k"]["low"] > 0
    assert rows["format_rate"]["rho"] < -0.9
    assert rows["fewshot_accuracy"]["rho"] is None  # flat few-shot: no rank information
    md = render(build_blocks(result, {}, "t", None))[1]
    assert "RL readiness: does the probe predict the RL gain?" in md and "resolvable" in md


def test_missing_probe_is_named_and_disabled_probe_has_no_section(tmp_path):
    recipe = _recipe(tmp_path)
    d = tmp_path / "seed_0"
    _seed(d, 0)
    (d / "probe" / "long" / "probe.json").unlink()
    r = analyze(recipe, {0: d})["readiness"]
    assert "0/long" in r["missing"] and len(r["points"]) == 3
    assert analyze(_recipe(tmp_path, probe=False), {0: d})["readiness"] is None


def test_plan_adds_a_probe_stage_per_rewarded_run(tmp_path):
    from octothinker.pipeline import plan

    d = fixture_recipe_dict(tmp_path)
    d["experiment"]["probe"] = {"enabled": True}
    d["rl"]["variants"] = {"short-shuffled": {"init_from": "short", "reward_control": "shuffled"}}
    stages = {s.id: s for s in plan(recipe_from_dict(d), time_probe=False)}
    assert sorted(i for i in stages if i.startswith("probe:")) == ["probe:base", "probe:hybrid", "probe:long", "probe:short"]
    assert stages["probe:short"].deps == ["midtrain:short"]
    assert "probe:short" in stages["report"].deps
    d["experiment"]["probe"] = {"enabled": False}
    assert not [s for s in plan(recipe_from_dict(d), time_probe=False) if s.kind == "probe"]


def test_probe_settings_are_checked(tmp_path):
    d = fixture_recipe_dict(tmp_path)
    d["experiment"]["probe"] = {"enabled": True, "samples": 0}
    with pytest.raises(Exception, match="experiment.probe.samples"):
        recipe_from_dict(d)
