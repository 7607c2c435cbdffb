"""Pipeline orchestration with stand-in stage functions: order, caching, --only/--from, failures, resume."""
import json

import pytest

from octothinker import pipeline
from octothinker.config import load_recipe
from octothinker.pipeline import StageFailed, plan, run_pipeline, select

RECIPE = """\
run: {{name: t, root: {root}}}
data:
  sources:
    g: {{kind: toy, corpus: general}}
    q: {{kind: toy, corpus: qa_short}}
  mixtures:
    base: {{weights: {{g: 1}}, tokens: 1000}}
    mix: {{weights: {{g: 0.5, q: 0.5}}, tokens: 1000}}
midtrain:
  stages:
    base: {{mixture: base}}
    short: {{mixture: mix, init_from: base, schedule: cosine}}
rl: {{init_from: [base, short], steps: 2}}
"""


@pytest.fixture
def recipe(tmp_path):
    p = tmp_path / "r.yaml"
    p.write_text(RECIPE.format(root=tmp_path / "runs"))
    return lambda *ov: load_recipe(p, list(ov))


@pytest.fixture
def calls(monkeypatch):
    log, fail = [], set()

    def runner(kind):
        def run(recipe, stage):
            if stage.id in fail:
                raise RuntimeError(f"boom in {stage.id}")
            stage.output.mkdir(parents=True, exist_ok=True)
            log.append(stage.id)

        return run

    monkeypatch.setattr(pipeline, "_runner", runner)
    return log, fail


EXPECTED = [
    "data:base", "data:mix", "midtrain:base", "midtrain:short", "rl:base", "rl:short",
    "eval:base", "eval:short", "eval:rl-base", "eval:rl-short", "report",
]


def test_plan_order_and_dependencies(recipe):
    stages = plan(recipe())
    assert [s.id for s in stages] == EXPECTED
    deps = {s.id: s.deps for s in stages}
    assert deps["midtrain:short"] == ["data:mix", "midtrain:base"]
    assert deps["eval:rl-short"] == ["rl:short"]


def test_change_invalidates_only_downstream(recipe):
    a = {s.id: s.hash for s in plan(recipe())}
    b = {s.id: s.hash for s in plan(recipe("midtrain.stages.short.lr=5e-4"))}
    changed = sorted(k for k in a if a[k] != b[k])
    assert changed == sorted(["midtrain:short", "rl:short", "eval:short", "eval:rl-short", "report"])
    c = {s.id: s.hash for s in plan(recipe("rl.steps=3"))}
    assert sorted(k for k in a if a[k] != c[k]) == sorted(
        ["rl:base", "rl:short", "eval:rl-base", "eval:rl-short", "report"]
    )


def test_runs_then_caches(recipe, calls):
    log, _ = calls
    run_pipeline(recipe(), echo=lambda s: None)
    assert log == EXPECTED
    log.clear()
    out = []
    run_pipeline(recipe(), echo=out.append)
    assert log == []
    lines = "\n".join(out).splitlines()
    assert sum("cached" in line for line in lines) == 2 * len(EXPECTED)  # plan lines + skip lines
    run_pipeline(recipe("rl.steps=5"), echo=lambda s: None)
    assert log == ["rl:base", "rl:short", "eval:rl-base", "eval:rl-short", "report"]


def test_failure_names_stage_and_resumes(recipe, calls, tmp_path):
    log, fail = calls
    fail.add("midtrain:short")
    with pytest.raises(StageFailed) as exc:
        run_pipeline(recipe(), echo=lambda s: None)
    msg = str(exc.value)
    assert "midtrain:short" in msg and "boom" in msg and str(tmp_path / "runs/t/midtrain/short") in msg
    state = json.loads((tmp_path / "runs/t/pipeline.json").read_text())
    assert state["midtrain:short"]["status"] == "failed"
    assert state["midtrain:base"]["status"] == "done"
    fail.clear()
    log.clear()
    run_pipeline(recipe(), echo=lambda s: None)
    assert log[0] == "midtrain:short" and "midtrain:base" not in log


