"""The midtrain stage on CPU: base -> stable -> three decay branches, loadable checkpoints, skip, errors."""
import json
import shutil

import pytest
import torch

from octothinker.config import recipe_from_dict
from octothinker.model.checkpoint import latest_checkpoint, list_checkpoints, load_for_inference
from octothinker.train import loop
from octothinker.train.midtrain import StageConflictError, run_midtrain
from octothinker.train.synthetic import tiny_recipe_dict, toy_run

T = 4 * 32  # tokens per step (micro 4 x seq 32)
STAGES = {
    "base": {"mixture": "gen", "tokens": 6 * T, "lr": 3e-3, "warmup_steps": 2},
    "stable": {"mixture": "gen", "tokens": 4 * T, "lr": 1e-3, "init_from": "base"},
    "short": {"mixture": "short", "tokens": 3 * T, "lr": 1e-3, "schedule": "cosine", "init_from": "stable"},
    "long": {"mixture": "long", "tokens": 3 * T, "lr": 1e-3, "schedule": "cosine", "init_from": "stable"},
    "hybrid": {"mixture": "hybrid", "tokens": 3 * T, "lr": 1e-3, "schedule": "cosine", "init_from": "stable"},
}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("mt")
    toy_run(root / "r", {"gen": {"web": 120}, "short": {"qa": 80}, "long": {"qa": 60, "web": 20}, "hybrid": {"qa": 40, "web": 40}})
    d = tiny_recipe_dict(root, STAGES, mixtures=("gen", "short", "long", "hybrid"), checkpoint_every_tokens=2 * T, eval_every_steps=2)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        run_midtrain(recipe_from_dict(d))
    finally:
        torch.set_num_threads(threads)
    return root, d


def test_every_stage_has_loadable_checkpoints_metrics_and_lineage(trained):
    root, _ = trained
    for name, st in STAGES.items():
        sdir = root / "r/midtrain" / name
        assert (sdir / "final").resolve() == latest_checkpoint(sdir).resolve()
        steps = [s for s, _ in list_checkpoints(sdir)]
        assert steps[-1] == st["tokens"] // T and all(s % 2 == 0 for s in steps[:-1])
        model, tok = load_for_inference(sdir / "final")
        assert tok.eos_token_id == 1 and model.config.vocab_size == len(tok)
        rows = [json.loads(x) for x in (sdir / "metrics.jsonl").read_text().splitlines()]
        assert {"step", "tokens", "loss", "lr", "grad_norm", "tokens_per_s"} <= rows[0].keys()
        assert "heldout_loss" in rows[1] and rows[1]["heldout_loss"]
        lineage = json.loads((sdir / "lineage.json").read_text())
        assert lineage["complete"] and lineage["mixture"] == st["mixture"]
        assert lineage["init"]["from"] == st.get("init_from")
    base = [json.loads(x)["loss"] for x in (root / "r/midtrain/base/metrics.jsonl").read_text().splitlines()]
    assert base[-1] < base[0]


def test_rerun_skips_complete_stages(trained, capsys):
    root, d = trained
    before = {p: p.stat().st_mtime_ns for p in (root / "r/midtrain").rglob("*") if p.is_file()}
    run_midtrain(recipe_from_dict(d))
    after = {p: p.stat().st_mtime_ns for p in (root / "r/midtrain").rglob("*") if p.is_file()}
    assert before == after
    assert capsys.readouterr().out.count("skipped") == len(STAGES)


def test_changed_config_on_existing_stage_is_refused(trained):
    _, d = trained
    with pytest.raises(StageConflictError, match="another configuration"):
        run_midtrain(recipe_from_dict(d, ["midtrain.stages.base.lr=5e-3"]), stages=["base"])


def test_non_finite_loss_stops_with_last_checkpoint_intact(trained, tmp_path, monkeypatch):
    root, _ = trained
    shutil.copytree(root / "r/data", tmp_path / "r/data")
    d = tiny_recipe_dict(tmp_path, {"s": {"mixture": "gen", "tokens": 6 * T, "lr": 1e-3}}, checkpoint_every_tokens=2 * T)
    recipe = recipe_from_dict(d)
    run_midtrain(recipe, stop_after=2)
    calls = {"n": 0}
    real = loop.loss_mod.loss_sum

    def poisoned(model, ids, *args):
        s, n = real(model, ids, *args)
        calls["n"] += 1
        return (s * float("nan") if calls["n"] == 2 else s), n

    monkeypatch.setattr(loop.loss_mod, "loss_sum", poisoned)
    with pytest.raises(loop.NonFiniteLossError, match=r"non-finite loss nan .* at step 4; .*step_2"):
        run_midtrain(recipe)
    assert latest_checkpoint(tmp_path / "r/midtrain/s").name == "step_2"


def test_cli_dry_run_prints_plan(trained, capsys):
    from octothinker.cli import main

    root, d = trained
    import yaml

    path = root / "recipe.yaml"
    path.write_text(yaml.safe_dump(d, sort_keys=False))
    assert main(["midtrain", str(path), "--dry-run", "--world-size", "2"]) == 0
    out = capsys.readouterr().out
    assert "stage hybrid: mixture hybrid, init from stage stable (step last)" in out
    assert "world size: 2" in out and "memory per GPU" in out


def test_metrics_rows_go_to_the_recipes_tracking_sinks(tmp_path, monkeypatch):
    """`report.tracking.sinks` is not only accepted: every metrics row of a stage also reaches each sink, the
    held-out losses as `heldout_loss/<source>`, and the JSONL stays as it is."""
    import sys
    import types

    logged = []
    trackio = types.ModuleType("trackio")
    trackio.init = lambda **kw: logged.append(("init", kw["name"]))
    trackio.log = lambda row, step=None: logged.append(("log", row, step))
    trackio.finish = lambda: logged.append(("finish",))
    monkeypatch.setitem(sys.modules, "trackio", trackio)
    toy_run(tmp_path / "r", {"gen": {"web": 60}})
    d = tiny_recipe_dict(tmp_path, {"base": {"mixture": "gen", "tokens": 4 * T, "lr": 3e-3}}, mixtures=("gen",),
                         eval_every_steps=2)
    d["report"] = {"tracking": {"sinks": ["trackio"]}}
    run_midtrain(recipe_from_dict(d))
    rows = [json.loads(x) for x in (tmp_path / "r/midtrain/base/metrics.jsonl").read_text().splitlines()]
    sent = [c for c in logged if c[0] == "log"]
    assert logged[0] == ("init", f"{d['run']['name']}/midtrain/base") and logged[-1] == ("finish",)
    assert [c[2] for c in sent] == [r["step"] for r in rows] == [1, 2, 3, 4]
    assert sent[1][1]["loss"] == rows[1]["loss"] and any(k.startswith("heldout_loss/") for k in sent[1][1])