def test_only_from_and_dry_run(recipe, calls):
    log, _ = calls
    r = recipe()
    assert [s.id for s in select(plan(r), only=["midtrain"])] == ["midtrain:base", "midtrain:short"]
    assert [s.id for s in select(plan(r), start="eval:rl-base")] == ["eval:rl-base", "eval:rl-short", "report"]
    with pytest.raises(ValueError, match="no such stage"):
        select(plan(r), only=["midtrian"])
    out = []
    run_pipeline(r, dry_run=True, echo=out.append)
    assert log == [] and "estimated work" in out[-1]
    run_pipeline(r, only=["data"], echo=lambda s: None)
    assert log == ["data:base", "data:mix"]


def test_run_facts_written(recipe, calls, tmp_path):
    run_pipeline(recipe(), echo=lambda s: None)
    facts = json.loads((tmp_path / "runs/t/run.json").read_text())
    assert set(facts["stages"]) == set(EXPECTED)
    assert facts["hardware"]["python"] and facts["seed"] == 0
    assert (tmp_path / "runs/t/config.resolved.yaml").exists()


def test_changed_config_starts_the_stage_fresh_and_keeps_the_old_output(recipe, calls, tmp_path):
    """A stage whose config changed must not resume checkpoints made under the old config."""
    log, fail = calls
    run_pipeline(recipe(), echo=lambda s: None)
    rl_dir = tmp_path / "runs/t/rl/short"
    (rl_dir / "step_2").mkdir()
    old_hash = json.loads((tmp_path / "runs/t/pipeline.json").read_text())["rl:short"]["hash"]
    out = []
    run_pipeline(recipe("rl.lr=2e-5"), echo=out.append)
    moved = tmp_path / f"runs/t/rl/short.superseded-{old_hash[:8]}"
    assert (moved / "step_2").is_dir() and not (rl_dir / "step_2").exists()
    assert any("moved to" in line and "rl:short" in line for line in out)
    fail.add("rl:base")  # an interrupted stage with an unchanged config keeps its output and resumes
    with pytest.raises(StageFailed):
        run_pipeline(recipe("rl.lr=3e-5"), echo=lambda s: None)
    (tmp_path / "runs/t/rl/base/step_1").mkdir(parents=True, exist_ok=True)
    fail.clear()
    run_pipeline(recipe("rl.lr=3e-5"), echo=lambda s: None)
    assert (tmp_path / "runs/t/rl/base/step_1").is_dir()


def _changed(a, b):
    return sorted(k for k in a if k in b and a[k] != b[k])


@pytest.mark.parametrize("override, changed", [
    # every data stage reads the seed (the mixture sampler's stream)
    ("run.seed=1", EXPECTED),
    # a mixture's data reads its own mixture only
    ("data.mixtures.mix.tokens=2000", ["data:mix", "midtrain:short", "rl:short", "eval:short", "eval:rl-short", "report"]),
    # another RL source is not an input of the existing runs; the eval model list not of an eval
    ("rl.init_from=[base,short,/some/dir]", ["report"]),
    ("eval.models=[base,short,rl-short]", ["report"]),
    # validation reads eval.benchmarks when rl.validate_benchmarks is empty (the default)
    ("eval.benchmarks=[toy_gsm]", ["rl:base", "rl:short", "eval:base", "eval:short", "eval:rl-base", "eval:rl-short", "report"]),
    # held-out loss cadence and checkpoint spacing leave the weights as they are: nothing re-trains
    ("midtrain.eval_every_steps=7", []),
    ("midtrain.heldout_rows=3", []),
    ("midtrain.checkpoint_every_tokens=999", []),
])
def test_hash_covers_what_a_stage_reads_and_only_that(recipe, override, changed):
    a = {s.id: s.hash for s in plan(recipe(), time_probe=False)}
    b = {s.id: s.hash for s in plan(recipe(override), time_probe=False)}
    assert _changed(a, b) == sorted(changed)


def test_rl_and_eval_from_a_base_outside_midtraining_hash_the_model(tmp_path):
    """`base` that is no mid-training stage is made from `model` (and the tokenizer): another model (another
    size, a new model.path) must not reuse the old one's RL run and eval. A tiny one waits for the data stage
    that builds the tokenizer and, having no model directory, is not evaluated by default."""
    p = tmp_path / "r.yaml"
    p.write_text(RECIPE.format(root=tmp_path / "runs").replace("    base: {mixture: base}\n", "")
                 .replace("init_from: base, ", ""))
    hashes = lambda *ov: {s.id: s.hash for s in plan(load_recipe(p, list(ov)), time_probe=False)}  # noqa: E731
    tiny = {s.id: s for s in plan(load_recipe(p), time_probe=False)}
    assert tiny["rl:base"].deps == ["data:mix"] and "eval:base" not in tiny and "eval:rl-base" in tiny
    assert _changed(hashes(), hashes("model.hidden_size=96")) == sorted(
        ["midtrain:short", "rl:base", "rl:short", "eval:short", "eval:rl-base", "eval:rl-short", "report"])
    hub = ["model.init=pretrained", "model.path=org/model-a"]
    a, b = hashes(*hub), hashes(*hub[:1], "model.path=org/model-b")
    assert {"rl:base", "eval:base", "eval:rl-base"} <= set(_changed(a, b))
    pretrained = {s.id: s for s in plan(load_recipe(p, hub), time_probe=False)}
    assert pretrained["rl:base"].deps == [] and "eval:base" in pretrained


def test_a_selection_whose_input_stage_has_not_finished_is_refused(recipe, calls):
    log, fail = calls
    with pytest.raises(ValueError, match=r"rl:base needs midtrain:base, which has not finished .*\(not run yet\)"):
        run_pipeline(recipe(), only=["rl"], echo=lambda s: None)
    assert log == []
    fail.add("midtrain:short")
    with pytest.raises(StageFailed):
        run_pipeline(recipe(), echo=lambda s: None)
    fail.clear()
    with pytest.raises(ValueError, match=r"needs midtrain:short, .*\(failed\)"):
        run_pipeline(recipe(), only=["rl:short"], echo=lambda s: None)
    log.clear()
    run_pipeline(recipe(), start="midtrain:short", only=["midtrain:short", "rl:short"], echo=lambda s: None)
    assert log == ["midtrain:short", "rl:short"]  # the input selected too: runs first
    with pytest.raises(ValueError, match=r"rl:short needs midtrain:short, .*\(made with other settings\)"):
        run_pipeline(recipe("midtrain.stages.short.lr=5e-4"), only=["rl:short"], echo=lambda s: None)
    log.clear()
    run_pipeline(recipe(), only=["rl:short"], force=True, echo=lambda s: None)
    assert log == ["rl:short"]  # its input finished with these settings: allowed


def test_a_model_directory_is_hashed_by_its_checkpoint_files(recipe, tmp_path):
    """RL (and eval) from a directory: a checkpoint rewritten in place must not reuse the RL run made from the old."""
    d = tmp_path / "ckpt" / "m"
    d.mkdir(parents=True)
    (d / "config.json").write_text("{}")
    (d / "model.safetensors").write_bytes(b"x" * 10)
    rl_hash = lambda: {s.id: s.hash for s in plan(recipe(f"rl.init_from=[short,{d}]"), time_probe=False)}["rl:m"]  # noqa: E731
    first = rl_hash()
    assert rl_hash() == first
    (d / "model.safetensors").write_bytes(b"y" * 12)
    assert rl_hash() != first


def test_a_stage_cached_by_another_version_says_so(recipe, calls, tmp_path):
    run_pipeline(recipe(), echo=lambda s: None)
    path = tmp_path / "runs/t/pipeline.json"
    state = json.loads(path.read_text())
    state["data:base"]["octothinker"] = "0.0.1"
    path.write_text(json.dumps(state))
    out = []
    run_pipeline(recipe(), echo=out.append)
    skipped = [x for x in "\n".join(out).splitlines() if "skipped" in x]
    assert [x for x in skipped if "made by octothinker 0.0.1" in x] == [skipped[0]]  # data:base only
    assert "data:base: cached" in skipped[0] and "--force reruns it" in skipped[0]


def test_a_new_data_build_version_rebuilds_the_data_and_everything_trained_on_it(recipe, monkeypatch):
    """Shards built by an older data stage (another sampler, held-out copies kept) are not "up to date"."""
    from octothinker import pipeline as pl
    from octothinker.data import build

    r = recipe()
    a = {s.id: s.hash for s in plan(r, time_probe=False)}
    before = build.mixture_hash(r, "mix", "tok", files={})
    monkeypatch.setattr(pl, "BUILD_VERSION", 999)
    monkeypatch.setattr(build, "BUILD_VERSION", 999)
    b = {s.id: s.hash for s in plan(r, time_probe=False)}
    assert build.mixture_hash(r, "mix", "tok", files={}) != before
    assert "data:mix" in _changed(a, b) and "midtrain:short" in _changed(a, b)
